package qat

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// grouping views a linear weight w [out, in] as groups of size consecutive input columns per
// output row: n = ⌈in/size⌉ groups, the last one in − (n−1)·size columns wide when size does
// not divide in. Graph code works on the padded view [out, n, size] (see split), whose extra
// columns of the last group are zeros that mask marks invalid and merge drops.
type grouping struct {
	out, in int
	size, n int
}

// newGrouping checks that w is a non-empty float weight [out, in] and returns its grouping; groupSize 0,
// or ≥ in, makes one group per row. fn names the caller in panics.
func newGrouping(w *graph.Node, groupSize int, fn string) grouping {
	if w.Rank() != 2 || w.Shape().Size() == 0 {
		exceptions.Panicf("qat: %s needs a non-empty weight of shape [out, in], got %s", fn, w.Shape())
	}
	if !w.DType().IsFloat() {
		exceptions.Panicf("qat: %s needs a float weight, got %s", fn, w.Shape())
	}
	if groupSize < 0 {
		exceptions.Panicf("qat: %s groupSize must be ≥ 0 (0: one group per row), got %d", fn, groupSize)
	}
	out, in := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
	size := in
	if groupSize > 0 && groupSize < in {
		size = groupSize
	}
	return grouping{out: out, in: in, size: size, n: (in + size - 1) / size}
}

// padding is the number of zero columns that complete the last group.
func (gr grouping) padding() int { return gr.n*gr.size - gr.in }

// split pads w [out, in] with zero columns to n·size and reshapes it to [out, n, size].
func (gr grouping) split(w *graph.Node) *graph.Node {
	if p := gr.padding(); p > 0 {
		w = graph.Pad(w, graph.ScalarZero(w.Graph(), w.DType()), compute.PadAxis{}, compute.PadAxis{End: p})
	}
	return graph.Reshape(w, gr.out, gr.n, gr.size)
}

// merge is the inverse of split: it reshapes x [out, n, size] to [out, n·size] and drops the
// padding columns.
func (gr grouping) merge(x *graph.Node) *graph.Node {
	x = graph.Reshape(x, gr.out, gr.n*gr.size)
	if gr.padding() > 0 {
		x = graph.Slice(x, graph.AxisRange(), graph.AxisRange(0, gr.in))
	}
	return x
}

// mask is the bool [out, n, size] that is true on the columns of w and false on the padding.
func (gr grouping) mask(g *graph.Graph) *graph.Node {
	valid := make([]bool, gr.n*gr.size)
	for i := range gr.in {
		valid[i] = true
	}
	return graph.BroadcastToDims(graph.Reshape(graph.Const(g, valid), 1, gr.n, gr.size), gr.out, gr.n, gr.size)
}

// counts returns the number of columns of each of the n groups: size, ..., size, and the
// width of the last group.
func (gr grouping) counts() []float64 {
	counts := make([]float64, gr.n)
	for j := range counts {
		counts[j] = float64(min(gr.size, gr.in-j*gr.size))
	}
	return counts
}

// perGroup returns the per-group values [n] as a node [1, n] of w's dtype, to broadcast
// against per-group statistics [out, n].
func perGroup(w *graph.Node, values []float64) *graph.Node {
	return graph.InsertAxes(graph.ConvertDType(graph.Const(w.Graph(), values), w.DType()), 0)
}
