package vaeformer

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/attention"
	"github.com/qzoo/qzoo/layers/linear"
)

// referenceSelfAttention is selfAttention built on layers/attention in its [B, n, H, h] layout
// (the model's attention before it was laid out for the backends' products), sharing the
// projection variables selfAttention created in scope.
func referenceSelfAttention(scope *model.Scope, x *graph.Node, heads int) *graph.Node {
	dims := x.Shape().Dimensions
	b, n, d := dims[0], dims[1], dims[2]
	dh := d / heads
	qkv := graph.Reshape(linear.New(scope.Shared("qkv"), x, 3*d).Done(), b, n, 3, heads, dh)
	part := func(i int) *graph.Node {
		return graph.Reshape(graph.Slice(qkv, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(i, i+1)), b, n, heads, dh)
	}
	out := graph.Reshape(attention.New(part(0), part(1), part(2)).Done(), b, n, d)
	return linear.New(scope.Shared("out"), out, d).Done()
}

// TestSelfAttentionLayout: the attention laid out for the backends' products gives the outputs
// and the gradients (input and both projections) of layers/attention, within float rounding, on
// the UK grid's 117 tokens.
func TestSelfAttentionLayout(t *testing.T) {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	store := model.NewStore()
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		got, want := selfAttention(scope, x, 4, nil), referenceSelfAttention(scope, x, 4)
		// A loss whose gradient differs between outputs, so that every path is exercised.
		loss := func(y *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(y, graph.Square(y))) }
		vars := []*graph.Node{x}
		for v := range store.IterVariables() {
			vars = append(vars, v.NodeValue(x.Graph()))
		}
		if len(vars) != 5 {
			t.Fatalf("got %d inputs to differentiate, want x and the 4 projection variables", len(vars))
		}
		out := []*graph.Node{got, want}
		out = append(out, graph.Gradient(loss(got), vars...)...)
		return append(out, graph.Gradient(loss(want), vars...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 3, 117, 64))
	tensors.MutableFlatData(x, func(f []float32) {
		for i := range f {
			f[i] = float32(math.Sin(float64(i)*0.37)) * 2
		}
	})
	out, err := exec.Call(x)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"output", "∂x", "∂qkv weights", "∂qkv biases", "∂out weights", "∂out biases"}
	pairs := [][2]int{{0, 1}}
	for i := range 5 {
		pairs = append(pairs, [2]int{2 + i, 7 + i})
	}
	for i, p := range pairs {
		got, want := tensors.MustCopyFlatData[float32](out[p[0]]), tensors.MustCopyFlatData[float32](out[p[1]])
		var maxDiff, maxAbs float64
		for j := range want {
			maxDiff = math.Max(maxDiff, math.Abs(float64(got[j]-want[j])))
			maxAbs = math.Max(maxAbs, math.Abs(float64(want[j])))
		}
		// Float32 sums over 351 tokens, in an order that the pure-Go backend's parallel
		// reductions vary from run to run: the weights' gradient differs by 0.5–1.0e-5 of its
		// largest value (one CI run: 1.003e-5); a layout error differs by about all of it.
		if !(maxAbs > 0) || maxDiff > 1e-4*maxAbs {
			t.Errorf("%s: max |new − layers/attention| = %g, max |layers/attention| = %g: want within 1e-4 relative", names[i], maxDiff, maxAbs)
		}
	}
}

// TestSwapLastAxes: swapLastAxes is TransposeAllAxes(x, ..., r−1, r−2), exactly.
func TestSwapLastAxes(t *testing.T) {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	for _, dims := range [][]int{{5, 3}, {2, 3, 4, 5}, {1, 7, 1}} {
		out, err := graph.CallOnce(backend, func(x *graph.Node) *graph.Node {
			perm := make([]int, x.Rank())
			for i := range perm {
				perm[i] = i
			}
			perm[len(perm)-2], perm[len(perm)-1] = perm[len(perm)-1], perm[len(perm)-2]
			return graph.ReduceAllMax(graph.Abs(graph.Sub(swapLastAxes(x), graph.TransposeAllAxes(x, perm...))))
		}, iotaTensor(dims...))
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Value().(float32); got != 0 {
			t.Errorf("%v: max |swapLastAxes − transpose| = %g, want 0", dims, got)
		}
	}
}

// iotaTensor is a float32 tensor of dims holding 0, 1, 2, … in row-major order.
func iotaTensor(dims ...int) *tensors.Tensor {
	x := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	tensors.MutableFlatData(x, func(f []float32) {
		for i := range f {
			f[i] = float32(i)
		}
	})
	return x
}
