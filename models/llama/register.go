package llama

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/datasets/text"
	"github.com/qzoo/qzoo/formats/hf"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/kvcache"
	"github.com/qzoo/qzoo/layers/position"
	"github.com/qzoo/qzoo/layers/qat"
	"github.com/qzoo/qzoo/quant"
)

// Params lists the architecture's hyperparameters (defaults: stories260K).
var Params = hparams.List{
	{Key: ParamDim, Default: Stories260K.Dim, Domain: hparams.Range(2, llama2c.MaxDim), Doc: "d: model width"},
	{Key: ParamHiddenDim, Default: Stories260K.HiddenDim, Domain: hparams.Range(1, 8*llama2c.MaxDim), Doc: "SwiGLU hidden width"},
	{Key: ParamLayers, Default: Stories260K.Layers, Domain: hparams.Range(1, llama2c.MaxLayers), Doc: "transformer blocks"},
	{Key: ParamHeads, Default: Stories260K.Heads, Domain: hparams.Range(1, llama2c.MaxDim), Doc: "query heads (divides llama_dim)"},
	{Key: ParamKVHeads, Default: Stories260K.KVHeads, Domain: hparams.Range(1, llama2c.MaxDim), Doc: "key/value heads (divides llama_heads; fewer: grouped-query attention)"},
	{Key: ParamVocabSize, Default: Stories260K.VocabSize, Domain: hparams.Range(1, llama2c.MaxVocab), Doc: "vocabulary size: the embedding's rows (the text dataset's text_vocab_size must equal it)"},
	{Key: ParamSeqLen, Default: Stories260K.SeqLen, Domain: hparams.Range(1, llama2c.MaxSeqLen), Doc: "context length (the text dataset's windows, text_seq_len, must fit it)"},
	{Key: ParamRoPETheta, Default: Stories260K.RoPETheta, Domain: hparams.Positive(), Doc: "RoPE base b of the rates θ_i = b^(−2i/h) (llama2.c: 10000; Hugging Face: rope_theta)"},
	{Key: ParamRoPEScaling, Default: RoPEScalingNone, Domain: hparams.OneOf(RoPEScalingNone, position.RoPEScalingLlama3, position.RoPEScalingLinear),
		Doc: "RoPE scaling (Hugging Face: rope_scaling.rope_type): none; llama3 (Llama 3.1/3.2: rates with wavelength 2π/θ_i below llama_rope_original_seq_len/llama_rope_high_freq_factor kept, above llama_rope_original_seq_len/llama_rope_low_freq_factor divided by llama_rope_factor, blended between); linear (every rate divided by llama_rope_factor)"},
	{Key: ParamRoPEFactor, Default: 1.0, Domain: hparams.AtLeast(1), Doc: "RoPE scaling factor, used by llama_rope_scaling linear and llama3 and left at 1 otherwise (Hugging Face: rope_scaling.factor; Llama 3.1: 8, Llama 3.2: 32)"},
	{Key: ParamRoPELowFreqFactor, Default: 1.0, Domain: hparams.Positive(), Doc: "llama3 RoPE scaling: rates with wavelengths above llama_rope_original_seq_len/this are divided by llama_rope_factor (Hugging Face: rope_scaling.low_freq_factor; Meta's 1)"},
	{Key: ParamRoPEHighFreqFactor, Default: 4.0, Domain: hparams.Positive(), Doc: "llama3 RoPE scaling: rates with wavelengths below llama_rope_original_seq_len/this are kept, and it must exceed llama_rope_low_freq_factor (Hugging Face: rope_scaling.high_freq_factor; Meta's 4)"},
	{Key: ParamRoPEOriginalSeqLen, Default: 8192, Domain: hparams.Range(1, hf.MaxPositions), Doc: "llama3 RoPE scaling: the context the rates were pretrained for (Hugging Face: rope_scaling.original_max_position_embeddings; Llama 3: 8192)"},
	{Key: ParamNormEps, Default: Stories260K.NormEps, Domain: hparams.Positive(), Doc: "RMSNorm ε (llama2.c: 1e-5; Hugging Face: rms_norm_eps)"},
	{Key: ParamAttnBias, Default: Stories260K.AttnBias, Doc: "the query, key and value projections add biases (Qwen2)"},
}

// Metrics of the language-model evaluation.
const (
	MetricPerplexity   = "perplexity"     // exp of the mean negative log-likelihood per token
	MetricNLL          = "nll"            // mean negative log-likelihood, nats per token
	MetricBitsPerToken = "bits_per_token" // nll / ln 2
	MetricTokens       = "tokens"         // tokens scored
)

// SampleWindowNLL names the evaluation's per-example samples (framework.EvalContext.RecordSamples):
// each evaluation window's mean negative log-likelihood per target token, nats, in the split's
// order; every window has the same number of target tokens, so their mean is MetricNLL.
const SampleWindowNLL = "nll"

// Stories260KFile and Tok512File are llama2.c's stories260K model and its tokenizer, relative
// to a data directory; LocateData downloads them from Karpathy's tinyllamas when missing.
const (
	Stories260KFile = "weights/stories260K.bin"
	Tok512File      = "weights/tok512.bin"
)

func init() {
	const tinyllamas = "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/"
	framework.RegisterDataFile(framework.DataFile{Path: Stories260KFile, URL: tinyllamas + "stories260K.bin", MaxBytes: 2 << 20,
		SHA256: "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696"})
	framework.RegisterDataFile(framework.DataFile{Path: Tok512File, URL: tinyllamas + "tok512.bin", MaxBytes: 1 << 20,
		SHA256: "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312"})
	framework.Register(&framework.Model{
		Name:    "llama",
		Doc:     "llama2.c's Llama (RMSNorm, interleaved RoPE, GQA, SwiGLU, tied classifier); init_from a llama2.c .bin; under qat_distill, distilled from the frozen teacher_from",
		Dataset: "text",
		Params:  hparams.Merge(Params, AdapterParams, quant.Params, kvcache.Params),
		Build:   buildStudent,
		Loss:    trainingLoss,
		Teacher: "llama", // under qat_distill only (distill.go)
		NeedsTeacher: func(params map[string]any) bool {
			return params[ParamQATDistill].(string) != DistillNone
		},
		Pretrained: Pretrained,
		Calibrate:  Calibrate,
		Trainable:  Trainable,
		Evaluate:   Evaluate,
		Validate: func(params map[string]any) error {
			if err := validateRoPEScaling(params); err != nil {
				return err
			}
			if err := ConfigFromParams(params).Validate(); err != nil {
				return err
			}
			if err := validateText(params); err != nil {
				return err
			}
			if err := validatePTQ(params); err != nil {
				return err
			}
			if err := validateDistill(params); err != nil {
				return err
			}
			return validateKV(params)
		},
	})
}

// validateRoPEScaling checks the llama_rope_scaling keys together (errors name the key): a
// value the type does not use must be at its default (so that a factor set without its type
// is not silently ignored), and llama3 needs llama_rope_low_freq_factor below
// llama_rope_high_freq_factor.
func validateRoPEScaling(params map[string]any) error {
	kind, _ := params[ParamRoPEScaling].(string)
	used := map[string]bool{}
	switch kind {
	case position.RoPEScalingLlama3:
		used[ParamRoPELowFreqFactor], used[ParamRoPEHighFreqFactor], used[ParamRoPEOriginalSeqLen] = true, true, true
		fallthrough
	case position.RoPEScalingLinear:
		used[ParamRoPEFactor] = true
	}
	for _, key := range []string{ParamRoPEFactor, ParamRoPELowFreqFactor, ParamRoPEHighFreqFactor, ParamRoPEOriginalSeqLen} {
		p, _ := Params.Lookup(key)
		if v, ok := params[key]; ok && !used[key] && v != p.Default {
			return fmt.Errorf("key %q is %v but %q is %q, which does not use it (leave it at %v)", key, v, ParamRoPEScaling, kind, p.Default)
		}
	}
	if kind == position.RoPEScalingLlama3 {
		lo, _ := params[ParamRoPELowFreqFactor].(float64)
		hi, _ := params[ParamRoPEHighFreqFactor].(float64)
		if !(hi > lo) {
			return fmt.Errorf("key %q is %g, not above %q (%g)", ParamRoPEHighFreqFactor, hi, ParamRoPELowFreqFactor, lo)
		}
	}
	return nil
}

// validateText checks the model's keys against those of the text dataset, when the config
// has them: llama_vocab_size is the vocabulary's one home (the embedding's rows), and
// text_vocab_size, the pieces the dataset reads from its tokenizer file, must agree with it;
// the windows of text_seq_len tokens must fit the context llama_seq_len.
func validateText(params map[string]any) error {
	if v, ok := params[text.ParamVocabSize].(int); ok && v != params[ParamVocabSize].(int) {
		return fmt.Errorf("keys %q (%d) and %q (%d) disagree: the tokenizer's vocabulary is the model's (set both)",
			text.ParamVocabSize, v, ParamVocabSize, params[ParamVocabSize])
	}
	if l, ok := params[text.ParamSeqLen].(int); ok && l > params[ParamSeqLen].(int) {
		return fmt.Errorf("key %q: windows of %d tokens exceed the context %q=%d", text.ParamSeqLen, l, ParamSeqLen, params[ParamSeqLen])
	}
	return nil
}

// Pretrained fills the store from a llama2.c checkpoint, or from the latest checkpoint of a
// llama run directory with its adapters merged and its fake quantization applied
// ([EffectiveWeights]): e.g. post-training quantization of a fine-tuned model. The
// architecture must match the llama_* keys.
func Pretrained(store *model.Store, path string, params map[string]any) error {
	m, err := Open(path)
	if err != nil {
		return err
	}
	w, err := m.Weights()
	if err != nil {
		return err
	}
	if err := CheckParams(params, w.Config); err != nil {
		return fmt.Errorf("llama: %s: %w", path, err)
	}
	return w.Load(store)
}

// Trainable says which variables training updates: with LoRA (lora_rank > 0) only the
// adapters and LSQ's step sizes, the base model frozen (LoRA, QLoRA, QA-LoRA, LQ-LoRA); with
// ptq and no adapters nothing (a quantized model is evaluated, not trained); otherwise every
// variable (full fine-tuning, QAT).
func Trainable(path string, params map[string]any) bool {
	if strings.HasPrefix(path, "/"+kvScope+"/") {
		return false // the cache quantizer's calibrated constants
	}
	if params[ParamLoRARank].(int) == 0 {
		// Training a post-training-quantized base would leave the quantization grid: a PTQ
		// model trains only through adapters.
		return params[quant.ParamPTQ].(string) == "none"
	}
	name := path[strings.LastIndex(path, "/")+1:]
	return name == qat.LoRAAVar || name == qat.LoRABVar || name == qat.LSQStepVar || name == qat.LSQActivationStepVar
}

// TokenNLL is the negative log-likelihood −log softmax(logits)[label] of each token: logits
// [B, T, V], labels [B, T] int32 → [B, T] nats.
func TokenNLL(logits, labels *graph.Node) *graph.Node {
	logp := graph.LogSoftmax(logits, -1)
	onehot := graph.OneHot(labels, logits.Shape().Dimensions[2], logits.DType())
	return graph.Neg(graph.ReduceSum(graph.Mul(logp, onehot), -1))
}

// Evaluate measures perplexity over the evaluation split: the exact mean negative
// log-likelihood of every target token of its windows (see datasets/text).
//
// With kv_quant set, the windows are instead fed token by token through the quantized
// key/value cache ([KVStepper], the generation path), and the cache's storage is reported:
// kv_bits_per_value (packed storage per cached value, metadata included), kv_bytes_per_token
// (per sequence: all layers, keys and values) and kv_constant_bytes (calibrated constants
// shared by every sequence).
func Evaluate(ctx *framework.EvalContext) (map[string]float64, error) {
	var metrics map[string]float64
	var err error
	if _, ok := kvcache.ConfigFromParams(ctx.Config.Params); ok {
		metrics, err = evaluateKV(ctx)
	} else {
		metrics, err = evaluateForward(ctx)
	}
	if err != nil {
		return nil, err
	}
	size, err := Size(ctx.Store, ctx.Config.Params, ctx.Config.Freeze)
	if err != nil {
		return nil, err
	}
	metrics[MetricModelBits] = float64(size.TotalBits)
	metrics[MetricBitsPerParameter] = float64(size.TotalBits) / float64(size.BaseParams)
	metrics[MetricLinearBitsPerWeight] = float64(size.LinearBits) / float64(size.LinearWeights)
	metrics[MetricTrainableParams] = float64(size.TrainableParams)
	return metrics, nil
}

// nllMetrics are the perplexity metrics of a summed negative log-likelihood over count tokens.
func nllMetrics(sum float64, count int) map[string]float64 {
	nll := sum / float64(count)
	return map[string]float64{MetricPerplexity: math.Exp(nll), MetricNLL: nll,
		MetricBitsPerToken: nll / math.Ln2, MetricTokens: float64(count)}
}

// evaluateForward scores the evaluation windows with full forward passes, and records each
// window's mean negative log-likelihood as the samples SampleWindowNLL (every window has the
// same number of target tokens, so they average to the reported nll).
func evaluateForward(ctx *framework.EvalContext) (map[string]float64, error) {
	batches, err := ctx.Batches()
	if err != nil {
		return nil, err
	}
	exec, err := model.NewExec(ctx.Backend, ctx.Store, func(scope *model.Scope, tokens, labels *graph.Node) *graph.Node {
		return graph.ReduceSum(graph.ConvertDType(TokenNLL(Forward(scope, tokens, nil, nil), labels), dtypes.Float64), -1)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	var sum float64
	var count int
	var windows []float64
	for batch, err := range batches.Iter() {
		if err != nil {
			return nil, err
		}
		if len(batch.Labels) == 0 {
			return nil, fmt.Errorf("llama: evaluation batches carry no target tokens (dataset %q)", ctx.Config.Dataset)
		}
		out, err := exec.Exec(batch.Inputs[0], batch.Labels[0])
		if err != nil {
			return nil, err
		}
		tokens := batch.Labels[0].Shape().Dimensions[1]
		for _, s := range tensors.MustCopyFlatData[float64](out[0]) {
			sum += s
			windows = append(windows, s/float64(tokens))
		}
		count += batch.Labels[0].Shape().Size()
		out[0].FinalizeAll()
		_ = batch.Finalize()
	}
	if count == 0 {
		return nil, fmt.Errorf("llama: evaluation split %q holds no tokens", ctx.Split)
	}
	if err := ctx.RecordSamples(SampleWindowNLL, windows); err != nil {
		return nil, err
	}
	return nllMetrics(sum, count), nil
}
