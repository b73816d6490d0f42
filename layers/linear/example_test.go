package linear_test

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/linear"
)

// A projection [batch, tokens, 8] → [batch, tokens, 3] with created variables, and one with a given
// [out, in] weight (PyTorch's layout), here a selection of input channels.
func Example() {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		fmt.Println(err)
		return
	}
	store := model.NewStore()
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		projected := linear.New(scope.In("proj"), x, 3).Done()
		pick := graph.Const(x.Graph(), [][]float32{{1, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 1}})
		picked := linear.New(scope.In("pick"), x, 2).Layout(linear.OutIn).Weight(pick).UseBias(false).Done()
		return []*graph.Node{projected, picked}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	x := tensors.FromFlatDataAndDimensions([]float32{0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17}, 1, 2, 8)
	out, err := exec.Call(x)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("projected:", out[0].Shape().Dimensions)
	fmt.Println("picked:   ", out[1].Value())
	for v := range store.IterVariables() {
		if v.Trainable {
			fmt.Println(v.Path(), v.Shape().Dimensions)
		}
	}
	// Output:
	// projected: [1 2 3]
	// picked:    [[[0 7] [10 17]]]
	// /proj/weights [8 3]
	// /proj/biases [3]
}
