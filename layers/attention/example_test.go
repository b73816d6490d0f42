package attention_test

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/attention"
)

// Causal attention of one head over three tokens whose keys are all equal: every query averages
// the values it sees, so the outputs are the running means of the values 3, 6, 9.
func Example() {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		fmt.Println(err)
		return
	}
	// [batch 1, tokens 3, heads 1, head_dim 1]
	q := tensors.FromFlatDataAndDimensions([]float32{1, 1, 1}, 1, 3, 1, 1)
	k := tensors.FromFlatDataAndDimensions([]float32{0, 0, 0}, 1, 3, 1, 1)
	v := tensors.FromFlatDataAndDimensions([]float32{3, 6, 9}, 1, 3, 1, 1)
	out, err := graph.CallOnce(backend, func(q, k, v *graph.Node) *graph.Node {
		positions := graph.Iota(q.Graph(), shapes.Make(dtypes.Int32, 3), 0)
		return attention.New(q, k, v).Causal(positions).Done()
	}, q, k, v)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tensors.MustCopyFlatData[float32](out))
	// Output:
	// [3 4.5 6]
}
