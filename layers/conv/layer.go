package conv

import (
	"math"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Variable names, in the layer's sub-scope ("conv", "conv_transpose", "conv1d" or
// "conv_transpose1d").
const (
	VarWeights = "weights" // the kernel, [k, k, Cin, Cout] or [k, Cin/G, Cout] (see New, New1D)
	VarBiases  = "biases"  // [Cout]
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
	scope, weights := newWeights(b.scope.In("%s", subScope), b.x, fanIn, k, k, cin, b.outChannels)
	var y *graph.Node
	if b.transpose {
		y = ConvTranspose2D(b.x, weights, b.stride, b.padding)
	} else {
		y = Conv2D(b.x, weights, b.stride, b.padding)
	}
	if b.useBias {
		y = addBiases(scope, y)
	}
	return y
}

// newWeights creates the variable "weights" of the given dims in scope, drawn from
// U(−1/√fanIn, 1/√fanIn), and returns scope with that initialiser (for the biases) and the weights.
func newWeights(scope *model.Scope, x *graph.Node, fanIn int, dims ...int) (*model.Scope, *graph.Node) {
	bound := 1 / math.Sqrt(float64(fanIn))
	scope = scope.WithInitializer(initializer.RandomUniformFn(scope, -bound, bound))
	return scope, scope.VariableWithShape(VarWeights, shapes.Make(x.DType(), dims...)).NodeValue(x.Graph())
}

// addBiases adds the variable "biases" [C] of scope to y [..., C].
func addBiases(scope *model.Scope, y *graph.Node) *graph.Node {
	c := y.Shape().Dimensions[y.Rank()-1]
	biases := scope.VariableWithShape(VarBiases, shapes.Make(y.DType(), c)).NodeValue(y.Graph())
	dims := make([]int, y.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[len(dims)-1] = c
	return graph.Add(y, graph.Reshape(biases, dims...))
}

// Builder1D configures a 1-D convolution layer; create it with [New1D] or [Transpose1D], set options,
// call Done.
type Builder1D struct {
	scope       *model.Scope
	x           *graph.Node
	outChannels int
	kernelSize  int
	options     Options1D
	useBias     bool
	transpose   bool
}

// New1D starts a Conv1d layer on x [B, L, Cin] with outChannels output channels, equal to PyTorch's
// nn.Conv1d(Cin, outChannels, KernelSize, Stride, Padding, Dilation, Groups, bias=UseBias) on
// channels-last data. KernelSize must be set; Stride, Dilation and Groups default to 1, Padding to 0
// and UseBias to true, as in PyTorch. The output is [B, L_out, outChannels] with
// L_out = ⌊(L + 2·Padding − Dilation·(KernelSize − 1) − 1)/Stride⌋ + 1 ([Conv1DOutputSize]).
//
// Done creates the variables "weights" [k, Cin/Groups, outChannels] and "biases" [outChannels] in the
// sub-scope "conv1d" of scope, so each layer needs its own scope, e.g. scope.In("enc1").
func New1D(scope *model.Scope, x *graph.Node, outChannels int) *Builder1D {
	return &Builder1D{scope: scope, x: x, outChannels: outChannels, useBias: true,
		options: Options1D{Stride: 1, Dilation: 1, Groups: 1}}
}

// Transpose1D starts a ConvTranspose1d layer on x [B, L, Cin] with outChannels output channels, equal
// to PyTorch's nn.ConvTranspose1d(Cin, outChannels, KernelSize, Stride, Padding, OutputPadding,
// Groups, bias=UseBias, Dilation) on channels-last data, with the same defaults as [New1D] and
// OutputPadding 0. The output is [B, L_out, outChannels] with
// L_out = (L − 1)·Stride − 2·Padding + Dilation·(KernelSize − 1) + OutputPadding + 1
// ([ConvTranspose1DOutputSize]); KernelSize(2s).Stride(s).Padding(s/2) multiplies an even s's L by s.
//
// Done creates the variables "weights" [k, Cin, outChannels/Groups] and "biases" [outChannels] in the
// sub-scope "conv_transpose1d" of scope.
func Transpose1D(scope *model.Scope, x *graph.Node, outChannels int) *Builder1D {
	b := New1D(scope, x, outChannels)
	b.transpose = true
	return b
}

// KernelSize sets the number of taps k. Required.
func (b *Builder1D) KernelSize(k int) *Builder1D {
	b.kernelSize = k
	return b
}

// Stride sets the stride. Default 1.
func (b *Builder1D) Stride(s int) *Builder1D {
	b.options.Stride = s
	return b
}

// Padding sets the zeros added at each end of the time axis (for Transpose1D: the positions removed
// from each end of the output, as in PyTorch). Default 0.
func (b *Builder1D) Padding(p int) *Builder1D {
	b.options.Padding = p
	return b
}

// Dilation sets the spacing between the kernel's taps. Default 1.
func (b *Builder1D) Dilation(d int) *Builder1D {
	b.options.Dilation = d
	return b
}

// Groups sets the number of channel groups (Groups = Cin is a depthwise convolution). Both channel
// counts must be multiples of it. Default 1.
func (b *Builder1D) Groups(g int) *Builder1D {
	b.options.Groups = g
	return b
}

// OutputPadding sets the positions added at the end of a Transpose1D's output, smaller than Stride
// or Dilation. Default 0; New1D refuses any other value.
func (b *Builder1D) OutputPadding(p int) *Builder1D {
	b.options.OutputPadding = p
	return b
}

// UseBias sets whether a learned bias is added to each output channel. Default true.
func (b *Builder1D) UseBias(useBias bool) *Builder1D {
	b.useBias = useBias
	return b
}

// Done creates the variables (initialised like PyTorch, see the package doc) and returns the layer's
// output [B, L_out, outChannels].
func (b *Builder1D) Done() *graph.Node {
	caller, subScope := "conv.New1D", "conv1d"
	if b.transpose {
		caller, subScope = "conv.Transpose1D", "conv_transpose1d"
	}
	_, _, cin := nlc(caller, b.x)
	if b.kernelSize < 1 {
		exceptions.Panicf("%s: KernelSize must be set to a positive value (e.g. .KernelSize(3)), got %d", caller, b.kernelSize)
	}
	if b.outChannels < 1 {
		exceptions.Panicf("%s: outChannels must be positive, got %d", caller, b.outChannels)
	}
	// The options' zero values mean "default" for direct calls; here they were set explicitly.
	for _, o := range []struct {
		name  string
		value int
	}{{"Stride", b.options.Stride}, {"Dilation", b.options.Dilation}, {"Groups", b.options.Groups}} {
		if o.value < 1 {
			exceptions.Panicf("%s: %s must be ≥ 1, got %d", caller, o.name, o.value)
		}
	}
	k, groups := b.kernelSize, b.options.Groups
	checkGroups(caller, cin, b.outChannels, groups)
	// PyTorch's fan_in is the weight's second axis times k: Cin/G for Conv1d [Cout, Cin/G, k], Cout/G for
	// ConvTranspose1d [Cin, Cout/G, k].
	fanIn, dims, conv := cin/groups*k, []int{k, cin / groups, b.outChannels}, Conv1D
	if b.transpose {
		fanIn, dims, conv = b.outChannels/groups*k, []int{k, cin, b.outChannels / groups}, ConvTranspose1D
	}
	scope, weights := newWeights(b.scope.In("%s", subScope), b.x, fanIn, dims...)
	y := conv(b.x, weights, b.options)
	if b.useBias {
		y = addBiases(scope, y)
	}
	return y
}
