package vq

import (
	"fmt"
	"math/bits"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/quant/scheme"
)

func init() {
	Register("binary", func() Options { return &BinaryOptions{} })
}

// BinaryOptions configures a [Binary]; each field mirrors the hyperparameter of its tag.
type BinaryOptions struct {
	// CodebookSize is K = 2^d, a power of two between 2 and 2^24: d is the number of bits.
	CodebookSize int `vq:"vq_codebook_size"`
}

// New implements Options.
func (o BinaryOptions) New() (Quantizer, error) { return asQuantizer(NewBinary(o)) }

// Binary is the binary latent of Wang, Wang, Liu and Qiu (2023), "Binary Latent Diffusion"
// (arXiv:2304.04820, §3.1), registered as "binary". Each of the d = log₂ K latent dimensions
// (K = [ParamCodebookSize], a power of two) is a Bernoulli variable whose probability is the
// sigmoid of the (projected) latent h:
//
//	ψ = σ(h),   training: b ~ Bernoulli(ψ);   evaluation: b = [ψ > ½] = [h > 0],
//	output ψ + sg(b − ψ) ∈ {0, 1}^d   (straight-through: the gradient of ψ, σ'(h), reaches h),
//	code = Σ_i b_i·2^i,
//
// as the paper's autoencoder samples its binary latents in training and passes the gradient
// straight through the sampling. The samples are drawn with the store's random state (the
// run's seed), so that a run is deterministic and resumes exactly. There is no auxiliary loss
// (Loss = 0): the reconstruction loss alone trains the probabilities, as in the paper.
//
// When the latent dimension D differs from d, learned projections D→d before and d→D after
// the binarisation are added (sub-scopes "project_in" and "project_out", as [LFQ]'s). Binary
// differs from LFQ in what is transmitted for the same d bits: LFQ takes the sign of h and
// trains it with commitment and entropy terms; Binary samples the bit, which makes an
// undecided latent (ψ near ½) a noisy one in training, and needs no extra loss.
//
// Stats: StatCodePerplexity and StatUsedCodes of the codes, and StatSampleEntropy, the mean
// over latent vectors of Σ_i H(ψ_i) in nats (how undecided the bits are; 0 when every ψ is 0
// or 1). Rate: Output.Bits = d, no side information.
type Binary struct {
	k, bits int
}

// NewBinary returns the Binary that o describes, or a [*KeyError] naming [ParamCodebookSize]
// when it is not a power of two between 2 and 2^24.
func NewBinary(o BinaryOptions) (*Binary, error) {
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	k := o.CodebookSize
	if k < 2 || k&(k-1) != 0 {
		return nil, keyErrorf(ParamCodebookSize, "binary needs a power of two ≥ 2 (K = 2^bits), got %d", k)
	}
	b := bits.TrailingZeros(uint(k))
	if b > lfqMaxBits {
		return nil, keyErrorf(ParamCodebookSize, "binary supports at most 2^%d codes, got 2^%d", lfqMaxBits, b)
	}
	return &Binary{k: k, bits: b}, nil
}

// Name implements Quantizer.
func (q *Binary) Name() string { return fmt.Sprintf("binary(K=%d,bits=%d)", q.k, q.bits) }

// Scheme implements Quantizer: d = log₂ K bits, one per dimension.
func (q *Binary) Scheme() scheme.Scheme {
	return scheme.Scheme{Kind: scheme.Latents, Method: "binary", Bits: float64(q.bits), Type: scheme.Binary,
		Codebook: q.k, Axis: scheme.PerVector}
}

// CodebookSize implements Quantizer.
func (q *Binary) CodebookSize() int { return q.k }

// Stages implements Quantizer.
func (q *Binary) Stages() int { return 1 }

// Quantize implements Quantizer: Bernoulli samples in a training graph
// ([model.Scope.IsTraining]), the threshold ψ > ½ otherwise.
func (q *Binary) Quantize(scope *model.Scope, z *graph.Node) Output {
	flat, leading := flattenLatents(z)
	g := z.Graph()
	dim := flat.Shape().Dimensions[1]
	project := dim != q.bits
	h := flat
	if project {
		h = layers.Dense(scope.In("project_in"), flat, true, q.bits)
	}
	psi := graph.Sigmoid(h)
	var on *graph.Node // the bits, as booleans [N, d]
	if scope.IsTraining(g) {
		on = graph.LessThan(scope.RandomUniform(g, psi.Shape()), graph.StopGradient(psi))
	} else {
		on = graph.GreaterThan(h, graph.ZerosLike(h))
	}
	b := graph.ConvertDType(on, h.DType())
	out := graph.Add(psi, graph.StopGradient(graph.Sub(b, psi)))
	if project {
		out = layers.Dense(scope.In("project_out"), out, true, dim)
	}
	idx := graph.ReduceSum(graph.Mul(graph.ConvertDType(on, dtypes.Int32), bitWeights(g, q.bits)), -1)

	stats := codeUsageStats(idx, q.k)
	stats[StatSampleEntropy] = graph.ReduceAllMean(graph.ReduceSum(lfqBinaryEntropy(graph.StopGradient(h)), -1))
	codes, index, rate := singleStage(unflattenCodes(idx, leading), q.k, z.DType())
	return Output{
		Quantized: graph.ReshapeWithShape(out, z.Shape()),
		Codes:     codes,
		Index:     index,
		Bits:      rate,
		Loss:      graph.ScalarZero(g, z.DType()),
		Stats:     stats,
	}
}

// Decode implements Decoder: the bits of each code as 0 and 1, through the output projection
// that Quantize created when D ≠ d.
func (q *Binary) Decode(scope *model.Scope, codes Codes) *graph.Node {
	checkCodes(codes, 1)
	stage := codes.Stages[0]
	weights := graph.ExpandLeftToRank(bitWeights(stage.Graph(), q.bits), stage.Rank()+1) // [1, …, 1, d]
	on := graph.NotEqual(graph.BitwiseAnd(graph.InsertAxes(stage, -1), weights), graph.ZerosLike(weights))
	project := scope.At("project_out")
	if w := project.At("dense").GetVariable("weights"); w != nil {
		return layers.Dense(project, graph.ConvertDType(on, w.DType()), true, w.Shape().Dimensions[1])
	}
	return graph.ConvertDType(on, dtypes.Float32)
}
