package vq

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/quant/scheme"
)

// LFQ is lookup-free quantization, registered as "lfq" (Yu et al. 2023, "Language Model Beats
// Diffusion — Tokenizer is Key to Visual Generation" (MAGVIT-v2), arXiv:2310.05737). The
// codebook is the corners of the d-dimensional cube, d = log2(K) bits: each latent dimension
// is quantized on its own,
//
//	q_i = sign(z_i) ∈ {−1, 1} (+1 iff z_i > 0),   code = Σ_i [q_i > 0]·2^i,
//
// with a straight-through gradient. When the latent dimension D differs from d, learned linear
// projections D→d before and d→D after the quantization are added (sub-scopes "project_in"
// and "project_out"). The loss is
//
//	β_c·mean‖z − sg(q)‖² + λ·( E_z[H(p(q|z))] − γ·H(E_z[p(q|z)]) ),   p(q|z) = softmax_q(−‖z − q‖²/τ),
//
// with β_c = [ParamLFQCommitment], λ = [ParamLFQEntropyWeight], γ = [ParamLFQDiversity] and
// τ = [ParamLFQTemperature] (z here is the projected latent). Since ‖z − q‖² = Σ_i (z_i − q_i)²,
// p(q|z) = ∏_i p(q_i|z_i) with p(q_i = +1|z_i) = σ(4z_i/τ): the per-sample entropy is a sum of d
// binary entropies, O(N·d). The entropy of the batch average p̄(q) = E_z[∏_i p(q_i|z_i)] does
// not factorize; for d ≤ 14 it is computed exactly over all 2^d codes by splitting the bits in
// a low and a high half, p̄(a, b) = (1/N)·Σ_n p_lo(a|z_n)·p_hi(b|z_n), one matrix product of
// O(N·2^d) time and O(N·2^{d/2} + 2^d) memory. For d > 14 it is replaced by Σ_i H(E_z[p(q_i|z_i)]),
// the entropy of the product of the batch-average bit marginals: an upper bound of the exact
// value, equal to it when the bits are independent over the batch.
//
// Stats: StatCodePerplexity and StatUsedCodes of the hard codes, StatSampleEntropy
// (E_z H(p(q|z))) and StatCodebookEntropy (H(p̄)), in nats. Rate: Output.Bits = d, no side
// information.
//
// In stage i of a residual stack ([Residual]) the stage works at the scale s = 2^{−i}: the
// (projected) latent x is quantized as x/s — its signs, the loss and the statistics are those
// of x/s — and the output is s·sign(x). LFQ is FSQ with two levels per dimension, and 2^{−i} is
// FSQ's L^{−i}: each stage halves the interval the previous one left, as in successive
// approximation.
type LFQ struct {
	opts LFQOptions
	// bits is d = log2(K).
	bits int
	// scale is s, 1 outside residual stacks.
	scale float64
}

// LFQOptions configures an [LFQ]; each field mirrors the hyperparameter of its tag.
type LFQOptions struct {
	// CodebookSize is K, a power of two between 2 and 2^24.
	CodebookSize int `vq:"vq_codebook_size"`
	// Commitment is β_c ≥ 0.
	Commitment float64 `vq:"vq_lfq_commitment"`
	// EntropyWeight is λ ≥ 0.
	EntropyWeight float64 `vq:"vq_lfq_entropy_weight"`
	// Diversity is γ ≥ 0.
	Diversity float64 `vq:"vq_lfq_diversity"`
	// Temperature is τ > 0.
	Temperature float64 `vq:"vq_lfq_temperature"`
}

// New implements Options.
func (o LFQOptions) New() (Quantizer, error) { return asQuantizer(NewLFQ(o)) }

const (
	// ParamLFQCommitment is β_c ≥ 0, the weight of lfq's commitment loss. Default 0.25 (float64).
	ParamLFQCommitment = "vq_lfq_commitment"
	// ParamLFQEntropyWeight is λ ≥ 0, the weight of lfq's entropy penalty. Default 0.1 (float64).
	ParamLFQEntropyWeight = "vq_lfq_entropy_weight"
	// ParamLFQDiversity is γ ≥ 0, the weight of the batch (codebook) entropy inside lfq's
	// entropy penalty. Default 1.0 (float64).
	ParamLFQDiversity = "vq_lfq_diversity"
	// ParamLFQTemperature is τ > 0, the temperature of lfq's soft code assignment
	// p(q|z) = softmax(−‖z − q‖²/τ). Default 0.01 (float64).
	ParamLFQTemperature = "vq_lfq_temperature"
)

// Stat names set by LFQ.
const (
	// StatSampleEntropy is E_z H(p(q|z)), the mean entropy of the soft assignment of a latent, in nats.
	StatSampleEntropy = "sample_entropy"
	// StatCodebookEntropy is H(E_z p(q|z)), the entropy of the batch-average soft assignment, in nats.
	StatCodebookEntropy = "codebook_entropy"
)

// lfqExactEntropyMaxBits is the largest d for which H(E_z p(q|z)) is computed exactly.
const lfqExactEntropyMaxBits = 14

// lfqMaxBits bounds d so that the per-code histogram of the statistics stays small (2^24 codes).
const lfqMaxBits = 24

// lfqLogEpsilon keeps log(p̄) and its gradient finite where p̄ = 0.
const lfqLogEpsilon = 1e-30

func init() {
	RegisterParams(hparams.List{
		{Key: ParamLFQCommitment, Default: 0.25, Doc: "lfq: weight β_c of the commitment loss ‖z − sg(q)‖²",
			Domain: hparams.AtLeast(0)},
		{Key: ParamLFQEntropyWeight, Default: 0.1, Doc: "lfq: weight λ of the entropy penalty E[H(p(q|z))] − γ·H(E[p(q|z)])",
			Domain: hparams.AtLeast(0)},
		{Key: ParamLFQDiversity, Default: 1.0, Doc: "lfq: weight γ of the batch code entropy in the entropy penalty",
			Domain: hparams.AtLeast(0)},
		{Key: ParamLFQTemperature, Default: 0.01, Doc: "lfq: temperature τ of the soft assignment softmax(−‖z − q‖²/τ)",
			Domain: hparams.Positive()},
	})
	Register("lfq", func() Options { return &LFQOptions{} })
}

// NewLFQ returns the LFQ that o describes, or a [*KeyError] naming the hyperparameter of a
// value out of range, e.g. [ParamCodebookSize] when it is not a power of two.
func NewLFQ(o LFQOptions) (*LFQ, error) {
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	k := o.CodebookSize
	if k < 2 || k&(k-1) != 0 {
		return nil, keyErrorf(ParamCodebookSize, "lfq needs a power of two ≥ 2 (K = 2^bits), got %d", k)
	}
	b := bits.TrailingZeros(uint(k))
	if b > lfqMaxBits {
		return nil, keyErrorf(ParamCodebookSize, "lfq supports at most 2^%d codes, got 2^%d", lfqMaxBits, b)
	}
	return &LFQ{opts: o, bits: b, scale: 1}, nil
}

// atResidualStage implements residualStager: the LFQ at the scale 2^{−i}.
func (q *LFQ) atResidualStage(i int) Quantizer {
	scaled := *q
	scaled.scale = math.Pow(2, -float64(i))
	return &scaled
}

// Name implements Quantizer.
func (q *LFQ) Name() string { return fmt.Sprintf("lfq(K=%d,bits=%d)", q.opts.CodebookSize, q.bits) }

// Scheme implements Quantizer: the signs of d = log₂ K dimensions, d bits.
func (q *LFQ) Scheme() scheme.Scheme {
	return scheme.Scheme{Kind: scheme.Latents, Method: "lfq", Bits: float64(q.bits), Type: scheme.Binary,
		Codebook: q.opts.CodebookSize, Axis: scheme.PerVector}
}

// CodebookSize implements Quantizer.
func (q *LFQ) CodebookSize() int { return q.opts.CodebookSize }

// Stages implements Quantizer.
func (q *LFQ) Stages() int { return 1 }

// Quantize implements Quantizer.
func (q *LFQ) Quantize(scope *model.Scope, z *graph.Node) Output {
	flat, leading := flattenLatents(z)
	dim := flat.Shape().Dimensions[1]
	project := dim != q.bits
	h := flat
	if project {
		h = layers.Dense(scope.In("project_in"), flat, true, q.bits)
	}
	if q.scale != 1 {
		h = graph.DivScalar(h, q.scale)
	}
	positive := graph.GreaterThan(h, graph.ZerosLike(h))
	signs := graph.Where(positive, graph.OnesLike(h), graph.Neg(graph.OnesLike(h)))
	quantized := straightThrough(h, signs)
	if q.scale != 1 {
		quantized = graph.MulScalar(quantized, q.scale)
	}
	if project {
		quantized = layers.Dense(scope.In("project_out"), quantized, true, dim)
	}
	idx := graph.ReduceSum(graph.Mul(graph.ConvertDType(positive, dtypes.Int32), bitWeights(z.Graph(), q.bits)), -1)

	// Logit of p(q_i = +1 | z_i): the difference of −(z_i − 1)²/τ and −(z_i + 1)²/τ.
	logits := graph.MulScalar(h, 4/q.opts.Temperature)
	sampleEntropy := graph.ReduceAllMean(graph.ReduceSum(lfqBinaryEntropy(logits), -1))
	codebookEntropy := lfqCodebookEntropy(logits, q.bits <= lfqExactEntropyMaxBits)
	commitment := graph.ReduceAllMean(graph.Square(graph.Sub(h, graph.StopGradient(signs))))
	penalty := graph.Sub(sampleEntropy, graph.MulScalar(codebookEntropy, q.opts.Diversity))
	loss := graph.Add(graph.MulScalar(commitment, q.opts.Commitment), graph.MulScalar(penalty, q.opts.EntropyWeight))

	stats := codeUsageStats(idx, q.opts.CodebookSize)
	stats[StatSampleEntropy] = sampleEntropy
	stats[StatCodebookEntropy] = codebookEntropy
	codes, index, bits := singleStage(unflattenCodes(idx, leading), q.opts.CodebookSize, z.DType())
	return Output{
		Quantized: graph.ReshapeWithShape(quantized, z.Shape()),
		Codes:     codes,
		Index:     index,
		Bits:      bits,
		Loss:      loss,
		Stats:     stats,
	}
}

// bitWeights returns the int32 constant [1, 2, 4, …, 2^{d−1}] shaped [1, d], for d = bits.
func bitWeights(g *graph.Graph, bits int) *graph.Node {
	w := make([]int32, bits)
	for i := range w {
		w[i] = 1 << i
	}
	return graph.InsertAxes(graph.Const(g, w), 0)
}

// Decode implements Decoder: the signs ±1 (±s in a residual stack) of the code's bits,
// through the output projection that Quantize created when D ≠ d.
func (q *LFQ) Decode(scope *model.Scope, codes Codes) *graph.Node {
	checkCodes(codes, 1)
	stage := codes.Stages[0]
	g := stage.Graph()
	weights := graph.ExpandLeftToRank(bitWeights(g, q.bits), stage.Rank()+1) // [1, …, 1, d]
	bitSet := graph.NotEqual(graph.BitwiseAnd(graph.InsertAxes(stage, -1), weights), graph.ZerosLike(weights))
	signs := graph.Where(bitSet, graph.Const(g, float32(q.scale)), graph.Const(g, float32(-q.scale)))
	out := scope.At("project_out")
	if w := out.At("dense").GetVariable("weights"); w != nil {
		signs = graph.ConvertDType(signs, w.DType())
		return layers.Dense(out, signs, true, w.Shape().Dimensions[1])
	}
	return signs
}

// lfqBinaryEntropy returns, element-wise, the entropy in nats of a bit whose probability of
// being 1 is σ(x), computed stably from the logit x:
// H = p·softplus(−x) + (1−p)·softplus(x), since log p = −softplus(−x) and log(1−p) = −softplus(x).
func lfqBinaryEntropy(x *graph.Node) *graph.Node {
	p := graph.Sigmoid(x)
	return graph.Add(graph.Mul(p, softplus(graph.Neg(x))), graph.Mul(graph.OneMinus(p), softplus(x)))
}

// lfqCodebookEntropy returns H(E_n p(q|z_n)) in nats for the bit logits x [N, d], where
// p(q|z_n) = ∏_i σ(±x_ni). With exact it sums over all 2^d codes (see [LFQ] for the split of
// the bits into two halves); otherwise it returns Σ_i H(E_n σ(x_ni)), an upper bound.
func lfqCodebookEntropy(x *graph.Node, exact bool) *graph.Node {
	n, d := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	if !exact {
		p := graph.ReduceMean(graph.Sigmoid(x), 0)
		return graph.ReduceAllSum(graph.Add(lfqNegPLogP(p), lfqNegPLogP(graph.OneMinus(p))))
	}
	logP1 := graph.Neg(softplus(graph.Neg(x))) // log p(q_i = +1 | z)
	logP0 := graph.Neg(softplus(x))            // log p(q_i = −1 | z)
	half := d / 2
	var avg *graph.Node
	if half == 0 {
		avg = graph.ReduceMean(lfqCodeProbs(logP1, logP0), 0)
	} else {
		lo, hi := graph.AxisRange(0, half), graph.AxisRange(half, d)
		pLo := lfqCodeProbs(graph.SliceAxis(logP1, 1, lo), graph.SliceAxis(logP0, 1, lo))
		pHi := lfqCodeProbs(graph.SliceAxis(logP1, 1, hi), graph.SliceAxis(logP0, 1, hi))
		avg = graph.DivScalar(graph.Einsum("na,nb->ab", pLo, pHi), float64(n))
	}
	return graph.ReduceAllSum(lfqNegPLogP(avg))
}

// lfqNegPLogP returns −p·log(p + ε) element-wise: 0 at p = 0, with a finite gradient there.
func lfqNegPLogP(p *graph.Node) *graph.Node {
	return graph.Neg(graph.Mul(p, graph.Log(graph.AddScalar(p, lfqLogEpsilon))))
}

// lfqCodeProbs returns p(code|z_n) = ∏_i p(bit_i|z_n) for all 2^m codes of m bits (bit i of
// the code index is bit i of the slice), as [N, 2^m], from the per-bit log-probabilities of +1
// and −1, both [N, m].
func lfqCodeProbs(logP1, logP0 *graph.Node) *graph.Node {
	g := logP1.Graph()
	m := logP1.Shape().Dimensions[1]
	numCodes := 1 << m
	ones := make([][]float32, numCodes)
	zeros := make([][]float32, numCodes)
	for c := range numCodes {
		ones[c] = make([]float32, m)
		zeros[c] = make([]float32, m)
		for i := range m {
			if c>>i&1 == 1 {
				ones[c][i] = 1
			} else {
				zeros[c][i] = 1
			}
		}
	}
	dtype := logP1.DType()
	logP := graph.Add(graph.Einsum("ni,ci->nc", logP1, graph.ConvertDType(graph.Const(g, ones), dtype)),
		graph.Einsum("ni,ci->nc", logP0, graph.ConvertDType(graph.Const(g, zeros), dtype)))
	return graph.Exp(logP)
}
