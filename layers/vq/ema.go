package vq

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/hparams"
)

// EMA vector quantizer, "ema_vq": the codebook is not trained by gradients but follows the
// running means of the latents assigned to each code (van den Oord et al. 2017, "Neural Discrete
// Representation Learning", appendix A.1; Razavi et al. 2019, "Generating Diverse High-Fidelity
// Images with VQ-VAE-2"). Each training step, with n_k the number of latents of the batch
// assigned to code k and γ = [ParamEMADecay]:
//
//	N_k ← γ·N_k + (1−γ)·n_k
//	m_k ← γ·m_k + (1−γ)·Σ_{z→k} z
//	c_k = m_k / Ñ_k,   Ñ_k = (N_k + ε) / (Σ_j N_j + K·ε) · Σ_j N_j   (Laplace smoothing, ε = 1e-5)
//
// The loss is only the commitment term β·mean‖z − sg(q)‖² (β = [ParamBeta]).
//
// Dead codes are re-initialised as in Jukebox (Dhariwal et al. 2020) and vector-quantize-pytorch's
// threshold_ema_dead_code: after the update, every code whose N_k is below
// [ParamDeadCodeThreshold] is moved onto a latent of the current batch drawn at random, with
// N_k reset to the threshold and m_k = c_k·N_k, so that it gets a chance to attract latents.
//
// The state (codebook, N, m) lives in non-trainable variables updated in the graph when the
// graph is built for training ([model.Scope.IsTraining]). Before any update or data
// initialisation N is all zeros, and the first training step starts the averages from
// N = 1, m = c. EMA also implements [DataInitializer]: k-means on the first batch
// ([ParamKMeansIters] Lloyd iterations, see [KMeans]) sets c, m = c and N = 1.
type EMA struct {
	// K is the number of codes ([ParamCodebookSize]).
	K int
	// Beta weighs the commitment loss ([ParamBeta]).
	Beta float64
	// Decay is γ, the EMA decay ([ParamEMADecay]).
	Decay float64
	// DeadCodeThreshold is the EMA cluster size below which a code is re-initialised; 0 disables
	// re-initialisation ([ParamDeadCodeThreshold]).
	DeadCodeThreshold float64
	// KMeansIters is the number of Lloyd iterations of InitFromLatents ([ParamKMeansIters]).
	KMeansIters int
}

const (
	// ParamEMADecay is γ, the decay of the exponential moving averages of ema_vq. Default 0.99 (float64).
	ParamEMADecay = "vq_ema_decay"
	// ParamDeadCodeThreshold is the EMA cluster size N_k below which an ema_vq code is dead and
	// is re-initialised to a random latent of the batch; 0 disables it. Default 1.0 (float64).
	ParamDeadCodeThreshold = "vq_dead_code_threshold"
)

// Names of the variables of EMA, in the scope given to Quantize.
const (
	emaCodebookVar    = "codebook"
	emaClusterSizeVar = "ema_cluster_size"
	emaSumVar         = "ema_sum"
	emaInitializedVar = "initialized"
)

// emaLaplaceEpsilon is ε of the Laplace smoothing of the cluster sizes.
const emaLaplaceEpsilon = 1e-5

func init() {
	RegisterParams(hparams.List{
		{Key: ParamEMADecay, Default: 0.99, Doc: "ema_vq: decay γ of the moving averages of cluster sizes and sums"},
		{Key: ParamDeadCodeThreshold, Default: 1.0,
			Doc: "ema_vq: codes whose EMA cluster size falls below this are re-initialised to random batch latents (0 disables)"},
	})
	Register("ema_vq", func(scope *model.Scope) Quantizer { return NewEMA(scope) })
}

// NewEMA returns the EMA quantizer configured by the hyperparameters in scope. It panics,
// naming the parameter, when one is out of range.
func NewEMA(scope *model.Scope) *EMA {
	q := &EMA{
		K:                 model.GetParamOr(scope, ParamCodebookSize, registeredDefault[int](ParamCodebookSize)),
		Beta:              model.GetParamOr(scope, ParamBeta, registeredDefault[float64](ParamBeta)),
		Decay:             model.GetParamOr(scope, ParamEMADecay, registeredDefault[float64](ParamEMADecay)),
		DeadCodeThreshold: model.GetParamOr(scope, ParamDeadCodeThreshold, registeredDefault[float64](ParamDeadCodeThreshold)),
		KMeansIters:       model.GetParamOr(scope, ParamKMeansIters, registeredDefault[int](ParamKMeansIters)),
	}
	switch {
	case q.K < 1:
		exceptions.Panicf("vq: ema_vq needs %s ≥ 1, got %d", ParamCodebookSize, q.K)
	case q.Beta < 0:
		exceptions.Panicf("vq: ema_vq needs %s ≥ 0, got %g", ParamBeta, q.Beta)
	case q.Decay < 0 || q.Decay >= 1:
		exceptions.Panicf("vq: ema_vq needs 0 ≤ %s < 1, got %g", ParamEMADecay, q.Decay)
	case q.DeadCodeThreshold < 0:
		exceptions.Panicf("vq: ema_vq needs %s ≥ 0, got %g", ParamDeadCodeThreshold, q.DeadCodeThreshold)
	case q.KMeansIters < 0:
		exceptions.Panicf("vq: ema_vq needs %s ≥ 0, got %d", ParamKMeansIters, q.KMeansIters)
	}
	return q
}

// registeredDefault returns the default of a registered hyperparameter, so that the default
// has one home: its hparams.List entry.
func registeredDefault[T any](key string) T {
	p, ok := Params().Lookup(key)
	if !ok {
		exceptions.Panicf("vq: hyperparameter %q is not registered", key)
	}
	v, ok := p.Default.(T)
	if !ok {
		exceptions.Panicf("vq: default of %q is a %T, wanted %T", key, p.Default, v)
	}
	return v
}

// Name implements Quantizer.
func (q *EMA) Name() string { return fmt.Sprintf("ema_vq(K=%d)", q.K) }

// CodebookSize implements Quantizer.
func (q *EMA) CodebookSize() int { return q.K }

// Stages implements Quantizer.
func (q *EMA) Stages() int { return 1 }

// emaState holds the variables of EMA.
type emaState struct {
	codebook, clusterSize, sum, initialized *model.Variable
}

// state creates (or reuses) the variables of EMA in scope, for latents of dimension dim.
func (q *EMA) state(scope *model.Scope, dtype dtypes.DType, dim int) emaState {
	zeros := scope.WithInitializer(initializer.Zero)
	return emaState{
		codebook: scope.WithInitializer(initializer.RandomNormalFn(scope, 1.0)).
			VariableWithShape(emaCodebookVar, shapes.Make(dtype, q.K, dim)).SetTrainable(false),
		clusterSize: zeros.VariableWithShape(emaClusterSizeVar, shapes.Make(dtype, q.K)).SetTrainable(false),
		sum:         zeros.VariableWithShape(emaSumVar, shapes.Make(dtype, q.K, dim)).SetTrainable(false),
		initialized: zeros.VariableWithShape(emaInitializedVar, shapes.Make(dtype)).SetTrainable(false),
	}
}

// Quantize implements Quantizer. Stats: "perplexity", "used_codes" and "dead_codes" (the number
// of codes re-initialised by this step; 0 outside training).
func (q *EMA) Quantize(scope *model.Scope, z *Node) Output {
	g := z.Graph()
	if z.Rank() < 1 {
		exceptions.Panicf("vq: ema_vq needs latents of shape [..., D], got a scalar")
	}
	dim := z.Shape().Dimensions[z.Rank()-1]
	st := q.state(scope, z.DType(), dim)
	codebook := st.codebook.NodeValue(g)

	flat := StopGradient(Reshape(z, -1, dim))
	codesFlat := kmNearest(flat, codebook)
	quantized := ReshapeWithShape(Gather(codebook, InsertAxes(codesFlat, -1)), z.Shape())
	codes := Reshape(codesFlat, z.Shape().Dimensions[:z.Rank()-1]...)

	counts := kmCounts(codesFlat, q.K, z.DType())
	perplexity, used := kmUsageStats(counts)
	dead := ScalarZero(g, z.DType())
	if scope.IsTraining(g) {
		dead = q.update(scope, st, flat, codesFlat, counts)
	}
	return Output{
		Quantized:  Add(z, StopGradient(Sub(quantized, z))),
		Codes:      codes,
		StageCodes: []*Node{codes},
		Loss:       MulScalar(ReduceAllMean(Square(Sub(z, StopGradient(quantized)))), q.Beta),
		Stats:      map[string]*Node{"perplexity": perplexity, "used_codes": used, "dead_codes": dead},
	}
}

// update builds the EMA step of the codebook from the batch latents flat [N, D], their codes [N]
// and the per-code counts [K], sets the new variable values and returns the number of dead
// codes re-initialised.
func (q *EMA) update(scope *model.Scope, st emaState, flat, codes, counts *Node) (numDead *Node) {
	g := flat.Graph()
	dtype := flat.DType()
	codebook := st.codebook.NodeValue(g)
	clusterSize := st.clusterSize.NodeValue(g)
	sum := st.sum.NodeValue(g)

	// Averages never started (neither by InitFromLatents nor by an earlier step): start from N = 1, m = c.
	fresh := ConvertDType(Equal(ReduceAllSum(clusterSize), ScalarZero(g, dtype)), dtype)
	clusterSize = Add(Mul(fresh, OnesLike(clusterSize)), Mul(OneMinus(fresh), clusterSize))
	sum = Add(Mul(fresh, codebook), Mul(OneMinus(fresh), sum))

	gamma := q.Decay
	clusterSize = Add(MulScalar(clusterSize, gamma), MulScalar(counts, 1-gamma))
	sum = Add(MulScalar(sum, gamma), MulScalar(kmSums(flat, codes, q.K), 1-gamma))
	total := ReduceAllSum(clusterSize)
	smoothed := Mul(Div(AddScalar(clusterSize, emaLaplaceEpsilon), AddScalar(total, float64(q.K)*emaLaplaceEpsilon)), total)
	codebook = Div(sum, InsertAxes(smoothed, -1))

	numDead = ScalarZero(g, dtype)
	if q.DeadCodeThreshold > 0 {
		n := flat.Shape().Dimensions[0]
		isDead := LessThan(clusterSize, Scalar(g, dtype, q.DeadCodeThreshold)) // [K]
		picks := scope.RandomIntN(g, int32(n), shapes.Make(dtypes.Int32, q.K))
		replacements := Gather(flat, InsertAxes(picks, -1)) // [K, D]
		codebook = Where(isDead, replacements, codebook)
		sum = Where(isDead, MulScalar(replacements, q.DeadCodeThreshold), sum)
		clusterSize = Where(isDead, Scalar(g, dtype, q.DeadCodeThreshold), clusterSize)
		numDead = ReduceAllSum(ConvertDType(isDead, dtype))
	}
	st.codebook.SetNodeValue(codebook)
	st.clusterSize.SetNodeValue(clusterSize)
	st.sum.SetNodeValue(sum)
	return numDead
}

// InitFromLatents implements DataInitializer: it runs k-means ([KMeans], [ParamKMeansIters]
// iterations) on the latents z [..., D] and sets codebook c = centroids, m = c, N = 1 and the
// "initialized" flag to 1.
func (q *EMA) InitFromLatents(scope *model.Scope, z *Node) {
	g := z.Graph()
	dim := z.Shape().Dimensions[z.Rank()-1]
	st := q.state(scope, z.DType(), dim)
	centroids := KMeans(scope, Reshape(z, -1, dim), q.K, q.KMeansIters)
	st.codebook.SetNodeValue(centroids)
	st.sum.SetNodeValue(centroids)
	st.clusterSize.SetNodeValue(Ones(g, shapes.Make(z.DType(), q.K)))
	st.initialized.SetNodeValue(ScalarOne(g, z.DType()))
}
