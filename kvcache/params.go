package kvcache

import (
	"math"
	"strings"

	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/quant/scheme"
)

// Bounds of the channel and token counts the keys accept: far above any model's.
const (
	maxChannels = 1 << 14
	maxTokens   = 1 << 16
)

// Hyperparameters of the key/value cache quantizer, for any transformer of the zoo that
// drives a cache through this package (models/llama does). With kv_quant other than "none",
// a model evaluates token by token through the quantized cache and generates with it.
const (
	// ParamKVQuant is the cache quantizer: none (the model's own fp32 cache, evaluation by a
	// full forward pass), fp32 (the same numbers through the host cache: the reference of
	// every delta), fp16, kivi, kvquant, rotation, vq, rvq or simvq. Default "none".
	ParamKVQuant = "kv_quant"
	// ParamKVBits is the bits per key and value (1..8). Default 4.
	ParamKVBits = "kv_bits"
	// ParamKVKeyBits and ParamKVValueBits override kv_bits for keys or values (0: kv_bits).
	ParamKVKeyBits   = "kv_key_bits"
	ParamKVValueBits = "kv_value_bits"
	// ParamKVGroup is the consecutive channels of a token sharing a scale (per-token
	// quantization): a divisor of the head dimension, or a multiple of it dividing
	// kv_heads·head_dim. Default 32.
	ParamKVGroup = "kv_group"
	// ParamKVKeyGroup is the consecutive tokens sharing a per-channel key scale (kivi).
	// Default 32.
	ParamKVKeyGroup = "kv_key_group"
	// ParamKVResidual is the most recent tokens kept in fp16 (0: every token quantized; kivi
	// aligns the window to its key groups, keeping 32–63 tokens at 32). Default 0.
	ParamKVResidual = "kv_residual"
	// KVQuant's steps (kvquant only; defaults on, as in the paper), for its ablation.
	ParamKVKeyPerChannel = "kv_key_per_channel"
	ParamKVPreRoPE       = "kv_pre_rope"
	ParamKVNonUniform    = "kv_nonuniform"
	ParamKVOutliers      = "kv_outliers"
	ParamKVSink          = "kv_sink"
	ParamKVQNorm         = "kv_qnorm"
	// ParamKVCodebookBits caps vq/rvq/simvq codebooks at 2^bits entries. Default 8.
	ParamKVCodebookBits = "kv_codebook_bits"
	// ParamKVIterations is the k-means / Lloyd-Max / SimVQ fitting rounds (0: the method's
	// default).
	ParamKVIterations = "kv_iterations"
	// ParamKVSeed seeds rotations and codebook initialisation. Default 1.
	ParamKVSeed = "kv_seed"
	// ParamKVCalibrationFrom is a run directory whose calibrated cache constants (kv_cache/,
	// fitted for the same kv_* config) are used instead of calibrating. Default "".
	ParamKVCalibrationFrom = "kv_calibration_from"
	// ParamKVCalibration is the number of training batches whose keys, values and their
	// Fisher information the calibrated quantizers are fitted on. Default 4.
	ParamKVCalibration = "kv_calibration_batches"
)

// Params lists the cache quantizer's hyperparameters.
var Params = hparams.List{
	{Key: ParamKVQuant, Default: "none", Domain: hparams.OneOf(append([]string{"none"}, Methods...)...), Doc: "key/value cache quantizer: none, " + strings.Join(Methods, ", ")},
	{Key: ParamKVBits, Default: 4, Domain: hparams.Range(1, 8), Doc: "bits per cached key and value"},
	{Key: ParamKVKeyBits, Default: 0, Domain: hparams.Range(0, 8), Doc: "bits per key (0: kv_bits)"},
	{Key: ParamKVValueBits, Default: 0, Domain: hparams.Range(0, 8), Doc: "bits per value (0: kv_bits)"},
	{Key: ParamKVGroup, Default: 32, Domain: hparams.Range(1, maxChannels), Doc: "channels of a token per scale (divides head_dim, or a multiple of it dividing kv_heads·head_dim)"},
	{Key: ParamKVKeyGroup, Default: 32, Domain: hparams.Range(1, maxTokens), Doc: "kivi: tokens per per-channel key scale"},
	{Key: ParamKVResidual, Default: 0, Domain: hparams.Range(0, maxTokens), Doc: "most recent tokens kept in fp16 (0: all quantized; kivi: up to kv_residual+kv_key_group−1)"},
	{Key: ParamKVKeyPerChannel, Default: true, Doc: "kvquant: keys scaled per channel (calibrated) rather than per token"},
	{Key: ParamKVPreRoPE, Default: true, Doc: "kvquant: keys quantized before RoPE, rotated after dequantization"},
	{Key: ParamKVNonUniform, Default: true, Doc: "kvquant: Fisher-weighted k-means datatype rather than a uniform grid"},
	{Key: ParamKVOutliers, Default: 0.01, Domain: hparams.Range(0, 0.49), Doc: "kvquant: fraction of values kept sparse in fp16 (dense-and-sparse)"},
	{Key: ParamKVSink, Default: 1, Domain: hparams.Range(0, maxTokens), Doc: "kvquant: first tokens kept in fp16 (attention sink)"},
	{Key: ParamKVQNorm, Default: true, Doc: "kvquant: per-channel correction matching mean and std after quantization (Q-Norm)"},
	{Key: ParamKVCodebookBits, Default: 8, Domain: hparams.Range(1, 12), Doc: "vq, rvq, simvq: at most 2^bits codewords per codebook"},
	{Key: ParamKVIterations, Default: 0, Domain: hparams.Range(0, 1000), Doc: "fitting rounds of k-means, Lloyd-Max or SimVQ (0: method default)"},
	{Key: ParamKVSeed, Default: 1, Domain: hparams.Range(0, math.MaxInt32), Doc: "seed of rotations and codebook initialisation"},
	{Key: ParamKVCalibrationFrom, Default: "", Doc: "run directory whose calibrated cache constants to use instead of calibrating"},
	{Key: ParamKVCalibration, Default: 4, Domain: hparams.Range(1, 1<<16), Doc: "training batches the cache quantizer is calibrated on"},
}

// CommonKeys are the kv_* keys of the settings common to every quantizer family: kv_bits, and
// kv_group, the block of channels of a token. kv_key_group (KIVI's key block along tokens)
// and the per-side kv_key_bits and kv_value_bits are the cache's own.
var CommonKeys = scheme.Keys{Bits: ParamKVBits, Block: ParamKVGroup}

// ConfigFromParams reads the cache quantizer's config from the kv_* hyperparameters of a
// resolved config (every key of [Params] present); ok is false when kv_quant is "none".
func ConfigFromParams(params map[string]any) (cfg Config, ok bool) {
	method := params[ParamKVQuant].(string)
	if method == "none" {
		return cfg, false
	}
	common := CommonKeys.Read(params)
	cfg = Config{Method: method, KeyBits: common.Bits, ValueBits: common.Bits,
		Group: common.Block, KeyGroup: params[ParamKVKeyGroup].(int),
		CodebookBits: params[ParamKVCodebookBits].(int), Iterations: params[ParamKVIterations].(int),
		Seed: int64(params[ParamKVSeed].(int))}
	if b := params[ParamKVKeyBits].(int); b > 0 {
		cfg.KeyBits = b
	}
	if b := params[ParamKVValueBits].(int); b > 0 {
		cfg.ValueBits = b
	}
	cfg.Residual = params[ParamKVResidual].(int)
	if method != MethodKIVI && method != MethodFP32 && method != MethodFP16 {
		cfg.PreRoPE = params[ParamKVPreRoPE].(bool)
	}
	switch method {
	case MethodKVQuant:
		cfg.KeyPerChannel = params[ParamKVKeyPerChannel].(bool)
		cfg.NonUniform = params[ParamKVNonUniform].(bool)
		cfg.Outliers = params[ParamKVOutliers].(float64)
		cfg.Sink = params[ParamKVSink].(int)
		cfg.QNorm = params[ParamKVQNorm].(bool)
	}
	return cfg, true
}
