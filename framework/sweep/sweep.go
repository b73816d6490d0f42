package sweep

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/qzoo/qzoo/framework"
)

// Options are the settings of a sweep that are not part of the experiment.
type Options struct {
	// Dir is the root of the sweep's run directories (one per point). Required, except by
	// [RunFile], which falls back on the file's own runs root, then on DefaultDir.
	Dir string
	// DefaultDir is [RunFile]'s root when Dir is empty and the file names no runs root.
	DefaultDir string
	// Set are extra overrides applied to every point after the spec's own (e.g. "steps=50"
	// for a quick look); they cannot set an axis, and a steps override leaves a point that
	// trains nothing (steps 0) at steps 0. Points trained with other overrides have other
	// configs, hence other directories.
	Set string
	// Points, if not empty, names the points of a study to run (see [Study.Run]).
	Points []string
	// DataDir, Data, Backend and Out are passed to framework.Run. Data and Backend are
	// loaded once, when the first point that needs training comes, and shared by the rest.
	DataDir string
	Data    *framework.Data
	Backend compute.Backend
	Out     io.Writer
	// Quiet turns off the per-run progress lines.
	Quiet bool
}

// Point is the final evaluation of one point of a sweep or a study.
type Point struct {
	// Name is an explicit point's name, or a grid point's coordinates as -set overrides.
	Name string
	// Part and Variant are the study's part and variant of the point ("" in a sweep).
	Part, Variant string
	// Coords are a grid point's coordinates (nil for an explicit point).
	Coords Coords
	// Labels are the study's labels of the point (its part's, variant's and own).
	Labels map[string]string
	// Dir is the point's run directory; Hash the [ConfigHash] of its config, which ends Dir.
	Dir, Hash string
	Step      int64
	Metrics   map[string]float64
	// Samples are the per-example values of the final evaluation, by name (e.g. "nll": each
	// held-out window's mean negative log-likelihood; see framework.EvalContext.RecordSamples),
	// for a point read back as for one run now; nil when its evaluation recorded none.
	Samples map[string][]float64
	// Reused is true when the point was read back from an earlier run rather than trained
	// or evaluated by this one.
	Reused bool
	// Expectations has one line per expect condition, as framework.Config.CheckExpectations
	// writes them; Unmet the lines of the conditions that do not hold.
	Expectations, Unmet []string
}

// label names a point in messages: its name, after its part and variant in a study.
func (p Point) label() string {
	return strings.Join(slices.DeleteFunc([]string{p.Part, p.Variant, p.Name}, func(s string) bool { return s == "" }), "/")
}

// ExpectationsError is returned by [Run], with every point, when some points' evaluations
// do not meet the expect conditions.
type ExpectationsError struct {
	// Failed are the points with an unmet condition, in grid order.
	Failed []Point
	// Total is the number of points of the sweep.
	Total int
}

func (e *ExpectationsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sweep: %d of %d points do not meet the expectations:", len(e.Failed), e.Total)
	for _, p := range e.Failed {
		for _, line := range p.Unmet {
			fmt.Fprintf(&b, "\n  %s: %s", p.label(), line)
		}
	}
	return b.String()
}

// Run trains (or resumes, or reads back) every point of the sweep, in grid order, runs its
// point hooks and checks the expect conditions on each. A point is read back only when its
// directory holds an evaluation at the configured step and a config.json with the same
// [ConfigHash]; a hook's result is read back when cached for the same arguments.
//
// When every point ran but some do not meet their expectations, Run returns all the points
// and an [*ExpectationsError]; on any other error it stops and returns the points done so far.
func Run(s *Spec, opts Options) ([]Point, error) {
	return (&Study{Parts: []Part{{spec: s}}}).Run(opts)
}

// runPlans runs (or reads back) the planned points in order, then their hooks, and checks
// their metrics and expectations. Before each point it prints its rank, the time elapsed and
// the time left (see progress), and at the end the total time.
func runPlans(plans []plan, shared *sharedRun) ([]Point, error) {
	var points []Point
	failed := &ExpectationsError{Total: len(plans)}
	prog, willTrain := newProgress(shared.out(), plans)
	for i, pl := range plans {
		p, cfg := pl.point, pl.cfg
		var start time.Time
		if step, metrics, ok := finished(p.Dir, cfg, p.Hash); ok {
			prog.before(i, p.label(), "read back from "+p.Dir)
			p.Step, p.Metrics, p.Reused = step, metrics, true
			p.Samples = finishedSamples(p.Dir, step)
		} else {
			prog.before(i, p.label(), fmt.Sprintf("training %d steps → %s", cfg.Steps, p.Dir))
			runOpts, err := shared.prepare(cfg)
			if err != nil {
				return points, fmt.Errorf("sweep: point %s: %w", p.label(), err)
			}
			start = time.Now() // after the data's loading, which the first point alone pays
			if err := removeHookResults(p.Dir); err != nil {
				return points, fmt.Errorf("sweep: point %s: %w", p.label(), err)
			}
			runOpts.Dir = p.Dir
			res, err := framework.Run(cfg, runOpts)
			if err != nil {
				return points, fmt.Errorf("sweep: point %s: %w", p.label(), err)
			}
			p.Step, p.Metrics, p.Samples = res.Step, res.Eval, res.EvalSamples
		}
		p.Metrics = maps.Clone(p.Metrics)
		ctx := &Context{Dir: p.Dir, Config: cfg, DataDir: shared.opts.DataDir, Out: shared.out(), shared: shared}
		if err := runPointHooks(&p, pl.hooks, ctx); err != nil {
			return points, fmt.Errorf("sweep: point %s (%s): %w", p.label(), p.Dir, err)
		}
		prog.after(willTrain[i], !p.Reused, time.Since(start))
		if pl.check != nil {
			if err := pl.check.checkMetrics(p); err != nil {
				return points, err
			}
		}
		p.Expectations, p.Unmet = checkExpectations(cfg, p.Metrics)
		if len(p.Unmet) > 0 {
			failed.Failed = append(failed.Failed, p)
		}
		points = append(points, p)
	}
	prog.done(points)
	if len(failed.Failed) > 0 {
		return points, failed
	}
	return points, nil
}

// finished reads back a point trained earlier: its directory must hold an evaluation at the
// config's step and a config.json that resolves to the same hash.
func finished(dir string, cfg *framework.Config, hash string) (step int64, metrics map[string]float64, ok bool) {
	step, metrics, err := framework.ReadEval(filepath.Join(dir, framework.EvalFile))
	if err != nil || step != int64(cfg.Steps) {
		return 0, nil, false
	}
	stored, err := framework.LoadConfig(filepath.Join(dir, framework.ConfigFile))
	if err != nil || ConfigHash(stored) != hash {
		return 0, nil, false
	}
	return step, metrics, true
}

// finishedSamples reads back the per-example samples of a point's final evaluation at step:
// nil when it recorded none (no file) or when the file is of another evaluation's step.
func finishedSamples(dir string, step int64) map[string][]float64 {
	sampleStep, _, samples, err := framework.ReadEvalSamples(filepath.Join(dir, framework.EvalSamplesFile))
	if err != nil || sampleStep != step {
		return nil
	}
	return samples
}

// sharedRun shares one backend between the points and hooks, and the data between the points
// whose dataset and dataset hyperparameters agree (framework.Config.DataKey), loading them only
// when a point needs training.
type sharedRun struct {
	opts framework.RunOptions
	data map[string]*framework.Data // by Config.DataKey
}

func newSharedRun(o Options) *sharedRun {
	return &sharedRun{opts: framework.RunOptions{DataDir: o.DataDir, Data: o.Data, Backend: o.Backend, Out: o.Out, Quiet: o.Quiet}}
}

// out is where progress goes (standard output by default, as framework.Run's).
func (s *sharedRun) out() io.Writer {
	if s.opts.Out == nil {
		return os.Stdout
	}
	return s.opts.Out
}

// backend returns the shared backend, creating it (and saying which) at the first need.
func (s *sharedRun) backend() (compute.Backend, error) {
	if s.opts.Backend == nil {
		b, line, err := framework.NewBackend()
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(s.out(), line)
		s.opts.Backend = b
	}
	return s.opts.Backend, nil
}

func (s *sharedRun) prepare(cfg *framework.Config) (framework.RunOptions, error) {
	opts := s.opts
	if opts.Data == nil {
		opts.Data = s.data[cfg.DataKey()]
	}
	opts, err := opts.PrepareFor(cfg)
	if err != nil {
		return opts, err
	}
	if s.data == nil {
		s.data = map[string]*framework.Data{}
	}
	s.data[cfg.DataKey()] = opts.Data
	s.opts.Backend, s.opts.Out = opts.Backend, opts.Out
	return opts, nil
}

// MissingMetricError reports a metric of the spec that a point's evaluation lacks.
type MissingMetricError struct {
	Metric    string
	Point     Point
	Available []string
}

func (e *MissingMetricError) Error() string {
	return fmt.Sprintf("sweep: point %s (%s): metric %q is not in its evaluation; it has: %s",
		e.Point.Coords, e.Point.Dir, e.Metric, strings.Join(e.Available, ", "))
}

func (s *Spec) checkMetrics(p Point) error {
	for _, m := range s.Metrics {
		if _, ok := p.Metrics[m]; !ok {
			return &MissingMetricError{Metric: m, Point: p, Available: sortedKeys(p.Metrics)}
		}
	}
	return nil
}

// checkExpectations checks cfg's expect conditions one by one, so that the unmet ones are
// known without parsing the lines.
func checkExpectations(cfg *framework.Config, metrics map[string]float64) (lines, unmet []string) {
	for _, metric := range sortedKeys(cfg.Expect) {
		one := *cfg
		one.Expect = map[string]string{metric: cfg.Expect[metric]}
		l, ok := one.CheckExpectations(metrics)
		lines = append(lines, l...)
		if !ok {
			unmet = append(unmet, l...)
		}
	}
	return lines, unmet
}
