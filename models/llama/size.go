package llama

import (
	"fmt"
	"regexp"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/layers/qat"
	"github.com/qzoo/qzoo/quant"
)

// Metrics of the model's size, reported with the perplexity.
const (
	MetricModelBits           = "model_bits"             // storage of the whole model, bits (see [Size])
	MetricBitsPerParameter    = "bits_per_parameter"     // model_bits / the base model's parameters
	MetricLinearBitsPerWeight = "linear_bits_per_weight" // storage of the blocks' linear layers per weight
	MetricTrainableParams     = "trainable_params"       // parameters training updates
)

// ModelSize is the storage of a model as deployed.
type ModelSize struct {
	TotalBits       int64 // everything: LinearBits + 32 bits per other parameter (embedding, norms, adapters kept apart)
	LinearBits      int64 // the blocks' linear weights as stored
	LinearWeights   int64
	BaseParams      int64 // parameters of the base model (the tied classifier once)
	TrainableParams int64
}

// Size counts the bits of the model a store holds: the embedding, the classifier when stored
// apart from it, and the RMSNorm gains at 32 bits; the blocks' linear weights at 32 bits, or
// as quantized by Calibrate (codes, scales, zero points, lookup tables and outliers, from
// package quant), or, under qat, in the format the fake quantizer stands for (b-bit codes
// with an fp16 scale, plus a b-bit zero point when asymmetric, per group); LoRA adapters on a
// quantized base (QLoRA, LQ-LoRA) at 32 bits, since merging them would undo the
// quantization, while adapters on a float base or under qat are merged into the weights and
// cost nothing more. LSQ's step sizes are the scales already counted. Trainable parameters
// follow [Trainable] and the freeze regexp.
func Size(store *model.Store, params map[string]any, freeze string) (ModelSize, error) {
	c := ConfigFromParams(func(key string) int { return params[key].(int) })
	c.Shared = ConfigOfStore(store).Shared
	var s ModelSize
	s.BaseParams = int64(c.NumParams())
	s.LinearWeights = int64(c.LinearParams())
	other := s.BaseParams - s.LinearWeights
	ptq := params[quant.ParamPTQ].(string) != "none"
	switch {
	case ptq:
		v := store.RootScope().In("quantization").GetVariable(VarLinearBits)
		if v == nil {
			return s, fmt.Errorf("llama: %s=%s but the store holds no quantization/%s (not calibrated?)", quant.ParamPTQ, params[quant.ParamPTQ], VarLinearBits)
		}
		s.LinearBits = int64(tensors.ToScalar[float64](v.MustValue()))
	case params[ParamQAT].(string) != "none":
		spec := quant.Spec{Method: quant.MethodRTN, Bits: params[ParamQATBits].(int), GroupSize: params[ParamQATGroupSize].(int),
			Symmetric: params[ParamQAT] == "lsq" || params[ParamQATSymmetric].(bool)}
		for _, name := range LinearNames {
			o, i := c.LinearShape(name)
			q, err := quant.Quantize(make([]float32, o*i), o, i, spec, nil)
			if err != nil {
				return s, err
			}
			s.LinearBits += int64(c.Layers) * q.Bits()
		}
	default:
		s.LinearBits = 32 * s.LinearWeights
	}
	s.TotalBits = s.LinearBits + 32*other
	var freezeRe *regexp.Regexp
	if freeze != "" {
		var err error
		if freezeRe, err = regexp.Compile(freeze); err != nil {
			return s, fmt.Errorf("llama: freeze: %w", err)
		}
	}
	for v := range store.IterVariables() {
		name := v.Name()
		size := int64(v.Shape().Size())
		switch name {
		case VarWeight, qat.LoRAAVar, qat.LoRABVar, qat.LSQStepVar, qat.LSQActivationStepVar:
		default:
			continue
		}
		if (name == qat.LoRAAVar || name == qat.LoRABVar) && ptq {
			s.TotalBits += 32 * size
		}
		if name == qat.LSQActivationStepVar {
			s.TotalBits += 32 * size
		}
		if Trainable(v.Path(), params) && (freezeRe == nil || !freezeRe.MatchString(v.Path())) {
			s.TrainableParams += size
		}
	}
	return s, nil
}
