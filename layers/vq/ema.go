package vq

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/quant/scheme"
)

// EMA is the exponential-moving-average vector quantizer, registered as "ema_vq": the codebook
// is not trained by gradients but follows the running means of the latents assigned to each
// code (van den Oord et al. 2017, "Neural Discrete Representation Learning", appendix A.1;
// Razavi et al. 2019, "Generating Diverse High-Fidelity Images with VQ-VAE-2"). Codes are the
// nearest codebook rows, k = argmin_j ‖z − c_j‖², and each training step, with n_k the number of
// latents of the batch assigned to code k and γ = [ParamEMADecay]:
//
//	N_k ← γ·N_k + (1−γ)·n_k
//	m_k ← γ·m_k + (1−γ)·Σ_{z→k} z
//	c_k = m_k / Ñ_k,   Ñ_k = (N_k + ε) / (Σ_j N_j + K·ε) · Σ_j N_j   (Laplace smoothing, ε = 1e-5)
//
// The loss is only the commitment term β·mean‖z − sg(q)‖² (β = [ParamBeta]); the output is
// z + sg(q − z).
//
// Dead codes are re-initialised as in Jukebox (Dhariwal et al. 2020) and vector-quantize-pytorch's
// threshold_ema_dead_code, with the threshold scaled to the batch: after the update, every code
// whose N_k is below
//
//	θ = τ·min(1, n/(2K))   (τ = [ParamDeadCodeThreshold], n the number of latents in the batch)
//
// is moved onto a latent of the current batch drawn at random, with N_k reset to θ and
// m_k = c_k·θ, so that it gets a chance to attract latents. N_k estimates how many latents a
// code takes per step, and a code used at its fair share takes n/K. With at least 2K latents
// per batch θ = τ, the absolute threshold of the references; with fewer, an absolute τ would
// call codes in steady use dead (K=64, 16 latents per batch, each code used once every 4
// batches: N_k ≈ 0.25 < 1 for all of them), so θ is scaled down to half the fair share (for
// τ = 1), which such codes never fall below while a code no latent selects still decays to it.
//
// The state lives in non-trainable variables of the quantizer's scope, "codebook" [K, D],
// "ema_cluster_size" N [K] and "ema_sum" m [K, D], updated in the graph only when it is built
// for training ([model.Scope.IsTraining]). The codebook starts N(0, 1) and N at zero; the first
// training step starts the averages from N = 1, m = c. EMA implements [DataInitializer]: k-means
// on the first batch ([ParamKMeansIters] Lloyd iterations, see [KMeans]) sets c, m = c and N = 1.
type EMA struct {
	opts EMAOptions
}

// EMAOptions configures an [EMA]; each field mirrors the hyperparameter of its tag.
type EMAOptions struct {
	// CodebookSize is K ≥ 2.
	CodebookSize int `vq:"vq_codebook_size"`
	// Beta ≥ 0 weighs the commitment loss.
	Beta float64 `vq:"vq_beta"`
	// Decay is γ ∈ [0, 1), the EMA decay.
	Decay float64 `vq:"vq_ema_decay"`
	// DeadCodeThreshold is τ ≥ 0, the scale of the EMA cluster size below which a code is
	// re-initialised; 0 disables re-initialisation.
	DeadCodeThreshold float64 `vq:"vq_dead_code_threshold"`
	// KMeansIters ≥ 0 is the number of Lloyd iterations of InitFromLatents.
	KMeansIters int `vq:"vq_kmeans_iters"`
}

// New implements Options.
func (o EMAOptions) New() (Quantizer, error) { return asQuantizer(NewEMA(o)) }

const (
	// ParamEMADecay is γ ∈ [0, 1), the decay of the exponential moving averages of ema_vq.
	// Default 0.99 (float64).
	ParamEMADecay = "vq_ema_decay"
	// ParamDeadCodeThreshold is τ ≥ 0: an ema_vq code whose EMA cluster size N_k falls below
	// τ·min(1, n/(2K)) (n latents per batch) is dead and is re-initialised to a random latent
	// of the batch; 0 disables it. Default 1.0 (float64).
	ParamDeadCodeThreshold = "vq_dead_code_threshold"
)

// StatDeadCodes is the number of codes that ema_vq re-initialised in this step (0 outside training).
const StatDeadCodes = "dead_codes"

// Names of the variables of EMA, in the scope given to Quantize.
const (
	emaCodebookVar    = "codebook"
	emaClusterSizeVar = "ema_cluster_size"
	emaSumVar         = "ema_sum"
)

// emaLaplaceEpsilon is ε of the Laplace smoothing of the cluster sizes.
const emaLaplaceEpsilon = 1e-5

func init() {
	RegisterParams(hparams.List{
		{Key: ParamEMADecay, Default: 0.99, Doc: "ema_vq: decay γ of the moving averages of cluster sizes and sums, in [0, 1)",
			Domain: hparams.Probability()},
		{Key: ParamDeadCodeThreshold, Default: 1.0,
			Doc:    "ema_vq: codes whose EMA cluster size falls below this times min(1, latents per batch/(2K)) are re-initialised to random batch latents (0 disables)",
			Domain: hparams.AtLeast(0)},
	})
	Register("ema_vq", func() Options { return &EMAOptions{} })
}

// NewEMA returns the EMA quantizer that o describes, or a [*KeyError] naming the
// hyperparameter of a value out of range.
func NewEMA(o EMAOptions) (*EMA, error) {
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	if o.Decay >= 1 {
		return nil, keyErrorf(ParamEMADecay, "must be < 1 (γ = 1 never updates the codebook), got %g", o.Decay)
	}
	return &EMA{opts: o}, nil
}

// Name implements Quantizer.
func (q *EMA) Name() string { return fmt.Sprintf("ema_vq(K=%d)", q.opts.CodebookSize) }

// Scheme implements Quantizer: a learned codebook of K vectors, log₂ K bits.
func (q *EMA) Scheme() scheme.Scheme { return codebookScheme("ema_vq", q.opts.CodebookSize) }

// CodebookSize implements Quantizer.
func (q *EMA) CodebookSize() int { return q.opts.CodebookSize }

// Stages implements Quantizer.
func (q *EMA) Stages() int { return 1 }

// emaState holds the variables of EMA.
type emaState struct {
	codebook, clusterSize, sum *model.Variable
}

// state creates (or reuses) the variables of EMA in scope, for latents of dimension dim.
func (q *EMA) state(scope *model.Scope, dtype dtypes.DType, dim int) emaState {
	nonTrainable := func(name string, shape shapes.Shape, init model.VariableInitializer) *model.Variable {
		return variable(scope, name, shape, init).SetTrainable(false)
	}
	return emaState{
		codebook:    nonTrainable(emaCodebookVar, shapes.Make(dtype, q.opts.CodebookSize, dim), normalInitializer(scope, 1)),
		clusterSize: nonTrainable(emaClusterSizeVar, shapes.Make(dtype, q.opts.CodebookSize), graph.Zeros),
		sum:         nonTrainable(emaSumVar, shapes.Make(dtype, q.opts.CodebookSize, dim), graph.Zeros),
	}
}

// Quantize implements Quantizer. Stats: StatCodePerplexity, StatUsedCodes and StatDeadCodes.
func (q *EMA) Quantize(scope *model.Scope, z *graph.Node) Output {
	g := z.Graph()
	flat, leading := flattenLatents(z)
	st := q.state(scope, z.DType(), flat.Shape().Dimensions[1])
	codebook := st.codebook.NodeValue(g)

	flat = graph.StopGradient(flat)
	idx := nearestCodes(flat, codebook)
	quantized := graph.ReshapeWithShape(graph.Gather(codebook, graph.InsertAxes(idx, -1)), z.Shape())
	codes, index, bits := singleStage(unflattenCodes(idx, leading), q.opts.CodebookSize, z.DType())

	stats := codeUsageStats(idx, q.opts.CodebookSize)
	stats[StatDeadCodes] = graph.ScalarZero(g, z.DType())
	if scope.IsTraining(g) {
		stats[StatDeadCodes] = q.update(scope, st, flat, idx)
	}
	return Output{
		Quantized: straightThrough(z, quantized),
		Codes:     codes,
		Index:     index,
		Bits:      bits,
		Loss:      graph.MulScalar(graph.ReduceAllMean(graph.Square(graph.Sub(z, graph.StopGradient(quantized)))), q.opts.Beta),
		Stats:     stats,
	}
}

// update builds the EMA step from the batch latents flat [N, D] and their codes [N], sets the
// new variable values and returns the number of dead codes re-initialised.
func (q *EMA) update(scope *model.Scope, st emaState, flat, codes *graph.Node) (numDead *graph.Node) {
	g := flat.Graph()
	dtype := flat.DType()
	codebook := st.codebook.NodeValue(g)
	clusterSize := st.clusterSize.NodeValue(g)
	sum := st.sum.NodeValue(g)

	// Averages never started (neither by InitFromLatents nor by an earlier step; afterwards
	// Σ N > 0 always): start them from N = 1, m = c.
	fresh := graph.ConvertDType(graph.Equal(graph.ReduceAllSum(clusterSize), graph.ScalarZero(g, dtype)), dtype)
	clusterSize = graph.Add(graph.Mul(fresh, graph.OnesLike(clusterSize)), graph.Mul(graph.OneMinus(fresh), clusterSize))
	sum = graph.Add(graph.Mul(fresh, codebook), graph.Mul(graph.OneMinus(fresh), sum))

	k := q.opts.CodebookSize
	gamma := q.opts.Decay
	clusterSize = graph.Add(graph.MulScalar(clusterSize, gamma), graph.MulScalar(codeCounts(codes, q.opts.CodebookSize, dtype), 1-gamma))
	sum = graph.Add(graph.MulScalar(sum, gamma), graph.MulScalar(kmSums(flat, codes, q.opts.CodebookSize), 1-gamma))
	total := graph.ReduceAllSum(clusterSize)
	smoothed := graph.Mul(graph.Div(graph.AddScalar(clusterSize, emaLaplaceEpsilon),
		graph.AddScalar(total, float64(q.opts.CodebookSize)*emaLaplaceEpsilon)), total)
	codebook = graph.Div(sum, graph.InsertAxes(smoothed, -1))

	numDead = graph.ScalarZero(g, dtype)
	if q.opts.DeadCodeThreshold > 0 {
		n := flat.Shape().Dimensions[0]
		threshold := q.opts.DeadCodeThreshold * math.Min(1, float64(n)/float64(2*k))
		isDead := graph.LessThan(clusterSize, graph.Scalar(g, dtype, threshold)) // [K]
		picks := scope.RandomIntN(g, int32(n), shapes.Make(dtypes.Int32, k))
		replacements := graph.Gather(flat, graph.InsertAxes(picks, -1)) // [K, D]
		codebook = graph.Where(isDead, replacements, codebook)
		sum = graph.Where(isDead, graph.MulScalar(replacements, threshold), sum)
		clusterSize = graph.Where(isDead, graph.Scalar(g, dtype, threshold), clusterSize)
		numDead = graph.ReduceAllSum(graph.ConvertDType(isDead, dtype))
	}
	st.codebook.SetNodeValue(codebook)
	st.clusterSize.SetNodeValue(clusterSize)
	st.sum.SetNodeValue(sum)
	return numDead
}

// InitFromLatents implements DataInitializer: it runs k-means ([KMeans], [ParamKMeansIters]
// iterations) on the latents z [..., D] and sets the codebook c to the centroids, m = c and
// N = 1 (so the first training step does not restart the averages).
func (q *EMA) InitFromLatents(scope *model.Scope, z *graph.Node) {
	g := z.Graph()
	flat, _ := flattenLatents(z)
	st := q.state(scope, z.DType(), flat.Shape().Dimensions[1])
	centroids := KMeans(scope, flat, q.opts.CodebookSize, q.opts.KMeansIters)
	st.codebook.SetNodeValue(centroids)
	st.sum.SetNodeValue(centroids)
	st.clusterSize.SetNodeValue(graph.Ones(g, shapes.Make(z.DType(), q.opts.CodebookSize)))
}

// Decode implements Decoder: the rows of the codebook.
func (q *EMA) Decode(scope *model.Scope, codes Codes) *graph.Node {
	checkCodes(codes, 1)
	codebook := existingVariable(scope, q.Name(), emaCodebookVar).NodeValue(codes.Stages[0].Graph())
	return graph.Gather(codebook, graph.InsertAxes(codes.Stages[0], -1))
}
