package conv

import (
	"math"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Builder configures a convolution layer; create it with [New] or [Transpose], set options, call Done.
type Builder struct {
	scope       *model.Scope
	x           *graph.Node
	outChannels int
	kernelSize  int
	stride      int
	padding     int
	useBias     bool
	transpose   bool
}

// New starts a Conv2d layer on x [B, H, W, Cin] with outChannels output channels, equal to PyTorch's
// nn.Conv2d(Cin, outChannels, KernelSize, Stride, Padding, bias=UseBias) on NHWC data.
// KernelSize must be set; Stride defaults to 1, Padding to 0 and UseBias to true, as in PyTorch.
//
// Done creates the variables "weights" [k, k, Cin, outChannels] and "biases" [outChannels] in the
// sub-scope "conv" of scope, so each layer needs its own scope, e.g. scope.In("enc1").
func New(scope *model.Scope, x *graph.Node, outChannels int) *Builder {
	return &Builder{scope: scope, x: x, outChannels: outChannels, stride: 1, useBias: true}
}

// Transpose starts a ConvTranspose2d layer on x [B, H, W, Cin] with outChannels output channels, equal to
// PyTorch's nn.ConvTranspose2d(Cin, outChannels, KernelSize, Stride, Padding, bias=UseBias) on NHWC data
// (output_padding 0). KernelSize must be set; Stride defaults to 1, Padding to 0 and UseBias to true.
// KernelSize(4).Stride(2).Padding(1) doubles H and W.
//
// Done creates the variables "weights" [k, k, Cin, outChannels] and "biases" [outChannels] in the
// sub-scope "conv_transpose" of scope.
func Transpose(scope *model.Scope, x *graph.Node, outChannels int) *Builder {
	b := New(scope, x, outChannels)
	b.transpose = true
	return b
}

// KernelSize sets the side k of the square kernel. Required.
func (b *Builder) KernelSize(k int) *Builder {
	b.kernelSize = k
	return b
}

// Stride sets the stride on both spatial axes. Default 1.
func (b *Builder) Stride(s int) *Builder {
	b.stride = s
	return b
}

// Padding sets the zero padding added on each side of both spatial axes (for Transpose: removed from
// each side of the output, as in PyTorch). Default 0.
func (b *Builder) Padding(p int) *Builder {
	b.padding = p
	return b
}

// UseBias sets whether a learned bias is added to each output channel. Default true.
func (b *Builder) UseBias(useBias bool) *Builder {
	b.useBias = useBias
	return b
}

// Done creates the variables (initialised like PyTorch, see the package doc) and returns the layer's
// output [B, Ho, Wo, outChannels].
func (b *Builder) Done() *graph.Node {
	caller, subScope := "conv.New", "conv"
	if b.transpose {
		caller, subScope = "conv.Transpose", "conv_transpose"
	}
	_, _, _, cin := nhwc(caller, b.x)
	if b.kernelSize < 1 {
		exceptions.Panicf("%s: KernelSize must be set to a positive value (e.g. .KernelSize(3)), got %d", caller, b.kernelSize)
	}
	if b.outChannels < 1 {
		exceptions.Panicf("%s: outChannels must be positive, got %d", caller, b.outChannels)
	}
	k := b.kernelSize
	// PyTorch's fan_in comes from the weight's second axis: Cin for Conv2d [Cout, Cin, k, k],
	// Cout for ConvTranspose2d [Cin, Cout, k, k].
	fanIn := cin * k * k
	if b.transpose {
		fanIn = b.outChannels * k * k
	}
	bound := 1 / math.Sqrt(float64(fanIn))
	scope := b.scope.In("%s", subScope)
	scope = scope.WithInitializer(initializer.RandomUniformFn(scope, -bound, bound))

	dtype := b.x.DType()
	g := b.x.Graph()
	weights := scope.VariableWithShape("weights", shapes.Make(dtype, k, k, cin, b.outChannels)).NodeValue(g)
	var y *graph.Node
	if b.transpose {
		y = ConvTranspose2D(b.x, weights, b.stride, b.padding)
	} else {
		y = Conv2D(b.x, weights, b.stride, b.padding)
	}
	if b.useBias {
		biases := scope.VariableWithShape("biases", shapes.Make(dtype, b.outChannels)).NodeValue(g)
		y = graph.Add(y, graph.Reshape(biases, 1, 1, 1, b.outChannels))
	}
	return y
}
