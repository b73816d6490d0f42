package main

// The kv benchmark (go run ./bench kv): greedy generation tokens/s of stories260K with each
// quantized cache of package kvcache (llama.KVStepper), against the model's own fp32 cache
// kept on the backend (llama.Generator, the reference KVPeerCase) measured in the same round
// on the same backend:
//
//	go run ./bench kv --data_dir ../shared/data [--rounds 5] [--kv_cases kivi4,rvq2] [--backends go]
//
// The caches are the configs of configs/kv named by DefaultKVCases (or -kv_cases): each one's
// kv_* settings, so that the bench measures what the study and generate run. What each side
// measures: every decoder generates -gen_tokens greedy tokens from BOS in lockstep with the
// others (lockstepRound), and a round's number is tokens / the wall time of its own chunks;
// the table holds the median over -rounds rounds with the min and the max, the median of the
// per-round ratios to the reference, and the process's CPU time per token.

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/kvcache"
	"github.com/qzoo/qzoo/models/llama"
)

// Defaults of the cache benchmark.
const (
	// DefaultKVRounds are the interleaved rounds when -rounds is not given; the table holds
	// their medians.
	DefaultKVRounds = 5
	// KVCapacity is the positions every cache holds (stories260K's context).
	KVCapacity = 512
	// DefaultKVTokens fills the context: BOS at position 0, then 511 generated tokens.
	DefaultKVTokens = KVCapacity - 1
	// DefaultKVCalibrationWindows are the sequences the model samples (temperature 1, from
	// BOS, KVCapacity tokens each) to calibrate kvquant, rotation, vq and rvq on, as
	// generate's --calibration_windows default.
	DefaultKVCalibrationWindows = 16
	// KVCalibrationSeed seeds those samples.
	KVCalibrationSeed = 1
	// KVChunk is the tokens a decoder generates before the next one takes its turn
	// ([lockstepRound]). Not 1: ONNX Runtime's pool threads spin for a while after each run of
	// their session, and token-by-token turns of 16 sessions doubled every step's time.
	KVChunk = 32
	// KVPeerCase is the name of the peer: the fp32 cache on the backend.
	KVPeerCase = "generator"
)

// KVConfigDir holds the configs the kv benchmark's caches come from, relative to the
// repository root.
const KVConfigDir = "configs/kv"

// DefaultKVCases are the configs of KVConfigDir measured by default (file names without .json):
// the fp32 host cache and one setting of every method.
var DefaultKVCases = []string{"base", "kivi", "kivi_strict", "kvquant", "rotation", "vq", "rvq"}

// KVCase is one cache configuration of the benchmark.
type KVCase struct {
	// Name is the method and its bits, with the config's qualifier ("kivi4", "kivi4-strict",
	// "fp32"); File the config it was read from ("" for the reference).
	Name   string
	File   string
	Config kvcache.Config // Method "" is the reference (llama.Generator)
}

// Peer says whether c is the reference: the fp32 cache on the backend.
func (c KVCase) Peer() bool { return c.Config.Method == "" }

// Description is the table's line for the case.
func (c KVCase) Description() string {
	if c.Peer() {
		return "fp32 on the backend (llama.Generator)"
	}
	return fmt.Sprintf("%s: %s", c.File, kvDescription(c.Config))
}

// kvDescription summarizes the settings of c that tell the cases apart.
func kvDescription(c kvcache.Config) string {
	s := c.Method
	switch c.Method {
	case kvcache.MethodFP32, kvcache.MethodFP16:
		return s + " through the host cache (KVStepper)"
	}
	s += fmt.Sprintf(" %d-bit", c.KeyBits)
	if c.Residual > 0 {
		s += fmt.Sprintf(", fp16 window %d", c.Residual)
	}
	if c.PreRoPE {
		s += ", pre-RoPE keys"
	}
	return s
}

// LoadKVCase reads the cache of configs/kv/<stem>.json under dir: its kv_* settings through
// kvcache.ConfigFromParams, as train and generate read them.
func LoadKVCase(dir, stem string) (KVCase, error) {
	path := filepath.Join(dir, stem+".json")
	cfg, err := framework.LoadConfig(path)
	if err != nil {
		return KVCase{}, err
	}
	c, ok := kvcache.ConfigFromParams(cfg.Params)
	if !ok {
		return KVCase{}, fmt.Errorf("bench: %s has %s=none: no cache to measure", path, kvcache.ParamKVQuant)
	}
	name := c.Method
	if c.Method != kvcache.MethodFP32 && c.Method != kvcache.MethodFP16 {
		name += fmt.Sprint(c.KeyBits)
	}
	if qualifier, ok := strings.CutPrefix(stem, c.Method+"_"); ok {
		name += "-" + strings.ReplaceAll(qualifier, "_", "-")
	}
	return KVCase{Name: name, File: filepath.ToSlash(filepath.Join(KVConfigDir, stem+".json")), Config: c}, nil
}

// selectKVCases returns the reference then the cases of list (comma-separated case names or
// config file names of configs/kv; "" = DefaultKVCases), in list's order.
func selectKVCases(list string) ([]KVCase, error) {
	dir, err := harness.FindConfig(KVConfigDir)
	if err != nil {
		return nil, err
	}
	cases := []KVCase{{Name: KVPeerCase}}
	if strings.TrimSpace(list) == "" {
		list = strings.Join(DefaultKVCases, ",")
	}
	var defaults []KVCase // to find a case by its name
	for _, stem := range DefaultKVCases {
		c, err := LoadKVCase(dir, stem)
		if err != nil {
			return nil, err
		}
		defaults = append(defaults, c)
	}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == KVPeerCase {
			continue
		}
		var c KVCase
		if i := slices.IndexFunc(defaults, func(c KVCase) bool { return c.Name == name }); i >= 0 {
			c = defaults[i]
		} else if c, err = LoadKVCase(dir, name); err != nil {
			var names []string
			for _, c := range defaults {
				names = append(names, c.Name)
			}
			return nil, fmt.Errorf("bench: -kv_cases: %q is neither a case (%s) nor a config of %s: %w", name, strings.Join(names, ", "), dir, err)
		}
		if !slices.ContainsFunc(cases, func(d KVCase) bool { return d.Name == c.Name }) {
			cases = append(cases, c)
		}
	}
	return cases, nil
}

// KVDetails are a kv row's own fields.
type KVDetails struct {
	Cache  string         `json:"cache"`
	Config kvcache.Config `json:"config"`
	// Bytes is the cache's storage at KVCapacity tokens (KVStepper.Bytes; the reference: its
	// two float32 tensors) and BitsPerValue 8·Bytes over the values cached.
	Bytes         int     `json:"bytes_at_capacity"`
	BitsPerValue  float64 `json:"bits_per_value"`
	ConstantBytes int     `json:"constant_bytes,omitempty"` // calibrated constants shared by every sequence
	FitSeconds    float64 `json:"fit_seconds,omitempty"`    // calibration (the windows' sampling excluded)
	// Agree is how many leading generated tokens equal the reference's on the same backend.
	Agree int `json:"agree_with_peer"`
	// CPUMsPerToken is the process's CPU time per step (all threads) in each round, less
	// sensitive to other processes than wall time.
	CPUMsPerToken harness.Stat `json:"cpu_ms_per_token"`
	Tokens        []int        `json:"tokens,omitempty"` // the warm-up's generated tokens
}

// KVSummary is what the kv report holds beyond its rows (Report.Details).
type KVSummary struct {
	GenTokens          int      `json:"generate_tokens"`
	Capacity           int      `json:"capacity"`
	CalibrationWindows int      `json:"calibration_windows"`
	Checkpoint         string   `json:"checkpoint"`
	Backends           []string `json:"backends"`
}

// kvBackends are -backends, or else the default backend (framework.NewBackend's choice) and
// the pure-Go one.
func kvBackends(list string) []string {
	if list != "" {
		return strings.Split(list, ",")
	}
	spec, _ := framework.BackendChoice()
	specs := []string{spec}
	if spec != framework.GoBackend {
		specs = append(specs, framework.GoBackend)
	}
	return specs
}

// kvRun is a row with its decoder.
type kvRun struct {
	row     *harness.Result
	details *KVDetails
	dec     llama.Decoder
	stepper *llama.KVStepper // nil for the reference
}

// RunKV performs the cache benchmark described by o, logging progress to log. It returns
// the report (possibly partial, with the error that stopped it), written to o.JSONPath
// when that is set; its rows' Details are *KVDetails and its Details a *KVSummary.
func RunKV(o Options, log io.Writer) (*harness.Report, error) {
	if o.Rounds < 1 || o.Threads < 1 || o.GenTokens < 1 || o.GenTokens > KVCapacity || o.KVCalibrationWindows < 1 {
		return nil, fmt.Errorf("-rounds (%d), -threads (%d), -kv_calibration_windows (%d) must be ≥ 1 and -gen_tokens (%d) in [1, %d]",
			o.Rounds, o.Threads, o.KVCalibrationWindows, o.GenTokens, KVCapacity)
	}
	cases, err := selectKVCases(o.KVCases)
	if err != nil {
		return nil, err
	}
	runtime.GOMAXPROCS(o.Threads)
	checkpoint, err := framework.LocateData(o.DataDir, llama.Stories260KFile)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	opened, err := llama.Open(checkpoint)
	if err != nil {
		return nil, err
	}
	weights, err := opened.Weights()
	if err != nil {
		return nil, err
	}
	if weights.SeqLen != KVCapacity {
		return nil, fmt.Errorf("bench: %s has a context of %d, the benchmark fills %d", checkpoint, weights.SeqLen, KVCapacity)
	}
	specs := kvBackends(o.Backends)
	report := harness.NewReport(ModelKV, o.Threads, o.Rounds)
	report.Settings = o
	report.Details = &KVSummary{GenTokens: o.GenTokens, Capacity: KVCapacity, CalibrationWindows: o.KVCalibrationWindows,
		Checkpoint: checkpoint, Backends: specs}
	fmt.Fprintf(log, "bench: %s, %s; %s; backends %s; %d cases; %d generated tokens × %d rounds; %d threads\n",
		report.Header.Machine.CPU, report.Header.Build, checkpoint, strings.Join(specs, ", "), len(cases), o.GenTokens, o.Rounds, o.Threads)

	backends := make([]compute.Backend, len(specs))
	stores := make([]*model.Store, len(specs))
	defer func() {
		for _, b := range backends {
			if b != nil {
				b.Finalize()
			}
		}
	}()
	for i, spec := range specs {
		if backends[i], err = framework.NewBackendFromSpec(spec); err != nil {
			return report, err
		}
		stores[i] = model.NewStore()
		if err := weights.Load(stores[i]); err != nil {
			return report, err
		}
	}

	// The quantizers hold no backend state: fit each once, on the first backend.
	quantizers := make([]*kvcache.Quantizer, len(cases))
	fitSeconds := make([]float64, len(cases))
	// The calibration windows are sampled once, for the first case that needs them, outside
	// its fitting time.
	var windows [][]int32
	sample := func() ([][]int32, error) {
		if windows == nil {
			start := time.Now()
			var err error
			if windows, err = llama.SampleWindows(backends[0], stores[0], o.KVCalibrationWindows, KVCapacity, KVCalibrationSeed); err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "bench: %d calibration windows of %d tokens sampled on %s in %.1f s\n", len(windows), KVCapacity, specs[0], time.Since(start).Seconds())
		}
		return windows, nil
	}
	for i, c := range cases {
		if c.Peer() {
			continue
		}
		if c.Config.NeedsCalibration() {
			if _, err := sample(); err != nil {
				return report, err
			}
		}
		start := time.Now()
		quantizers[i], err = llama.CacheQuantizer(backends[0], stores[0], c.Config, llama.CacheCalibration{Windows: sample, Batch: 8})
		if err == nil && c.Config.NeedsCalibration() {
			fitSeconds[i] = time.Since(start).Seconds()
			fmt.Fprintf(log, "bench: %s fitted in %.1f s (%d bytes of constants)\n", c.Name, fitSeconds[i], quantizers[i].ConstantBytes())
		}
		if err != nil {
			return report, fmt.Errorf("bench: %s: %w", c.Name, err)
		}
	}

	// One decoder per backend and case, each warmed up by one untimed generation that fills
	// the cache (KVCapacity steps), after which its storage is read.
	var runs []kvRun
	defer func() {
		for _, r := range runs {
			if r.stepper != nil {
				r.stepper.Finalize()
			} else if g, ok := r.dec.(*llama.Generator); ok {
				g.Finalize()
			}
		}
	}()
	report.Results = make([]harness.Result, 0, len(specs)*len(cases))
	values := KVCapacity * weights.Layers * 2 * weights.KVDim()
	for i, spec := range specs {
		name, _, _ := strings.Cut(spec, ":")
		var peerTokens []int
		for j, c := range cases {
			d := &KVDetails{Cache: c.Description(), Config: c.Config, FitSeconds: fitSeconds[j]}
			report.Results = append(report.Results, harness.Result{Case: c.Name, Side: harness.SideQzoo, Name: name, Spec: spec,
				Description: backends[i].Description(), Metric: MetricTokensPerSecond, Unit: "tokens/s", Details: d})
			run := kvRun{row: &report.Results[len(report.Results)-1], details: d}
			if c.Peer() {
				g, err := llama.NewGenerator(backends[i], stores[i], 1)
				if err != nil {
					return report, err
				}
				run.dec = g
				run.details.Bytes = 4 * values // keys and values [Layers, 1, SeqLen, KVHeads, HeadDim] float32
			} else {
				s, err := llama.NewKVStepper(backends[i], stores[i], quantizers[j], 1, KVCapacity)
				if err != nil {
					return report, err
				}
				run.dec, run.stepper = s.Decoder(), s
				run.details.ConstantBytes = quantizers[j].ConstantBytes()
			}
			runs = append(runs, run)
			tokens, err := greedyDecode(run.dec, KVCapacity)
			if err != nil {
				return report, fmt.Errorf("bench: %s on %s: %w", c.Name, spec, err)
			}
			if run.stepper != nil {
				run.details.Bytes = run.stepper.Bytes()
			}
			run.details.BitsPerValue = 8 * float64(run.details.Bytes) / float64(values)
			run.details.Tokens = tokens[:o.GenTokens]
			if c.Peer() {
				peerTokens = run.details.Tokens
			}
			run.details.Agree = len(run.details.Tokens)
			if at := firstDifference(run.details.Tokens, peerTokens); at >= 0 {
				run.details.Agree = at
			}
		}
	}

	stop, err := startProfile(o.CPUProfile)
	if err != nil {
		return report, err
	}
	defer stop()
	for round := range o.Rounds {
		if err := lockstepRound(runs, o.GenTokens, round); err != nil {
			return report, err
		}
		kvRatios(report.Results, round)
		for i := range report.Results {
			m := &report.Results[i]
			fmt.Fprintf(log, "bench: round %d, %s on %s: %.0f tokens/s, %.3f CPU ms/token (load %.2f)\n", round+1, m.Case, m.Spec,
				m.Value.Rounds[round], m.Details.(*KVDetails).CPUMsPerToken.Rounds[round], m.LoadAvg[round])
		}
	}
	return report, report.WriteJSON(o.JSONPath)
}

// lockstepRound times one greedy generation of n tokens by every run, interleaved in chunks
// of KVChunk tokens: each run's caches are emptied, then for every chunk of positions each
// run takes its steps (forward pass and argmax), timed alone, the order rotated by one run
// per chunk and per round. A run's time is the sum of its chunks; so every case sees the same
// moments of the machine's load, and the ratios of one round compare like with like. Each
// chunk is also charged the process's CPU time (user + system, all threads: ONNX Runtime's
// pool too).
func lockstepRound(runs []kvRun, n, round int) error {
	elapsed := make([]time.Duration, len(runs))
	cpu := make([]time.Duration, len(runs))
	tokens := make([][]int, len(runs))
	next := make([]int, len(runs))
	load := harness.LoadAvg()
	for i, r := range runs {
		r.dec.Reset()
		next[i] = llama2c.BOS
		tokens[i] = make([]int, 0, n)
	}
	ctxs := make([]context.Context, len(runs))
	for i, r := range runs {
		// Labelled, so that a -cpuprofile splits by case: go tool pprof -tags, -tagfocus case=rvq2.
		ctxs[i] = pprof.WithLabels(context.Background(), pprof.Labels("case", r.row.Case, "backend", r.row.Name))
	}
	for lo := 0; lo < n; lo += KVChunk {
		hi := min(lo+KVChunk, n)
		for k := range runs {
			i := (k + lo/KVChunk + round) % len(runs)
			pprof.SetGoroutineLabels(ctxs[i])
			c0 := processCPU()
			t0 := time.Now()
			var err error
			for range hi - lo {
				var logits []float32
				if logits, err = runs[i].dec.Step(next[i]); err != nil {
					break
				}
				next[i] = argmax(logits)
				tokens[i] = append(tokens[i], next[i])
			}
			elapsed[i] += time.Since(t0)
			cpu[i] += processCPU() - c0
			pprof.SetGoroutineLabels(context.Background())
			if err != nil {
				return fmt.Errorf("bench: %s on %s: %w", runs[i].row.Case, runs[i].row.Spec, err)
			}
		}
	}
	for i, r := range runs {
		if at := firstDifference(tokens[i], r.details.Tokens); at >= 0 {
			return fmt.Errorf("bench: %s on %s: round %d's tokens differ from the warm-up's at %d", r.row.Case, r.row.Spec, round+1, at)
		}
		r.row.AddRound(float64(n)/elapsed[i].Seconds(), load)
		r.details.CPUMsPerToken.Add(1e3 * cpu[i].Seconds() / float64(n))
	}
	return nil
}

// processCPU is the CPU time (user + system) of the whole process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// greedyDecode empties d's cache and feeds BOS then n−1 greedy tokens (never stopping at
// BOS, so that every cache does the same number of steps); it returns the n tokens chosen.
func greedyDecode(d llama.Decoder, n int) ([]int, error) {
	d.Reset()
	tokens := make([]int, 0, n)
	token := llama2c.BOS
	for range n {
		logits, err := d.Step(token)
		if err != nil {
			return tokens, err
		}
		token = argmax(logits)
		tokens = append(tokens, token)
	}
	return tokens, nil
}

// argmax is the first index of the largest value (llama.Sampler's greedy choice).
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// kvRatios adds to every row its ratio in round to the reference of its backend (the
// KVPeerCase row of the same spec) in the same round.
func kvRatios(rows []harness.Result, round int) {
	peers := map[string]float64{}
	for _, m := range rows {
		if m.Case == KVPeerCase {
			peers[m.Spec] = m.Value.Rounds[round]
		}
	}
	for i := range rows {
		if p := peers[rows[i].Spec]; p > 0 {
			rows[i].AddRatio(rows[i].Value.Rounds[round]/p, KVPeerCase)
		}
	}
}

// PrintKVReport writes the cache benchmark's table and the context needed to read it.
func PrintKVReport(w io.Writer, r *harness.Report) {
	sum := r.Details.(*KVSummary)
	fmt.Fprintf(w, "\nkv cache (stories260K): greedy generation of %d tokens from BOS, batch 1, cache of %d positions\n",
		sum.GenTokens, sum.Capacity)
	fmt.Fprintf(w, "medians of %d round(s), every cache taking turns of %d tokens; calibration on %d sampled windows\n\n",
		r.Rounds, KVChunk, sum.CalibrationWindows)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tcache\tbits/value\tbytes @512\ttokens/s\t[min–max]\t× generator\tms/token\tCPU ms/token\tsame tokens\tload avg\t")
	for _, m := range r.Results {
		d := m.Details.(*KVDetails)
		if !m.Value.Measured() {
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t(not measured)\t\t\t\t\t\t%s\t\n", m.Name, m.Case, d.BitsPerValue, d.Bytes, loadRange(m.LoadAvg))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t%.0f\t%.0f–%.0f\t%s\t%.2f\t%.2f\t%d\t%s\t\n", m.Name, m.Case, d.BitsPerValue, d.Bytes,
			m.Value.Median, m.Value.Min, m.Value.Max, ratio(m.Ratio), 1e3/m.Value.Median, d.CPUMsPerToken.Median, d.Agree, loadRange(m.LoadAvg))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n× generator = median over rounds of tokens/s over the %s's (fp32 cache on the backend) in the same round\n", KVPeerCase)
	fmt.Fprintln(w, "CPU ms/token = the process's CPU time (all threads) per step, median over rounds")
	fmt.Fprintf(w, "same tokens = leading generated tokens equal to the %s's on the same backend (of %d)\n", KVPeerCase, sum.GenTokens)
	seen := map[string]bool{}
	for _, m := range r.Results {
		if !seen[m.Case] {
			seen[m.Case] = true
			fmt.Fprintf(w, "  %s: %s\n", m.Case, m.Details.(*KVDetails).Cache)
		}
	}
	seen = map[string]bool{}
	for _, m := range r.Results {
		if !seen[m.Spec] {
			seen[m.Spec] = true
			fmt.Fprintf(w, "  %s: %s\n", m.Name, m.Description)
		}
	}
}
