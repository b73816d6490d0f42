// Package llama2c reads and writes the files of Karpathy's llama2.c
// (github.com/karpathy/llama2c): the legacy checkpoint that run.c reads (export.py
// --version 0: a header of 7 int32, then float32 little-endian tensors) and the tokenizer
// (tokenizer.bin, tok512.bin: a sentencepiece vocabulary with merge scores).
//
// The package knows the files, not the model: a [Checkpoint] is the header and the file's
// tensors by their run.c names and shapes ([Header.Layout]), in file order; mapping them onto
// a model's variables, and computing the RoPE tables a writer stores, is the model's
// business (models/llama). It imports nothing but the standard library.
//
// Every size read from a file is checked against its bounds and against the file's length
// before anything is allocated, and every error names the file. A file that is not a legacy
// checkpoint or a tokenizer is named for what it looks like: a Git LFS pointer, an HTML page,
// a newer llama2.c export (magic "ak42", versions 1 and 2), a GGUF file.
package llama2c
