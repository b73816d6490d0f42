package main

// The Llama benchmark (-model llama): training and generation tokens/s of models/llama on
// stories260K, against bench/torch_llama.py in the same run.

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/qzoo/qzoo/datasets/text"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/models/llama"
)

//go:embed torch_llama.py
var torchLlamaScript []byte

// Models the command benchmarks (-model).
const (
	ModelVQAE  = "vqae"
	ModelLlama = "llama"
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

// inlineLlamaConfig is the Llama benchmark's config: fine-tuning stories260K on Shakespeare
// with llama2.c train.py's AdamW learning rate and weight decay.
const inlineLlamaConfig = `{
  "description": "bench: fine-tune stories260K on Shakespeare (tok512), batch 32 × 256 tokens, AdamW",
  "model": "llama",
  "dataset": "text",
  "init_from": "` + llama.Stories260KFile + `",
  "batch_size": 32,
  "optimizer": "adamw",
  "learning_rate": 5e-4,
  "weight_decay": 0.1,
  "params": {"text_seq_len": 256}
}`

// llamaOverrides make the config a pure speed measurement, as benchOverrides do for vqae: a
// constant learning rate, no intermediate evaluation or checkpoint, and a final evaluation of
// one batch of windows.
const llamaOverrides = "lr_schedule=constant;warmup_steps=0;eval_every=0;checkpoint_every=0;eval_examples=32;eval_batch_size=32"

// LlamaConfig loads the benchmarked Llama config: path, or the inline config when path is "",
// then the benchmark's overrides, steps and the caller's set. The PyTorch peer implements only
// what it checks: a tied stories260K-shaped model fine-tuned from init_from with Adam(W), a
// constant learning rate, no gradient clipping and nothing frozen.
func LlamaConfig(path string, steps int, set string) (*framework.Config, string, error) {
	var cfg *framework.Config
	var err error
	source := path
	if path != "" {
		cfg, err = framework.LoadConfig(path)
	} else {
		source = "inline llama config"
		cfg, err = framework.ParseConfig([]byte(inlineLlamaConfig))
	}
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

// LlamaRow is one row of the Llama report: one task on one backend (or PyTorch).
type LlamaRow struct {
	Task        string `json:"task"` // TaskTrain or TaskGenerate
	Name        string `json:"name"` // "go", "onnx", "pytorch"
	Spec        string `json:"spec,omitempty"`
	Description string `json:"description"`
	// TokensPerSecond is the fastest round's: batch·L / median step for training, tokens /
	// wall time of the decoding loop for generation.
	TokensPerSecond float64 `json:"tokens_per_second"`
	// RatioVsPyTorch is this row's tokens/s over PyTorch's for the same task (> 1: faster than
	// PyTorch; 0 when PyTorch was not measured).
	RatioVsPyTorch float64 `json:"ratio_vs_pytorch,omitempty"`
	// RoundSeconds are, per round, the median train step (training) or the wall time of the
	// fastest decoding loop (generation, see GenerateTimedRuns); RoundTokensPerSecond the speeds they give. LoadAvg is
	// the 1-minute load average before each round.
	RoundSeconds         []float64 `json:"round_seconds"`
	RoundTokensPerSecond []float64 `json:"round_tokens_per_second"`
	LoadAvg              []float64 `json:"load_avg_1min"`
	// WallStepsPerSecond are framework.Run's own speeds (compilation included), Go training only.
	WallStepsPerSecond []float64 `json:"wall_steps_per_second,omitempty"`
	// FinalLoss is the training loss of the last step of each round (training only): both sides
	// fine-tune the same model on the same text, so they should be close.
	FinalLoss []float64 `json:"final_loss,omitempty"`
	// Tokens are the greedy tokens of the last generation (generation only).
	Tokens []int `json:"tokens,omitempty"`
}

// LlamaReport is everything one run of the Llama benchmark measured.
type LlamaReport struct {
	Time      string          `json:"time"`
	Machine   Machine         `json:"machine"`
	Build     BuildFlags      `json:"build"`
	Threads   int             `json:"threads"`
	Steps     int             `json:"steps"`
	Rounds    int             `json:"rounds"`
	BatchSize int             `json:"batch_size"`
	SeqLen    int             `json:"seq_len"`
	GenTokens int             `json:"generate_tokens"`
	Config    json.RawMessage `json:"config"`
	Source    string          `json:"config_source"`
	// Text is the decoded greedy generation of the first backend.
	Text    string         `json:"text,omitempty"`
	Results []LlamaRow     `json:"results"`
	Peer    map[string]any `json:"peer,omitempty"` // the last JSON line of torch_llama.py
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

// RunLlama performs the Llama benchmark described by o, logging progress to log. It returns
// the report (possibly partial, with the error that stopped it).
func RunLlama(o Options, log io.Writer) (*LlamaReport, error) {
	if o.Steps < 1 || o.Rounds < 1 || o.Threads < 1 || o.GenTokens < 1 {
		return nil, fmt.Errorf("-steps (%d), -rounds (%d), -threads (%d) and -gen_tokens (%d) must be ≥ 1", o.Steps, o.Rounds, o.Threads, o.GenTokens)
	}
	tasks, err := llamaTasks(o.Tasks)
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
	specs := framework.AvailableBackends()
	if o.Backends != "" {
		specs = strings.Split(o.Backends, ",")
	}
	report := &LlamaReport{
		Time: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Build: ReadBuildFlags(),
		Threads: o.Threads, Steps: o.Steps, Rounds: o.Rounds, BatchSize: cfg.BatchSize, SeqLen: seqLen,
		GenTokens: o.GenTokens, Config: cfg.JSON(), Source: source,
	}
	fmt.Fprintf(log, "bench: %s, %s; %s from %s; tasks %s; %d steps of %d×%d tokens, %d generated tokens; %d rounds; %d threads\n",
		report.Machine.CPU, report.Build, source, checkpoint, strings.Join(tasks, ","), o.Steps, cfg.BatchSize, seqLen,
		o.GenTokens, o.Rounds, o.Threads)

	var tokenFile string
	if !o.NoTorch && slices.Contains(tasks, TaskTrain) {
		if tokenFile, err = writeTokens(splits.Parts[framework.SplitTrain]); err != nil {
			return nil, err
		}
		defer os.Remove(tokenFile)
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("bench: starting the CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	var rows []LlamaRow
	for _, task := range tasks {
		for _, spec := range specs {
			name, _, _ := strings.Cut(spec, ":")
			rows = append(rows, LlamaRow{Task: task, Name: name, Spec: spec})
		}
		if !o.NoTorch {
			rows = append(rows, LlamaRow{Task: task, Name: PyTorchName})
		}
	}
	report.Results = rows
	tokensPerStep := float64(cfg.BatchSize * seqLen)
	for round := range o.Rounds {
		var reference []int // greedy tokens of the first backend: every other must agree
		for i := range rows {
			m := &rows[i]
			if m.Name == PyTorchName {
				continue
			}
			m.LoadAvg = append(m.LoadAvg, loadAvg())
			var seconds, rate float64
			switch m.Task {
			case TaskTrain:
				res, desc, err := measureRun(cfg, m.Spec, data, o.DataDir)
				if err != nil {
					return report, err
				}
				seconds, rate, m.Description = res.MedianStepSeconds, tokensPerStep/res.MedianStepSeconds, desc
				m.WallStepsPerSecond = append(m.WallStepsPerSecond, res.StepsPerSecond)
				m.FinalLoss = append(m.FinalLoss, res.Train["loss"])
			case TaskGenerate:
				elapsed, tokens, desc, err := MeasureGeneration(m.Spec, weights, o.GenTokens)
				if err != nil {
					return report, err
				}
				if reference == nil {
					reference = tokens
					if report.Text, err = splits.Tokenizer.Decode(append([]int{llama2c.BOS}, tokens...)); err != nil {
						return report, err
					}
				} else if at := firstDifference(tokens, reference); at >= 0 {
					return report, fmt.Errorf("bench: greedy tokens on %s differ from those on %s at position %d", m.Spec, specs[0], at)
				}
				seconds, rate, m.Description, m.Tokens = elapsed, float64(o.GenTokens)/elapsed, desc, tokens
			}
			m.RoundSeconds = append(m.RoundSeconds, seconds)
			m.RoundTokensPerSecond = append(m.RoundTokensPerSecond, rate)
			fmt.Fprintf(log, "bench: round %d, %s on %s: %.0f tokens/s (%.4g s; load %.2f)\n", round+1, m.Task, m.Spec, rate, seconds, m.LoadAvg[round])
		}
		if o.NoTorch {
			continue
		}
		load := loadAvg()
		peer, err := MeasureTorchLlama(o, cfg, checkpoint, tokenFile, tasks, reference)
		if err != nil {
			return report, err
		}
		report.Peer = peer
		desc := fmt.Sprintf("PyTorch %v, %v threads, OMP_WAIT_POLICY=%v, malloc: %v, BLAS %v", peer["torch_version"], peer["threads"],
			peer["omp_wait_policy"], peer["malloc"], peer["blas"])
		for i := range rows {
			m := &rows[i]
			if m.Name != PyTorchName {
				continue
			}
			m.Description = desc
			m.LoadAvg = append(m.LoadAvg, load)
			switch m.Task {
			case TaskTrain:
				median, _ := peer["median_step_seconds"].(float64)
				loss, _ := peer["final_loss"].(float64)
				m.RoundSeconds = append(m.RoundSeconds, median)
				m.FinalLoss = append(m.FinalLoss, loss)
				m.RoundTokensPerSecond = append(m.RoundTokensPerSecond, tokensPerStep/median)
			case TaskGenerate:
				elapsed, _ := peer["generate_seconds"].(float64)
				m.RoundSeconds = append(m.RoundSeconds, elapsed)
				m.RoundTokensPerSecond = append(m.RoundTokensPerSecond, float64(o.GenTokens)/elapsed)
			}
			fmt.Fprintf(log, "bench: round %d, %s on pytorch: %.0f tokens/s (load %.2f)\n", round+1, m.Task, m.RoundTokensPerSecond[round], load)
		}
	}
	summarizeLlama(report.Results)
	if o.JSONPath != "" {
		js, _ := json.MarshalIndent(report, "", "  ")
		if err := framework.WriteFileAtomic(o.JSONPath, append(js, '\n')); err != nil {
			return report, err
		}
	}
	return report, nil
}

// summarizeLlama fills each row's best tokens/s and its ratio to PyTorch's for the same task.
func summarizeLlama(rows []LlamaRow) {
	torch := map[string]float64{}
	for i := range rows {
		m := &rows[i]
		if len(m.RoundTokensPerSecond) == 0 {
			continue
		}
		m.TokensPerSecond = slices.Max(m.RoundTokensPerSecond)
		if m.Name == PyTorchName {
			torch[m.Task] = m.TokensPerSecond
		}
	}
	for i := range rows {
		if t := torch[rows[i].Task]; t > 0 && rows[i].TokensPerSecond > 0 {
			rows[i].RatioVsPyTorch = rows[i].TokensPerSecond / t
		}
	}
}

// MeasureGeneration compiles llama.NewGenerator over w on the backend of spec, runs one
// untimed greedy generation of n tokens from BOS (compilation), then times GenerateTimedRuns
// more: n calls of Step each, fed the previous step's argmax (not stopping at BOS, so that
// every backend and PyTorch do the same work). It returns the wall time of the fastest timed
// loop and its n tokens.
func MeasureGeneration(spec string, w *llama.Weights, n int) (seconds float64, tokens []int, description string, err error) {
	backend, err := framework.NewBackendFromSpec(spec)
	if err != nil {
		return 0, nil, "", err
	}
	defer backend.Finalize()
	store := model.NewStore()
	if err := w.Load(store); err != nil {
		return 0, nil, "", err
	}
	gen, err := llama.NewGenerator(backend, store)
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

// greedyTokens empties gen's cache and feeds BOS then n−1 greedy tokens; it returns the n
// tokens chosen.
func greedyTokens(gen *llama.Generator, n int) ([]int, error) {
	greedy, err := llama.NewSampler(0, 0, 0)
	if err != nil {
		return nil, err
	}
	gen.Reset()
	tokens := make([]int, 0, n)
	token := llama2c.BOS
	for range n {
		logits, err := gen.Step(token)
		if err != nil {
			return tokens, err
		}
		token = greedy.Sample(logits)
		tokens = append(tokens, token)
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
	f, err := os.CreateTemp("", "qzoo-bench-tokens-*.i32")
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
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
// options' threads, steps and generation length; expect are the greedy tokens its generation
// must start with (the first CheckedTokens are passed).
func TorchLlamaArgs(o Options, cfg *framework.Config, checkpoint, tokenFile string, tasks []string, expect []int) []string {
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
		"--seed", strconv.FormatInt(cfg.Seed, 10),
	}
	if tokenFile != "" {
		args = append(args, "--tokens", tokenFile)
	}
	if len(expect) > 0 {
		ids := make([]string, min(len(expect), CheckedTokens))
		for i := range ids {
			ids[i] = strconv.Itoa(expect[i])
		}
		args = append(args, "--expect-tokens", strings.Join(ids, ","))
	}
	return args
}

// MeasureTorchLlama runs the embedded torch_llama.py and returns the JSON object it printed.
func MeasureTorchLlama(o Options, cfg *framework.Config, checkpoint, tokenFile string, tasks []string, expect []int) (map[string]any, error) {
	args := TorchLlamaArgs(o, cfg, checkpoint, tokenFile, tasks, expect)
	script, err := os.CreateTemp("", "torch_llama-*.py")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.Remove(script.Name())
	if _, err := script.Write(torchLlamaScript); err != nil {
		script.Close()
		return nil, fmt.Errorf("bench: writing %s: %w", script.Name(), err)
	}
	if err := script.Close(); err != nil {
		return nil, fmt.Errorf("bench: writing %s: %w", script.Name(), err)
	}
	cmd := exec.Command(o.Python, append([]string{script.Name()}, args...)...)
	cmd.Env = torchEnv(os.Environ(), o.TorchBLASDir, o.Threads)
	if o.TorchOMPWaitPolicy != "" {
		cmd.Env = setEnv(cmd.Env, "OMP_WAIT_POLICY", o.TorchOMPWaitPolicy)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench: %s torch_llama.py %s: %w\n%s", o.Python, strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	var required []string
	if slices.Contains(tasks, TaskTrain) {
		required = append(required, "median_step_seconds")
	}
	if slices.Contains(tasks, TaskGenerate) {
		required = append(required, "generate_seconds")
	}
	return parsePeerJSON(stdout.Bytes(), required...)
}

// setEnv returns env with key set to value (replacing any earlier value).
func setEnv(env []string, key, value string) []string {
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
	return append(out, key+"="+value)
}

// PrintLlamaReport writes the Llama results table and the context needed to read it.
func PrintLlamaReport(w io.Writer, r *LlamaReport) {
	fmt.Fprintf(w, "\nllama (stories260K): training batch %d × %d tokens (fwd+bwd+%s), greedy generation of %d tokens (batch 1, KV cache); %s\n",
		r.BatchSize, r.SeqLen, optimizerOf(r), r.GenTokens, r.Machine.CPU)
	fmt.Fprintf(w, "Go build: %s; threads %d; %d train steps, fastest of %d round(s)\n\n", r.Build, r.Threads, r.Steps, r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "task\tbackend\ttokens/s\t× PyTorch\tms per step | token\tload avg\t")
	for _, m := range r.Results {
		load := "-"
		if len(m.LoadAvg) > 0 {
			load = fmt.Sprintf("%.2f", slices.Max(m.LoadAvg))
		}
		if m.TokensPerSecond == 0 {
			fmt.Fprintf(tw, "%s\t%s\t(not measured)\t\t\t%s\t\n", m.Task, m.Name, load)
			continue
		}
		ratio := "-"
		if m.RatioVsPyTorch > 0 {
			ratio = fmt.Sprintf("%.2f", m.RatioVsPyTorch)
		}
		perUnit := 1e3 * float64(r.BatchSize*r.SeqLen) / m.TokensPerSecond // the median step
		if m.Task == TaskGenerate {
			perUnit = 1e3 / m.TokensPerSecond
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%.2f\t%s\t\n", m.Task, m.Name, m.TokensPerSecond, ratio, perUnit, load)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\n× PyTorch = the backend's tokens/s / PyTorch's for the same task (> 1: faster than PyTorch)")
	seen := map[string]bool{}
	for _, m := range r.Results {
		if !seen[m.Name] && m.Description != "" {
			seen[m.Name] = true
			fmt.Fprintf(w, "  %s: %s\n", m.Name, m.Description)
		}
	}
}

func optimizerOf(r *LlamaReport) string {
	var c struct {
		Optimizer string `json:"optimizer"`
	}
	_ = json.Unmarshal(r.Config, &c)
	return c.Optimizer
}
