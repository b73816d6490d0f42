package framework_test

import (
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/framework/hparams"
)

// pairs yields batches of Gaussian vectors x (inputs) and 3x (labels); batch k depends only
// on (seed, k), so runs resume on exactly the same batches.
type pairs struct {
	batchSize, width int
	seed, start      int64
	count            int64 // -1: endless
}

func (p *pairs) Name() string { return "pairs" }
func (p *pairs) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for k := p.start; p.count < 0 || k < p.start+p.count; k++ {
			rng := rand.New(rand.NewPCG(uint64(p.seed), uint64(k)))
			x, y := make([]float32, p.batchSize*p.width), make([]float32, p.batchSize*p.width)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				y[i] = 3 * x[i]
			}
			batch := train.Batch{
				Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, p.batchSize, p.width)},
				Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(y, p.batchSize, p.width)},
			}
			if !yield(batch, nil) {
				return
			}
		}
	}
}

// mseEvaluator is the mean squared error of the predictions against the labels.
type mseEvaluator struct{ sum, n float64 }

func (e *mseEvaluator) Add(_, _ []*tensors.Tensor) error { return nil }
func (e *mseEvaluator) AddLabeled(_, labels, predictions []*tensors.Tensor) error {
	y, p := tensors.MustCopyFlatData[float32](labels[0]), tensors.MustCopyFlatData[float32](predictions[0])
	for i := range y {
		e.sum += float64((p[i] - y[i]) * (p[i] - y[i]))
		e.n++
	}
	return nil
}
func (e *mseEvaluator) Metrics() map[string]float64 { return map[string]float64{"mse": e.sum / e.n} }

// scaleParams are the hyperparameters of the example's model, each default said once: Build
// reads them with hparams.Get.
var scaleParams = hparams.List{{Key: "example_scale_init", Default: 1.0, Domain: hparams.Positive(),
	Doc: "initial value of s"}}

// Register a dataset with a hyperparameter of its own and a model that learns from labels,
// train it with the one loop, then evaluate the run directory again; then distil a student
// from the trained model, a frozen teacher in the student's graph.
func Example() {
	framework.RegisterDataset(&framework.Dataset{
		Name: "example_pairs",
		Doc:  "Gaussian vectors x with labels 3x",
		Params: hparams.List{{Key: "example_pairs_width", Default: 4, Domain: hparams.Range(1, 64),
			Doc: "dimension of the vectors"}},
		Load: func(_ string, params map[string]any) (*framework.Data, error) {
			width := params["example_pairs_width"].(int)
			return &framework.Data{
				TrainBatches: func(batchSize int, seed, start int64) train.Dataset {
					return &pairs{batchSize: batchSize, width: width, seed: seed, start: start, count: -1}
				},
				EvalBatches: func(split string, batchSize int) (train.Dataset, error) {
					return &pairs{batchSize: batchSize, width: width, seed: 12345, count: 4}, nil
				},
				EvalSplits: []string{framework.SplitTest},
			}, nil
		},
	})
	framework.Register(&framework.Model{
		Name:    "example_scale",
		Doc:     "ŷ = s·x with one learned scale s",
		Dataset: "example_pairs",
		Params:  scaleParams,
		Build: func(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
			x := inputs[0]
			init := hparams.Get[float64](scope, scaleParams, "example_scale_init")
			s := scope.WithInitializer(func(g *graph.Graph, shape shapes.Shape) *graph.Node {
				return graph.Scalar(g, dtypes.Float32, init)
			}).VariableWithShape("s", shapes.Make(dtypes.Float32))
			sv := s.NodeValue(x.Graph())
			return framework.Outputs{
				Predictions: []*graph.Node{graph.Mul(x, sv)},
				Scalars:     map[string]*graph.Node{"scale": sv},
			}
		},
		Loss: func(labels, predictions []*graph.Node) *graph.Node {
			return graph.ReduceAllMean(graph.Square(graph.Sub(predictions[0], labels[0])))
		},
		Scalars:      []string{"scale"},
		NewEvaluator: func(map[string]any) (framework.Evaluator, error) { return &mseEvaluator{}, nil },
	})

	cfg, err := framework.ParseConfig([]byte(`{"model": "example_scale", "steps": 300, "batch_size": 16,
		"learning_rate": 0.05, "params": {"example_pairs_width": 8}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	backend, _ := framework.NewBackendFromSpec("go")
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	res, err := framework.Run(cfg, framework.RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("step %d: learned scale %.2f, test mse %.4f\n", res.Step, res.Train["scale"], res.Eval["mse"])

	metrics, _, step, err := framework.Evaluate(dir, framework.RunOptions{Backend: backend, Out: io.Discard})
	fmt.Printf("re-evaluated at step %d: mse %.4f, err %v\n", step, metrics["mse"], err)

	// Bad values are config errors naming the key.
	fmt.Println(cfg.Set("example_pairs_width=0"))

	// A student distilled from the trained model: its Model.Teacher names the teacher's model,
	// the config's teacher_from the trained teacher (this run directory, or a file the
	// teacher's Pretrained hook reads). Build gets the frozen teacher's outputs from
	// framework.BuildTeacher and learns them, not the labels.
	framework.Register(&framework.Model{
		Name:    "example_student",
		Doc:     "ŷ = t·x learning the outputs of a trained example_scale",
		Dataset: "example_pairs",
		Teacher: "example_scale",
		Build: func(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
			x := inputs[0]
			target := framework.BuildTeacher(scope, inputs).Predictions[0]
			t := scope.VariableWithValue("t", float32(1)).NodeValue(x.Graph())
			y := graph.Mul(x, t)
			train.AddLoss(graph.ReduceAllMean(graph.Square(graph.Sub(y, target))))
			return framework.Outputs{Predictions: []*graph.Node{y}, Scalars: map[string]*graph.Node{"scale": t}}
		},
		Scalars:      []string{"scale"},
		NewEvaluator: func(map[string]any) (framework.Evaluator, error) { return &mseEvaluator{}, nil },
		// The teacher's scale as the student's store holds it after training.
		Evaluate: func(ctx *framework.EvalContext) (map[string]float64, error) {
			s := ctx.Store.GetVariable("/" + framework.TeacherScope + "/s").MustValue()
			return map[string]float64{"teacher_scale": float64(s.Value().(float32))}, nil
		},
	})
	teacherSum, _ := framework.FileSHA256(dir)
	student, err := framework.ParseConfig(fmt.Appendf(nil, `{"model": "example_student", "steps": 200, "batch_size": 16,
		"learning_rate": 0.05, "teacher_from": %q, "params": {"example_pairs_width": 8}}`, dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	studentDir, _ := os.MkdirTemp("", "example_student")
	defer os.RemoveAll(studentDir)
	sres, err := framework.Run(student, framework.RunOptions{Dir: studentDir, Backend: backend, Out: io.Discard})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, teacherStore, _, _ := framework.LoadRun(dir)
	trained := float64(teacherStore.GetVariable("/s").MustValue().Value().(float32))
	fmt.Printf("student step %d: learned scale %.2f, test mse %.4f; teacher unchanged: %v\n",
		sres.Step, sres.Train["scale"], sres.Eval["mse"], sres.Eval["teacher_scale"] == trained)

	// The student's checkpoints hold the teacher's SHA-256, not its variables.
	latest, _, _ := checkpoint.Latest(studentDir)
	header, _ := checkpoint.ReadHeader(latest)
	saved := 0
	for _, v := range header.Variables {
		if strings.HasPrefix(v.Path, "/"+framework.TeacherScope+"/") {
			saved++
		}
	}
	fmt.Printf("teacher variables saved: %d; teacher identified: %v\n",
		saved, string(header.Meta["teacher_from_sha256"]) == fmt.Sprintf("%q", teacherSum))
	// Output:
	// step 300: learned scale 3.00, test mse 0.0000
	// re-evaluated at step 300: mse 0.0000, err <nil>
	// params: key example_pairs_width: must be in [1, 64], got 0
	// student step 200: learned scale 3.00, test mse 0.0000; teacher unchanged: true
	// teacher variables saved: 0; teacher identified: true
}
