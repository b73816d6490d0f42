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
// Why not github.com/gomlx/go-huggingface: its versions that read safetensors require a newer
// GoMLX than qzoo's v0.28.16 (see package formats/safetensors), and the hub client is of no
// use on machines without internet; a model directory is three small JSON shapes around the
// safetensors files qzoo already reads.
package hf
