package framework

import (
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// ExecFreeingInputs runs e on inputs, host tensors made for this one call, and then finalizes
// them (their copies on the backend included), whether the call succeeded or not. A backend's
// copy of a tensor is native memory (ONNX Runtime's, XLA's) that Go's garbage collector does
// not see grow: left to it, a loop of calls (a codec's tiles, a study's batches) grew by every
// call. The outputs are the caller's to finalize.
func ExecFreeingInputs(e *model.Exec, inputs ...*tensors.Tensor) ([]*tensors.Tensor, error) {
	args := make([]any, len(inputs))
	for i, t := range inputs {
		args[i] = t
	}
	out, err := e.Exec(args...)
	for _, t := range inputs {
		t.FinalizeAll()
	}
	return out, err
}
