package vq

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/hparams"
)

// ParamKMeansIters ≥ 0 is the number of Lloyd iterations of the k-means codebook
// initialisation of data-initialised quantizers (ema_vq). Default 10 (int).
const ParamKMeansIters = "vq_kmeans_iters"

func init() {
	RegisterParams(hparams.List{
		{Key: ParamKMeansIters, Default: 10, Doc: "Lloyd iterations of the k-means codebook initialisation from the first batch",
			Domain: hparams.AtLeast(0)},
	})
}

// KMeans clusters the rows of z [N, D] into k centroids, returned as [k, D], with Lloyd's
// algorithm (Lloyd 1982, "Least squares quantization in PCM"):
//
//	init:  c_j = z_{r_j}, with r drawn by scope's random number generator, without
//	       replacement when N ≥ k and with replacement when N < k;
//	iters: a(n) = argmin_j ‖z_n − c_j‖²,   c_j ← (Σ_{a(n)=j} z_n) / |{n : a(n)=j}|,
//
// where a centroid that attracts no row keeps its place. Like any Lloyd run it can end in a
// local minimum, e.g. when two initial centroids fall in one cluster whose bisector also cuts
// another cluster; with many centroids and many latents, as for a codebook, this matters little.
// The iterations are unrolled in the graph and no gradient flows into the result. It panics if z is not of rank 2, k < 1 or iters < 0.
func KMeans(scope *model.Scope, z *graph.Node, k, iters int) *graph.Node {
	if z.Rank() != 2 {
		exceptions.Panicf("vq.KMeans: z must have shape [N, D], got %s", z.Shape())
	}
	if k < 1 {
		exceptions.Panicf("vq.KMeans: the number of centroids (%s) must be ≥ 1, got %d", ParamCodebookSize, k)
	}
	if iters < 0 {
		exceptions.Panicf("vq.KMeans: %s must be ≥ 0, got %d", ParamKMeansIters, iters)
	}
	g := z.Graph()
	z = graph.StopGradient(z)
	n := z.Shape().Dimensions[0]
	var picks *graph.Node
	if n >= k {
		// Without replacement: k evenly spaced rows from a random offset, (o + ⌊i·n/k⌋) mod n.
		// The rows of a batch are already in random order, and this needs no sort (TopK),
		// which not every backend (ONNX Runtime) can differentiate or even run.
		offset := scope.RandomIntN(g, int32(n), shapes.Make(dtypes.Int32))
		spaced := graph.ConvertDType(graph.DivScalar(graph.MulScalar(graph.Iota(g, shapes.Make(dtypes.Int64, k), 0), float64(n)), float64(k)), dtypes.Int32)
		picks = graph.ModScalar(graph.Add(spaced, offset), float64(n))
	} else {
		picks = scope.RandomIntN(g, int32(n), shapes.Make(dtypes.Int32, k))
	}
	centroids := graph.Gather(z, graph.InsertAxes(picks, -1))
	for range iters {
		assign := nearestCodes(z, centroids)
		counts := codeCounts(assign, k, z.DType())
		means := graph.Div(kmSums(z, assign, k), graph.InsertAxes(graph.MaxScalar(counts, 1), -1))
		centroids = graph.Where(graph.GreaterThan(counts, graph.ZerosLike(counts)), means, centroids)
	}
	return centroids
}

// codeCounts returns how many of codes [N] (int32 in [0, k)) take each value, as [k] of dtype.
func codeCounts(codes *graph.Node, k int, dtype dtypes.DType) *graph.Node {
	g := codes.Graph()
	n := codes.Shape().Dimensions[0]
	return graph.ScatterSum(graph.Zeros(g, shapes.Make(dtype, k)), graph.InsertAxes(codes, -1),
		graph.Ones(g, shapes.Make(dtype, n)), false, false)
}

// kmSums returns Σ_{codes[n]=j} z_n for z [N, D] and codes [N], as [k, D].
func kmSums(z, codes *graph.Node, k int) *graph.Node {
	g := z.Graph()
	d := z.Shape().Dimensions[1]
	return graph.ScatterSum(graph.Zeros(g, shapes.Make(z.DType(), k, d)), graph.InsertAxes(codes, -1), z, false, false)
}
