// Package hf reads and writes the model directories of Hugging Face transformers for the Llama
// family (LlamaForCausalLM, which SmolLM and SmolLM2 are; MistralForCausalLM; Qwen2ForCausalLM):
//
//	config.json                       the architecture ([Config], [ParseConfig])
//	model.safetensors                 the weights, or shards named by
//	model.safetensors.index.json      {"metadata": {...}, "weight_map": {tensor: shard file}} ([Index])
//	tokenizer.json, tokenizer.model…  the tokenizer ([TokenizerFiles], copied along on export)
//
// [Open] checks config.json (sizes bounded before anything is allocated, an architecture or
// a variant the models cannot run refused by its key: a scaled RoPE, biases on the attention's
// output or the feed-forward, an activation other than SiLU, a head_dim other than
// hidden_size / num_attention_heads), the index (shards by plain file name in the directory,
// every tensor in the shard the index names and in no other) and every shard's header
// (package formats/safetensors: overlaps, holes, truncation); tensors are then read one at a
// time, converted to float32 from F32, F16 or BF16 ([Dir.Float32], which checks the shape).
// Errors name the file and the key or tensor.
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
// safetensors files qzoo already reads.
package hf
