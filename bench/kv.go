package main

// The key/value-cache benchmark (-model kv): greedy generation tokens/s of stories260K with
// each quantized cache of package kvcache (llama.KVStepper), against the model's own fp32
// cache kept on the backend (llama.Generator) measured in the same round on the same backend.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/kvcache"
	"github.com/qzoo/qzoo/models/llama"
)

// ModelKV is -model kv.
const ModelKV = "kv"

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

// KVCase is one cache configuration of the benchmark.
type KVCase struct {
	Name        string         // short name, for -kv_cases
	Description string         // for the table
	Config      kvcache.Config // Method "" is the peer (llama.Generator)
}

// Peer says whether c is the fp32 cache on the backend.
func (c KVCase) Peer() bool { return c.Config.Method == "" }

// KVCases are the benchmarked caches, the peer first. Their configs come from the kv_*
// hyperparameters (kvcache.ConfigFromParams over kvcache.Params' defaults) with the settings of
// configs/kv, so that the bench measures what the study and generate run.
func KVCases() []KVCase {
	with := func(set map[string]any) kvcache.Config {
		params := kvcache.Params.Defaults()
		for k, v := range set {
			params[k] = v
		}
		c, _ := kvcache.ConfigFromParams(params)
		return c
	}
	type m = map[string]any
	return []KVCase{
		{KVPeerCase, "fp32 on the backend (llama.Generator)", kvcache.Config{}},
		{"fp32", "fp32 through the host cache (KVStepper)", with(m{kvcache.ParamKVQuant: kvcache.MethodFP32})},
		{"kivi4", "kivi 4-bit, fp16 window 32", with(m{kvcache.ParamKVQuant: kvcache.MethodKIVI, kvcache.ParamKVBits: 4, kvcache.ParamKVResidual: 32})},
		{"kivi4-strict", "kivi 4-bit strict (window 0)", with(m{kvcache.ParamKVQuant: kvcache.MethodKIVI, kvcache.ParamKVBits: 4})},
		{"kvquant3", "kvquant 3-bit (all steps)", with(m{kvcache.ParamKVQuant: kvcache.MethodKVQuant, kvcache.ParamKVBits: 3})},
		{"rotation3", "rotation + Lloyd-Max 3-bit (pre-RoPE keys)", with(m{kvcache.ParamKVQuant: kvcache.MethodRotation, kvcache.ParamKVBits: 3})},
		{"vq2", "vq 2-bit (codebooks ≤ 2^8, pre-RoPE keys)", with(m{kvcache.ParamKVQuant: kvcache.MethodVQ, kvcache.ParamKVBits: 2})},
		{"rvq2", "rvq 2-bit (codebooks ≤ 2^8, pre-RoPE keys)", with(m{kvcache.ParamKVQuant: kvcache.MethodRVQ, kvcache.ParamKVBits: 2})},
	}
}

// selectKVCases returns the cases named in the comma-separated list ("" = all); the peer is
// always included, first.
func selectKVCases(list string) ([]KVCase, error) {
	all := KVCases()
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	want := map[string]bool{KVPeerCase: true}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if !slices.ContainsFunc(all, func(c KVCase) bool { return c.Name == name }) {
			var names []string
			for _, c := range all {
				names = append(names, c.Name)
			}
			return nil, fmt.Errorf("bench: -kv_cases: unknown case %q (valid: %s)", name, strings.Join(names, ", "))
		}
		want[name] = true
	}
	return slices.DeleteFunc(all, func(c KVCase) bool { return !want[c.Name] }), nil
}

// KVRow is one cache on one backend.
type KVRow struct {
	Case        string         `json:"case"`
	Cache       string         `json:"cache"`
	Config      kvcache.Config `json:"config"`
	Name        string         `json:"backend"` // "go", "onnx", ...
	Spec        string         `json:"spec"`
	Description string         `json:"description"`
	// Bytes is the cache's storage at KVCapacity tokens (KVStepper.Bytes; the peer: its two
	// float32 tensors) and BitsPerValue 8·Bytes over the values cached.
	Bytes         int     `json:"bytes_at_capacity"`
	BitsPerValue  float64 `json:"bits_per_value"`
	ConstantBytes int     `json:"constant_bytes,omitempty"` // calibrated constants shared by every sequence
	FitSeconds    float64 `json:"fit_seconds,omitempty"`    // calibration (the windows' sampling excluded)
	// Agree is how many leading generated tokens equal the peer's on the same backend.
	Agree int `json:"agree_with_peer"`
	// TokensPerSecond is the median over rounds; RatioVsPeer the median of the rounds'
	// tokens/s over the peer's in the same round on the same backend.
	TokensPerSecond      float64   `json:"tokens_per_second"`
	RatioVsPeer          float64   `json:"ratio_vs_peer"`
	RoundTokensPerSecond []float64 `json:"round_tokens_per_second"`
	RoundRatios          []float64 `json:"round_ratios"`
	// CPUMsPerToken is the median over rounds of the process's CPU time per step (all
	// threads), less sensitive to other processes than wall time.
	CPUMsPerToken      float64   `json:"cpu_ms_per_token"`
	RoundCPUMsPerToken []float64 `json:"round_cpu_ms_per_token"`
	LoadAvg            []float64 `json:"load_avg_1min"`
	Tokens             []int     `json:"tokens,omitempty"` // the warm-up's generated tokens
}

// KVReport is everything one run of the cache benchmark measured.
type KVReport struct {
	Time               string     `json:"time"`
	Machine            Machine    `json:"machine"`
	Build              BuildFlags `json:"build"`
	Threads            int        `json:"threads"`
	Rounds             int        `json:"rounds"`
	GenTokens          int        `json:"generate_tokens"`
	Capacity           int        `json:"capacity"`
	CalibrationWindows int        `json:"calibration_windows"`
	Checkpoint         string     `json:"checkpoint"`
	Backends           []string   `json:"backends"`
	Results            []KVRow    `json:"results"`
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
	row     *KVRow
	dec     llama.Decoder
	stepper *llama.KVStepper // nil for the peer
}

// RunKV performs the cache benchmark described by o, logging progress to log. It returns
// the report (possibly partial, with the error that stopped it).
func RunKV(o Options, log io.Writer) (*KVReport, error) {
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
	report := &KVReport{
		Time: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Build: ReadBuildFlags(), Threads: o.Threads,
		Rounds: o.Rounds, GenTokens: o.GenTokens, Capacity: KVCapacity, CalibrationWindows: o.KVCalibrationWindows,
		Checkpoint: checkpoint, Backends: specs,
	}
	fmt.Fprintf(log, "bench: %s, %s; %s; backends %s; %d cases; %d generated tokens × %d rounds; %d threads\n",
		report.Machine.CPU, report.Build, checkpoint, strings.Join(specs, ", "), len(cases), o.GenTokens, o.Rounds, o.Threads)

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
	report.Results = make([]KVRow, 0, len(specs)*len(cases))
	values := KVCapacity * weights.Layers * 2 * weights.KVDim()
	for i, spec := range specs {
		name, _, _ := strings.Cut(spec, ":")
		var peerTokens []int
		for j, c := range cases {
			report.Results = append(report.Results, KVRow{Case: c.Name, Cache: c.Description, Config: c.Config,
				Name: name, Spec: spec, Description: backends[i].Description(), FitSeconds: fitSeconds[j]})
			run := kvRun{row: &report.Results[len(report.Results)-1]}
			if c.Peer() {
				g, err := llama.NewGenerator(backends[i], stores[i])
				if err != nil {
					return report, err
				}
				run.dec = g
				run.row.Bytes = 4 * values // keys and values [Layers, 1, SeqLen, KVHeads, HeadDim] float32
			} else {
				s, err := llama.NewKVStepper(backends[i], stores[i], quantizers[j], 1, KVCapacity)
				if err != nil {
					return report, err
				}
				run.dec, run.stepper = s.Decoder(), s
				run.row.ConstantBytes = quantizers[j].ConstantBytes()
			}
			runs = append(runs, run)
			tokens, err := greedyDecode(run.dec, KVCapacity)
			if err != nil {
				return report, fmt.Errorf("bench: %s on %s: %w", c.Name, spec, err)
			}
			if run.stepper != nil {
				run.row.Bytes = run.stepper.Bytes()
			}
			run.row.BitsPerValue = 8 * float64(run.row.Bytes) / float64(values)
			run.row.Tokens = tokens[:o.GenTokens]
			if c.Peer() {
				peerTokens = run.row.Tokens
			}
			run.row.Agree = len(run.row.Tokens)
			if at := firstDifference(run.row.Tokens, peerTokens); at >= 0 {
				run.row.Agree = at
			}
		}
	}

	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return report, fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return report, fmt.Errorf("bench: starting the CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	for round := range o.Rounds {
		if err := lockstepRound(runs, o.GenTokens, round); err != nil {
			return report, err
		}
		for i := range report.Results {
			m := &report.Results[i]
			fmt.Fprintf(log, "bench: round %d, %s on %s: %.0f tokens/s, %.3f CPU ms/token (load %.2f)\n", round+1, m.Case, m.Spec,
				m.RoundTokensPerSecond[round], m.RoundCPUMsPerToken[round], m.LoadAvg[round])
		}
	}
	summarizeKV(report.Results)
	if o.JSONPath != "" {
		js, _ := json.MarshalIndent(report, "", "  ")
		if err := framework.WriteFileAtomic(o.JSONPath, append(js, '\n')); err != nil {
			return report, err
		}
	}
	return report, nil
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
	for i, r := range runs {
		r.row.LoadAvg = append(r.row.LoadAvg, loadAvg())
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
		if at := firstDifference(tokens[i], r.row.Tokens); at >= 0 {
			return fmt.Errorf("bench: %s on %s: round %d's tokens differ from the warm-up's at %d", r.row.Case, r.row.Spec, round+1, at)
		}
		r.row.RoundTokensPerSecond = append(r.row.RoundTokensPerSecond, float64(n)/elapsed[i].Seconds())
		r.row.RoundCPUMsPerToken = append(r.row.RoundCPUMsPerToken, 1e3*cpu[i].Seconds()/float64(n))
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

// summarizeKV fills each row's per-round ratios to the peer of its backend, and the medians.
func summarizeKV(rows []KVRow) {
	peers := map[string]*KVRow{}
	for i := range rows {
		if rows[i].Case == KVPeerCase {
			peers[rows[i].Spec] = &rows[i]
		}
	}
	for i := range rows {
		m := &rows[i]
		m.TokensPerSecond = median(m.RoundTokensPerSecond)
		m.RoundRatios = nil
		if p := peers[m.Spec]; p != nil {
			for r, v := range m.RoundTokensPerSecond {
				if r < len(p.RoundTokensPerSecond) && p.RoundTokensPerSecond[r] > 0 {
					m.RoundRatios = append(m.RoundRatios, v/p.RoundTokensPerSecond[r])
				}
			}
		}
		m.RatioVsPeer = median(m.RoundRatios)
		m.CPUMsPerToken = median(m.RoundCPUMsPerToken)
	}
}

// median of xs (0 when empty; the mean of the middle two when even).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// PrintKVReport writes the cache benchmark's table and the context needed to read it.
func PrintKVReport(w io.Writer, r *KVReport) {
	fmt.Fprintf(w, "\nkv cache (stories260K): greedy generation of %d tokens from BOS, batch 1, cache of %d positions; %s\n",
		r.GenTokens, r.Capacity, r.Machine.CPU)
	fmt.Fprintf(w, "Go build: %s; threads %d; medians of %d round(s), every cache taking turns of %d tokens; calibration on %d sampled windows\n\n",
		r.Build, r.Threads, r.Rounds, KVChunk, r.CalibrationWindows)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tcache\tbits/value\tbytes @512\ttokens/s\t× generator\tms/token\tCPU ms/token\tsame tokens\tload avg\t")
	for _, m := range r.Results {
		load := "-"
		if len(m.LoadAvg) > 0 {
			load = fmt.Sprintf("%.2f–%.2f", slices.Min(m.LoadAvg), slices.Max(m.LoadAvg))
		}
		if m.TokensPerSecond == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t(not measured)\t\t\t\t\t%s\t\n", m.Name, m.Case, m.BitsPerValue, m.Bytes, load)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%s\t\n", m.Name, m.Case, m.BitsPerValue, m.Bytes,
			m.TokensPerSecond, m.RatioVsPeer, 1e3/m.TokensPerSecond, m.CPUMsPerToken, m.Agree, load)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n× generator = median over rounds of tokens/s over the %s's (fp32 cache on the backend) in the same round\n", KVPeerCase)
	fmt.Fprintln(w, "CPU ms/token = the process's CPU time (all threads) per step, median over rounds")
	fmt.Fprintf(w, "same tokens = leading generated tokens equal to the %s's on the same backend (of %d)\n", KVPeerCase, r.GenTokens)
	seen := map[string]bool{}
	for _, m := range r.Results {
		if !seen[m.Case] {
			seen[m.Case] = true
			fmt.Fprintf(w, "  %s: %s\n", m.Case, m.Cache)
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
