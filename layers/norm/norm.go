// Package norm normalises the last axis of activations: RMSNorm (Zhang & Sennrich 2019, "Root Mean
// Square Layer Normalization"), as Llama uses it, and LayerNorm (Ba et al. 2016, "Layer
// Normalization"), as ViT-style transformers such as VAEformer use it.
//
//	RMSNorm(x)   = x · (1/√(mean_d(x²) + ε)) · g
//	LayerNorm(x) = (x − mean_d(x)) / √(mean_d((x − mean_d(x))²) + ε) · g + b
//
// GoMLX has both (ml/layers/norm), and they run on every backend, but under other variable
// names ("rms_norm/scale", "layer_normalization/gain" and "offset") than the zoo's checkpoints
// hold, and GoMLX's LayerNorm switches to a backend's fused op where there is one. LayerNorm here
// computes exactly the operations vaeformer computed before the models shared it, so its published
// numbers stay as they were; RMSNorm (llama's alone) multiplies by the reciprocal where it divided
// before, which moves llama's numbers by float rounding only (see models/llama's tests).
package norm

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Variable names, in the layer's scope.
const (
	VarRMSGain   = "weight" // RMSNorm's gain [d], PyTorch's nn.RMSNorm.weight and llama2.c's name
	VarLayerGain = "gain"   // LayerNorm's gain [d]
	VarLayerBias = "bias"   // LayerNorm's bias [d]
)

// RMSBuilder configures an RMSNorm; create it with [RMS].
type RMSBuilder struct {
	scope   *model.Scope
	x       *graph.Node
	epsilon float64
}

// RMS starts an RMSNorm over the last axis of x [..., d]. Epsilon defaults to 1e-5 (llama2.c's and
// Llama 2's). Done creates the gain "weight" [d], initialised to ones, directly in scope (so each
// norm needs its own scope).
func RMS(scope *model.Scope, x *graph.Node) *RMSBuilder {
	return &RMSBuilder{scope: scope, x: x, epsilon: 1e-5}
}

// Epsilon sets ε, added to the mean square. Default 1e-5.
func (b *RMSBuilder) Epsilon(epsilon float64) *RMSBuilder {
	b.epsilon = epsilon
	return b
}

// Done returns RMSNorm(x), shaped like x.
func (b *RMSBuilder) Done() *graph.Node {
	x := b.x
	d := lastDim("norm.RMS", x)
	gain := b.scope.WithInitializer(initializer.One).VariableWithShape(VarRMSGain, shapes.Make(x.DType(), d)).NodeValue(x.Graph())
	ms := graph.ReduceAndKeep(graph.Square(x), graph.ReduceMean, -1)
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[len(dims)-1] = d
	// x · (1/√(·)), the reciprocal taken once per row: a product is cheaper than a quotient over
	// x, forward and backward. Not Rsqrt, which ONNX Runtime does not have.
	inv := graph.Reciprocal(graph.Sqrt(graph.AddScalar(ms, b.epsilon)))
	return graph.Mul(graph.Mul(x, inv), graph.Reshape(gain, dims...))
}

// LayerBuilder configures a LayerNorm; create it with [Layer].
type LayerBuilder struct {
	scope   *model.Scope
	x       *graph.Node
	epsilon float64
}

// Layer starts a LayerNorm over the last axis of x [..., d]. Epsilon defaults to 1e-6 (the ViT and
// MAE implementations'; PyTorch's nn.LayerNorm default is 1e-5). Done creates the gain "gain" [d]
// (ones) and the bias "bias" [d] (zeros) directly in scope.
func Layer(scope *model.Scope, x *graph.Node) *LayerBuilder {
	return &LayerBuilder{scope: scope, x: x, epsilon: 1e-6}
}

// Epsilon sets ε, added to the variance. Default 1e-6.
func (b *LayerBuilder) Epsilon(epsilon float64) *LayerBuilder {
	b.epsilon = epsilon
	return b
}

// Done returns LayerNorm(x), shaped like x.
func (b *LayerBuilder) Done() *graph.Node {
	x := b.x
	d := lastDim("norm.Layer", x)
	last := x.Rank() - 1
	mean := graph.ReduceAndKeep(x, graph.ReduceMean, last)
	centred := graph.Sub(x, mean)
	variance := graph.ReduceAndKeep(graph.Square(centred), graph.ReduceMean, last)
	xn := graph.Div(centred, graph.Sqrt(graph.AddScalar(variance, b.epsilon)))
	gain := b.scope.WithInitializer(initializer.One).VariableWithShape(VarLayerGain, shapes.Make(x.DType(), d)).NodeValue(x.Graph())
	bias := b.scope.WithInitializer(initializer.Zero).VariableWithShape(VarLayerBias, shapes.Make(x.DType(), d)).NodeValue(x.Graph())
	return graph.Add(graph.Mul(xn, graph.ExpandLeftToRank(gain, x.Rank())), graph.ExpandLeftToRank(bias, x.Rank()))
}

func lastDim(caller string, x *graph.Node) int {
	if x.Rank() < 1 {
		exceptions.Panicf("%s: x must have a feature axis to normalise, got shape %s", caller, x.Shape())
	}
	return x.Shape().Dimensions[x.Rank()-1]
}
