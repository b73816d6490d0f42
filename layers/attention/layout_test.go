package attention_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/attention"
)

// passThrough is a Cache that stores nothing: its keys and values are the call's own (head-major,
// as a Cache returns them), at the call's positions. Causal attention through it takes the
// cached path, which computes causal attention with GoMLX's derived gradients and no layout of
// its own: the tests below hold the causal layout to it.
type passThrough struct{ positions *graph.Node }

func (c passThrough) Update(k, v *graph.Node) (keys, values, positions *graph.Node) {
	return graph.TransposeAllAxes(k, 0, 2, 1, 3), graph.TransposeAllAxes(v, 0, 2, 1, 3), c.positions
}

// causalLossAndGrads returns Σ attention ⊙ r and its gradients with respect to q, k and v, by the
// causal layout (general=false) or the cached path (general=true).
func causalLossAndGrads(q, k, v, r *graph.Node, general bool) []*graph.Node {
	t := q.Shape().Dimensions[1]
	positions := graph.Iota(q.Graph(), shapes.Make(dtypes.Int32, t), 0)
	a := attention.New(q, k, v).Causal(positions)
	if general {
		a = a.Cache(passThrough{positions})
	}
	out := a.Done()
	loss := graph.ReduceAllSum(graph.Mul(out, r))
	return append([]*graph.Node{out}, graph.Gradient(loss, q, k, v)...)
}

func randomTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(2*rng.Float64() - 1)
	}
	return tensors.FromFlatDataAndDimensions(x, dims...)
}

// TestCausalLayoutMatchesGeneralPath: in float32 at stories260K's head shapes, the causal layout's
// output and gradients equal the cached path's to float rounding, on every backend.
func TestCausalLayoutMatchesGeneralPath(t *testing.T) {
	const b, seq, hd = 2, 2*attention.QueryBlock + 5, 8 // three query blocks, the last short
	for _, heads := range [][2]int{{8, 4}, {4, 4}, {6, 1}} {
		testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
			run := func(general bool) [][]float32 {
				rng := rand.New(rand.NewPCG(uint64(heads[0]), uint64(heads[1])))
				in := []any{randomTensor(rng, b, seq, heads[0], hd), randomTensor(rng, b, seq, heads[1], hd),
					randomTensor(rng, b, seq, heads[1], hd), randomTensor(rng, b, seq, heads[0], hd)}
				out, err := graph.CallOnceN(backend, func(in []*graph.Node) []*graph.Node {
					return causalLossAndGrads(in[0], in[1], in[2], in[3], general)
				}, in...)
				if err != nil {
					t.Fatal(err)
				}
				flat := make([][]float32, len(out))
				for i, o := range out {
					flat[i] = tensors.MustCopyFlatData[float32](o)
				}
				return flat
			}
			got, want := run(false), run(true)
			for i, name := range []string{"output", "dq", "dk", "dv"} {
				var worst float64
				for j := range want[i] {
					worst = max(worst, math.Abs(float64(got[i][j]-want[i][j]))/(1+math.Abs(float64(want[i][j]))))
				}
				t.Logf("heads %v: %s: largest relative difference %.3g", heads, name, worst)
				if worst > 2e-6 {
					t.Errorf("heads %v: %s differs from the cached path by %.3g (relative), more than float32 rounding", heads, name, worst)
				}
			}
		})
	}
}

// BenchmarkCausalTrainStep times one forward and backward of causal attention at the llama
// benchmark's shapes (32 × 256 tokens, stories260K's 8 query and 4 key/value heads of 8), by the
// causal layout and by the cached path, on every backend.
func BenchmarkCausalTrainStep(bm *testing.B) {
	const b, seq, heads, kvHeads, hd = 32, 256, 8, 4, 8
	specs, backends := testbackend.All(bm)
	for _, spec := range specs {
		for _, general := range []bool{false, true} {
			name, _, _ := strings.Cut(spec, ":")
			bm.Run(fmt.Sprintf("%s/general=%v", name, general), func(bm *testing.B) {
				backend := backends[spec]
				rng := rand.New(rand.NewPCG(1, 2))
				in := []*tensors.Tensor{randomTensor(rng, b, seq, heads, hd), randomTensor(rng, b, seq, kvHeads, hd),
					randomTensor(rng, b, seq, kvHeads, hd), randomTensor(rng, b, seq, heads, hd)}
				exec, err := graph.NewExec(backend, func(q, k, v, r *graph.Node) []*graph.Node {
					return causalLossAndGrads(q, k, v, r, general)
				})
				if err != nil {
					bm.Fatal(err)
				}
				step := func() {
					out, err := exec.Exec(in[0], in[1], in[2], in[3])
					if err != nil {
						bm.Fatal(err)
					}
					for _, o := range out {
						o.FinalizeAll()
					}
				}
				step() // compiles
				for bm.Loop() {
					step()
				}
			})
		}
	}
}
