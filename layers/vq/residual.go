package vq

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/hparams"
)

const (
	// ParamResidualStages is the number of stages S of a residual stack ("rvq"). Default 4 (int).
	ParamResidualStages = "vq_residual_stages"
	// ParamResidualType is the quantizer type of every stage of a residual stack: any registered
	// type except "rvq". Default "vq" (string).
	ParamResidualType = "vq_residual_type"
)

func init() {
	RegisterParams(hparams.List{
		{Key: ParamResidualStages, Default: 4, Doc: "rvq: number of stages S, each quantizing the residual of the previous ones"},
		{Key: ParamResidualType, Default: "vq", Doc: "rvq: quantizer type of every stage (any vq_type except rvq)"},
	})
	Register("rvq", func(scope *model.Scope) Quantizer {
		n := scopeParam[int](scope, ParamResidualStages)
		if n < 1 {
			exceptions.Panicf("vq: rvq needs %s ≥ 1, got %d", ParamResidualStages, n)
		}
		stageType := scopeParam[string](scope, ParamResidualType)
		if stageType == "rvq" {
			exceptions.Panicf("vq: %s=rvq: the stages of a residual stack cannot be residual stacks", ParamResidualType)
		}
		stages := make([]Quantizer, n)
		for i := range stages {
			stages[i] = ByName(scope, stageType)
		}
		return NewResidual(stages)
	})
}

// Residual is residual vector quantization (RVQ), registered as "rvq": a stack of S quantizers,
// each quantizing what the previous ones left over (Zeghidour et al. 2021, "SoundStream: An
// End-to-End Neural Audio Codec", arXiv:2107.03312, Algorithm 1; Lee et al. 2022,
// "Autoregressive Image Generation using Residual Quantization", arXiv:2203.01941):
//
//	r₀ = z,  q_i = Q_i(r_i),  r_{i+1} = r_i − sg(q_i),  output Σ_i q_i,
//	Loss = Σ_i Loss_i (each stage's own loss on its residual, as RQ-VAE's commitment
//	       Σ_i ‖z − sg(Σ_{j≤i} q_j)‖² is Σ_i ‖r_{i+1}‖²).
//
// The stages are built by [ParamResidualType] and keep their variables in sub-scopes
// "stage_00", "stage_01", ... of the quantizer's scope.
//
// Gradients: the output is z + sg(Σ q_i − z) + Σ_i (e_i − sg(e_i)) with e_i = Quantized_i − r_i,
// which has the value Σ q_i, the identity gradient to z (straight-through, exactly so for
// stages whose own output is straight-through, such as vq and simvq), and keeps whatever
// gradient a stage's output has beyond the identity (FSQ's tanh and projections).
//
// Codes: the stage codes c_i ∈ [0, K) are combined in mixed radix, stage 0 least significant,
// Codes = Σ_i c_i·K^i, when K^S ≤ 2³¹ so that this fits int32. A deeper stack (e.g. the
// default K=1024, S=4) cannot be told apart in one int32: then Codes holds the stage-0 codes
// (the coarsest cell), [Residual.CodesCombined] is false, and StageCodes is the full choice.
//
// Stats: each stage's stats prefixed "stage_00_", ..., the RMS of the residual left after each
// stage as "stage_00_residual_rms", ..., and "perplexity" and "used_codes" averaged over stages.
//
// When the stages are [DataInitializer]s (e.g. ema_vq with its k-means), the stack is one too:
// it initialises stage i from the residuals r_i of the already initialised stages 0…i−1.
type Residual struct {
	stages []Quantizer
}

// NewResidual stacks the given quantizers, which must all be single-stage and of the same
// codebook size. It returns a *Residual or, when every stage is a [DataInitializer], a wrapper
// of one that is a DataInitializer too (its methods, e.g. CodesCombined, are reachable through
// an interface assertion).
func NewResidual(stages []Quantizer) Quantizer {
	if len(stages) == 0 {
		exceptions.Panicf("vq: rvq needs %s ≥ 1, got 0 stages", ParamResidualStages)
	}
	for i, s := range stages {
		if s.Stages() != 1 {
			exceptions.Panicf("vq: rvq stage %d is %s with %d stages, %s must be a single-stage type",
				i, s.Name(), s.Stages(), ParamResidualType)
		}
		if s.CodebookSize() != stages[0].CodebookSize() {
			exceptions.Panicf("vq: rvq stages have different codebook sizes: %s and %s", stages[0].Name(), s.Name())
		}
	}
	r := &Residual{stages: append([]Quantizer(nil), stages...)}
	for _, s := range stages {
		if _, ok := s.(DataInitializer); !ok {
			return r
		}
	}
	return &residualWithInit{r}
}

// StageQuantizers returns the quantizers of the stages, in order.
func (r *Residual) StageQuantizers() []Quantizer { return append([]Quantizer(nil), r.stages...) }

// CodesCombined reports whether Output.Codes identifies the choice of all stages (K^S ≤ 2³¹);
// otherwise it holds only the stage-0 codes.
func (r *Residual) CodesCombined() bool {
	total := int64(1)
	for range r.stages {
		total *= int64(r.CodebookSize())
		if total > 1<<31 {
			return false
		}
	}
	return true
}

// stageFormat names the sub-scope of stage i and prefixes its stats.
const stageFormat = "stage_%02d"

// Quantize implements Quantizer.
func (r *Residual) Quantize(scope *model.Scope, z *graph.Node) Output {
	residual := z
	var sum, extra, loss, codes *graph.Node
	out := Output{Stats: map[string]*graph.Node{}}
	var meanPerplexity, meanUsed *graph.Node
	k, radix := r.CodebookSize(), 1
	for i, stage := range r.stages {
		name := fmt.Sprintf(stageFormat, i)
		so := stage.Quantize(scope.In(stageFormat, i), residual)
		q := graph.StopGradient(so.Quantized)
		e := graph.Sub(so.Quantized, residual)
		e = graph.Sub(e, graph.StopGradient(e))
		residual = graph.Sub(residual, q)
		if i == 0 {
			sum, extra, loss, codes = q, e, so.Loss, so.Codes
		} else {
			sum, extra, loss = graph.Add(sum, q), graph.Add(extra, e), graph.Add(loss, so.Loss)
			if r.CodesCombined() {
				radix *= k
				codes = graph.Add(codes, graph.MulScalar(so.Codes, int32(radix)))
			}
		}
		out.StageCodes = append(out.StageCodes, so.Codes)
		for statName, v := range so.Stats {
			out.Stats[name+"_"+statName] = v
		}
		out.Stats[name+"_residual_rms"] = graph.Sqrt(graph.ReduceAllMean(graph.Square(graph.StopGradient(residual))))
		if p, ok := so.Stats[StatPerplexity]; ok {
			meanPerplexity = addOrSet(meanPerplexity, p)
		}
		if u, ok := so.Stats[StatUsedCodes]; ok {
			meanUsed = addOrSet(meanUsed, u)
		}
	}
	n := float64(len(r.stages))
	if meanPerplexity != nil {
		out.Stats[StatPerplexity] = graph.DivScalar(meanPerplexity, n)
	}
	if meanUsed != nil {
		out.Stats[StatUsedCodes] = graph.DivScalar(meanUsed, n)
	}
	out.Quantized = graph.Add(straightThrough(z, sum), extra)
	out.Codes = codes
	out.Loss = loss
	return out
}

func addOrSet(sum, x *graph.Node) *graph.Node {
	if sum == nil {
		return x
	}
	return graph.Add(sum, x)
}

// Decode implements Decoder: Σ_i stage_i.Decode(c_i). Every stage must be a Decoder.
func (r *Residual) Decode(scope *model.Scope, stageCodes []*graph.Node) *graph.Node {
	checkCodesShape(stageCodes, len(r.stages))
	var sum *graph.Node
	for i, stage := range r.stages {
		dec, ok := stage.(Decoder)
		if !ok {
			exceptions.Panicf("vq: rvq cannot decode: its stage %s has no Decode (%s)", stage.Name(), ParamResidualType)
		}
		sum = addOrSet(sum, dec.Decode(scope.At(stageFormat, i), stageCodes[i:i+1]))
	}
	return sum
}

// CodebookSize implements Quantizer: K of one stage.
func (r *Residual) CodebookSize() int { return r.stages[0].CodebookSize() }

// Stages implements Quantizer: S.
func (r *Residual) Stages() int { return len(r.stages) }

// Name implements Quantizer, e.g. "rvq(4×vq(K=1024))".
func (r *Residual) Name() string {
	return fmt.Sprintf("rvq(%d×%s)", len(r.stages), r.stages[0].Name())
}

// residualWithInit is a Residual whose stages are DataInitializers.
type residualWithInit struct{ *Residual }

// InitFromLatents implements DataInitializer: stage i is initialised from the residuals left by
// the stages before it, once those are initialised.
func (r residualWithInit) InitFromLatents(scope *model.Scope, z *graph.Node) {
	residual := graph.StopGradient(z)
	for i, stage := range r.stages {
		stage.(DataInitializer).InitFromLatents(scope.In(stageFormat, i), residual)
		if i < len(r.stages)-1 {
			// At: the stage's scope was entered above, Quantize sees the initialised variables.
			so := stage.Quantize(scope.At(stageFormat, i), residual)
			residual = graph.Sub(residual, graph.StopGradient(so.Quantized))
		}
	}
}
