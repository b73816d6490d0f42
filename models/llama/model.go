// Package llama is the Llama architecture of llama2.c (Touvron et al. 2023, "Llama 2"; Karpathy's
// llama2.c) in GoMLX: RMSNorm, rotary position embeddings on interleaved pairs, grouped-query
// attention, a SwiGLU feed-forward and a classifier tied to the token embedding (or stored
// apart, as some llama2.c checkpoints do). It maps llama2.c checkpoints (stories260K.bin, read
// and written by package formats/llama2c, which also holds the tokenizer) onto its variables,
// generates with a key/value cache, and measures perplexity; registered with the framework as
// "llama".
//
// One block, for activations x [B, T, d] (d = llama_dim, H = llama_heads query heads of size
// h = d/H, H_kv = llama_kv_heads key/value heads):
//
//	n = RMSNorm(x)·g_att,  RMSNorm(x) = x / sqrt(mean_d(x²) + 1e-5)
//	q = RoPE(n·Wqᵀ) [B,T,H,h],  k = RoPE(n·Wkᵀ) [B,T,H_kv,h],  v = n·Wvᵀ
//	a_t = Σ_{s≤t} softmax_s(q_t·k_s/√h) v_s        (query head i reads key/value head i·H_kv/H)
//	x ← x + a·Woᵀ
//	m = RMSNorm(x)·g_ffn;  x ← x + (SiLU(m·W1ᵀ) ⊙ m·W3ᵀ)·W2ᵀ
//
// RoPE (Su et al. 2021, RoFormer eq. 34) rotates the adjacent pairs (2i, 2i+1) of each head at
// position p by p·θ_i, θ_i = 10000^(−2i/h), as llama2.c does (not the half-split pairing of
// Hugging Face's Llama). Logits are RMSNorm(x)·g_final · Eᵀ with E the token embedding, or
// the classifier a checkpoint stores apart from it.
//
// Weights keep llama2.c's (PyTorch's) [out, in] layout, so per-output-channel quantizers work on
// rows, and every linear layer goes through [Linear], where adapters (LoRA) and fake
// quantization hook in.
package llama

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
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
)

// Stories260K is the architecture of llama2.c's stories260K (the defaults of the llama_* keys).
var Stories260K = Config{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, VocabSize: 512, SeqLen: 512, Shared: true}

// ConfigFromParams reads the architecture from the llama_* hyperparameters, with the
// classifier tied to the token embedding: a model has a classifier of its own only when its
// weights come from a checkpoint that stores one apart ([ConfigOf] and [ConfigOfStore] see
// its variable).
func ConfigFromParams(get func(key string) int) Config {
	return Config{Dim: get(ParamDim), HiddenDim: get(ParamHiddenDim), Layers: get(ParamLayers),
		Heads: get(ParamHeads), KVHeads: get(ParamKVHeads), VocabSize: get(ParamVocabSize),
		SeqLen: get(ParamSeqLen), Shared: true}
}

// ConfigOf reads the architecture from a scope's hyperparameters; the classifier is
// separate when the scope holds the variable classifier/weight.
func ConfigOf(scope *model.Scope) Config {
	c := ConfigFromParams(func(key string) int { return intParam(scope, key) })
	c.Shared = scope.At(VarClassifier).GetVariable(VarWeight) == nil
	return c
}

// ConfigOfStore reads the architecture from a store's llama_* hyperparameters (zero where
// one is missing; Config.Validate then says which); the classifier is separate when the
// store holds the variable classifier/weight.
func ConfigOfStore(store *model.Store) Config {
	c := ConfigFromParams(func(key string) int {
		v, _ := store.GetParam(key)
		n, _ := v.(int)
		return n
	})
	c.Shared = store.RootScope().At(VarClassifier).GetVariable(VarWeight) == nil
	return c
}

func intParam(scope *model.Scope, key string) int {
	v, ok := scope.GetParam(key)
	if !ok {
		panic(fmt.Sprintf("llama: hyperparameter %q is not set", key))
	}
	return v.(int)
}

// rmsEpsilon is llama2.c's ε in RMSNorm.
const rmsEpsilon = 1e-5

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
	cos, sin := ropeAngles(positions, cfg.HeadDim())
	for i := range cfg.Layers {
		var layerCache *LayerCache
		if cache != nil {
			layerCache = &cache.Layers[i]
		}
		x = Block(BlockScope(scope, i), cfg, x, cos, sin, positions, layerCache)
	}
	x = RMSNorm(scope.In(VarNormFinal), x)
	classifier := emb
	if !cfg.Shared {
		classifier = scope.In(VarClassifier).VariableWithShape(VarWeight, shapes.Make(dtypes.Float32, cfg.VocabSize, cfg.Dim)).NodeValue(g)
	}
	return graph.Einsum("btd,vd->btv", x, classifier)
}

// Block is one transformer block over x [B, T, d] (see the package doc).
func Block(scope *model.Scope, cfg Config, x, cos, sin, positions *graph.Node, cache *LayerCache) *graph.Node {
	batch, seq := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	hd := cfg.HeadDim()
	n := RMSNorm(scope.In(VarAttnNorm), x)
	q := graph.Reshape(Linear(scope.In("wq"), n, cfg.Dim), batch, seq, cfg.Heads, hd)
	k := graph.Reshape(Linear(scope.In("wk"), n, cfg.KVDim()), batch, seq, cfg.KVHeads, hd)
	v := graph.Reshape(Linear(scope.In("wv"), n, cfg.KVDim()), batch, seq, cfg.KVHeads, hd)
	kPre := k
	q, k = RoPE(q, cos, sin), RoPE(k, cos, sin)
	keyPositions := positions
	if cache != nil && cache.Probe != nil {
		cache.Probe(kPre, k, v)
	}
	if cache != nil && cache.Keys != nil {
		k, v, keyPositions = cache.Update(k, v)
	}
	a := Attention(q, k, v, positions, keyPositions, cfg.Heads/cfg.KVHeads)
	x = graph.Add(x, Linear(scope.In("wo"), graph.Reshape(a, batch, seq, cfg.Dim), cfg.Dim))
	m := RMSNorm(scope.In(VarFFNNorm), x)
	h1 := Linear(scope.In("w1"), m, cfg.HiddenDim)
	h := graph.Mul(graph.Mul(h1, graph.Sigmoid(h1)), Linear(scope.In("w3"), m, cfg.HiddenDim))
	return graph.Add(x, Linear(scope.In("w2"), h, cfg.Dim))
}

// RMSNorm is x / sqrt(mean(x²) + 1e-5) · g over the last axis, with the gain g [d] the
// variable "weight" of scope (Zhang & Sennrich 2019).
func RMSNorm(scope *model.Scope, x *graph.Node) *graph.Node {
	d := x.Shape().Dimensions[x.Rank()-1]
	gain := scope.WithInitializer(initializer.One).VariableWithShape(VarWeight, shapes.Make(x.DType(), d)).NodeValue(x.Graph())
	ms := graph.ReduceAndKeep(graph.Square(x), graph.ReduceMean, -1)
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[len(dims)-1] = d
	// x / sqrt(·) rather than x · rsqrt(·): ONNX Runtime has no Rsqrt.
	return graph.Mul(graph.Div(x, graph.Sqrt(graph.AddScalar(ms, rmsEpsilon))), graph.Reshape(gain, dims...))
}

// ropeAngles returns cos and sin of p·θ_i, [T, headDim/2] each, for positions [T] (int32).
func ropeAngles(positions *graph.Node, headDim int) (cos, sin *graph.Node) {
	g := positions.Graph()
	freqs := make([]float32, headDim/2)
	for i := range freqs {
		freqs[i] = float32(RoPEFrequency(i, headDim))
	}
	p := graph.InsertAxes(graph.ConvertDType(positions, dtypes.Float32), -1)
	angles := graph.Mul(p, graph.InsertAxes(graph.Const(g, freqs), 0))
	return graph.Cos(angles), graph.Sin(angles)
}

// RoPE rotates the adjacent pairs of x [B, T, heads, headDim] by the angles whose cos and sin
// [T, headDim/2] are given: (x₀, x₁) ↦ (x₀cos − x₁sin, x₀sin + x₁cos).
func RoPE(x, cos, sin *graph.Node) *graph.Node {
	dims := x.Shape().Dimensions
	b, t, h, hd := dims[0], dims[1], dims[2], dims[3]
	pairs := graph.Reshape(x, b, t, h, hd/2, 2)
	x0 := graph.Squeeze(graph.Slice(pairs, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, 1)), -1)
	x1 := graph.Squeeze(graph.Slice(pairs, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(1, 2)), -1)
	c := graph.InsertAxes(cos, 0, 1) // [1, T, 1, hd/2]
	s := graph.InsertAxes(sin, 0, 1)
	c = graph.Reshape(c, 1, t, 1, hd/2)
	s = graph.Reshape(s, 1, t, 1, hd/2)
	r0 := graph.Sub(graph.Mul(x0, c), graph.Mul(x1, s))
	r1 := graph.Add(graph.Mul(x0, s), graph.Mul(x1, c))
	return graph.Reshape(graph.Stack([]*graph.Node{r0, r1}, -1), b, t, h, hd)
}

// maskedScore replaces the scores of invisible keys: finite, so that no gradient meets ∞ − ∞,
// and low enough that exp underflows to exactly 0 in float32.
const maskedScore = -1e30

// Attention is causal grouped-query attention: q [B, T, H, h] at queryPositions [T] over keys
// and values [B, S, H_kv, h] at keyPositions [S]; query head i reads key/value head i/group
// (group = H/H_kv). A query attends to keys whose position is at most its own. Returns
// [B, T, H, h].
func Attention(q, k, v, queryPositions, keyPositions *graph.Node, group int) *graph.Node {
	dims := q.Shape().Dimensions
	b, t, heads, hd := dims[0], dims[1], dims[2], dims[3]
	kvHeads := heads / group
	qg := graph.Reshape(q, b, t, kvHeads, group, hd)
	scores := graph.Einsum("btkgd,bskd->bkgts", qg, k)
	scores = graph.MulScalar(scores, 1/math.Sqrt(float64(hd)))
	visible := graph.LessOrEqual(graph.InsertAxes(keyPositions, 0), graph.InsertAxes(queryPositions, -1)) // [T, S]
	visible = graph.BroadcastToDims(graph.InsertAxes(visible, 0, 0, 0), scores.Shape().Dimensions...)
	scores = graph.Where(visible, scores, graph.BroadcastToDims(graph.Scalar(scores.Graph(), scores.DType(), maskedScore), scores.Shape().Dimensions...))
	weights := graph.Softmax(scores, -1)
	out := graph.Einsum("bkgts,bskd->btkgd", weights, v)
	return graph.Reshape(out, b, t, heads, hd)
}
