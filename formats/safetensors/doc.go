// Package safetensors reads and writes Hugging Face's safetensors files
// (https://github.com/huggingface/safetensors, "Format"): an 8-byte little-endian header length
// N, a JSON header of N bytes
//
//	{"name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...,
//	 "__metadata__": {"key": "string value", ...}}
//
// and the data section, the tensors' raw little-endian row-major bytes, tensor t at
// [8+N+begin, 8+N+end) of the file.
//
// Reading ([Open], [Parse]) checks the whole header against the file's size before anything is
// allocated for a tensor, and refuses, with an error naming the file and the tensor:
//
//   - a header length over [MaxHeaderLen] (100 MB, as the reference implementation) or past the
//     end of the file; a header that is not one JSON object, names a tensor twice, has an
//     unknown key in a tensor's entry, a non-integer or negative number, a non-string metadata
//     value (JSON itself has no NaN or Infinity: a number such as 1e999 is refused as not an
//     integer);
//   - an unknown dtype; a shape whose element count overflows or times the dtype's size differs
//     from end − begin; a rank over [MaxRank];
//   - tensors that overlap, lie past the end of the file, or leave bytes of the data section to
//     no tensor (the format requires the data section to be covered exactly, without holes);
//   - a Git LFS pointer or an HTML page in place of the file (internal/sniff).
//
// Tensors are then read one at a time from the file (io.ReaderAt), so a model larger than memory
// is never read whole: [File.Float32] converts F64, F32, F16 and BF16 to float32 (F16 by
// quant.FromFloat16), [File.Int64] converts the integer dtypes and BOOL, [File.Bytes] returns
// any dtype's raw bytes.
//
// Writing ([Write], [Encode]) takes the tensors in order, writes the header with its keys in
// that order and padded with spaces to a multiple of 8 bytes (as the reference writer does, so
// that the data section is aligned), and the file atomically (internal/atomicfile).
//
// Why not a library: github.com/nlpodyssey/safetensors (a port of the reference checks) needs
// the whole file as one []byte (a multi-gigabyte Llama shard would be read whole), lets
// encoding/json merge a tensor named twice, converts no dtype and names no file in its errors;
// github.com/gomlx/go-huggingface has no safetensors package at v0.3.1 and, at v0.4.41, requires
// a newer GoMLX (v0.28.40) than qzoo's, allocates the header before comparing its length to the
// file's and does not check overlaps or holes. The format is small enough to read here.
package safetensors
