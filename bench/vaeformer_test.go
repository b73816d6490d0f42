package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/qzoo/qzoo/datasets/era5"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/models/vaeformer"
)

func TestVAEformerConfig(t *testing.T) {
	cfg, source, err := VAEformerConfig("", 7, "learning_rate=0.002;vaeformer_dim=32")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(source, DefaultVAEformerConfig) {
		t.Errorf("source = %q, want the repository's %s found from bench/", source, DefaultVAEformerConfig)
	}
	if cfg.Model != ModelVAEformer || cfg.Dataset != era5.DatasetName || cfg.BatchSize != 8 {
		t.Errorf("model %q on %q, batch %d, want vaeformer on era5, batch 8", cfg.Model, cfg.Dataset, cfg.BatchSize)
	}
	if cfg.Steps != 7 || cfg.LogEvery != 7 || cfg.LRSchedule != "constant" || cfg.WarmupSteps != 0 || cfg.EvalEvery != 0 ||
		cfg.CheckpointEvery != 0 || cfg.EvalSplit != framework.SplitValidation {
		t.Errorf("speed overrides not applied: steps %d log_every %d lr_schedule %s warmup %d eval_every %d checkpoint_every %d eval_split %s",
			cfg.Steps, cfg.LogEvery, cfg.LRSchedule, cfg.WarmupSteps, cfg.EvalEvery, cfg.CheckpointEvery, cfg.EvalSplit)
	}
	if cfg.LearningRate != 0.002 || cfg.Params[vaeformer.ParamDim] != 32 {
		t.Errorf("the caller's -set was not applied last: learning_rate %g, %s %v", cfg.LearningRate, vaeformer.ParamDim, cfg.Params[vaeformer.ParamDim])
	}
	for _, set := range []string{"optimizer=adamw", "lr_schedule=cosine", "warmup_steps=10", "clip_grad_norm=1", "freeze=^/encoder/", "no_such_key=1"} {
		if _, _, err := VAEformerConfig("", 3, set); err == nil {
			t.Errorf("-set %s: accepted a run the PyTorch peer does not implement", set)
		}
	}
	if _, _, err := VAEformerConfig(filepath.Join("..", DefaultConfig), 3, ""); err == nil {
		t.Errorf("the vqae config %s was accepted for the vaeformer benchmark", DefaultConfig)
	}
}

func TestTorchVAEformerArgs(t *testing.T) {
	cfg, _, err := VAEformerConfig("", 9, "batch_size=4;vaeformer_heads=2;vaeformer_lambda=30;adam_epsilon=1e-8")
	if err != nil {
		t.Fatal(err)
	}
	src := &era5.Dataset{Mean: []float64{280.5}, Std: []float64{4.25}, Lat: []float64{0, 60}}
	o := Options{Threads: 3, Steps: 9, TorchWarmup: 2}
	args := TorchVAEformerArgs(o, cfg, src, "/tmp/h.f32", [4]int{1, 500, 2, 3})
	want := map[string]string{"--data": "/tmp/h.f32", "--shape": "1,500,2,3", "--mean": "280.5", "--std": "4.25",
		"--threads": "3", "--batch": "4", "--warmup": "2", "--steps": "9", "--window": "8", "--patch": "4", "--dim": "64",
		"--heads": "2", "--encoder-layers": "2", "--decoder-layers": "2", "--latent": "16", "--hyper-latent": "8",
		"--hyper-dim": "64", "--lambda": "30", "--kl-weight": "0.0001", "--lr": "0.001", "--beta1": "0.9",
		"--beta2": "0.999", "--eps": "1e-08", "--seed": "1"}
	for flag, value := range want {
		if i := slices.Index(args, flag); i < 0 || i+1 >= len(args) || args[i+1] != value {
			t.Errorf("%s: args %v, want %s %s", flag, args, flag, value)
		}
	}
	// cos(0°) and cos(60°) normalised to mean 1: 4/3 and 2/3.
	i := slices.Index(args, "--lat-weights")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("args %v have no --lat-weights (vaeformer_lat_weighted is on by default)", args)
	}
	if w := strings.Split(args[i+1], ","); len(w) != 2 || !strings.HasPrefix(w[0], "1.333") || !strings.HasPrefix(w[1], "0.666") {
		t.Errorf("--lat-weights %s, want 4/3,2/3", args[i+1])
	}
	if slices.Contains(args, "--decoder-noise") {
		t.Errorf("args %v pass --decoder-noise, off by default", args)
	}
	cfg, _, err = VAEformerConfig("", 9, "vaeformer_lat_weighted=false;vaeformer_decoder_noise=true")
	if err != nil {
		t.Fatal(err)
	}
	args = TorchVAEformerArgs(o, cfg, src, "/tmp/h.f32", [4]int{1, 500, 2, 3})
	if slices.Contains(args, "--lat-weights") || !slices.Contains(args, "--decoder-noise") {
		t.Errorf("unweighted, noisy decoder: args %v, want --decoder-noise and no --lat-weights", args)
	}
}

// vaeformerParameters is the trainable parameter count of the VAEformer with cfg's
// hyperparameters, layer by layer as models/vaeformer builds it and torch_vaeformer.py states it.
func vaeformerParameters(p map[string]any) int {
	get := func(key string) int { return p[key].(int) }
	w, c, patch := get(era5.ParamWindow), len(strings.Split(p[era5.ParamVariables].(string), ",")), get(vaeformer.ParamPatch)
	d, cy, cz, hd := get(vaeformer.ParamDim), get(vaeformer.ParamLatent), get(vaeformer.ParamHyperLatent), get(vaeformer.ParamHyperDim)
	tokens := w * c * patch * patch
	linear := func(in, out int) int { return in*out + out }
	norm := 2 * d
	block := norm + linear(d, 3*d) + linear(d, d) + norm + linear(d, 2*d) + linear(2*d, d)
	encoder := linear(tokens, d) + get(vaeformer.ParamEncoderLayers)*block + norm + linear(d, 2*cy)
	decoder := linear(cy, d) + get(vaeformer.ParamDecoderLayers)*block + norm + linear(d, tokens)
	hyperAnalysis := linear(cy, hd) + linear(4*hd, hd) + linear(hd, cz)
	hyperSynthesis := linear(cz, hd) + linear(hd, 4*hd) + linear(hd, 2*cy)
	// Per channel: H_k (1·3 + 3·3 + 3·3 + 3·1), b_k (3+3+3+1), a_k (3+3+3).
	density := cz * (24 + 10 + 9)
	return encoder + decoder + hyperAnalysis + hyperSynthesis + density
}

// TestVAEformerEndToEnd runs the vaeformer benchmark for a few steps on the Go backend and, when
// /usr/bin/python3 has torch, the PyTorch peer: both must train the same number of parameters,
// the count of the layers the peer's doc lists, and reach losses of the same size.
func TestVAEformerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the VAEformer on Go and PyTorch (~30 s on 2 cores)")
	}
	noTorch := peerMissing(t)
	o := Options{Steps: 3, Rounds: 1, Threads: runtime.NumCPU(), Backends: framework.GoBackend, DataDir: sharedDataDir,
		Python: python, TorchWarmup: 1, TorchBLASDir: DefaultTorchBLASDir, TorchOMPWaitPolicy: DefaultVAEformerOMPWaitPolicy,
		NoTorch: noTorch, JSONPath: t.TempDir() + "/report.json"}
	report, err := RunVAEformer(o, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.JSONPath); err != nil {
		t.Errorf("-json file not written: %v", err)
	}
	cfg, _, err := VAEformerConfig("", 3, "")
	if err != nil {
		t.Fatal(err)
	}
	want := vaeformerParameters(cfg.Params)
	if got := goTrainableParameters(t, cfg, shapes.Make(dtypes.Float32, 2, cfg.Params[era5.ParamWindow].(int), 1, 33, 49), true); got != want {
		t.Errorf("the Go model has %d trainable parameters, want %d", got, want)
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
	if got := report.Peer["parameters"]; got != float64(want) {
		t.Errorf("the PyTorch peer has %v trainable parameters, want %d", got, want)
	}
	// Same initialisation scheme, data and loss: after a few steps both losses are λ·MSE ≈ λ
	// plus a few bits, within a factor of 2 of each other.
	goLoss, torchLoss := goRow.Details.(*TrainStepDetails).FinalLoss, torch.Details.(*TrainStepDetails).FinalLoss
	if len(goLoss) != 1 || len(torchLoss) != 1 || !(goLoss[0] > 0) || !(torchLoss[0] > 0) || math.Abs(math.Log(goLoss[0]/torchLoss[0])) > math.Ln2 {
		t.Errorf("final training losses: Go %v, PyTorch %v, want both positive and within a factor of 2", goLoss, torchLoss)
	}
}
