package quant

import (
	"errors"
	"fmt"

	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/quant/scheme"
)

// maxGroupSize bounds ptq_group_size: far above any layer's width.
const maxGroupSize = 1 << 14

// Hyperparameters of post-training weight quantization, for any model of the zoo whose
// calibration quantizes its linear layers with this package (models/llama does, once, on the
// base weights of every linear layer of its blocks).
const (
	// ParamPTQ is the weight quantizer: "rtn", "nf4", "squeezellm", "float", "nf" or "none".
	// Default "none".
	ParamPTQ = "ptq"
	// ParamPTQBits is the code width (rtn: 2..16; squeezellm, nf: 2..8; float: 3..8 or 16;
	// nf4: 4, the key ignored). Default 4.
	ParamPTQBits = "ptq_bits"
	// ParamPTQExponent is float's exponent bits E (mantissa ptq_bits−1−E); 0: E5M10 at 16
	// bits, else ⌊ptq_bits/2⌋ (E2M1, E3M2, E4M3 at 4, 6, 8 bits). Default 0.
	ParamPTQExponent = "ptq_exponent_bits"
	// ParamPTQGroupSize is the weights per scale, absmax or LUT: input columns within a row
	// up to the row's width, consecutive weights of the flattened matrix beyond it (0: a whole
	// row; nf4: block 64).
	ParamPTQGroupSize = "ptq_group_size"
	// ParamPTQSymmetric selects symmetric rtn. Default false.
	ParamPTQSymmetric = "ptq_symmetric"
	// ParamPTQDoubleQuant quantizes nf4's block scales to 8 bits (QLoRA). Default false.
	ParamPTQDoubleQuant = "ptq_double_quant"
	// ParamPTQOutliers is the fraction of weights kept sparse in fp32 (SqueezeLLM's
	// dense-and-sparse). Default 0.
	ParamPTQOutliers = "ptq_outliers"
	// ParamPTQHadamard rotates each weight's input axis with a random Hadamard transform
	// before quantizing (QuaRot). Default false.
	ParamPTQHadamard = "ptq_hadamard"
	// ParamPTQCalibration is the number of training batches whose per-sequence squared
	// gradients estimate the diagonal Fisher information (squeezellm weighting and the
	// sensitivity of bit allocation). Default 4.
	ParamPTQCalibration = "ptq_calibration_batches"
	// ParamPTQBudget is the average bits per linear weight (scales, LUTs and outliers
	// included) that layer-wise mixed precision must meet: each layer's code width is chosen
	// from 2, 3, 4, 6 and 8 to minimise the summed Fisher-weighted error (0: every layer at
	// ptq_bits). Default 0.
	ParamPTQBudget = "ptq_budget_bits"
)

// Params lists the post-training quantization hyperparameters (the ptq_* keys).
var Params = hparams.List{
	{Key: ParamPTQ, Default: "none", Domain: hparams.OneOf("none", MethodRTN, MethodNF4, MethodSqueezeLLM, MethodFloat, MethodNF), Doc: "post-training weight quantizer of the linear layers: none, rtn, nf4, squeezellm, float (exponent/mantissa) or nf (NormalFloat-k)"},
	{Key: ParamPTQBits, Default: 4, Domain: hparams.Range(MinBits, MaxRTNBits), Doc: "code bits (rtn 2..16; squeezellm, nf 2..8; float 3..8 or 16; nf4: 4)"},
	{Key: ParamPTQExponent, Default: 0, Domain: hparams.Range(0, MaxFloatExponent), Doc: "float: exponent bits of the format (0: e5m10 at 16 bits, else ptq_bits/2: e2m1, e3m2, e4m3)"},
	{Key: ParamPTQGroupSize, Default: 0, Domain: hparams.Range(0, maxGroupSize), Doc: "weights per scale or lookup table: input columns of a row, or flattened weights when wider than a row (0: one per output row; nf4: 64)"},
	{Key: ParamPTQSymmetric, Default: false, Doc: "symmetric rtn (no zero point)"},
	{Key: ParamPTQDoubleQuant, Default: false, Doc: "nf4: quantize the block scales to 8 bits (QLoRA's double quantization)"},
	{Key: ParamPTQOutliers, Default: 0.0, Domain: hparams.Range(0.0, MaxOutlierFraction), Doc: "fraction of weights kept exactly in a sparse fp32 matrix (dense-and-sparse)"},
	{Key: ParamPTQHadamard, Default: false, Doc: "rotate each weight's input axis by a random Hadamard transform before quantizing"},
	{Key: ParamPTQCalibration, Default: 4, Domain: hparams.Range(1, 1<<16), Doc: "training batches of per-sequence squared gradients for the Fisher information"},
	{Key: ParamPTQBudget, Default: 0.0, Domain: hparams.Range(0.0, 32.0), Doc: "average bits per linear weight for layer-wise mixed precision over 2/3/4/6/8 bits (0: ptq_bits everywhere)"},
}

// AllocationBits are the code widths layer-wise bit allocation (ptq_budget_bits) chooses
// from.
var AllocationBits = []int{2, 3, 4, 6, 8}

// CommonKeys are the ptq_* keys of the settings common to every quantizer family.
var CommonKeys = scheme.Keys{Bits: ParamPTQBits, Block: ParamPTQGroupSize, Symmetric: ParamPTQSymmetric}

// SpecFromParams is the quantizer the ptq_* keys of a resolved config describe, at bits
// (ignored by nf4, whose width is fixed).
func SpecFromParams(params map[string]any, bits int) Spec {
	common := CommonKeys.Read(params)
	s := Spec{Method: params[ParamPTQ].(string), Bits: bits, Exponent: params[ParamPTQExponent].(int), GroupSize: common.Block,
		Symmetric: common.Symmetric, DoubleQuant: params[ParamPTQDoubleQuant].(bool),
		OutlierFraction: params[ParamPTQOutliers].(float64), Hadamard: params[ParamPTQHadamard].(bool), Seed: 1}
	if s.Method == MethodNF4 {
		s.Bits = 0
	}
	return s
}

// ValidateParams checks the combinations of ptq_* keys a single key's domain cannot: a bit
// budget needs a quantizer with several widths (not nf4) that has every width of
// [AllocationBits] (not float), and the spec must be valid (ptq_bits within the method's
// widths, ptq_exponent_bits only for float and within its width, ...). Errors name the
// key.
func ValidateParams(params map[string]any) error {
	method := params[ParamPTQ].(string)
	budget := params[ParamPTQBudget].(float64)
	if method == "none" {
		if budget != 0 {
			return fmt.Errorf("key %q needs %s", ParamPTQBudget, ParamPTQ)
		}
		return nil
	}
	if budget > 0 && method == MethodNF4 {
		return fmt.Errorf("key %q: nf4 has a single code width; use rtn, nf or squeezellm", ParamPTQBudget)
	}
	if budget > 0 && method == MethodFloat {
		return fmt.Errorf("key %q: float has no 2-bit format to allocate; use rtn, nf or squeezellm", ParamPTQBudget)
	}
	if err := SpecFromParams(params, params[ParamPTQBits].(int)).Validate(); err != nil {
		var se *SpecError
		if errors.As(err, &se) {
			if key, ok := specKeys[se.Field]; ok {
				return fmt.Errorf("key %q: %w", key, err)
			}
		}
		return fmt.Errorf("keys ptq_*: %w", err)
	}
	return nil
}

// specKeys is the ptq_* key of each [Spec] field.
var specKeys = map[string]string{"Method": ParamPTQ, "Bits": ParamPTQBits, "Exponent": ParamPTQExponent,
	"GroupSize": ParamPTQGroupSize, "Symmetric": ParamPTQSymmetric, "DoubleQuant": ParamPTQDoubleQuant,
	"OutlierFraction": ParamPTQOutliers}
