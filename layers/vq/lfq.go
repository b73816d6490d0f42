package vq

import (
	"fmt"
	"math/bits"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/hparams"
)

// LFQ is lookup-free quantization, "lfq" (Yu et al. 2023, "Language Model Beats Diffusion —
// Tokenizer is Key to Visual Generation" (MAGVIT-v2), arXiv:2310.05737). The codebook is the
// corners of the d-dimensional cube, d = log2(K) bits: each latent dimension is quantized
// independently,
//
//	q_i = sign(z_i) ∈ {−1, 1} (+1 iff z_i > 0),   code = Σ_i [q_i > 0]·2^i,
//
// with a straight-through gradient. When the latent dimension D differs from d, learned linear
// projections D→d before and d→D after the quantization are added (sub-scopes "project_in"
// and "project_out"). The loss is
//
//	β_c·mean‖z − sg(q)‖² + λ·( E_z[H(p(q|z))] − γ·H(E_z[p(q|z)]) ),
//	p(q|z) = softmax_q(−‖z − q‖²/τ),
//
// with β_c = [ParamLFQCommitment], λ = [ParamLFQEntropyWeight], γ = [ParamLFQDiversity] and
// τ = [ParamLFQTemperature] (z here is the projected latent). Since ‖z − q‖² = Σ_i (z_i − q_i)²,
// p(q|z) = ∏_i p(q_i|z_i) with p(q_i = +1|z_i) = σ(4z_i/τ): the per-sample entropy is the sum
// of d binary entropies, O(N·d). The entropy of the batch average p̄(q) = E_z[∏_i p(q_i|z_i)]
// does not factorize; for d ≤ 14 it is computed exactly over all 2^d codes by splitting the
// bits in a low and a high half, p̄(a, b) = (1/N)·Σ_n p_lo(a|z_n)·p_hi(b|z_n), a matrix product
// costing O(N·2^d) time and O(N·2^{d/2} + 2^d) memory. For d > 14 it is replaced by
// Σ_i H(E_z[p(q_i|z_i)]), the entropy of the product of the batch-average bit marginals, which
// is an upper bound of the exact value (equal when the bits are independent over the batch).
//
// Stats: "perplexity" and "used_codes" of the hard codes, "sample_entropy" (E_z H(p(q|z))) and
// "codebook_entropy" (H(p̄)), in nats.
type LFQ struct {
	// K is the number of codes, a power of two ([ParamCodebookSize]).
	K int
	// Bits is d = log2(K).
	Bits int
	// Commitment is β_c ([ParamLFQCommitment]).
	Commitment float64
	// EntropyWeight is λ ([ParamLFQEntropyWeight]).
	EntropyWeight float64
	// Diversity is γ ([ParamLFQDiversity]).
	Diversity float64
	// Temperature is τ ([ParamLFQTemperature]).
	Temperature float64
}

const (
	// ParamLFQCommitment is β_c, the weight of lfq's commitment loss. Default 0.25 (float64).
	ParamLFQCommitment = "vq_lfq_commitment"
	// ParamLFQEntropyWeight is λ, the weight of lfq's entropy penalty. Default 0.1 (float64).
	ParamLFQEntropyWeight = "vq_lfq_entropy_weight"
	// ParamLFQDiversity is γ, the weight of the batch (codebook) entropy inside lfq's entropy
	// penalty. Default 1.0 (float64).
	ParamLFQDiversity = "vq_lfq_diversity"
	// ParamLFQTemperature is τ, the temperature of lfq's soft code assignment
	// p(q|z) = softmax(−‖z − q‖²/τ). Default 0.01 (float64).
	ParamLFQTemperature = "vq_lfq_temperature"
)

// lfqExactEntropyMaxBits is the largest d for which H(E_z p(q|z)) is computed exactly.
const lfqExactEntropyMaxBits = 14

// lfqMaxBits bounds d so that the per-code histogram of the statistics stays small (2^24 codes).
const lfqMaxBits = 24

// lfqLogEpsilon keeps log(p̄) and its gradient finite where p̄ = 0.
const lfqLogEpsilon = 1e-30

func init() {
	RegisterParams(hparams.List{
		{Key: ParamLFQCommitment, Default: 0.25, Doc: "lfq: weight β_c of the commitment loss ‖z − sg(q)‖²"},
		{Key: ParamLFQEntropyWeight, Default: 0.1, Doc: "lfq: weight λ of the entropy penalty E[H(p(q|z))] − γ·H(E[p(q|z)])"},
		{Key: ParamLFQDiversity, Default: 1.0, Doc: "lfq: weight γ of the batch code entropy in the entropy penalty"},
		{Key: ParamLFQTemperature, Default: 0.01, Doc: "lfq: temperature τ of the soft assignment softmax(−‖z − q‖²/τ)"},
	})
	Register("lfq", func(scope *model.Scope) Quantizer { return NewLFQ(scope) })
}

// NewLFQ returns the LFQ quantizer configured by the hyperparameters in scope. It panics,
// naming the parameter, when one is out of range, e.g. when [ParamCodebookSize] is not a power of two.
func NewLFQ(scope *model.Scope) *LFQ {
	q := &LFQ{
		K:             model.GetParamOr(scope, ParamCodebookSize, registeredDefault[int](ParamCodebookSize)),
		Commitment:    model.GetParamOr(scope, ParamLFQCommitment, registeredDefault[float64](ParamLFQCommitment)),
		EntropyWeight: model.GetParamOr(scope, ParamLFQEntropyWeight, registeredDefault[float64](ParamLFQEntropyWeight)),
		Diversity:     model.GetParamOr(scope, ParamLFQDiversity, registeredDefault[float64](ParamLFQDiversity)),
		Temperature:   model.GetParamOr(scope, ParamLFQTemperature, registeredDefault[float64](ParamLFQTemperature)),
	}
	if q.K < 2 || q.K&(q.K-1) != 0 {
		exceptions.Panicf("vq: lfq needs %s to be a power of two ≥ 2 (it sets the number of bits), got %d",
			ParamCodebookSize, q.K)
	}
	q.Bits = bits.TrailingZeros(uint(q.K))
	switch {
	case q.Bits > lfqMaxBits:
		exceptions.Panicf("vq: lfq supports %s up to 2^%d, got 2^%d", ParamCodebookSize, lfqMaxBits, q.Bits)
	case q.Commitment < 0:
		exceptions.Panicf("vq: lfq needs %s ≥ 0, got %g", ParamLFQCommitment, q.Commitment)
	case q.EntropyWeight < 0:
		exceptions.Panicf("vq: lfq needs %s ≥ 0, got %g", ParamLFQEntropyWeight, q.EntropyWeight)
	case q.Diversity < 0:
		exceptions.Panicf("vq: lfq needs %s ≥ 0, got %g", ParamLFQDiversity, q.Diversity)
	case q.Temperature <= 0:
		exceptions.Panicf("vq: lfq needs %s > 0, got %g", ParamLFQTemperature, q.Temperature)
	}
	return q
}

// Name implements Quantizer.
func (q *LFQ) Name() string { return fmt.Sprintf("lfq(K=%d,bits=%d)", q.K, q.Bits) }

// CodebookSize implements Quantizer.
func (q *LFQ) CodebookSize() int { return q.K }

// Stages implements Quantizer.
func (q *LFQ) Stages() int { return 1 }

// Quantize implements Quantizer.
func (q *LFQ) Quantize(scope *model.Scope, z *Node) Output {
	g := z.Graph()
	if z.Rank() < 1 {
		exceptions.Panicf("vq: lfq needs latents of shape [..., D], got a scalar")
	}
	dim := z.Shape().Dimensions[z.Rank()-1]
	project := dim != q.Bits
	h := z
	if project {
		h = layers.Dense(scope.In("project_in"), z, true, q.Bits)
	}
	positive := GreaterThan(h, ZerosLike(h))
	signs := Where(positive, OnesLike(h), Neg(OnesLike(h)))
	quantized := Add(h, StopGradient(Sub(signs, h)))
	if project {
		quantized = layers.Dense(scope.In("project_out"), quantized, true, dim)
	}

	weights := make([]int32, q.Bits)
	for i := range weights {
		weights[i] = 1 << i
	}
	codes := ReduceSum(Mul(ConvertDType(positive, dtypes.Int32), ExpandLeftToRank(Const(g, weights), h.Rank())), -1)
	codesFlat := Reshape(codes, -1)

	// Logit of p(q_i = +1 | z_i): the difference of −(z_i − 1)²/τ and −(z_i + 1)²/τ.
	logits := MulScalar(Reshape(h, -1, q.Bits), 4/q.Temperature)
	sampleEntropy := ReduceAllMean(ReduceSum(lfqBinaryEntropy(logits), -1))
	codebookEntropy := lfqCodebookEntropy(logits, q.Bits <= lfqExactEntropyMaxBits)
	commitment := ReduceAllMean(Square(Sub(h, StopGradient(signs))))
	loss := Add(MulScalar(commitment, q.Commitment),
		MulScalar(Sub(sampleEntropy, MulScalar(codebookEntropy, q.Diversity)), q.EntropyWeight))

	perplexity, used := kmUsageStats(kmCounts(codesFlat, q.K, z.DType()))
	return Output{
		Quantized:  quantized,
		Codes:      codes,
		StageCodes: []*Node{codes},
		Loss:       loss,
		Stats: map[string]*Node{
			"perplexity": perplexity, "used_codes": used,
			"sample_entropy": sampleEntropy, "codebook_entropy": codebookEntropy,
		},
	}
}

// lfqBinaryEntropy returns, element-wise, the entropy in nats of a bit whose probability of
// being 1 is σ(x), computed stably from the logit x:
// H = p·softplus(−x) + (1−p)·softplus(x), since log p = −softplus(−x) and log(1−p) = −softplus(x).
func lfqBinaryEntropy(x *Node) *Node {
	p := Sigmoid(x)
	return Add(Mul(p, Softplus(Neg(x))), Mul(OneMinus(p), Softplus(x)))
}

// lfqCodebookEntropy returns H(E_n p(q|z_n)) in nats for the bit logits x [N, d], where
// p(q|z_n) = ∏_i σ(±x_ni). With exact it sums over all 2^d codes (see [LFQ] for the split into
// two halves of bits); otherwise it returns Σ_i H(E_n σ(x_ni)), an upper bound.
func lfqCodebookEntropy(x *Node, exact bool) *Node {
	d := x.Shape().Dimensions[1]
	if !exact {
		p := ReduceMean(Sigmoid(x), 0)
		q := OneMinus(p)
		return Neg(ReduceAllSum(Add(Mul(p, Log(AddScalar(p, lfqLogEpsilon))), Mul(q, Log(AddScalar(q, lfqLogEpsilon))))))
	}
	logP1 := Neg(Softplus(Neg(x))) // log p(q_i = +1 | z)
	logP0 := Neg(Softplus(x))      // log p(q_i = −1 | z)
	half := d / 2
	var avg *Node
	if half == 0 {
		avg = ReduceMean(lfqCodeProbs(logP1, logP0), 0)
	} else {
		lo := lfqCodeProbs(SliceAxis(logP1, 1, AxisRange(0, half)), SliceAxis(logP0, 1, AxisRange(0, half)))
		hi := lfqCodeProbs(SliceAxis(logP1, 1, AxisRange(half, d)), SliceAxis(logP0, 1, AxisRange(half, d)))
		n := x.Shape().Dimensions[0]
		avg = DivScalar(Einsum("na,nb->ab", lo, hi), float64(n))
	}
	return Neg(ReduceAllSum(Mul(avg, Log(AddScalar(avg, lfqLogEpsilon)))))
}

// lfqCodeProbs returns p(code|z_n) = ∏_i p(bit_i|z_n) for all 2^m codes of m bits, as [N, 2^m],
// from the per-bit log-probabilities of +1 and −1, both [N, m].
func lfqCodeProbs(logP1, logP0 *Node) *Node {
	g := logP1.Graph()
	m := logP1.Shape().Dimensions[1]
	numCodes := 1 << m
	ones := make([][]float64, numCodes)
	zeros := make([][]float64, numCodes)
	for c := range numCodes {
		ones[c] = make([]float64, m)
		zeros[c] = make([]float64, m)
		for i := range m {
			if c>>i&1 == 1 {
				ones[c][i] = 1
			} else {
				zeros[c][i] = 1
			}
		}
	}
	dtype := logP1.DType()
	logP := Add(Einsum("ni,ci->nc", logP1, ConvertDType(Const(g, ones), dtype)),
		Einsum("ni,ci->nc", logP0, ConvertDType(Const(g, zeros), dtype)))
	return Exp(logP)
}
