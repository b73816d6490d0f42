package main

// The llama benchmark (go run ./bench llama): training and generation tokens/s of
// models/llama on llama2.c's stories260K, against bench/peers/torch_llama.py in the same run:
//
//	go run ./bench llama --data_dir ../shared/data [--rounds 3] [--steps 20] [--gen_tokens 256] [--gen_batches 1,8]
//
// What each side measures. Training: framework.Run fine-tunes stories260K on the Shakespeare
// windows of datasets/text as configs/llm/full_finetune.json with llamaOverrides (batch 32 ×
// 256 tokens, AdamW with llama2.c train.py's learning rate and weight decay, constant learning
// rate), and a round's number is batch·L / the median train step; the peer trains the same
// model (same weights, token stream, batch, optimizer and threads) and reports its median
// step the same way. Generation: llama.NewGenerator, greedy from BOS with the KV cache, at
// each batch of -gen_batches (B sequences decoded together, every one from BOS); a round's
// number is B · tokens / the fastest of GenerateTimedRuns timed generations after an untimed
// one, on each side (the peer decodes the same batch). The table holds the median over
// -rounds rounds with the min and the max:
//
//	task | backend | tokens/s | × PyTorch
//
// The PyTorch peer must reproduce the Go model's first CheckedTokens greedy tokens, and every
// backend the first backend's. -tasks train or -tasks generate measures one of the two. The
// peer runs with OMP_WAIT_POLICY=PASSIVE (-torch_omp_wait_policy) and keeps freed memory in
// glibc's heap (see torch_llama.py): with libgomp's spinning threads and glibc's mmap of large
// blocks, other processes and page faults made PyTorch 10-25× slower on these VMs.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/datasets/text"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/models/llama"
)

// Tasks of the Llama benchmark (-tasks).
const (
	TaskTrain    = "train"
	TaskGenerate = "generate"
)

// Defaults of the Llama benchmark's flags.
const (
	DefaultLlamaSteps       = 20
	DefaultLlamaTorchWarmup = 2
	DefaultGenerateTokens   = 256
	// DefaultGenerateBatches are the batches generation is measured at: one sequence (a chat)
	// and eight decoded together (a server's batch).
	DefaultGenerateBatches = "1,8"
	// DefaultLlamaOMPWaitPolicy makes PyTorch's idle OpenMP threads sleep instead of spinning:
	// with libgomp's default spinning, any other process on the cores made PyTorch 25× slower
	// (BENCHMARKS.md).
	DefaultLlamaOMPWaitPolicy = "PASSIVE"
	// GenerateTimedRuns is how many timed generations follow the untimed one, on both sides;
	// the fastest counts (one takes well under a second, where other processes easily add 50 %).
	GenerateTimedRuns = 5
	// CheckedTokens is how many greedy tokens from BOS the PyTorch peer must reproduce (the
	// length of llama2.c's own test of stories260K).
	CheckedTokens = 200
)

// DefaultLlamaConfig is the config the llama benchmark starts from, relative to the repository
// root: fine-tuning stories260K on Shakespeare.
const DefaultLlamaConfig = "configs/llm/full_finetune.json"

// llamaOverrides make the config the benchmark's run: batch 32 × 256 tokens with llama2.c
// train.py's AdamW learning rate and weight decay, and a pure speed measurement as
// benchOverrides for vqae: a constant learning rate, no intermediate evaluation or
// checkpoint, and a final evaluation of one batch of windows.
const llamaOverrides = "batch_size=32;text_seq_len=256;learning_rate=5e-4;weight_decay=0.1;" +
	"lr_schedule=constant;warmup_steps=0;eval_every=0;checkpoint_every=0;eval_examples=32;eval_batch_size=32"

// LlamaConfig loads the benchmarked Llama config: path, or DefaultLlamaConfig found from the
// working directory upwards when path is "", then the benchmark's overrides, steps and the
// caller's set. The PyTorch peer implements only
// what it checks: a tied stories260K-shaped model fine-tuned from init_from with Adam(W), a
// constant learning rate, no gradient clipping and nothing frozen.
func LlamaConfig(path string, steps int, set string) (*framework.Config, string, error) {
	source := path
	if source == "" {
		var err error
		if source, err = harness.FindConfig(DefaultLlamaConfig); err != nil {
			return nil, "", err
		}
	}
	cfg, err := framework.LoadConfig(source)
	if err != nil {
		return nil, "", err
	}
	overrides := fmt.Sprintf("%s;steps=%d;log_every=%d;%s", llamaOverrides, steps, steps, set)
	if err := cfg.Set(overrides); err != nil {
		return nil, "", fmt.Errorf("bench: overriding %s: %w", source, err)
	}
	switch {
	case cfg.Model != ModelLlama:
		err = fmt.Errorf("trains model %q; the benchmark and its PyTorch peer are of %q", cfg.Model, ModelLlama)
	case cfg.Dataset != text.DatasetName:
		err = fmt.Errorf("uses dataset %q; the PyTorch peer reads %q's token stream", cfg.Dataset, text.DatasetName)
	case cfg.InitFrom == "":
		err = fmt.Errorf("has no init_from; the PyTorch peer starts from a llama2.c checkpoint")
	case cfg.Optimizer != "adamw" && cfg.Optimizer != "adam":
		err = fmt.Errorf("uses optimizer=%s; the PyTorch peer has AdamW (and Adam as weight_decay 0)", cfg.Optimizer)
	case cfg.LRSchedule != "constant" || cfg.WarmupSteps != 0:
		err = fmt.Errorf("has lr_schedule=%s, warmup_steps=%d; the PyTorch peer's learning rate is constant", cfg.LRSchedule, cfg.WarmupSteps)
	case cfg.ClipGradNorm != 0 || cfg.Freeze != "":
		err = fmt.Errorf("clips gradients or freezes variables; the PyTorch peer does neither")
	}
	if err != nil {
		return nil, "", fmt.Errorf("bench: %s %w", source, err)
	}
	return cfg, source, nil
}

// Per-round numbers of the llama benchmark.
const MetricTokensPerSecond = "tokens_per_second"

// LlamaDetails are a llama row's own fields.
type LlamaDetails struct {
	// Batch is the sequences decoded together (generation only).
	Batch int `json:"batch,omitempty"`
	// RoundSeconds are, per round, the median train step (training) or the wall time of the
	// fastest decoding loop (generation, see GenerateTimedRuns).
	RoundSeconds []float64 `json:"round_seconds"`
	// WallStepsPerSecond are framework.Run's own speeds (compilation included), Go training only.
	WallStepsPerSecond []float64 `json:"wall_steps_per_second,omitempty"`
	// FinalLoss is the training loss of the last step of each round (training only): both sides
	// fine-tune the same model on the same text, so they should be close.
	FinalLoss []float64 `json:"final_loss,omitempty"`
	// Tokens are the greedy tokens of the last generation's first sequence (generation only;
	// every sequence of the batch must have the same).
	Tokens []int `json:"tokens,omitempty"`
}

// LlamaSummary is what the llama report holds beyond its rows (Report.Details).
type LlamaSummary struct {
	BatchSize int `json:"batch_size"`
	SeqLen    int `json:"seq_len"`
	Steps     int `json:"steps"`
	GenTokens int `json:"generate_tokens"`
	// GenBatches are the batches generation was measured at.
	GenBatches []int `json:"generate_batches"`
	// Text is the decoded greedy generation of the first backend.
	Text string `json:"text,omitempty"`
}

// llamaTasks parses -tasks.
func llamaTasks(s string) ([]string, error) {
	var tasks []string
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(t)
		if t != TaskTrain && t != TaskGenerate {
			return nil, fmt.Errorf("bench: -tasks %q: unknown task %q (valid: %s, %s)", s, t, TaskTrain, TaskGenerate)
		}
		if !slices.Contains(tasks, t) {
			tasks = append(tasks, t)
		}
	}
	return tasks, nil
}

// generateCase is the Case of the generation rows at batch b.
func generateCase(b int) string { return fmt.Sprintf("%s b%d", TaskGenerate, b) }

// generateSecondsKey is the peer's key of the fastest generation at batch b.
func generateSecondsKey(b int) string { return fmt.Sprintf("generate_seconds_b%d", b) }

// llamaBatches parses -gen_batches.
func llamaBatches(s string) ([]int, error) {
	var batches []int
	for f := range strings.SplitSeq(s, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || b < 1 {
			return nil, fmt.Errorf("bench: -gen_batches %q: %q is not a batch size ≥ 1", s, f)
		}
		if !slices.Contains(batches, b) {
			batches = append(batches, b)
		}
	}
	return batches, nil
}

// RunLlama performs the Llama benchmark described by o, logging progress to log. It returns
// the report (possibly partial, with the error that stopped it), written to o.JSONPath
// when that is set; its rows' Details are *LlamaDetails and its Details a *LlamaSummary.
func RunLlama(o Options, log io.Writer) (*harness.Report, error) {
	if o.Steps < 1 || o.Rounds < 1 || o.Threads < 1 || o.GenTokens < 1 {
		return nil, fmt.Errorf("-steps (%d), -rounds (%d), -threads (%d) and -gen_tokens (%d) must be ≥ 1", o.Steps, o.Rounds, o.Threads, o.GenTokens)
	}
	tasks, err := llamaTasks(o.Tasks)
	if err != nil {
		return nil, err
	}
	batches, err := llamaBatches(o.GenBatches)
	if err != nil {
		return nil, err
	}
	runtime.GOMAXPROCS(o.Threads)
	cfg, source, err := LlamaConfig(o.ConfigPath, o.Steps, o.Set)
	if err != nil {
		return nil, err
	}
	seqLen, _ := cfg.Params[text.ParamSeqLen].(int)
	checkpoint, err := framework.LocateData(o.DataDir, cfg.InitFrom)
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
	if err := llama.CheckParams(cfg.Params, weights.Config); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", checkpoint, err)
	}
	if o.GenTokens > weights.SeqLen {
		return nil, fmt.Errorf("bench: -gen_tokens %d exceeds the model's context %d", o.GenTokens, weights.SeqLen)
	}
	splits, err := text.LoadSplits(o.DataDir, cfg.Params)
	if err != nil {
		return nil, err
	}
	data, err := splits.FrameworkData()
	if err != nil {
		return nil, err
	}
	specs := backendSpecs(o.Backends)
	report := harness.NewReport(ModelLlama, o.Threads, o.Rounds)
	report.Settings, report.Config, report.ConfigSource = o, cfg.JSON(), source
	summary := &LlamaSummary{BatchSize: cfg.BatchSize, SeqLen: seqLen, Steps: o.Steps, GenTokens: o.GenTokens, GenBatches: batches}
	report.Details = summary
	fmt.Fprintf(log, "bench: %s, %s; %s from %s; tasks %s; %d steps of %d×%d tokens, %d generated tokens at batches %v; %d rounds; %d threads\n",
		report.Header.Machine.CPU, report.Header.Build, source, checkpoint, strings.Join(tasks, ","), o.Steps, cfg.BatchSize, seqLen,
		o.GenTokens, batches, o.Rounds, o.Threads)

	var tokenFile string
	if !o.NoTorch && slices.Contains(tasks, TaskTrain) {
		if tokenFile, err = writeTokens(splits.Parts[framework.SplitTrain]); err != nil {
			return nil, err
		}
		defer os.Remove(tokenFile)
	}
	stop, err := startProfile(o.CPUProfile)
	if err != nil {
		return nil, err
	}
	defer stop()

	var rows []harness.Result
	addRows := func(name string, batch int) {
		for _, spec := range specs {
			backend, _, _ := strings.Cut(spec, ":")
			rows = append(rows, harness.Result{Case: name, Side: harness.SideQzoo, Name: backend, Spec: spec,
				Metric: MetricTokensPerSecond, Unit: "tokens/s", Details: &LlamaDetails{Batch: batch}})
		}
		if !o.NoTorch {
			rows = append(rows, harness.Result{Case: name, Side: harness.SidePeer, Name: PyTorchName,
				Metric: MetricTokensPerSecond, Unit: "tokens/s", Details: &LlamaDetails{Batch: batch}})
		}
	}
	for _, task := range tasks {
		if task == TaskTrain {
			addRows(task, 0)
			continue
		}
		for _, b := range batches {
			addRows(generateCase(b), b)
		}
	}
	report.Results = rows
	tokensPerStep := float64(cfg.BatchSize * seqLen)
	for round := range o.Rounds {
		var reference []int // greedy tokens of the first backend: every other must agree
		for i := range rows {
			m := &rows[i]
			if m.Side == harness.SidePeer {
				continue
			}
			d := m.Details.(*LlamaDetails)
			load := harness.LoadAvg()
			var seconds, rate float64
			if m.Case == TaskTrain {
				res, desc, err := measureRun(cfg, m.Spec, data, o.DataDir)
				if err != nil {
					return report, err
				}
				seconds, rate, m.Description = res.MedianStepSeconds, tokensPerStep/res.MedianStepSeconds, desc
				d.WallStepsPerSecond = append(d.WallStepsPerSecond, res.StepsPerSecond)
				d.FinalLoss = append(d.FinalLoss, res.Train["loss"])
			} else {
				elapsed, tokens, desc, err := MeasureGeneration(m.Spec, weights, o.GenTokens, d.Batch)
				if err != nil {
					return report, err
				}
				if reference == nil {
					reference = tokens
					if summary.Text, err = splits.Tokenizer.Decode(append([]int{llama2c.BOS}, tokens...)); err != nil {
						return report, err
					}
				} else if at := firstDifference(tokens, reference); at >= 0 {
					return report, fmt.Errorf("bench: greedy tokens on %s at batch %d differ from those on %s at batch %d at position %d",
						m.Spec, d.Batch, specs[0], batches[0], at)
				}
				seconds, rate, m.Description, d.Tokens = elapsed, float64(d.Batch*o.GenTokens)/elapsed, desc, tokens
			}
			d.RoundSeconds = append(d.RoundSeconds, seconds)
			m.AddRound(rate, load)
			fmt.Fprintf(log, "bench: round %d, %s on %s: %.0f tokens/s (%.4g s; load %.2f)\n", round+1, m.Case, m.Spec, rate, seconds, load)
		}
		if o.NoTorch {
			continue
		}
		load := harness.LoadAvg()
		peer, err := MeasureTorchLlama(o, cfg, checkpoint, tokenFile, tasks, batches, reference)
		if err != nil {
			return report, err
		}
		report.Peer = peer
		desc := fmt.Sprintf("PyTorch %v, %v threads, OMP_WAIT_POLICY=%v, malloc: %v, BLAS %v", peer["torch_version"], peer["threads"],
			peer["omp_wait_policy"], peer["malloc"], peer["blas"])
		torch := map[string]float64{}
		for i := range rows {
			m := &rows[i]
			if m.Side != harness.SidePeer {
				continue
			}
			d := m.Details.(*LlamaDetails)
			m.Description = desc
			var seconds, rate float64
			if m.Case == TaskTrain {
				seconds = peer["median_step_seconds"].(float64) // checked by the harness
				loss, _ := peer["final_loss"].(float64)
				d.FinalLoss = append(d.FinalLoss, loss)
				rate = tokensPerStep / seconds
			} else {
				seconds = peer[generateSecondsKey(d.Batch)].(float64) // checked by the harness
				rate = float64(d.Batch*o.GenTokens) / seconds
			}
			d.RoundSeconds = append(d.RoundSeconds, seconds)
			m.AddRound(rate, load)
			torch[m.Case] = rate
			fmt.Fprintf(log, "bench: round %d, %s on pytorch: %.0f tokens/s (load %.2f)\n", round+1, m.Case, rate, load)
		}
		for i := range rows {
			m := &rows[i]
			m.AddRatio(m.Value.Rounds[round]/torch[m.Case], PyTorchName)
		}
	}
	return report, report.WriteJSON(o.JSONPath)
}

// MeasureGeneration compiles llama.NewGenerator for batch sequences over w on the backend of
// spec, runs one untimed greedy generation of n tokens from BOS per sequence, then times
// GenerateTimedRuns more: n calls of StepBatch each, every sequence fed its previous step's
// argmax (not stopping at BOS, so that every backend and PyTorch do the same work). It returns
// the wall time of the fastest timed loop and its n tokens (every sequence's, which must be
// the same).
func MeasureGeneration(spec string, w *llama.Weights, n, batch int) (seconds float64, tokens []int, description string, err error) {
	backend, err := framework.NewBackendFromSpec(spec)
	if err != nil {
		return 0, nil, "", err
	}
	defer backend.Finalize()
	store := model.NewStore()
	if err := w.Load(store); err != nil {
		return 0, nil, "", err
	}
	gen, err := llama.NewGenerator(backend, store, batch)
	if err != nil {
		return 0, nil, "", err
	}
	defer gen.Finalize()
	if _, err := greedyTokens(gen, n); err != nil {
		return 0, nil, "", fmt.Errorf("bench: generating on %s: %w", spec, err)
	}
	for run := range GenerateTimedRuns {
		start := time.Now()
		tokens, err = greedyTokens(gen, n)
		elapsed := time.Since(start).Seconds()
		if err != nil {
			return 0, nil, "", fmt.Errorf("bench: generating on %s: %w", spec, err)
		}
		if run == 0 || elapsed < seconds {
			seconds = elapsed
		}
	}
	return seconds, tokens, backend.Description(), nil
}

// greedyTokens empties gen's cache and feeds every sequence BOS then n−1 greedy tokens; it
// returns the n tokens chosen, which every sequence of the batch must have chosen alike.
func greedyTokens(gen *llama.Generator, n int) ([]int, error) {
	greedy, err := llama.NewSampler(0, 0, 0)
	if err != nil {
		return nil, err
	}
	gen.Reset()
	v := gen.Config.VocabSize
	tokens := make([]int, 0, n)
	next := make([]int32, gen.Batch())
	for b := range next {
		next[b] = llama2c.BOS
	}
	for range n {
		logits, err := gen.StepBatch(next)
		if err != nil {
			return tokens, err
		}
		for b := range next {
			next[b] = int32(greedy.Sample(logits[b*v : (b+1)*v]))
			if next[b] != next[0] {
				return tokens, fmt.Errorf("bench: sequence %d of a batch fed the same tokens chose %d at position %d, sequence 0 chose %d",
					b, next[b], len(tokens), next[0])
			}
		}
		tokens = append(tokens, int(next[0]))
	}
	return tokens, nil
}

// firstDifference is the first position where a and b differ (-1 if they are equal).
func firstDifference(a, b []int) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

// writeTokens writes tokens as little-endian int32 to a temporary file for the PyTorch peer.
func writeTokens(tokens []int) (string, error) {
	buf := make([]byte, 4*len(tokens))
	for i, t := range tokens {
		if t < 0 || t > math.MaxInt32 {
			return "", fmt.Errorf("bench: token %d at %d does not fit int32", t, i)
		}
		binary.LittleEndian.PutUint32(buf[4*i:], uint32(t))
	}
	return writeTempFile("qzoo-bench-tokens-*.i32", buf)
}

// writeTempFile writes data to a new temporary file named after pattern (os.CreateTemp's) and
// returns its path; the caller removes it.
func writeTempFile(pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("bench: writing %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("bench: writing %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// TorchLlamaArgs are the arguments of torch_llama.py that make it run the tasks of cfg with the
// options' threads, steps, generation length and batches; expect are the greedy tokens its
// generation must start with (the first CheckedTokens are passed).
func TorchLlamaArgs(o Options, cfg *framework.Config, checkpoint, tokenFile string, tasks []string, batches []int, expect []int) []string {
	floatParam := func(key string, def float64) string {
		v, ok := cfg.Params[key].(float64)
		if !ok {
			v = def
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	steps, genTokens := 0, 0
	if slices.Contains(tasks, TaskTrain) {
		steps = o.Steps
	}
	if slices.Contains(tasks, TaskGenerate) {
		genTokens = o.GenTokens
	}
	args := []string{
		"--checkpoint", checkpoint,
		"--threads", strconv.Itoa(o.Threads),
		"--batch", strconv.Itoa(cfg.BatchSize),
		"--seq-len", fmt.Sprint(cfg.Params[text.ParamSeqLen]),
		"--warmup", strconv.Itoa(o.TorchWarmup),
		"--steps", strconv.Itoa(steps),
		"--lr", strconv.FormatFloat(cfg.LearningRate, 'g', -1, 64),
		"--weight-decay", strconv.FormatFloat(cfg.WeightDecay, 'g', -1, 64),
		"--beta1", floatParam(optimizer.ParamAdamBeta1, 0.9),
		"--beta2", floatParam(optimizer.ParamAdamBeta2, 0.999),
		"--eps", floatParam(optimizer.ParamAdamEpsilon, 1e-7),
		"--gen-tokens", strconv.Itoa(genTokens),
		"--gen-runs", strconv.Itoa(GenerateTimedRuns),
		"--gen-batches", joinInts(batches),
		"--seed", strconv.FormatInt(cfg.Seed, 10),
	}
	if tokenFile != "" {
		args = append(args, "--tokens", tokenFile)
	}
	if len(expect) > 0 {
		args = append(args, "--expect-tokens", joinInts(expect[:min(len(expect), CheckedTokens)]))
	}
	return args
}

// joinInts writes xs comma-separated.
func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// MeasureTorchLlama runs torch_llama.py (as torchPeer, with OMP_WAIT_POLICY set to
// o.TorchOMPWaitPolicy when that is not "") and returns the JSON object it printed.
func MeasureTorchLlama(o Options, cfg *framework.Config, checkpoint, tokenFile string, tasks []string, batches []int, expect []int) (map[string]any, error) {
	peer := torchPeer(o, "torch_llama.py")
	if o.TorchOMPWaitPolicy != "" {
		peer.Set = append(peer.Set, "OMP_WAIT_POLICY="+o.TorchOMPWaitPolicy)
	}
	var required []string
	if slices.Contains(tasks, TaskTrain) {
		required = append(required, "median_step_seconds")
	}
	if slices.Contains(tasks, TaskGenerate) {
		for _, b := range batches {
			required = append(required, generateSecondsKey(b))
		}
	}
	return peer.Run(TorchLlamaArgs(o, cfg, checkpoint, tokenFile, tasks, batches, expect), required...)
}

// PrintLlamaReport writes the Llama results table and the context needed to read it.
func PrintLlamaReport(w io.Writer, r *harness.Report) {
	sum := r.Details.(*LlamaSummary)
	var c struct {
		Optimizer string `json:"optimizer"`
	}
	_ = json.Unmarshal(r.Config, &c)
	fmt.Fprintf(w, "\nllama (stories260K, %s): training batch %d × %d tokens (fwd+bwd+%s), greedy generation of %d tokens per sequence (KV cache; generate bB: B sequences together)\n",
		r.ConfigSource, sum.BatchSize, sum.SeqLen, c.Optimizer, sum.GenTokens)
	fmt.Fprintf(w, "%d train steps; median of %d round(s) [min–max]\n\n", sum.Steps, r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "task\tbackend\ttokens/s\t[min–max]\t× PyTorch\tms per step\tload avg\t")
	for _, m := range r.Results {
		if !m.Value.Measured() {
			fmt.Fprintf(tw, "%s\t%s\t(not measured)\t\t\t\t%s\t\n", m.Case, m.Name, loadRange(m.LoadAvg))
			continue
		}
		perUnit := 1e3 * float64(sum.BatchSize*sum.SeqLen) / m.Value.Median // the median step
		if d, ok := m.Details.(*LlamaDetails); ok && d.Batch > 0 {
			perUnit = 1e3 * float64(d.Batch) / m.Value.Median // one token per sequence
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f–%.0f\t%s\t%.2f\t%s\t\n", m.Case, m.Name, m.Value.Median, m.Value.Min, m.Value.Max,
			ratio(m.Ratio), perUnit, loadRange(m.LoadAvg))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\n× PyTorch = the backend's tokens/s / PyTorch's for the same task in the same round (> 1: faster than PyTorch)")
	seen := map[string]bool{}
	for _, m := range r.Results {
		if !seen[m.Name] && m.Description != "" {
			seen[m.Name] = true
			fmt.Fprintf(w, "  %s: %s\n", m.Name, m.Description)
		}
	}
}
