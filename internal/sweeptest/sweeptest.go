// Package sweeptest registers "sweeptest", a model for the sweep's tests that trains in
// milliseconds on the real Fashion-MNIST and whose metrics do not depend on any zoo member's
// evaluator, and shares one loaded dataset and backend between tests.
package sweeptest

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/datasets/fashionmnist"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
)

// Name is the model's registry name. It scales the images by one trained gain; its metrics
// are "mse" (with each image's as the per-example samples "mse") and "level", which echoes the hyperparameter sweeptest_level so that
// expectations on it hold or fail exactly. Its other hyperparameters, sweeptest_name
// (string) and sweeptest_flag (bool), are there to be swept over.
const Name = "sweeptest"

// Base is a config of the model that trains 2 steps and evaluates 100 test images.
const Base = `{"model": "sweeptest", "steps": 2, "batch_size": 8, "eval_batch_size": 50, "eval_examples": 100, "checkpoint_every": 0, "log_every": 1}`

func init() {
	framework.Register(&framework.Model{
		Name:    Name,
		Doc:     "images × a trained gain, for the sweep's tests",
		Dataset: "fashion-mnist",
		Params: hparams.List{
			{Key: "sweeptest_level", Default: 0, Doc: `reported as the metric "level"`},
			{Key: "sweeptest_name", Default: "a", Doc: "a string to sweep over"},
			{Key: "sweeptest_flag", Default: false, Doc: "a boolean to sweep over"},
		},
		Build: func(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
			images := inputs[0]
			gain := scope.VariableWithValue("gain", float32(0.5)).NodeValue(images.Graph())
			predictions := graph.Mul(images, gain)
			mse := graph.ReduceAllMean(graph.Square(graph.Sub(predictions, images)))
			train.AddLoss(mse)
			return framework.Outputs{Predictions: []*graph.Node{predictions}, Scalars: map[string]*graph.Node{"mse": mse}}
		},
		Scalars: []string{"mse"},
		NewEvaluator: func(params map[string]any) (framework.Evaluator, error) {
			return &evaluator{level: float64(params["sweeptest_level"].(int))}, nil
		},
	})
}

// evaluator reports the mean squared error and the level, and keeps each image's squared error
// (a framework.SamplingEvaluator).
type evaluator struct {
	level, sum float64
	n          int
	perImage   []float64
}

func (e *evaluator) Add(inputs, predictions []*tensors.Tensor) error {
	images := tensors.MustCopyFlatData[float32](inputs[0])
	size := len(images) / inputs[0].Shape().Dimensions[0]
	for i, p := range tensors.MustCopyFlatData[float32](predictions[0]) {
		d := float64(p - images[i])
		e.sum += d * d
		e.n++
		if i%size == 0 {
			e.perImage = append(e.perImage, 0)
		}
		e.perImage[len(e.perImage)-1] += d * d / float64(size)
	}
	return nil
}

func (e *evaluator) Samples() map[string][]float64 { return map[string][]float64{"mse": e.perImage} }

func (e *evaluator) Metrics() map[string]float64 {
	return map[string]float64{"mse": e.sum / float64(e.n), "level": e.level}
}

// DataDir returns a directory holding Fashion-MNIST, or fails the test when there is none
// (scripts/install-deps.sh installs Debian's dataset-fashion-mnist): the tests train on the
// real data, must not download it, and never skip for want of it.
func DataDir(t testing.TB) string {
	t.Helper()
	var candidates []string
	if dir := os.Getenv(fashionmnist.DataDirEnv); dir != "" {
		candidates = append(candidates, dir, filepath.Join(dir, "fashion-mnist"))
	}
	candidates = append(candidates, fashionmnist.SystemDir)
	for _, dir := range candidates {
		if found, _ := filepath.Glob(filepath.Join(dir, "t10k-labels-idx1-ubyte*")); len(found) > 0 {
			return dir
		}
	}
	t.Fatalf("Fashion-MNIST not found in %v: run scripts/install-deps.sh (Debian's dataset-fashion-mnist) or set %s", candidates, fashionmnist.DataDirEnv)
	return ""
}

var shared struct {
	once sync.Once
	opts framework.RunOptions
	err  error
}

// RunOptions returns options holding Fashion-MNIST and the pure-Go backend, loaded once and
// shared by every test of the binary, that print nothing.
func RunOptions(t testing.TB) framework.RunOptions {
	t.Helper()
	dataDir := DataDir(t)
	shared.once.Do(func() {
		prepare := framework.RunOptions{DataDir: dataDir, Out: io.Discard, Quiet: true}
		if prepare.Backend, shared.err = framework.NewBackendFromSpec("go"); shared.err != nil {
			return
		}
		m, err := framework.LookupModel(Name)
		if err != nil {
			shared.err = err
			return
		}
		shared.opts, shared.err = prepare.Prepare(m)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.opts
}

// WriteSpec writes base (e.g. Base) as base.json and spec as sweep.json into a new temporary
// directory and returns the sweep file's path.
func WriteSpec(t testing.TB, base, spec string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "base.json"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sweep.json")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
