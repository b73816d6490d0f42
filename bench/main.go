// Command bench measures how fast the zoo trains models/vqae on each available GoMLX backend and
// compares it with the same network trained by PyTorch on the same machine, in the same run:
//
//	go run ./bench                      # pure-Go backend without SIMD matmul, and ONNX Runtime if installed
//	GOEXPERIMENT=simd go run ./bench    # pure-Go backend with its SIMD kernels, and ONNX Runtime
//
// ONNX Runtime is compiled in wherever cgo is (-tags noonnx leaves it out) and measured when
// scripts/setup-onnxruntime.sh has installed its library.
//
// For each backend of framework.AvailableBackends it trains the SimVQ autoencoder of
// configs/vq/simvq_fashion.json with framework.Run for -steps steps (constant learning rate, no
// warm-up, a small final evaluation, all in a temporary directory) and takes the median train
// step (the first step, which compiles the graph, is one of -steps and does not move the median).
// Then it runs bench/torch_vqae.py (embedded in the binary) with the same architecture, batch,
// data files, optimizer and thread count, and prints
//
//	backend | median step | steps/s | × PyTorch
//
// where "× PyTorch" is PyTorch's median step time divided by the backend's: above 1 the backend
// is faster than PyTorch. With -rounds R every measurement is repeated R times (interleaved) and
// the fastest round is reported, since other processes only ever slow a run down.
//
// Fairness: GOMAXPROCS and torch.set_num_threads are both set to -threads (default: all cores);
// ONNX Runtime uses its default intra-op pool, one thread per physical core. PyTorch is started
// with OpenBLAS's OpenMP build first on LD_LIBRARY_PATH when it is installed (-torch_blas_dir):
// Debian's default libblas.so.3 alternative is the pthread build, whose threads fight PyTorch's
// OpenMP pool and make PyTorch several times slower. The report states the Go build flags
// (GOEXPERIMENT, tags), the BLAS PyTorch loaded and the load average before each measurement.
//
// -json FILE writes the whole report; -cpuprofile FILE profiles the Go side (PyTorch runs in a
// child process and is not in the profile): go tool pprof -top FILE.
//
// With -model llama it measures models/llama on llama2.c's stories260K instead (see llama.go):
//
//	go run ./bench -model llama -data_dir ../shared/data [-rounds 3] [-steps 20] [-gen_tokens 256]
//
// training tokens/s (framework.Run fine-tuning from stories260K on the Shakespeare windows of
// datasets/text, batch 32 × 256, AdamW, constant learning rate: batch·L / median step) and
// generation tokens/s (llama.NewGenerator, greedy from BOS, batch 1, with the KV cache; the
// fastest of 5 timed generations after an untimed one), on each backend and in bench/torch_llama.py (the same model in
// PyTorch, same weights, token stream, batch, optimizer and threads), and prints
//
//	task | backend | tokens/s | × PyTorch
//
// The PyTorch peer must reproduce the Go model's first 200 greedy tokens, and every backend
// the first backend's. -tasks train or -tasks generate measures one of the two. The peer runs
// with OMP_WAIT_POLICY=PASSIVE (-torch_omp_wait_policy) and keeps freed memory in glibc's heap
// (see torch_llama.py): with libgomp's spinning threads and glibc's mmap of large blocks, other
// processes and page faults made PyTorch 10-25× slower on these VMs.
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qzoo/qzoo/datasets/fashionmnist"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/vq"
	_ "github.com/qzoo/qzoo/models/all"
	"github.com/qzoo/qzoo/models/vqae"
)

//go:embed torch_vqae.py
var torchScript []byte

// DefaultConfig is the config benchmarked, relative to the repository root.
const DefaultConfig = "configs/vq/simvq_fashion.json"

// inlineConfig is used when DefaultConfig cannot be found (e.g. the binary runs elsewhere).
const inlineConfig = `{
  "description": "bench: SimVQ (K=1024) autoencoder on Fashion-MNIST, batch 128",
  "model": "vqae",
  "batch_size": 128,
  "params": {"vq_type": "simvq", "vq_codebook_size": 1024, "vqae_channels": 32, "vqae_latent_dim": 16}
}`

// benchOverrides make a config a pure speed measurement: a constant learning rate (as the PyTorch
// peer's plain Adam), no intermediate evaluation or checkpoint, and a small final evaluation.
// The step count is appended by benchConfig.
const benchOverrides = "lr_schedule=constant;warmup_steps=0;eval_every=0;checkpoint_every=0;eval_examples=500;eval_batch_size=500"

// DefaultTorchBLASDir holds Debian's OpenMP build of OpenBLAS (package libopenblas0-openmp).
const DefaultTorchBLASDir = "/usr/lib/x86_64-linux-gnu/openblas-openmp"

// PyTorchName is the name of the PyTorch row of the report.
const PyTorchName = "pytorch"

// Options are the command's flags.
type Options struct {
	ConfigPath   string // config file; "" or missing: DefaultConfig, else the inline config
	Set          string // extra "key=value;..." overrides, applied last
	Steps        int    // train steps per measurement (Go and PyTorch alike)
	Rounds       int    // repetitions of every measurement; the fastest is reported
	Threads      int    // GOMAXPROCS and torch.set_num_threads
	Backends     string // comma-separated backend specs ("" = framework.AvailableBackends)
	DataDir      string // directory of the Fashion-MNIST idx files, given to both sides
	Python       string // interpreter with torch
	TorchWarmup  int    // untimed PyTorch steps before the timed ones
	TorchBLASDir string // prepended to PyTorch's LD_LIBRARY_PATH when it exists ("" = none)
	NoTorch      bool   // skip PyTorch
	JSONPath     string // write the report here
	CPUProfile   string // CPU profile of the Go side
	Model        string // ModelVQAE or ModelLlama
	Tasks        string // llama: comma-separated TaskTrain, TaskGenerate
	GenTokens    int    // llama: generated tokens per measurement
	// TorchOMPWaitPolicy, if set, is PyTorch's OMP_WAIT_POLICY (llama: PASSIVE by default).
	TorchOMPWaitPolicy string
	// KVCases are the kv benchmark's caches, comma-separated ("" = all of KVCases).
	KVCases string
	// KVCalibrationWindows are the sampled sequences calibrated caches are fitted on (kv).
	KVCalibrationWindows int
}

// Measurement is one row of the report.
type Measurement struct {
	Name        string `json:"name"`           // "go", "onnx", "pytorch"
	Spec        string `json:"spec,omitempty"` // the backend spec given to framework.NewBackendFromSpec
	Description string `json:"description"`
	// MedianStepSeconds is the median train step of the fastest round; StepsPerSecond its inverse.
	MedianStepSeconds float64 `json:"median_step_seconds"`
	StepsPerSecond    float64 `json:"steps_per_second"`
	// RatioVsPyTorch is PyTorch's median step divided by this one (> 1: faster than PyTorch;
	// 0 when PyTorch was not measured).
	RatioVsPyTorch float64 `json:"ratio_vs_pytorch,omitempty"`
	// RoundMedians are the median steps of every round; LoadAvg the 1-minute load average
	// before each round.
	RoundMedians []float64 `json:"round_medians_seconds"`
	LoadAvg      []float64 `json:"load_avg_1min"`
	// WallStepsPerSecond are framework.Run's own speeds (compilation included), Go side only.
	WallStepsPerSecond []float64 `json:"wall_steps_per_second,omitempty"`
	// Peer is the last JSON line printed by torch_vqae.py (PyTorch only).
	Peer map[string]any `json:"peer,omitempty"`
}

// BuildFlags describe how the Go side was compiled.
type BuildFlags struct {
	GoVersion    string `json:"go_version"`
	GOEXPERIMENT string `json:"goexperiment"` // "" = none
	Tags         string `json:"tags"`
	CGO          string `json:"cgo_enabled"`
	GOAMD64      string `json:"goamd64,omitempty"`
}

// String is a one-line summary, e.g. "go1.27.3, GOEXPERIMENT=simd, -tags (none), CGO_ENABLED=1".
func (f BuildFlags) String() string {
	exp := f.GOEXPERIMENT
	if exp == "" {
		exp = "(none)"
	}
	tags := f.Tags
	if tags == "" {
		tags = "(none)"
	}
	s := fmt.Sprintf("%s, GOEXPERIMENT=%s, -tags %s, CGO_ENABLED=%s", f.GoVersion, exp, tags, f.CGO)
	if f.GOAMD64 != "" {
		s += ", GOAMD64=" + f.GOAMD64
	}
	return s
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	Kernel string `json:"kernel,omitempty"`
}

// Report is everything one run of the command measured.
type Report struct {
	Time    string          `json:"time"`
	Machine Machine         `json:"machine"`
	Build   BuildFlags      `json:"build"`
	Threads int             `json:"threads"`
	Steps   int             `json:"steps"`
	Rounds  int             `json:"rounds"`
	Config  json.RawMessage `json:"config"`
	Source  string          `json:"config_source"`
	Results []Measurement   `json:"results"`
}

func main() {
	var o Options
	flag.StringVar(&o.ConfigPath, "config", "", "config to benchmark (default "+DefaultConfig+" if found, else an inline SimVQ config)")
	flag.StringVar(&o.Set, "set", "", `extra overrides "key=value;..." (e.g. "vq_codebook_size=512")`)
	flag.IntVar(&o.Steps, "steps", 30, "train steps per measurement (Go: including the compiling first step; PyTorch: after -torch_warmup); llama: default 20")
	flag.IntVar(&o.Rounds, "rounds", 1, "repeat every measurement this many times, interleaved; the fastest round is reported (kv: the median, default 5)")
	flag.IntVar(&o.Threads, "threads", runtime.NumCPU(), "GOMAXPROCS and PyTorch's torch.set_num_threads")
	flag.StringVar(&o.Backends, "backends", "", "comma-separated backend specs (default: framework.AvailableBackends(); kv: the default backend and go)")
	flag.StringVar(&o.DataDir, "data_dir", fashionmnist.SystemDir, "directory of the Fashion-MNIST idx files, read by both sides (llama: the data directory of stories260K and Shakespeare; default framework.LocateData's search path)")
	flag.StringVar(&o.Python, "python", "/usr/bin/python3", "Python interpreter with torch")
	flag.IntVar(&o.TorchWarmup, "torch_warmup", 5, "untimed PyTorch steps before the timed ones (llama: default 2)")
	flag.StringVar(&o.TorchBLASDir, "torch_blas_dir", DefaultTorchBLASDir, "prepended to PyTorch's LD_LIBRARY_PATH if it exists (\"\" = leave the system's BLAS)")
	flag.BoolVar(&o.NoTorch, "no_torch", false, "do not run PyTorch")
	flag.StringVar(&o.JSONPath, "json", "", "write the report as JSON to this file")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the Go side to this file")
	flag.StringVar(&o.Model, "model", ModelVQAE, "model to benchmark: "+ModelVQAE+", "+ModelLlama+" or "+ModelKV+" (llama's generation with quantized key/value caches)")
	flag.StringVar(&o.Tasks, "tasks", TaskTrain+","+TaskGenerate, "llama: tasks to measure, comma-separated")
	flag.IntVar(&o.GenTokens, "gen_tokens", DefaultGenerateTokens, "llama: greedy tokens generated (forward passes) per measurement (kv: default 511, filling the context)")
	flag.StringVar(&o.KVCases, "kv_cases", "", "kv: caches to measure, comma-separated (default all; the fp32 "+KVPeerCase+" is always measured)")
	flag.IntVar(&o.KVCalibrationWindows, "kv_calibration_windows", DefaultKVCalibrationWindows, "kv: sequences the model samples to calibrate kvquant, rotation, vq and rvq on")
	flag.StringVar(&o.TorchOMPWaitPolicy, "torch_omp_wait_policy", "", `PyTorch's OMP_WAIT_POLICY ("" = libgomp's default; llama: default `+DefaultLlamaOMPWaitPolicy+`)`)
	flag.Parse()
	// Flags the command line left at their defaults take the model's own defaults below.
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["data_dir"] && o.Model != ModelVQAE {
		o.DataDir = "" // framework.LocateData's search path
	}
	var err error
	switch o.Model {
	case ModelVQAE:
		var report *Report
		report, err = Run(o, os.Stderr)
		if report != nil {
			PrintReport(os.Stdout, report)
		}
	case ModelLlama:
		if !set["steps"] {
			o.Steps = DefaultLlamaSteps
		}
		if !set["torch_warmup"] {
			o.TorchWarmup = DefaultLlamaTorchWarmup
		}
		if !set["torch_omp_wait_policy"] {
			o.TorchOMPWaitPolicy = DefaultLlamaOMPWaitPolicy
		}
		var report *LlamaReport
		report, err = RunLlama(o, os.Stderr)
		if report != nil {
			PrintLlamaReport(os.Stdout, report)
		}
	case ModelKV:
		if !set["rounds"] {
			o.Rounds = DefaultKVRounds
		}
		if !set["gen_tokens"] {
			o.GenTokens = DefaultKVTokens
		}
		var report *KVReport
		report, err = RunKV(o, os.Stderr)
		if report != nil {
			PrintKVReport(os.Stdout, report)
		}
	default:
		err = fmt.Errorf("-model %q: valid models are %s, %s and %s", o.Model, ModelVQAE, ModelLlama, ModelKV)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Run performs the benchmark described by o, logging progress to log. It returns the report
// (possibly partial, with the error that stopped it).
func Run(o Options, log io.Writer) (*Report, error) {
	if o.Steps < 1 || o.Rounds < 1 || o.Threads < 1 {
		return nil, fmt.Errorf("-steps (%d), -rounds (%d) and -threads (%d) must be ≥ 1", o.Steps, o.Rounds, o.Threads)
	}
	runtime.GOMAXPROCS(o.Threads)
	cfg, source, err := BenchConfig(o.ConfigPath, o.Steps, o.Set)
	if err != nil {
		return nil, err
	}
	specs := framework.AvailableBackends()
	if o.Backends != "" {
		specs = strings.Split(o.Backends, ",")
	}
	report := &Report{
		Time: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Build: ReadBuildFlags(),
		Threads: o.Threads, Steps: o.Steps, Rounds: o.Rounds, Config: cfg.JSON(), Source: source,
	}
	fmt.Fprintf(log, "bench: %s, %s; config %s; %d steps × %d rounds; %d threads\n",
		report.Machine.CPU, report.Build, source, o.Steps, o.Rounds, o.Threads)

	data, err := framework.LoadDataset(cfg.Dataset, o.DataDir, cfg.Params)
	if err != nil {
		return nil, err
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

	rows := make([]Measurement, len(specs))
	for i, spec := range specs {
		name, _, _ := strings.Cut(spec, ":")
		rows[i] = Measurement{Name: name, Spec: spec}
	}
	var torch *Measurement
	if !o.NoTorch {
		rows = append(rows, Measurement{Name: PyTorchName})
		torch = &rows[len(rows)-1]
	}
	report.Results = rows
	for round := range o.Rounds {
		for i := range specs {
			m := &rows[i]
			m.LoadAvg = append(m.LoadAvg, loadAvg())
			median, wall, desc, err := MeasureGoMLX(cfg, m.Spec, data)
			if err != nil {
				return report, err
			}
			m.Description = desc
			m.RoundMedians = append(m.RoundMedians, median)
			m.WallStepsPerSecond = append(m.WallStepsPerSecond, wall)
			fmt.Fprintf(log, "bench: round %d, %s: median step %.1f ms (load %.2f)\n", round+1, m.Spec, 1e3*median, m.LoadAvg[round])
		}
		if torch != nil {
			torch.LoadAvg = append(torch.LoadAvg, loadAvg())
			peer, err := MeasurePyTorch(o, cfg)
			if err != nil {
				return report, err
			}
			median, _ := peer["median_step_seconds"].(float64)
			torch.Peer = peer
			torch.Description = fmt.Sprintf("PyTorch %v, %v threads, BLAS %v", peer["torch_version"], peer["threads"], peer["blas"])
			torch.RoundMedians = append(torch.RoundMedians, median)
			fmt.Fprintf(log, "bench: round %d, pytorch: median step %.1f ms (load %.2f)\n", round+1, 1e3*median, torch.LoadAvg[round])
		}
	}
	summarize(report.Results)
	if o.JSONPath != "" {
		js, _ := json.MarshalIndent(report, "", "  ")
		if err := framework.WriteFileAtomic(o.JSONPath, append(js, '\n')); err != nil {
			return report, err
		}
	}
	return report, nil
}

// summarize fills each row's best median, speed and ratio against the PyTorch row (if any).
func summarize(rows []Measurement) {
	var torchMedian float64
	for i := range rows {
		m := &rows[i]
		if len(m.RoundMedians) == 0 {
			continue
		}
		m.MedianStepSeconds = slices.Min(m.RoundMedians)
		if m.MedianStepSeconds > 0 {
			m.StepsPerSecond = 1 / m.MedianStepSeconds
		}
		if m.Name == PyTorchName {
			torchMedian = m.MedianStepSeconds
		}
	}
	for i := range rows {
		if torchMedian > 0 && rows[i].MedianStepSeconds > 0 {
			rows[i].RatioVsPyTorch = torchMedian / rows[i].MedianStepSeconds
		}
	}
}

// BenchConfig loads the benchmarked config: path, or DefaultConfig found from the working
// directory upwards when path is "", or else the inline config; then the benchmark's overrides,
// steps, and the caller's set. It returns the config and where it came from.
func BenchConfig(path string, steps int, set string) (*framework.Config, string, error) {
	var cfg *framework.Config
	var err error
	source := path
	if path == "" {
		source = findUp(DefaultConfig)
	}
	if source != "" {
		cfg, err = framework.LoadConfig(source)
	} else {
		source = "inline config (" + DefaultConfig + " not found)"
		cfg, err = framework.ParseConfig([]byte(inlineConfig))
	}
	if err != nil {
		return nil, "", err
	}
	overrides := fmt.Sprintf("%s;steps=%d;log_every=%d;%s", benchOverrides, steps, steps, set)
	if err := cfg.Set(overrides); err != nil {
		return nil, "", fmt.Errorf("bench: overriding %s: %w", source, err)
	}
	if cfg.Model != "vqae" {
		return nil, "", fmt.Errorf("bench: %s trains model %q; the benchmark and its PyTorch peer are of %q", source, cfg.Model, "vqae")
	}
	return cfg, source, nil
}

// findUp returns rel resolved against the working directory or its nearest parent holding it
// ("" if none does), so the command works from the repository root and from bench/ (go test).
func findUp(rel string) string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, rel)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// MeasureGoMLX trains cfg on the backend of spec in a fresh temporary directory with
// framework.Run and returns the median train step (seconds), Run's own steps/s (compilation
// included) and the backend's description.
func MeasureGoMLX(cfg *framework.Config, spec string, data *framework.Data) (median, wallStepsPerSecond float64, description string, err error) {
	res, description, err := measureRun(cfg, spec, data, "")
	if err != nil {
		return 0, 0, "", err
	}
	return res.MedianStepSeconds, res.StepsPerSecond, description, nil
}

// measureRun is MeasureGoMLX with the data directory where cfg's init_from is looked for; it
// returns framework.Run's whole result.
func measureRun(cfg *framework.Config, spec string, data *framework.Data, dataDir string) (*framework.Result, string, error) {
	backend, err := framework.NewBackendFromSpec(spec)
	if err != nil {
		return nil, "", err
	}
	defer backend.Finalize()
	dir, err := os.MkdirTemp("", "qzoo-bench-")
	if err != nil {
		return nil, "", fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	res, err := framework.Run(cfg, framework.RunOptions{Dir: dir, DataDir: dataDir, Data: data, Backend: backend, Out: io.Discard, Quiet: true})
	if err != nil {
		return nil, "", fmt.Errorf("bench: training on %s: %w", spec, err)
	}
	if res.Step != int64(cfg.Steps) {
		return nil, "", fmt.Errorf("bench: training on %s stopped at step %d of %d", spec, res.Step, cfg.Steps)
	}
	return res, backend.Description(), nil
}

// TorchArgs are the arguments of torch_vqae.py that make it train the network of cfg with the
// options' data, threads and steps. Only SimVQ with its bias (the default) has a PyTorch peer.
func TorchArgs(o Options, cfg *framework.Config) ([]string, error) {
	p := cfg.Params
	if t, _ := p[vq.ParamType].(string); t != "simvq" {
		return nil, fmt.Errorf("bench: the PyTorch peer implements vq_type=simvq only, the config has %v", p[vq.ParamType])
	}
	if bias, _ := p[vq.ParamSimVQBias].(bool); !bias {
		return nil, fmt.Errorf("bench: the PyTorch peer implements SimVQ with its bias (%s=true)", vq.ParamSimVQBias)
	}
	if cfg.Optimizer != "adam" {
		return nil, fmt.Errorf("bench: the PyTorch peer uses Adam, the config has optimizer=%s", cfg.Optimizer)
	}
	return []string{
		"--threads", strconv.Itoa(o.Threads),
		"--batch", strconv.Itoa(cfg.BatchSize),
		"--warmup", strconv.Itoa(o.TorchWarmup),
		"--steps", strconv.Itoa(o.Steps),
		"--channels", fmt.Sprint(p[vqae.ParamChannels]),
		"--latent-dim", fmt.Sprint(p[vqae.ParamLatentDim]),
		"--codebook-size", fmt.Sprint(p[vq.ParamCodebookSize]),
		"--beta", fmt.Sprint(p[vq.ParamBeta]),
		"--lr", strconv.FormatFloat(cfg.LearningRate, 'g', -1, 64),
		"--seed", strconv.FormatInt(cfg.Seed, 10),
		"--data", o.DataDir,
	}, nil
}

// MeasurePyTorch runs the embedded torch_vqae.py and returns the JSON object it printed.
func MeasurePyTorch(o Options, cfg *framework.Config) (map[string]any, error) {
	args, err := TorchArgs(o, cfg)
	if err != nil {
		return nil, err
	}
	script, err := os.CreateTemp("", "torch_vqae-*.py")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.Remove(script.Name())
	if _, err := script.Write(torchScript); err != nil {
		script.Close()
		return nil, fmt.Errorf("bench: writing %s: %w", script.Name(), err)
	}
	if err := script.Close(); err != nil {
		return nil, fmt.Errorf("bench: writing %s: %w", script.Name(), err)
	}
	cmd := exec.Command(o.Python, append([]string{script.Name()}, args...)...)
	cmd.Env = torchEnv(os.Environ(), o.TorchBLASDir, o.Threads)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench: %s torch_vqae.py %s: %w\n%s", o.Python, strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	return ParsePeerOutput(stdout.Bytes())
}

// torchEnv is the environment of the PyTorch child: OMP_NUM_THREADS set to threads and, if
// blasDir exists, blasDir first on LD_LIBRARY_PATH.
func torchEnv(env []string, blasDir string, threads int) []string {
	out := make([]string, 0, len(env)+2)
	ldPath := ""
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, "OMP_NUM_THREADS="):
		case strings.HasPrefix(kv, "LD_LIBRARY_PATH="):
			ldPath = strings.TrimPrefix(kv, "LD_LIBRARY_PATH=")
		default:
			out = append(out, kv)
		}
	}
	if info, err := os.Stat(blasDir); blasDir != "" && err == nil && info.IsDir() {
		ldPath = strings.Trim(blasDir+":"+ldPath, ":")
	}
	if ldPath != "" {
		out = append(out, "LD_LIBRARY_PATH="+ldPath)
	}
	return append(out, "OMP_NUM_THREADS="+strconv.Itoa(threads))
}

// ParsePeerOutput returns the last line of out that is a JSON object, which must hold a positive
// "median_step_seconds".
func ParsePeerOutput(out []byte) (map[string]any, error) {
	return parsePeerJSON(out, "median_step_seconds")
}

// parsePeerJSON returns the last line of out that is a JSON object, which must hold a positive
// number under each of the required keys.
func parsePeerJSON(out []byte, required ...string) (map[string]any, error) {
	var last map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err == nil {
			last = obj
		}
	}
	if last == nil {
		return nil, fmt.Errorf("bench: the PyTorch peer printed no JSON line; its output was:\n%s", tail(string(out), 2000))
	}
	for _, key := range required {
		v, ok := last[key].(float64)
		if !ok || !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("bench: the PyTorch peer's JSON has no positive %s: %v", key, last)
		}
	}
	return last, nil
}

// ReadBuildFlags reads GOEXPERIMENT, build tags, cgo and GOAMD64 from the binary's build info.
func ReadBuildFlags() BuildFlags {
	f := BuildFlags{GoVersion: runtime.Version(), CGO: "?"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return f
	}
	f.GoVersion = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "GOEXPERIMENT":
			f.GOEXPERIMENT = s.Value
		case "-tags":
			f.Tags = s.Value
		case "CGO_ENABLED":
			f.CGO = s.Value
		case "GOAMD64":
			f.GOAMD64 = s.Value
		}
	}
	return f
}

// PrintReport writes the results table and the context needed to read it.
func PrintReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\nvqae train step, batch %d, %s\n", batchOf(r), r.Machine.CPU)
	fmt.Fprintf(w, "Go build: %s; threads %d; %d steps, fastest of %d round(s)\n\n", r.Build, r.Threads, r.Steps, r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tmedian step (ms)\tsteps/s\t× PyTorch\tload avg\t")
	for _, m := range r.Results {
		ratio := "-"
		if m.RatioVsPyTorch > 0 {
			ratio = fmt.Sprintf("%.2f", m.RatioVsPyTorch)
		}
		load := "-"
		if len(m.LoadAvg) > 0 {
			load = fmt.Sprintf("%.2f", slices.Max(m.LoadAvg))
		}
		if m.MedianStepSeconds == 0 {
			fmt.Fprintf(tw, "%s\t(not measured)\t\t\t%s\t\n", m.Name, load)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%s\t%s\t\n", m.Name, 1e3*m.MedianStepSeconds, m.StepsPerSecond, ratio, load)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\n× PyTorch = PyTorch's median step / the backend's (> 1: faster than PyTorch)")
	for _, m := range r.Results {
		fmt.Fprintf(w, "  %s: %s\n", m.Name, m.Description)
	}
}

func batchOf(r *Report) int {
	var c struct {
		BatchSize int `json:"batch_size"`
	}
	_ = json.Unmarshal(r.Config, &c)
	return c.BatchSize
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPU: "unknown CPU"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAvg is the 1-minute load average (-1 when unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return -1
	}
	return v
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
