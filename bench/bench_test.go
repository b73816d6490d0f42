package main

import (
	"fmt"
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
	"github.com/qzoo/qzoo/datasets/fashionmnist"
	"github.com/qzoo/qzoo/framework"
)

// benchWarmupSteps are the steps added to b.N in BenchmarkVQAETrainStep so that the median is
// taken over steady steps even when the harness asks for b.N = 1 (the first step compiles).
const benchWarmupSteps = 4

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

func TestInlineConfigMatchesDefaults(t *testing.T) {
	inline, _, err := BenchConfig(os.DevNull+".missing", 3, "")
	if err == nil {
		t.Fatalf("a missing -config file was accepted: %v", inline)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // DefaultConfig is not found from here
	cfg, source, err := BenchConfig("", 3, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(source, "inline") {
		t.Fatalf("source = %q from %s, want the inline config", source, os.TempDir())
	}
	t.Chdir(wd)
	file, _, err := BenchConfig("", 3, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"vq_type", "vq_codebook_size", "vqae_channels", "vqae_latent_dim", "vq_beta"} {
		if cfg.Params[key] != file.Params[key] {
			t.Errorf("inline config has %s=%v, %s has %v", key, cfg.Params[key], DefaultConfig, file.Params[key])
		}
	}
	if cfg.BatchSize != file.BatchSize || cfg.LearningRate != file.LearningRate {
		t.Errorf("inline config has batch %d lr %g, %s has %d %g", cfg.BatchSize, cfg.LearningRate,
			DefaultConfig, file.BatchSize, file.LearningRate)
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

func TestParsePeerOutput(t *testing.T) {
	out := []byte("warning: something\n{\"median_step_seconds\": 0.5}\n{\"median_step_seconds\": 0.07, \"threads\": 2}\n")
	got, err := ParsePeerOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	if got["median_step_seconds"] != 0.07 || got["threads"] != 2.0 {
		t.Errorf("got %v, want the last JSON line", got)
	}
	for _, bad := range []string{"", "Traceback ...\n", `{"steps_per_second": 3}`, `{"median_step_seconds": 0}`} {
		if _, err := ParsePeerOutput([]byte(bad)); err == nil {
			t.Errorf("output %q accepted", bad)
		}
	}
}

func TestSummarize(t *testing.T) {
	rows := []Measurement{
		{Name: "go", RoundMedians: []float64{0.4, 0.2, 0.3}},
		{Name: "onnx", RoundMedians: []float64{0.05}},
		{Name: PyTorchName, RoundMedians: []float64{0.12, 0.1}},
	}
	summarize(rows)
	for i, want := range []struct{ median, rate, ratio float64 }{{0.2, 5, 0.5}, {0.05, 20, 2}, {0.1, 10, 1}} {
		m := rows[i]
		if !near(m.MedianStepSeconds, want.median) || !near(m.StepsPerSecond, want.rate) || !near(m.RatioVsPyTorch, want.ratio) {
			t.Errorf("%s: median %g steps/s %g ratio %g, want %g %g %g", m.Name, m.MedianStepSeconds,
				m.StepsPerSecond, m.RatioVsPyTorch, want.median, want.rate, want.ratio)
		}
	}
	noTorch := []Measurement{{Name: "go", RoundMedians: []float64{0.2}}}
	summarize(noTorch)
	if noTorch[0].RatioVsPyTorch != 0 {
		t.Errorf("ratio without a PyTorch row = %g, want 0", noTorch[0].RatioVsPyTorch)
	}
}

func TestTorchEnv(t *testing.T) {
	blasDir := t.TempDir()
	env := torchEnv([]string{"PATH=/bin", "OMP_NUM_THREADS=16", "LD_LIBRARY_PATH=/opt/lib"}, blasDir, 2)
	want := []string{"PATH=/bin", "LD_LIBRARY_PATH=" + blasDir + ":/opt/lib", "OMP_NUM_THREADS=2"}
	if !slices.Equal(env, want) {
		t.Errorf("torchEnv = %v, want %v", env, want)
	}
	env = torchEnv([]string{"PATH=/bin"}, blasDir+"/missing", 1)
	if want := []string{"PATH=/bin", "OMP_NUM_THREADS=1"}; !slices.Equal(env, want) {
		t.Errorf("with a missing BLAS dir torchEnv = %v, want %v", env, want)
	}
}

func TestReadBuildFlags(t *testing.T) {
	f := ReadBuildFlags()
	if f.GoVersion != runtime.Version() {
		t.Errorf("GoVersion = %q, want %q", f.GoVersion, runtime.Version())
	}
	if s := f.String(); !strings.Contains(s, "GOEXPERIMENT=") || !strings.Contains(s, f.GoVersion) {
		t.Errorf("String() = %q lacks the Go version or GOEXPERIMENT", s)
	}
}

// TestEndToEnd runs the whole command for a few steps on the Go backend and, when
// /usr/bin/python3 has torch, the PyTorch peer: the same network must have the same number of
// trainable parameters on both sides.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the model on two backends (~1 min on 2 cores)")
	}
	const python = "/usr/bin/python3"
	noTorch := exec.Command(python, "-c", "import torch").Run() != nil
	o := Options{Steps: 3, Rounds: 1, Threads: runtime.NumCPU(), Backends: framework.GoBackend,
		DataDir: fashionmnist.SystemDir, Python: python, TorchWarmup: 1, TorchBLASDir: DefaultTorchBLASDir,
		NoTorch: noTorch, JSONPath: t.TempDir() + "/report.json"}
	fashionData(t)
	report, err := Run(o, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.JSONPath); err != nil {
		t.Errorf("-json file not written: %v", err)
	}
	goRow := report.Results[0]
	if goRow.Name != "go" || !(goRow.MedianStepSeconds > 0) {
		t.Errorf("go row = %+v, want a positive median", goRow)
	}
	if noTorch {
		t.Logf("%s has no torch: PyTorch peer not checked", python)
		return
	}
	torch := report.Results[1]
	if !(torch.MedianStepSeconds > 0) || !(goRow.RatioVsPyTorch > 0) {
		t.Errorf("pytorch row %+v / go ratio %g, want positive", torch, goRow.RatioVsPyTorch)
	}
	// Conv(1→32,k4) + Conv(32→64,k4) + Conv(64→16,k3) + SimVQ W,b + Conv(16→64,k3) + ConvT(64→32,k4) + ConvT(32→1,k4).
	const want = (16*32 + 32) + (16*32*64 + 64) + (9*64*16 + 16) + (16*16 + 16) + (9*16*64 + 64) + (16*64*32 + 32) + (16*32 + 1)
	cfg, _, err := BenchConfig("", 3, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := goTrainableParameters(t, cfg); got != want {
		t.Errorf("the Go model has %d trainable parameters, want %d", got, want)
	}
	if got := torch.Peer["parameters"]; got != float64(want) {
		t.Errorf("the PyTorch peer has %v trainable parameters, the Go model %d", got, want)
	}
}

// goTrainableParameters builds cfg's model graph (without running it) and counts the scalars of
// its trainable variables.
func goTrainableParameters(t *testing.T, cfg *framework.Config) int {
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
	x := graph.Parameter(g, "images", shapes.Make(dtypes.Float32, 2, 28, 28, 1))
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
