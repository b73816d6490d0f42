package conv

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Options1D are the settings of [Conv1D] and [ConvTranspose1D], PyTorch's Conv1d / ConvTranspose1d
// arguments of the same names. The zero value is PyTorch's defaults: stride 1, no padding,
// dilation 1, one group, no output padding.
type Options1D struct {
	// Stride is the step between output positions (Conv1D) or between the kernel's placements
	// in the output (ConvTranspose1D); 0 means 1.
	Stride int
	// Padding is the number of zeros added at each end of the time axis (Conv1D) or of output
	// positions removed from each end (ConvTranspose1D).
	Padding int
	// Dilation is the spacing between the kernel's taps; 0 means 1.
	Dilation int
	// Groups splits the input and output channels into this many groups, each convolved with its
	// own kernel slice; both channel counts must be multiples. 0 means 1.
	Groups int
	// OutputPadding (ConvTranspose1D only) adds this many positions at the end of the output, to
	// pick one of the input lengths a strided Conv1D maps to the same length; it must be
	// smaller than Stride or Dilation, as in PyTorch.
	OutputPadding int
}

// resolved returns o with zeros replaced by the defaults, panicking (naming the caller and the
// field) on values PyTorch refuses.
func (o Options1D) resolved(caller string, transpose bool) Options1D {
	for _, f := range []*int{&o.Stride, &o.Dilation, &o.Groups} {
		if *f == 0 {
			*f = 1
		}
	}
	switch {
	case o.Stride < 1:
		exceptions.Panicf("%s: Stride must be ≥ 1, got %d", caller, o.Stride)
	case o.Dilation < 1:
		exceptions.Panicf("%s: Dilation must be ≥ 1, got %d", caller, o.Dilation)
	case o.Groups < 1:
		exceptions.Panicf("%s: Groups must be ≥ 1, got %d", caller, o.Groups)
	case o.Padding < 0:
		exceptions.Panicf("%s: Padding must be ≥ 0, got %d", caller, o.Padding)
	case o.OutputPadding != 0 && !transpose:
		exceptions.Panicf("%s: OutputPadding applies to transposed convolutions only, got %d", caller, o.OutputPadding)
	case o.OutputPadding < 0 || (o.OutputPadding > 0 && o.OutputPadding >= max(o.Stride, o.Dilation)):
		exceptions.Panicf("%s: OutputPadding must be in [0, max(Stride, Dilation)) = [0, %d), got %d",
			caller, max(o.Stride, o.Dilation), o.OutputPadding)
	}
	return o
}

// Conv1DOutputSize is the output length of [Conv1D], PyTorch's formula
//
//	L_out = ⌊(L + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1,
//
// or 0 when the padded input is shorter than the dilated kernel (or a setting is invalid).
func Conv1DOutputSize(in, kernel int, o Options1D) int {
	s, d := max(o.Stride, 1), max(o.Dilation, 1)
	if o.Stride < 0 || o.Dilation < 0 || o.Padding < 0 || kernel < 1 || in+2*o.Padding < d*(kernel-1)+1 {
		return 0
	}
	return (in+2*o.Padding-d*(kernel-1)-1)/s + 1
}

// ConvTranspose1DOutputSize is the output length of [ConvTranspose1D], PyTorch's formula
//
//	L_out = (L − 1)·stride − 2·padding + dilation·(kernel − 1) + output_padding + 1.
func ConvTranspose1DOutputSize(in, kernel int, o Options1D) int {
	s, d := max(o.Stride, 1), max(o.Dilation, 1)
	return (in-1)*s - 2*o.Padding + d*(kernel-1) + o.OutputPadding + 1
}

// Conv1D is PyTorch's conv1d (without bias) on channels-last tensors: x [B, L, Cin], kernel
// [k, Cin/G, Cout] (PyTorch's weight [Cout, Cin/G, k] permuted by (2, 1, 0)), G = o.Groups. The result
// has shape [B, L_out, Cout] with L_out = Conv1DOutputSize(L, k, o), and
//
//	y[b, t, o] = Σ_{i<k} Σ_{c<Cin/G} xp[b, s·t + d·i, g·Cin/G + c] · kernel[i, c, o],  g = ⌊o/(Cout/G)⌋,
//
// xp being x with o.Padding zeros at each end. It uses no strided or convolution op: with the padded
// input cut into stride-long blocks, tap i reads one contiguous window of blocks (see the package
// doc); the k windows are concatenated along channels and multiplied by the kernel (one matrix
// product per group).
func Conv1D(x, kernel *graph.Node, o Options1D) *graph.Node {
	const caller = "conv.Conv1D"
	o = o.resolved(caller, false)
	b, l, cin := nlc(caller, x)
	k, groupIn, cout := checkKernel1D(caller, x, kernel)
	checkGroups(caller, cin, cout, o.Groups)
	if groupIn != cin/o.Groups {
		exceptions.Panicf("%s: kernel %s must be [k, Cin/Groups=%d, Cout] for x %s and Groups=%d",
			caller, kernel.Shape(), cin/o.Groups, x.Shape(), o.Groups)
	}
	lo := Conv1DOutputSize(l, k, o)
	if lo < 1 {
		exceptions.Panicf("%s: x %s padded by %d is shorter than the kernel of size %d dilated by %d: reduce KernelSize or Dilation, or increase Padding",
			caller, x.Shape(), o.Padding, k, o.Dilation)
	}
	s, d, p := o.Stride, o.Dilation, o.Padding
	// Tap i reads xp[s·t + d·i] = blocks[t + a_i, r_i] with d·i = s·a_i + r_i and blocks the padded
	// input cut into stride-long blocks: a contiguous window of lo blocks for every tap.
	reach := d * (k - 1) / s
	extent := s * (lo + reach) // the positions the taps read, rounded up to whole blocks
	xp := padTime(x, p, max(0, extent-l-p))
	if xp.Shape().Dimensions[1] != extent {
		xp = graph.Slice(xp, graph.AxisRange(), graph.AxisRange(0, extent))
	}
	blocks := xp
	if s > 1 {
		blocks = graph.Reshape(xp, b, lo+reach, s, cin)
	}
	windows := make([]*graph.Node, k)
	for i := range k {
		a, r := d*i/s, d*i%s
		if s == 1 {
			windows[i] = graph.Slice(blocks, graph.AxisRange(), graph.AxisRange(a, a+lo))
		} else {
			windows[i] = graph.Slice(blocks, graph.AxisRange(), graph.AxisRange(a, a+lo), graph.AxisRange(r, r+1))
		}
		windows[i] = graph.Reshape(windows[i], b*lo, cin)
	}
	cols := windows[0]
	if k > 1 {
		cols = graph.Concatenate(windows, -1) // [B·lo, k·Cin], order (i, c)
	}
	// [k, Cin/G, Cout] → per group [G, k·Cin/G, Cout/G].
	kg := graph.Reshape(kernel, 1, k*groupIn, cout)
	if o.Groups > 1 {
		kg = graph.Reshape(kernel, k, groupIn, o.Groups, cout/o.Groups)
		kg = graph.TransposeAllAxes(kg, 2, 0, 1, 3)
		kg = graph.Reshape(kg, o.Groups, k*groupIn, cout/o.Groups)
	}
	return graph.Reshape(groupedProduct(cols, kg, k), b, lo, cout)
}

// ConvTranspose1D is PyTorch's conv_transpose1d (without bias) on channels-last tensors: x [B, L, Cin],
// kernel [k, Cin, Cout/G] (PyTorch's weight [Cin, Cout/G, k] permuted by (2, 0, 1)), G = o.Groups. The
// result has shape [B, L_out, Cout] with L_out = ConvTranspose1DOutputSize(L, k, o): every input
// position t adds x[b, t, c]·kernel[i, c, ·] to the output position s·t − p + d·i of its group's
// channels, for every tap i (positions outside [0, L_out) are dropped).
//
// It is computed as a stride-1 convolution to s·Cout channels, depth-to-space(s) and a crop of
// o.Padding at each end (see the package doc).
func ConvTranspose1D(x, kernel *graph.Node, o Options1D) *graph.Node {
	const caller = "conv.ConvTranspose1D"
	o = o.resolved(caller, true)
	b, l, cin := nlc(caller, x)
	k, kin, groupOut := checkKernel1D(caller, x, kernel)
	if kin != cin {
		exceptions.Panicf("%s: kernel %s has %d input channels but x %s has %d", caller, kernel.Shape(), kin, x.Shape(), cin)
	}
	cout := groupOut * o.Groups
	checkGroups(caller, cin, cout, o.Groups)
	lo := ConvTranspose1DOutputSize(l, k, o)
	if lo < 1 {
		exceptions.Panicf("%s: Padding=%d removes the whole output (%d positions) of x %s with a kernel of size %d, Stride=%d and Dilation=%d",
			caller, o.Padding, lo+2*o.Padding, x.Shape(), k, o.Stride, o.Dilation)
	}
	s, d, p, groups := o.Stride, o.Dilation, o.Padding, o.Groups
	groupIn := cin / groups
	reach := d * (k - 1) / s // A: the blocks one tap spans back

	// The dilated kernel (zeros between taps) extended to s·(A+1) positions j = s·a + ρ.
	kd := kernel
	if d > 1 {
		kd = padAxis(graph.Reshape(kernel, k, 1, cin, groupOut), 1, 0, d-1)
		kd = graph.Reshape(kd, k*d, cin, groupOut)
	}
	kd = resizeAxis0(kd, s*(reach+1))
	// K[g, (a', c), (ρ, o)] = kernel_dilated[s·(A − a') + ρ, g·Cin/G + c, o].
	kg := graph.Reshape(kd, reach+1, s, groups, groupIn, groupOut)
	kg = graph.Reverse(kg, 0)
	kg = graph.TransposeAllAxes(kg, 2, 0, 3, 1, 4)
	kg = graph.Reshape(kg, groups, (reach+1)*groupIn, s*groupOut)

	// V[Z, (ρ, o)] = Σ_{a', c} xpad[Z + a', c]·K[(a', c), (ρ, o)] over Z < L + A, then U[s·Z + ρ] = V[Z, ρ].
	n := l + reach
	xp := padTime(x, reach, reach)
	windows := make([]*graph.Node, reach+1)
	for a := range reach + 1 {
		windows[a] = graph.Reshape(graph.Slice(xp, graph.AxisRange(), graph.AxisRange(a, a+n)), b*n, cin)
	}
	cols := windows[0]
	if reach > 0 {
		cols = graph.Concatenate(windows, -1)
	}
	v := groupedProduct(cols, kg, reach+1) // [B·n, (g, ρ, o)]
	if groups > 1 {
		v = graph.TransposeAllAxes(graph.Reshape(v, b*n, groups, s, groupOut), 0, 2, 1, 3)
	}
	u := graph.Reshape(v, b, n*s, cout)
	u = padTime(u, 0, max(0, p+lo-n*s)) // output padding beyond the last tap's reach
	return graph.Slice(u, graph.AxisRange(), graph.AxisRange(p, p+lo))
}

// groupedProduct multiplies im2col columns cols [N, taps·C] (channel order: tap, group, channel in
// group) by per-group kernels [G, taps·C/G, P]: out[n, (g, p)] = Σ_{tap, c} cols[n, (tap, g, c)]·kernel[g, (tap, c), p].
// One group is one matrix product.
func groupedProduct(cols, kernel *graph.Node, taps int) *graph.Node {
	kd := kernel.Shape().Dimensions
	groups, rows, p := kd[0], kd[1], kd[2]
	n := cols.Shape().Dimensions[0]
	if groups == 1 {
		return graph.MatMul(cols, graph.Reshape(kernel, rows, p))
	}
	c := rows / taps
	cols = graph.Reshape(cols, n, taps, groups, c)
	cols = graph.Reshape(graph.TransposeAllAxes(cols, 2, 0, 1, 3), groups, n, rows)
	y := graph.Einsum("gnr,grp->gnp", cols, kernel)
	return graph.Reshape(graph.TransposeAllAxes(y, 1, 0, 2), n, groups*p)
}

// padTime zero-pads the time axis of x [B, L, C].
func padTime(x *graph.Node, start, end int) *graph.Node { return padAxis(x, 1, start, end) }

// padAxis adds start zeros before and end zeros after axis of x. Every axis gets a PadAxis: GoMLX
// v0.28 differentiates Pad wrongly when the configuration lists fewer axes than x has.
func padAxis(x *graph.Node, axis, start, end int) *graph.Node {
	if start == 0 && end == 0 {
		return x
	}
	config := make([]graph.PadAxis, x.Rank())
	config[axis] = graph.PadAxis{Start: start, End: end}
	return graph.Pad(x, graph.ScalarZero(x.Graph(), x.DType()), config...)
}

// resizeAxis0 cuts or zero-extends the first axis of x to n.
func resizeAxis0(x *graph.Node, n int) *graph.Node {
	have := x.Shape().Dimensions[0]
	if have > n {
		return graph.Slice(x, graph.AxisRange(0, n))
	}
	return padAxis(x, 0, 0, n-have)
}

// nlc returns the dimensions of a rank-3 x, panicking with the caller's name otherwise.
func nlc(caller string, x *graph.Node) (b, l, c int) {
	if x.Rank() != 3 {
		exceptions.Panicf("%s: x must be channels-last, [batch, time, channels], got shape %s", caller, x.Shape())
	}
	d := x.Shape().Dimensions
	return d[0], d[1], d[2]
}

func checkKernel1D(caller string, x, kernel *graph.Node) (k, in, out int) {
	if kernel.Rank() != 3 {
		exceptions.Panicf("%s: kernel must be rank 3, [k, in, out], got shape %s", caller, kernel.Shape())
	}
	if kernel.DType() != x.DType() {
		exceptions.Panicf("%s: kernel dtype %s differs from x dtype %s", caller, kernel.DType(), x.DType())
	}
	kd := kernel.Shape().Dimensions
	return kd[0], kd[1], kd[2]
}

func checkGroups(caller string, cin, cout, groups int) {
	if cin%groups != 0 || cout%groups != 0 {
		exceptions.Panicf("%s: Groups=%d must divide the input channels (%d) and the output channels (%d)",
			caller, groups, cin, cout)
	}
}
