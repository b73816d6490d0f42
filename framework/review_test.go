package framework

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/qzoo/qzoo/framework/hparams"
)

// A -set override that sets a key to the zero its Go-built default stands for is an error,
// as it is in a JSON file, instead of silently becoming the default (batch_size=0 once meant 128).
// steps=0 is a value of its own: no training.
func TestSetRefusesZeroForDefaultedKeys(t *testing.T) {
	for _, set := range []string{"batch_size=0", "eval_batch_size=0", "keep_checkpoints=0",
		"log_every=0", "learning_rate=0", "optimizer=", "lr_schedule= ", "eval_split="} {
		cfg := testConfig(t, "")
		key, _, _ := strings.Cut(set, "=")
		err := cfg.Set(set)
		if err == nil || !strings.Contains(err.Error(), `key "`+key+`": must not be zero or empty`) {
			t.Errorf("Set(%q) = %v (steps %d, optimizer %q), want an error naming %s", set, err, cfg.Steps, cfg.Optimizer, key)
		}
	}
	// Keys whose zero is a value of their own still take it.
	cfg := testConfig(t, "")
	if err := cfg.Set("steps=0;eval_every=0;checkpoint_every=0;seed=0;warmup_steps=0;eval_examples=0"); err != nil {
		t.Error(err)
	}
}

// An expect condition's bound is a finite number: "< NaN" never holds, "> -Inf" always does.
func TestExpectBoundMustBeFinite(t *testing.T) {
	for _, cond := range []string{"< NaN", ">= nan", "> -Inf", "<= +Inf"} {
		_, err := ParseConfig([]byte(`{"model": "test_linear", "expect": {"mse": "` + cond + `"}}`))
		if err == nil || !strings.Contains(err.Error(), "key expect.mse") || !strings.Contains(err.Error(), "not a finite number") {
			t.Errorf("expect mse %q: %v, want an error naming expect.mse", cond, err)
		}
	}
}

// A Go-built config's float value for an integer hyperparameter must fit an int, not wrap.
func TestGoParamFloatOutOfIntRange(t *testing.T) {
	for _, v := range []float64{1e300, -1e300, 9.223372036854775807e18} {
		cfg := &Config{Model: "test_linear", Params: map[string]any{"test_width": v}}
		if err := cfg.Resolve(); err == nil || !strings.Contains(err.Error(), "key params.test_width") {
			t.Errorf("test_width=%g: %v (resolved to %v), want an error naming the key", v, err, cfg.Params["test_width"])
		}
	}
}

// DataKey identifies the data whether or not the config is resolved yet: unresolved Go-built
// configs all had the key "", so a sweep would share one dataset between configs that differ.
func TestDataKeyOfUnresolvedConfig(t *testing.T) {
	plain := &Config{Model: "test_linear"}
	other := &Config{Model: "test_linear", Params: map[string]any{"test_synthetic_eval_batches": 2}}
	if plain.DataKey() == other.DataKey() {
		t.Errorf("configs with different dataset params share the data key %q", plain.DataKey())
	}
	resolved := &Config{Model: "test_linear"}
	if err := resolved.Resolve(); err != nil {
		t.Fatal(err)
	}
	if plain.DataKey() != resolved.DataKey() {
		t.Errorf("data key %q unresolved, %q resolved", plain.DataKey(), resolved.DataKey())
	}
	if plain.Dataset != "" || plain.Params != nil {
		t.Errorf("DataKey modified its config: %+v", plain)
	}
}

// evalSteps returns the steps of the evaluation records of dir's metrics log.
func evalSteps(t *testing.T, dir string) []float64 {
	var steps []float64
	for _, rec := range logRecords(t, dir) {
		if _, ok := rec["eval"]; ok {
			steps = append(steps, rec["step"].(float64))
		}
	}
	return steps
}

// The evaluations logged by a run stopped (StopAt) and resumed, then run again once finished,
// are those of an uninterrupted run: the stop's own final evaluation and a second final
// evaluation are not kept.
func TestResumedEvaluationsEqualUninterrupted(t *testing.T) {
	backend := goBackend(t)
	whole, parts := t.TempDir(), t.TempDir()
	cfg := func() *Config { return testConfig(t, `, "steps": 20`) } // eval_every 10, checkpoint_every 10
	if _, err := Run(cfg(), RunOptions{Dir: whole, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	for _, stop := range []int64{15, 0, 0} {
		if _, err := Run(cfg(), RunOptions{Dir: parts, Backend: backend, Out: io.Discard, StopAt: stop}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := evalSteps(t, whole), evalSteps(t, parts)
	if len(a) != 2 || len(b) != len(a) || a[0] != b[0] || a[1] != b[1] {
		t.Errorf("evaluations logged at steps %v uninterrupted, %v stopped, resumed and run again", a, b)
	}
}

// Lowering steps below the step of a run's checkpoint is refused with a message naming the
// key, instead of evaluating past the config's steps and re-saving the checkpoint under it.
func TestRunRefusesStepsBelowCheckpoint(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	if _, err := Run(testConfig(t, `, "steps": 10`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	_, err := Run(testConfig(t, `, "steps": 5`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), `key "steps"`) || !strings.Contains(err.Error(), "step 10, beyond steps=5") {
		t.Errorf("steps 5 on a run at step 10: %v", err)
	}
	// The same steps (a finished run run again) and more steps are fine.
	for _, steps := range []string{"10", "12"} {
		if res, err := Run(testConfig(t, `, "steps": `+steps), RunOptions{Dir: dir, Backend: backend, Out: io.Discard}); err != nil {
			t.Errorf("steps %s: %v", steps, err)
		} else if !res.Resumed {
			t.Errorf("steps %s did not resume", steps)
		}
	}
}

// Evaluate uses the config recorded in the checkpoint, as resume does: a config.json edited
// to garbage or to another experiment's config does not change what is evaluated.
func TestEvaluateUsesCheckpointConfig(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	res, err := Run(testConfig(t, `, "steps": 5`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	other := testConfig(t, `, "steps": 5, "params": {"test_synthetic_eval_batches": 1}`)
	for name, content := range map[string][]byte{"garbage": []byte("garbage"), "another config": other.JSON()} {
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), content, 0o644); err != nil {
			t.Fatal(err)
		}
		metrics, cfg, _, err := Evaluate(dir, RunOptions{Backend: backend, Out: io.Discard})
		if err != nil {
			t.Errorf("config.json %s: %v", name, err)
			continue
		}
		if metrics["examples"] != res.Eval["examples"] || cfg.Params["test_synthetic_eval_batches"] != 3 {
			t.Errorf("config.json %s: evaluated %v examples, want %v", name, metrics["examples"], res.Eval["examples"])
		}
	}
}

var registerFailingDatasets sync.Once

// A dataset whose loader fails is named in the error; one that returns no Data is an error,
// not a nil dereference.
func TestDatasetLoadErrorsNamed(t *testing.T) {
	registerFailingDatasets.Do(func() {
		RegisterDataset(&Dataset{Name: "test_load_fails", Load: func(string, map[string]any) (*Data, error) {
			return nil, errors.New("open data.bin: no such file")
		}})
		RegisterDataset(&Dataset{Name: "test_load_nil", Load: func(string, map[string]any) (*Data, error) { return nil, nil }})
	})
	for name, want := range map[string]string{
		"test_load_fails": "dataset test_load_fails: open data.bin: no such file",
		"test_load_nil":   "dataset test_load_nil: loader returned no Data",
	} {
		dir := filepath.Join(t.TempDir(), "run")
		_, err := Run(testConfig(t, `, "steps": 1, "dataset": "`+name+`"`), RunOptions{Dir: dir, Backend: goBackend(t), Out: io.Discard})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("dataset %s: %v, want an error containing %q", name, err, want)
		}
		// The run created its directory and failed before training: nothing is left.
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("dataset %s: the failed run left %s (%v)", name, dir, err)
		}
	}
}

var registerShadowingModel sync.Once

// A hyperparameter named like a config field would capture "-set learning_rate=..." meant for
// the optimizer: it is refused like two owners declaring one key.
func TestParamNamedLikeConfigKeyRefused(t *testing.T) {
	registerShadowingModel.Do(func() {
		Register(&Model{Name: "test_shadowing", Dataset: "test_synthetic", Build: buildTestLinear,
			Params:       hparams.List{{Key: "learning_rate", Default: 0.5, Doc: "codebook rate"}},
			NewEvaluator: func(map[string]any) (Evaluator, error) { return &meanEvaluator{}, nil }})
	})
	_, err := ParseConfig([]byte(`{"model": "test_shadowing"}`))
	if err == nil || !strings.Contains(err.Error(), `hyperparameter "learning_rate" is declared by both the config`) {
		t.Errorf("model param named learning_rate: %v", err)
	}
}

// NewEvaluator's error fails the run's evaluation, naming the model, instead of a panic.
func TestNewEvaluatorError(t *testing.T) {
	_, err := Run(testConfig(t, `, "steps": 1, "params": {"test_name": "unevaluable"}`), RunOptions{Dir: t.TempDir(), Backend: goBackend(t), Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "framework: evaluator of test_linear: test_name unevaluable: no evaluator") {
		t.Errorf("got %v, want the evaluator's error naming the model", err)
	}
}
