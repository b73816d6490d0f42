// Package gainmodel registers stand-in models for the tests of commands that need a trained
// run directory but not a trained model: a compressor test registers its own codec under the
// model's name and reads nothing from the checkpoint (bench's speech study, codec's audio
// path). The model scales its input [B, 16] by one trained scalar ("gain") on endless Gaussian
// noise whose labels are the inputs; it trains in milliseconds and evaluates one batch to the
// single metric "none" = 0.
package gainmodel

import (
	"iter"
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/framework"
)

// Register registers the model name (documented by doc) and its dataset name+"_noise". It
// panics, as the registries do, if either name is taken.
func Register(name, doc string) {
	dataset := name + "_noise"
	framework.RegisterDataset(&framework.Dataset{
		Name: dataset,
		Doc:  "Gaussian noise [B, 16], labels equal to the inputs (" + doc + ")",
		Load: func(string, map[string]any) (*framework.Data, error) {
			return &framework.Data{
				TrainBatches: func(batchSize int, seed, start int64) train.Dataset {
					return &noise{batchSize, seed, start, -1}
				},
				EvalBatches: func(_ string, batchSize int) (train.Dataset, error) {
					return &noise{batchSize, 7, 0, 1}, nil
				},
				EvalSplits: []string{framework.SplitTest},
			}, nil
		},
	})
	framework.Register(&framework.Model{
		Name:    name,
		Doc:     doc,
		Dataset: dataset,
		Build: func(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
			g := scope.WithInitializer(func(gr *graph.Graph, _ shapes.Shape) *graph.Node {
				return graph.Scalar(gr, dtypes.Float32, 1.0)
			}).VariableWithShape("gain", shapes.Make(dtypes.Float32)).NodeValue(inputs[0].Graph())
			return framework.Outputs{Predictions: []*graph.Node{graph.Mul(inputs[0], g)}}
		},
		Loss: func(labels, predictions []*graph.Node) *graph.Node {
			return graph.ReduceAllMean(graph.Square(graph.Sub(predictions[0], labels[0])))
		},
		NewEvaluator: func(map[string]any) (framework.Evaluator, error) { return noEval{}, nil },
	})
}

// noise yields count batches (-1: endless) of [batchSize, 16] Gaussian values, batch k seeded
// by (seed, k) from start.
type noise struct {
	batchSize   int
	seed, start int64
	count       int64
}

func (n *noise) Name() string { return "noise" }
func (n *noise) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for k := n.start; n.count < 0 || k < n.start+n.count; k++ {
			rng := rand.New(rand.NewPCG(uint64(n.seed), uint64(k)))
			x := make([]float32, n.batchSize*16)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			t := tensors.FromFlatDataAndDimensions(x, n.batchSize, 16)
			if !yield(train.Batch{Inputs: []*tensors.Tensor{t}, Labels: []*tensors.Tensor{t}}, nil) {
				return
			}
		}
	}
}

type noEval struct{}

func (noEval) Add(_, _ []*tensors.Tensor) error { return nil }
func (noEval) Metrics() map[string]float64      { return map[string]float64{"none": 0} }
