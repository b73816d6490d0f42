package asr_test

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/metrics"
	"github.com/qzoo/qzoo/models/asr"
)

// Two frames of uniform probabilities over the blank and one phoneme: three of the four paths
// (1 1, blank 1, 1 blank) collapse to the label sequence [1], so p = 3/4 and the loss is −ln 3/4.
func ExampleCTCLoss() {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		panic(err)
	}
	exec, err := model.NewExec(backend, model.NewStore(), func(_ *model.Scope, logits, frames, labels, counts *graph.Node) *graph.Node {
		return asr.CTCLoss(graph.LogSoftmax(logits, -1), frames, labels, counts, asr.Blank)
	})
	if err != nil {
		panic(err)
	}
	out, err := exec.Call(
		tensors.FromFlatDataAndDimensions([]float32{0, 0, 0, 0}, 1, 2, 2), // logits [B=1, T=2, V=2]
		tensors.FromFlatDataAndDimensions([]int32{2}, 1),                  // valid frames
		tensors.FromFlatDataAndDimensions([]int32{1}, 1, 1),               // labels [B=1, L=1]
		tensors.FromFlatDataAndDimensions([]int32{1}, 1))                  // label counts
	if err != nil {
		panic(err)
	}
	fmt.Printf("loss %.4f\n", tensors.MustCopyFlatData[float32](out[0])[0])
	// Output: loss 0.2877
}

// Greedy decoding and the phoneme error rate of one utterance.
func ExampleGreedyDecode() {
	// Arg max of each of 6 frames over the blank and phonemes 1..2: 1 1 blank 2 2 1.
	logProbs := []float32{
		-3, -0.1, -3,
		-3, -0.1, -3,
		-0.1, -3, -3,
		-3, -3, -0.1,
		-3, -3, -0.1,
		-3, -0.1, -3,
	}
	hyp, err := asr.GreedyDecode(logProbs, 6, 3, asr.Blank)
	if err != nil {
		panic(err)
	}
	ref := []int32{1, 2, 2, 1}
	fmt.Println("decoded", hyp, "PER", metrics.Align(ref, hyp).Rate())
	// Output: decoded [1 2 1] PER 0.25
}
