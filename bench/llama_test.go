package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/models/llama"
)

// sharedDataDir holds stories260K, tok512 and Shakespeare (as in models/llama's tests).
var sharedDataDir = datadir.Root()

// llamaGreedyPrefix starts llama2.c's published greedy output of stories260K.
const llamaGreedyPrefix = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."

func TestLlamaConfig(t *testing.T) {
	cfg, source, err := LlamaConfig("", 7, "learning_rate=0.001")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(source, DefaultLlamaConfig) {
		t.Errorf("source = %q, want the repository's %s found from bench/", source, DefaultLlamaConfig)
	}
	if cfg.Model != ModelLlama || cfg.Dataset != "text" || cfg.InitFrom != llama.Stories260KFile {
		t.Errorf("model %q dataset %q init_from %q, want llama on text from %s", cfg.Model, cfg.Dataset, cfg.InitFrom, llama.Stories260KFile)
	}
	if cfg.BatchSize != 32 || cfg.Params["text_seq_len"] != 256 || cfg.Optimizer != "adamw" || cfg.WeightDecay != 0.1 {
		t.Errorf("batch %d × %v with %s (weight decay %g), want 32 × 256 with adamw (0.1)", cfg.BatchSize, cfg.Params["text_seq_len"], cfg.Optimizer, cfg.WeightDecay)
	}
	if cfg.Steps != 7 || cfg.LogEvery != 7 || cfg.LRSchedule != "constant" || cfg.EvalEvery != 0 || cfg.EvalExamples != 32 {
		t.Errorf("speed overrides not applied: steps %d log_every %d lr_schedule %s eval_every %d eval_examples %d",
			cfg.Steps, cfg.LogEvery, cfg.LRSchedule, cfg.EvalEvery, cfg.EvalExamples)
	}
	if cfg.LearningRate != 0.001 {
		t.Errorf("the caller's -set was not applied last: learning_rate = %g", cfg.LearningRate)
	}
	for _, set := range []string{"optimizer=sgd", "lr_schedule=cosine", "clip_grad_norm=1", "freeze=^/embedding/", "no_such_key=1"} {
		if _, _, err := LlamaConfig("", 3, set); err == nil {
			t.Errorf("-set %s: accepted a run the PyTorch peer does not implement", set)
		}
	}
	if _, _, err := LlamaConfig(filepath.Join("..", DefaultConfig), 3, ""); err == nil {
		t.Errorf("the vqae config %s was accepted for the llama benchmark", DefaultConfig)
	}
}

func TestLlamaTasks(t *testing.T) {
	got, err := llamaTasks("generate, train,generate")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{TaskGenerate, TaskTrain}; !slices.Equal(got, want) {
		t.Errorf("tasks = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "train,", "quantize"} {
		if _, err := llamaTasks(bad); err == nil {
			t.Errorf("-tasks %q accepted", bad)
		}
	}
}

func TestTorchLlamaArgs(t *testing.T) {
	cfg, _, err := LlamaConfig("", 9, "batch_size=8;text_seq_len=64;weight_decay=0.01;adam_epsilon=1e-8")
	if err != nil {
		t.Fatal(err)
	}
	expect := make([]int, 250)
	for i := range expect {
		expect[i] = i
	}
	o := Options{Threads: 3, Steps: 9, TorchWarmup: 2, GenTokens: 100}
	args := TorchLlamaArgs(o, cfg, "/w/stories260K.bin", "/tmp/t.i32", []string{TaskTrain, TaskGenerate}, []int{1, 8}, expect)
	want := map[string]string{"--checkpoint": "/w/stories260K.bin", "--tokens": "/tmp/t.i32", "--threads": "3",
		"--batch": "8", "--seq-len": "64", "--warmup": "2", "--steps": "9", "--lr": "0.0005",
		"--weight-decay": "0.01", "--beta1": "0.9", "--beta2": "0.999", "--eps": "1e-08", "--gen-tokens": "100",
		"--gen-runs": strconv.Itoa(GenerateTimedRuns), "--gen-batches": "1,8", "--seed": "1"}
	for flag, value := range want {
		if i := slices.Index(args, flag); i < 0 || i+1 >= len(args) || args[i+1] != value {
			t.Errorf("%s: args %v, want %s %s", flag, args, flag, value)
		}
	}
	i := slices.Index(args, "--expect-tokens")
	if i < 0 || strings.Count(args[i+1], ",") != CheckedTokens-1 || !strings.HasPrefix(args[i+1], "0,1,2,") {
		t.Errorf("--expect-tokens: args %v, want the first %d tokens", args, CheckedTokens)
	}
	genOnly := TorchLlamaArgs(o, cfg, "/w/stories260K.bin", "", []string{TaskGenerate}, []int{1}, nil)
	if i := slices.Index(genOnly, "--steps"); genOnly[i+1] != "0" || slices.Contains(genOnly, "--tokens") || slices.Contains(genOnly, "--expect-tokens") {
		t.Errorf("generation only: args %v, want --steps 0 and no --tokens or --expect-tokens", genOnly)
	}
}

func TestLlamaBatches(t *testing.T) {
	got, err := llamaBatches("1, 8,1")
	if err != nil || !slices.Equal(got, []int{1, 8}) {
		t.Errorf("llamaBatches(\"1, 8,1\") = %v, %v; want [1 8]", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-2"} {
		if _, err := llamaBatches(bad); err == nil {
			t.Errorf("llamaBatches(%q) accepted", bad)
		}
	}
}

func TestFirstDifference(t *testing.T) {
	for _, c := range []struct {
		a, b []int
		want int
	}{{[]int{1, 2}, []int{1, 2}, -1}, {[]int{1, 2}, []int{1, 3}, 1}, {[]int{1}, []int{1, 2}, 1}, {nil, nil, -1}} {
		if got := firstDifference(c.a, c.b); got != c.want {
			t.Errorf("firstDifference(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestLlamaEndToEnd runs the Llama benchmark at a small size on the Go backend and, when
// /usr/bin/python3 has torch, the PyTorch peer, which must reproduce the Go model's greedy
// tokens; the Go model's text must be llama2.c's, and both sides must train the same number
// of parameters.
func TestLlamaEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("fine-tunes and runs stories260K on Go and PyTorch (~20 s on 2 cores)")
	}
	noTorch := peerMissing(t)
	const genTokens = 48
	o := Options{Steps: 2, Rounds: 1, Threads: runtime.NumCPU(), Backends: framework.GoBackend,
		DataDir: sharedDataDir, Python: python, TorchWarmup: 1, TorchBLASDir: DefaultTorchBLASDir,
		TorchOMPWaitPolicy: DefaultLlamaOMPWaitPolicy, NoTorch: noTorch, JSONPath: t.TempDir() + "/report.json", Tasks: TaskTrain + "," + TaskGenerate,
		GenTokens: genTokens, GenBatches: "1,3", Set: "batch_size=4;text_seq_len=32;eval_examples=4;eval_batch_size=4"}
	report, err := RunLlama(o, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.JSONPath); err != nil {
		t.Errorf("-json file not written: %v", err)
	}
	text := report.Details.(*LlamaSummary).Text
	if !strings.HasPrefix(text, llamaGreedyPrefix[:min(len(llamaGreedyPrefix), len(text))]) || len(text) < 40 {
		t.Errorf("greedy text %q is not llama2.c's %q…", text, llamaGreedyPrefix)
	}
	byTask := map[string][]harness.Result{}
	for _, m := range report.Results {
		byTask[m.Case] = append(byTask[m.Case], m)
	}
	for _, task := range []string{TaskTrain, generateCase(1), generateCase(3)} {
		rows := byTask[task]
		if len(rows) == 0 || rows[0].Name != "go" || !(rows[0].Value.Median > 0) {
			t.Errorf("%s: rows %+v, want a go row with positive tokens/s", task, rows)
			continue
		}
		if noTorch {
			continue
		}
		if len(rows) != 2 || rows[1].Name != PyTorchName || !(rows[1].Value.Median > 0) || rows[0].Ratio == nil || !(rows[0].Ratio.Median > 0) {
			t.Errorf("%s: rows %+v, want go and pytorch with positive speeds and a ratio", task, rows)
		}
	}
	if noTorch {
		return
	}
	if got := report.Peer["omp_wait_policy"]; got != DefaultLlamaOMPWaitPolicy {
		t.Errorf("the PyTorch peer ran with OMP_WAIT_POLICY=%v, want %s", got, DefaultLlamaOMPWaitPolicy)
	}
	if got := report.Peer["tokens_checked"]; got != float64(genTokens) {
		t.Errorf("the PyTorch peer checked %v greedy tokens, want %d", got, genTokens)
	}
	goLoss, torchLoss := byTask[TaskTrain][0].Details.(*LlamaDetails).FinalLoss, byTask[TaskTrain][1].Details.(*LlamaDetails).FinalLoss
	if len(goLoss) != 1 || len(torchLoss) != 1 || !(goLoss[0] > 0 && goLoss[0] < 10) || math.Abs(goLoss[0]-torchLoss[0]) > 1.5 {
		t.Errorf("final training losses: Go %v, PyTorch %v, want both finite and close (same model and text)", goLoss, torchLoss)
	}
	want := llama.Stories260K.NumParams()
	if got := report.Peer["parameters"]; got != float64(want) {
		t.Errorf("the PyTorch peer trains %v parameters, stories260K has %d", got, want)
	}
	if got := llamaTrainableParameters(t); got != want {
		t.Errorf("the Go model trains %d parameters, stories260K has %d", got, want)
	}
}

// llamaTrainableParameters builds the Go model's graph (without running it) in an empty store
// with stories260K's hyperparameters and counts the scalars of the variables it creates.
func llamaTrainableParameters(t *testing.T) int {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	store := model.NewStore()
	llama.SetParams(store, llama.Stories260K)
	g := graph.NewGraph(backend, "count_parameters")
	tokens := graph.Parameter(g, "tokens", shapes.Make(dtypes.Int32, 1, 4))
	llama.Forward(store.RootScope(), tokens, nil, nil)
	n := 0
	for v := range store.IterVariables() {
		if v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n
}
