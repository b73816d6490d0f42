package position_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/position"
)

const batch, seq, heads, headDim = 2, 5, 3, 6

// TestRoPEMatchesReference rotates random heads at positions 7…11 and compares with the pairwise
// rotation by p·θ_i computed in float64 (the graph's angles are float32: tolerance 1e-5).
func TestRoPEMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*seq*heads*headDim)
	for i := range x {
		x[i] = float32(2*rng.Float64() - 1)
	}
	const start = 7
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		out, err := graph.CallOnce(backend, func(x *graph.Node) *graph.Node {
			positions := graph.AddScalar(graph.Iota(x.Graph(), shapes.Make(dtypes.Int32, seq), 0), start)
			cos, sin := position.RoPEAngles(positions, headDim)
			return position.RoPE(x, cos, sin)
		}, tensors.FromFlatDataAndDimensions(x, batch, seq, heads, headDim))
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Shape().Dimensions; !slices.Equal(got, []int{batch, seq, heads, headDim}) {
			t.Fatalf("shape %v", got)
		}
		got := tensors.MustCopyFlatData[float32](out)
		for b := range batch {
			for p := range seq {
				for h := range heads {
					base := ((b*seq+p)*heads + h) * headDim
					for i := range headDim / 2 {
						a := float64(start+p) * position.RoPEFrequency(i, headDim)
						x0, x1 := float64(x[base+2*i]), float64(x[base+2*i+1])
						want0, want1 := x0*math.Cos(a)-x1*math.Sin(a), x0*math.Sin(a)+x1*math.Cos(a)
						if math.Abs(float64(got[base+2*i])-want0) > 1e-5 || math.Abs(float64(got[base+2*i+1])-want1) > 1e-5 {
							t.Fatalf("pair %d of head %d at position %d: (%g, %g), want (%g, %g)",
								i, h, start+p, got[base+2*i], got[base+2*i+1], want0, want1)
						}
					}
				}
			}
		}
	})
	if got, want := position.RoPEFrequency(1, 4), 0.01; math.Abs(got-want) > 1e-15 {
		t.Errorf("RoPEFrequency(1, 4) = %g, want 10000^(−1/2) = %g", got, want)
	}
}

// TestRoPEGradient checks RoPE's gradient with respect to x (float64 angles) on every backend.
func TestRoPEGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	values := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = 2*rng.Float64() - 1
		}
		return v
	}
	x := tensors.FromFlatDataAndDimensions(values(1*seq*2*4), 1, seq, 2, 4)
	angles := values(seq * 2)
	r := values(1 * seq * 2 * 4)
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		testbackend.CheckGradient(t, backend, func(_ *model.Scope, in []*graph.Node) *graph.Node {
			a := graph.Reshape(graph.Const(in[0].Graph(), angles), seq, 2)
			y := position.RoPE(in[0], graph.Cos(a), graph.Sin(a))
			return graph.ReduceAllSum(graph.Mul(y, graph.Reshape(graph.Const(y.Graph(), r), y.Shape().Dimensions...)))
		}, x)
	})
}

func TestSinusoidal2D(t *testing.T) {
	const nh, nw, d = 3, 4, 10 // 4 does not divide 10: two channels stay zero
	g := graph.NewGraph(testbackend.Go(t), "sinusoidal")
	e := position.Sinusoidal2D(g, nh, nw, d)
	if got := e.Shape().Dimensions; !slices.Equal(got, []int{1, nh * nw, d}) {
		t.Fatalf("shape %v, want [1 %d %d]", got, nh*nw, d)
	}
	g.Compile(e)
	out := g.Run()[0]
	values := tensors.MustCopyFlatData[float32](out)
	const q = d / 4
	for r := range nh {
		for c := range nw {
			row := values[(r*nw+c)*d : (r*nw+c+1)*d]
			for k := range q {
				omega := math.Pow(10000, -float64(k)/q)
				want := []float64{math.Sin(float64(r) * omega), math.Cos(float64(r) * omega), math.Sin(float64(c) * omega), math.Cos(float64(c) * omega)}
				for part, w := range want {
					if math.Abs(float64(row[part*q+k])-w) > 1e-6 {
						t.Fatalf("token (%d, %d) channel %d = %g, want %g", r, c, part*q+k, row[part*q+k], w)
					}
				}
			}
			if row[d-2] != 0 || row[d-1] != 0 {
				t.Errorf("token (%d, %d): the channels beyond 4·⌊d/4⌋ are %v, want zeros", r, c, row[4*q:])
			}
		}
	}
}
