package norm_test

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/norm"
)

// RMSNorm scales a row to root mean square 1; LayerNorm also removes its mean.
func Example() {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		fmt.Println(err)
		return
	}
	exec, err := model.NewExec(backend, model.NewStore(), func(scope *model.Scope, x *graph.Node) []*graph.Node {
		return []*graph.Node{
			norm.RMS(scope.In("rms"), x).Epsilon(0).Done(),
			norm.Layer(scope.In("layer"), x).Epsilon(0).Done(),
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := exec.Call(tensors.FromFlatDataAndDimensions([]float32{1, 1, 7, 7}, 1, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("rms:  ", out[0].Value())
	fmt.Println("layer:", out[1].Value())
	// Output:
	// rms:   [[0.2 0.2 1.4 1.4]]
	// layer: [[-1 -1 1 1]]
}
