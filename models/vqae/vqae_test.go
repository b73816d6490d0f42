package vqae_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/vq"
	"github.com/qzoo/qzoo/models/vqae"
)

func randomImages(n int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*28*28)
	for i := range x {
		x[i] = rng.Float32()
	}
	return tensors.FromFlatDataAndDimensions(x, n, 28, 28, 1)
}

// TestShapesAndEncoderGradient builds the model with every quantizer: the reconstruction and
// codes have the documented shapes, and the loss's gradient reaches the first encoder conv
// through the quantizer (straight-through estimator or FSQ/LFQ's own gradient).
func TestShapesAndEncoderGradient(t *testing.T) {
	backend, err := framework.NewBackendFromSpec("go")
	if err != nil {
		t.Fatal(err)
	}
	m, err := framework.LookupModel("vqae")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range vq.Types() {
		t.Run(q, func(t *testing.T) {
			params := m.Params.Defaults()
			params[vq.ParamType] = q
			params[vq.ParamCodebookSize] = 256
			store := model.NewStore()
			store.SetParams(params)
			exec, err := model.NewExec(backend, store, func(scope *model.Scope, images *graph.Node) []*graph.Node {
				out := vqae.Build(scope, []*graph.Node{images})
				loss := train.TotalLoss(images.Graph())
				w := store.GetVariable("/encoder/conv_0/conv/weights")
				if w == nil {
					t.Fatalf("encoder weights not found; variables: %v", varNames(store))
				}
				grad := graph.Gradient(loss, w.NodeValue(images.Graph()))[0]
				return append(out.Predictions, graph.ReduceAllSum(graph.Abs(grad)))
			})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := exec.Call(randomImages(2))
			if err != nil {
				t.Fatal(err)
			}
			stages := vq.New(store.RootScope().In("probe")).Stages()
			if got := outs[0].Shape().Dimensions; fmt.Sprint(got) != "[2 28 28 1]" {
				t.Errorf("reconstruction shape %v", got)
			}
			if got := outs[1].Shape().Dimensions; fmt.Sprint(got) != fmt.Sprint([]int{2, 7, 7, stages}) {
				t.Errorf("codes shape %v, want [2 7 7 %d]", got, stages)
			}
			if g := outs[2].Value().(float32); !(g > 0) {
				t.Errorf("the loss's gradient does not reach the encoder: Σ|∂L/∂w| = %v", g)
			}
		})
	}
}

func varNames(store *model.Store) []string {
	var names []string
	for v := range store.IterVariables() {
		names = append(names, v.Path())
	}
	return names
}

func TestEvaluatorBitsPerImage(t *testing.T) {
	m, _ := framework.LookupModel("vqae")
	params := m.Params.Defaults()
	params[vq.ParamType] = "rvq"
	params[vq.ParamCodebookSize] = 256
	ev := vqae.NewEvaluator(params)
	if got := ev.Metrics()["bits_per_image"]; got != 49*4*8 {
		t.Errorf("rvq with 4 stages of 256 codes: %v bits per image, want %d", got, 49*4*8)
	}
}
