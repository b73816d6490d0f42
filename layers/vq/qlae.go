package vq

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/quant/scheme"
)

// Hyperparameters of "qlae".
const (
	// ParamQLAEDims is d ≥ 1, the number of quantized latent dimensions. Default 16 (int).
	// When the latents' dimension D differs, learned projections D→d and d→D are added.
	ParamQLAEDims = "vq_qlae_dims"
	// ParamQLAEValues is n_v ≥ 2, the values of each dimension's scalar codebook. Default 10
	// (int), the paper's.
	ParamQLAEValues = "vq_qlae_values"
	// ParamQLAEQuantizeWeight is β_Q ≥ 0, the weight of qlae's quantization loss
	// ‖sg(z) − q‖². Default 0.01 (float64), the reference code's.
	ParamQLAEQuantizeWeight = "vq_qlae_quantize_weight"
	// ParamQLAECommitWeight is β_C ≥ 0, the weight of qlae's commitment loss ‖z − sg(q)‖².
	// Default 0.01 (float64), the reference code's.
	ParamQLAECommitWeight = "vq_qlae_commit_weight"
	// ParamQLAEWeightDecay is λ ≥ 0, the weight of the L2 penalty λ·mean(v²) on qlae's codebook
	// values, the quantizer's share of the paper's strong weight decay. Default 0.001 (float64).
	ParamQLAEWeightDecay = "vq_qlae_weight_decay"
)

// qlaeMaxDims bounds d so that the per-dimension code tensors stay few.
const qlaeMaxDims = 1024

func init() {
	RegisterParams(hparams.List{
		{Key: ParamQLAEDims, Default: 16, Doc: "qlae: d, the number of quantized latent dimensions (projections D→d→D when the latents' D differs)",
			Domain: hparams.Range(1, qlaeMaxDims)},
		{Key: ParamQLAEValues, Default: 10, Doc: "qlae: n_v, the learned scalar values of each dimension's codebook",
			Domain: hparams.AtLeast(2)},
		{Key: ParamQLAEQuantizeWeight, Default: 0.01, Doc: "qlae: weight β_Q of the quantization loss ‖sg(z) − q‖²",
			Domain: hparams.AtLeast(0)},
		{Key: ParamQLAECommitWeight, Default: 0.01, Doc: "qlae: weight β_C of the commitment loss ‖z − sg(q)‖²",
			Domain: hparams.AtLeast(0)},
		{Key: ParamQLAEWeightDecay, Default: 0.001, Doc: "qlae: weight λ of the L2 penalty λ·mean(v²) on the codebook values (the paper's weight decay, for the quantizer's own variables)",
			Domain: hparams.AtLeast(0)},
	})
	Register("qlae", func() Options { return &QLAEOptions{} })
}

// QLAEOptions configures a [QLAE]; each field mirrors the hyperparameter of its tag.
type QLAEOptions struct {
	// Dims is d ≥ 1.
	Dims int `vq:"vq_qlae_dims"`
	// Values is n_v ≥ 2.
	Values int `vq:"vq_qlae_values"`
	// QuantizeWeight is β_Q ≥ 0.
	QuantizeWeight float64 `vq:"vq_qlae_quantize_weight"`
	// CommitWeight is β_C ≥ 0.
	CommitWeight float64 `vq:"vq_qlae_commit_weight"`
	// WeightDecay is λ ≥ 0.
	WeightDecay float64 `vq:"vq_qlae_weight_decay"`
}

// New implements Options.
func (o QLAEOptions) New() (Quantizer, error) { return asQuantizer(NewQLAE(o)) }

// QLAE is the latent quantization of Hsu, Dorrell, Whittington, Wu and Finn (2023),
// "Disentanglement via Latent Quantization" (arXiv:2305.18378, §3), registered as "qlae".
//
// Each of the d latent dimensions j has its own learned scalar codebook V_j = (v_j1, …, v_jn)
// of n = n_v values, initialised evenly spaced in [−1, 1] (the reference code starts at
// [−0.5, 0.5]; the latents here are of unit scale). Every dimension is quantized to its
// nearest value, independently of the others:
//
//	k_j = argmin_k |z_j − v_jk|,   q_j = v_{j,k_j},   output z + sg(q − z)   (straight-through),
//
// so the implicit codebook is the product V_1 × … × V_d of n_v^d vectors. The loss is the
// paper's quantization and commitment terms (means over elements, as VQ-VAE's eq. 3) plus the
// weight decay of the values:
//
//	Loss = β_Q·‖sg(z) − q‖² + β_C·‖z − sg(q)‖² + λ·mean_{j,k} v_jk².
//
// Weight decay. The paper regularises the whole model with an "unusually high" AdamW weight
// decay (0.1 in its code, with β_Q = β_C = 0.01). The optimizer's decay here is global (the
// config's weight_decay with optimizer adamw), so the quantizer realises the decay of its own
// values as the L2 penalty λ·mean(v²) above ([ParamQLAEWeightDecay]): a value used by a share p
// of the latents settles near β_Q·p/(β_Q·p + λ/n_v) times their mean, and an unused value decays
// to 0. It is a coupled penalty, which Adam rescales, not AdamW's decoupled decay. The
// encoder's and decoder's decay remains the config's weight_decay.
//
// Codes. QLAE is a product of d scalar quantizers: Output.Codes.Stages holds d code tensors
// [...], k_j ∈ [0, n_v) for dimension j, so that CodebookSize is n_v and Stages is d, and
// Output.Bits = d·log₂ n_v. Output.Index combines them in mixed radix (dimension 0 least
// significant) when n_v^d ≤ 2³¹, and holds dimension 0's codes otherwise (as [Residual]'s).
// Its stats are the means over the dimensions of each dimension's StatCodePerplexity and
// StatUsedCodes (between 1 and n_v). A QLAE cannot be a stage of a residual stack (it has d
// stages itself).
//
// Variables in the quantizer's scope: "values" [d, n_v], and, when D ≠ d, the projections
// "project_in" and "project_out" (dense layers, as [LFQ]'s).
type QLAE struct {
	opts QLAEOptions
}

// NewQLAE returns the QLAE that o describes, or a [*KeyError] naming the hyperparameter of a
// value out of range.
func NewQLAE(o QLAEOptions) (*QLAE, error) {
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	return &QLAE{opts: o}, nil
}

// Name implements Quantizer, e.g. "qlae(d=16,n_v=10)".
func (q *QLAE) Name() string { return fmt.Sprintf("qlae(d=%d,n_v=%d)", q.opts.Dims, q.opts.Values) }

// CodebookSize implements Quantizer: n_v, the codes of one dimension.
func (q *QLAE) CodebookSize() int { return q.opts.Values }

// Stages implements Quantizer: d, one code tensor per quantized dimension.
func (q *QLAE) Stages() int { return q.opts.Dims }

// Scheme implements Quantizer: a learned table of n_v scalar values per dimension, d·log₂ n_v
// bits per latent vector.
func (q *QLAE) Scheme() scheme.Scheme {
	return scheme.Scheme{Kind: scheme.Latents, Method: "qlae", Bits: float64(q.opts.Dims) * scheme.CodeBits(q.opts.Values),
		Type: scheme.LUT, Codebook: q.opts.Values, Axis: scheme.PerVector}
}

// valuesInitializer sets every row of the [d, n_v] codebook to n_v values evenly spaced in [−1, 1].
func valuesInitializer(g *graph.Graph, shape shapes.Shape) *graph.Node {
	d, n := shape.Dimensions[0], shape.Dimensions[1]
	row := make([]float64, n)
	for k := range row {
		row[k] = -1 + 2*float64(k)/float64(n-1)
	}
	values := graph.BroadcastToDims(graph.InsertAxes(graph.Const(g, row), 0), d, n)
	return graph.ConvertDType(values, shape.DType)
}

// Quantize implements Quantizer.
func (q *QLAE) Quantize(scope *model.Scope, z *graph.Node) Output {
	flat, leading := flattenLatents(z)
	g, dtype := z.Graph(), z.DType()
	dim, d, n := flat.Shape().Dimensions[1], q.opts.Dims, q.opts.Values
	project := dim != d
	h := flat
	if project {
		h = layers.Dense(scope.In("project_in"), flat, true, d)
	}
	values := variable(scope, "values", shapes.Make(dtype, d, n), valuesInitializer).NodeValue(g) // [d, n]

	// |z_j − v_jk| for every latent, dimension and value: [N, d, n].
	distances := graph.Abs(graph.Sub(graph.InsertAxes(graph.StopGradient(h), -1), graph.InsertAxes(graph.StopGradient(values), 0)))
	idx := graph.ArgMin(distances, -1, dtypes.Int32) // [N, d]
	oneHot := graph.OneHot(idx, n, dtype)            // [N, d, n]
	quantized := graph.ReduceSum(graph.Mul(oneHot, graph.InsertAxes(values, 0)), -1)

	quantizeTerm := graph.ReduceAllMean(graph.Square(graph.Sub(graph.StopGradient(h), quantized)))
	commitTerm := graph.ReduceAllMean(graph.Square(graph.Sub(h, graph.StopGradient(quantized))))
	decay := graph.ReduceAllMean(graph.Square(values))
	loss := graph.Add(graph.Add(graph.MulScalar(quantizeTerm, q.opts.QuantizeWeight), graph.MulScalar(commitTerm, q.opts.CommitWeight)),
		graph.MulScalar(decay, q.opts.WeightDecay))

	out := straightThrough(h, quantized)
	if project {
		out = layers.Dense(scope.In("project_out"), out, true, dim)
	}

	codes := Codes{Side: map[string]*graph.Node{}}
	stats := map[string]*graph.Node{}
	for j := range d {
		c := graph.Reshape(graph.SliceAxis(idx, 1, graph.AxisElem(j)), -1) // [N]
		codes.Stages = append(codes.Stages, unflattenCodes(c, leading))
		for name, v := range codeUsageStats(c, n) {
			stats[name] = addOrSet(stats[name], graph.DivScalar(v, float64(d)))
		}
	}
	return Output{
		Quantized: graph.ReshapeWithShape(out, z.Shape()),
		Codes:     codes,
		Index:     combinedIndex(codes.Stages, n),
		Bits:      graph.Scalar(g, dtype, float64(d)*math.Log2(float64(n))),
		Loss:      loss,
		Stats:     stats,
	}
}

// Values returns the codebook [d, n_v] that Quantize created under scope.
func (q *QLAE) Values(scope *model.Scope, g *graph.Graph) *graph.Node {
	return existingVariable(scope, q.Name(), "values").NodeValue(g)
}

// Decode implements Decoder: value k_j of dimension j for each of the d code tensors, through
// the output projection that Quantize created when D ≠ d.
func (q *QLAE) Decode(scope *model.Scope, codes Codes) *graph.Node {
	checkCodes(codes, q.opts.Dims)
	g := codes.Stages[0].Graph()
	values := q.Values(scope, g)                               // [d, n]
	idx := graph.Stack(codes.Stages, -1)                       // [..., d]
	oneHot := graph.OneHot(idx, q.opts.Values, values.DType()) // [..., d, n]
	out := graph.ReduceSum(graph.Mul(oneHot, graph.ExpandLeftToRank(values, oneHot.Rank())), -1)
	project := scope.At("project_out")
	if w := project.At("dense").GetVariable("weights"); w != nil {
		return layers.Dense(project, out, true, w.Shape().Dimensions[1])
	}
	return out
}
