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
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/layers/vq"
)

// quantizeExample builds the quantizer that params select, runs it on latents of shape
// [8, 7, 7, 16] (batch, height, width, channels) and prints what comes out.
func quantizeExample(params map[string]any) {
	backend, err := compute.NewWithConfig("go")
	if err != nil {
		panic(err)
	}
	q, err := vq.FromParams(params, "")
	if err != nil {
		panic(err)
	}
	z := tensors.FromShape(shapes.Make(dtypes.Float32, 8, 7, 7, 16))
	outputs, err := model.CallOnceN(backend, model.NewStore(), func(scope *model.Scope, z *graph.Node) []*graph.Node {
		out := q.Quantize(scope.In("quantizer"), z)
		return append([]*graph.Node{out.Quantized, out.Bits, out.Loss}, out.Codes.Stages...)
	}, z)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: K=%d, %.2f bits per vector\n", q.Name(), q.CodebookSize(), outputs[1].Value())
	fmt.Printf("quantized %s, loss %s, codes", outputs[0].Shape(), outputs[2].Shape())
	for _, codes := range outputs[3:] {
		fmt.Printf(" %s", codes.Shape())
	}
	fmt.Println()
}

func ExampleVQ() {
	quantizeExample(map[string]any{vq.ParamType: "vq", vq.ParamCodebookSize: 512})
	// Output:
	// vq(K=512): K=512, 9.00 bits per vector
	// quantized (Float32)[8, 7, 7, 16], loss (Float32), codes (Int32)[8, 7, 7]
}

func ExampleSimVQ() {
	quantizeExample(map[string]any{vq.ParamType: "simvq", vq.ParamCodebookSize: 1024})
	// Output:
	// simvq(K=1024): K=1024, 10.00 bits per vector
	// quantized (Float32)[8, 7, 7, 16], loss (Float32), codes (Int32)[8, 7, 7]
}

// FSQ's levels come from the paper's table for K = 2^10; the true codebook has 8·5·5·5 = 1000
// codes. The 16 channels are projected to the 4 quantized dimensions and back.
func ExampleFSQ() {
	quantizeExample(map[string]any{vq.ParamType: "fsq", vq.ParamCodebookSize: 1024})
	// Output:
	// fsq(L=8,5,5,5): K=1000, 9.97 bits per vector
	// quantized (Float32)[8, 7, 7, 16], loss (Float32), codes (Int32)[8, 7, 7]
}

func ExampleResidual() {
	quantizeExample(map[string]any{vq.ParamType: "rvq", vq.ParamCodebookSize: 256, vq.ParamResidualStages: 3})
	// Output:
	// rvq(3×vq(K=256)): K=256, 24.00 bits per vector
	// quantized (Float32)[8, 7, 7, 16], loss (Float32), codes (Int32)[8, 7, 7] (Int32)[8, 7, 7] (Int32)[8, 7, 7]
}

// Two differently configured quantizers in one model, e.g. for the keys and the values of a KV
// cache: each reads its hyperparameters under its own prefix.
func ExampleNew_prefixes() {
	params := map[string]any{
		"k_vq_type": "fsq", "k_vq_fsq_levels": "8,8,8",
		"v_vq_type": "rvq", "v_vq_residual_type": "lfq", "v_vq_codebook_size": 16, "v_vq_residual_stages": 2,
	}
	// The model declares both sets of keys, with their docs, defaults and domains...
	declared := hparams.Merge(vq.ParamsWithPrefix("k"), vq.ParamsWithPrefix("v"))
	fmt.Println(len(declared), "keys:", declared[0].Key, declared[1].Key, "...")
	// ... and refuses a config that configures no quantizer before building anything.
	for _, prefix := range []string{"k", "v"} {
		if err := vq.Validate(params, prefix); err != nil {
			panic(err)
		}
	}
	store := model.NewStore()
	store.RootScope().SetParams(params)
	keys, values := vq.New(store.RootScope(), "k"), vq.New(store.RootScope(), "v")
	fmt.Println(keys.Name(), values.Name())

	params["v_vq_codebook_size"] = 1000
	fmt.Println(vq.Validate(params, "v"))
	// Output:
	// 38 keys: k_vq_type k_vq_codebook_size ...
	// fsq(L=8,8,8) rvq(2×lfq(K=16,bits=4))
	// vq: key v_vq_codebook_size: lfq needs a power of two ≥ 2 (K = 2^bits), got 1000
}
