package framework

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/checkpoint"
)

func goBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := NewBackendFromSpec("go")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// overlay returns the JSON object of the keys base and extra list (`"k": v, ...`, extra
// starting with a comma), those of extra replacing base's: configs refuse a key given twice.
func overlay(t *testing.T, base, extra string) []byte {
	t.Helper()
	var keys, over map[string]json.RawMessage
	if err := json.Unmarshal([]byte("{"+base+"}"), &keys); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte("{"+strings.TrimPrefix(strings.TrimSpace(extra), ",")+"}"), &over); err != nil {
		t.Fatal(err)
	}
	maps.Copy(keys, over)
	data, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func testConfig(t *testing.T, extra string) *Config {
	t.Helper()
	cfg, err := ParseConfig(overlay(t, `"model": "test_linear", "batch_size": 8, "eval_batch_size": 4, "learning_rate": 0.2,
		"lr_schedule": "cosine", "warmup_steps": 3, "checkpoint_every": 10, "log_every": 5, "eval_every": 10, "keep_checkpoints": 5`, extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func loadWeights(t *testing.T, dir string) []float32 {
	t.Helper()
	path, _, err := checkpoint.Latest(dir)
	if err != nil {
		t.Fatalf("no checkpoint in %s: %v", dir, err)
	}
	store := model.NewStore()
	if _, err := checkpoint.Load(path, store); err != nil {
		t.Fatal(err)
	}
	v := store.GetVariable("/linear/w")
	if v == nil {
		t.Fatalf("checkpoint %s has no /linear/w", path)
	}
	return tensors.MustCopyFlatData[float32](v.MustValue())
}

func TestRunLearnsAndResumesExactly(t *testing.T) {
	backend := goBackend(t)
	whole, halves := t.TempDir(), t.TempDir()
	opts := func(dir string) RunOptions { return RunOptions{Dir: dir, Backend: backend, Out: io.Discard} }

	res, err := Run(testConfig(t, `, "steps": 60`), opts(whole))
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 60 || res.Resumed {
		t.Errorf("step %d resumed %v", res.Step, res.Resumed)
	}
	if res.Eval["mse"] > 0.5 { // about 20 before training
		t.Errorf("the model did not learn: eval mse %g", res.Eval["mse"])
	}

	// Stop at step 40 as if killed, then resume to 60: same schedule, exactly the same batches.
	stopped := opts(halves)
	stopped.StopAt = 40
	if _, err := Run(testConfig(t, `, "steps": 60`), stopped); err != nil {
		t.Fatal(err)
	}
	res2, err := Run(testConfig(t, `, "steps": 60`), opts(halves))
	if err != nil {
		t.Fatal(err)
	}
	if !res2.Resumed || res2.Step != 60 {
		t.Errorf("second run: resumed %v step %d", res2.Resumed, res2.Step)
	}
	a, b := loadWeights(t, whole), loadWeights(t, halves)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("resumed run differs from uninterrupted run at weight %d: %v vs %v", i, a[i], b[i])
		}
	}
	// Each training step appears once in the log, in order.
	f, err := os.Open(filepath.Join(halves, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("bad log line %q: %v", sc.Text(), err)
		}
		if _, isEval := rec["eval"]; !isEval {
			steps = append(steps, int64(rec["step"].(float64)))
		}
	}
	want := []int64{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60}
	if len(steps) != len(want) {
		t.Fatalf("logged steps %v, want %v", steps, want)
	}
	for i := range want {
		if steps[i] != want[i] {
			t.Fatalf("logged steps %v, want %v", steps, want)
		}
	}
	// The final evaluation is on disk.
	if _, err := os.Stat(filepath.Join(halves, EvalFile)); err != nil {
		t.Error(err)
	}
}

// TestRunFinishedRunKeepsItsCheckpoint: running a finished run again (a notebook reading its
// run back, a sweep) evaluates it and leaves its checkpoint byte for byte as it was: compressed
// files and distilled runs record its SHA-256.
func TestRunFinishedRunKeepsItsCheckpoint(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	if _, err := Run(testConfig(t, `, "steps": 10`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	path, _, err := checkpoint.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	before, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(testConfig(t, `, "steps": 10`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err != nil || !res.Resumed || res.Step != 10 || len(res.Eval) == 0 {
		t.Fatalf("run again: %+v, %v", res, err)
	}
	after, err := FileSHA256(path)
	if err != nil || after != before {
		t.Errorf("checkpoint %s: SHA-256 %s before, %s after running the finished run again (%v)", path, before, after, err)
	}
}

func TestRunRefusesAnotherExperimentsDirectory(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	if _, err := Run(testConfig(t, `, "steps": 2`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	_, err := Run(testConfig(t, `, "steps": 4, "params": {"test_scale": 3}`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "test_scale=1") {
		t.Errorf("resuming with other hyperparameters: %v", err)
	}
}

func TestRunCorruptCheckpointNamesFile(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	if _, err := Run(testConfig(t, `, "steps": 10`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	path, _, err := checkpoint.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Run(testConfig(t, `, "steps": 20`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("corrupt checkpoint: got %v, want an error naming %s", err, path)
	}
	// Nothing was written over the corrupt checkpoint: it is still there, unchanged.
	again, _ := os.ReadFile(path)
	if string(again) != string(data) {
		t.Error("the corrupt checkpoint was modified")
	}
}

func TestEvaluateRunDirectory(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	res, err := Run(testConfig(t, `, "steps": 5`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	metrics, cfg, step, err := Evaluate(dir, RunOptions{Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if step != 5 || cfg.Model != "test_linear" || metrics["mse"] != res.Eval["mse"] {
		t.Errorf("Evaluate: step %d model %s mse %g, run's final mse %g", step, cfg.Model, metrics["mse"], res.Eval["mse"])
	}
	if _, _, _, err := Evaluate(t.TempDir(), RunOptions{Backend: backend}); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Errorf("Evaluate of an empty directory: %v", err)
	}
}

func TestRunRefusesADirectoryInUse(t *testing.T) {
	dir := t.TempDir()
	release, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(testConfig(t, `, "steps": 2`), RunOptions{Dir: dir, Backend: goBackend(t), Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second run in a locked directory: %v", err)
	}
	release()
	if _, err := Run(testConfig(t, `, "steps": 2`), RunOptions{Dir: dir, Backend: goBackend(t), Out: io.Discard}); err != nil {
		t.Errorf("after the lock is released: %v", err)
	}
}

// EvaluateWith re-evaluates a run on another split or number of examples, and refuses to
// change anything that was trained.
func TestEvaluateWithOverrides(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	res, err := Run(testConfig(t, `, "steps": 3`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	metrics, cfg, _, err := EvaluateWith(dir, "eval_split=validation;eval_examples=5", RunOptions{Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EvalSplit != SplitValidation || metrics["examples"] != 5 || metrics["mse"] == res.Eval["mse"] {
		t.Errorf("validation split, 5 examples: split %s, %v examples, mse %v (test mse %v)", cfg.EvalSplit, metrics["examples"], metrics["mse"], res.Eval["mse"])
	}
	for set, want := range map[string]string{
		"steps=5":             `only eval_split, eval_examples, eval_batch_size`,
		"eval_split=nope":     `"nope" is not a split of this dataset`,
		"eval_examples=-1":    `key "eval_examples": -1 must be ≥ 0`,
		"params.test_scale=2": `only eval_split`,
	} {
		if _, _, _, err := EvaluateWith(dir, set, RunOptions{Backend: backend, Out: io.Discard}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("EvaluateWith %q: %v, want an error containing %q", set, err, want)
		}
	}
}

// The timing puts each phase in its place: what the evaluation and checkpoint hooks spend is
// counted in Eval and Save, not in Steps (the phases add up to no more than the whole call),
// and a call that trains nothing times no step.
func TestRunTiming(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	const pause = 100 * time.Millisecond
	sleep := func(int64, any) error { time.Sleep(pause); return nil }
	hooks := []Hooks{{
		OnEval:       func(step int64, m map[string]float64) error { return sleep(step, m) },
		OnCheckpoint: func(step int64, p string) error { return sleep(step, p) },
	}}
	cfg := testConfig(t, `, "steps": 20`) // evaluations at 10 and 20, checkpoints at 10 and 20
	res, err := Run(cfg, RunOptions{Dir: dir, Backend: backend, Out: io.Discard, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	tm := res.Timing
	if tm.TrainSteps != 20 {
		t.Errorf("TrainSteps %d, want 20", tm.TrainSteps)
	}
	if tm.Eval < 2*pause.Seconds() || tm.Save < 2*pause.Seconds() {
		t.Errorf("eval %.3f s and save %.3f s, want each at least the hooks' %.1f s", tm.Eval, tm.Save, 2*pause.Seconds())
	}
	for name, v := range map[string]float64{"setup": tm.Setup, "init": tm.Init, "first step": tm.FirstStep, "steps": tm.Steps} {
		if !(v > 0) {
			t.Errorf("%s: %g s, want > 0", name, v)
		}
	}
	if sum := tm.Setup + tm.Init + tm.FirstStep + tm.Steps + tm.Eval + tm.Save; sum > tm.Total {
		t.Errorf("the phases add up to %.3f s, more than the call's %.3f s: one is counted twice (%s)", sum, tm.Total, tm)
	}
	if s := tm.String(); !strings.Contains(s, "19 steps") || !strings.Contains(s, "total") {
		t.Errorf("String() = %q, want the 19 steps after the first and the total", s)
	}

	// Run again on the finished run: it only evaluates.
	again, err := Run(cfg, RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if tm := again.Timing; tm.TrainSteps != 0 || tm.FirstStep != 0 || tm.Steps != 0 || !(tm.Eval > 0) {
		t.Errorf("a finished run run again: %+v, want no step timed and an evaluation", tm)
	}
}
