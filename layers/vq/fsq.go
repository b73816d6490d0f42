package vq

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/layers/linear"
	"github.com/qzoo/qzoo/quant/scheme"
)

// ParamFSQLevels lists the FSQ levels L_i ≥ 2, one per quantized dimension, e.g. "8,5,5,5".
// Default "" (string): derived from [ParamCodebookSize] with the table of [FSQLevelsFor]; when
// set, it alone defines the codebook and vq_codebook_size is ignored.
const ParamFSQLevels = "vq_fsq_levels"

func init() {
	RegisterParams(hparams.List{
		{Key: ParamFSQLevels, Default: "", Doc: "fsq: comma-separated levels (each ≥ 2) per dimension, e.g. \"8,5,5,5\"; empty: derived from vq_codebook_size",
			Domain: fsqLevelsDomain},
	})
	Register("fsq", func() Options { return &FSQOptions{} })
}

// fsqLevelsDomain accepts "" and lists of levels that [NewFSQ] accepts.
func fsqLevelsDomain(v any) error {
	spec, ok := v.(string)
	if !ok {
		return fmt.Errorf("%v is not a string", v)
	}
	levels, err := parseInts(spec)
	if err != nil || len(levels) == 0 {
		return err
	}
	return checkFSQLevels(levels)
}

// fsqLevelsTable holds the levels Mentzer et al. recommend per target codebook size (Table 1).
var fsqLevelsTable = map[int][]int{
	1 << 8:  {8, 6, 5},
	1 << 10: {8, 5, 5, 5},
	1 << 12: {7, 5, 5, 5, 5},
	1 << 14: {8, 8, 8, 6, 5},
	1 << 16: {8, 8, 8, 5, 5, 5},
}

// FSQLevelsFor returns the levels that Mentzer et al. (2023, Table 1) recommend for a target
// codebook size k ∈ {2^8, 2^10, 2^12, 2^14, 2^16}: 8,6,5; 8,5,5,5; 7,5,5,5,5; 8,8,8,6,5;
// 8,8,8,5,5,5. Their product (the true codebook size) is close to, not equal to, k.
func FSQLevelsFor(k int) ([]int, error) {
	levels, ok := fsqLevelsTable[k]
	if !ok {
		return nil, fmt.Errorf("vq: FSQ has recommended levels only for codebook sizes 256, 1024, 4096, 16384 and 65536, not %d", k)
	}
	return append([]int(nil), levels...), nil
}

func checkFSQLevels(levels []int) error {
	if len(levels) == 0 {
		return fmt.Errorf("no levels")
	}
	k := 1
	for _, l := range levels {
		if l < 2 {
			return fmt.Errorf("every level must be ≥ 2, got %d", l)
		}
		k *= l
		if k > math.MaxInt32 {
			return fmt.Errorf("the codebook size ∏L_i exceeds the int32 codes")
		}
	}
	return nil
}

// FSQOptions configures an [FSQ]; each field mirrors the hyperparameter of its tag.
type FSQOptions struct {
	// Levels are the L_i ≥ 2, one per quantized dimension. When empty they are derived from
	// CodebookSize by [FSQLevelsFor].
	Levels []int `vq:"vq_fsq_levels"`
	// CodebookSize is the target K from which empty Levels are derived.
	CodebookSize int `vq:"vq_codebook_size"`
}

// New implements Options.
func (o FSQOptions) New() (Quantizer, error) { return asQuantizer(NewFSQ(o)) }

// FSQ is finite scalar quantization (Mentzer, Minnen, Agustsson and Tschannen 2023, "Finite
// Scalar Quantization: VQ-VAE Made Simple", arXiv:2309.15505), registered as "fsq".
//
// Each of the d = len(levels) dimensions is bounded to L_i values and rounded, so the implicit
// codebook is the grid of K = ∏ L_i points; there is no codebook to learn and no auxiliary loss
// (Loss = 0). Per dimension, with ε = 10⁻³ (the paper's appendix A.1),
//
//	h = (L − 1)(1 − ε)/2,  o = 0 for odd L and ½ for even L,
//	f(z) = h·tanh(z)                    (bounded, odd: f(−z) = −f(z))
//	v = round(f − o) + o                (the grid −(L−1)/2, …, (L−1)/2 in steps of 1)
//	ẑ = f + sg(v − f)                   (straight-through rounding)
//	output ẑ / ((L − 1)/2) ∈ [−1, 1],
//
// so that odd L yields the integers −⌊L/2⌋…⌊L/2⌋ (v = round(f)) and even L the half-integers
// ±½, …, ±(L−1)/2, whose decision boundaries (the integers) are symmetric around 0: symmetric
// inputs use level j and level L−1−j equally often. The code of a latent is the mixed-radix
// number of its digits v_i + (L_i − 1)/2 ∈ [0, L_i), the first dimension least significant:
// code = Σ_i (v_i + (L_i − 1)/2)·∏_{j<i} L_j.
//
// Deviation from the paper, for even L only (odd L is the paper's exactly): its bound
// f(z) = h·tanh(z + s) − o with s = tan(o/h) rounds to the integers −L/2…L/2 − 1, whose
// decision boundaries are not symmetric around 0 (for L = 4 the middle one is at z ≈ −0.35),
// and for L = 2, where o/h > 1, the single boundary sits at z ≈ −1.56, so that N(0, 1) inputs
// pick one level 94% of the time.
//
// When the latents' dimension D differs from d, trainable projections D→d before and d→D after
// the quantization are added (variables "project_in_weights" [D, d], "project_in_bias" [d],
// "project_out_weights" [d, D], "project_out_bias" [D], initialised like PyTorch's nn.Linear).
//
// Residual FSQ. A residual stack of FSQ stages ([ParamResidualType] "fsq", see [NewResidual])
// is an FSQ of S stages that bounds the latent once and refines it stage after stage, each
// dimension at its own scale s_i = L^{−i} (in output units, u = f(x)/((L − 1)/2) the bounded
// latent, U the uniform quantizer to the L grid values of [−1, 1], clipped to them):
//
//	r₀ = u,  q_i = s_i·U(r_i/s_i),  r_{i+1} = r_i − q_i,  output u + sg(Σ_i q_i − u),
//
// whose stage 0 is the single-stage FSQ above. The grid of stage i + 1 (L values spaced
// 2s_{i+1}/(L − 1)) tiles the cell of one grid value of stage i (width 2s_i/(L − 1)) with L
// cells, so that the residual shrinks by L per stage. The stages share the projections. This
// follows vector-quantize-pytorch's ResidualFSQ (bound once, per-stage scales), with L^{−i}
// instead of its (L − 1)^{−i}, which leaves L = 2 at one scale, and without bounding again in
// each stage, whose tanh made stages saturate: stacked as independent quantizers, stage 2 of
// 3×FSQ(8,8) on latents of RMS 0.46 saw residuals inside one grid cell, emitted a single code
// and left the residual unchanged. Its stats are those of a [Residual]: "stage_00_residual_rms"
// (RMS of r₁), ..., per-stage code usage "stage_00_used_codes", ..., and their means.
//
// Rate: Output.Bits = S·log2 K, no side information.
type FSQ struct {
	levels []int
	k      int
	// stages is S, 1 outside residual stacks.
	stages int
}

// NewFSQ returns the FSQ that o describes, or a [*KeyError] naming [ParamFSQLevels] (a level
// below 2, more than 2³¹−1 codes) or, when the levels are derived, [ParamCodebookSize].
func NewFSQ(o FSQOptions) (*FSQ, error) {
	levels := o.Levels
	if len(levels) == 0 {
		var err error
		if levels, err = FSQLevelsFor(o.CodebookSize); err != nil {
			return nil, keyErrorf(ParamCodebookSize, "fsq derives its levels from it when %s is empty: %v; set %s",
				ParamFSQLevels, err, ParamFSQLevels)
		}
	}
	if err := checkFSQLevels(levels); err != nil {
		return nil, &KeyError{Key: ParamFSQLevels, Err: err}
	}
	k := 1
	for _, l := range levels {
		k *= l
	}
	return &FSQ{levels: append([]int(nil), levels...), k: k, stages: 1}, nil
}

// Levels returns the levels L_i, one per quantized dimension.
func (f *FSQ) Levels() []int { return append([]int(nil), f.levels...) }

// residualStack implements residualStacker: the FSQ of n stages.
func (f *FSQ) residualStack(n int) Quantizer {
	stacked := *f
	stacked.stages = n
	return &stacked
}

// fsqConstants are the per-dimension constants of FSQ as [1, d] nodes.
type fsqConstants struct {
	halfL, offset, halfRange       *graph.Node // dtype of the latents
	minRounded, maxRounded         *graph.Node // the range of round(f − o), −⌊L/2⌋ and L − 1 − ⌊L/2⌋
	halfWidthInt, levelsInt, basis *graph.Node // int32
}

func (f *FSQ) constants(g *graph.Graph, dtype dtypes.DType) fsqConstants {
	const eps = 1e-3
	d := len(f.levels)
	halfL, offset, halfRange := make([]float64, d), make([]float64, d), make([]float64, d)
	minRounded, maxRounded := make([]float64, d), make([]float64, d)
	halfWidthInt, levelsInt, basis := make([]int32, d), make([]int32, d), make([]int32, d)
	radix := 1
	for i, l := range f.levels {
		halfL[i] = float64(l-1) * (1 - eps) / 2
		if l%2 == 0 {
			offset[i] = 0.5
		}
		halfRange[i] = float64(l-1) / 2
		minRounded[i], maxRounded[i] = float64(-(l / 2)), float64(l-1-l/2)
		halfWidthInt[i], levelsInt[i], basis[i] = int32(l/2), int32(l), int32(radix)
		radix *= l
	}
	row := func(values any) *graph.Node { return graph.InsertAxes(graph.Const(g, values), 0) }
	float := func(values []float64) *graph.Node { return graph.ConvertDType(row(values), dtype) }
	return fsqConstants{
		halfL: float(halfL), offset: float(offset), halfRange: float(halfRange),
		minRounded: float(minRounded), maxRounded: float(maxRounded),
		halfWidthInt: row(halfWidthInt), levelsInt: row(levelsInt), basis: row(basis),
	}
}

// stageScale returns s_i = L^{−i} per dimension as a [1, d] node.
func (f *FSQ) stageScale(g *graph.Graph, dtype dtypes.DType, i int) *graph.Node {
	scale := make([]float64, len(f.levels))
	for j, l := range f.levels {
		scale[j] = math.Pow(float64(l), -float64(i))
	}
	return graph.ConvertDType(graph.InsertAxes(graph.Const(g, scale), 0), dtype)
}

// Quantize implements Quantizer.
func (f *FSQ) Quantize(scope *model.Scope, z *graph.Node) Output {
	return f.QuantizeKeeping(scope, z, nil)
}

// QuantizeKeeping implements [StageDropper]: codes and stats as in Quantize, the output (before
// the output projection, if any) holding only the stages i < keep of each latent vector, m₀·û +
// Σ_{i≥1} m_i·sg(q_i) with m_i = [i < keep] and û stage 0's straight-through output. A vector
// that keeps no stage is 0 before the projection (the projection's bias after it). keep nil
// keeps every stage.
func (f *FSQ) QuantizeKeeping(scope *model.Scope, z, keep *graph.Node) Output {
	flat, leading := flattenLatents(z)
	g, dtype := z.Graph(), z.DType()
	dim, d := flat.Shape().Dimensions[1], len(f.levels)
	c := f.constants(g, dtype)

	x := flat
	if dim != d {
		x = f.project(scope, "project_in", x, d)
	}
	bounded := graph.Mul(graph.Tanh(x), c.halfL)
	rounded := graph.Round(graph.Sub(bounded, c.offset)) // integers: the digit minus ⌊L/2⌋
	grid := graph.Add(rounded, c.offset)
	snapped := graph.Add(bounded, graph.StopGradient(graph.Sub(grid, bounded)))
	out := graph.Div(snapped, c.halfRange)
	digits := []*graph.Node{rounded}
	mask := func(x *graph.Node, i int) *graph.Node {
		if keep == nil {
			return x
		}
		return graph.Mul(x, graph.Reshape(keptMask(keep, z, i), -1, 1))
	}
	kept := mask(out, 0)

	stats := map[string]*graph.Node{}
	if f.stages > 1 {
		residual := graph.StopGradient(graph.Sub(graph.Div(bounded, c.halfRange), out)) // r₁ = u − q₀
		stats[fmt.Sprintf(stageFormat+"_residual_rms", 0)] = rms(residual)
		for i := 1; i < f.stages; i++ {
			scale := f.stageScale(g, dtype, i)
			level := graph.Mul(graph.Div(residual, scale), c.halfRange)
			r := graph.Max(graph.Min(graph.Round(graph.Sub(level, c.offset)), c.maxRounded), c.minRounded)
			q := graph.Mul(graph.Div(graph.Add(r, c.offset), c.halfRange), scale)
			residual = graph.Sub(residual, q)
			kept = graph.Add(kept, mask(graph.StopGradient(q), i)) // the output has the gradient of u
			digits = append(digits, r)
			stats[fmt.Sprintf(stageFormat+"_residual_rms", i)] = rms(residual)
		}
	}
	out = kept
	if dim != d {
		out = f.project(scope, "project_out", out, dim)
	}

	codes := Codes{Side: map[string]*graph.Node{}}
	for i, r := range digits {
		stageDigits := graph.Add(graph.ConvertDType(graph.StopGradient(r), dtypes.Int32), c.halfWidthInt)
		idx := graph.ReduceSum(graph.Mul(stageDigits, c.basis), -1)
		codes.Stages = append(codes.Stages, unflattenCodes(idx, leading))
		if f.stages == 1 {
			stats = codeUsageStats(idx, f.k)
			continue
		}
		for name, v := range codeUsageStats(idx, f.k) {
			stats[fmt.Sprintf(stageFormat, i)+"_"+name] = v
			stats[name] = addOrSet(stats[name], graph.DivScalar(v, float64(f.stages)))
		}
	}
	return Output{
		Quantized: graph.Reshape(out, z.Shape().Dimensions...),
		Codes:     codes,
		Index:     combinedIndex(codes.Stages, f.k),
		Bits:      graph.Scalar(g, dtype, float64(f.stages)*math.Log2(float64(f.k))),
		Loss:      graph.ScalarZero(g, dtype),
		Stats:     stats,
	}
}

// project is the dense layer x·W + b of the projection named name, from x's last dimension to
// out dimensions.
func (f *FSQ) project(scope *model.Scope, name string, x *graph.Node, out int) *graph.Node {
	init := linearInitializer(scope, x.Shape().Dimensions[x.Rank()-1])
	return linear.New(scope, x, out).Names(name+"_weights", name+"_bias").Initializers(init, init).Done()
}

// Decode implements Decoder: the grid point of each code (the sum over the stages of a
// residual FSQ), through the output projection if Quantize created one.
func (f *FSQ) Decode(scope *model.Scope, codes Codes) *graph.Node {
	checkCodes(codes, f.stages)
	g := codes.Stages[0].Graph()
	leading := codes.Stages[0].Shape().Dimensions
	weights := scope.GetVariable("project_out_weights")
	dtype := dtypes.Float32
	if weights != nil {
		dtype = weights.DType()
	}
	c := f.constants(g, dtype)
	var out *graph.Node
	for i, stage := range codes.Stages {
		flat := graph.Reshape(stage, -1, 1)                                     // [N, 1]
		digits := graph.Mod(graph.Div(flat, c.basis), c.levelsInt)              // [N, d]
		rounded := graph.ConvertDType(graph.Sub(digits, c.halfWidthInt), dtype) // integers
		q := graph.Div(graph.Add(rounded, c.offset), c.halfRange)
		if i > 0 {
			q = graph.Mul(q, f.stageScale(g, dtype, i))
		}
		out = addOrSet(out, q)
	}
	if weights != nil {
		out = f.project(scope, "project_out", out, weights.Shape().Dimensions[1])
	}
	dims := append(append([]int{}, leading...), out.Shape().Dimensions[1])
	return graph.Reshape(out, dims...)
}

// CodebookSize implements Quantizer: ∏ L_i.
func (f *FSQ) CodebookSize() int { return f.k }

// Stages implements Quantizer: 1, or S for a residual FSQ.
func (f *FSQ) Stages() int { return f.stages }

// Scheme implements Quantizer: the levels L_i per dimension, K = ∏ L_i codes, S·log₂ K
// bits for S stages (method rvq when S > 1, as Name says).
func (f *FSQ) Scheme() scheme.Scheme {
	s := scheme.Scheme{Kind: scheme.Latents, Method: "fsq", Bits: float64(f.stages) * scheme.CodeBits(f.k),
		Type: scheme.DataType{Format: scheme.Levels, Levels: append([]int(nil), f.levels...)}, Codebook: f.k, Axis: scheme.PerVector}
	if f.stages > 1 {
		s.Method, s.Stages = "rvq", f.stages
	}
	return s
}

// Name implements Quantizer, e.g. "fsq(L=8,5,5,5)", or "rvq(3×fsq(L=8,8))" for a residual FSQ.
func (f *FSQ) Name() string {
	parts := make([]string, len(f.levels))
	for i, l := range f.levels {
		parts[i] = strconv.Itoa(l)
	}
	name := "fsq(L=" + strings.Join(parts, ",") + ")"
	if f.stages > 1 {
		return fmt.Sprintf("rvq(%d×%s)", f.stages, name)
	}
	return name
}
