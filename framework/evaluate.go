package framework

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/framework/checkpoint"
)

// EvalContext is what a model's custom evaluation (Model.Evaluate) gets: the trained
// variables, the backend, the data and the config. It is valid only during the call.
type EvalContext struct {
	// Config is the run's resolved config (Params holds the hyperparameters).
	Config *Config
	// Model is the model being evaluated.
	Model *Model
	// Backend runs the graphs.
	Backend compute.Backend
	// Store holds the trained variables (read them, or build graphs over them with
	// model.NewExec(Backend, Store, ...)); changes are not saved.
	Store *model.Store
	// Data is the loaded dataset.
	Data *Data
	// Split is the evaluation split ("test", "validation", ...).
	Split string
	// MaxExamples is the config's eval_examples (0: the whole split); Batches honours it.
	MaxExamples int
	// Step is the global step of the evaluated variables.
	Step int64
	// Out receives messages (never nil).
	Out io.Writer

	samples map[string][]float64 // recorded by RecordSamples
}

// RecordSamples records per-example values of this evaluation under name, in the split's
// order: e.g. "nll", the mean negative log-likelihood of each held-out window, or "mse", each
// image's. They are what package laws resamples for bootstrap confidence intervals: the final
// evaluation of a run saves them beside eval.json ([EvalSamplesFile]) and framework/sweep reads
// them back into its points. Errors: an empty name, no values, a name recorded twice in one
// evaluation.
func (c *EvalContext) RecordSamples(name string, values []float64) error {
	if name == "" {
		return errors.New("framework: RecordSamples: empty name")
	}
	if len(values) == 0 {
		return fmt.Errorf("framework: samples %q: no values", name)
	}
	if _, dup := c.samples[name]; dup {
		return fmt.Errorf("framework: samples %q recorded twice in one evaluation", name)
	}
	if c.samples == nil {
		c.samples = map[string][]float64{}
	}
	c.samples[name] = slices.Clone(values)
	return nil
}

// Batches returns one pass over the evaluation split in batches of the config's
// eval_batch_size, holding exactly the first MaxExamples examples when MaxExamples > 0.
func (c *EvalContext) Batches() (train.Dataset, error) {
	return evalBatches(c.Data, c.Split, c.Config.EvalBatchSize, c.MaxExamples)
}

// NewPredictExec returns an Exec of the model's predictions (Build's Outputs.Predictions) in
// evaluation mode over the context's variables. The caller finalizes it.
func (c *EvalContext) NewPredictExec() (*model.Exec, error) {
	return newPredictExec(c.Backend, c.Store, c.Model, false)
}

// CalibrationBatches returns the first n batches (of the config's batch_size) of the training
// stream a run with this config trains on: the same examples in the same order, so a
// calibration never sees held-out data.
func (c *EvalContext) CalibrationBatches(n int) train.Dataset {
	return &limitedDataset{inner: c.Data.TrainBatches(c.Config.BatchSize, c.Config.Seed, 0), limit: n * c.Config.BatchSize}
}

// evalBatches returns one pass over split, cut to exactly the first limit examples (limit 0:
// all of them).
func evalBatches(data *Data, split string, batchSize, limit int) (train.Dataset, error) {
	if err := data.checkSplit(split); err != nil {
		return nil, err
	}
	ds, err := data.EvalBatches(split, batchSize)
	if err != nil {
		return nil, fmt.Errorf("framework: evaluation split %q: %w", split, err)
	}
	if limit <= 0 {
		return ds, nil
	}
	return &limitedDataset{inner: ds, limit: limit}, nil
}

// limitedDataset yields the batches of inner up to exactly limit examples: the batch that
// crosses the limit is cut to the examples before it (inputs and labels alike).
type limitedDataset struct {
	inner train.Dataset
	limit int
}

func (d *limitedDataset) Name() string { return d.inner.Name() }

func (d *limitedDataset) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		seen := 0
		for batch, err := range d.inner.Iter() {
			if err != nil {
				yield(batch, err)
				return
			}
			if seen >= d.limit {
				_ = batch.Finalize()
				return
			}
			n := batch.Inputs[0].Shape().Dimensions[0]
			if seen+n > d.limit {
				cut, err := cutBatch(batch, d.limit-seen)
				_ = batch.Finalize()
				if err != nil {
					yield(train.Batch{}, err)
					return
				}
				batch, n = cut, d.limit-seen
			}
			seen += n
			if !yield(batch, nil) {
				return
			}
		}
	}
}

// cutBatch returns a new batch with the first n examples of batch.
func cutBatch(batch train.Batch, n int) (train.Batch, error) {
	var out train.Batch
	for _, t := range batch.Inputs {
		c, err := sliceRows(t, 0, n)
		if err != nil {
			return out, err
		}
		out.Inputs = append(out.Inputs, c)
	}
	for _, t := range batch.Labels {
		c, err := sliceRows(t, 0, n)
		if err != nil {
			return out, err
		}
		out.Labels = append(out.Labels, c)
	}
	return out, nil
}

// newPredictExec returns an Exec of the model's predictions, its graph built in training mode
// when training is set.
func newPredictExec(backend compute.Backend, store *model.Store, m *Model, training bool) (*model.Exec, error) {
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		if training {
			store.SetTraining(inputs[0].Graph(), true)
		}
		return m.Build(scope, inputs).Predictions
	})
	if err != nil {
		return nil, fmt.Errorf("framework: graph of %s: %w", m.Name, err)
	}
	return exec, nil
}

// evaluateModel runs the model's evaluator over the evaluation split and its custom
// evaluation, and merges their metrics; the per-example samples they record are left in ctx.
func evaluateModel(ctx *EvalContext) (map[string]float64, error) {
	m := ctx.Model
	metrics := map[string]float64{}
	if m.NewEvaluator != nil {
		// A new graph for each evaluation: backends that prefer constants (ONNX Runtime) embed
		// non-trainable variables, such as EMA codebooks, in evaluation graphs as constants, so
		// a graph compiled at an earlier step would evaluate stale values.
		exec, err := ctx.NewPredictExec()
		if err != nil {
			return nil, err
		}
		defer exec.Finalize()
		ds, err := ctx.Batches()
		if err != nil {
			return nil, err
		}
		ev, err := m.NewEvaluator(ctx.Config.Params)
		if err != nil {
			return nil, fmt.Errorf("framework: evaluator of %s: %w", m.Name, err)
		}
		labeled, _ := ev.(LabeledEvaluator)
		for batch, err := range ds.Iter() {
			if err != nil {
				return nil, fmt.Errorf("framework: evaluation data: %w", err)
			}
			preds, err := exec.Call(inputArgs(batch)...)
			if err != nil {
				_ = batch.Finalize()
				return nil, fmt.Errorf("framework: evaluating %s: %w", m.Name, err)
			}
			if labeled != nil {
				err = labeled.AddLabeled(batch.Inputs, batch.Labels, preds)
			} else {
				err = ev.Add(batch.Inputs, preds)
			}
			_ = batch.Finalize()
			for _, p := range preds {
				p.MustFinalizeAll()
			}
			if err != nil {
				return nil, fmt.Errorf("framework: evaluating %s: %w", m.Name, err)
			}
		}
		for k, v := range ev.Metrics() {
			metrics[k] = v
		}
		if sampling, ok := ev.(SamplingEvaluator); ok {
			for _, name := range slices.Sorted(maps.Keys(sampling.Samples())) {
				if err := ctx.RecordSamples(name, sampling.Samples()[name]); err != nil {
					return nil, fmt.Errorf("framework: evaluator of %s: %w", m.Name, err)
				}
			}
		}
	}
	if m.Evaluate != nil {
		custom, err := m.Evaluate(ctx)
		if err != nil {
			return nil, fmt.Errorf("framework: evaluating %s: %w", m.Name, err)
		}
		for k, v := range custom {
			if _, dup := metrics[k]; dup {
				return nil, fmt.Errorf("framework: model %s reports metric %q from both its Evaluator and Evaluate", m.Name, k)
			}
			metrics[k] = v
		}
	}
	return metrics, nil
}

// Evaluate loads the latest checkpoint of the run in dir and evaluates it on the evaluation
// split of the config recorded in that checkpoint (config.json, which may have been edited or
// rewritten since, only for checkpoints that record none). It returns the metrics, the run's
// config and the checkpoint's step.
func Evaluate(dir string, opts RunOptions) (map[string]float64, *Config, int64, error) {
	return EvaluateWith(dir, "", opts)
}

// evalKeys are the config keys EvaluateWith may override: they choose what to evaluate on,
// not what was trained.
var evalKeys = []string{"eval_split", "eval_examples", "eval_batch_size"}

// EvaluateWith is Evaluate with overrides of the evaluation keys, in -set syntax
// ("eval_split=validation;eval_examples=1000"); any other key is an error.
func EvaluateWith(dir, overrides string, opts RunOptions) (map[string]float64, *Config, int64, error) {
	ev, cfg, err := EvaluateRun(dir, overrides, opts)
	if err != nil {
		return nil, cfg, 0, err
	}
	return ev.Metrics, cfg, ev.Step, nil
}

// Evaluation is one evaluation of a checkpoint.
type Evaluation struct {
	Step    int64
	Split   string
	Metrics map[string]float64
	// Samples are the per-example values the evaluation recorded, by name
	// ([EvalContext.RecordSamples], [SamplingEvaluator]); nil when it recorded none.
	Samples map[string][]float64
}

// EvaluateRun is EvaluateWith returning the whole evaluation, per-example samples included
// (what the eval command writes beside its eval.json).
func EvaluateRun(dir, overrides string, opts RunOptions) (*Evaluation, *Config, error) {
	for _, kv := range strings.Split(overrides, ";") {
		key, _, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if key = strings.TrimSpace(key); key != "" && !slices.Contains(evalKeys, key) {
			return nil, nil, fmt.Errorf("framework: evaluation override %q: only %s can change after training",
				key, strings.Join(evalKeys, ", "))
		}
	}
	cfg, store, step, err := LoadRun(dir)
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.Set(overrides); err != nil {
		return nil, nil, fmt.Errorf("framework: evaluation overrides: %w", err)
	}
	m, err := LookupModel(cfg.Model)
	if err != nil {
		return nil, nil, err
	}
	if opts, err = opts.PrepareFor(cfg); err != nil {
		return nil, nil, err
	}
	ctx := &EvalContext{Config: cfg, Model: m, Backend: opts.Backend, Store: store,
		Data: opts.Data, Split: cfg.EvalSplit, MaxExamples: cfg.EvalExamples, Step: step, Out: opts.Out}
	metrics, err := evaluateModel(ctx)
	if err != nil {
		return nil, cfg, err
	}
	return &Evaluation{Step: step, Split: cfg.EvalSplit, Metrics: metrics, Samples: ctx.samples}, cfg, nil
}

// LoadRun returns the config recorded in the latest checkpoint of the run in dir, a store
// holding that checkpoint's variables and hyperparameters (and, for a model with a teacher, the
// teacher loaded again from teacher_from, refused if its SHA-256 is not the one the checkpoint
// records; a relative teacher_from is looked for as [LocateData] does without a data
// directory), and its step: what a command needs
// to use a trained model outside the loop (e.g. to generate from it).
func LoadRun(dir string) (*Config, *model.Store, int64, error) {
	path, step, err := checkpoint.Latest(dir)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("framework: %s is not a run directory: %w", dir, err)
	}
	cfg, err := checkpointConfig(path, dir)
	if err != nil {
		return nil, nil, 0, err
	}
	store, err := loadStore(cfg, path, true)
	if err != nil {
		return nil, nil, 0, err
	}
	return cfg, store, step, nil
}

// LoadCheckpoint is LoadRun for one given checkpoint file of the run in dir (e.g. an older
// step that a file was compressed with) instead of the latest.
func LoadCheckpoint(dir, ckptPath string) (*Config, *model.Store, error) {
	return loadCheckpoint(dir, ckptPath, true)
}

// LoadCheckpointWithoutTeacher is LoadCheckpoint without the teacher: the run's own variables
// and hyperparameters only, for graphs that never call BuildTeacher — a codec's encoder and
// decoder, which must run wherever the compressed file goes, without the network the model was
// distilled from (nor the path its config names, relative to where it was trained).
func LoadCheckpointWithoutTeacher(dir, ckptPath string) (*Config, *model.Store, error) {
	return loadCheckpoint(dir, ckptPath, false)
}

func loadCheckpoint(dir, ckptPath string, teacher bool) (*Config, *model.Store, error) {
	cfg, err := checkpointConfig(ckptPath, dir)
	if err != nil {
		return nil, nil, err
	}
	store, err := loadStore(cfg, ckptPath, teacher)
	if err != nil {
		return nil, nil, err
	}
	return cfg, store, nil
}

// loadStore returns a store with cfg's hyperparameters and the variables of the checkpoint at
// path, and with teacher, the teacher loaded again from cfg's teacher_from.
func loadStore(cfg *Config, path string, teacher bool) (*model.Store, error) {
	store := newStore(cfg)
	header, err := checkpoint.Load(path, store)
	if err != nil {
		return nil, err
	}
	if err := dropUnsavedVariables(store); err != nil {
		return nil, err
	}
	if teacher && cfg.TeacherFrom != "" {
		m, err := LookupModel(cfg.Model)
		if err != nil {
			return nil, err
		}
		want, err := recordedTeacher(header)
		if err != nil {
			return nil, err
		}
		if _, err := loadTeacher(store, cfg, m, "", want); err != nil {
			return nil, err
		}
	}
	return store, nil
}

// checkpointConfig returns the config recorded in the checkpoint at path, or, for a checkpoint
// that records none, the run directory's config.json.
func checkpointConfig(path, dir string) (*Config, error) {
	_, cfg, err := recordedConfig(path)
	if err != nil || cfg != nil {
		return cfg, err
	}
	return LoadConfig(filepath.Join(dir, ConfigFile))
}

// recordedConfig reads the header of the checkpoint at path and the config recorded in it
// (nil, with no error, when it records none).
func recordedConfig(path string) (*checkpoint.Header, *Config, error) {
	header, err := checkpoint.ReadHeader(path)
	if err != nil {
		return nil, nil, err
	}
	raw, ok := header.Meta["config"]
	if !ok {
		return header, nil, nil
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("framework: the config recorded in %s: %w", path, err)
	}
	return header, cfg, nil
}
