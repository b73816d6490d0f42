package vq

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Stat names set by the quantizers of this package.
const (
	// StatCodePerplexity is exp(H) of the code histogram of the batch: the effective number of
	// codes in use, between 1 and K. (Named so to tell it from a language model's perplexity.)
	StatCodePerplexity = "code_perplexity"
	// StatUsedCodes is the number of distinct codes that appear in the batch.
	StatUsedCodes = "used_codes"
)

// flattenLatents reshapes z [..., D] to [N, D] and returns the leading dimensions [...].
func flattenLatents(z *graph.Node) (flat *graph.Node, leading []int) {
	if z.Rank() < 1 {
		exceptions.Panicf("vq: latents must have shape [..., D], got the scalar %s", z.Shape())
	}
	dims := z.Shape().Dimensions
	leading = dims[:len(dims)-1]
	return graph.Reshape(z, -1, dims[len(dims)-1]), leading
}

// unflattenCodes reshapes codes [N] back to the leading dimensions of the latents.
func unflattenCodes(codes *graph.Node, leading []int) *graph.Node {
	if len(leading) == 0 {
		return graph.Reshape(codes)
	}
	return graph.Reshape(codes, leading...)
}

// checkCodes panics unless codes has wantStages code tensors, all int32 and of one shape.
func checkCodes(codes Codes, wantStages int) {
	stageCodes := codes.Stages
	if len(stageCodes) != wantStages {
		exceptions.Panicf("vq: Decode needs %d stage code tensors, got %d", wantStages, len(stageCodes))
	}
	for i, c := range stageCodes {
		if c.DType() != dtypes.Int32 {
			exceptions.Panicf("vq: Decode needs int32 codes, stage %d has %s", i, c.Shape())
		}
		if !c.Shape().Equal(stageCodes[0].Shape()) {
			exceptions.Panicf("vq: Decode needs codes of equal shapes, stage %d has %s and stage 0 %s",
				i, c.Shape(), stageCodes[0].Shape())
		}
	}
}

// singleStage returns the Output fields of a single-stage quantizer with code indices idx [...]
// and a fixed rate of log2(k) bits per vector, in the latents' dtype.
func singleStage(idx *graph.Node, k int, dtype dtypes.DType) (codes Codes, index, bits *graph.Node) {
	codes = Codes{Stages: []*graph.Node{idx}, Side: map[string]*graph.Node{}}
	return codes, idx, graph.Scalar(idx.Graph(), dtype, math.Log2(float64(k)))
}

// nearestCodes returns, for each row of z [N, D], the int32 index of the nearest row of
// codebook [K, D] in squared Euclidean distance. ‖z − c‖² = ‖z‖² − 2 z·c + ‖c‖², and ‖z‖² is the
// same for every code of a row, so the nearest code maximizes 2 z·c − ‖c‖², which one matrix
// product computes with no pass over the [N, K] scores but the argmax:
//
//	argmin_k ‖z − c_k‖² = argmax_k [z, 1]·[2c_k, −‖c_k‖²]
//
// (×2 is exact in floating point; ties, exact or within rounding, go to the lowest index). The
// scores carry no gradient (argmax has none).
func nearestCodes(z, codebook *graph.Node) *graph.Node {
	z = graph.StopGradient(z)
	codebook = graph.StopGradient(codebook)
	n := z.Shape().Dimensions[0]
	cNorm := graph.ReduceAndKeep(graph.Square(codebook), graph.ReduceSum, -1) // [K, 1]
	codes := graph.Concatenate([]*graph.Node{graph.MulScalar(codebook, 2), graph.Neg(cNorm)}, -1)
	ones := graph.BroadcastToDims(graph.ScalarOne(z.Graph(), z.DType()), n, 1)
	rows := graph.Concatenate([]*graph.Node{z, ones}, -1) // [N, D+1]
	scores := graph.Einsum("nd,kd->nk", rows, codes)      // [N, K]
	return graph.ArgMax(scores, -1, dtypes.Int32)         // [N]
}

// codebookLosses is the VQ-VAE auxiliary loss of van den Oord et al. (2017), eq. 3, averaged over
// the elements of z [N, D]:
//
//	mean‖sg(z) − q‖²  (codebook term: moves the selected codes towards the latents)
//	+ β·mean‖z − sg(q)‖²  (commitment term: keeps the encoder close to its codes).
func codebookLosses(z, q *graph.Node, beta float64) *graph.Node {
	codebookTerm := graph.ReduceAllMean(graph.Square(graph.Sub(graph.StopGradient(z), q)))
	commitTerm := graph.ReduceAllMean(graph.Square(graph.Sub(z, graph.StopGradient(q))))
	return graph.Add(codebookTerm, graph.MulScalar(commitTerm, beta))
}

// straightThrough returns z + sg(q − z): the value of q with the gradient of the identity on z.
func straightThrough(z, q *graph.Node) *graph.Node {
	return graph.Add(z, graph.StopGradient(graph.Sub(q, z)))
}

// codeUsageStats returns StatCodePerplexity and StatUsedCodes of codes (int32, any shape) drawn
// from a codebook of size k.
func codeUsageStats(codes *graph.Node, k int) map[string]*graph.Node {
	flat := graph.Reshape(graph.StopGradient(codes), -1)
	counts := codeCounts(flat, k, dtypes.Float32)
	p := graph.DivScalar(counts, float64(flat.Shape().Dimensions[0]))
	// p·log p is 0 where p is 0: the Max only keeps Log finite there.
	entropy := graph.Neg(graph.ReduceAllSum(graph.Mul(p, graph.Log(graph.MaxScalar(p, 1e-30)))))
	used := graph.ReduceAllSum(graph.ConvertDType(graph.GreaterThan(counts, graph.ZerosLike(counts)), dtypes.Float32))
	return map[string]*graph.Node{
		StatCodePerplexity: graph.Exp(entropy),
		StatUsedCodes:      used,
	}
}

// uniformInitializer draws variables from uniform(−bound, bound) with the store's random state.
func uniformInitializer(scope *model.Scope, bound float64) model.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		u := scope.RandomUniform(g, shape) // [0, 1)
		return graph.AddScalar(graph.MulScalar(u, 2*bound), -bound)
	}
}

// normalInitializer draws variables from N(0, std²) with the store's random state.
func normalInitializer(scope *model.Scope, std float64) model.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		return graph.MulScalar(scope.RandomNormal(g, shape), std)
	}
}

// linearInitializer is the default initialisation of a linear layer in PyTorch (Kaiming uniform
// with a=√5), uniform(−1/√fanIn, 1/√fanIn) for weights and biases alike. It is what the reference
// implementations of SimVQ and FSQ's projections start from.
func linearInitializer(scope *model.Scope, fanIn int) model.VariableInitializer {
	return uniformInitializer(scope, 1/math.Sqrt(float64(fanIn)))
}

// variable returns the variable name of scope with the given shape, created with initializer
// if it does not exist yet.
func variable(scope *model.Scope, name string, shape shapes.Shape, initializer model.VariableInitializer) *model.Variable {
	return scope.WithInitializer(initializer).VariableWithShape(name, shape)
}

// existingVariable returns the variable name of scope, which Quantize must have created; what
// names the quantizer for the error message.
func existingVariable(scope *model.Scope, what, name string) *model.Variable {
	v := scope.GetVariable(name)
	if v == nil {
		exceptions.Panicf("vq: %s found no variable %q in scope %q: build Quantize with this scope first",
			what, name, scope.Scope())
	}
	return v
}

// indexFits reports whether k^stages codes fit in an int32 index.
func indexFits(k, stages int) bool {
	total := int64(1)
	for range stages {
		total *= int64(k)
		if total > 1<<31 {
			return false
		}
	}
	return true
}

// combinedIndex returns the stage codes (int32, all of one shape, each in [0, k)) combined in
// mixed radix, stage 0 the lowest digit, when k^S fits in an int32 (see indexFits), and the
// stage-0 codes otherwise.
func combinedIndex(stageCodes []*graph.Node, k int) *graph.Node {
	index := stageCodes[0]
	if !indexFits(k, len(stageCodes)) {
		return index
	}
	radix := int32(1)
	for _, c := range stageCodes[1:] {
		radix *= int32(k)
		index = graph.Add(index, graph.MulScalar(c, radix))
	}
	return index
}

// rms returns the root mean square of the elements of x, with no gradient.
func rms(x *graph.Node) *graph.Node {
	return graph.Sqrt(graph.ReduceAllMean(graph.Square(graph.StopGradient(x))))
}

// softplus is log(1 + eˣ) element-wise, computed stably as max(x, 0) + log(1 + e^{−|x|}) from
// operations every backend has (GoMLX's Softplus needs IsFinite, which ONNX Runtime lacks).
func softplus(x *graph.Node) *graph.Node {
	return graph.Add(graph.Max(x, graph.ZerosLike(x)), graph.Log(graph.OnePlus(graph.Exp(graph.Neg(graph.Abs(x))))))
}
