package vq_test

import (
	"fmt"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/layers/vq"
)

// ExampleQLAE quantizes two 3-dimensional latents with QLAE's per-dimension scalar codebooks
// of 4 values, which start at −1, −⅓, ⅓, 1: each element becomes its dimension's nearest
// value, with one code tensor per dimension and 3·log₂ 4 = 6 bits per latent.
func ExampleQLAE() {
	backend, err := compute.NewWithConfig("go")
	if err != nil {
		panic(err)
	}
	q, err := vq.NewQLAE(vq.QLAEOptions{Dims: 3, Values: 4, QuantizeWeight: 0.01, CommitWeight: 0.01, WeightDecay: 0.001})
	if err != nil {
		panic(err)
	}
	latents := [][]float32{{0.5, -0.2, 0.9}, {-0.8, 0.1, -0.4}}
	outputs := model.MustCallOnceN(backend, model.NewStore(), func(scope *model.Scope, z *graph.Node) []*graph.Node {
		out := q.Quantize(scope.In("qlae"), z)
		return append([]*graph.Node{out.Quantized, out.Bits}, out.Codes.Stages...)
	}, latents)
	fmt.Println(q.Name(), "bits per vector:", outputs[1].Value())
	fmt.Printf("quantized: %.3f\n", outputs[0].Value())
	for j, codes := range outputs[2:] {
		fmt.Printf("codes of dimension %d: %v\n", j, codes.Value())
	}
	// Output:
	// qlae(d=3,n_v=4) bits per vector: 6
	// quantized: [[0.333 -0.333 1.000] [-1.000 0.333 -0.333]]
	// codes of dimension 0: [2 0]
	// codes of dimension 1: [1 2]
	// codes of dimension 2: [3 1]
}

// ExampleBinary binarises two 3-dimensional latents outside training: each bit is 1 where
// σ(z) > ½, and the code is the number those bits spell (in training the bits are sampled).
func ExampleBinary() {
	backend, err := compute.NewWithConfig("go")
	if err != nil {
		panic(err)
	}
	q, err := vq.NewBinary(vq.BinaryOptions{CodebookSize: 8})
	if err != nil {
		panic(err)
	}
	latents := [][]float32{{0.5, -0.25, 0.75}, {-0.5, 0.25, 2}}
	outputs := model.MustCallOnceN(backend, model.NewStore(), func(scope *model.Scope, z *graph.Node) []*graph.Node {
		out := q.Quantize(scope.In("binary"), z)
		return []*graph.Node{out.Quantized, out.Codes.Stages[0], out.Bits}
	}, latents)
	fmt.Println(q.Name(), "bits per vector:", outputs[2].Value())
	fmt.Println("quantized:", outputs[0].Value())
	fmt.Println("codes:", outputs[1].Value())
	// Output:
	// binary(K=8,bits=3) bits per vector: 3
	// quantized: [[1 0 1] [0 1 1]]
	// codes: [5 6]
}
