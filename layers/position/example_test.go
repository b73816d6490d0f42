package position_test

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/position"
)

// RoPE with head_dim 2 rotates the one pair (1, 0) by p radians at position p (θ_0 = 1): at
// positions 0 and 1 it becomes (1, 0) and (cos 1, sin 1).
func ExampleRoPE() {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := tensors.FromFlatDataAndDimensions([]float32{1, 0, 1, 0}, 1, 2, 1, 2) // [batch, tokens, heads, head_dim]
	out, err := graph.CallOnce(backend, func(x *graph.Node) *graph.Node {
		cos, sin := position.RoPEAngles(graph.Iota(x.Graph(), shapes.Make(dtypes.Int32, 2), 0), 2)
		return position.RoPE(x, cos, sin)
	}, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.4f\n", tensors.MustCopyFlatData[float32](out))
	// Output:
	// [1.0000 0.0000 0.5403 0.8415]
}
