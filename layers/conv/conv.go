package conv

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// OutputSize is the spatial output size of [Conv2D], as PyTorch's Conv2d computes it:
// ⌊(in + 2·padding − kernel)/stride⌋ + 1, or 0 when the padded input is smaller than the kernel.
func OutputSize(in, kernel, stride, padding int) int {
	if stride < 1 {
		return 0
	}
	return Conv1DOutputSize(in, kernel, Options1D{Stride: stride, Padding: padding})
}

// TransposeOutputSize is the spatial output size of [ConvTranspose2D], as PyTorch's ConvTranspose2d
// computes it (without output_padding): (in − 1)·stride − 2·padding + kernel.
func TransposeOutputSize(in, kernel, stride, padding int) int {
	return ConvTranspose1DOutputSize(in, kernel, Options1D{Stride: stride, Padding: padding})
}

// Conv2D is PyTorch's conv2d (without bias) on NHWC tensors: x [B, H, W, Cin], kernel [kH, kW, Cin, Cout]
// (PyTorch's weight [Cout, Cin, kH, kW] permuted by (2, 3, 1, 0)), the same stride and zero padding on
// both spatial axes. The result has shape [B, Ho, Wo, Cout] with Ho = OutputSize(H, kH, stride, padding).
//
// It uses no strided or convolution op: stride 1 is im2col + one matrix product, stride s > 1 is
// space-to-depth(s) followed by a stride-1 convolution with the rearranged kernel (see the package doc).
func Conv2D(x, kernel *graph.Node, stride, padding int) *graph.Node {
	const caller = "conv.Conv2D"
	_, h, w, cin := nhwc(caller, x)
	kh, kw := checkKernel(caller, x, kernel, cin)
	checkStridePadding(caller, stride, padding)
	ho, wo := OutputSize(h, kh, stride, padding), OutputSize(w, kw, stride, padding)
	if ho < 1 || wo < 1 {
		exceptions.Panicf("%s: x %s padded by %d is smaller than the %dx%d kernel: reduce KernelSize or increase Padding",
			caller, x.Shape(), padding, kh, kw)
	}
	if stride == 1 {
		return validConv(padSpatial(x, padding, padding, padding, padding), kernel)
	}
	bh, bw := ceilDiv(kh, stride), ceilDiv(kw, stride)
	// The rows the strided convolution reads, rounded up to whole stride×stride blocks.
	eh, ew := stride*(ho+bh-1), stride*(wo+bw-1)
	xp := padSpatial(x, padding, max(0, eh-h-padding), padding, max(0, ew-w-padding))
	xp = cropSpatial(xp, eh, ew)
	return validConv(SpaceToDepth(xp, stride), blockKernel(kernel, stride))
}

// ConvTranspose2D is PyTorch's conv_transpose2d (without bias, output_padding or groups) on NHWC tensors:
// x [B, H, W, Cin], kernel [kH, kW, Cin, Cout] (PyTorch's weight [Cin, Cout, kH, kW] permuted by
// (2, 3, 0, 1)). The result has shape [B, Ho, Wo, Cout] with Ho = TransposeOutputSize(H, kH, stride, padding).
//
// It is computed as a stride-1 convolution to stride²·Cout channels, depth-to-space(stride) and a crop of
// padding on each side (see the package doc).
func ConvTranspose2D(x, kernel *graph.Node, stride, padding int) *graph.Node {
	const caller = "conv.ConvTranspose2D"
	_, h, w, cin := nhwc(caller, x)
	kh, kw := checkKernel(caller, x, kernel, cin)
	checkStridePadding(caller, stride, padding)
	cout := kernel.Shape().Dimensions[3]
	ho, wo := TransposeOutputSize(h, kh, stride, padding), TransposeOutputSize(w, kw, stride, padding)
	if ho < 1 || wo < 1 {
		exceptions.Panicf("%s: Padding=%d removes the whole %dx%d output of x %s with a %dx%d kernel and Stride=%d",
			caller, padding, ho+2*padding, wo+2*padding, x.Shape(), kh, kw, stride)
	}
	bh, bw := ceilDiv(kh, stride), ceilDiv(kw, stride)
	xp := padSpatial(x, bh-1, bh-1, bw-1, bw-1)

	// k[a, b, c, (ρ, σ, o)] = kernel[stride·(bh−1−a) + ρ, stride·(bw−1−b) + σ, c, o].
	k := padKernel(kernel, stride*bh, stride*bw)
	k = graph.Reshape(k, bh, stride, bw, stride, cin, cout)
	k = graph.Reverse(k, 0, 2)
	k = graph.TransposeAllAxes(k, 0, 2, 4, 1, 3, 5)
	k = graph.Reshape(k, bh, bw, cin, stride*stride*cout)

	u := DepthToSpace(validConv(xp, k), stride)
	return graph.Slice(u, graph.AxisRange(), graph.AxisRange(padding, padding+ho), graph.AxisRange(padding, padding+wo))
}

// validConv is the stride-1 convolution without padding of x [B, H, W, C] with kernel [kH, kW, C, O],
// as im2col (see im2colConv). Where O < C it takes the gradient with respect to x from inputGradient
// instead of differentiating im2col: im2col's gradient pads each of the kH·kW window gradients
// ([B, Ho, Wo, C] each) to x's full size and adds them up, kH·kW passes over C channels, where the
// transposed convolution reads kH·kW windows of O channels. Both are the same sums in another
// order, so the gradients agree to float rounding.
func validConv(x, kernel *graph.Node) *graph.Node {
	_, _, _, c := nhwc("conv.validConv", x)
	kd := kernel.Shape().Dimensions
	if kd[0]*kd[1] == 1 || kd[3] >= c {
		return im2colConv(x, kernel)
	}
	// The gradient of x needs the gradient of the output, dy, which only the output's own custom
	// gradient sees: it is kept here when autodiff passes through the output (first, as the output
	// depends on x) and used when autodiff reaches x. The forward pass reads x without gradient;
	// x's zero-valued tie to the kernel (0·x[0, 0, 0, 0], broadcast) is what makes autodiff reach
	// x at all.
	var dy *graph.Node
	xTied := graph.IdentityWithCustomGradient(x, func(_, _ *graph.Node) *graph.Node {
		return inputGradient(dy, kernel)
	})
	corner := graph.Slice(xTied, graph.AxisRange(0, 1), graph.AxisRange(0, 1), graph.AxisRange(0, 1), graph.AxisRange(0, 1))
	y := im2colConv(graph.StopGradient(x), graph.Add(kernel, graph.MulScalar(corner, 0)))
	return graph.IdentityWithCustomGradient(y, func(_, v *graph.Node) *graph.Node {
		dy = v
		return v
	})
}

// inputGradient is the gradient with respect to x [B, H, W, C] of validConv(x, kernel) for the
// output gradient dy [B, Ho, Wo, O]: the full correlation of dy with the kernel flipped in space and
// transposed in channels,
//
//	dx[b, p, q, c] = Σ_{i,j,o} dy[b, p − i, q − j, o] · kernel[i, j, c, o]
//	               = validConv(dy padded by kH−1, kW−1, kernel'),  kernel'[i, j, o, c] = kernel[kH−1−i, kW−1−j, c, o].
func inputGradient(dy, kernel *graph.Node) *graph.Node {
	kd := kernel.Shape().Dimensions
	kh, kw := kd[0], kd[1]
	flipped := graph.TransposeAllAxes(graph.Reverse(kernel, 0, 1), 0, 1, 3, 2)
	return im2colConv(padSpatial(dy, kh-1, kh-1, kw-1, kw-1), flipped)
}

// im2colConv is validConv computed as im2col: the kH·kW shifted windows of x are concatenated along
// channels (order i, j, c, the row-major order of the kernel's first three axes) and multiplied by the
// kernel reshaped to [kH·kW·C, O].
func im2colConv(x, kernel *graph.Node) *graph.Node {
	b, h, w, c := nhwc("conv.validConv", x)
	kd := kernel.Shape().Dimensions
	kh, kw, o := kd[0], kd[1], kd[3]
	ho, wo := h-kh+1, w-kw+1
	cols := x
	if kh != 1 || kw != 1 {
		windows := make([]*graph.Node, 0, kh*kw)
		for i := range kh {
			for j := range kw {
				windows = append(windows, graph.Slice(x, graph.AxisRange(), graph.AxisRange(i, i+ho), graph.AxisRange(j, j+wo)))
			}
		}
		cols = graph.Concatenate(windows, -1)
	}
	y := graph.MatMul(graph.Reshape(cols, b*ho*wo, kh*kw*c), graph.Reshape(kernel, kh*kw*c, o))
	return graph.Reshape(y, b, ho, wo, o)
}

// blockKernel rearranges kernel [kH, kW, C, O] for a stride-s convolution computed on
// SpaceToDepth(x, s): k[a, b, (r, q, c), o] = kernel[s·a + r, s·b + q, c, o], zero beyond kH, kW.
func blockKernel(kernel *graph.Node, s int) *graph.Node {
	kd := kernel.Shape().Dimensions
	kh, kw, c, o := kd[0], kd[1], kd[2], kd[3]
	bh, bw := ceilDiv(kh, s), ceilDiv(kw, s)
	k := padKernel(kernel, s*bh, s*bw)
	k = graph.Reshape(k, bh, s, bw, s, c, o)
	k = graph.TransposeAllAxes(k, 0, 2, 1, 3, 4, 5)
	return graph.Reshape(k, bh, bw, s*s*c, o)
}

// padSpatial zero-pads the H and W axes of x [B, H, W, C].
func padSpatial(x *graph.Node, top, bottom, left, right int) *graph.Node {
	if top == 0 && bottom == 0 && left == 0 && right == 0 {
		return x
	}
	zero := graph.ScalarZero(x.Graph(), x.DType())
	return graph.Pad(x, zero, graph.PadAxis{}, graph.PadAxis{Start: top, End: bottom},
		graph.PadAxis{Start: left, End: right}, graph.PadAxis{})
}

// cropSpatial keeps the first h rows and w columns of x [B, H, W, C].
func cropSpatial(x *graph.Node, h, w int) *graph.Node {
	d := x.Shape().Dimensions
	if d[1] == h && d[2] == w {
		return x
	}
	return graph.Slice(x, graph.AxisRange(), graph.AxisRange(0, h), graph.AxisRange(0, w))
}

// padKernel zero-extends the two spatial axes of kernel [kH, kW, C, O] to h and w.
func padKernel(kernel *graph.Node, h, w int) *graph.Node {
	kd := kernel.Shape().Dimensions
	if kd[0] == h && kd[1] == w {
		return kernel
	}
	zero := graph.ScalarZero(kernel.Graph(), kernel.DType())
	return graph.Pad(kernel, zero, graph.PadAxis{End: h - kd[0]}, graph.PadAxis{End: w - kd[1]},
		graph.PadAxis{}, graph.PadAxis{})
}

func checkKernel(caller string, x, kernel *graph.Node, cin int) (kh, kw int) {
	if kernel.Rank() != 4 {
		exceptions.Panicf("%s: kernel must be [kH, kW, Cin, Cout], got shape %s", caller, kernel.Shape())
	}
	kd := kernel.Shape().Dimensions
	if kd[2] != cin {
		exceptions.Panicf("%s: kernel %s has %d input channels but x %s has %d", caller, kernel.Shape(), kd[2], x.Shape(), cin)
	}
	if kernel.DType() != x.DType() {
		exceptions.Panicf("%s: kernel dtype %s differs from x dtype %s", caller, kernel.DType(), x.DType())
	}
	return kd[0], kd[1]
}

func checkStridePadding(caller string, stride, padding int) {
	if stride < 1 {
		exceptions.Panicf("%s: Stride must be ≥ 1, got %d", caller, stride)
	}
	if padding < 0 {
		exceptions.Panicf("%s: Padding must be ≥ 0, got %d", caller, padding)
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
