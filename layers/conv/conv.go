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
		return validConv(x, kernel, padding, padding, padding, padding)
	}
	bh, bw := ceilDiv(kh, stride), ceilDiv(kw, stride)
	// The rows the strided convolution reads, rounded up to whole stride×stride blocks.
	eh, ew := stride*(ho+bh-1), stride*(wo+bw-1)
	xp := padSpatial(x, padding, max(0, eh-h-padding), padding, max(0, ew-w-padding))
	xp = cropSpatial(xp, eh, ew)
	return validConv(SpaceToDepth(xp, stride), blockKernel(kernel, stride), 0, 0, 0, 0)
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

	// k[a, b, c, (ρ, σ, o)] = kernel[stride·(bh−1−a) + ρ, stride·(bw−1−b) + σ, c, o].
	k := padKernel(kernel, stride*bh, stride*bw)
	k = graph.Reshape(k, bh, stride, bw, stride, cin, cout)
	k = graph.Reverse(k, 0, 2)
	k = graph.TransposeAllAxes(k, 0, 2, 4, 1, 3, 5)
	k = graph.Reshape(k, bh, bw, cin, stride*stride*cout)

	u := DepthToSpace(validConv(x, k, bh-1, bh-1, bw-1, bw-1), stride)
	return graph.Slice(u, graph.AxisRange(), graph.AxisRange(padding, padding+ho), graph.AxisRange(padding, padding+wo))
}

// validConv is the stride-1 convolution of x [B, H, W, C] zero-padded by top, bottom, left and right
// with kernel [kH, kW, C, O], without further padding: im2col (im2colConv) where O ≥ C, and where
// O < C the shifted products (shiftedProductConv), which move kH·kW windows of O channels instead of
// C, forward and backward.
func validConv(x, kernel *graph.Node, top, bottom, left, right int) *graph.Node {
	_, _, _, c := nhwc("conv.validConv", x)
	kd := kernel.Shape().Dimensions
	kh, kw := kd[0], kd[1]
	if kh*kw == 1 || kd[3] >= c {
		return im2colConv(padSpatial(x, top, bottom, left, right), kernel)
	}
	if max(top, bottom) >= kh || max(left, right) >= kw {
		// Padding wider than the kernel: some outputs read nothing but zeros.
		x, top, bottom, left, right = padSpatial(x, top, bottom, left, right), 0, 0, 0, 0
	}
	return shiftedProductConv(x, kernel, top, bottom, left, right)
}

// shiftedProductConv is validConv computed by multiplying first and shifting the products: with
// P = x·K, K the kernel as [C, (i, j, o)], and P̄ = P zero-padded as x is (the products of the
// padding zeros are zeros),
//
//	y[b, Y, X, o] = Σ_{i,j} P̄[b, Y + i, X + j, (i, j, o)],
//
// one matrix product and kH·kW slices of O channels. Its gradients are written out rather than left
// to autodiff (which would pad each slice's gradient to P's full size and add them up): with
// G[b, p, q, (i', j', o)] = dy[b, p + top + i' − kH + 1, q + left + j' − kW + 1, o] (zero outside),
// the im2col of dy padded by kH−1−top, kH−1−bottom, kW−1−left and kW−1−right (padding smaller than
// the kernel), and K' the kernel flipped in space as [(i', j', o), C],
//
//	dx = G·K',  dK'ᵀ = xᵀ·G  (the sums of the convolution's gradients in another order).
//
// The custom gradients work through autodiff: the output's gradient dy is kept when autodiff
// passes through the output (first, as the output depends on x and the kernel), and used when it
// reaches x and the kernel, which the forward pass reads without gradient; their zero-valued tie
// to the product (0·(x[0, 0, 0, 0] + K[0, 0, 0, 0]), broadcast) is what makes autodiff reach them.
func shiftedProductConv(x, kernel *graph.Node, top, bottom, left, right int) *graph.Node {
	b, h, w, c := nhwc("conv.validConv", x)
	kd := kernel.Shape().Dimensions
	kh, kw, o := kd[0], kd[1], kd[3]
	ho, wo := h+top+bottom-kh+1, w+left+right-kw+1

	var dy, windowsOf, windows *graph.Node
	dyWindows := func() *graph.Node { // G as [B·H·W, kH·kW·O], built once per gradient
		if windowsOf != dy {
			g := im2col(padSpatial(dy, kh-1-top, kh-1-bottom, kw-1-left, kw-1-right), kh, kw)
			windows, windowsOf = graph.Reshape(g, b*h*w, kh*kw*o), dy
		}
		return windows
	}
	xTied := graph.IdentityWithCustomGradient(x, func(_, _ *graph.Node) *graph.Node {
		flipped := graph.TransposeAllAxes(graph.Reverse(kernel, 0, 1), 0, 1, 3, 2) // [kH, kW, O, C]
		dx := graph.MatMul(dyWindows(), graph.Reshape(flipped, kh*kw*o, c))
		return graph.Reshape(dx, b, h, w, c)
	})
	kernelTied := graph.IdentityWithCustomGradient(kernel, func(_, _ *graph.Node) *graph.Node {
		dk := graph.Einsum("nc,nk->ck", graph.Reshape(graph.StopGradient(x), b*h*w, c), dyWindows()) // [C, (i', j', o)]
		dk = graph.Reverse(graph.Reshape(dk, c, kh, kw, o), 1, 2)
		return graph.TransposeAllAxes(dk, 1, 2, 0, 3)
	})
	corner := func(t *graph.Node) *graph.Node {
		return graph.Slice(t, graph.AxisRange(0, 1), graph.AxisRange(0, 1), graph.AxisRange(0, 1), graph.AxisRange(0, 1))
	}
	tie := graph.MulScalar(graph.Add(corner(xTied), corner(kernelTied)), 0)
	k := graph.Add(graph.StopGradient(kernel), tie)
	k = graph.Reshape(graph.TransposeAllAxes(k, 2, 0, 1, 3), c, kh*kw*o)
	p := graph.Reshape(graph.MatMul(graph.Reshape(graph.StopGradient(x), b*h*w, c), k), b, h, w, kh*kw*o)
	p = padSpatial(p, top, bottom, left, right)
	var y *graph.Node
	for i := range kh {
		for j := range kw {
			at := (i*kw + j) * o
			s := graph.Slice(p, graph.AxisRange(), graph.AxisRange(i, i+ho), graph.AxisRange(j, j+wo), graph.AxisRange(at, at+o))
			if y == nil {
				y = s
			} else {
				y = graph.Add(y, s)
			}
		}
	}
	return graph.IdentityWithCustomGradient(y, func(_, v *graph.Node) *graph.Node {
		dy = v
		return v
	})
}

// im2col concatenates the kH·kW windows [B, H−kH+1, W−kW+1, C] of x [B, H, W, C] along channels, in
// the order (i, j, c), the row-major order of a kernel's first three axes.
func im2col(x *graph.Node, kh, kw int) *graph.Node {
	_, h, w, _ := nhwc("conv.im2col", x)
	ho, wo := h-kh+1, w-kw+1
	if kh == 1 && kw == 1 {
		return x
	}
	windows := make([]*graph.Node, 0, kh*kw)
	for i := range kh {
		for j := range kw {
			windows = append(windows, graph.Slice(x, graph.AxisRange(), graph.AxisRange(i, i+ho), graph.AxisRange(j, j+wo)))
		}
	}
	return graph.Concatenate(windows, -1)
}

// im2colConv is validConv computed as im2col: the windows of x (see im2col) multiplied by the kernel
// reshaped to [kH·kW·C, O].
func im2colConv(x, kernel *graph.Node) *graph.Node {
	b, h, w, c := nhwc("conv.validConv", x)
	kd := kernel.Shape().Dimensions
	kh, kw, o := kd[0], kd[1], kd[3]
	ho, wo := h-kh+1, w-kw+1
	y := graph.MatMul(graph.Reshape(im2col(x, kh, kw), b*ho*wo, kh*kw*c), graph.Reshape(kernel, kh*kw*c, o))
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
