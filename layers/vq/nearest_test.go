package vq

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/internal/testbackend"
)

// nearestCodesByDistances is the search nearestCodes replaced, kept as the reference: the full
// distances (‖z‖² − 2 z·Cᵀ) + ‖c‖², three passes over [N, K], and their argmin.
func nearestCodesByDistances(z, codebook *graph.Node) *graph.Node {
	zNorm := graph.ReduceAndKeep(graph.Square(z), graph.ReduceSum, -1)                                   // [N, 1]
	cNorm := graph.InsertAxes(graph.ReduceSum(graph.Square(codebook), -1), 0)                            // [1, K]
	cross := graph.Einsum("nd,kd->nk", z, codebook)                                                      // [N, K]
	return graph.ArgMin(graph.Add(graph.Sub(zNorm, graph.MulScalar(cross, 2)), cNorm), -1, dtypes.Int32) // [N]
}

// TestNearestCodesMatchesDistances checks, on every backend, that the one-product search picks
// the nearest code of SimVQ-like data ([6272, 16] latents, 1024 codes, as the main job's batch):
// the same code as the full distances except on near-ties, where both picks lie within float32
// rounding of the exact (float64) minimum distance.
func TestNearestCodesMatchesDistances(t *testing.T) {
	const n, k, d = 6272, 1024, 16
	rng := rand.New(rand.NewPCG(5, 6))
	z, codebook := gaussianTensor(rng, 1, n, d), gaussianTensor(rng, 0.5, k, d)
	zs, cs := tensors.MustCopyFlatData[float32](z), tensors.MustCopyFlatData[float32](codebook)
	dist := func(i, j int) float64 {
		var s float64
		for c := range d {
			diff := float64(zs[i*d+c]) - float64(cs[j*d+c])
			s += diff * diff
		}
		return s
	}
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		res, err := graph.ExecOnceN(backend, func(z, c *graph.Node) (*graph.Node, *graph.Node) {
			return nearestCodes(z, c), nearestCodesByDistances(z, c)
		}, tensors.FromFlatDataAndDimensions(zs, n, d), tensors.FromFlatDataAndDimensions(cs, k, d))
		if err != nil {
			t.Fatal(err)
		}
		got, old := tensors.MustCopyFlatData[int32](res[0]), tensors.MustCopyFlatData[int32](res[1])
		differ := 0
		for i := range n {
			best := math.Inf(1)
			for j := range k {
				best = min(best, dist(i, j))
			}
			// float32 distances of O(d) values are good to a few ulps of ‖z‖² + ‖c‖².
			tol := 1e-5 * (1 + best + float64(d))
			if dg := dist(i, int(got[i])); dg-best > tol {
				t.Fatalf("row %d: code %d at distance %g, the nearest is at %g", i, got[i], dg, best)
			}
			if got[i] != old[i] {
				differ++
				if do := dist(i, int(old[i])); do-best > tol {
					t.Fatalf("row %d: the reference picked code %d at distance %g, the nearest is at %g", i, old[i], do, best)
				}
			}
		}
		if differ > n/500 {
			t.Errorf("%d of %d rows changed code: more than near-ties", differ, n)
		}
		t.Logf("%d of %d rows picked another code than the full distances (near-ties)", differ, n)
	})
}
