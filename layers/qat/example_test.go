package qat_test

import (
	"fmt"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/layers/qat"
)

// One output row of six weights in two groups of three columns, quantized by round-to-nearest
// and by LSQ (whose steps the first execution fits to the weights), and a LoRA adapter on the
// same layer, which starts at zero.
func Example() {
	backend, err := compute.NewWithConfig("go")
	if err != nil {
		fmt.Println(err)
		return
	}
	w := tensors.FromValue([][]float32{{0.9, -0.5, 0.1, 0.06, -0.02, 0.013}}) // [out=1, in=6]
	x := tensors.FromValue([][]float32{{1, 2, 3, 4, 5, 6}})                   // [batch=1, in=6]
	store := model.NewStore()
	outputs, err := model.CallOnceN(backend, store, func(scope *model.Scope, w, x *graph.Node) []*graph.Node {
		layer := scope.In("layer")
		base := graph.Einsum("ni,oi->no", x, w)
		adapted := graph.Einsum("ni,oi->no", x, graph.Add(w, qat.LoRA(layer, x.Graph(), 1, 6, 2, 4)))
		return []*graph.Node{
			qat.FakeQuant(w, 3, 3, true),
			qat.FakeQuant(w, 2, 3, false),
			qat.LSQ(layer, w, 3, 3, true),
			graph.ReduceAllMax(graph.Abs(graph.Sub(adapted, base))),
		}
	}, w, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("3-bit symmetric:  %.3f\n", outputs[0].Value())
	fmt.Printf("2-bit asymmetric: %.3f\n", outputs[1].Value())
	fmt.Printf("3-bit LSQ:        %.3f\n", outputs[2].Value())
	fmt.Printf("LSQ steps:        %.4f\n", store.Scope("/layer").GetVariable(qat.LSQStepVar).MustValue().Value())
	fmt.Printf("|LoRA output|:    %.3f\n", outputs[3].Value())
	// Output:
	// 3-bit symmetric:  [[0.900 -0.600 0.000 0.060 -0.020 0.020]]
	// 2-bit asymmetric: [[0.933 -0.467 0.000 0.053 -0.027 0.000]]
	// 3-bit LSQ:        [[1.155 -0.577 0.000 0.072 -0.036 0.000]]
	// LSQ steps:        [[0.5774 0.0358]]
	// |LoRA output|:    0.000
}
