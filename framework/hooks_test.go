package framework

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/framework/hparams"
	"gonum.org/v1/gonum/stat"
)

// pretrainedCalls and calibrateCalls count the calls of test_hooks' Pretrained and Calibrate
// hooks; calibrationExamples counts the examples Calibrate saw.
var pretrainedCalls, calibrateCalls, calibrationExamples int

// testHooksParams are test_hooks' hyperparameters.
var testHooksParams = hparams.List{
	{Key: "test_hooks_stat", Default: true, Doc: "return the optional statistic"},
	{Key: "test_hooks_nan", Default: false, Doc: "return a NaN statistic"},
	{Key: "test_hooks_calibrate", Default: 0.0, Doc: "Calibrate sets the bias to this value plus the number of calibration batches (0: leave it)"},
}

// Models exercising the optional hooks: a frozen bias (Trainable), a pretrained weight read from
// a file (Pretrained), a loss on the labels (Loss), a custom evaluation (Evaluate), a scalar that
// is only sometimes returned and one that is NaN.
func init() {
	Register(&Model{
		Name:    "test_hooks",
		Doc:     "y = x·W + b fitted to the labels, exercising every optional hook",
		Dataset: "test_synthetic",
		Params:  testHooksParams,
		Build: func(scope *model.Scope, inputs []*graph.Node) Outputs {
			x := inputs[0]
			g := x.Graph()
			lin := scope.In("linear")
			w := lin.VariableWithShape("w", shapes.Make(dtypes.Float32, 4, 4)).NodeValue(g)
			b := lin.VariableWithValue("b", []float32{1, 1, 1, 1}).NodeValue(g)
			y := graph.Add(graph.MatMul(x, w), graph.InsertAxes(b, 0))
			scalars := map[string]*graph.Node{"wnorm": graph.ReduceAllSum(graph.Square(w))}
			if hparams.Get[bool](scope, testHooksParams, "test_hooks_stat") {
				scalars["optional"] = graph.Scalar(g, dtypes.Float32, 7)
			}
			if hparams.Get[bool](scope, testHooksParams, "test_hooks_nan") {
				scalars["wnorm"] = graph.Scalar(g, dtypes.Float32, math.NaN())
			}
			return Outputs{Predictions: []*graph.Node{y}, Scalars: scalars}
		},
		Loss: func(labels, predictions []*graph.Node) *graph.Node {
			return graph.ReduceAllMean(graph.Square(graph.Sub(predictions[0], labels[0])))
		},
		Scalars: []string{"wnorm", "optional"},
		Pretrained: func(store *model.Store, path string, _ map[string]any) error {
			pretrainedCalls++
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var w []float32
			if err := json.Unmarshal(data, &w); err != nil {
				return err
			}
			if len(w) != 16 {
				return errors.New("want 16 weights")
			}
			store.RootScope().In("linear").VariableWithValue("w", tensors.FromFlatDataAndDimensions(w, 4, 4))
			return nil
		},
		Calibrate: func(ctx *EvalContext) error {
			calibrateCalls++
			v := ctx.Config.Params["test_hooks_calibrate"].(float64)
			if v == 0 {
				return nil
			}
			batches := 0
			for batch, err := range ctx.CalibrationBatches(3).Iter() {
				if err != nil {
					return err
				}
				batches++
				calibrationExamples += batch.Inputs[0].Shape().Dimensions[0]
			}
			b := float32(v) + float32(batches)
			return ctx.Store.GetVariable("/linear/b").SetValue(tensors.FromValue([]float32{b, b, b, b}))
		},
		Trainable:    func(path string, _ map[string]any) bool { return path != "/linear/b" },
		NewEvaluator: func(map[string]any) (Evaluator, error) { return &labelEvaluator{}, nil },
		Evaluate: func(ctx *EvalContext) (map[string]float64, error) {
			v := ctx.Store.GetVariable("/linear/b")
			if v == nil {
				return nil, errors.New("no /linear/b")
			}
			b := tensors.MustCopyFlatData[float32](v.MustValue())
			if err := ctx.RecordSamples("bias", []float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])}); err != nil {
				return nil, err
			}
			return map[string]float64{"bias0": float64(b[0]), "eval_step": float64(ctx.Step)}, nil
		},
	})
}

// labelEvaluator measures the mean squared error against the labels, and keeps each example's
// (a SamplingEvaluator).
type labelEvaluator struct {
	sum, n   float64
	examples []float64
}

func (e *labelEvaluator) Add(_, _ []*tensors.Tensor) error {
	return errors.New("Add called: the loop must prefer AddLabeled")
}
func (e *labelEvaluator) AddLabeled(_, labels, predictions []*tensors.Tensor) error {
	y, p := tensors.MustCopyFlatData[float32](labels[0]), tensors.MustCopyFlatData[float32](predictions[0])
	width := labels[0].Shape().Dimensions[1]
	for i := range y {
		d := float64(p[i] - y[i])
		e.sum += d * d
		e.n++
		if i%width == 0 {
			e.examples = append(e.examples, 0)
		}
		e.examples[len(e.examples)-1] += d * d / float64(width)
	}
	return nil
}
func (e *labelEvaluator) Samples() map[string][]float64 {
	return map[string][]float64{"example_mse": e.examples}
}
func (e *labelEvaluator) Metrics() map[string]float64 {
	return map[string]float64{"label_mse": e.sum / e.n, "values": e.n}
}

func hooksConfig(t *testing.T, extra string) *Config {
	t.Helper()
	cfg, err := ParseConfig(overlay(t, `"model": "test_hooks", "batch_size": 8, "eval_batch_size": 4, "learning_rate": 0.05,
		"checkpoint_every": 5, "log_every": 1, "steps": 10`, extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// logRecords reads metrics.jsonl.
func logRecords(t *testing.T, dir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("bad log line %q: %v", sc.Text(), err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func TestHooksPretrainedTrainableLossEvaluate(t *testing.T) {
	backend := goBackend(t)
	weights := make([]float32, 16)
	for i := 0; i < 4; i++ {
		weights[i*4+i] = 2 // W = 2I: with b frozen at 1, y = 2x + 1 against labels 2x
	}
	wJSON, _ := json.Marshal(weights)
	wFile := filepath.Join(t.TempDir(), "w.json")
	if err := os.WriteFile(wFile, wJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var steps, evals, ckpts []int64
	hooks := Hooks{
		OnStep:       func(step int64, m map[string]float64) error { steps = append(steps, step); return nil },
		OnEval:       func(step int64, m map[string]float64) error { evals = append(evals, step); return nil },
		OnCheckpoint: func(step int64, path string) error { ckpts = append(ckpts, step); return nil },
	}
	pretrainedCalls = 0
	opts := RunOptions{Dir: dir, Backend: backend, Out: io.Discard, Hooks: []Hooks{hooks}, StopAt: 5}
	res, err := Run(hooksConfig(t, `, "init_from": "`+wFile+`"`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if pretrainedCalls != 1 {
		t.Errorf("Pretrained called %d times on a fresh run, want 1", pretrainedCalls)
	}
	// b is frozen by Model.Trainable: the custom evaluation sees it unchanged.
	if res.Eval["bias0"] != 1 {
		t.Errorf("frozen bias moved to %v", res.Eval["bias0"])
	}
	// The evaluator got the labels (AddLabeled), and the custom metrics were merged.
	if _, ok := res.Eval["label_mse"]; !ok || res.Eval["eval_step"] != 5 || res.Eval["values"] != 3*4*4 {
		t.Errorf("merged evaluation %v", res.Eval)
	}
	checkSamples(t, dir, 5, res)
	header, err := checkpoint.ReadHeader(filepath.Join(dir, checkpoint.FileName(5)))
	if err != nil {
		t.Fatal(err)
	}
	if sum, _ := FileSHA256(wFile); string(header.Meta[metaInitSHA256]) != `"`+sum+`"` {
		t.Errorf("checkpoint records init_from_sha256 %s, want %q", header.Meta[metaInitSHA256], sum)
	}
	// Resume: Pretrained is not run again (the file may even be gone), the hash is kept.
	if err := os.Remove(wFile); err != nil {
		t.Fatal(err)
	}
	opts.StopAt = 0
	res, err = Run(hooksConfig(t, `, "init_from": "`+wFile+`"`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if pretrainedCalls != 1 || !res.Resumed {
		t.Errorf("resume: Pretrained called %d times (want 1), resumed %v", pretrainedCalls, res.Resumed)
	}
	header, err = checkpoint.ReadHeader(filepath.Join(dir, checkpoint.FileName(10)))
	if err != nil || header.Meta[metaInitSHA256] == nil {
		t.Errorf("resumed checkpoint lost init_from_sha256: %v %v", err, header)
	}
	if len(steps) != 10 || steps[9] != 10 || len(evals) != 2 || len(ckpts) != 2 {
		t.Errorf("hooks saw steps %v, evaluations %v, checkpoints %v", steps, evals, ckpts)
	}
	// The loss was the labels' (Model.Loss): it decreased towards the frozen bias's floor, 1.
	if res.Train["loss"] > 1.5 {
		t.Errorf("training loss %v: Model.Loss not used", res.Train["loss"])
	}
	checkSamples(t, dir, 10, res)
	// Evaluated again: the same samples, returned and written beside the given eval file.
	ev, _, err := EvaluateRun(dir, "", RunOptions{Backend: goBackend(t), Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Step != 10 || ev.Split != res.Config.EvalSplit || !slices.Equal(ev.Samples["example_mse"], res.EvalSamples["example_mse"]) {
		t.Errorf("EvaluateRun: step %d, split %q, samples %v; the run's %v", ev.Step, ev.Split, ev.Samples, res.EvalSamples)
	}
}

// checkSamples checks the per-example samples of a run's final evaluation at step: those of
// the evaluator (a SamplingEvaluator) and of the custom evaluation (RecordSamples), returned in
// the result and written to eval_samples.json; the examples' errors average to the metric.
func checkSamples(t *testing.T, dir string, step int64, res *Result) {
	t.Helper()
	gotStep, split, samples, err := ReadEvalSamples(filepath.Join(dir, EvalSamplesFile))
	if err != nil {
		t.Fatal(err)
	}
	if gotStep != step || split != res.Config.EvalSplit || !maps.EqualFunc(samples, res.EvalSamples, slices.Equal[[]float64]) {
		t.Errorf("%s: step %d split %q %v; the run's %v", EvalSamplesFile, gotStep, split, samples, res.EvalSamples)
	}
	if got := samples["bias"]; !slices.Equal(got, []float64{1, 1, 1, 1}) {
		t.Errorf("recorded bias %v", got)
	}
	mse := samples["example_mse"]
	if len(mse) != 12 || math.Abs(stat.Mean(mse, nil)-res.Eval["label_mse"]) > 1e-6*res.Eval["label_mse"] {
		t.Errorf("%d examples' errors averaging %g, label_mse %g", len(mse), stat.Mean(mse, nil), res.Eval["label_mse"])
	}
}

// Fault 9: a statistic a model does not return for some hyperparameters is optional (absent
// from the log, not a crash), and a NaN statistic is logged as null and counted.
func TestOptionalAndNonFiniteScalars(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	res, err := Run(hooksConfig(t, `, "params": {"test_hooks_stat": false, "test_hooks_nan": true}`),
		RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Train["optional"]; ok {
		t.Errorf("a statistic the model did not return was reported: %v", res.Train)
	}
	if res.NonFinite != 10 {
		t.Errorf("NonFinite = %d, want 10 (one NaN wnorm per logged step)", res.NonFinite)
	}
	for _, rec := range logRecords(t, dir) {
		if _, isEval := rec["eval"]; isEval {
			continue
		}
		if v, ok := rec["wnorm"]; !ok || v != nil {
			t.Fatalf("NaN statistic logged as %v (present %v), want null", v, ok)
		}
		if _, ok := rec["optional"]; ok {
			t.Fatalf("absent statistic logged: %v", rec)
		}
	}
}

// Fault 6: a resumed run logs exactly what an uninterrupted run logs (the moving-average loss
// continues rather than restarting), and checkpoints hold no orphan metric variables however
// often the run is resumed.
func TestResumedLogEqualsUninterrupted(t *testing.T) {
	backend := goBackend(t)
	whole, parts := t.TempDir(), t.TempDir()
	cfg := func() *Config { return hooksConfig(t, `, "steps": 12, "checkpoint_every": 4, "keep_checkpoints": 5`) }
	if _, err := Run(cfg(), RunOptions{Dir: whole, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	var counts []int
	for _, stop := range []int64{4, 8, 0} {
		if _, err := Run(cfg(), RunOptions{Dir: parts, Backend: backend, Out: io.Discard, StopAt: stop}); err != nil {
			t.Fatal(err)
		}
		path, _, err := checkpoint.Latest(parts)
		if err != nil {
			t.Fatal(err)
		}
		h, err := checkpoint.ReadHeader(path)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, len(h.Variables))
		for _, v := range h.Variables {
			if strings.Contains(v.Path, "_uuid_") {
				t.Errorf("checkpoint %s holds the per-process variable %s", path, v.Path)
			}
		}
	}
	if counts[0] != counts[1] || counts[1] != counts[2] {
		t.Errorf("variables per checkpoint across resumes: %v, want constant", counts)
	}
	a, b := logRecords(t, whole), logRecords(t, parts)
	var trainA, trainB []map[string]any
	for _, rec := range a {
		if _, ok := rec["eval"]; !ok {
			trainA = append(trainA, rec)
		}
	}
	for _, rec := range b {
		if _, ok := rec["eval"]; !ok {
			trainB = append(trainB, rec)
		}
	}
	if len(trainA) != 12 || len(trainB) != 12 {
		t.Fatalf("logged %d and %d training steps, want 12", len(trainA), len(trainB))
	}
	for i := range trainA {
		for _, key := range []string{"step", "loss", "loss_avg", "wnorm"} {
			if trainA[i][key] != trainB[i][key] {
				t.Errorf("step %v: %s is %v uninterrupted, %v resumed", trainA[i]["step"], key, trainA[i][key], trainB[i][key])
			}
		}
	}
}

// Fault 5: with config.json deleted, another experiment's config must not resume the
// checkpoints: the check reads the config recorded in the checkpoint itself.
func TestResumeCheckedAgainstCheckpointConfig(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	if _, err := Run(testConfig(t, `, "steps": 2`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, ConfigFile)); err != nil {
		t.Fatal(err)
	}
	for extra, want := range map[string]string{
		`, "steps": 4, "params": {"test_scale": 3}`: "test_scale=1",
		`, "steps": 4, "seed": 7`:                   "seed=1",
		`, "steps": 4, "optimizer": "sgd"`:          "optimizer=adam",
	} {
		_, err := Run(testConfig(t, extra), RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("resuming %s without config.json: %v, want an error naming %s", extra, err, want)
		}
	}
	_, err := Run(hooksConfig(t, ``), RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), `model=test_linear`) {
		t.Errorf("another model: %v", err)
	}
}

// Fault 7: eval_examples evaluates exactly that many examples whatever the batch size.
func TestEvalExamplesExact(t *testing.T) {
	backend := goBackend(t)
	for _, tc := range []struct{ examples, batch, want int }{
		{500, 37, 500}, {5, 4, 5}, {8, 4, 8}, {0, 37, 20 * 37}, {10000, 37, 20 * 37},
	} {
		cfg := testConfig(t, `, "steps": 1, "params": {"test_synthetic_eval_batches": 20}`)
		cfg.EvalExamples, cfg.EvalBatchSize = tc.examples, tc.batch
		res, err := Run(cfg, RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if got := int(res.Eval["examples"]); got != tc.want {
			t.Errorf("eval_examples=%d eval_batch_size=%d: evaluated %d examples, want %d", tc.examples, tc.batch, got, tc.want)
		}
	}
}

// clip_grad_norm bounds the global norm of each step's gradients: with plain SGD the update
// is then at most learning_rate × clip_grad_norm.
func TestClipGradNorm(t *testing.T) {
	backend := goBackend(t)
	step := func(clip string) float64 {
		dir := t.TempDir()
		cfg := testConfig(t, `, "steps": 1, "optimizer": "sgd", "lr_schedule": "constant", "warmup_steps": 0, "learning_rate": 0.1`+clip)
		if _, err := Run(cfg, RunOptions{Dir: dir, Backend: backend, Out: io.Discard}); err != nil {
			t.Fatal(err)
		}
		after := loadWeights(t, dir)
		// The initial weights: the same seed and model, zero steps trained.
		init := t.TempDir()
		cfg0 := testConfig(t, `, "steps": 1, "optimizer": "sgd", "lr_schedule": "constant", "warmup_steps": 0, "learning_rate": 1e-30`+clip)
		if _, err := Run(cfg0, RunOptions{Dir: init, Backend: backend, Out: io.Discard}); err != nil {
			t.Fatal(err)
		}
		before := loadWeights(t, init)
		var sq float64
		for i := range after {
			d := float64(after[i] - before[i])
			sq += d * d
		}
		return math.Sqrt(sq)
	}
	free, clipped := step(""), step(`, "clip_grad_norm": 0.01`)
	if !(free > 0.01) {
		t.Fatalf("unclipped update norm %g: too small for the test to mean anything", free)
	}
	if clipped > 0.1*0.01*1.001 || clipped < 0.1*0.01*0.99 {
		t.Errorf("clipped update norm %g, want learning_rate·clip_grad_norm = %g (unclipped %g)", clipped, 0.1*0.01, free)
	}
}

// freeze stops the matching variables; freezing everything, or nothing (a pattern that
// matches no variable), is an error, not a silent no-op.
func TestFreeze(t *testing.T) {
	backend := goBackend(t)
	_, err := Run(testConfig(t, `, "steps": 2, "freeze": "^/linear/"`), RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "no trainable variables left") {
		t.Errorf("freezing every variable: %v", err)
	}
	_, err = Run(testConfig(t, `, "steps": 2, "freeze": "^/lineer/"`), RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), `key "freeze": "^/lineer/" matches no variable`) {
		t.Errorf("a freeze pattern that matches nothing (a typo): %v", err)
	}
	res, err := Run(hooksConfig(t, `, "freeze": "/linear/w"`), RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard})
	if err == nil {
		t.Errorf("test_hooks with w frozen and b frozen by the model trained: %v", res)
	}
}

func TestRegisterPanicsWithoutEvaluation(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a model with neither NewEvaluator nor Evaluate was registered")
		}
	}()
	Register(&Model{Name: "test_no_eval", Build: func(*model.Scope, []*graph.Node) Outputs { return Outputs{} }})
}

// lr_schedule gomlx_cosine runs GoMLX's cosine annealing from its own keys, and a run resumed
// mid-cycle ends with exactly the weights of an uninterrupted one.
func TestGoMLXCosineScheduleResumes(t *testing.T) {
	backend := goBackend(t)
	extra := `, "steps": 20, "warmup_steps": 0, "min_learning_rate": 0, "lr_schedule": "gomlx_cosine", "params": {"cosine_schedule_steps": 8, "cosine_schedule_min_learning_rate": 0.01}`
	whole, parts := t.TempDir(), t.TempDir()
	if _, err := Run(testConfig(t, extra), RunOptions{Dir: whole, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(testConfig(t, extra), RunOptions{Dir: parts, Backend: backend, Out: io.Discard, StopAt: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(testConfig(t, extra), RunOptions{Dir: parts, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	a, b := loadWeights(t, whole), loadWeights(t, parts)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("weight %d: %v uninterrupted, %v resumed", i, a[i], b[i])
		}
	}
	// The schedule does change the learning rate: a constant one ends elsewhere.
	constant := t.TempDir()
	if _, err := Run(testConfig(t, `, "steps": 20, "warmup_steps": 0, "min_learning_rate": 0, "lr_schedule": "constant"`),
		RunOptions{Dir: constant, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if c := loadWeights(t, constant); c[0] == a[0] && c[1] == a[1] {
		t.Error("gomlx_cosine trained exactly like a constant learning rate")
	}
	for set, want := range map[string]string{
		`, "lr_schedule": "gomlx_cosine"`: "needs exactly one of params cosine_schedule_steps and cosine_schedule_cycles",
		`, "lr_schedule": "gomlx_cosine", "warmup_steps": 5, "params": {"cosine_schedule_cycles": 2}`: `keys "warmup_steps" and "min_learning_rate" belong to`,
	} {
		_, err := ParseConfig([]byte(`{"model": "test_linear"` + set + `}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", set, err, want)
		}
	}
}

// TestZeroStepsCalibrates runs steps=0: initialise (Pretrained, Calibrate), checkpoint at step
// 0 and evaluate; a second run of the same config re-evaluates without calibrating again, and
// raising steps trains on from there.
func TestZeroStepsCalibrates(t *testing.T) {
	dir := t.TempDir()
	wFile := filepath.Join(t.TempDir(), "w.json")
	if err := os.WriteFile(wFile, []byte("[1,0,0,0, 0,1,0,0, 0,0,1,0, 0,0,0,1]"), 0o644); err != nil {
		t.Fatal(err)
	}
	extra := `, "init_from": "` + wFile + `", "params": {"test_hooks_calibrate": 10}`
	cfg, err := ParseConfig([]byte(`{"model": "test_hooks", "batch_size": 8, "steps": 0` + extra + `}`))
	if err != nil {
		t.Fatal(err)
	}
	calibrateCalls, calibrationExamples, pretrainedCalls = 0, 0, 0
	opts := RunOptions{Dir: dir, Backend: goBackend(t), Out: io.Discard}
	res, err := Run(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if calibrateCalls != 1 || pretrainedCalls != 1 || calibrationExamples != 3*8 {
		t.Errorf("calibrate calls %d, pretrained calls %d, examples %d; want 1, 1, 24", calibrateCalls, pretrainedCalls, calibrationExamples)
	}
	if res.Step != 0 || res.Eval["bias0"] != 13 {
		t.Errorf("step %d, bias0 %v: want step 0 and the calibrated bias 13", res.Step, res.Eval["bias0"])
	}
	if _, err := Run(cfg, opts); err != nil || calibrateCalls != 1 {
		t.Errorf("re-run: %v, calibrate calls %d (want 1: a resumed run never calibrates)", err, calibrateCalls)
	}
	more := *cfg
	more.Steps = 3
	res, err = Run(&more, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 3 || res.Eval["bias0"] != 13 || calibrateCalls != 1 {
		t.Errorf("continued: step %d, bias0 %v (frozen, want 13), calibrate calls %d", res.Step, res.Eval["bias0"], calibrateCalls)
	}
}
