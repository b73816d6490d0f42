package framework

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/checkpoint"
)

// Files written in a run directory.
const (
	ConfigFile  = "config.json"   // the resolved config, written before training starts
	MetricsFile = "metrics.jsonl" // one JSON object per logged step or evaluation
	EvalFile    = "eval.json"     // the final evaluation
)

// RunOptions are the settings of one call to [Run] that are not part of the experiment.
type RunOptions struct {
	// Dir holds the run: config, checkpoints, metrics log and final evaluation. Required.
	// If it already holds checkpoints of the same experiment, the run resumes from the latest.
	Dir string
	// DataDir is where datasets are looked for ("" = each loader's default search path).
	DataDir string
	// Data, if set, is used instead of loading the model's dataset (sweeps load it once).
	Data *Data
	// Backend, if set, is used instead of [NewBackend]'s choice.
	Backend compute.Backend
	// Out receives progress and messages (nil: os.Stdout).
	Out io.Writer
	// Quiet turns off the progress line and the evaluation table.
	Quiet bool
	// StopAt, if positive and below the config's steps, ends training at this global step (with a
	// checkpoint), as if the run had been interrupted there: a later Run resumes it to the end
	// of the same schedule. Notebooks use it to train in chunks.
	StopAt int64
}

// Prepare returns the options with their defaults filled in for model m: Out (os.Stdout),
// Data (m's dataset, loaded from DataDir) and Backend (NewBackend's choice, announced on Out).
// Sweeps call it once to share the data and backend between runs.
func (o RunOptions) Prepare(m *Model) (RunOptions, error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Data == nil {
		data, err := LoadDataset(m.Dataset, o.DataDir)
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

// Result is what a run measured.
type Result struct {
	Dir     string
	Config  *Config
	Step    int64              // the global step reached
	Resumed bool               // whether the run started from a checkpoint
	Train   map[string]float64 // the training metrics of the last step
	Eval    map[string]float64 // the final evaluation
	// StepsPerSecond is the training speed measured in this call, compilation included (0 if
	// no step ran); MedianStepSeconds is the median duration of one training step.
	StepsPerSecond    float64
	MedianStepSeconds float64
}

// Run trains cfg's model to cfg.Steps, evaluating, logging and checkpointing along the way,
// and returns the final evaluation. It is the one train loop used by the train command,
// notebooks, sweeps and tests.
func Run(cfg *Config, opts RunOptions) (res *Result, err error) {
	if opts.Dir == "" {
		return nil, errors.New("framework: RunOptions.Dir is required")
	}
	m, err := LookupModel(cfg.Model)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	unlock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := checkSameExperiment(cfg, opts.Dir); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(filepath.Join(opts.Dir, ConfigFile), cfg.JSON()); err != nil {
		return nil, err
	}
	if opts, err = opts.Prepare(m); err != nil {
		return nil, err
	}
	out, data, backend := opts.Out, opts.Data, opts.Backend

	store := newStore(cfg)
	res = &Result{Dir: opts.Dir, Config: cfg}
	if path, step, err := checkpoint.Latest(opts.Dir); err != nil && !errors.Is(err, checkpoint.ErrNoCheckpoint) {
		return nil, err
	} else if err == nil {
		if _, err := checkpoint.Load(path, store); err != nil {
			return nil, err
		}
		res.Resumed = true
		fmt.Fprintf(out, "qzoo: resuming %s from step %d (%s)\n", cfg.Model, step, filepath.Base(path))
	}
	startStep := optimizer.GetGlobalStep(store)
	if err := truncateMetricsLog(filepath.Join(opts.Dir, MetricsFile), startStep); err != nil {
		return nil, err
	}

	trainer := newTrainer(backend, store, cfg, m)
	if startStep == 0 && m.Init != nil {
		if err := runInit(backend, store, m, data.TrainBatches(cfg.BatchSize, cfg.Seed, 0)); err != nil {
			return nil, err
		}
	}

	r := &runner{cfg: cfg, model: m, opts: opts, out: out, store: store, backend: backend, data: data,
		trainer: trainer, start: time.Now(), startStep: startStep, lastSaved: -1}
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
	if startStep < target {
		if _, err := loop.RunToGlobalStep(data.TrainBatches(cfg.BatchSize, cfg.Seed, startStep), int(target)); err != nil {
			return nil, fmt.Errorf("framework: training %s: %w", cfg.Model, err)
		}
	}
	r.endProgress()
	res.MedianStepSeconds = loop.MedianTrainStepDuration().Seconds()
	res.Step = optimizer.GetGlobalStep(store)
	res.Train = r.lastTrain
	if steps := res.Step - startStep; steps > 0 {
		res.StepsPerSecond = float64(steps) / time.Since(r.start).Seconds()
	}
	if r.lastSaved != res.Step {
		if err := r.save(res.Step); err != nil {
			return nil, err
		}
	}
	if res.Eval, err = r.evaluate(res.Step); err != nil {
		return nil, err
	}
	if err := WriteEval(filepath.Join(opts.Dir, EvalFile), res.Step, res.Eval); err != nil {
		return nil, err
	}
	if !opts.Quiet {
		fmt.Fprint(out, FormatMetrics(fmt.Sprintf("%s at step %d", cfg.Model, res.Step), res.Eval))
	}
	return res, nil
}

// newStore creates the model's variable store with the config's hyperparameters and seed.
func newStore(cfg *Config) *model.Store {
	store := model.NewStore()
	store.SetParams(cfg.Params)
	store.SetParam(optimizer.ParamLearningRate, cfg.LearningRate)
	if err := store.SetRNGStateFromSeed(cfg.Seed); err != nil {
		panic(err) // only fails for an invalid store
	}
	return store
}

// modelFn wraps m.Build for the trainer: predictions followed by the scalars in m.Scalars order.
func modelFn(m *Model, cfg *Config) func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
	return func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		g := inputs[0].Graph()
		if scope.IsTraining(g) {
			applySchedule(scope, g, cfg)
		}
		o := m.Build(scope, inputs)
		if len(o.Scalars) != len(m.Scalars) {
			exceptions.Panicf("framework: model %q returned %d scalars, declared %d (%v)", m.Name, len(o.Scalars), len(m.Scalars), m.Scalars)
		}
		nodes := append([]*graph.Node{}, o.Predictions...)
		for _, name := range m.Scalars {
			s, ok := o.Scalars[name]
			if !ok {
				exceptions.Panicf("framework: model %q did not return its declared scalar %q", m.Name, name)
			}
			nodes = append(nodes, graph.ConvertDType(s, dtypes.Float32))
		}
		return nodes
	}
}

// applySchedule sets the learning rate of this step: linear warm-up, then constant or cosine
// decay to MinLearningRate at cfg.Steps.
func applySchedule(scope *model.Scope, g *graph.Graph, cfg *Config) {
	if cfg.WarmupSteps == 0 && cfg.LRSchedule == "constant" {
		return
	}
	step := graph.ConvertDType(optimizer.GetGlobalStepVar(scope).NodeValue(g), dtypes.Float32)
	lr := graph.Scalar(g, dtypes.Float32, cfg.LearningRate)
	if cfg.LRSchedule == "cosine" {
		decaySteps := math.Max(1, float64(cfg.Steps-cfg.WarmupSteps))
		progress := graph.DivScalar(graph.SubScalar(step, float64(cfg.WarmupSteps)), decaySteps)
		progress = graph.ClipScalar(progress, 0, 1)
		cosine := graph.MulScalar(graph.OnePlus(graph.Cos(graph.MulScalar(progress, math.Pi))), 0.5)
		lr = graph.AddScalar(graph.MulScalar(cosine, cfg.LearningRate-cfg.MinLearningRate), cfg.MinLearningRate)
	}
	if cfg.WarmupSteps > 0 {
		ramp := graph.MinScalar(graph.DivScalar(graph.OnePlus(step), float64(cfg.WarmupSteps)), 1)
		lr = graph.Mul(lr, ramp)
	}
	optimizer.LearningRateVarWithValue(scope.Store().RootScope(), dtypes.Float32, cfg.LearningRate).SetNodeValue(lr)
}

func newTrainer(backend compute.Backend, store *model.Store, cfg *Config, m *Model) *train.Trainer {
	adam := optimizer.Adam().LearningRate(cfg.LearningRate)
	if cfg.Optimizer == "adamw" {
		adam = adam.WeightDecay(cfg.WeightDecay)
	}
	var metrics []metric.Interface
	for i, name := range m.Scalars {
		idx := i - len(m.Scalars) // counted from the end of the predictions
		metrics = append(metrics, metric.NewBaseMetric(name, name, "stat",
			func(_ *model.Scope, _, predictions []*graph.Node) *graph.Node {
				return predictions[len(predictions)+idx]
			}, nil))
	}
	return train.NewTrainer(backend, store, modelFn(m, cfg), nil, adam.Done(), metrics, nil)
}

// runInit runs the model's data-dependent initialisation on the first training batch.
func runInit(backend compute.Backend, store *model.Store, m *Model, ds train.Dataset) error {
	for batch, err := range ds.Iter() {
		if err != nil {
			return fmt.Errorf("framework: reading the first batch for %s's initialisation: %w", m.Name, err)
		}
		// Build the model once first, so that every variable exists with its initial value
		// before the initialisation graph reads it (backends such as ONNX Runtime need the
		// values when compiling).
		if err := createVariables(backend, store, m, batch); err != nil {
			return err
		}
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
		args := inputArgs(batch)
		err = exceptions.TryCatch[error](func() {
			outs, err := exec.Call(args...)
			if err != nil {
				panic(err)
			}
			outs[0].MustFinalizeAll()
		})
		exec.Finalize()
		_ = batch.Finalize()
		if err != nil {
			return fmt.Errorf("framework: %s initialisation: %w", m.Name, err)
		}
		return nil
	}
	return fmt.Errorf("framework: %s initialisation: the training stream is empty", m.Name)
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
	trainer   *train.Trainer
	log       *os.File
	start     time.Time
	startStep int64
	lastSaved int64
	lastTrain map[string]float64
	progress  progress
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

func (r *runner) writeLog(record map[string]any) error {
	line, err := json.Marshal(record)
	if err != nil {
		return fmt.Errorf("framework: metrics record: %w", err)
	}
	if _, err := r.log.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("framework: write %s: %w", r.log.Name(), err)
	}
	return nil
}

// onStep logs, reports progress, evaluates and checkpoints as the config asks.
func (r *runner) onStep(loop *train.Loop, metrics []*tensors.Tensor) error {
	step := optimizer.GetGlobalStep(r.store)
	names := append([]string{"loss", "loss_avg"}, r.model.Scalars...)
	values := make(map[string]float64, len(names))
	for i, name := range names {
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
	if r.cfg.EvalEvery > 0 && step%int64(r.cfg.EvalEvery) == 0 && step != int64(r.cfg.Steps) {
		if _, err := r.evaluate(step); err != nil {
			return err
		}
	}
	if r.cfg.CheckpointEvery > 0 && step%int64(r.cfg.CheckpointEvery) == 0 {
		return r.save(step)
	}
	return nil
}

func (r *runner) endProgress() {
	if !r.opts.Quiet {
		r.progress.finish(r.out)
	}
}

func (r *runner) save(step int64) error {
	model, _ := json.Marshal(r.cfg.Model)
	meta := map[string]json.RawMessage{"model": model, "config": r.cfg.JSON()}
	if _, err := checkpoint.Save(r.opts.Dir, step, r.store, meta); err != nil {
		return err
	}
	r.lastSaved = step
	return checkpoint.Prune(r.opts.Dir, r.cfg.KeepCheckpoints)
}

// evaluate runs the evaluator over the whole evaluation split and logs the result.
func (r *runner) evaluate(step int64) (map[string]float64, error) {
	// A new graph for each evaluation: backends that prefer constants (ONNX Runtime) embed
	// non-trainable variables, such as EMA codebooks, in evaluation graphs as constants, so
	// a graph compiled at an earlier step would evaluate stale values.
	exec, err := newPredictExec(r.backend, r.store, r.model, false)
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	metrics, err := evaluate(exec, r.model, r.cfg, r.data)
	if err != nil {
		return nil, err
	}
	record := map[string]any{"step": step, "eval": metrics}
	if err := r.writeLog(record); err != nil {
		return nil, err
	}
	return metrics, nil
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

func evaluate(exec *model.Exec, m *Model, cfg *Config, data *Data) (map[string]float64, error) {
	ev := m.NewEvaluator(cfg.Params)
	seen := 0
	for batch, err := range data.EvalBatches(cfg.EvalBatchSize).Iter() {
		if err != nil {
			return nil, fmt.Errorf("framework: evaluation data: %w", err)
		}
		if cfg.EvalExamples > 0 && seen >= cfg.EvalExamples {
			_ = batch.Finalize()
			break
		}
		seen += batch.Inputs[0].Shape().Dimensions[0]
		args := inputArgs(batch)
		preds, err := exec.Call(args...)
		if err != nil {
			_ = batch.Finalize()
			return nil, fmt.Errorf("framework: evaluating %s: %w", m.Name, err)
		}
		err = ev.Add(batch.Inputs, preds)
		_ = batch.Finalize()
		for _, p := range preds {
			p.MustFinalizeAll()
		}
		if err != nil {
			return nil, fmt.Errorf("framework: evaluating %s: %w", m.Name, err)
		}
	}
	return ev.Metrics(), nil
}

// Evaluate loads the latest checkpoint of the run in dir and evaluates it on the model's
// evaluation split. It returns the metrics, the run's config and the checkpoint's step.
func Evaluate(dir string, opts RunOptions) (map[string]float64, *Config, int64, error) {
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("framework: %s is not a run directory: %w", dir, err)
	}
	m, err := LookupModel(cfg.Model)
	if err != nil {
		return nil, nil, 0, err
	}
	path, step, err := checkpoint.Latest(dir)
	if err != nil {
		return nil, nil, 0, err
	}
	store := newStore(cfg)
	if _, err := checkpoint.Load(path, store); err != nil {
		return nil, nil, 0, err
	}
	if opts, err = opts.Prepare(m); err != nil {
		return nil, nil, 0, err
	}
	exec, err := newPredictExec(opts.Backend, store, m, false)
	if err != nil {
		return nil, nil, 0, err
	}
	defer exec.Finalize()
	metrics, err := evaluate(exec, m, cfg, opts.Data)
	return metrics, cfg, step, err
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

// checkSameExperiment refuses to resume a run directory whose checkpoints are of another
// experiment: the model and its hyperparameters must match (the schedule, e.g. steps, may
// change).
func checkSameExperiment(cfg *Config, dir string) error {
	if _, _, err := checkpoint.Latest(dir); errors.Is(err, checkpoint.ErrNoCheckpoint) {
		return nil // nothing trained yet: the directory can take any experiment
	}
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("framework: %w", err)
	}
	saved, err := ParseConfig(data)
	if err != nil {
		return fmt.Errorf("framework: %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	if saved.Model != cfg.Model {
		return fmt.Errorf("framework: %s holds a run of model %q, not %q: use another directory", dir, saved.Model, cfg.Model)
	}
	for k, v := range saved.Params {
		if cfg.Params[k] != v {
			return fmt.Errorf("framework: %s was trained with %s=%v, this config has %v: use another directory", dir, k, v, cfg.Params[k])
		}
	}
	if saved.Seed != cfg.Seed || saved.BatchSize != cfg.BatchSize {
		return fmt.Errorf("framework: %s was trained with seed %d and batch size %d, this config has %d and %d: use another directory",
			dir, saved.Seed, saved.BatchSize, cfg.Seed, cfg.BatchSize)
	}
	return nil
}

// truncateMetricsLog drops the records a killed run logged after its last checkpoint, so the
// resumed run's log has each step once.
func truncateMetricsLog(path string, step int64) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("framework: %w", err)
	}
	var kept bytes.Buffer
	for _, line := range bytes.Split(data, []byte("\n")) {
		var rec struct {
			Step *int64 `json:"step"`
		}
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &rec) != nil || rec.Step == nil || *rec.Step > step {
			continue
		}
		kept.Write(line)
		kept.WriteByte('\n')
	}
	return WriteFileAtomic(path, kept.Bytes())
}
