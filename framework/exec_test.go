package framework

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestExecFreeingInputs: the call's result is the graph's, and its inputs are finalized after
// it, on success and on a failed call alike.
func TestExecFreeingInputs(t *testing.T) {
	e, err := model.NewExec(goBackend(t), model.NewStore(), func(_ *model.Scope, x *graph.Node) *graph.Node {
		return graph.MulScalar(x, 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	in := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3}, 3)
	out, err := ExecFreeingInputs(e, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[float32](out[0]); got[0] != 2 || got[2] != 6 {
		t.Errorf("2·[1 2 3] = %v", got)
	}
	out[0].FinalizeAll()
	if in.Ok() {
		t.Error("the input is not finalized after the call")
	}
	bad := tensors.FromFlatDataAndDimensions([]float32{1}, 1)
	if _, err := ExecFreeingInputs(e, bad, bad); err == nil {
		t.Error("two inputs to a graph of one: no error")
	}
	if bad.Ok() {
		t.Error("the input is not finalized after a failed call")
	}
}
