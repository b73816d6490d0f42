package framework

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/internal/atomicfile"
)

// Files written in a run directory.
const (
	ConfigFile  = "config.json"   // the resolved config, written before training starts
	MetricsFile = "metrics.jsonl" // one JSON object per logged step or evaluation
	EvalFile    = "eval.json"     // the final evaluation
	// EvalSamplesFile holds the final evaluation's per-example samples
	// ([EvalContext.RecordSamples]), absent when it recorded none.
	EvalSamplesFile = "eval_samples.json"
)

// RunOptions are the settings of one call to [Run] that are not part of the experiment.
type RunOptions struct {
	// Dir holds the run: config, checkpoints, metrics log and final evaluation. Required.
	// If it already holds checkpoints of the same experiment, the run resumes from the latest.
	Dir string
	// DataDir is where datasets are looked for ("" = each loader's default search path).
	DataDir string
	// Data, if set, is used instead of loading the config's dataset (sweeps load it once;
	// see [Config.DataKey] for when two configs can share it).
	Data *Data
	// Backend, if set, is used instead of [NewBackend]'s choice.
	Backend compute.Backend
	// Out receives progress and messages (nil: os.Stdout).
	Out io.Writer
	// Quiet turns off the progress line and the evaluation table.
	Quiet bool
	// StopAt, if positive and below the config's steps, ends training at this global step (with a
	// checkpoint), as if the run had been interrupted there: a later Run resumes it to the end
	// of the same schedule, so a caller can train in chunks and look at the run in between.
	StopAt int64
	// Hooks are called as the run goes, so that a caller can follow it (print or plot each
	// evaluation, collect the step metrics) without a loop of its own; see [Hooks] and the
	// README's example. An error returned by a hook stops the run with that error, after the
	// last checkpoint.
	Hooks []Hooks
}

// Hooks are callbacks a caller attaches to a [Run] without copying it. Any may be nil.
type Hooks struct {
	// OnStep is called after every training step with its metrics: "loss", "loss_avg" and
	// the model's scalars (a scalar the model did not return is absent).
	OnStep func(step int64, metrics map[string]float64) error
	// OnEval is called after every evaluation (periodic and final) with its metrics.
	OnEval func(step int64, metrics map[string]float64) error
	// OnCheckpoint is called after every checkpoint is written, with its path.
	OnCheckpoint func(step int64, path string) error
}

// PrepareFor returns the options with their defaults filled in for cfg: Out (os.Stdout),
// Data (cfg's dataset with its params, loaded from DataDir) and Backend (NewBackend's
// choice, announced on Out). Sweeps call it once to share the data and backend between runs.
func (o RunOptions) PrepareFor(cfg *Config) (RunOptions, error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if err := cfg.resolve(); err != nil {
		return o, fmt.Errorf("framework: config: %w", err)
	}
	if o.Data == nil {
		data, err := LoadDataset(cfg.Dataset, o.DataDir, cfg.Params)
		if err != nil {
			return o, err
		}
		o.Data = data
	}
	if o.Backend == nil {
		backend, reason, err := NewBackend()
		if err != nil {
			return o, err
		}
		fmt.Fprintln(o.Out, reason)
		o.Backend = backend
	}
	return o, nil
}

// Prepare is PrepareFor with model m's defaults: its default dataset and hyperparameters.
func (o RunOptions) Prepare(m *Model) (RunOptions, error) {
	return o.PrepareFor(&Config{Model: m.Name})
}

// DataKey identifies the data a config trains and evaluates on: its dataset and the
// dataset's own hyperparameters, as they resolve (a Go-built config's defaults included).
// Configs with equal keys can share one loaded [Data].
func (c *Config) DataKey() string {
	resolved := *c
	resolved.Params = maps.Clone(c.Params)
	if err := resolved.resolve(); err != nil {
		return "unresolved config: " + err.Error() // shares nothing: PrepareFor reports the error
	}
	d, err := LookupDataset(resolved.Dataset)
	if err != nil {
		return resolved.Dataset
	}
	key, _ := json.Marshal(resolved.Dataset)
	for _, p := range d.Params {
		v, _ := json.Marshal(resolved.Params[p.Key])
		key = fmt.Appendf(key, ";%s=%s", p.Key, v)
	}
	return string(key)
}

// Result is what a run measured.
type Result struct {
	Dir     string
	Config  *Config
	Step    int64              // the global step reached
	Resumed bool               // whether the run started from a checkpoint
	Train   map[string]float64 // the training metrics of the last step
	Eval    map[string]float64 // the final evaluation
	// EvalSamples are the final evaluation's per-example samples, by name (nil: none recorded).
	EvalSamples map[string][]float64
	// Expectations holds one line per condition of the config's Expect, and ExpectationsMet
	// whether all hold (true when there are none). The train command exits non-zero otherwise.
	Expectations    []string
	ExpectationsMet bool
	// NonFinite counts the logged values (training scalars, evaluation metrics) that were NaN
	// or infinite, written as null in metrics.jsonl.
	NonFinite int
	// StepsPerSecond is the training speed measured in this call, compilation included (0 if
	// no step ran); MedianStepSeconds is the median duration of one training step.
	StepsPerSecond    float64
	MedianStepSeconds float64
	// Timing is where this call's wall-clock time went.
	Timing Timing
}

// Timing is where the wall-clock time of one [Run] call went, in seconds. The phases do not
// overlap; Total is the whole call, so Total minus their sum is the bookkeeping between them
// (the config and metrics files, the final evaluation's files).
type Timing struct {
	// Setup: checking the config and the run directory, loading the dataset and creating the
	// backend (nothing for what RunOptions already held).
	Setup float64
	// Init: a fresh run's variables (the model built, compiled and run once on the first
	// batch, then its Init and Calibrate), or the checkpoint a resumed run loads; and the
	// trainer.
	Init float64
	// FirstStep: the first training step of the call, which builds and compiles the train
	// step's graph: FirstStep minus the median step is about the compilation.
	FirstStep float64
	// Steps: the other TrainSteps−1 training steps, each with its batch, its metrics read back,
	// logging and progress, but not the evaluations and checkpoints that follow some of them.
	Steps      float64
	TrainSteps int64
	// Eval: the periodic evaluations and the final one, each building and compiling its graph.
	Eval float64
	// Save: writing and pruning checkpoints.
	Save  float64
	Total float64
}

// String gives the timing on one line, e.g. "setup 0.8 s, init 1.2 s, first step 0.9 s,
// 999 steps 48.1 s, eval 2.1 s, save 0.1 s, other 0.0 s, total 53.1 s".
func (t Timing) String() string {
	other := t.Total - (t.Setup + t.Init + t.FirstStep + t.Steps + t.Eval + t.Save)
	return fmt.Sprintf("setup %.1f s, init %.1f s, first step %.1f s, %d steps %.1f s, eval %.1f s, save %.1f s, other %.1f s, total %.1f s",
		t.Setup, t.Init, t.FirstStep, max(t.TrainSteps-1, 0), t.Steps, t.Eval, t.Save, other, t.Total)
}

// Run trains cfg's model to cfg.Steps, evaluating, logging and checkpointing along the way,
// and returns the final evaluation. It is the one train loop used by the train command,
// notebooks, sweeps and tests.
//
// A fresh run (no checkpoint in opts.Dir) fills the variables from cfg.InitFrom with the
// model's Pretrained hook if set, loads the teacher from cfg.TeacherFrom (see [BuildTeacher]),
// creates the other variables, then runs the model's Init on the first batch; a run that finds checkpoints of the same experiment resumes from the latest,
// to exactly the state, batches and logged values an uninterrupted run would have. A config
// whose steps is below the latest checkpoint's step is refused (the run cannot go back; use
// [Evaluate] to re-evaluate it); one equal to it re-evaluates the finished run.
func Run(cfg *Config, opts RunOptions) (res *Result, err error) {
	begin := time.Now()
	if opts.Dir == "" {
		return nil, errors.New("framework: RunOptions.Dir is required")
	}
	if err := cfg.resolve(); err != nil {
		return nil, fmt.Errorf("framework: config: %w", err)
	}
	m, err := LookupModel(cfg.Model)
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(opts.Dir)
	created := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	// A run that fails before training starts (a dataset that does not load, a model that
	// cannot be initialised) in a directory it created leaves nothing behind; this runs after
	// the lock is released.
	trainingStarted := false
	defer func() {
		if err != nil && created && !trainingStarted {
			os.RemoveAll(opts.Dir)
		}
	}()
	unlock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	latest, err := checkSameExperiment(cfg, opts.Dir)
	if err != nil {
		return nil, err
	}
	if latest != nil && latest.header.Step > int64(cfg.Steps) {
		return nil, fmt.Errorf(`framework: key "steps": %s holds a checkpoint at step %d, beyond steps=%d: raise steps to continue the run, re-evaluate it with Evaluate, or use another directory (%s)`,
			opts.Dir, latest.header.Step, cfg.Steps, filepath.Base(latest.path))
	}
	if err := atomicfile.WriteFile(filepath.Join(opts.Dir, ConfigFile), cfg.JSON()); err != nil {
		return nil, fmt.Errorf("framework: write %s: %w", filepath.Join(opts.Dir, ConfigFile), err)
	}
	if opts, err = opts.PrepareFor(cfg); err != nil {
		return nil, err
	}
	if err := opts.Data.checkSplit(cfg.EvalSplit); err != nil {
		return nil, fmt.Errorf("framework: config: %w", err)
	}
	out, data, backend := opts.Out, opts.Data, opts.Backend

	store := newStore(cfg)
	res = &Result{Dir: opts.Dir, Config: cfg}
	r := &runner{cfg: cfg, model: m, opts: opts, out: out, store: store, backend: backend, data: data,
		lastSaved: -1, scalars: &scalarSet{}, timing: &res.Timing}
	res.Timing.Setup = time.Since(begin).Seconds()
	initStart := time.Now()
	timing := &res.Timing // res is nil on the error returns
	defer func() { timing.Total = time.Since(begin).Seconds() }()
	if latest != nil {
		if _, err := checkpoint.Load(latest.path, store); err != nil {
			return nil, err
		}
		if err := dropUnsavedVariables(store); err != nil {
			return nil, err
		}
		r.initMeta = latest.header.Meta[metaInitSHA256]
		if cfg.TeacherFrom != "" {
			if err := r.loadTeacher(latest.header); err != nil {
				return nil, err
			}
		}
		res.Resumed = true
		// The checkpoint resumed from is on disk: a finished run run again trains nothing and
		// must not save it again (its bytes, and so the SHA-256 that .qzc files and distilled
		// runs record, would change).
		r.lastSaved = latest.header.Step
		fmt.Fprintf(out, "qzoo: resuming %s from step %d (%s)\n", cfg.Model, latest.header.Step, filepath.Base(latest.path))
	}
	startStep := optimizer.GetGlobalStep(store)
	r.startStep = startStep
	if err := truncateMetricsLog(filepath.Join(opts.Dir, MetricsFile), startStep, cfg.periodicEval(startStep)); err != nil {
		return nil, err
	}
	if latest == nil {
		if err := r.initialise(); err != nil {
			return nil, err
		}
	}
	if n, err := applyTrainable(store, m, cfg); err != nil {
		return nil, err
	} else if n == 0 && cfg.Steps > 0 {
		return nil, fmt.Errorf("framework: %s has no trainable variables left (Model.Trainable and freeze=%q froze them all)", m.Name, cfg.Freeze)
	}
	trainer, err := newTrainer(backend, store, cfg, m, r.scalars)
	if err != nil {
		return nil, err
	}
	res.Timing.Init = time.Since(initStart).Seconds()
	r.start = time.Now()
	defer r.close()
	if err := r.openLog(); err != nil {
		return nil, err
	}
	loop := train.NewLoop(trainer)
	loop.OnStep("qzoo", 0, r.onStep)
	target := int64(cfg.Steps)
	if opts.StopAt > 0 && opts.StopAt < target {
		target = opts.StopAt
	}
	batches, err := r.trainBatches(startStep)
	if err != nil {
		return nil, err
	}
	trainingStarted = true
	if startStep < target {
		if _, err := loop.RunToGlobalStep(batches, int(target)); err != nil {
			return nil, fmt.Errorf("framework: training %s: %w", cfg.Model, err)
		}
	}
	r.endProgress()
	res.MedianStepSeconds = loop.MedianTrainStepDuration().Seconds()
	res.Step = optimizer.GetGlobalStep(store)
	res.Timing.TrainSteps = res.Step - startStep
	if res.Timing.TrainSteps > 0 {
		// Only the loop's evaluations and checkpoints have been timed so far.
		res.Timing.Steps = time.Since(r.start).Seconds() - res.Timing.FirstStep - res.Timing.Eval - res.Timing.Save
	}
	res.Train = r.lastTrain
	if steps := res.Step - startStep; steps > 0 {
		res.StepsPerSecond = float64(steps) / time.Since(r.start).Seconds()
	}
	if r.lastSaved != res.Step {
		if err := r.save(res.Step); err != nil {
			return nil, err
		}
	}
	if res.Eval, res.EvalSamples, err = r.evaluate(res.Step); err != nil {
		return nil, err
	}
	// The samples first: an eval.json at this step is written after the samples it goes with.
	if err := WriteEvalSamples(filepath.Join(opts.Dir, EvalSamplesFile), res.Step, cfg.EvalSplit, res.EvalSamples); err != nil {
		return nil, err
	}
	if err := WriteEval(filepath.Join(opts.Dir, EvalFile), res.Step, res.Eval); err != nil {
		return nil, err
	}
	res.NonFinite = r.nonFinite
	res.Expectations, res.ExpectationsMet = cfg.CheckExpectations(res.Eval)
	if !opts.Quiet {
		fmt.Fprint(out, FormatMetrics(fmt.Sprintf("%s at step %d", cfg.Model, res.Step), res.Eval))
		if r.nonFinite > 0 {
			fmt.Fprintf(out, "qzoo: %d logged values were NaN or infinite (null in %s)\n", r.nonFinite, MetricsFile)
		}
	}
	return res, nil
}

// trainBatches is the training stream from batch start on: the dataset's own, or, under
// data_parallel (see [RunParams]), the same batches sharded over the backend's devices, which
// makes the loop run the distributed step.
func (r *runner) trainBatches(start int64) (train.Dataset, error) {
	batches := r.data.TrainBatches(r.cfg.BatchSize, r.cfg.Seed, start)
	value, _ := r.cfg.Params[ParamDataParallel].(string)
	n, note, err := DataParallelDevices(r.backend, value, r.cfg.BatchSize)
	if err != nil {
		return nil, err
	}
	if note != "" {
		fmt.Fprintln(r.out, note)
	}
	if n == 0 {
		return batches, nil
	}
	fmt.Fprintf(r.out, "qzoo: %s=%s: each batch of %d sharded over %d device(s) of %s (%d each), variables replicated\n",
		ParamDataParallel, value, r.cfg.BatchSize, n, r.backend.Name(), r.cfg.BatchSize/n)
	return dataParallelBatches(r.backend, batches, n, r.cfg.BatchSize)
}

// metaInitSHA256 is the checkpoint meta key of the SHA-256 of the init_from file.
const metaInitSHA256 = "init_from_sha256"

// loadTeacher loads the run's teacher into its store and records its SHA-256 for the
// checkpoints; resuming from the checkpoint with header, it must be the one recorded there.
func (r *runner) loadTeacher(header *checkpoint.Header) error {
	want, err := recordedTeacher(header)
	if err != nil {
		return err
	}
	sum, err := loadTeacher(r.store, r.cfg, r.model, r.opts.DataDir, want)
	if err != nil {
		return err
	}
	r.teacher, _ = json.Marshal(sum)
	return nil
}

// recordedTeacher returns the teacher's SHA-256 recorded in the checkpoint with header ("" for
// a nil header, a fresh run); a checkpoint of a run with a teacher that records none is refused.
func recordedTeacher(header *checkpoint.Header) (string, error) {
	if header == nil {
		return "", nil
	}
	var want string
	if err := json.Unmarshal(header.Meta[metaTeacherSHA256], &want); err != nil || want == "" {
		return "", fmt.Errorf(`framework: key "teacher_from": the checkpoint at step %d records no teacher SHA-256, so its teacher cannot be checked`, header.Step)
	}
	return want, nil
}

// initialise sets up the variables of a fresh run: pretrained values from init_from, then
// every variable created by building the model on the first batch, then the model's Init.
func (r *runner) initialise() error {
	m, cfg := r.model, r.cfg
	if cfg.InitFrom != "" {
		path, err := LocateData(r.opts.DataDir, cfg.InitFrom)
		if err != nil {
			return fmt.Errorf(`framework: key "init_from": %w`, err)
		}
		sum, err := FileSHA256(path)
		if err != nil {
			return fmt.Errorf(`framework: key "init_from": %w`, err)
		}
		if err := m.Pretrained(r.store, path, cfg.Params); err != nil {
			return fmt.Errorf("framework: %s: initialising from %s: %w", m.Name, path, err)
		}
		r.initMeta, _ = json.Marshal(sum)
	}
	if cfg.TeacherFrom != "" {
		if err := r.loadTeacher(nil); err != nil {
			return err
		}
	}
	ds := r.data.TrainBatches(cfg.BatchSize, cfg.Seed, 0)
	for batch, err := range ds.Iter() {
		if err != nil {
			return fmt.Errorf("framework: reading the first batch for %s's initialisation: %w", m.Name, err)
		}
		defer func() { _ = batch.Finalize() }()
		// Build the model once first, so that every variable exists with its initial value
		// before the trainable filter and the initialisation graph read it (backends such as
		// ONNX Runtime need the values when compiling).
		if err := createVariables(r.backend, r.store, m, batch); err != nil {
			return err
		}
		if m.Init != nil {
			if err := runInit(r.backend, r.store, m, batch); err != nil {
				return err
			}
		}
		if m.Calibrate != nil {
			ctx := &EvalContext{Config: cfg, Model: m, Backend: r.backend, Store: r.store, Data: r.data,
				Split: SplitTrain, MaxExamples: 0, Step: 0, Out: r.out}
			if err := m.Calibrate(ctx); err != nil {
				return fmt.Errorf("framework: %s calibration: %w", m.Name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("framework: %s initialisation: the training stream is empty", m.Name)
}

// newStore creates the model's variable store with the config's hyperparameters and seed.
func newStore(cfg *Config) *model.Store {
	store := model.NewStore()
	store.SetParams(cfg.Params)
	store.SetParam(optimizer.ParamLearningRate, cfg.LearningRate)
	if cfg.Optimizer == "adamw" {
		store.SetParam(optimizer.ParamAdamWeightDecay, cfg.WeightDecay)
	}
	if err := store.SetRNGStateFromSeed(cfg.Seed); err != nil {
		panic(err) // only fails for an invalid store
	}
	return store
}

// runInit runs the model's data-dependent initialisation on batch.
func runInit(backend compute.Backend, store *model.Store, m *Model, batch train.Batch) error {
	// The constant output keeps the graph valid when Init has nothing to do for these
	// hyperparameters (e.g. a quantizer without data-dependent initialisation).
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) *graph.Node {
		store.SetTraining(inputs[0].Graph(), true) // variables as parameters, see createVariables
		m.Init(scope, inputs)
		return graph.Const(inputs[0].Graph(), int32(0))
	})
	if err != nil {
		return fmt.Errorf("framework: %s initialisation: %w", m.Name, err)
	}
	defer exec.Finalize()
	err = exceptions.TryCatch[error](func() {
		outs, err := exec.Call(inputArgs(batch)...)
		if err != nil {
			panic(err)
		}
		outs[0].MustFinalizeAll()
	})
	if err != nil {
		return fmt.Errorf("framework: %s initialisation: %w", m.Name, err)
	}
	return nil
}

// createVariables builds the model once on batch, creating and initialising its variables.
// The graph is built in training mode: backends that prefer constants (ONNX Runtime) embed
// the non-trainable variables of evaluation graphs as constants, which needs their values.
func createVariables(backend compute.Backend, store *model.Store, m *Model, batch train.Batch) error {
	exec, err := newPredictExec(backend, store, m, true)
	if err != nil {
		return err
	}
	defer exec.Finalize()
	outs, err := exec.Call(inputArgs(batch)...)
	if err != nil {
		return fmt.Errorf("framework: %s: %w", m.Name, err)
	}
	for _, o := range outs {
		o.MustFinalizeAll()
	}
	return nil
}

// inputArgs returns a batch's inputs as arguments of an Exec call.
func inputArgs(batch train.Batch) []any {
	args := make([]any, len(batch.Inputs))
	for i, t := range batch.Inputs {
		args[i] = t
	}
	return args
}

// runner holds the state of the hooks of one Run.
type runner struct {
	cfg       *Config
	model     *Model
	opts      RunOptions
	out       io.Writer
	store     *model.Store
	backend   compute.Backend
	data      *Data
	scalars   *scalarSet
	initMeta  json.RawMessage // the init_from file's SHA-256, as JSON, for the checkpoints
	teacher   json.RawMessage // the teacher_from file's SHA-256, as JSON, for the checkpoints
	log       *os.File
	start     time.Time
	startStep int64
	lastSaved int64
	lastTrain map[string]float64
	nonFinite int
	progress  progress
	timing    *Timing // the Result's, filled as the run goes
}

func (r *runner) openLog() error {
	f, err := os.OpenFile(filepath.Join(r.opts.Dir, MetricsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("framework: %w", err)
	}
	r.log = f
	return nil
}

func (r *runner) close() {
	if r.log != nil {
		_ = r.log.Close()
	}
}

// writeLog appends record to metrics.jsonl; non-finite numbers (top level or in a nested
// map of metrics) are written as null and counted.
func (r *runner) writeLog(record map[string]any) error {
	var n int
	record, n = finiteRecord(record)
	r.nonFinite += n
	line, err := json.Marshal(record)
	if err != nil {
		return fmt.Errorf("framework: metrics record: %w", err)
	}
	if _, err := r.log.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("framework: write %s: %w", r.log.Name(), err)
	}
	return nil
}

// finiteRecord returns a copy of record with NaN and ±Inf float64 values replaced by nil, and
// how many were replaced.
func finiteRecord(record map[string]any) (map[string]any, int) {
	out := make(map[string]any, len(record))
	n := 0
	for k, v := range record {
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				out[k] = nil
				n++
				continue
			}
		case map[string]float64:
			inner := make(map[string]any, len(x))
			for ik, iv := range x {
				inner[ik] = iv
			}
			var m int
			out[k], m = finiteRecord(inner)
			n += m
			continue
		}
		out[k] = v
	}
	return out, n
}

// onStep logs, reports progress, evaluates and checkpoints as the config asks.
func (r *runner) onStep(loop *train.Loop, metrics []*tensors.Tensor) error {
	step := optimizer.GetGlobalStep(r.store)
	if step == r.startStep+1 {
		r.timing.FirstStep = time.Since(r.start).Seconds()
	}
	// metrics: the trainer's batch loss and its own moving average (unused, see
	// lossAvgScope), then ours: loss_avg and the model's scalars.
	names := append([]string{"loss", "", "loss_avg"}, r.model.Scalars...)
	values := make(map[string]float64, len(names))
	for i, name := range names {
		if name == "" || r.scalars.missing[name] {
			continue
		}
		v, err := scalarValue(metrics[i])
		if err != nil {
			return fmt.Errorf("framework: metric %s: %w", name, err)
		}
		values[name] = v
	}
	if math.IsNaN(values["loss"]) || math.IsInf(values["loss"], 0) {
		return fmt.Errorf("framework: step %d: training loss is %v; the last good checkpoint is kept in %s", step, values["loss"], r.opts.Dir)
	}
	r.lastTrain = values
	if step%int64(r.cfg.LogEvery) == 0 || step == int64(r.cfg.Steps) {
		record := map[string]any{"step": step, "time": time.Since(r.start).Seconds()}
		for k, v := range values {
			record[k] = v
		}
		if err := r.writeLog(record); err != nil {
			return err
		}
	}
	if !r.opts.Quiet {
		r.progress.update(r.out, step, r.startStep, int64(r.cfg.Steps), r.start, values["loss_avg"])
	}
	for _, h := range r.opts.Hooks {
		if h.OnStep != nil {
			if err := h.OnStep(step, values); err != nil {
				return fmt.Errorf("framework: step hook at step %d: %w", step, err)
			}
		}
	}
	if r.cfg.periodicEval(step) {
		if _, _, err := r.evaluate(step); err != nil {
			return err
		}
	}
	if r.cfg.CheckpointEvery > 0 && step%int64(r.cfg.CheckpointEvery) == 0 {
		return r.save(step)
	}
	return nil
}

// addSince adds the seconds since start to *phase.
func addSince(phase *float64, start time.Time) {
	*phase += time.Since(start).Seconds()
}

func (r *runner) endProgress() {
	if !r.opts.Quiet {
		r.progress.finish(r.out)
	}
}

func (r *runner) save(step int64) error {
	defer addSince(&r.timing.Save, time.Now())
	model, _ := json.Marshal(r.cfg.Model)
	meta := map[string]json.RawMessage{"model": model, "config": r.cfg.JSON()}
	if r.initMeta != nil {
		meta[metaInitSHA256] = r.initMeta
	}
	if r.teacher != nil {
		meta[metaTeacherSHA256] = r.teacher
	}
	keep := keepInCheckpoint
	if r.cfg.TeacherFrom != "" {
		// The teacher is loaded from teacher_from again, never saved twice.
		keep = func(path string) bool { return keepInCheckpoint(path) && !isTeacherVariable(path) }
	}
	path, err := checkpoint.SaveFiltered(r.opts.Dir, step, r.store, meta, keep)
	if err != nil {
		return err
	}
	r.lastSaved = step
	if err := checkpoint.Prune(r.opts.Dir, r.cfg.KeepCheckpoints); err != nil {
		return err
	}
	for _, h := range r.opts.Hooks {
		if h.OnCheckpoint != nil {
			if err := h.OnCheckpoint(step, path); err != nil {
				return fmt.Errorf("framework: checkpoint hook at step %d: %w", step, err)
			}
		}
	}
	return nil
}

// evaluate evaluates the current variables and logs the result; it returns the metrics and the
// per-example samples recorded.
func (r *runner) evaluate(step int64) (map[string]float64, map[string][]float64, error) {
	defer addSince(&r.timing.Eval, time.Now())
	ctx := &EvalContext{Config: r.cfg, Model: r.model, Backend: r.backend, Store: r.store,
		Data: r.data, Split: r.cfg.EvalSplit, MaxExamples: r.cfg.EvalExamples, Step: step, Out: r.out}
	metrics, err := evaluateModel(ctx)
	if err != nil {
		return nil, nil, err
	}
	record := map[string]any{"step": step, "eval": metrics, "split": r.cfg.EvalSplit}
	if err := r.writeLog(record); err != nil {
		return nil, nil, err
	}
	for _, h := range r.opts.Hooks {
		if h.OnEval != nil {
			if err := h.OnEval(step, metrics); err != nil {
				return nil, nil, fmt.Errorf("framework: evaluation hook at step %d: %w", step, err)
			}
		}
	}
	return metrics, ctx.samples, nil
}

// FormatMetrics renders metrics as an aligned two-column table under a title.
func FormatMetrics(title string, metrics map[string]float64) string {
	keys := make([]string, 0, len(metrics))
	width := 6
	for k := range metrics {
		keys = append(keys, k)
		width = max(width, len(k))
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", title)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-*s  %12.6g\n", width, k, metrics[k])
	}
	return b.String()
}

func scalarValue(t *tensors.Tensor) (float64, error) {
	switch v := t.Value().(type) {
	case float32:
		return float64(v), nil
	case float64:
		return v, nil
	case int64:
		return float64(v), nil
	case int32:
		return float64(v), nil
	}
	return 0, fmt.Errorf("not a scalar: %s", t.Shape())
}

// latestCheckpoint is the checkpoint a run resumes from.
type latestCheckpoint struct {
	path   string
	header *checkpoint.Header
}

// checkSameExperiment returns the latest checkpoint of dir (nil if none) after checking that
// it is of cfg's experiment: the config recorded in the checkpoint itself (not config.json,
// which may be missing or edited) must have the same model, dataset, hyperparameters, seed,
// batch size, optimizer, gradient clipping, frozen variables and pretrained file (the teacher
// is checked by its SHA-256 when Run loads it again). The
// schedule (steps, learning rate, evaluation and checkpoint cadence) may change; Run refuses
// steps below the checkpoint's step.
func checkSameExperiment(cfg *Config, dir string) (*latestCheckpoint, error) {
	path, _, err := checkpoint.Latest(dir)
	if errors.Is(err, checkpoint.ErrNoCheckpoint) {
		return nil, nil // nothing trained yet: the directory can take any experiment
	} else if err != nil {
		return nil, err
	}
	header, saved, err := recordedConfig(path)
	if err != nil {
		return nil, err
	}
	if saved == nil {
		return nil, fmt.Errorf("framework: %s records no config, so it cannot be told whether it is of this experiment: use another directory", path)
	}
	differ := func(key string, was, now any) error {
		return fmt.Errorf("framework: %s holds a run with %s=%v, this config has %v: use another directory (%s)",
			dir, key, was, now, filepath.Base(path))
	}
	for _, f := range []struct {
		key      string
		was, now any
	}{
		{"model", saved.Model, cfg.Model}, {"dataset", saved.Dataset, cfg.Dataset},
		{"seed", saved.Seed, cfg.Seed}, {"batch_size", saved.BatchSize, cfg.BatchSize},
		{"optimizer", saved.Optimizer, cfg.Optimizer}, {"clip_grad_norm", saved.ClipGradNorm, cfg.ClipGradNorm},
		{"freeze", saved.Freeze, cfg.Freeze}, {"init_from", saved.InitFrom, cfg.InitFrom},
		{"teacher_model", saved.TeacherModel, cfg.TeacherModel},
		// teacher_from is not compared as text: the same teacher may be spelled from another
		// directory ("runs/teacher" from the repository, "../runs/teacher" from a notebook), and
		// resuming loads it again and refuses one whose SHA-256 differs from the checkpoint's.
	} {
		if f.was != f.now {
			return nil, differ(f.key, f.was, f.now)
		}
	}
	keys := make([]string, 0, len(saved.Params)+len(cfg.Params))
	for k := range saved.Params {
		keys = append(keys, k)
	}
	for k := range cfg.Params {
		if _, ok := saved.Params[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if isRunParam(k) {
			continue // where the run computes, not what: a run may resume on other devices
		}
		if fmt.Sprint(saved.Params[k]) != fmt.Sprint(cfg.Params[k]) {
			return nil, differ(k, saved.Params[k], cfg.Params[k])
		}
	}
	return &latestCheckpoint{path: path, header: header}, nil
}

// periodicEval says whether the training loop evaluates at step (the final evaluation, at
// steps, is Run's own).
func (c *Config) periodicEval(step int64) bool {
	return c.EvalEvery > 0 && step > 0 && step%int64(c.EvalEvery) == 0 && step != int64(c.Steps)
}

// truncateMetricsLog drops the records a killed run logged after its last checkpoint, at step,
// so the resumed run's log has each step once. An evaluation at step itself is kept only if
// it is one of the training loop's (periodic): the final evaluation of an earlier call (at
// StopAt, or of a finished run run again) is not part of an uninterrupted run's log and is
// logged again when this call ends.
func truncateMetricsLog(path string, step int64, periodicEval bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("framework: %w", err)
	}
	var kept bytes.Buffer
	for _, line := range bytes.Split(data, []byte("\n")) {
		var rec struct {
			Step *int64          `json:"step"`
			Eval json.RawMessage `json:"eval"`
		}
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &rec) != nil || rec.Step == nil || *rec.Step > step {
			continue
		}
		if rec.Eval != nil && *rec.Step == step && !periodicEval {
			continue
		}
		kept.Write(line)
		kept.WriteByte('\n')
	}
	if err := atomicfile.WriteFile(path, kept.Bytes()); err != nil {
		return fmt.Errorf("framework: write %s: %w", path, err)
	}
	return nil
}
