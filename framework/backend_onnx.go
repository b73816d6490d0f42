//go:build cgo && !noonnx

package framework

import (
	onnxbackend "github.com/gomlx/compute-onnx"
)

// The ONNX Runtime backend is compiled in wherever cgo is available, as XLA is (-tags noonnx leaves it
// out); it registers as "onnx" and "onnxruntime". It loads the shared library given in its spec ("onnx:/abs/libonnxruntime.so.1"); its auto-installer, which
// would download a library when none is given, is switched off.
func init() {
	onnxCompiledIn = true
	onnxbackend.EnableAutoInstall(false)
}
