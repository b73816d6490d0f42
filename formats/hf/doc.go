// Package hf reads and writes the model directories of Hugging Face transformers for the Llama
// family (LlamaForCausalLM, which SmolLM and SmolLM2 are; MistralForCausalLM; Qwen2ForCausalLM):
//
//	config.json                       the architecture ([Config], [ParseConfig])
//	model.safetensors                 the weights, or shards named by
//	model.safetensors.index.json      {"metadata": {...}, "weight_map": {tensor: shard file}} ([Index])
//	tokenizer.json, tokenizer.model…  the tokenizer ([TokenizerFiles], copied along on export)
//
// [Open] checks config.json (sizes bounded before anything is allocated, an architecture or
// a variant the models cannot run refused by its key: a scaled RoPE other than "llama3" or
// "linear", biases on the attention's output or the feed-forward, an activation other than
// SiLU, a head_dim other than hidden_size / num_attention_heads), the index (shards by plain file name in the directory,
// every tensor in the shard the index names and in no other) and every shard's header
// (package formats/safetensors: overlaps, holes, truncation); tensors are then read one at a
// time, converted to float32 from F32, F16 or BF16 ([Dir.Float32], which checks the shape).
// Errors name the file and the key or tensor.
//
// # RoPE scaling
//
// Llama 3.1 and 3.2 (e.g. Llama-3.2-1B) stretch RoPE over a context longer than the one it was
// pretrained for with Meta's rule, rope_scaling {"rope_type": "llama3", "factor": 32.0,
// "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}:
// with θ_i = rope_theta^(−2i/h) and wavelength λ_i = 2π/θ_i, rates with λ_i below
// original_max_position_embeddings / high_freq_factor are kept, those with λ_i above
// original_max_position_embeddings / low_freq_factor divided by factor, and those between
// blended (transformers' _compute_llama3_parameters). "linear" divides every rate by factor.
// [Config.Scaling] reads both (every value they need present and in its domain, errors naming
// rope_scaling), [RoPEScaling.JSON] writes the object back; applying the rule is
// layers/position's (RoPEFrequencies). Other types ("dynamic", "yarn", "longrope", ...) are
// refused by name.
//
// # Tokenizers
//
// [ReadTokenizer] reads tokenizer.json's BPE model in the forms of the Llama family and
// [Tokenizer.Encode] runs the tokenizers library's pipeline on it: added tokens matched in the
// raw text first, the normalizer (NFC for Qwen2; Llama 2's Prepend and Replace), the
// pre-tokenizer, GPT-2's byte table for byte-level models, merges by rank (ignore_merges for
// Llama 3), byte fallback. The pre-tokenizers are Llama 3's and Qwen2's Split patterns
// ([PatternLlama3]: numbers by threes; [PatternQwen2]: digit by digit), GPT-2's (ByteLevel's,
// SmolLM's with Digits), and SentencePiece's Metaspace; their look-ahead \s+(?!\S), which Go's
// regexp lacks, is in hand-written scanners (pretokenize.go), checked against JavaScript's
// regular expressions when node is installed. [Tokenizer.Template] is the post_processor's:
// the special tokens put before a text (Llama 3's <|begin_of_text|>, Llama 2's <s>; none for
// Qwen2). Anything else — another Split pattern, normalizer, pre-tokenizer or post-processor —
// is refused by name; decoding works for every file. SentencePiece's tokenizer.model is copied
// along on export, not read.
//
// The package knows the files, not the model: mapping tensor names onto a model's weights
// (and the rotate-half versus interleaved RoPE layouts of the query and key rows) is
// models/llama's business ([Write] takes the tensors ready).
//
// # qzoo's quantized directory
//
// models/llama's WriteHFQuantized writes a directory whose seven linear weights per block are
// quantized by package quant's rtn or nf4 (round-to-nearest with fp16 scales, QLoRA's
// NormalFloat4); the embedding, classifier, norms and biases stay float. Each linear weight
// X.weight [out, in] (X = model.layers.N.self_attn.q_proj, ..., rows in transformers' order)
// becomes
//
//	X.qweight  U8  [⌈out·in·bits/8⌉]  codes, row-major, packed LSB-first (quant.Pack)
//	X.scales   F16 [groups]            rtn: each group's scale s
//	X.zeros    I32 [groups]            rtn asymmetric: each group's zero point z
//	X.absmax   F32 [groups]            nf4: each block's absmax c
//
// with ŵ = (q − z)·s for rtn (z = 2^(bits−1) − 1 when symmetric) and ŵ = L[q]·c for nf4 (0
// when c ≤ 0), L the 16 NF4 levels stored once as qzoo_quant.nf4_levels (F64 [16]). Groups:
// with group size G ≤ in, ⌈in/G⌉ per row, row by row, the last of a row shorter (G = 0: one
// per row); with G > in, blocks of G consecutive weights of the flattened matrix. The
// safetensors metadata (quant_method "qzoo", method, bits, group_size, symmetric, scheme) and
// config.json's quantization_config (the same keys) name the scheme, e.g. scheme
// "rtn-w4-g64-sym". transformers does not load it; qzoo reads it back dequantized, and
// models/llama/testdata/hf_forward.py dequantizes it in numpy.
//
// Why not github.com/gomlx/go-huggingface: its versions that read safetensors require a newer
// GoMLX than qzoo's v0.28.16 (see package formats/safetensors), and the hub client is of no
// use on machines without internet; a model directory is three small JSON shapes around the
// safetensors files qzoo already reads. Its tokenizers: v0.3.1 reads tokenizer.model only;
// v0.4.41's tokenizer.json reader needs GoMLX v0.28.40 and compiles a Split pattern with Go's
// regexp, which rejects Llama 3's and Qwen2's look-ahead, so it leaves the text one piece
// ([Tokenizer] says more).
package hf
