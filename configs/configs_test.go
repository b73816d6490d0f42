// Package configs holds the experiments' JSON files; its test loads every one strictly and
// runs each for a few steps on real data, so that no config in the repository is stale.
package configs

import (
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/internal/datadir"
	_ "github.com/qzoo/qzoo/models/all"
)

// runCommand matches the command a description must state, e.g. "GOEXPERIMENT=simd go run ./train".
var runCommand = regexp.MustCompile(`go run (\S+ )*\./`)

// smokeSet shortens a run to a few steps and a small evaluation.
const smokeSet = "steps=3;checkpoint_every=2;eval_examples=500;log_every=1"

// datasetSmokeSet shortens what smokeSet leaves long for some datasets: language-model windows
// (a full evaluation split of Shakespeare takes minutes on the pure-Go backend).
var datasetSmokeSet = map[string]string{
	// kv_calibration_batches: 4 × 2 × 64 = 512 vectors per layer, enough for 256-codeword
	// codebooks.
	"text": "batch_size=2;eval_batch_size=4;eval_examples=4;text_seq_len=64;ptq_calibration_batches=1;kv_calibration_batches=4",
}

// smoke applies smokeSet and the dataset's shortening to cfg.
// A config of steps 0 (evaluate a pretrained or post-training-quantized model) stays at 0.
func smoke(t *testing.T, cfg *framework.Config) {
	t.Helper()
	steps := cfg.Steps
	if err := cfg.Set(smokeSet + ";" + datasetSmokeSet[cfg.Dataset]); err != nil {
		t.Fatal(err)
	}
	if steps == 0 {
		cfg.Steps = 0
	}
}

// smokeSteps is the step a smoke run of a config that had steps ends at.
func smokeSteps(steps int) int64 {
	return int64(min(steps, 3))
}

func configFiles(t *testing.T) (train, sweeps []string) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		if filepath.Base(path) == studyFile {
			return nil // TestStudies
		}
		if strings.Contains(filepath.Base(path), "sweep") {
			sweeps = append(sweeps, path)
		} else {
			train = append(train, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(train) == 0 {
		t.Fatal("no config found")
	}
	return train, sweeps
}

// studyFile is the name of a study file, configs/NAME/study.json (go run ./study NAME).
const studyFile = "study.json"

// TestStudies loads every study file strictly (its sweeps, configs, hooks and report exist and
// every point's overrides apply) and checks that its description states the command. The
// studies run, shortened, in their notebooks' tests.
func TestStudies(t *testing.T) {
	studies, err := filepath.Glob(filepath.Join("*", studyFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(studies) < 3 {
		t.Fatalf("studies %v: want llm, kv and climate", studies)
	}
	for _, path := range studies {
		st, err := sweep.Load(path)
		if err != nil {
			t.Error(err)
			continue
		}
		if !runCommand.MatchString(st.Description) || !strings.Contains(st.Description, "go run ./study "+filepath.Base(filepath.Dir(path))) {
			t.Errorf("%s: the description must state the command that runs it", path)
		}
	}
}

func backend(t *testing.T) framework.RunOptions {
	t.Helper()
	b, err := framework.NewBackendFromSpec("go")
	if err != nil {
		t.Fatal(err)
	}
	return framework.RunOptions{Backend: b, Out: io.Discard, DataDir: datadir.Dir(t)}
}

// runPrefix starts the init_from of a config that begins where another config's run ends
// (runs/<name>, the train command's default directory for configs/.../<name>.json).
const runPrefix = "runs/"

// prepareInit replaces an init_from or teacher_from naming another config's run with a smoke
// run of that config (trained by the test into a temporary directory), so that chained configs
// (a tokenizer distilled from a recognizer) are tested without their full runs.
func prepareInit(t *testing.T, cfg *framework.Config) {
	t.Helper()
	if strings.HasPrefix(cfg.InitFrom, runPrefix) {
		cfg.InitFrom = smokeRunOf(t, cfg.InitFrom)
	}
	if strings.HasPrefix(cfg.TeacherFrom, runPrefix) {
		cfg.TeacherFrom = smokeRunOf(t, cfg.TeacherFrom)
	}
}

// smokeRuns holds the smoke runs made for chained configs, by init_from, for the whole test
// binary: one smoke run serves every config that starts from it.
var smokeRuns sync.Map

// smokeRunOf smoke-trains the config whose run initFrom (runs/<name>) names and returns the
// run directory.
func smokeRunOf(t *testing.T, initFrom string) string {
	t.Helper()
	if dir, ok := smokeRuns.Load(initFrom); ok {
		return dir.(string)
	}
	name := strings.TrimPrefix(initFrom, runPrefix)
	matches, _ := filepath.Glob(filepath.Join("*", name+".json"))
	if len(matches) != 1 {
		t.Fatalf("init_from %q: want one config %s.json under configs/, found %v", initFrom, name, matches)
	}
	src, err := framework.LoadConfig(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	smoke(t, src)
	opts := backend(t)
	dir, err := os.MkdirTemp("", "qzoo-configs-smoke-")
	if err != nil {
		t.Fatal(err)
	}
	opts.Dir = dir
	if _, err := framework.Run(src, opts); err != nil {
		t.Fatalf("smoke run of %s for init_from %q: %v", matches[0], initFrom, err)
	}
	smokeRuns.Store(initFrom, dir)
	return dir
}

// TestMain removes the shared smoke runs of chained configs.
func TestMain(m *testing.M) {
	code := m.Run()
	smokeRuns.Range(func(_, dir any) bool {
		os.RemoveAll(dir.(string))
		return true
	})
	os.Exit(code)
}

func TestConfigsDescribeThemselves(t *testing.T) {
	train, sweeps := configFiles(t)
	for _, path := range append(train, sweeps...) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if !strings.Contains(text, `"description"`) || !runCommand.MatchString(text) {
			t.Errorf("%s: the description must state the command that runs it", path)
		}
		if strings.Contains(text, "TBD") {
			t.Errorf("%s: the description still has TBD in it: state the measured cost and result", path)
		}
	}
	// Every config checks its headline metric, so that the train command (and a sweep) exits
	// non-zero when a full run does not reproduce what the description promises.
	for _, path := range train {
		cfg, err := framework.LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Expect) == 0 {
			t.Errorf("%s: no expect conditions: state the headline metric the full run must reach", path)
		}
	}
	for _, path := range sweeps {
		spec, err := sweep.LoadSpec(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(spec.Expect) == 0 {
			if base, err := framework.LoadConfig(filepath.Join(filepath.Dir(path), spec.Base)); err != nil || len(base.Expect) == 0 {
				t.Errorf("%s: no expect conditions, in the sweep or its base config", path)
			}
		}
	}
}

func TestConfigsSmokeRun(t *testing.T) {
	train, _ := configFiles(t)
	for _, path := range train {
		t.Run(path, func(t *testing.T) {
			cfg, err := framework.LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			want := smokeSteps(cfg.Steps)
			smoke(t, cfg)
			prepareInit(t, cfg)
			opts := backend(t)
			opts.Dir = t.TempDir()
			res, err := framework.Run(cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Step != want || len(res.Eval) == 0 {
				t.Errorf("step %d, eval %v", res.Step, res.Eval)
			}
			// An expect condition on a metric the model never reports can never hold: a typo.
			for key := range cfg.Expect {
				if _, ok := res.Eval[key]; !ok {
					t.Errorf("expect names %q, which the evaluation does not report (it reports %v)", key, slices.Sorted(maps.Keys(res.Eval)))
				}
			}
		})
	}
}

// TestSweepsSmokeRun checks that every point of every sweep has a valid config, then runs each
// value of the sweep's first axis for a few steps with the other axes at their first value:
// for the codebook sweep, each quantizer at the smallest codebook trains inside the model on
// real data, and the table and figure render.
func TestSweepsSmokeRun(t *testing.T) {
	_, sweeps := configFiles(t)
	for _, path := range sweeps {
		t.Run(path, func(t *testing.T) {
			spec, err := sweep.LoadSpec(path)
			if err != nil {
				t.Fatal(err)
			}
			grid, err := spec.Grid()
			if err != nil {
				t.Fatal(err)
			}
			for _, coords := range grid {
				if _, err := spec.Config(coords, smokeSet); err != nil {
					t.Error(err)
				}
			}
			small := *spec
			small.Axes = slices.Clone(spec.Axes)
			for i := 1; i < len(small.Axes); i++ {
				small.Axes[i].Values = small.Axes[i].Values[:1]
			}
			// Every metric of the spec must be reported, or the sweep fails naming the metric.
			opts := backend(t)
			set, want := smokeSet, int64(3)
			if base, err := framework.LoadConfig(filepath.Join(filepath.Dir(path), spec.Base)); err == nil {
				set += ";" + datasetSmokeSet[base.Dataset]
				if base.Steps == 0 { // quantize-and-evaluate sweeps train nothing
					set += ";steps=0"
					want = 0
				}
				if strings.HasPrefix(base.InitFrom, runPrefix) {
					set += ";init_from=" + smokeRunOf(t, base.InitFrom)
				}
			}
			points, err := sweep.Run(&small, sweep.Options{Dir: t.TempDir(), Set: set, Backend: opts.Backend, Out: io.Discard, Quiet: true, DataDir: opts.DataDir})
			var unmet *sweep.ExpectationsError
			if err != nil && !errors.As(err, &unmet) { // a few steps need not meet a full run's expectations
				t.Fatal(err)
			}
			if len(points) != len(spec.Axes[0].Values) {
				t.Fatalf("%d points, want %d", len(points), len(spec.Axes[0].Values))
			}
			for _, p := range points {
				if p.Step != want || len(p.Metrics) == 0 {
					t.Errorf("point %s: step %d metrics %v", p.Coords, p.Step, p.Metrics)
				}
			}
			if table := small.Table(points); strings.Count(table, "\n") != len(points)+2 {
				t.Errorf("table has the wrong number of rows:\n%s", table)
			}
			if spec.Figure != nil {
				fig, err := small.Plot(points)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := fig.PNG(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
