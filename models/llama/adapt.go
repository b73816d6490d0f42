package llama

import (
	"fmt"
	"regexp"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/layers/linear"
	"github.com/qzoo/qzoo/layers/qat"
)

// Hyperparameters of the adapters and of quantization-aware training, applied by [Linear] to
// every linear layer of the blocks (wq, wk, wv, wo, w1, w2, w3). The token embedding (also the
// classifier) and the RMSNorm gains stay in float32.
const (
	// ParamLoRARank is r of LoRA (Hu et al. 2021; [qat.LoRA]): W ← W + (α/r)·B·A with A
	// [r, in] random and B [out, r] zero at the start (variables lora_a, lora_b), the base W
	// frozen. 0: no adapter. Default 0 (int).
	ParamLoRARank = "lora_rank"
	// ParamLoRAAlpha is α of LoRA. Default 16 (float).
	ParamLoRAAlpha = "lora_alpha"
	// ParamLoRATargets is a regexp matched (whole) against the linear layers' names. Default
	// "wq|wk|wv|wo|w1|w2|w3" (string).
	ParamLoRATargets = "lora_targets"
	// ParamQAT fake-quantizes the (adapted) weights in the forward pass: "ste" (round to
	// nearest from the weights' own range, straight-through gradient; Bengio et al. 2013) or
	// "lsq" (learned step sizes; Esser et al. 2020). Default "none" (string).
	ParamQAT = "qat"
	// ParamQATBits is the weights' bits under qat. Default 4 (int).
	ParamQATBits = "qat_bits"
	// ParamQATGroupSize is the input columns sharing one scale under qat (0: a whole row).
	// Default 0 (int).
	ParamQATGroupSize = "qat_group_size"
	// ParamQATSymmetric selects symmetric (signed, scale only) fake quantization; "lsq" is
	// always symmetric. Default true (bool).
	ParamQATSymmetric = "qat_symmetric"
	// ParamQATActivationBits fake-quantizes every linear layer's input with LSQ at this many
	// bits (0: off). Default 0 (int).
	ParamQATActivationBits = "qat_activation_bits"
	// ParamQATDistill trains under qat by quantized distillation (Polino, Pascanu & Alistarh
	// 2018, §3; [DistillationLoss]): "kl", the KL divergence from the frozen full-precision
	// teacher's softened distribution over the whole vocabulary, or "topk_kl", over the
	// teacher's k most probable tokens and the rest as one bucket (TopKLD-style; Ding et al.
	// 2025). The teacher is the config's teacher_from (a llama2.c file or a llama run
	// directory), then required. Default "none" (string).
	ParamQATDistill = "qat_distill"
	// ParamQATDistillWeight is w in L = (1−w)·CE + w·T²·KL. Default 0.5 (float).
	ParamQATDistillWeight = "qat_distill_weight"
	// ParamQATDistillTemperature is T, the softmax temperature of both distributions in the
	// KL term. Default 1 (float).
	ParamQATDistillTemperature = "qat_distill_temperature"
	// ParamQATDistillTopK is k of qat_distill=topk_kl. Default 16 (int).
	ParamQATDistillTopK = "qat_distill_topk"
	// ParamLQLoRAIterations initialises LoRA as LQ-LoRA does (Guo et al. 2024, Algorithm 1):
	// alternately Q = quant(W − L₁L₂) and L₁L₂ = SVD_r(W − Q), at most this many rounds,
	// stopping when ‖W − Q − L₁L₂‖ rises; needs ptq and lora_rank > 0. 0: off. Default 0.
	ParamLQLoRAIterations = "lqlora_iterations"
)

// AdapterParams lists the adapter (LoRA, LQ-LoRA's initialisation) and QAT hyperparameters.
var AdapterParams = hparams.List{
	{Key: ParamLoRARank, Default: 0, Domain: hparams.Range(0, 4096), Doc: "LoRA rank r (0: no adapter); the base weights are then frozen"},
	{Key: ParamLoRAAlpha, Default: 16.0, Domain: hparams.Positive(), Doc: "LoRA α: the adapter adds (α/r)·B·A"},
	{Key: ParamLoRATargets, Default: "wq|wk|wv|wo|w1|w2|w3", Doc: "regexp of the linear layers that get adapters"},
	{Key: ParamQAT, Default: "none", Domain: hparams.OneOf("none", "ste", "lsq"), Doc: "quantization-aware training of the weights: none, ste (round-to-nearest + straight-through) or lsq (learned step size)"},
	{Key: ParamQATBits, Default: 4, Domain: hparams.Range(2, 8), Doc: "bits of the fake-quantized weights"},
	{Key: ParamQATGroupSize, Default: 0, Domain: hparams.Range(0, llama2c.MaxDim), Doc: "input columns per scale under qat (0: one scale per output row)"},
	{Key: ParamQATSymmetric, Default: true, Doc: "symmetric fake quantization (ste; lsq is always symmetric)"},
	{Key: ParamLQLoRAIterations, Default: 0, Domain: hparams.Range(0, 100), Doc: "LQ-LoRA initialisation rounds (needs ptq and lora_rank > 0; 0: off)"},
	{Key: ParamQATActivationBits, Default: 0, Domain: hparams.Range(0, 8), Doc: "LSQ bits of every linear layer's input, 2..8 (0: full precision)"},
	{Key: ParamQATDistill, Default: "none", Domain: hparams.OneOf(DistillNone, DistillKL, DistillTopKKL), Doc: "quantized distillation under qat from the frozen teacher_from: none, kl (full-vocabulary KL) or topk_kl (the teacher's top k tokens + the rest as one bucket)"},
	{Key: ParamQATDistillWeight, Default: 0.5, Domain: hparams.Probability(), Doc: "w of the distillation loss (1−w)·CE + w·T²·KL, in [0, 1]"},
	{Key: ParamQATDistillTemperature, Default: 1.0, Domain: hparams.Positive(), Doc: "T > 0: softmax temperature of teacher and student in the KL term"},
	{Key: ParamQATDistillTopK, Default: 16, Domain: hparams.Range(1, llama2c.MaxVocab), Doc: "k ≥ 1 of qat_distill=topk_kl: the teacher's most probable tokens kept apart"},
}

// adapters is the adapter and QAT configuration read from a scope's hyperparameters.
type adapters struct {
	loraRank       int
	loraAlpha      float64
	loraTargets    *regexp.Regexp
	qat            string
	qatBits        int
	qatGroup       int
	qatSymmetric   bool
	activationBits int
}

func adaptersOf(scope *model.Scope) adapters {
	a := adapters{
		loraRank:       hparams.Get[int](scope, AdapterParams, ParamLoRARank),
		loraAlpha:      hparams.Get[float64](scope, AdapterParams, ParamLoRAAlpha),
		qat:            hparams.Get[string](scope, AdapterParams, ParamQAT),
		qatBits:        hparams.Get[int](scope, AdapterParams, ParamQATBits),
		qatGroup:       hparams.Get[int](scope, AdapterParams, ParamQATGroupSize),
		qatSymmetric:   hparams.Get[bool](scope, AdapterParams, ParamQATSymmetric),
		activationBits: hparams.Get[int](scope, AdapterParams, ParamQATActivationBits),
	}
	targets := hparams.Get[string](scope, AdapterParams, ParamLoRATargets)
	re, err := regexp.Compile("^(?:" + targets + ")$")
	if err != nil {
		panic(fmt.Sprintf("llama: %s=%q: %v", ParamLoRATargets, targets, err))
	}
	a.loraTargets = re
	return a
}

// layerName is the last element of a linear layer's scope ("wq", "w2", …).
func layerName(scope *model.Scope) string {
	path := scope.Scope()
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}

// Linear is y = x·Wᵀ for x [..., in] and the linear layer of scope, whose weight is
// [EffectiveWeight]; under qat_activation_bits, x is LSQ-quantized first.
func Linear(scope *model.Scope, x *graph.Node, out int) *graph.Node {
	in := x.Shape().Dimensions[x.Rank()-1]
	a := adaptersOf(scope)
	if a.activationBits > 0 {
		x = qat.LSQActivation(scope.In("lsq_input"), x, a.activationBits)
	}
	w := EffectiveWeight(scope, x.Graph(), out, in)
	return linear.New(scope, x, out).Layout(linear.OutIn).Weight(w).UseBias(false).Done()
}

// EffectiveWeight is the weight [out, in] the linear layer of scope computes with: the base
// variable "weight", plus the LoRA update (α/r)·B·A when the layer is a LoRA target, then
// fake-quantized under qat (so QA-LoRA, in EfficientDM's form, is lora_rank > 0 with
// qat=lsq: the adapter merged into the weights before quantization with learned scales).
func EffectiveWeight(scope *model.Scope, g *graph.Graph, out, in int) *graph.Node {
	a := adaptersOf(scope)
	w := scope.VariableWithShape(VarWeight, shapes.Make(dtypes.Float32, out, in)).NodeValue(g)
	if a.loraRank > 0 && a.loraTargets.MatchString(layerName(scope)) {
		w = graph.Add(w, qat.LoRA(scope, g, out, in, a.loraRank, a.loraAlpha))
	}
	switch a.qat {
	case "ste":
		w = qat.FakeQuant(w, a.qatBits, a.qatGroup, a.qatSymmetric)
	case "lsq":
		w = qat.LSQ(scope.In("lsq"), w, a.qatBits, a.qatGroup, true)
	}
	return w
}
