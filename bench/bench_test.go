package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/datasets/fashionmnist"
	"github.com/qzoo/qzoo/framework"
)

// benchWarmupSteps are the steps added to b.N in BenchmarkVQAETrainStep so that the median is
// taken over steady steps even when the harness asks for b.N = 1 (the first step compiles).
const benchWarmupSteps = 4

// python is the peers' interpreter in the tests.
const python = harness.DefaultPython

var (
	torchOnce    sync.Once
	torchMissing bool
)

// peerMissing reports whether python lacks torch (asked once: the interpreter takes seconds to
// start on a loaded machine), in which case the tests measure the Go side only.
func peerMissing(t *testing.T) bool {
	torchOnce.Do(func() { torchMissing = exec.Command(python, "-c", "import torch").Run() != nil })
	if torchMissing {
		t.Logf("%s has no torch: PyTorch peer not checked", python)
	}
	return torchMissing
}

var (
	loadDataOnce sync.Once
	loadedData   *framework.Data
	loadDataErr  error
)

func fashionData(tb testing.TB) *framework.Data {
	tb.Helper()
	loadDataOnce.Do(func() {
		loadedData, loadDataErr = framework.LoadDataset("fashion-mnist", fashionmnist.SystemDir, nil)
	})
	if loadDataErr != nil {
		tb.Fatalf("loading Fashion-MNIST from %s: %v", fashionmnist.SystemDir, loadDataErr)
	}
	return loadedData
}

// BenchmarkVQAETrainStep measures one train step of the benchmarked vqae config on every
// available backend; ns/op is the median step (compilation excluded). With the default
// -benchtime the harness settles on b.N = 1, i.e. 1+4 steps; for a steadier median use
//
//	GOEXPERIMENT=simd go test -run '^$' -bench VQAETrainStep -benchtime 30x ./bench
//	GOEXPERIMENT=simd go test -run '^$' -bench VQAETrainStep -benchtime 30x ./bench
func BenchmarkVQAETrainStep(b *testing.B) {
	data := fashionData(b)
	for _, spec := range framework.AvailableBackends() {
		name, _, _ := strings.Cut(spec, ":")
		b.Run(name, func(b *testing.B) {
			cfg, _, err := BenchConfig("", b.N+benchWarmupSteps, "")
			if err != nil {
				b.Fatal(err)
			}
			median, _, _, err := MeasureGoMLX(cfg, spec, data)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(median*1e9, "ns/op")
			b.ReportMetric(1/median, "steps/s")
		})
	}
}

// BenchmarkGoBackendOps times, on the pure-Go backend, the ops that BENCHMARKS.md finds
// needlessly slow in the vqae train step. Each "_xN" graph applies an op N times in a chain to a
// tensor of the size it has in the model; (time x11 − time x1)/10 is the cost of one op without
// the transfers in and out. The nearest-code variants compare layers/vq's distance formula with
// the cheaper argmin(‖c‖² − z·(2C)ᵀ), which has the same argmin.
//
//	GOEXPERIMENT=simd go test -run '^$' -bench GoBackendOps -benchtime 20x ./bench
func BenchmarkGoBackendOps(b *testing.B) {
	cols := shapes.Make(dtypes.Float32, 28800, 128)     // im2col matrix of the last ConvTranspose
	act := shapes.Make(dtypes.Float32, 128, 16, 16, 32) // padded input of a stride-2 conv
	chained := []struct {
		name  string
		shape shapes.Shape
		op    func(*graph.Node) *graph.Node
	}{
		{"AddScalar_28800x128", cols, func(x *graph.Node) *graph.Node { return graph.AddScalar(x, 1) }},
		{"IdentityTranspose_28800x128", cols, func(x *graph.Node) *graph.Node { return graph.TransposeAllAxes(x, 0, 1) }},
		{"AddScalar_128x16x16x32", act, func(x *graph.Node) *graph.Node { return graph.AddScalar(x, 1) }},
		{"SliceThenPad_128x16x16x32", act, func(x *graph.Node) *graph.Node {
			x = graph.Slice(x, graph.AxisRange(), graph.AxisRange(1, 16), graph.AxisRange(1, 16))
			zero := graph.ScalarZero(x.Graph(), x.DType())
			return graph.Pad(x, zero, graph.PadAxis{}, graph.PadAxis{Start: 1}, graph.PadAxis{Start: 1}, graph.PadAxis{})
		}},
	}
	for _, c := range chained {
		for _, n := range []int{1, 11} {
			b.Run(fmt.Sprintf("%s_x%d", c.name, n), func(b *testing.B) {
				timeGoGraph(b, c.shape, func(x *graph.Node) *graph.Node {
					for range n {
						x = c.op(x)
					}
					return graph.ReduceAllSum(x)
				})
			})
		}
	}
	latents := shapes.Make(dtypes.Float32, 128*7*7, 16)
	codebook := func(g *graph.Graph) *graph.Node { // [K=1024, D=16], any values will do
		return graph.DivScalar(graph.Iota(g, shapes.Make(dtypes.Float32, 1024, 16), 0), 1024)
	}
	b.Run("NearestCodes_vq", func(b *testing.B) {
		timeGoGraph(b, latents, func(z *graph.Node) *graph.Node {
			c := codebook(z.Graph())
			zNorm := graph.ReduceAndKeep(graph.Square(z), graph.ReduceSum, -1)
			cNorm := graph.InsertAxes(graph.ReduceSum(graph.Square(c), -1), 0)
			cross := graph.Einsum("nd,kd->nk", z, c)
			return graph.ArgMin(graph.Add(graph.Sub(zNorm, graph.MulScalar(cross, 2)), cNorm), -1, dtypes.Int32)
		})
	})
	b.Run("NearestCodes_rewritten", func(b *testing.B) {
		timeGoGraph(b, latents, func(z *graph.Node) *graph.Node {
			c := codebook(z.Graph())
			cNorm := graph.InsertAxes(graph.ReduceSum(graph.Square(c), -1), 0)
			cross := graph.Einsum("nd,kd->nk", z, graph.MulScalar(c, 2))
			return graph.ArgMin(graph.Sub(cNorm, cross), -1, dtypes.Int32)
		})
	})
}

// timeGoGraph compiles fn on the pure-Go backend and times calls on a fixed input of shape.
func timeGoGraph(b *testing.B, shape shapes.Shape, fn func(x *graph.Node) *graph.Node) {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		b.Fatal(err)
	}
	defer backend.Finalize()
	exec, err := graph.NewExec(backend, fn)
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Finalize()
	x := tensors.FromShape(shape)
	tensors.MutableFlatData(x, func(flat []float32) {
		for i := range flat {
			flat[i] = float32(i%97) / 97
		}
	})
	call := func() {
		out, err := exec.Call(x)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range out {
			t.MustFinalizeAll()
		}
	}
	call() // compiles
	b.ResetTimer()
	for b.Loop() {
		call()
	}
}

func TestBenchConfigOverrides(t *testing.T) {
	cfg, source, err := BenchConfig("", 7, "vq_codebook_size=256")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(source, DefaultConfig) {
		t.Errorf("source = %q, want the repository's %s found from bench/", source, DefaultConfig)
	}
	if cfg.Steps != 7 || cfg.LogEvery != 7 {
		t.Errorf("steps = %d, log_every = %d, want 7 and 7", cfg.Steps, cfg.LogEvery)
	}
	if cfg.LRSchedule != "constant" || cfg.WarmupSteps != 0 || cfg.EvalEvery != 0 || cfg.EvalExamples != 500 {
		t.Errorf("speed overrides not applied: lr_schedule=%s warmup=%d eval_every=%d eval_examples=%d",
			cfg.LRSchedule, cfg.WarmupSteps, cfg.EvalEvery, cfg.EvalExamples)
	}
	if got := cfg.Params["vq_codebook_size"]; got != 256 {
		t.Errorf("the caller's -set was not applied last: vq_codebook_size = %v, want 256", got)
	}
	if got := cfg.Params["vq_type"]; got != "simvq" {
		t.Errorf("vq_type = %v, want simvq", got)
	}
	if _, _, err := BenchConfig("", 5, "no_such_key=1"); err == nil {
		t.Error("an unknown -set key was accepted")
	}
}

// TestBenchConfigMissing: a missing -config file is an error, and so is running where
// configs/ cannot be found (the benchmark has no copy of its config).
func TestBenchConfigMissing(t *testing.T) {
	if _, _, err := BenchConfig(os.DevNull+".missing", 3, ""); err == nil {
		t.Error("a missing -config file was accepted")
	}
	t.Chdir(t.TempDir())
	if _, _, err := BenchConfig("", 3, ""); err == nil || !strings.Contains(err.Error(), DefaultConfig) {
		t.Errorf("outside the repository: %v, want an error naming %s", err, DefaultConfig)
	}
}

func TestTorchArgs(t *testing.T) {
	cfg, _, err := BenchConfig("", 9, "vqae_channels=8;vq_codebook_size=64;batch_size=32")
	if err != nil {
		t.Fatal(err)
	}
	args, err := TorchArgs(Options{Threads: 3, Steps: 9, TorchWarmup: 2, DataDir: "/data"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"--threads": "3", "--batch": "32", "--warmup": "2", "--steps": "9",
		"--channels": "8", "--latent-dim": "16", "--codebook-size": "64", "--beta": "0.25",
		"--lr": "0.001", "--data": "/data"}
	for flag, value := range want {
		i := slices.Index(args, flag)
		if i < 0 || i+1 >= len(args) || args[i+1] != value {
			t.Errorf("%s: args %v, want %s %s", flag, args, flag, value)
		}
	}
	for _, set := range []string{"vq_type=vq", "vq_simvq_bias=false", "optimizer=adamw"} {
		cfg, _, err := BenchConfig("", 9, set)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := TorchArgs(Options{Threads: 1}, cfg); err == nil {
			t.Errorf("-set %s: the PyTorch peer accepted a network it does not implement", set)
		}
	}
}

// TestTorchPeerEnv: the vqae and llama peers run with OMP_NUM_THREADS set to -threads and the
// OpenMP BLAS first on LD_LIBRARY_PATH when that directory exists; everything else, such as
// OPENBLAS_CORETYPE, is inherited as it is.
func TestTorchPeerEnv(t *testing.T) {
	blasDir := t.TempDir()
	t.Setenv("LD_LIBRARY_PATH", "/opt/lib")
	inherited := []string{"PATH=/bin", "OMP_NUM_THREADS=16", "OPENBLAS_CORETYPE=Haswell", "LD_LIBRARY_PATH=/opt/lib"}
	env := torchPeer(Options{Python: "python3", Threads: 2, TorchBLASDir: blasDir}, "torch_vqae.py").Environ(inherited)
	want := []string{"PATH=/bin", "OPENBLAS_CORETYPE=Haswell", "OMP_NUM_THREADS=2", "LD_LIBRARY_PATH=" + blasDir + ":/opt/lib"}
	if !slices.Equal(env, want) {
		t.Errorf("environment %v, want %v", env, want)
	}
	env = torchPeer(Options{Python: "python3", Threads: 1, TorchBLASDir: blasDir + "/missing"}, "torch_vqae.py").Environ([]string{"PATH=/bin"})
	if want := []string{"PATH=/bin", "OMP_NUM_THREADS=1"}; !slices.Equal(env, want) {
		t.Errorf("with a missing BLAS dir: environment %v, want %v", env, want)
	}
}

// TestRunModelFlags: the benchmark named and -model must agree; --help is flag.ErrHelp.
func TestRunModelFlags(t *testing.T) {
	if err := runModel(ModelLlama, []string{"-model", ModelKV}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "contradicts") {
		t.Errorf("llama with -model kv: %v", err)
	}
	if err := runModel("", []string{"-model", "nope"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("-model nope: %v", err)
	}
	if err := runModel(ModelVQAE, []string{"--help"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

// TestEndToEnd runs the whole command for a few steps on the Go backend and, when
// /usr/bin/python3 has torch, the PyTorch peer: the same network must have the same number of
// trainable parameters on both sides.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the model on two backends (~1 min on 2 cores)")
	}
	noTorch := peerMissing(t)
	o := Options{Steps: 3, Rounds: 1, Threads: runtime.NumCPU(), Backends: framework.GoBackend,
		DataDir: fashionmnist.SystemDir, Python: python, TorchWarmup: 1, TorchBLASDir: DefaultTorchBLASDir,
		NoTorch: noTorch, JSONPath: t.TempDir() + "/report.json"}
	fashionData(t)
	report, err := RunVQAE(o, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.JSONPath); err != nil {
		t.Errorf("-json file not written: %v", err)
	}
	goRow := report.Results[0]
	if goRow.Name != "go" || !(goRow.Value.Median > 0) || len(goRow.Value.Rounds) != 1 {
		t.Errorf("go row = %+v, want a positive median", goRow)
	}
	if noTorch {
		return
	}
	torch := report.Results[1]
	if !(torch.Value.Median > 0) || goRow.Ratio == nil || !(goRow.Ratio.Median > 0) {
		t.Errorf("pytorch row %+v / go row %+v, want a positive median and ratio", torch, goRow)
	}
	// Conv(1→32,k4) + Conv(32→64,k4) + Conv(64→16,k3) + SimVQ W,b + Conv(16→64,k3) + ConvT(64→32,k4) + ConvT(32→1,k4).
	const want = (16*32 + 32) + (16*32*64 + 64) + (9*64*16 + 16) + (16*16 + 16) + (9*16*64 + 64) + (16*64*32 + 32) + (16*32 + 1)
	cfg, _, err := BenchConfig("", 3, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := goTrainableParameters(t, cfg, shapes.Make(dtypes.Float32, 2, 28, 28, 1), false); got != want {
		t.Errorf("the Go model has %d trainable parameters, want %d", got, want)
	}
	if got := report.Peer["parameters"]; got != float64(want) {
		t.Errorf("the PyTorch peer has %v trainable parameters, the Go model %d", got, want)
	}
}

// goTrainableParameters builds cfg's model graph (without running it) on one input of the given
// shape, in training mode if training, and counts the scalars of its trainable variables.
func goTrainableParameters(t *testing.T, cfg *framework.Config, input shapes.Shape, training bool) int {
	m, err := framework.LookupModel(cfg.Model)
	if err != nil {
		t.Fatal(err)
	}
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	store := model.NewStore()
	store.SetParams(cfg.Params)
	g := graph.NewGraph(backend, "count_parameters")
	if training {
		store.SetTraining(g, true)
	}
	x := graph.Parameter(g, "input", input)
	m.Build(store.RootScope(), []*graph.Node{x})
	n := 0
	for v := range store.IterVariables() {
		if v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func near(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 }
