package vq_test

import (
	"fmt"
	"sort"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/layers/vq"
)

// ExampleLFQ quantizes two 3-dimensional latents with lookup-free quantization: each
// dimension becomes its sign, and the code is the number whose bits are the positive signs.
func ExampleLFQ() {
	backend, err := compute.NewWithConfig("go")
	if err != nil {
		panic(err)
	}
	q, err := vq.NewLFQ(vq.LFQOptions{CodebookSize: 8, Commitment: 0.25, EntropyWeight: 0.1, Diversity: 1, Temperature: 0.01})
	if err != nil {
		panic(err)
	}
	latents := [][]float32{{0.5, -0.25, 0.75}, {-0.5, 0.25, 2}}
	outputs := model.MustCallOnceN(backend, model.NewStore(), func(scope *model.Scope, z *graph.Node) []*graph.Node {
		out := q.Quantize(scope.In("lfq"), z)
		return []*graph.Node{out.Quantized, out.Codes.Stages[0], out.Bits}
	}, latents)
	fmt.Println(q.Name(), "bits per vector:", outputs[2].Value())
	fmt.Println("quantized:", outputs[0].Value())
	fmt.Println("codes:", outputs[1].Value())
	// Output:
	// lfq(K=8,bits=3) bits per vector: 3
	// quantized: [[1 -1 1] [-1 1 1]]
	// codes: [5 6]
}

// ExampleEMA_InitFromLatents initialises an EMA codebook by k-means on a first batch made of
// two clusters: the codes land on the cluster means.
func ExampleEMA_InitFromLatents() {
	backend, err := compute.NewWithConfig("go")
	if err != nil {
		panic(err)
	}
	store := model.NewStore()
	store.RootScope().SetParams(map[string]any{
		model.ParamInitialSeed: int64(1), vq.ParamType: "ema_vq", vq.ParamCodebookSize: 2})
	q := vq.New(store.RootScope(), "")
	latents := [][]float32{{1, 1}, {1.2, 1}, {1, 1.2}, {-2, -2}, {-2.2, -2}, {-2, -1.8}}
	model.MustCallOnce(backend, store, func(scope *model.Scope, z *graph.Node) *graph.Node {
		q.(vq.DataInitializer).InitFromLatents(scope.In("ema"), z)
		return graph.ReduceAllSum(z)
	}, latents)
	codebook := store.RootScope().In("ema").GetVariable("codebook").MustValue().Value().([][]float32)
	sort.Slice(codebook, func(i, j int) bool { return codebook[i][0] < codebook[j][0] })
	fmt.Println(q.Name())
	fmt.Printf("codebook: %.2f\n", codebook)
	// Output:
	// ema_vq(K=2)
	// codebook: [[-2.07 -1.93] [1.07 1.07]]
}
