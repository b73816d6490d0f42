package framework

import (
	"errors"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/framework/hparams"
)

// A model registered only for the framework's own tests.
func init() {
	Register(&Model{
		Name:    "test_linear",
		Doc:     "y = w·x, for the framework's tests",
		Dataset: "test_synthetic",
		Params: hparams.List{
			{Key: "test_width", Default: 4, Doc: "width"},
			{Key: "test_scale", Default: 1.0, Doc: "scale"},
			{Key: "test_name", Default: "a", Doc: "name"},
			{Key: "test_flag", Default: false, Doc: "flag"},
		},
		Build:   buildTestLinear,
		Scalars: []string{"mse"},
		NewEvaluator: func(params map[string]any) (Evaluator, error) {
			if params["test_name"] == "unevaluable" {
				return nil, errors.New("test_name unevaluable: no evaluator")
			}
			return &meanEvaluator{}, nil
		},
	})
	RegisterDataset(&Dataset{Name: "test_synthetic", Doc: "Gaussian vectors, for the framework's tests",
		Params: hparams.List{{Key: "test_synthetic_eval_batches", Default: 3, Doc: "batches in each evaluation split", Domain: hparams.Positive()}},
		Load:   loadSynthetic})
}

// buildTestLinear fits x·W to 2x: a model small enough to test the loop's mechanics.
func buildTestLinear(scope *model.Scope, inputs []*graph.Node) Outputs {
	x := inputs[0]
	width := x.Shape().Dimensions[1]
	w := scope.In("linear").VariableWithShape("w", shapes.Make(dtypes.Float32, width, width)).NodeValue(x.Graph())
	y := graph.MatMul(x, w)
	sqErr := graph.Square(graph.Sub(y, graph.MulScalar(x, 2)))
	mse := graph.ReduceAllMean(sqErr)
	train.AddLoss(mse)
	return Outputs{Predictions: []*graph.Node{graph.ReduceSum(sqErr, -1)}, Scalars: map[string]*graph.Node{"mse": mse}}
}

// meanEvaluator averages the first prediction.
type meanEvaluator struct{ sum, n float64 }

func (e *meanEvaluator) Add(_, predictions []*tensors.Tensor) error {
	for _, v := range tensors.MustCopyFlatData[float32](predictions[0]) {
		e.sum += float64(v)
		e.n++
	}
	return nil
}
func (e *meanEvaluator) Metrics() map[string]float64 {
	return map[string]float64{"mse": e.sum / e.n, "examples": e.n}
}

// syntheticBatches yields batch k as a pure function of (seed, k), like real datasets do.
type syntheticBatches struct {
	batchSize, width int
	seed, start      int64
	count            int64 // -1: endless
}

func (s *syntheticBatches) Name() string { return "synthetic" }
func (s *syntheticBatches) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for k := s.start; s.count < 0 || k < s.start+s.count; k++ {
			rng := rand.New(rand.NewPCG(uint64(s.seed), uint64(k)))
			x := make([]float32, s.batchSize*s.width)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := make([]float32, len(x))
			for i, v := range x {
				y[i] = 2 * v
			}
			t := tensors.FromFlatDataAndDimensions(x, s.batchSize, s.width)
			target := tensors.FromFlatDataAndDimensions(y, s.batchSize, s.width) // label: 2x
			if !yield(train.Batch{Inputs: []*tensors.Tensor{t}, Labels: []*tensors.Tensor{target}}, nil) {
				return
			}
		}
	}
}

func loadSynthetic(_ string, params map[string]any) (*Data, error) {
	evalBatches := int64(params["test_synthetic_eval_batches"].(int))
	return &Data{
		TrainBatches: func(batchSize int, seed, start int64) train.Dataset {
			return &syntheticBatches{batchSize: batchSize, width: 4, seed: seed, start: start, count: -1}
		},
		EvalBatches: func(split string, batchSize int) (train.Dataset, error) {
			seed := map[string]int64{SplitValidation: 998, SplitTest: 999}[split]
			return &syntheticBatches{batchSize: batchSize, width: 4, seed: seed, count: evalBatches}, nil
		},
		EvalSplits: []string{SplitValidation, SplitTest},
	}, nil
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigDefaultsAndTypes(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, `{"model": "test_linear", "steps": 7, "params": {"test_width": 8, "test_scale": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Steps != 7 || cfg.BatchSize != DefaultConfig().BatchSize {
		t.Errorf("steps %d batch %d: defaults not applied", cfg.Steps, cfg.BatchSize)
	}
	if cfg.Params["test_width"] != 8 || cfg.Params["test_scale"] != 2.0 || cfg.Params["test_name"] != "a" {
		t.Errorf("params not resolved with types and defaults: %#v", cfg.Params)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"unknown key", `{"model": "test_linear", "stepz": 3}`, `unknown key "stepz"; valid keys are: description, model, dataset, steps`},
		{"wrong type", `{"model": "test_linear", "steps": "many"}`, `key "steps": got JSON string, want an integer`},
		{"fraction for an int", `{"model": "test_linear", "steps": 2.5}`, `key "steps": got 2.5, want an integer`},
		{"duplicate key", `{"model": "test_linear", "steps": 2, "steps": 3}`, `key "steps" appears twice`},
		{"null", `{"model": "test_linear", "steps": null}`, `key "steps": got JSON null, want an integer (omit the key`},
		{"object param", `{"model": "test_linear", "params": {"test_width": {"a": 1}}}`, `key "params.test_width": got JSON object, want a string, number or boolean`},
		{"NaN", "{\"model\": \"test_linear\",\n \"learning_rate\": NaN}", `line 2: invalid character 'N' looking for beginning of value (JSON has no NaN or Infinity`},
		{"unknown param", `{"model": "test_linear", "params": {"test_widht": 3}}`, "unknown key params.test_widht for model \"test_linear\" on dataset \"test_synthetic\"; valid keys are: adam_backoff"},
		{"param type", `{"model": "test_linear", "params": {"test_width": 2.5}}`, "key params.test_width: got 2.5, want an integer"},
		{"param string for int", `{"model": "test_linear", "params": {"test_width": "2"}}`, "key params.test_width: got string 2, want int"},
		{"unknown model", `{"model": "nope"}`, `unknown model "nope"; registered:`},
		{"no model", `{}`, `key "model" is required`},
		{"bad optimizer", `{"model": "test_linear", "optimizer": "sgdd"}`, `key "optimizer": "sgdd" is not one of adam, adamax, adamw, rmsprop, sgd`},
		{"explicit zero batch size", `{"model": "test_linear", "batch_size": 0}`, `key "batch_size": must not be zero`},
		{"negative steps", `{"model": "test_linear", "steps": -3}`, `key "steps": -3 must be ≥ 0`},
		{"too many steps", `{"model": "test_linear", "steps": 10000000000}`, `key "steps": 10000000000 must be ≤ 10000000`},
		{"huge batch", `{"model": "test_linear", "batch_size": 9223372036854775807}`, `key "batch_size": 9223372036854775807 must be ≤ 1048576`},
		{"negative min lr", `{"model": "test_linear", "min_learning_rate": -0.5}`, `key "min_learning_rate": must be ≥ 0, got -0.5`},
		{"min lr above lr", `{"model": "test_linear", "learning_rate": 0.01, "min_learning_rate": 0.1}`, `key "min_learning_rate": 0.1 is above learning_rate 0.01`},
		{"negative lr", `{"model": "test_linear", "learning_rate": -1}`, `key "learning_rate": must be ≥ 0, got -1`},
		{"weight decay without adamw", `{"model": "test_linear", "weight_decay": 0.1}`, `key "weight_decay": 0.1 is only used by optimizer "adamw"`},
		{"huge number", `{"model": "test_linear", "params": {"test_scale": 1e999}}`, `key params.test_scale: got 1e999, want a finite number`},
		{"optimizer key out of domain", `{"model": "test_linear", "params": {"adam_beta1": 1.5}}`, `key adam_beta1: must be in [0, 0.999999], got 1.5`},
		{"dataset key out of domain", `{"model": "test_linear", "params": {"test_synthetic_eval_batches": 0}}`, `key test_synthetic_eval_batches: must be > 0`},
		{"unknown dataset", `{"model": "test_linear", "dataset": "nope"}`, `key "dataset": framework: unknown dataset "nope"`},
		{"bad freeze", `{"model": "test_linear", "freeze": "("}`, `key "freeze": error parsing regexp`},
		{"init_from without hook", `{"model": "test_linear", "init_from": "x.bin"}`, `key "init_from": model "test_linear" has no pretrained initialisation`},
		{"bad expect", `{"model": "test_linear", "expect": {"mse": "about 3"}}`, `key expect.mse: condition "about 3"`},
		{"trailing", `{"model": "test_linear"} {}`, "trailing data"},
		{"not json", `{"model": `, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.json)
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatalf("no error for %s", tc.json)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q should name the file and contain %q", err, tc.want)
			}
		})
	}
	if _, err := LoadConfig("/nonexistent/c.json"); err == nil || !strings.Contains(err.Error(), "/nonexistent/c.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigSet(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"model": "test_linear"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Set("steps=12; test_width=3;params.test_scale=0.5;test_flag=true;test_name=b;learning_rate=0.01"); err != nil {
		t.Fatal(err)
	}
	if cfg.Steps != 12 || cfg.Params["test_width"] != 3 || cfg.Params["test_scale"] != 0.5 ||
		cfg.Params["test_flag"] != true || cfg.Params["test_name"] != "b" || cfg.LearningRate != 0.01 {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	for set, want := range map[string]string{
		"stepz=3":          `unknown key "stepz"; valid keys are: description, model, dataset, steps`,
		"test_width=x":     `-set test_width: "x" is not an integer`,
		"steps=1.5":        `-set steps: "1.5" is not an integer`,
		"test_flag=maybe":  `-set test_flag: "maybe" is not a boolean`,
		"steps":            `want key=value`,
		"batch_size=-1":    `key "batch_size": -1 must be ≥ 1`,
		"params=3":         `cannot be set from the command line`,
		"test_scale=1e400": `not a number`,
		// Fault 1: non-finite values, in any float key, are config errors naming the key.
		"test_scale=NaN":                 `-set test_scale: "NaN" is not a finite number`,
		"test_scale=-Inf":                `-set test_scale: "-Inf" is not a finite number`,
		"learning_rate=NaN":              `-set learning_rate: "NaN" is not a finite number`,
		"min_learning_rate=+Inf":         `-set min_learning_rate: "+Inf" is not a finite number`,
		"adam_epsilon=nan":               `-set adam_epsilon: "nan" is not a finite number`,
		"min_learning_rate=-0.5":         `key "min_learning_rate": must be ≥ 0, got -0.5`, // fault 2
		"clip_grad_norm=-1":              `key "clip_grad_norm": must be ≥ 0`,
		"model=other":                    `the model cannot be changed by -set`,
		"eval_examples=-1":               `key "eval_examples": -1 must be ≥ 0`,
		"test_synthetic_eval_batches=-2": `key test_synthetic_eval_batches: must be > 0`,
	} {
		c := *cfg
		c.Params = map[string]any{}
		for k, v := range cfg.Params {
			c.Params[k] = v
		}
		err := c.Set(set)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Set(%q) = %v, want error containing %q", set, err, want)
		}
	}
}

// Fault 4: a Config built in Go with zero fields takes the documented defaults instead of
// panicking (LogEvery 0 was an integer division by zero), and a non-finite value set in Go is
// an error naming the key, not a panic of the JSON encoder.
func TestGoBuiltConfigZeroValuesAndNonFinite(t *testing.T) {
	cfg := &Config{Model: "test_linear", Steps: 3}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if cfg.LogEvery != d.LogEvery || cfg.BatchSize != d.BatchSize || cfg.Optimizer != d.Optimizer ||
		cfg.LearningRate != d.LearningRate || cfg.Dataset != "test_synthetic" || cfg.EvalSplit != SplitTest ||
		cfg.Params["test_width"] != 4 {
		t.Errorf("zero fields not defaulted: %+v", cfg)
	}
	res, err := Run(&Config{Model: "test_linear", Steps: 3, BatchSize: 4}, RunOptions{Dir: t.TempDir(), Backend: goBackend(t), Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 3 {
		t.Errorf("ran to step %d, want 3", res.Step)
	}
	bad := &Config{Model: "test_linear", Steps: 3, Params: map[string]any{"test_scale": math.NaN()}}
	if _, err := Run(bad, RunOptions{Dir: t.TempDir(), Backend: goBackend(t), Out: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), "key test_scale: NaN is not a finite number") {
		t.Errorf("NaN param in a Go-built config: %v", err)
	}
	bad = &Config{Model: "test_linear", Steps: 3, MinLearningRate: -0.5}
	if _, err := Run(bad, RunOptions{Dir: t.TempDir(), Backend: goBackend(t), Out: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), `key "min_learning_rate"`) {
		t.Errorf("negative min_learning_rate in a Go-built config: %v", err)
	}
}

func TestCheckExpectations(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"model": "test_linear", "expect": {"psnr": ">= 20", "mse": "< 0.01"}}`))
	if err != nil {
		t.Fatal(err)
	}
	lines, ok := cfg.CheckExpectations(map[string]float64{"psnr": 21, "mse": 0.02})
	if ok || len(lines) != 2 || !strings.Contains(lines[0], "NOT MET") || strings.Contains(lines[1], "NOT MET") {
		t.Errorf("got %v %v", ok, lines)
	}
	if _, ok := cfg.CheckExpectations(map[string]float64{"psnr": 20, "mse": 0.001}); !ok {
		t.Error("conditions that hold reported as not met")
	}
}

func TestConfigJSONRoundTrip(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"model": "test_linear", "params": {"test_width": 5}}`))
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseConfig(cfg.JSON())
	if err != nil {
		t.Fatalf("resolved config does not parse back: %v\n%s", err, cfg.JSON())
	}
	if again.Params["test_width"] != 5 || again.Steps != cfg.Steps {
		t.Errorf("round trip changed the config: %+v", again)
	}
}

// FuzzParseConfig: any bytes give a config or an error, never a panic; a config that parses
// is fully resolved (encodable, and stable through a JSON round trip).
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		`{"model": "test_linear"}`,
		`{"model": "test_linear", "steps": 5, "params": {"test_scale": 2.5, "test_flag": true}}`,
		`{"model": "test_linear", "min_learning_rate": -0.5}`,
		`{"model": "test_linear", "params": {"test_scale": 1e999}}`,
		`{"model": "test_hooks", "freeze": "(", "expect": {"mse": "< 1"}}`,
		`{"model": "test_linear", "learning_rate": 0.1, "min_learning_rate": 0.2}`,
		`{"model": "test_linear"} trailing`, `[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		again, err := ParseConfig(cfg.JSON())
		if err != nil {
			t.Fatalf("resolved config %s does not parse again: %v", cfg.JSON(), err)
		}
		if string(again.JSON()) != string(cfg.JSON()) {
			t.Fatalf("round trip changed the config:\n%s\n%s", cfg.JSON(), again.JSON())
		}
	})
}
