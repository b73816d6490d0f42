package main

// The mainjob benchmark: the README's main job timed as a user runs it, against the same
// training in PyTorch, in the same run.
//
// qzoo side: `go run ./train --config CONFIG --checkpoint TMP --quiet` from the repository root,
// with this command's environment (GOTOOLCHAIN and GOEXPERIMENT are passed on, so run the bench
// with GOEXPERIMENT=simd as the README runs the job) and the default backend. Its number is the
// wall time of the whole command: the go command's (cached) build, the process start, setup,
// training, the final evaluation and the checkpoints. The train command's own line
// "time: setup …, total …" (framework.Timing) is kept per round, so the table says where the
// time went.
//
// PyTorch side: bench/peers/torch_vqae.py trains the same network on the same data with the
// same batch, steps and Adam (no warm-up steps, a constant learning rate, no final evaluation
// and no checkpoints: less work than the qzoo side), timed as a whole process the same way:
// interpreter start, torch import, data loading and the steps.

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/datasets/fashionmnist"
	"github.com/qzoo/qzoo/framework"
)

// BenchMainJob is the mainjob benchmark's name.
const BenchMainJob = "mainjob"

// MainJobOptions are the mainjob benchmark's settings.
type MainJobOptions struct {
	ConfigPath   string // the job's config; "" = DefaultConfig
	Set          string // extra "key=value;..." overrides of the job, given to both sides
	Rounds       int    // interleaved repetitions
	Threads      int    // PyTorch's torch.set_num_threads (the train command uses every core)
	Go           string // the go command
	DataDir      string // Fashion-MNIST for the PyTorch side (the train command finds its own)
	Python       string // interpreter with torch
	TorchBLASDir string // prepended to PyTorch's LD_LIBRARY_PATH when it exists
	NoTorch      bool   // skip PyTorch
	JSONPath     string // write the report here
}

// MainJobRound is one round of the qzoo side: the train command's time line and whether the
// config's expectations held.
type MainJobRound struct {
	TimeLine        string `json:"time_line"`
	ExpectationsMet bool   `json:"expectations_met"`
}

func runMainJobCommand(args []string, stdout, log io.Writer) error {
	var o MainJobOptions
	fs := flag.NewFlagSet("bench "+BenchMainJob, flag.ContinueOnError)
	fs.StringVar(&o.ConfigPath, "config", "", "the job's config (default "+DefaultConfig+")")
	fs.StringVar(&o.Set, "set", "", `overrides "key=value;..." of the job, both sides (e.g. "steps=100" for a quick look; the config's expectations may then fail, which is reported, not an error)`)
	fs.IntVar(&o.Rounds, "rounds", 1, "repeat both sides this many times, interleaved; the table holds the median, min and max")
	fs.IntVar(&o.Threads, "threads", runtime.NumCPU(), "PyTorch's torch.set_num_threads")
	fs.StringVar(&o.Go, "go", "go", "the go command that runs ./train")
	fs.StringVar(&o.DataDir, "data_dir", fashionmnist.SystemDir, "directory of the Fashion-MNIST idx files for PyTorch")
	fs.StringVar(&o.Python, "python", harness.DefaultPython, "Python interpreter with torch")
	fs.StringVar(&o.TorchBLASDir, "torch_blas_dir", DefaultTorchBLASDir, "prepended to PyTorch's LD_LIBRARY_PATH if it exists (\"\" = leave the system's BLAS)")
	fs.BoolVar(&o.NoTorch, "no_torch", false, "do not run PyTorch")
	fs.StringVar(&o.JSONPath, "json", "", "write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	report, err := RunMainJob(o, log)
	if report != nil {
		report.Header.Print(stdout)
		PrintMainJobReport(stdout, report)
	}
	return err
}

// RunMainJob performs the mainjob benchmark described by o, logging progress to log. It
// returns the report (possibly partial, with the error that stopped it), written to o.JSONPath
// when that is set: a qzoo row (Details []MainJobRound) and, unless o.NoTorch, a PyTorch row,
// both in wall seconds of the whole process.
func RunMainJob(o MainJobOptions, log io.Writer) (*harness.Report, error) {
	if o.Rounds < 1 || o.Threads < 1 {
		return nil, fmt.Errorf("-rounds (%d) and -threads (%d) must be ≥ 1", o.Rounds, o.Threads)
	}
	if o.ConfigPath == "" {
		o.ConfigPath = DefaultConfig
	}
	path, err := harness.FindConfig(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cfg, err := framework.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Set(o.Set); err != nil {
		return nil, fmt.Errorf("bench: overriding %s: %w", path, err)
	}
	root, err := harness.FindConfig("go.mod")
	if err != nil {
		return nil, err
	}
	root = filepath.Dir(root)

	report := harness.NewReport(BenchMainJob, o.Threads, o.Rounds)
	report.Settings, report.Config, report.ConfigSource = o, cfg.JSON(), path
	command := fmt.Sprintf("%s run ./train --config %s", o.Go, path)
	qzoo := harness.Result{Case: "main job", Side: "qzoo", Name: "go run ./train", Description: command,
		Metric: "wall_seconds", Unit: "s"}
	var rounds []MainJobRound
	peer := harness.Result{Case: "main job", Side: "peer", Name: "pytorch", Metric: "wall_seconds", Unit: "s",
		Description: "bench/peers/torch_vqae.py, the same training (no evaluation, no checkpoints)"}
	finish := func(err error) (*harness.Report, error) {
		qzoo.Details = rounds
		report.Results = []harness.Result{qzoo}
		if !o.NoTorch {
			report.Results = append(report.Results, peer)
		}
		return report, errors.Join(err, report.WriteJSON(o.JSONPath))
	}
	var torchArgs []string
	if !o.NoTorch {
		torchArgs, err = TorchArgs(Options{Threads: o.Threads, Steps: cfg.Steps, DataDir: o.DataDir}, cfg)
		if err != nil {
			return finish(err)
		}
	}
	for r := range o.Rounds {
		load := harness.LoadAvg()
		fmt.Fprintf(log, "bench: round %d, %s (load %.2f)\n", r+1, command, load)
		seconds, round, err := runTrainCommand(o.Go, root, path, o.Set)
		if err != nil {
			return finish(err)
		}
		qzoo.AddRound(seconds, load)
		rounds = append(rounds, round)
		fmt.Fprintf(log, "bench: round %d: %.1f s; %s\n", r+1, seconds, round.TimeLine)
		if o.NoTorch {
			continue
		}
		load = harness.LoadAvg()
		start := time.Now()
		out, err := torchPeer(Options{Python: o.Python, Threads: o.Threads, TorchBLASDir: o.TorchBLASDir}, "torch_vqae.py").
			Run(torchArgs, "median_step_seconds")
		if err != nil {
			return finish(err)
		}
		peerSeconds := time.Since(start).Seconds()
		peer.AddRound(peerSeconds, load)
		report.Peer = out
		qzoo.AddRatio(peerSeconds/seconds, "pytorch")
		fmt.Fprintf(log, "bench: round %d, PyTorch: %.1f s (load %.2f)\n", r+1, peerSeconds, load)
	}
	return finish(nil)
}

// trainTotal finds the total of the train command's time line.
var trainTotal = regexp.MustCompile(`total ([0-9.]+) s`)

// runTrainCommand runs the train command on config from root in a temporary run directory and
// returns its wall seconds and its time line. A run whose only failure is the config's
// expectations is measured (the line says so); any other failure is an error.
func runTrainCommand(goCmd, root, config, set string) (float64, MainJobRound, error) {
	dir, err := os.MkdirTemp("", "qzoo-mainjob-")
	if err != nil {
		return 0, MainJobRound{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	args := []string{"run", "./train", "--config", config, "--checkpoint", filepath.Join(dir, "run"), "--quiet"}
	if set != "" {
		args = append(args, "--set", set)
	}
	cmd := exec.Command(goCmd, args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	runErr := cmd.Run()
	seconds := time.Since(start).Seconds()
	var round MainJobRound
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "time: "); ok {
			round.TimeLine = line
		}
	}
	round.ExpectationsMet = runErr == nil
	if round.TimeLine == "" || !trainTotal.MatchString(round.TimeLine) ||
		(runErr != nil && !strings.Contains(out.String(), "expectations not met")) {
		return 0, round, fmt.Errorf("bench: %s %s: %v\n%s", goCmd, strings.Join(args, " "), runErr, lastBytes(out.String(), 2000))
	}
	return seconds, round, nil
}

// PrintMainJobReport writes the mainjob table and each round's breakdown.
func PrintMainJobReport(w io.Writer, r *harness.Report) {
	fmt.Fprintf(w, "\nthe main job (%s), whole process; median of %d round(s) [min–max]\n\n", r.ConfigSource, r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "side\twall (s)\t[min–max]\t× PyTorch\tload avg\t")
	for _, m := range r.Results {
		if !m.Value.Measured() {
			fmt.Fprintf(tw, "%s\t(not measured)\t\t\t%s\t\n", m.Name, loadRange(m.LoadAvg))
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f–%.1f\t%s\t%s\t\n", m.Name, m.Value.Median, m.Value.Min, m.Value.Max, ratio(m.Ratio), loadRange(m.LoadAvg))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\n× PyTorch = PyTorch's wall time / qzoo's, in the same round (> 1: the main job is faster than PyTorch's training alone)")
	for _, m := range r.Results {
		fmt.Fprintf(w, "  %s: %s\n", m.Name, m.Description)
		if rounds, ok := m.Details.([]MainJobRound); ok {
			for i, round := range rounds {
				met := ""
				if !round.ExpectationsMet {
					met = " (the config's expectations not met)"
				}
				fmt.Fprintf(w, "    round %d: %s; %s%s\n", i+1, strconv.FormatFloat(m.Value.Rounds[i], 'f', 1, 64)+" s", round.TimeLine, met)
			}
		}
	}
}

// lastBytes is the last n bytes of s, marked "…" when cut.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
