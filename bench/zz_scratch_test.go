package main

import (
	"fmt"
	"sort"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/vq"
	"github.com/qzoo/qzoo/models/vqae"
)

func TestZZCensus(t *testing.T) {
	cfg, _, _ := BenchConfig("", 3, "")
	backend, _ := framework.NewBackendFromSpec("go")
	store := model.NewStore()
	store.SetParams(cfg.Params)
	g := graph.NewGraph(backend, "census")
	x := graph.Parameter(g, "images", shapes.Make(dtypes.Float32, 128, 28, 28, 1))
	scope := store.RootScope()
	z := vqae.Encode(scope, x)
	qs := scope.In("quantizer")
	q := vq.New(qs)
	out := q.Quantize(qs, z)
	recon := vqae.Decode(scope, out.Quantized)
	loss := graph.Add(graph.ReduceAllMean(graph.Square(graph.Sub(recon, x))), out.Loss)
	var vars []*graph.Node
	for v := range store.IterVariables() {
		if v.Trainable {
			vars = append(vars, v.NodeValue(g))
		}
	}
	graph.Gradient(loss, vars...)
	type agg struct{ n, elems int }
	m := map[string]*agg{}
	for _, n := range g.Nodes() {
		k := n.Type().String()
		if m[k] == nil {
			m[k] = &agg{}
		}
		m[k].n++
		m[k].elems += n.Shape().Size()
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]].elems > m[keys[j]].elems })
	for _, k := range keys {
		fmt.Printf("%-22s %4d nodes %10.2f M elements\n", k, m[k].n, float64(m[k].elems)/1e6)
	}
	for _, n := range g.Nodes() {
		if k := n.Type().String(); (k == "Transpose" || k == "Slice" || k == "Add" || k == "Sub") && n.Shape().Size() > 500000 {
			in := ""
			for _, i := range n.Inputs() {
				in += " " + i.Shape().String()
			}
			fmt.Printf("  %s %s <-%s || %s\n", k, n.Shape(), in, n.String())
		}
	}
}

func timeExec(b *testing.B, fn func(x *graph.Node) *graph.Node, shape shapes.Shape) {
	backend, _ := framework.NewBackendFromSpec("go")
	exec, err := graph.NewExec(backend, func(x *graph.Node) *graph.Node { return fn(x) })
	if err != nil {
		b.Fatal(err)
	}
	x := tensorsOnes(shape)
	out, err := exec.Call(x)
	if err != nil {
		b.Fatal(err)
	}
	out[0].MustFinalizeAll()
	b.ResetTimer()
	for b.Loop() {
		out, _ := exec.Call(x)
		out[0].MustFinalizeAll()
	}
}

func chain(n int, f func(*graph.Node) *graph.Node) func(*graph.Node) *graph.Node {
	return func(x *graph.Node) *graph.Node {
		for range n {
			x = f(x)
		}
		return graph.ReduceAllSum(x)
	}
}

func BenchmarkZZOps(b *testing.B) {
	big := shapes.Make(dtypes.Float32, 28800, 128)
	act := shapes.Make(dtypes.Float32, 128, 16, 16, 32)
	ops := []struct {
		name  string
		shape shapes.Shape
		f     func(*graph.Node) *graph.Node
	}{
		{"AddScalar_28800x128", big, func(x *graph.Node) *graph.Node { return graph.AddScalar(x, 1) }},
		{"IdentityTranspose_28800x128", big, func(x *graph.Node) *graph.Node { return graph.TransposeAllAxes(x, 0, 1) }},
		{"Transpose2x_28800x128", big, func(x *graph.Node) *graph.Node {
			return graph.TransposeAllAxes(graph.TransposeAllAxes(x, 1, 0), 1, 0)
		}},
		{"SliceThenPad_128x16x16x32", act, func(x *graph.Node) *graph.Node {
			x = graph.Slice(x, graph.AxisRange(), graph.AxisRange(1, 16), graph.AxisRange(1, 16))
			return graph.Pad(x, graph.ScalarZero(x.Graph(), x.DType()), graph.PadAxis{}, graph.PadAxis{Start: 1}, graph.PadAxis{Start: 1}, graph.PadAxis{})
		}},
		{"AddScalar_128x16x16x32", act, func(x *graph.Node) *graph.Node { return graph.AddScalar(x, 1) }},
	}
	for _, op := range ops {
		for _, n := range []int{1, 11} {
			b.Run(fmt.Sprintf("%s_x%d", op.name, n), func(b *testing.B) { timeExec(b, chain(n, op.f), op.shape) })
		}
	}
	z := shapes.Make(dtypes.Float32, 6272, 16)
	cb := func(g *graph.Graph) *graph.Node {
		return graph.Iota(g, shapes.Make(dtypes.Float32, 1024, 16), 0)
	}
	b.Run("NearestCodes_current", func(b *testing.B) {
		timeExec(b, func(x *graph.Node) *graph.Node {
			c := cb(x.Graph())
			zNorm := graph.ReduceAndKeep(graph.Square(x), graph.ReduceSum, -1)
			cNorm := graph.InsertAxes(graph.ReduceSum(graph.Square(c), -1), 0)
			cross := graph.Einsum("nd,kd->nk", x, c)
			d := graph.Add(graph.Sub(zNorm, graph.MulScalar(cross, 2)), cNorm)
			return graph.ArgMin(d, -1, dtypes.Int32)
		}, z)
	})
	b.Run("NearestCodes_noZNorm_2folded", func(b *testing.B) {
		timeExec(b, func(x *graph.Node) *graph.Node {
			c := cb(x.Graph())
			cNorm := graph.InsertAxes(graph.ReduceSum(graph.Square(c), -1), 0)
			cross := graph.Einsum("nd,kd->nk", x, graph.MulScalar(c, 2))
			d := graph.Sub(cNorm, cross)
			return graph.ArgMin(d, -1, dtypes.Int32)
		}, z)
	})
	b.Run("NearestCodes_matmulOnly", func(b *testing.B) {
		timeExec(b, func(x *graph.Node) *graph.Node {
			c := cb(x.Graph())
			cross := graph.Einsum("nd,kd->nk", x, c)
			return graph.ArgMax(cross, -1, dtypes.Int32)
		}, z)
	})
	b.Run("NearestCodes_argminOnly", func(b *testing.B) {
		timeExec(b, func(x *graph.Node) *graph.Node {
			return graph.ArgMin(graph.Reshape(graph.Concatenate([]*graph.Node{x, x, x, x, x, x, x, x}, -1), 6272/8, 1024), -1, dtypes.Int32)
		}, z)
	})
}

func tensorsOnes(shape shapes.Shape) *tensors.Tensor {
	t := tensors.FromShape(shape)
	tensors.MutableFlatData(t, func(flat []float32) {
		for i := range flat {
			flat[i] = float32(i%97) / 97
		}
	})
	return t
}
