package vq

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/quant/scheme"
)

const (
	// ParamResidualStages is the number of stages S ≥ 1 of a residual stack ("rvq"). Default 4 (int).
	ParamResidualStages = "vq_residual_stages"
	// ParamResidualType is the quantizer type of every stage of a residual stack: any registered
	// type except "rvq". Default "vq" (string).
	ParamResidualType = "vq_residual_type"
)

func init() {
	RegisterParams(hparams.List{
		{Key: ParamResidualStages, Default: 4, Doc: "rvq: number of stages S, each quantizing the residual of the previous ones",
			Domain: hparams.AtLeast(1)},
		{Key: ParamResidualType, Default: "vq", Doc: "rvq: quantizer type of every stage (any vq_type except rvq)",
			Domain: hparams.OneOfFunc(Types)},
	})
	Register("rvq", func() Options { return &ResidualOptions{} })
}

// ResidualOptions configures a [Residual] stack; each field mirrors the hyperparameter of its tag.
type ResidualOptions struct {
	// NumStages is S ≥ 1.
	NumStages int `vq:"vq_residual_stages"`
	// Stage configures every stage: the options of any type but a residual stack. [ReadOptions]
	// sets it to the options of the type that vq_residual_type names, filled from the same keys
	// (vq_codebook_size, vq_beta, ...).
	Stage Options `vq:"vq_residual_type"`
}

// New implements Options.
func (o ResidualOptions) New() (Quantizer, error) { return NewResidual(o) }

// NewResidual stacks o.NumStages quantizers built from o.Stage. It returns a *Residual or,
// when the stages are [DataInitializer]s, a wrapper of one that is a DataInitializer too (its
// methods, e.g. IndexCombined, are reachable through an interface assertion); for FSQ stages
// it returns the residual FSQ (a multi-stage *FSQ, see [FSQ]). The error is a [*KeyError]:
// ParamResidualStages below 1, ParamResidualType naming a residual stack, or the stage's own.
func NewResidual(o ResidualOptions) (Quantizer, error) {
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	switch o.Stage.(type) {
	case nil:
		return nil, keyErrorf(ParamResidualType, "rvq has no stage options")
	case ResidualOptions, *ResidualOptions:
		return nil, keyErrorf(ParamResidualType, "rvq: the stages of a residual stack cannot be residual stacks")
	}
	stages := make([]Quantizer, o.NumStages)
	for i := range stages {
		q, err := o.Stage.New()
		if err != nil {
			return nil, err
		}
		if st, ok := q.(residualStacker); ok {
			return st.residualStack(o.NumStages), nil
		}
		stages[i] = q
	}
	return stackResidual(stages)
}

// residualStacker is implemented by quantizers that build their own residual stack of n
// stages (FSQ, which bounds its latent once and shares its projections between stages).
type residualStacker interface {
	residualStack(n int) Quantizer
}

// residualStager is implemented by quantizers whose outputs lie on a fixed grid that does not
// follow the magnitude of their input (LFQ): atResidualStage(i) returns the quantizer working
// at the scale of stage i of a residual stack.
type residualStager interface {
	atResidualStage(i int) Quantizer
}

// stackResidual stacks single-stage quantizers of one codebook size, putting each
// residualStager at the scale of its stage.
func stackResidual(stages []Quantizer) (Quantizer, error) {
	if len(stages) == 0 {
		return nil, keyErrorf(ParamResidualStages, "rvq needs at least 1 stage, got 0")
	}
	r := &Residual{stages: make([]Quantizer, len(stages))}
	allInit := true
	for i, s := range stages {
		if s.Stages() != 1 {
			return nil, keyErrorf(ParamResidualType, "rvq stage %d is %s with %d stages, it must be a single-stage type",
				i, s.Name(), s.Stages())
		}
		if s.CodebookSize() != stages[0].CodebookSize() {
			return nil, keyErrorf(ParamResidualType, "rvq stages have different codebook sizes: %s and %s", stages[0].Name(), s.Name())
		}
		if st, ok := s.(residualStager); ok {
			s = st.atResidualStage(i)
		}
		r.stages[i] = s
		_, ok := s.(DataInitializer)
		allInit = allInit && ok
	}
	if allInit {
		return &residualWithInit{r}, nil
	}
	return r, nil
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
// "stage_00", "stage_01", ... of the quantizer's scope. Learned codebooks (vq, ema_vq, simvq)
// follow the shrinking residuals by themselves; a fixed grid does not, so stage i of an LFQ
// stack works at the scale 2^{−i} (see [LFQ]), and a stack of FSQ stages is the residual FSQ
// of [FSQ] (scales L^{−i}), not a Residual.
//
// Gradients: the output is z + sg(Σ q_i − z) + Σ_i (e_i − sg(e_i)) with e_i = Quantized_i − r_i,
// which has the value Σ q_i, the identity gradient to z (straight-through, exactly so for
// stages whose own output is straight-through, such as vq and simvq), and keeps whatever
// gradient a stage's output has beyond the identity (FSQ's tanh and projections).
//
// Codes: Output.Codes.Stages holds the S stage codes c_i ∈ [0, K); side information of stage i
// is kept under "stage_0i_<name>". Output.Index combines the stage codes in mixed radix, stage 0
// least significant, Index = Σ_i c_i·K^i, when K^S ≤ 2³¹ so that this fits int32. A deeper
// stack (e.g. the default K=1024, S=4) cannot be told apart in one int32: then Index holds the
// stage-0 codes (the coarsest cell) and [Residual.IndexCombined] is false. Index is nil when a
// stage's is.
//
// Rate: Output.Bits is the sum of the stages' (S·log2 K for fixed-rate stages).
//
// Stats: each stage's stats prefixed "stage_00_", ..., the RMS of the residual left after each
// stage as "stage_00_residual_rms", ..., and StatCodePerplexity and StatUsedCodes averaged over
// the stages that report them.
//
// When the stages are [DataInitializer]s (e.g. ema_vq with its k-means), the stack is one too:
// it initialises stage i from the residuals r_i of the already initialised stages 0…i−1.
type Residual struct {
	stages []Quantizer
}

// StageQuantizers returns the quantizers of the stages, in order.
func (r *Residual) StageQuantizers() []Quantizer { return append([]Quantizer(nil), r.stages...) }

// IndexCombined reports whether Output.Index identifies the choice of all stages (K^S ≤ 2³¹);
// otherwise it holds only the stage-0 codes.
func (r *Residual) IndexCombined() bool { return indexFits(r.CodebookSize(), len(r.stages)) }

// stageFormat names the sub-scope of stage i and prefixes its stats and side information.
const stageFormat = "stage_%02d"

// Quantize implements Quantizer.
func (r *Residual) Quantize(scope *model.Scope, z *graph.Node) Output {
	return r.QuantizeKeeping(scope, z, nil)
}

// QuantizeKeeping implements [StageDropper]: every stage quantizes, reports its codes, loss and
// stats as in Quantize, but the output holds only the stages i < keep of each latent vector:
//
//	m_i = [i < keep],  output m₀·(z + sg(Σ_i m_i q_i − z)) + Σ_i m_i (e_i − sg(e_i)),
//
// so a vector that keeps no stage outputs 0 with no gradient. keep nil keeps every stage.
func (r *Residual) QuantizeKeeping(scope *model.Scope, z, keep *graph.Node) Output {
	residual := z
	var sum, extra, loss, bits *graph.Node
	out := Output{Codes: Codes{Side: map[string]*graph.Node{}}, Stats: map[string]*graph.Node{}}
	var sumPerplexity, sumUsed *graph.Node
	var stageIndices []*graph.Node
	numPerplexity, numUsed := 0, 0
	for i, stage := range r.stages {
		name := fmt.Sprintf(stageFormat, i)
		so := stage.Quantize(scope.In(stageFormat, i), residual)
		q := graph.StopGradient(so.Quantized)
		e := graph.Sub(so.Quantized, residual)
		e = graph.Sub(e, graph.StopGradient(e))
		residual = graph.Sub(residual, q)
		if keep != nil {
			m := keptMask(keep, z, i)
			q, e = graph.Mul(q, m), graph.Mul(e, m)
		}
		if i == 0 {
			sum, extra, loss, bits = q, e, so.Loss, so.Bits
		} else {
			sum, extra, loss, bits = graph.Add(sum, q), graph.Add(extra, e), graph.Add(loss, so.Loss), graph.Add(bits, so.Bits)
		}
		out.Codes.Stages = append(out.Codes.Stages, so.Codes.Stages...)
		if so.Index != nil {
			stageIndices = append(stageIndices, so.Index)
		}
		for sideName, v := range so.Codes.Side {
			out.Codes.Side[name+"_"+sideName] = v
		}
		for statName, v := range so.Stats {
			out.Stats[name+"_"+statName] = v
		}
		out.Stats[name+"_residual_rms"] = rms(residual)
		if p, ok := so.Stats[StatCodePerplexity]; ok {
			sumPerplexity = addOrSet(sumPerplexity, p)
			numPerplexity++
		}
		if u, ok := so.Stats[StatUsedCodes]; ok {
			sumUsed = addOrSet(sumUsed, u)
			numUsed++
		}
	}
	if sumPerplexity != nil {
		out.Stats[StatCodePerplexity] = graph.DivScalar(sumPerplexity, float64(numPerplexity))
	}
	if sumUsed != nil {
		out.Stats[StatUsedCodes] = graph.DivScalar(sumUsed, float64(numUsed))
	}
	through := straightThrough(z, sum)
	if keep != nil {
		through = graph.Mul(through, keptMask(keep, z, 0))
	}
	out.Quantized = graph.Add(through, extra)
	if len(stageIndices) == len(r.stages) {
		out.Index = combinedIndex(stageIndices, r.CodebookSize())
	}
	out.Bits = bits
	out.Loss = loss
	return out
}

func addOrSet(sum, x *graph.Node) *graph.Node {
	if sum == nil {
		return x
	}
	return graph.Add(sum, x)
}

// Decode implements Decoder: Σ_i stage_i.Decode(c_i, side information of stage i). Every
// stage must be a Decoder.
func (r *Residual) Decode(scope *model.Scope, codes Codes) *graph.Node {
	checkCodes(codes, len(r.stages))
	var sum *graph.Node
	for i, stage := range r.stages {
		dec, ok := stage.(Decoder)
		if !ok {
			exceptions.Panicf("vq: rvq cannot decode: its stage %s has no Decode (%s)", stage.Name(), ParamResidualType)
		}
		prefix := fmt.Sprintf(stageFormat, i) + "_"
		side := map[string]*graph.Node{}
		for name, v := range codes.Side {
			if rest, ok := strings.CutPrefix(name, prefix); ok {
				side[rest] = v
			}
		}
		stageCodes := Codes{Stages: codes.Stages[i : i+1], Side: side}
		sum = addOrSet(sum, dec.Decode(scope.At(stageFormat, i), stageCodes))
	}
	return sum
}

// CodebookSize implements Quantizer: K of one stage.
func (r *Residual) CodebookSize() int { return r.stages[0].CodebookSize() }

// Stages implements Quantizer: S.
func (r *Residual) Stages() int { return len(r.stages) }

// Scheme implements Quantizer: method rvq, the data type and codebook of a stage, S stages
// whose bits add up.
func (r *Residual) Scheme() scheme.Scheme {
	s := r.stages[0].Scheme()
	s.Method, s.Stages = "rvq", len(r.stages)
	s.Bits = 0
	for _, st := range r.stages {
		s.Bits += st.Scheme().Bits
	}
	return s
}

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
