package framework

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
	"github.com/gomlx/gomlx/support/exceptions"
)

// The pieces of the train step: the optimizer (GoMLX's, with gradient clipping by global
// norm), the learning-rate schedule, the trainable-variable filter and the logged metrics.

// lossAvgScope is where the moving average of the training loss keeps its state. GoMLX's
// own moving-average metric names its scope with a fresh UUID per trainer, so a resumed run
// would restart the average and every run would leave orphan variables in the checkpoints;
// this one has a fixed name, is saved with the checkpoints and continues exactly on resume.
const lossAvgScope = "loss_avg"

// lossAvgWeight is the weight of a new step in the moving average (after the first
// 1/lossAvgWeight steps, which are a plain mean), as GoMLX's own moving average.
const lossAvgWeight = 0.01

// keepInCheckpoint says whether a variable is saved: everything except GoMLX's
// per-trainer metric accumulators, whose scope names hold a fresh UUID each run. A run with a
// teacher does not save the teacher's variables either (see runner.save).
func keepInCheckpoint(path string) bool {
	return !(strings.HasPrefix(path, "/"+metric.Scope+"/") && strings.Contains(path, "_uuid_"))
}

// dropUnsavedVariables deletes from store the variables keepInCheckpoint leaves out: older
// checkpoints saved them, and they must not be carried forward.
func dropUnsavedVariables(store *model.Store) error {
	var drop []string
	for v := range store.IterVariables() {
		if !keepInCheckpoint(v.Path()) {
			drop = append(drop, v.Path())
		}
	}
	for _, path := range drop {
		if err := store.DeleteVariable(path); err != nil {
			return fmt.Errorf("framework: dropping %s: %w", path, err)
		}
	}
	return nil
}

// lossAverage is the exponential moving average of the total training loss, as a GoMLX
// metric with a fixed scope (see lossAvgScope).
type lossAverage struct{}

var _ metric.Interface = lossAverage{}

func (lossAverage) Name() string       { return "Moving Average Loss" }
func (lossAverage) ShortName() string  { return "loss_avg" }
func (lossAverage) ScopeName() string  { return lossAvgScope }
func (lossAverage) MetricType() string { return metric.LossMetricType }
func (lossAverage) PrettyPrint(v *tensors.Tensor) string {
	return fmt.Sprintf("%.3g", v.Value())
}
func (lossAverage) Reset(*model.Scope) {}

// UpdateGraph folds this step's total loss into the average: mean ← mean·(1−w) + loss·w with
// w = max(lossAvgWeight, 1/count).
func (lossAverage) UpdateGraph(scope *model.Scope, _, predictions []*graph.Node) *graph.Node {
	g := predictions[0].Graph()
	loss := train.TotalLoss(g)
	if loss == nil {
		loss = graph.ScalarZero(g, dtypes.Float32)
	}
	loss = graph.ConvertDType(loss, dtypes.Float64)
	scope = scope.Store().Scope("/" + metric.Scope + "/" + lossAvgScope)
	meanVar := scope.VariableWithValue("mean", 0.0).SetTrainable(false)
	countVar := scope.VariableWithValue("count", 0.0).SetTrainable(false)
	count := graph.OnePlus(countVar.NodeValue(g))
	countVar.SetNodeValue(count)
	w := graph.Max(graph.Scalar(g, dtypes.Float64, lossAvgWeight), graph.Reciprocal(count))
	mean := graph.Add(graph.Mul(meanVar.NodeValue(g), graph.OneMinus(w)), graph.Mul(loss, w))
	meanVar.SetNodeValue(mean)
	return mean
}

// newOptimizer returns the config's GoMLX optimizer (reading its keys from the store's
// params), wrapped to clip gradients by global norm when clip_grad_norm is set.
func newOptimizer(store *model.Store, cfg *Config) (optimizer.Interface, error) {
	var opt optimizer.Interface
	err := exceptions.TryCatch[error](func() { opt = optimizer.ByName(store.RootScope(), cfg.Optimizer) })
	if err != nil {
		return nil, fmt.Errorf(`framework: key "optimizer": %w`, err)
	}
	if cfg.ClipGradNorm > 0 {
		inner, ok := opt.(gradientsUpdater)
		if !ok {
			return nil, fmt.Errorf(`framework: key "clip_grad_norm": optimizer %q cannot take clipped gradients`, cfg.Optimizer)
		}
		opt = &clippedOptimizer{inner: inner, maxNorm: cfg.ClipGradNorm}
	}
	return opt, nil
}

// gradientsUpdater is implemented by GoMLX's optimizers (SGD and the Adam family).
type gradientsUpdater interface {
	optimizer.Interface
	UpdateGraphWithGradients(scope *model.Scope, grads []*graph.Node, lossDType dtypes.DType)
}

// clippedOptimizer rescales the gradients so that their global L2 norm is at most maxNorm
// (Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural
// networks", Algorithm 2): g ← g · min(1, maxNorm / ‖g‖₂), the norm taken over all
// trainable variables together; then the inner optimizer applies them.
type clippedOptimizer struct {
	inner   gradientsUpdater
	maxNorm float64
}

func (o *clippedOptimizer) UpdateGraph(scope *model.Scope, g *graph.Graph, loss *graph.Node) {
	grads := scope.BuildTrainableVariablesGradientsGraph(loss)
	if len(grads) == 0 {
		exceptions.Panicf("framework: no trainable variables to clip gradients of")
	}
	o.inner.UpdateGraphWithGradients(scope, ClipByGlobalNorm(grads, o.maxNorm), loss.DType())
}

func (o *clippedOptimizer) Clear(scope *model.Scope) error { return o.inner.Clear(scope) }

// ClipByGlobalNorm returns grads scaled by min(1, maxNorm/‖grads‖₂), the norm taken over all
// of them together (in float32 or wider).
func ClipByGlobalNorm(grads []*graph.Node, maxNorm float64) []*graph.Node {
	g := grads[0].Graph()
	sumSquares := graph.Scalar(g, dtypes.Float32, 0)
	for _, grad := range grads {
		sq := graph.ReduceAllSum(graph.Square(graph.ConvertDType(grad, dtypes.Float32)))
		sumSquares = graph.Add(sumSquares, sq)
	}
	norm := graph.Sqrt(sumSquares)
	scale := graph.MinScalar(graph.Div(graph.Scalar(g, dtypes.Float32, maxNorm), graph.MaxScalar(norm, 1e-30)), 1)
	out := make([]*graph.Node, len(grads))
	for i, grad := range grads {
		out[i] = graph.Mul(grad, graph.ConvertDType(scale, grad.DType()))
	}
	return out
}

// applySchedule sets the learning rate of this step: linear warm-up, then constant or cosine
// decay to MinLearningRate at cfg.Steps; or GoMLX's cosine annealing schedule.
func applySchedule(scope *model.Scope, g *graph.Graph, cfg *Config) {
	if cfg.LRSchedule == "gomlx_cosine" {
		// GoMLX's schedule reads its keys from the store's params; it keeps its own step
		// counter in a variable, saved with the checkpoints, so resumes continue it exactly.
		cosineschedule.New(scope.Store().RootScope(), g, dtypes.Float32).FromScope().Done()
		return
	}
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

// scalarSet records which of a model's declared scalars its graph returned (the others are
// logged as missing, not as values).
type scalarSet struct{ missing map[string]bool }

// modelFn wraps m.Build for the trainer: predictions followed by the scalars in m.Scalars
// order (NaN placeholders for the ones Build did not return, recorded in scalars).
func modelFn(m *Model, cfg *Config, scalars *scalarSet) func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
	return func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		g := inputs[0].Graph()
		if scope.IsTraining(g) {
			applySchedule(scope, g, cfg)
		}
		o := m.Build(scope, inputs)
		for name := range o.Scalars {
			if !slices.Contains(m.Scalars, name) {
				exceptions.Panicf("framework: model %q returned scalar %q, which it does not declare in Model.Scalars %v", m.Name, name, m.Scalars)
			}
		}
		nodes := append([]*graph.Node{}, o.Predictions...)
		missing := map[string]bool{}
		for _, name := range m.Scalars {
			s, ok := o.Scalars[name]
			if !ok {
				missing[name] = true
				s = graph.Scalar(g, dtypes.Float32, math.NaN())
			}
			if !s.Shape().IsScalar() {
				exceptions.Panicf("framework: model %q: scalar %q has shape %s, want a scalar", m.Name, name, s.Shape())
			}
			nodes = append(nodes, graph.ConvertDType(s, dtypes.Float32))
		}
		if scalars != nil {
			scalars.missing = missing
		}
		return nodes
	}
}

// newTrainer builds GoMLX's trainer for the model with the config's optimizer, the model's
// Loss (if any) and the logged metrics: loss_avg, then m.Scalars.
func newTrainer(backend compute.Backend, store *model.Store, cfg *Config, m *Model, scalars *scalarSet) (*train.Trainer, error) {
	opt, err := newOptimizer(store, cfg)
	if err != nil {
		return nil, err
	}
	metrics := []metric.Interface{lossAverage{}}
	for i, name := range m.Scalars {
		idx := i - len(m.Scalars) // counted from the end of the predictions
		metrics = append(metrics, metric.NewBaseMetric(name, name, "stat",
			func(_ *model.Scope, _, predictions []*graph.Node) *graph.Node {
				return predictions[len(predictions)+idx]
			}, nil))
	}
	var lossFn train.LossFn
	if m.Loss != nil {
		lossFn = func(labels, predictions []*graph.Node) *graph.Node {
			return m.Loss(labels, predictions[:len(predictions)-len(m.Scalars)]) // without the scalars
		}
	}
	return train.NewTrainer(backend, store, modelFn(m, cfg, scalars), lossFn, opt, metrics, nil), nil
}

// applyTrainable marks the variables the model (Model.Trainable) or the config ("freeze")
// freezes as not trainable. It only ever clears the flag: variables created non-trainable
// stay so. It returns the number of trainable variables left.
func applyTrainable(store *model.Store, m *Model, cfg *Config) (int, error) {
	freeze, err := regexp.Compile(cfg.Freeze)
	if err != nil {
		return 0, fmt.Errorf(`framework: key "freeze": %w`, err)
	}
	n, matched, example := 0, 0, ""
	for v := range store.IterVariables() {
		path := v.Path()
		hit := cfg.Freeze != "" && freeze.MatchString(path)
		if hit {
			matched++
		}
		if example == "" {
			example = path
		}
		if !v.Trainable {
			continue
		}
		if (m.Trainable != nil && !m.Trainable(path, cfg.Params)) || hit {
			v.SetTrainable(false)
			continue
		}
		n++
	}
	if cfg.Freeze != "" && matched == 0 { // a typo would otherwise train what it meant to freeze
		return 0, fmt.Errorf(`framework: key "freeze": %q matches no variable of %s (paths look like %q)`, cfg.Freeze, m.Name, example)
	}
	return n, nil
}

// sliceRows returns rows [from, to) (along axis 0) of t as a new tensor.
func sliceRows(t *tensors.Tensor, from, to int) (*tensors.Tensor, error) {
	shape := t.Shape()
	if shape.Rank() == 0 || from < 0 || from > to || shape.Dimensions[0] < to {
		return nil, fmt.Errorf("framework: cannot take rows [%d, %d) of a tensor shaped %s", from, to, shape)
	}
	dims := append([]int{to - from}, shape.Dimensions[1:]...)
	out := tensors.FromShape(shapes.Make(shape.DType, dims...))
	rowBytes := int(shape.ByteSize()) / shape.Dimensions[0]
	var inner error
	err := t.ConstBytes(func(src []byte) {
		inner = out.MutableBytes(func(dst []byte) { copy(dst, src[from*rowBytes:to*rowBytes]) })
	})
	if err = errors.Join(err, inner); err != nil {
		return nil, fmt.Errorf("framework: slicing a batch: %w", err)
	}
	return out, nil
}
