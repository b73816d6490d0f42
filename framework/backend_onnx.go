//go:build onnx

package framework

import (
	onnxbackend "github.com/gomlx/compute-onnx"
)

// With -tags onnx the ONNX Runtime backend is compiled in (registered as "onnx" and "onnxruntime"). It
// loads the shared library given in its spec ("onnx:/abs/libonnxruntime.so.1"); its auto-installer, which
// would download a library when none is given, is switched off.
func init() {
	onnxCompiledIn = true
	onnxbackend.EnableAutoInstall(false)
}
