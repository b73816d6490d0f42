// Package linear is the dense layer y = x·W + b over the last axis of x, with the weight stored
// either [in, out] (GoMLX's and JAX's layout) or [out, in] (PyTorch's nn.Linear and llama2.c's, so
// that per-output-channel quantizers work on rows). The weight can also be given, for weights
// derived from variables: adapted (LoRA), fake-quantized (QAT).
//
// It is GoMLX's layers.Dense reduced to what the zoo's checkpoints need: the variable names,
// layouts and initialisations of vaeformer ("weights" [in, out], "biases"), of llama (a given
// [out, in] weight, no bias) and of FSQ's projections (prefixed names, PyTorch's initialisation),
// and the same operations in the same order as those computed before they shared it.
package linear

import (
	"math"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Variable names, in the layer's scope, unless [Builder.Names] sets others.
const (
	VarWeights = "weights" // [in, out] (InOut) or [out, in] (OutIn)
	VarBiases  = "biases"  // [out]
)

// Layout is the storage order of the weight matrix.
type Layout int

const (
	// InOut stores W [in, out]: y = x·W.
	InOut Layout = iota
	// OutIn stores W [out, in]: y = x·Wᵀ, one row per output channel.
	OutIn
)

// Builder configures a linear layer; create it with [New], set options, call Done.
type Builder struct {
	scope                   *model.Scope
	x                       *graph.Node
	out                     int
	layout                  Layout
	useBias                 bool
	weight                  *graph.Node
	weightsName, biasesName string
	weightsInit, biasesInit model.VariableInitializer
}

// New starts a linear layer from x [..., in] to [..., out]. Defaults: Layout InOut and UseBias
// true. Done creates, directly in scope (so each layer needs its own scope, e.g. scope.In("qkv")),
// the variable "weights" drawn from U(−√(3/in), √(3/in)) (variance 1/in, LeCun's, which keeps the
// activations' scale) and "biases" [out] set to zero.
func New(scope *model.Scope, x *graph.Node, out int) *Builder {
	return &Builder{scope: scope, x: x, out: out, useBias: true, weightsName: VarWeights, biasesName: VarBiases}
}

// Layout sets the storage order of the weight. Default InOut.
func (b *Builder) Layout(layout Layout) *Builder {
	b.layout = layout
	return b
}

// UseBias sets whether the variable "biases" is created and added. Default true.
func (b *Builder) UseBias(useBias bool) *Builder {
	b.useBias = useBias
	return b
}

// Weight makes the layer compute with w ([in, out] or [out, in] as Layout says) instead of
// creating the variable "weights".
func (b *Builder) Weight(w *graph.Node) *Builder {
	b.weight = w
	return b
}

// Names sets the names of the two variables, for layers that share a scope. Default "weights" and
// "biases".
func (b *Builder) Names(weights, biases string) *Builder {
	b.weightsName, b.biasesName = weights, biases
	return b
}

// Initializers sets how the weights and the biases are initialised. Default U(±√(3/in)) and zeros.
func (b *Builder) Initializers(weights, biases model.VariableInitializer) *Builder {
	b.weightsInit, b.biasesInit = weights, biases
	return b
}

// Done returns x·W (+ b), shaped [..., out].
func (b *Builder) Done() *graph.Node {
	x := b.x
	if x.Rank() < 1 || b.out < 1 {
		exceptions.Panicf("linear.New: x %s must have an input axis and out (%d) must be positive", x.Shape(), b.out)
	}
	last := x.Rank() - 1
	in := x.Shape().Dimensions[last]
	wDims := []int{in, b.out}
	if b.layout == OutIn {
		wDims = []int{b.out, in}
	}
	w := b.weight
	if w == nil {
		init := b.weightsInit
		if init == nil {
			bound := math.Sqrt(3 / float64(in))
			init = initializer.RandomUniformFn(b.scope, -bound, bound)
		}
		w = b.scope.WithInitializer(init).VariableWithShape(b.weightsName, shapes.Make(x.DType(), wDims...)).NodeValue(x.Graph())
	} else if !w.Shape().Equal(shapes.Make(x.DType(), wDims...)) {
		exceptions.Panicf("linear.New: Weight %s must be %v of x's dtype for x %s and out=%d", w.Shape(), wDims, x.Shape(), b.out)
	}
	var bias *graph.Node
	if b.useBias {
		init := b.biasesInit
		if init == nil {
			init = initializer.Zero
		}
		bias = b.scope.WithInitializer(init).VariableWithShape(b.biasesName, shapes.Make(x.DType(), b.out)).NodeValue(x.Graph())
	}
	flat := graph.Reshape(x, x.Shape().Size()/in, in)
	var y *graph.Node
	if b.layout == OutIn {
		y = outInMatMul(flat, w)
	} else {
		y = graph.MatMul(flat, w)
	}
	if bias != nil {
		y = graph.Add(y, graph.Reshape(bias, 1, b.out))
	}
	dims := x.Shape().Clone().Dimensions
	dims[last] = b.out
	return graph.Reshape(y, dims...)
}

// outInMatMul is flat·wᵀ, [n, out], for flat [n, in] and w [out, in], with the weight's gradient
// dW = dyᵀ·flat computed by moving only the narrower of dy [n, out] and flat [n, in]. GoMLX
// derives dW as one product contracting the first axis of both, which the backends' matrix
// kernels take only after transposing both; here the narrower one is transposed and the other
// is read in place (dW = (dyᵀ)·flat when out ≤ in, else dW = ((flatᵀ)·dy)ᵀ, the last transpose of
// the weight's size). The forward is the same product as before, so only the rounding of dW's
// sums can differ. The custom part rides on two identities with custom gradients: the one on y,
// visited first by the backward pass, captures dy; the one on w returns dW, and the dW that GoMLX
// derives between them reaches no output, so the backends drop it.
func outInMatMul(flat, w *graph.Node) *graph.Node {
	out, in := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
	var dy *graph.Node
	w = graph.IdentityWithCustomGradient(w, func(_, _ *graph.Node) *graph.Node {
		if dy == nil {
			exceptions.Panicf("linear: the backward pass reached the weight before the output's gradient")
		}
		if out <= in {
			return graph.DotGeneral(graph.TransposeAllAxes(dy, 1, 0), []int{1}, nil, flat, []int{0}, nil)
		}
		return graph.TransposeAllAxes(graph.DotGeneral(graph.TransposeAllAxes(flat, 1, 0), []int{1}, nil, dy, []int{0}, nil), 1, 0)
	})
	return graph.IdentityWithCustomGradient(graph.Einsum("ni,oi->no", flat, w), func(_, v *graph.Node) *graph.Node {
		dy = v
		return v
	})
}
