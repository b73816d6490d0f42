package conv

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// SpaceToDepth moves each block×block spatial block of x [B, H, W, C] into channels:
// the result has shape [B, H/block, W/block, block²·C] and
//
//	out[b, Y, X, (r·block + q)·C + c] = x[b, block·Y + r, block·X + q, c].
//
// H and W must be multiples of block.
func SpaceToDepth(x *graph.Node, block int) *graph.Node {
	b, h, w, c := nhwc("conv.SpaceToDepth", x)
	if block < 1 || h%block != 0 || w%block != 0 {
		exceptions.Panicf("conv.SpaceToDepth: block=%d must be ≥ 1 and divide H=%d and W=%d of x %s",
			block, h, w, x.Shape())
	}
	if block == 1 {
		return x
	}
	x = graph.Reshape(x, b, h/block, block, w/block, block, c)
	x = graph.TransposeAllAxes(x, 0, 1, 3, 2, 4, 5)
	return graph.Reshape(x, b, h/block, w/block, block*block*c)
}

// DepthToSpace is the inverse of [SpaceToDepth]: x [B, H, W, block²·C] becomes
// [B, H·block, W·block, C] with
//
//	out[b, block·Y + r, block·X + q, c] = x[b, Y, X, (r·block + q)·C + c].
func DepthToSpace(x *graph.Node, block int) *graph.Node {
	b, h, w, c := nhwc("conv.DepthToSpace", x)
	if block < 1 || c%(block*block) != 0 {
		exceptions.Panicf("conv.DepthToSpace: block²=%d must divide the channels (%d) of x %s",
			block*block, c, x.Shape())
	}
	if block == 1 {
		return x
	}
	c /= block * block
	x = graph.Reshape(x, b, h, w, block, block, c)
	x = graph.TransposeAllAxes(x, 0, 1, 3, 2, 4, 5)
	return graph.Reshape(x, b, h*block, w*block, c)
}

// nhwc returns the dimensions of a rank-4 x, panicking with the caller's name otherwise.
func nhwc(caller string, x *graph.Node) (b, h, w, c int) {
	if x.Rank() != 4 {
		exceptions.Panicf("%s: x must be NHWC, [batch, height, width, channels], got shape %s", caller, x.Shape())
	}
	d := x.Shape().Dimensions
	return d[0], d[1], d[2], d[3]
}
