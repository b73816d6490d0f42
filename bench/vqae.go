package main

// The vqae benchmark (go run ./bench vqae): how fast the zoo trains models/vqae on each
// available GoMLX backend, against the same network trained by PyTorch (bench/peers/torch_vqae.py)
// in the same run:
//
//	go run ./bench vqae                      # pure-Go backend without SIMD matmul, and ONNX Runtime if installed
//	GOEXPERIMENT=simd go run ./bench vqae    # pure-Go backend with its SIMD kernels, and ONNX Runtime
//
// ONNX Runtime is compiled in wherever cgo is (-tags noonnx leaves it out) and measured when
// scripts/setup-onnxruntime.sh has installed its library.
//
// What each side measures. qzoo: for each backend of framework.AvailableBackends, it trains
// the SimVQ autoencoder of configs/vq/simvq_fashion.json with framework.Run for -steps steps
// (constant learning rate, no warm-up, a small final evaluation, all in a temporary directory)
// and takes the median train step (the first step, which compiles the graph, is one of -steps
// and does not move the median). PyTorch: torch_vqae.py trains the same architecture on the
// same batch, data files, optimizer and thread count, and reports the median of -steps timed
// steps after -torch_warmup untimed ones. Each round measures every backend then PyTorch; the
// table holds the median over -rounds rounds with the min and the max:
//
//	backend | median step | steps/s | × PyTorch
//
// where "× PyTorch" is PyTorch's median step divided by the backend's in the same round (the
// median of those ratios): above 1 the backend is faster than PyTorch.
//
// Fairness: GOMAXPROCS and torch.set_num_threads are both set to -threads (default: all cores);
// ONNX Runtime uses its default intra-op pool, one thread per physical core. PyTorch is started
// with OMP_NUM_THREADS=-threads and OpenBLAS's OpenMP build first on LD_LIBRARY_PATH when it is
// installed (-torch_blas_dir): Debian's default libblas.so.3 alternative is the pthread build,
// whose threads fight PyTorch's OpenMP pool and make PyTorch several times slower. The rest of
// its environment is inherited as it is (the header lists what matters).
//
// -json FILE writes the whole report; -cpuprofile FILE profiles the Go side (PyTorch runs in a
// child process and is not in the profile): go tool pprof -top FILE.

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/datasets/fashionmnist"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/vq"
	_ "github.com/qzoo/qzoo/models/all"
	"github.com/qzoo/qzoo/models/vqae"
)

// DefaultConfig is the config benchmarked, relative to the repository root.
const DefaultConfig = "configs/vq/simvq_fashion.json"

// benchOverrides make a config a pure speed measurement: a constant learning rate (as the PyTorch
// peer's plain Adam), no intermediate evaluation or checkpoint, and a small final evaluation.
// The step count is appended by BenchConfig.
const benchOverrides = "lr_schedule=constant;warmup_steps=0;eval_every=0;checkpoint_every=0;eval_examples=500;eval_batch_size=500"

// DefaultTorchBLASDir holds Debian's OpenMP build of OpenBLAS (package libopenblas0-openmp).
const DefaultTorchBLASDir = "/usr/lib/x86_64-linux-gnu/openblas-openmp"

// PyTorchName is the name of the PyTorch rows of the reports.
const PyTorchName = "pytorch"

// Per-round numbers of the vqae benchmark.
const (
	MetricStepSeconds = "step_seconds"
	CaseTrainStep     = "train_step"
)

// Options are the flags of the vqae, llama, vaeformer and kv benchmarks.
type Options struct {
	ConfigPath   string // config file; "" = the benchmark's config under configs/
	Set          string // extra "key=value;..." overrides, applied last
	Steps        int    // train steps per measurement (Go and PyTorch alike)
	Rounds       int    // interleaved repetitions of every measurement
	Threads      int    // GOMAXPROCS and torch.set_num_threads
	Backends     string // comma-separated backend specs ("" = framework.AvailableBackends)
	DataDir      string // directory of the Fashion-MNIST idx files, given to both sides
	Python       string // interpreter with torch
	TorchWarmup  int    // untimed PyTorch steps before the timed ones
	TorchBLASDir string // prepended to PyTorch's LD_LIBRARY_PATH when it exists ("" = none)
	NoTorch      bool   // skip PyTorch
	JSONPath     string // write the report here
	CPUProfile   string // CPU profile of the Go side
	Model        string // ModelVQAE, ModelLlama or ModelKV
	Tasks        string // llama: comma-separated TaskTrain, TaskGenerate
	GenTokens    int    // llama: generated tokens per measurement
	GenBatches   string // llama: comma-separated batch sizes of the generation task
	// TorchOMPWaitPolicy, if set, is PyTorch's OMP_WAIT_POLICY (llama: PASSIVE by default).
	TorchOMPWaitPolicy string
	// KVCases are the kv benchmark's caches, comma-separated ("" = all of DefaultKVCases).
	KVCases string
	// KVCalibrationWindows are the sampled sequences calibrated caches are fitted on (kv).
	KVCalibrationWindows int
}

// runModel parses the flags of the vqae, llama, vaeformer and kv benchmarks (model "" takes -model's) and
// runs the benchmark, printing its header and table to stdout and its progress to log.
func runModel(model string, args []string, stdout, log io.Writer) error {
	var o Options
	name := "bench " + model
	if model == "" {
		name = "bench"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&o.ConfigPath, "config", "", "config to benchmark (default "+DefaultConfig+"; llama: "+DefaultLlamaConfig+"; vaeformer: "+DefaultVAEformerConfig+")")
	fs.StringVar(&o.Set, "set", "", `extra overrides "key=value;..." (e.g. "vq_codebook_size=512")`)
	fs.IntVar(&o.Steps, "steps", 30, "train steps per measurement (Go: including the compiling first step; PyTorch: after -torch_warmup); llama: default 20")
	fs.IntVar(&o.Rounds, "rounds", 1, "repeat every measurement this many times, interleaved; the table holds the median, min and max (kv: default 5)")
	fs.IntVar(&o.Threads, "threads", runtime.NumCPU(), "GOMAXPROCS and PyTorch's torch.set_num_threads")
	fs.StringVar(&o.Backends, "backends", "", "comma-separated backend specs (default: framework.AvailableBackends(); kv: the default backend and go)")
	fs.StringVar(&o.DataDir, "data_dir", fashionmnist.SystemDir, "directory of the Fashion-MNIST idx files, read by both sides (llama, kv, vaeformer: the data directory of stories260K and Shakespeare, or of ERA5; default framework.LocateData's search path)")
	fs.StringVar(&o.Python, "python", harness.DefaultPython, "Python interpreter with torch")
	fs.IntVar(&o.TorchWarmup, "torch_warmup", 5, "untimed PyTorch steps before the timed ones (llama: default 2)")
	fs.StringVar(&o.TorchBLASDir, "torch_blas_dir", DefaultTorchBLASDir, "prepended to PyTorch's LD_LIBRARY_PATH if it exists (\"\" = leave the system's BLAS)")
	fs.BoolVar(&o.NoTorch, "no_torch", false, "do not run PyTorch")
	fs.StringVar(&o.JSONPath, "json", "", "write the report as JSON to this file")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the Go side to this file")
	fs.StringVar(&o.Model, "model", ModelVQAE, "with no benchmark named: "+ModelVQAE+", "+ModelLlama+" or "+ModelKV+" (the command's former form)")
	fs.StringVar(&o.Tasks, "tasks", TaskTrain+","+TaskGenerate, "llama: tasks to measure, comma-separated")
	fs.StringVar(&o.GenBatches, "gen_batches", DefaultGenerateBatches, "llama: batch sizes (sequences decoded together) of the generation task, comma-separated")
	fs.IntVar(&o.GenTokens, "gen_tokens", DefaultGenerateTokens, "llama: greedy tokens generated (forward passes) per measurement (kv: default 511, filling the context)")
	fs.StringVar(&o.KVCases, "kv_cases", "", "kv: caches to measure, comma-separated names or configs/kv file names (default "+strings.Join(DefaultKVCases, ",")+"; the fp32 "+KVPeerCase+" is always measured)")
	fs.IntVar(&o.KVCalibrationWindows, "kv_calibration_windows", DefaultKVCalibrationWindows, "kv: sequences the model samples to calibrate kvquant, rotation, vq and rvq on")
	fs.StringVar(&o.TorchOMPWaitPolicy, "torch_omp_wait_policy", "", `PyTorch's OMP_WAIT_POLICY ("" = inherited; llama: default `+DefaultLlamaOMPWaitPolicy+`; vaeformer: default `+DefaultVAEformerOMPWaitPolicy+`)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// Flags the command line left at their defaults take the model's own defaults below.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if model != "" {
		if set["model"] && o.Model != model {
			return fmt.Errorf("-model %s contradicts the benchmark named, %s", o.Model, model)
		}
		o.Model = model
	}
	if !set["data_dir"] && o.Model != ModelVQAE {
		o.DataDir = "" // framework.LocateData's search path
	}
	var report *harness.Report
	var err error
	var print func(io.Writer, *harness.Report)
	switch o.Model {
	case ModelVQAE:
		report, err = RunVQAE(o, log)
		print = PrintVQAEReport
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
		report, err = RunLlama(o, log)
		print = PrintLlamaReport
	case ModelVAEformer:
		if !set["torch_omp_wait_policy"] {
			o.TorchOMPWaitPolicy = DefaultVAEformerOMPWaitPolicy
		}
		report, err = RunVAEformer(o, log)
		print = PrintVAEformerReport
	case ModelKV:
		if !set["rounds"] {
			o.Rounds = DefaultKVRounds
		}
		if !set["gen_tokens"] {
			o.GenTokens = DefaultKVTokens
		}
		report, err = RunKV(o, log)
		print = PrintKVReport
	default:
		return fmt.Errorf("-model %q: valid models are %s, %s, %s and %s", o.Model, ModelVQAE, ModelLlama, ModelVAEformer, ModelKV)
	}
	if report != nil {
		report.Header.Print(stdout)
		print(stdout, report)
	}
	return err
}

// startProfile starts a CPU profile of the Go side into path ("" = none); the returned function
// stops it.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: starting the CPU profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// backendSpecs are -backends, or else framework.AvailableBackends.
func backendSpecs(list string) []string {
	if list != "" {
		return strings.Split(list, ",")
	}
	return framework.AvailableBackends()
}

// RunVQAE performs the vqae benchmark described by o, logging progress to log. It returns the
// report (possibly partial, with the error that stopped it), written to o.JSONPath when that
// is set; its rows' Details are *TrainStepDetails.
func RunVQAE(o Options, log io.Writer) (*harness.Report, error) {
	report, cfg, data, err := beginTrainStepBench(o, ModelVQAE, BenchConfig, log)
	if err != nil {
		return nil, err
	}
	stop, err := startProfile(o.CPUProfile)
	if err != nil {
		return nil, err
	}
	defer stop()
	err = runTrainSteps(report, o, cfg, data, "", func() (map[string]any, error) { return MeasurePyTorch(o, cfg) }, log)
	if err != nil {
		return report, err
	}
	return report, report.WriteJSON(o.JSONPath)
}

// BenchConfig loads the benchmarked config: path, or DefaultConfig found from the working
// directory upwards when path is ""; then the benchmark's overrides, steps, and the caller's
// set. It returns the config and where it came from.
func BenchConfig(path string, steps int, set string) (*framework.Config, string, error) {
	if path == "" {
		var err error
		if path, err = harness.FindConfig(DefaultConfig); err != nil {
			return nil, "", err
		}
	}
	cfg, err := framework.LoadConfig(path)
	if err != nil {
		return nil, "", err
	}
	overrides := fmt.Sprintf("%s;steps=%d;log_every=%d;%s", benchOverrides, steps, steps, set)
	if err := cfg.Set(overrides); err != nil {
		return nil, "", fmt.Errorf("bench: overriding %s: %w", path, err)
	}
	if cfg.Model != ModelVQAE {
		return nil, "", fmt.Errorf("bench: %s trains model %q; the benchmark and its PyTorch peer are of %q", path, cfg.Model, ModelVQAE)
	}
	return cfg, path, nil
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

// torchPeer is the PyTorch peer of the vqae and llama benchmarks: script of bench/peers run by
// o.Python with OMP_NUM_THREADS set to o.Threads and, if o.TorchBLASDir exists, that directory
// first on LD_LIBRARY_PATH (see the package doc); the rest of the environment is inherited.
func torchPeer(o Options, script string) harness.Peer {
	p := harness.Peer{Command: o.Python, Script: script, Set: []string{"OMP_NUM_THREADS=" + strconv.Itoa(o.Threads)}}
	if info, err := os.Stat(o.TorchBLASDir); o.TorchBLASDir != "" && err == nil && info.IsDir() {
		p.Set = append(p.Set, "LD_LIBRARY_PATH="+strings.Trim(o.TorchBLASDir+":"+os.Getenv("LD_LIBRARY_PATH"), ":"))
	}
	return p
}

// MeasurePyTorch runs torch_vqae.py and returns the JSON object it printed.
func MeasurePyTorch(o Options, cfg *framework.Config) (map[string]any, error) {
	args, err := TorchArgs(o, cfg)
	if err != nil {
		return nil, err
	}
	return torchPeer(o, "torch_vqae.py").Run(args, "median_step_seconds")
}

// PrintVQAEReport writes the vqae results table and the context needed to read it.
func PrintVQAEReport(w io.Writer, r *harness.Report) { printTrainStepReport(w, r, ModelVQAE) }

// ratio formats the median of a ratio Stat ("-" when none was measured).
func ratio(s *harness.Stat) string {
	if s == nil || !s.Measured() {
		return "-"
	}
	return fmt.Sprintf("%.2f", s.Median)
}

// loadRange formats the load averages before the rounds as "min–max" ("-" when none).
func loadRange(l []float64) string {
	if len(l) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(l), slices.Max(l))
}
