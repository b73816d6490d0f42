package main

// What the train-step benchmarks (vqae, vaeformer) share: the interleaved rounds of
// framework.Run on every backend then the PyTorch peer, and their table.

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/framework"
)

// TrainStepDetails are a train-step row's own fields.
type TrainStepDetails struct {
	// WallStepsPerSecond are framework.Run's own speeds (compilation included), Go side only.
	WallStepsPerSecond []float64 `json:"wall_steps_per_second,omitempty"`
	// FinalLoss is the training loss of the last step of each round: both sides train the same
	// network on the same data, so they should be close.
	FinalLoss []float64 `json:"final_loss,omitempty"`
}

// runTrainSteps measures, in o.Rounds interleaved rounds, the median train step of cfg on
// every backend of o.Backends (framework.Run in a fresh temporary directory, see measureRun
// for dataDir) and then, unless o.NoTorch, the peer's median step (the JSON object peer returns,
// with "median_step_seconds" and "final_loss"); each row's ratio is PyTorch's median step over
// its own in the same round. It sets report's rows (their Details are *TrainStepDetails) and
// Peer.
func runTrainSteps(report *harness.Report, o Options, cfg *framework.Config, data *framework.Data, dataDir string,
	peer func() (map[string]any, error), log io.Writer) error {
	specs := backendSpecs(o.Backends)
	rows := make([]harness.Result, 0, len(specs)+1)
	for _, spec := range specs {
		name, _, _ := strings.Cut(spec, ":")
		rows = append(rows, harness.Result{Case: CaseTrainStep, Side: harness.SideQzoo, Name: name, Spec: spec,
			Metric: MetricStepSeconds, Unit: "s", Details: &TrainStepDetails{}})
	}
	if !o.NoTorch {
		rows = append(rows, harness.Result{Case: CaseTrainStep, Side: harness.SidePeer, Name: PyTorchName,
			Metric: MetricStepSeconds, Unit: "s", Details: &TrainStepDetails{}})
	}
	report.Results = rows
	for round := range o.Rounds {
		for i := range specs {
			m := &rows[i]
			d := m.Details.(*TrainStepDetails)
			load := harness.LoadAvg()
			res, desc, err := measureRun(cfg, m.Spec, data, dataDir)
			if err != nil {
				return err
			}
			m.Description = desc
			m.AddRound(res.MedianStepSeconds, load)
			d.WallStepsPerSecond = append(d.WallStepsPerSecond, res.StepsPerSecond)
			d.FinalLoss = append(d.FinalLoss, res.Train["loss"])
			fmt.Fprintf(log, "bench: round %d, %s: median step %.1f ms, final loss %.4g (load %.2f)\n",
				round+1, m.Spec, 1e3*res.MedianStepSeconds, res.Train["loss"], load)
		}
		if o.NoTorch {
			continue
		}
		torch := &rows[len(rows)-1]
		load := harness.LoadAvg()
		out, err := peer()
		if err != nil {
			return err
		}
		median := out["median_step_seconds"].(float64) // checked by the harness
		loss, _ := out["final_loss"].(float64)
		report.Peer = out
		torch.Description = fmt.Sprintf("PyTorch %v, %v threads, OMP_WAIT_POLICY=%v, BLAS %v", out["torch_version"], out["threads"],
			cmpOr(fmt.Sprint(out["omp_wait_policy"]), "(inherited, unset)"), out["blas"])
		torch.AddRound(median, load)
		d := torch.Details.(*TrainStepDetails)
		d.FinalLoss = append(d.FinalLoss, loss)
		for i := range rows {
			rows[i].AddRatio(median/rows[i].Value.Rounds[round], PyTorchName)
		}
		fmt.Fprintf(log, "bench: round %d, pytorch: median step %.1f ms, final loss %.4g (load %.2f)\n", round+1, 1e3*median, loss, load)
	}
	return nil
}

// printTrainStepReport writes a train-step benchmark's table (the model is named in its title)
// and the context needed to read it.
func printTrainStepReport(w io.Writer, r *harness.Report, model string) {
	var c struct {
		BatchSize int `json:"batch_size"`
		Steps     int `json:"steps"`
	}
	_ = json.Unmarshal(r.Config, &c)
	fmt.Fprintf(w, "\n%s train step, batch %d (%s); %d steps; median of %d round(s) [min–max]\n\n", model, c.BatchSize, r.ConfigSource, c.Steps, r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tmedian step (ms)\t[min–max]\tsteps/s\t× PyTorch\tload avg\t")
	for _, m := range r.Results {
		if !m.Value.Measured() {
			fmt.Fprintf(tw, "%s\t(not measured)\t\t\t\t%s\t\n", m.Name, loadRange(m.LoadAvg))
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f–%.1f\t%.2f\t%s\t%s\t\n", m.Name, 1e3*m.Value.Median, 1e3*m.Value.Min, 1e3*m.Value.Max,
			1/m.Value.Median, ratio(m.Ratio), loadRange(m.LoadAvg))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\n× PyTorch = PyTorch's median step / the backend's, in the same round (> 1: faster than PyTorch)")
	for _, m := range r.Results {
		fmt.Fprintf(w, "  %s: %s\n", m.Name, m.Description)
	}
}

// cmpOr is s, or def when s is "" or "<nil>".
func cmpOr(s, def string) string {
	if s == "" || s == "<nil>" {
		return def
	}
	return s
}

// beginTrainStepBench checks o, loads the benchmark's config with configFn and its dataset, and
// returns the report the rounds fill, its header logged to log.
func beginTrainStepBench(o Options, name string, configFn func(path string, steps int, set string) (*framework.Config, string, error), log io.Writer) (*harness.Report, *framework.Config, *framework.Data, error) {
	if o.Steps < 1 || o.Rounds < 1 || o.Threads < 1 {
		return nil, nil, nil, fmt.Errorf("-steps (%d), -rounds (%d) and -threads (%d) must be ≥ 1", o.Steps, o.Rounds, o.Threads)
	}
	runtime.GOMAXPROCS(o.Threads)
	cfg, source, err := configFn(o.ConfigPath, o.Steps, o.Set)
	if err != nil {
		return nil, nil, nil, err
	}
	report := harness.NewReport(name, o.Threads, o.Rounds)
	report.Settings, report.Config, report.ConfigSource = o, cfg.JSON(), source
	fmt.Fprintf(log, "bench: %s, %s; config %s; %d steps × %d rounds; %d threads\n",
		report.Header.Machine.CPU, report.Header.Build, source, o.Steps, o.Rounds, o.Threads)
	data, err := framework.LoadDataset(cfg.Dataset, o.DataDir, cfg.Params)
	if err != nil {
		return nil, nil, nil, err
	}
	return report, cfg, data, nil
}
