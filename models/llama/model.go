// Package llama is the Llama architecture of llama2.c (Touvron et al. 2023, "Llama 2"; Karpathy's
// llama2.c) in GoMLX: RMSNorm, rotary position embeddings on interleaved pairs, grouped-query
// attention, a SwiGLU feed-forward and a classifier tied to the token embedding (or stored
// apart, as some llama2.c checkpoints do). It maps llama2.c checkpoints (stories260K.bin, read
// and written by package formats/llama2c, which also holds the tokenizer) and Hugging Face
// model directories of the Llama family (package formats/hf: Llama, Llama 3.1/3.2 with their
// RoPE scaling, SmolLM, Mistral, Qwen2; hf.go, hfquant.go) onto its variables, generates with a
// key/value cache, and measures perplexity; registered with the framework as "llama".
//
// One block, for activations x [B, T, d] (d = llama_dim, H = llama_heads query heads of size
// h = d/H, H_kv = llama_kv_heads key/value heads):
//
//	n = RMSNorm(x)·g_att,  RMSNorm(x) = x · 1/sqrt(mean_d(x²) + ε)
//	q = RoPE(n·Wqᵀ) [B,T,H,h],  k = RoPE(n·Wkᵀ) [B,T,H_kv,h],  v = n·Wvᵀ
//	a_t = Σ_{s≤t} softmax_s(q_t·k_s/√h) v_s        (query head i reads key/value head i·H_kv/H)
//	x ← x + a·Woᵀ
//	m = RMSNorm(x)·g_ffn;  x ← x + (SiLU(m·W1ᵀ) ⊙ m·W3ᵀ)·W2ᵀ
//
// RoPE (Su et al. 2021, RoFormer eq. 34) rotates the adjacent pairs (2i, 2i+1) of each head at
// position p by p·θ_i, θ_i = b^(−2i/h) with b = llama_rope_theta (llama2.c's 10000), as llama2.c
// does (not the half-split pairing of Hugging Face's Llama, whose checkpoints hf.go permutes on
// the way in and out). Llama 3.1 and 3.2 rescale the rates for their long context
// (llama_rope_scaling "llama3", Hugging Face's rope_scaling: with wavelength λ_i = 2π/θ_i and
// original context L = llama_rope_original_seq_len, rates with
// λ_i < L/llama_rope_high_freq_factor are kept, those with λ_i > L/llama_rope_low_freq_factor
// divided by llama_rope_factor, those between blended); "linear" divides every rate by
// llama_rope_factor. The rule is layers/position's RoPEFrequencies, which the graph, the
// key/value cache's host rotation (kv.go) and the float64 reference (models/llama/reference)
// all use. RMSNorm's ε is llama_norm_eps (llama2.c's 1e-5); with llama_attn_bias
// (Qwen2) the query, key and value projections add biases before RoPE. Logits are RMSNorm(x)·g_final · Eᵀ with E the token embedding, or
// the classifier a checkpoint stores apart from it.
//
// Weights keep llama2.c's (PyTorch's) [out, in] layout, so per-output-channel quantizers work on
// rows, and every linear layer goes through [Linear], where adapters (LoRA) and fake
// quantization hook in; under qat_distill, quantization-aware training learns from a frozen
// full-precision teacher's logits too (quantized distillation, distill.go). The layers are the zoo's shared ones: layers/linear, layers/norm (RMSNorm),
// layers/attention (grouped queries, causal by position, the cache) and layers/position (RoPE).
package llama

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/qzoo/qzoo/layers/attention"
	"github.com/qzoo/qzoo/layers/linear"
	"github.com/qzoo/qzoo/layers/norm"
	"github.com/qzoo/qzoo/layers/position"
)

// Hyperparameters of the architecture. Their defaults are stories260K's; a checkpoint loaded
// with init_from must match them (the error names the key that differs).
const (
	ParamDim       = "llama_dim"
	ParamHiddenDim = "llama_hidden_dim"
	ParamLayers    = "llama_layers"
	ParamHeads     = "llama_heads"
	ParamKVHeads   = "llama_kv_heads"
	ParamVocabSize = "llama_vocab_size"
	ParamSeqLen    = "llama_seq_len"
	ParamRoPETheta = "llama_rope_theta"
	ParamNormEps   = "llama_norm_eps"
	ParamAttnBias  = "llama_attn_bias"

	// RoPE scaling (Hugging Face's rope_scaling): the type, and its values, each used by the
	// types named; a type that does not use one requires its default.
	ParamRoPEScaling        = "llama_rope_scaling"          // RoPEScalingNone, position.RoPEScalingLinear or position.RoPEScalingLlama3
	ParamRoPEFactor         = "llama_rope_factor"           // linear, llama3: rope_scaling.factor
	ParamRoPELowFreqFactor  = "llama_rope_low_freq_factor"  // llama3: rope_scaling.low_freq_factor
	ParamRoPEHighFreqFactor = "llama_rope_high_freq_factor" // llama3: rope_scaling.high_freq_factor
	ParamRoPEOriginalSeqLen = "llama_rope_original_seq_len" // llama3: rope_scaling.original_max_position_embeddings
)

// RoPEScalingNone is llama_rope_scaling's value for unscaled rates (the default).
const RoPEScalingNone = "none"

// Stories260K is the architecture of llama2.c's stories260K (the defaults of the llama_* keys).
var Stories260K = Config{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, VocabSize: 512, SeqLen: 512, Shared: true,
	RoPETheta: llama2cRoPETheta, NormEps: llama2cNormEps}

// ConfigFromParams reads the architecture from the llama_* hyperparameters, with the
// classifier tied to the token embedding: a model has a classifier of its own only when its
// weights come from a checkpoint that stores one apart ([ConfigOf] and [ConfigOfStore] see
// its variable).
func ConfigFromParams(params map[string]any) Config {
	return configFrom(func(key string) (any, bool) { v, ok := params[key]; return v, ok }, false)
}

// configFrom reads the llama_* keys through get: a size missing is zero (Config.Validate then
// says which) or, with strict, a panic; llama_rope_theta, llama_norm_eps, llama_attn_bias and
// the llama_rope_scaling keys, younger than the sizes, take their declared defaults when
// missing (runs saved before them).
func configFrom(get func(key string) (any, bool), strict bool) Config {
	size := func(key string) int {
		v, ok := get(key)
		if !ok && strict {
			panic(fmt.Sprintf("llama: hyperparameter %q is not set", key))
		}
		n, _ := v.(int)
		return n
	}
	later := func(key string) any {
		if v, ok := get(key); ok {
			return v
		}
		p, _ := Params.Lookup(key)
		return p.Default
	}
	theta, _ := later(ParamRoPETheta).(float64)
	eps, _ := later(ParamNormEps).(float64)
	bias, _ := later(ParamAttnBias).(bool)
	return Config{Dim: size(ParamDim), HiddenDim: size(ParamHiddenDim), Layers: size(ParamLayers),
		Heads: size(ParamHeads), KVHeads: size(ParamKVHeads), VocabSize: size(ParamVocabSize),
		SeqLen: size(ParamSeqLen), Shared: true, RoPETheta: theta, RoPEScaling: ropeScalingFrom(later),
		NormEps: eps, AttnBias: bias}
}

// ropeScalingFrom reads the llama_rope_scaling keys (through later, which gives a missing
// key's default): the zero scaling for "none", else the type with the values it uses.
func ropeScalingFrom(later func(key string) any) position.RoPEScaling {
	kind, _ := later(ParamRoPEScaling).(string)
	if kind == RoPEScalingNone {
		return position.RoPEScaling{}
	}
	s := position.RoPEScaling{Type: kind}
	s.Factor, _ = later(ParamRoPEFactor).(float64)
	if kind == position.RoPEScalingLinear {
		return s
	}
	s.LowFreqFactor, _ = later(ParamRoPELowFreqFactor).(float64)
	s.HighFreqFactor, _ = later(ParamRoPEHighFreqFactor).(float64)
	s.OriginalMaxPositions, _ = later(ParamRoPEOriginalSeqLen).(int)
	return s
}

// ropeScalingParams is s as the llama_rope_scaling keys: the values it does not use at their
// defaults.
func ropeScalingParams(s position.RoPEScaling) map[string]any {
	out := map[string]any{ParamRoPEScaling: RoPEScalingNone}
	for _, key := range []string{ParamRoPEFactor, ParamRoPELowFreqFactor, ParamRoPEHighFreqFactor, ParamRoPEOriginalSeqLen} {
		p, _ := Params.Lookup(key)
		out[key] = p.Default
	}
	if s.Type == "" {
		return out
	}
	out[ParamRoPEScaling], out[ParamRoPEFactor] = s.Type, s.Factor
	if s.Type != position.RoPEScalingLinear {
		out[ParamRoPELowFreqFactor], out[ParamRoPEHighFreqFactor], out[ParamRoPEOriginalSeqLen] =
			s.LowFreqFactor, s.HighFreqFactor, s.OriginalMaxPositions
	}
	return out
}

// ConfigOf reads the architecture from a scope's hyperparameters; the classifier is
// separate when the scope holds the variable classifier/weight.
func ConfigOf(scope *model.Scope) Config {
	c := configFrom(scope.GetParam, true)
	c.Shared = scope.At(VarClassifier).GetVariable(VarWeight) == nil
	return c
}

// ConfigOfStore reads the architecture from a store's llama_* hyperparameters (zero where
// one is missing; Config.Validate then says which); the classifier is separate when the
// store holds the variable classifier/weight.
func ConfigOfStore(store *model.Store) Config {
	c := configFrom(store.GetParam, false)
	c.Shared = store.RootScope().At(VarClassifier).GetVariable(VarWeight) == nil
	return c
}

// Variable names: scope paths of the weights, so checkpoints, freezing regexps and quantizers
// can name them. Block i lives under "block_%02d".
const (
	VarEmbedding = "embedding" // [VocabSize, Dim], also the classifier when no VarClassifier
	// VarClassifier holds the classifier [VocabSize, Dim] of a checkpoint that stores it apart
	// from the embedding (llama2.c: negative vocab_size); absent, the classifier is tied.
	VarClassifier = "classifier"
	VarNormFinal  = "norm_final"
	VarAttnNorm   = "attn_norm"
	VarFFNNorm    = "ffn_norm"
	VarWeight     = "weight" // a linear layer's [out, in] matrix, under scope <block>/<wq|wk|...>
	VarBias       = "bias"   // the [out] bias of wq, wk and wv under llama_attn_bias
	blockScope    = "block_%02d"
)

// BlockScope is the scope of block i.
func BlockScope(scope *model.Scope, i int) *model.Scope { return scope.In(blockScope, i) }

// Forward computes the logits [B, T, VocabSize] of tokens [B, T] (int32) at positions
// start, start+1, … (start a scalar int32 node; nil means 0). With cache non-nil, the keys and
// values of these positions are written into it and attention reads every cached position up
// to the token's own; without, attention is over the T tokens, causally.
func Forward(scope *model.Scope, tokens *graph.Node, start *graph.Node, cache *Cache) *graph.Node {
	cfg := ConfigOf(scope)
	g := tokens.Graph()
	batch, seq := tokens.Shape().Dimensions[0], tokens.Shape().Dimensions[1]
	if seq > cfg.SeqLen {
		panic(fmt.Sprintf("llama: %d tokens exceed the context %s=%d", seq, ParamSeqLen, cfg.SeqLen))
	}
	if start == nil {
		start = graph.Scalar(g, dtypes.Int32, 0)
	}
	emb := scope.In(VarEmbedding).VariableWithShape(VarWeight, shapes.Make(dtypes.Float32, cfg.VocabSize, cfg.Dim)).NodeValue(g)
	x := graph.Gather(emb, graph.InsertAxes(tokens, -1)) // [B, T, d]
	x.AssertDims(batch, seq, cfg.Dim)
	positions := graph.Add(graph.Iota(g, shapes.Make(dtypes.Int32, seq), 0), start)
	cos, sin := position.RoPEAnglesScaled(positions, cfg.HeadDim(), cfg.RoPETheta, cfg.RoPEScaling)
	for i := range cfg.Layers {
		var layerCache *LayerCache
		if cache != nil {
			layerCache = &cache.Layers[i]
		}
		x = Block(BlockScope(scope, i), cfg, x, cos, sin, positions, layerCache)
	}
	x = norm.RMS(scope.In(VarNormFinal), x).Epsilon(cfg.NormEps).Done()
	classifier := emb
	if !cfg.Shared {
		classifier = scope.In(VarClassifier).VariableWithShape(VarWeight, shapes.Make(dtypes.Float32, cfg.VocabSize, cfg.Dim)).NodeValue(g)
	}
	return linear.New(scope, x, cfg.VocabSize).Layout(linear.OutIn).Weight(classifier).UseBias(false).Done()
}

// Block is one transformer block over x [B, T, d] (see the package doc).
func Block(scope *model.Scope, cfg Config, x, cos, sin, positions *graph.Node, cache *LayerCache) *graph.Node {
	batch, seq := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	hd := cfg.HeadDim()
	n := norm.RMS(scope.In(VarAttnNorm), x).Epsilon(cfg.NormEps).Done()
	project := func(name string, out int) *graph.Node {
		sub := scope.In("%s", name)
		y := Linear(sub, n, out)
		if cfg.AttnBias {
			b := sub.WithInitializer(initializer.Zero).VariableWithShape(VarBias, shapes.Make(dtypes.Float32, out)).NodeValue(y.Graph())
			y = graph.Add(y, graph.ExpandLeftToRank(b, y.Rank()))
		}
		return y
	}
	q := graph.Reshape(project("wq", cfg.Dim), batch, seq, cfg.Heads, hd)
	k := graph.Reshape(project("wk", cfg.KVDim()), batch, seq, cfg.KVHeads, hd)
	v := graph.Reshape(project("wv", cfg.KVDim()), batch, seq, cfg.KVHeads, hd)
	kPre := k
	q, k = position.RoPE(q, cos, sin), position.RoPE(k, cos, sin)
	if cache != nil && cache.Probe != nil {
		cache.Probe(kPre, k, v)
	}
	att := attention.New(q, k, v).Causal(positions)
	if cache != nil && cache.Keys != nil {
		att = att.Cache(cache)
	}
	a := att.Done()
	x = graph.Add(x, Linear(scope.In("wo"), graph.Reshape(a, batch, seq, cfg.Dim), cfg.Dim))
	m := norm.RMS(scope.In(VarFFNNorm), x).Epsilon(cfg.NormEps).Done()
	h1 := Linear(scope.In("w1"), m, cfg.HiddenDim)
	h := graph.Mul(graph.Mul(h1, graph.Sigmoid(h1)), Linear(scope.In("w3"), m, cfg.HiddenDim))
	return graph.Add(x, Linear(scope.In("w2"), h, cfg.Dim))
}
