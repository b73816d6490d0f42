package llama

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/qat"
	"github.com/qzoo/qzoo/quant"
	"github.com/qzoo/qzoo/quant/scheme"
)

// Metrics of the model's size, reported with the perplexity.
const (
	MetricModelBits           = "model_bits"             // storage of the whole model, bits (see [Size])
	MetricBitsPerParameter    = "bits_per_parameter"     // model_bits / the base model's parameters
	MetricLinearBitsPerWeight = "linear_bits_per_weight" // storage of the blocks' linear layers per weight
	MetricTrainableParams     = "trainable_params"       // parameters training updates
)

// ModelSize is the storage of a model as deployed, in the terms of [scheme.Storage].
type ModelSize struct {
	// Linear is the blocks' linear weights as stored (Values: their count).
	Linear scheme.Storage
	// Float is every other base parameter (embedding, the classifier when stored apart from
	// it, RMSNorm gains) at 32 bits, as FullPrecision.
	Float scheme.Storage
	// Adapters are LoRA adapters kept apart from a quantized base, at 32 bits (FullPrecision).
	Adapters scheme.Storage
	// ActivationSteps are LSQ's learned activation steps, fp32 constants of the model (Shared).
	ActivationSteps scheme.Storage

	TotalBits       int64 // scheme.TotalBits of the parts above ([ModelSize.Parts])
	LinearBits      int64 // Linear's total
	LinearWeights   int64
	BaseParams      int64 // parameters of the base model (the tied classifier once)
	TrainableParams int64
}

// Parts are the storages whose [scheme.TotalBits] is TotalBits.
func (s ModelSize) Parts() []scheme.Storage {
	return []scheme.Storage{s.Linear, s.Float, s.Adapters, s.ActivationSteps}
}

// Size counts the bits of the model a store holds: the embedding, the classifier when stored
// apart from it, and the RMSNorm gains at 32 bits; the blocks' linear weights at 32 bits, or
// as quantized by Calibrate (codes, scales, zero points, lookup tables and outliers:
// [quant.Spec.Storage] of every layer at the width Calibrate gave it), or, under qat, in the
// format the fake quantizer stands for ([qat.Settings.Storage] of [QATSettings]: b-bit codes
// with an fp16 scale, plus a b-bit zero point when asymmetric, per group); LoRA adapters on a
// quantized base (QLoRA, LQ-LoRA) at 32 bits, since merging them would undo the
// quantization, while adapters on a float base or under qat are merged into the weights and
// cost nothing more. LSQ's step sizes are the scales already counted; its activation steps
// are counted at 32 bits. TotalBits is [scheme.TotalBits] of the parts. Trainable parameters
// follow [Trainable] and the freeze regexp. The frozen teacher of quantized distillation
// (qat_distill, under framework.TeacherScope) is not counted.
//
// The stored quantization/linear_bits stay the authority on the quantized layers' total:
// when the layers' storages do not add up to it — a mixed-precision checkpoint written
// before Calibrate recorded each layer's width (quantization/linear_code_bits) — the total is
// counted as Codes, undivided.
func Size(store *model.Store, params map[string]any, freeze string) (ModelSize, error) {
	c := ConfigFromParams(params)
	c.Shared = ConfigOfStore(store).Shared
	var s ModelSize
	s.BaseParams = int64(c.NumParams())
	s.LinearWeights = int64(c.LinearParams())
	s.Float = scheme.Unquantized(s.BaseParams-s.LinearWeights, 32)
	ptq := params[quant.ParamPTQ].(string) != "none"
	switch {
	case ptq:
		linear, err := ptqStorage(store, params, c)
		if err != nil {
			return s, err
		}
		s.Linear = linear
	case params[ParamQAT].(string) != "none":
		settings := QATSettings(params)
		for _, name := range LinearNames {
			o, i := c.LinearShape(name)
			st, err := settings.Storage(o, i)
			if err != nil {
				return s, fmt.Errorf("llama: keys qat_*: %w", err)
			}
			s.Linear = s.Linear.Add(st.Scale(int64(c.Layers)))
		}
	default:
		s.Linear = scheme.Unquantized(s.LinearWeights, 32)
	}
	var freezeRe *regexp.Regexp
	if freeze != "" {
		var err error
		if freezeRe, err = regexp.Compile(freeze); err != nil {
			return s, fmt.Errorf("llama: freeze: %w", err)
		}
	}
	for v := range store.IterVariables() {
		if strings.HasPrefix(v.Path(), "/"+framework.TeacherScope+"/") {
			continue // a distilling student's frozen teacher is not part of the model
		}
		name := v.Name()
		size := int64(v.Shape().Size())
		switch name {
		case VarWeight, VarBias, qat.LoRAAVar, qat.LoRABVar, qat.LSQStepVar, qat.LSQActivationStepVar:
		default:
			continue
		}
		if (name == qat.LoRAAVar || name == qat.LoRABVar) && ptq {
			s.Adapters = s.Adapters.Add(scheme.Unquantized(size, 32))
		}
		if name == qat.LSQActivationStepVar {
			s.ActivationSteps.Shared += float64(32 * size)
		}
		if Trainable(v.Path(), params) && (freezeRe == nil || !freezeRe.MatchString(v.Path())) {
			s.TrainableParams += size
		}
	}
	s.LinearBits = int64(s.Linear.Total())
	s.TotalBits = int64(scheme.TotalBits(s.Parts()...))
	return s, nil
}

// QATCommonKeys are the qat_* keys of the settings common to every quantizer family.
var QATCommonKeys = scheme.Keys{Bits: ParamQATBits, Block: ParamQATGroupSize, Symmetric: ParamQATSymmetric}

// QATSettings are the fake quantizer the qat_* keys of a resolved config describe.
func QATSettings(params map[string]any) qat.Settings {
	common := QATCommonKeys.Read(params)
	return qat.Settings{Method: params[ParamQAT].(string), Bits: common.Bits, GroupSize: common.Block, Symmetric: common.Symmetric}
}

// ptqStorage is the storage of the linear weights Calibrate quantized: the sum of every
// layer's [quant.Spec.Storage] at its width (quantization/linear_code_bits, or ptq_bits
// everywhere without a bit budget) when it equals the stored quantization/linear_bits, else
// the stored bits as Codes.
func ptqStorage(store *model.Store, params map[string]any, c Config) (scheme.Storage, error) {
	scope := store.RootScope().In("quantization")
	v := scope.GetVariable(VarLinearBits)
	if v == nil {
		return scheme.Storage{}, fmt.Errorf("llama: %s=%s but the store holds no quantization/%s (not calibrated?)", quant.ParamPTQ, params[quant.ParamPTQ], VarLinearBits)
	}
	stored := int64(tensors.ToScalar[float64](v.MustValue()))
	unattributed := scheme.Storage{Values: int64(c.LinearParams()), Codes: float64(stored)}
	var widths []int32
	if w := scope.GetVariable(VarLinearCodeBits); w != nil {
		widths = tensors.MustCopyFlatData[int32](w.MustValue())
	} else if params[quant.ParamPTQBudget].(float64) == 0 {
		widths = make([]int32, c.Layers*len(LinearNames))
		for i := range widths {
			widths[i] = int32(params[quant.ParamPTQBits].(int))
		}
	}
	if len(widths) != c.Layers*len(LinearNames) {
		return unattributed, nil
	}
	var st scheme.Storage
	for i := range c.Layers {
		for j, name := range LinearNames {
			o, in := c.LinearShape(name)
			st = st.Add(quant.SpecFromParams(params, int(widths[i*len(LinearNames)+j])).Storage(o, in))
		}
	}
	if int64(st.Total()) != stored {
		return unattributed, nil
	}
	return st, nil
}
