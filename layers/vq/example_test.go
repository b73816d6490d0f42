package vq_test

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	_ "github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/layers/vq"
)

// quantizeExample builds the quantizer that params select, runs it on latents of shape
// [8, 7, 7, 16] (batch, height, width, channels) and prints what comes out.
func quantizeExample(params map[string]any) {
	backend, err := compute.NewWithConfig("go")
	if err != nil {
		panic(err)
	}
	store := model.NewStore()
	store.RootScope().SetParams(params)
	q := vq.New(store.RootScope())
	z := tensors.FromShape(shapes.Make(dtypes.Float32, 8, 7, 7, 16))
	outputs, err := model.CallOnceN(backend, store, func(scope *model.Scope, z *graph.Node) []*graph.Node {
		out := q.Quantize(scope.In("quantizer"), z)
		return []*graph.Node{out.Quantized, out.Codes, out.Loss}
	}, z)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: K=%d, %d stage(s), %.2f bits per vector\n", q.Name(), q.CodebookSize(), q.Stages(), vq.BitsPerVector(q))
	fmt.Printf("quantized %s, codes %s, loss %s\n", outputs[0].Shape(), outputs[1].Shape(), outputs[2].Shape())
}

func ExampleVQ() {
	quantizeExample(map[string]any{vq.ParamType: "vq", vq.ParamCodebookSize: 512})
	// Output:
	// vq(K=512): K=512, 1 stage(s), 9.00 bits per vector
	// quantized (Float32)[8, 7, 7, 16], codes (Int32)[8, 7, 7], loss (Float32)
}

func ExampleSimVQ() {
	quantizeExample(map[string]any{vq.ParamType: "simvq", vq.ParamCodebookSize: 1024})
	// Output:
	// simvq(K=1024): K=1024, 1 stage(s), 10.00 bits per vector
	// quantized (Float32)[8, 7, 7, 16], codes (Int32)[8, 7, 7], loss (Float32)
}

// FSQ's levels come from the paper's table for K = 2^10; the true codebook has 8·5·5·5 = 1000
// codes. The 16 channels are projected to the 4 quantized dimensions and back.
func ExampleFSQ() {
	quantizeExample(map[string]any{vq.ParamType: "fsq", vq.ParamCodebookSize: 1024})
	// Output:
	// fsq(L=8,5,5,5): K=1000, 1 stage(s), 9.97 bits per vector
	// quantized (Float32)[8, 7, 7, 16], codes (Int32)[8, 7, 7], loss (Float32)
}

func ExampleResidual() {
	quantizeExample(map[string]any{vq.ParamType: "rvq", vq.ParamCodebookSize: 256, vq.ParamResidualStages: 3})
	// Output:
	// rvq(3×vq(K=256)): K=256, 3 stage(s), 24.00 bits per vector
	// quantized (Float32)[8, 7, 7, 16], codes (Int32)[8, 7, 7], loss (Float32)
}
