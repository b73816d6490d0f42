package vq

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/hparams"
)

// ParamFSQLevels lists the FSQ levels L_i, one per quantized dimension, e.g. "8,5,5,5".
// Default "" (string): derived from [ParamCodebookSize] with the table of [FSQLevelsFor]; when
// set, it alone defines the codebook and vq_codebook_size is ignored.
const ParamFSQLevels = "vq_fsq_levels"

func init() {
	RegisterParams(hparams.List{
		{Key: ParamFSQLevels, Default: "", Doc: "fsq: comma-separated levels per dimension, e.g. \"8,5,5,5\"; empty: derived from vq_codebook_size"},
	})
	Register("fsq", func(scope *model.Scope) Quantizer {
		spec := scopeParam[string](scope, ParamFSQLevels)
		if spec == "" {
			k := scopeParam[int](scope, ParamCodebookSize)
			levels, err := FSQLevelsFor(k)
			if err != nil {
				exceptions.Panicf("vq: fsq with %s=\"\" derives its levels from %s=%d: %v; set %s explicitly",
					ParamFSQLevels, ParamCodebookSize, k, err, ParamFSQLevels)
			}
			return NewFSQ(levels)
		}
		levels, err := ParseFSQLevels(spec)
		if err != nil {
			exceptions.Panicf("vq: %s=%q: %v", ParamFSQLevels, spec, err)
		}
		return NewFSQ(levels)
	})
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

// ParseFSQLevels parses comma-separated FSQ levels such as "8,5,5,5".
func ParseFSQLevels(spec string) ([]int, error) {
	var levels []int
	for _, field := range strings.Split(spec, ",") {
		l, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil {
			return nil, fmt.Errorf("vq: parsing FSQ levels %q: %w", spec, err)
		}
		levels = append(levels, l)
	}
	if err := checkFSQLevels(levels); err != nil {
		return nil, fmt.Errorf("vq: FSQ levels %q: %w", spec, err)
	}
	return levels, nil
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

// FSQ is finite scalar quantization (Mentzer, Minnen, Agustsson and Tschannen 2023, "Finite
// Scalar Quantization: VQ-VAE Made Simple", arXiv:2309.15505), registered as "fsq".
//
// Each of the d = len(levels) dimensions is bounded to L_i values and rounded, so the implicit
// codebook is the grid of K = ∏ L_i points; there is no codebook to learn and no auxiliary loss
// (Loss = 0). Per dimension, with ε = 10⁻³ (the paper's appendix A.1),
//
//	h = (L − 1)(1 − ε)/2,  o = 0 for odd L and ½ for even L,  s = tan(o/h),
//	f(z) = h·tanh(z + s) − o                 (bounded, f(0) ≈ 0)
//	ẑ = f(z) + sg(round(f(z)) − f(z))        (straight-through rounding)
//	output ẑ / ⌊L/2⌋ ∈ [−1, 1],
//
// so that odd L yields the integers −⌊L/2⌋…⌊L/2⌋ and even L yields −L/2…L/2 − 1. The shift s
// is the paper's: atanh(o/h) would make f(0) = 0 exact and differs by less than 10⁻³ for L ≥ 4,
// but is undefined for L = 2 (o/h > 1). The code of a latent is the mixed-radix number of its digits ẑ_i + ⌊L_i/2⌋ ∈ [0, L_i),
// the first dimension least significant: code = Σ_i (ẑ_i + ⌊L_i/2⌋)·∏_{j<i} L_j.
//
// When the latents' dimension D differs from d, trainable projections D→d before and d→D after
// the quantization are added (variables "project_in_weights" [D, d], "project_in_bias" [d],
// "project_out_weights" [d, D], "project_out_bias" [D], initialised like PyTorch's nn.Linear).
type FSQ struct {
	levels []int
	k      int
}

// NewFSQ returns an FSQ with the given levels; it panics naming [ParamFSQLevels] when they are
// invalid (a level below 2, or more than 2³¹−1 codes).
func NewFSQ(levels []int) *FSQ {
	if err := checkFSQLevels(levels); err != nil {
		exceptions.Panicf("vq: %s=%v: %v", ParamFSQLevels, levels, err)
	}
	k := 1
	for _, l := range levels {
		k *= l
	}
	return &FSQ{levels: append([]int(nil), levels...), k: k}
}

// Levels returns the levels L_i, one per quantized dimension.
func (f *FSQ) Levels() []int { return append([]int(nil), f.levels...) }

// fsqConstants are the per-dimension constants of FSQ as [1, d] nodes.
type fsqConstants struct {
	halfL, offset, shift, halfWidth *graph.Node // dtype of the latents
	halfWidthInt, levelsInt, basis  *graph.Node // int32
}

func (f *FSQ) constants(g *graph.Graph, dtype dtypes.DType) fsqConstants {
	const eps = 1e-3
	d := len(f.levels)
	halfL, offset, shift, halfWidth := make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
	halfWidthInt, levelsInt, basis := make([]int32, d), make([]int32, d), make([]int32, d)
	radix := 1
	for i, l := range f.levels {
		halfL[i] = float64(l-1) * (1 - eps) / 2
		if l%2 == 0 {
			offset[i] = 0.5
		}
		shift[i] = math.Tan(offset[i] / halfL[i])
		halfWidth[i] = float64(l / 2)
		halfWidthInt[i], levelsInt[i], basis[i] = int32(l/2), int32(l), int32(radix)
		radix *= l
	}
	row := func(values any) *graph.Node { return graph.InsertAxes(graph.Const(g, values), 0) }
	float := func(values []float64) *graph.Node { return graph.ConvertDType(row(values), dtype) }
	return fsqConstants{
		halfL: float(halfL), offset: float(offset), shift: float(shift), halfWidth: float(halfWidth),
		halfWidthInt: row(halfWidthInt), levelsInt: row(levelsInt), basis: row(basis),
	}
}

// Quantize implements Quantizer.
func (f *FSQ) Quantize(scope *model.Scope, z *graph.Node) Output {
	flat, leading := flattenLatents(z)
	g, dtype := z.Graph(), z.DType()
	dim, d := flat.Shape().Dimensions[1], len(f.levels)
	c := f.constants(g, dtype)

	x := flat
	if dim != d {
		x = f.project(scope, "project_in", x, d)
	}
	bounded := graph.Sub(graph.Mul(graph.Tanh(graph.Add(x, c.shift)), c.halfL), c.offset)
	rounded := graph.Round(bounded)
	snapped := graph.Add(bounded, graph.StopGradient(graph.Sub(rounded, bounded)))
	normalized := graph.Div(snapped, c.halfWidth)

	digits := graph.Add(graph.ConvertDType(graph.StopGradient(rounded), dtypes.Int32), c.halfWidthInt)
	idx := graph.ReduceSum(graph.Mul(digits, c.basis), -1)

	out := normalized
	if dim != d {
		out = f.project(scope, "project_out", out, dim)
	}
	codes := unflattenCodes(idx, leading)
	return Output{
		Quantized:  graph.Reshape(out, z.Shape().Dimensions...),
		Codes:      codes,
		StageCodes: []*graph.Node{codes},
		Loss:       graph.ScalarZero(g, dtype),
		Stats:      codeUsageStats(idx, f.k),
	}
}

// project is the dense layer x·W + b of the projection named name, from x's last dimension to
// out dimensions.
func (f *FSQ) project(scope *model.Scope, name string, x *graph.Node, out int) *graph.Node {
	in := x.Shape().Dimensions[x.Rank()-1]
	init := linearInitializer(scope, in)
	w := variable(scope, name+"_weights", shapes.Make(x.DType(), in, out), init).NodeValue(x.Graph())
	b := variable(scope, name+"_bias", shapes.Make(x.DType(), out), init).NodeValue(x.Graph())
	return graph.Add(graph.MatMul(x, w), graph.InsertAxes(b, 0))
}

// Decode implements Decoder: the grid point of each code, through the output projection if
// Quantize created one.
func (f *FSQ) Decode(scope *model.Scope, stageCodes []*graph.Node) *graph.Node {
	checkCodesShape(stageCodes, 1)
	codes := stageCodes[0]
	g := codes.Graph()
	leading := codes.Shape().Dimensions
	weights := scope.GetVariable("project_out_weights")
	dtype := dtypes.Float32
	if weights != nil {
		dtype = weights.DType()
	}
	c := f.constants(g, dtype)
	flat := graph.Reshape(codes, -1, 1)                                      // [N, 1]
	digits := graph.Mod(graph.Div(flat, c.basis), c.levelsInt)               // [N, d]
	centered := graph.ConvertDType(graph.Sub(digits, c.halfWidthInt), dtype) // integers
	out := graph.Div(centered, c.halfWidth)
	if weights != nil {
		out = f.project(scope, "project_out", out, weights.Shape().Dimensions[1])
	}
	dims := append(append([]int{}, leading...), out.Shape().Dimensions[1])
	return graph.Reshape(out, dims...)
}

// CodebookSize implements Quantizer: ∏ L_i.
func (f *FSQ) CodebookSize() int { return f.k }

// Stages implements Quantizer.
func (f *FSQ) Stages() int { return 1 }

// Name implements Quantizer, e.g. "fsq(L=8,5,5,5)".
func (f *FSQ) Name() string {
	parts := make([]string, len(f.levels))
	for i, l := range f.levels {
		parts[i] = strconv.Itoa(l)
	}
	return "fsq(L=" + strings.Join(parts, ",") + ")"
}
