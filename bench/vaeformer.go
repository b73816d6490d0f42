package main

// The vaeformer benchmark (go run ./bench vaeformer): how fast the zoo trains the climate codec's
// model, models/vaeformer, on each available GoMLX backend, against the same network trained by
// PyTorch (bench/peers/torch_vaeformer.py) in the same run:
//
//	GOEXPERIMENT=simd go run ./bench vaeformer --rounds 3     # pure Go (SIMD kernels) and ONNX Runtime
//
// What each side measures. qzoo: for each backend of framework.AvailableBackends (or
// -backends), it trains configs/climate/vaeformer_full.json (ERA5 2 m temperature over the UK,
// 8-hour windows, batch 8; -config and -set change it) with framework.Run for -steps steps
// under vaeformerOverrides (constant learning rate, no warm-up, no intermediate evaluation or
// checkpoint, the final codec evaluation on the 72-hour validation split), and takes the median
// train step (the first, compiling step is one of -steps and does not move the median).
// PyTorch: torch_vaeformer.py trains the same network — same layers and parameter count, same
// loss with the hyperprior's rate term, Adam with the same hyperparameters — on the same
// training hours (written by this side to a temporary float32 file, with the normalisation
// and latitude weights the Go model calibrates), the same batch and thread count, and reports
// the median of -steps timed steps after -torch_warmup untimed ones. Each round measures every
// backend then PyTorch; the table (as vqae's) holds the median over -rounds rounds with the
// min and the max, and "× PyTorch" is PyTorch's median step over the backend's in the same
// round.
//
// Fairness: as vqae (GOMAXPROCS and torch.set_num_threads = -threads, OpenBLAS's OpenMP build
// first on PyTorch's LD_LIBRARY_PATH), and PyTorch runs with OMP_WAIT_POLICY=PASSIVE
// (-torch_omp_wait_policy), as the llama benchmark's peer: with libgomp's spinning threads any
// other process on the cores makes PyTorch many times slower.
//
// -json FILE writes the whole report; -cpuprofile FILE profiles the Go side.

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/datasets/era5"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/metrics"
	"github.com/qzoo/qzoo/models/vaeformer"
)

// ModelVAEformer names the vaeformer benchmark.
const ModelVAEformer = "vaeformer"

// DefaultVAEformerConfig is the config the vaeformer benchmark starts from, relative to the
// repository root.
const DefaultVAEformerConfig = "configs/climate/vaeformer_full.json"

// DefaultVAEformerOMPWaitPolicy is PyTorch's OMP_WAIT_POLICY in the vaeformer benchmark (see the
// file's doc).
const DefaultVAEformerOMPWaitPolicy = "PASSIVE"

// vaeformerOverrides make the config a pure speed measurement: a constant learning rate (as the
// PyTorch peer's plain Adam), no intermediate evaluation or checkpoint, and the final codec
// evaluation on the shorter validation split. The step count is appended by VAEformerConfig.
const vaeformerOverrides = "lr_schedule=constant;warmup_steps=0;eval_every=0;checkpoint_every=0;eval_split=validation"

// VAEformerConfig loads the benchmarked VAEformer config: path, or DefaultVAEformerConfig found
// from the working directory upwards when path is "", then the benchmark's overrides, steps and
// the caller's set. The PyTorch peer implements only what it checks: the vaeformer model on the
// era5 dataset, Adam with a constant learning rate, no gradient clipping, nothing frozen or
// initialised from elsewhere.
func VAEformerConfig(path string, steps int, set string) (*framework.Config, string, error) {
	source := path
	if source == "" {
		var err error
		if source, err = harness.FindConfig(DefaultVAEformerConfig); err != nil {
			return nil, "", err
		}
	}
	cfg, err := framework.LoadConfig(source)
	if err != nil {
		return nil, "", err
	}
	overrides := fmt.Sprintf("%s;steps=%d;log_every=%d;%s", vaeformerOverrides, steps, steps, set)
	if err := cfg.Set(overrides); err != nil {
		return nil, "", fmt.Errorf("bench: overriding %s: %w", source, err)
	}
	switch {
	case cfg.Model != ModelVAEformer:
		err = fmt.Errorf("trains model %q; the benchmark and its PyTorch peer are of %q", cfg.Model, ModelVAEformer)
	case cfg.Dataset != era5.DatasetName:
		err = fmt.Errorf("uses dataset %q; the PyTorch peer reads %q's training hours", cfg.Dataset, era5.DatasetName)
	case cfg.Optimizer != "adam":
		err = fmt.Errorf("uses optimizer=%s; the PyTorch peer has Adam", cfg.Optimizer)
	case cfg.LRSchedule != "constant" || cfg.WarmupSteps != 0:
		err = fmt.Errorf("has lr_schedule=%s, warmup_steps=%d; the PyTorch peer's learning rate is constant", cfg.LRSchedule, cfg.WarmupSteps)
	case cfg.ClipGradNorm != 0 || cfg.Freeze != "" || cfg.InitFrom != "" || cfg.TeacherFrom != "":
		err = fmt.Errorf("clips gradients, freezes variables, or starts from or distils another model; the PyTorch peer does none of these")
	}
	if err != nil {
		return nil, "", fmt.Errorf("bench: %s %w", source, err)
	}
	return cfg, source, nil
}

// RunVAEformer performs the vaeformer benchmark described by o, logging progress to log. It
// returns the report (possibly partial, with the error that stopped it), written to o.JSONPath
// when that is set; its rows' Details are *TrainStepDetails.
func RunVAEformer(o Options, log io.Writer) (*harness.Report, error) {
	report, cfg, data, err := beginTrainStepBench(o, ModelVAEformer, VAEformerConfig, log)
	if err != nil {
		return nil, err
	}
	src, ok := data.Source.(*era5.Dataset)
	if !ok {
		return nil, fmt.Errorf("bench: dataset %s loaded as %T, not ERA5's", cfg.Dataset, data.Source)
	}
	var args []string
	if !o.NoTorch {
		file, shape, err := writeTrainingHours(src)
		if err != nil {
			return nil, err
		}
		defer os.Remove(file)
		args = TorchVAEformerArgs(o, cfg, src, file, shape)
	}
	stop, err := startProfile(o.CPUProfile)
	if err != nil {
		return nil, err
	}
	defer stop()
	peer := func() (map[string]any, error) {
		p := torchPeer(o, "torch_vaeformer.py")
		if o.TorchOMPWaitPolicy != "" {
			p.Set = append(p.Set, "OMP_WAIT_POLICY="+o.TorchOMPWaitPolicy)
		}
		return p.Run(args, "median_step_seconds", "parameters")
	}
	if err := runTrainSteps(report, o, cfg, data, o.DataDir, peer, log); err != nil {
		return report, err
	}
	return report, report.WriteJSON(o.JSONPath)
}

// writeTrainingHours writes the training split's fields in physical units to a temporary file,
// little-endian float32 [C, T, H, W], for the PyTorch peer; it returns the file and its shape.
func writeTrainingHours(src *era5.Dataset) (string, [4]int, error) {
	fields, hours, err := src.SplitFields(framework.SplitTrain)
	if err != nil {
		return "", [4]int{}, fmt.Errorf("bench: %w", err)
	}
	shape := [4]int{len(fields), hours, len(src.Lat), len(src.Lon)}
	buf := make([]byte, 0, 4*shape[0]*shape[1]*shape[2]*shape[3])
	for _, f := range fields {
		for _, v := range f {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	file, err := writeTempFile("qzoo-bench-era5-*.f32", buf)
	return file, shape, err
}

// TorchVAEformerArgs are the arguments of torch_vaeformer.py that make it train the network of
// cfg on the training hours in file (shape C, T, H, W) with src's normalisation and latitude
// weights, and the options' threads and steps.
func TorchVAEformerArgs(o Options, cfg *framework.Config, src *era5.Dataset, file string, shape [4]int) []string {
	p := cfg.Params
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	list := func(vs []float64) string {
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = num(v)
		}
		return strings.Join(s, ",")
	}
	floatParam := func(key string, def float64) string {
		if v, ok := p[key].(float64); ok {
			return num(v)
		}
		return num(def)
	}
	args := []string{
		"--data", file,
		"--shape", fmt.Sprintf("%d,%d,%d,%d", shape[0], shape[1], shape[2], shape[3]),
		"--mean", list(src.Mean),
		"--std", list(src.Std),
		"--threads", strconv.Itoa(o.Threads),
		"--batch", strconv.Itoa(cfg.BatchSize),
		"--warmup", strconv.Itoa(o.TorchWarmup),
		"--steps", strconv.Itoa(o.Steps),
		"--window", fmt.Sprint(p[era5.ParamWindow]),
		"--patch", fmt.Sprint(p[vaeformer.ParamPatch]),
		"--dim", fmt.Sprint(p[vaeformer.ParamDim]),
		"--heads", fmt.Sprint(p[vaeformer.ParamHeads]),
		"--encoder-layers", fmt.Sprint(p[vaeformer.ParamEncoderLayers]),
		"--decoder-layers", fmt.Sprint(p[vaeformer.ParamDecoderLayers]),
		"--latent", fmt.Sprint(p[vaeformer.ParamLatent]),
		"--hyper-latent", fmt.Sprint(p[vaeformer.ParamHyperLatent]),
		"--hyper-dim", fmt.Sprint(p[vaeformer.ParamHyperDim]),
		"--lambda", fmt.Sprint(p[vaeformer.ParamLambda]),
		"--kl-weight", fmt.Sprint(p[vaeformer.ParamKLWeight]),
		"--lr", num(cfg.LearningRate),
		"--beta1", floatParam(optimizer.ParamAdamBeta1, 0.9),
		"--beta2", floatParam(optimizer.ParamAdamBeta2, 0.999),
		"--eps", floatParam(optimizer.ParamAdamEpsilon, 1e-7),
		"--seed", strconv.FormatInt(cfg.Seed, 10),
	}
	if weighted, _ := p[vaeformer.ParamLatWeighted].(bool); weighted {
		args = append(args, "--lat-weights", list(metrics.LatCosWeights(src.Lat)))
	}
	if noise, _ := p[vaeformer.ParamDecoderNoise].(bool); noise {
		args = append(args, "--decoder-noise")
	}
	return args
}

// PrintVAEformerReport writes the vaeformer results table and the context needed to read it.
func PrintVAEformerReport(w io.Writer, r *harness.Report) { printTrainStepReport(w, r, ModelVAEformer) }
