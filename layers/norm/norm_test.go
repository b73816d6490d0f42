package norm_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/norm"
)

const rows, d = 6, 5

func randomRows(seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	v := make([]float64, rows*d)
	for i := range v {
		v[i] = 3*rng.Float64() - 1 // a non-zero mean, so that LayerNorm's centring matters
	}
	return v
}

// refRMS and refLayer are the package doc's formulas with unit gain and zero bias, as loops.
func refRMS(x []float64, eps float64) []float64 {
	y := make([]float64, len(x))
	for r := range rows {
		row := x[r*d : (r+1)*d]
		var ms float64
		for _, v := range row {
			ms += v * v / d
		}
		for i, v := range row {
			y[r*d+i] = v / math.Sqrt(ms+eps)
		}
	}
	return y
}

func refLayer(x []float64, eps float64) []float64 {
	y := make([]float64, len(x))
	for r := range rows {
		row := x[r*d : (r+1)*d]
		var mean, variance float64
		for _, v := range row {
			mean += v / d
		}
		for _, v := range row {
			variance += (v - mean) * (v - mean) / d
		}
		for i, v := range row {
			y[r*d+i] = (v - mean) / math.Sqrt(variance+eps)
		}
	}
	return y
}

func TestMatchReferenceAndVariables(t *testing.T) {
	x := randomRows(1)
	cases := []struct {
		name  string
		build func(scope *model.Scope, x *graph.Node) *graph.Node
		ref   []float64
		vars  []string
	}{
		{"rms default epsilon", func(s *model.Scope, x *graph.Node) *graph.Node { return norm.RMS(s, x).Done() }, refRMS(x, 1e-5), []string{"/n/weight"}},
		{"rms epsilon 1", func(s *model.Scope, x *graph.Node) *graph.Node { return norm.RMS(s, x).Epsilon(1).Done() }, refRMS(x, 1), []string{"/n/weight"}},
		{"layer default epsilon", func(s *model.Scope, x *graph.Node) *graph.Node { return norm.Layer(s, x).Done() }, refLayer(x, 1e-6), []string{"/n/bias", "/n/gain"}},
		{"layer epsilon 1", func(s *model.Scope, x *graph.Node) *graph.Node { return norm.Layer(s, x).Epsilon(1).Done() }, refLayer(x, 1), []string{"/n/bias", "/n/gain"}},
	}
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				store := model.NewStore()
				exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
					return c.build(scope.In("n"), x)
				})
				if err != nil {
					t.Fatal(err)
				}
				defer exec.Finalize()
				out, err := exec.Call(tensors.FromFlatDataAndDimensions(x, 2, rows/2, d))
				if err != nil {
					t.Fatal(err)
				}
				if got := out[0].Shape().Dimensions; !slices.Equal(got, []int{2, rows / 2, d}) {
					t.Fatalf("shape %v, want [2 %d %d]", got, rows/2, d)
				}
				for i, v := range tensors.MustCopyFlatData[float64](out[0]) {
					if math.Abs(v-c.ref[i]) > 1e-12 {
						t.Fatalf("y[%d] = %g, reference %g", i, v, c.ref[i])
					}
				}
				var vars []string
				for v := range store.IterVariables() {
					if strings.HasPrefix(v.Path(), "/n/") {
						vars = append(vars, v.Path())
						if !slices.Equal(v.Shape().Dimensions, []int{d}) {
							t.Errorf("%s has shape %v, want [%d]", v.Path(), v.Shape().Dimensions, d)
						}
					}
				}
				slices.Sort(vars)
				if !slices.Equal(vars, c.vars) {
					t.Errorf("variables %v, want %v", vars, c.vars)
				}
			})
		}
	})
}

// TestGradients checks both norms' input gradients against finite differences on every backend
// (the weights r make the objective depend on every output differently).
func TestGradients(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions(randomRows(2), rows, d)
	r := randomRows(3)
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		for name, build := range map[string]func(s *model.Scope, x *graph.Node) *graph.Node{
			"rms":   func(s *model.Scope, x *graph.Node) *graph.Node { return norm.RMS(s, x).Done() },
			"layer": func(s *model.Scope, x *graph.Node) *graph.Node { return norm.Layer(s, x).Done() },
		} {
			t.Run(name, func(t *testing.T) {
				testbackend.CheckGradient(t, backend, func(scope *model.Scope, in []*graph.Node) *graph.Node {
					y := build(scope, in[0])
					return graph.ReduceAllSum(graph.Mul(y, graph.Reshape(graph.Const(y.Graph(), r), rows, d)))
				}, x)
			})
		}
	})
}
