package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/models/llama"
)

func TestModelFLOPsPerToken(t *testing.T) {
	// stories260K: N = 260,032; 6·N + 12·L·d·T = 1,560,192 + 12·5·64·256 = 1,560,192 + 983,040.
	if got := ModelFLOPsPerToken(llama.Stories260K, 256); got != 2543232 {
		t.Errorf("ModelFLOPsPerToken(stories260K, 256) = %v, want 2543232", got)
	}
}

func TestPeakTFLOPS(t *testing.T) {
	for _, c := range []struct {
		card, want string
		fp32, tf32 float64
	}{
		{"NVIDIA H100 80GB HBM3", "H100 SXM", 67, 494.7},
		{"NVIDIA H100 PCIe", "H100 PCIe", 51, 378},
		{"NVIDIA H100 NVL", "H100 NVL", 60, 417.5},
		{"NVIDIA H200", "H200 SXM", 67, 494.7},
		{"NVIDIA H200 NVL", "H200 NVL", 60, 417.5},
	} {
		p, ok := PeakTFLOPS(c.card)
		if !ok || p.Card != c.want || p.TFLOP[DTypeFloat32] != c.fp32 || p.TFLOP[DTypeTF32] != c.tf32 || p.TFLOP[DTypeBF16] != 2*c.tf32 {
			t.Errorf("PeakTFLOPS(%q) = %+v, %v; want %s with fp32 %v, tf32 %v, bf16 twice tf32", c.card, p, ok, c.want, c.fp32, c.tf32)
		}
	}
	if p, ok := PeakTFLOPS("Tesla T4"); ok {
		t.Errorf("PeakTFLOPS(Tesla T4) = %+v: want unknown", p)
	}
}

// writeRun writes a run directory as the train command leaves it: the resolved config of a
// Llama of dim 64, 2 blocks, batch 4 × 32 tokens, and a metrics log.
func writeRun(t *testing.T, metrics string) string {
	t.Helper()
	cfg, err := framework.ParseConfig([]byte(`{"model": "llama", "dataset": "text", "batch_size": 4, "steps": 40, "log_every": 10,
		"params": {"llama_dim": 64, "llama_hidden_dim": 172, "llama_layers": 2, "llama_seq_len": 32, "text_seq_len": 32, "data_parallel": "all"}}`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, framework.ConfigFile), cfg.JSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, framework.MetricsFile), []byte(metrics), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRunMFU(t *testing.T) {
	// The time to step 10 holds the compilation; then 0.2, 0.25 and 0.3 s per step (an
	// evaluation record in between is not a training step): the median is 0.25 s per step.
	dir := writeRun(t, `{"step": 10, "time": 30, "loss": 5}
{"step": 20, "time": 32, "loss": 4}
{"step": 20, "eval": {"perplexity": 50}, "split": "test"}
{"step": 30, "time": 34.5, "loss": 3}
{"step": 40, "time": 37.5, "loss": 3}
`)
	report, err := RunMFU(MFUOptions{Run: dir, Card: "NVIDIA H100 80GB HBM3", DType: DTypeFloat32})
	if err != nil {
		t.Fatal(err)
	}
	s := report.Details.(*MFUSummary)
	arch := llama.Config{Dim: 64, HiddenDim: 172, Layers: 2, Heads: 8, KVHeads: 4, VocabSize: 512, SeqLen: 32, Shared: true}
	flops := 6*float64(arch.NumParams()) + 12*2*64*32
	tokensPerSecond := 4 * 32 / 0.25
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Abs(b) }
	if s.Params != arch.NumParams() || s.TokensPerStep != 128 || !near(s.FLOPsPerToken, flops) || s.DataParallel != "all" {
		t.Errorf("summary %+v: want %d params, 128 tokens per step, %v FLOPs per token, data_parallel all", s, arch.NumParams(), flops)
	}
	if !near(s.StepSeconds, 0.25) || !near(s.StepsPerSecond, 4) || !near(s.TokensPerSecond, tokensPerSecond) {
		t.Errorf("step %v s, %v steps/s, %v tokens/s; want 0.25, 4, %v", s.StepSeconds, s.StepsPerSecond, s.TokensPerSecond, tokensPerSecond)
	}
	achieved := tokensPerSecond * flops / 1e12
	if !near(s.AchievedTFLOPS, achieved) || !near(s.MFU, achieved/67) || !near(s.MFUTF32, achieved/494.7) || s.PeakTFLOPS != 67 {
		t.Errorf("achieved %v TFLOP/s, MFU %v (TF32 %v) of %v: want %v, %v, %v of 67", s.AchievedTFLOPS, s.MFU, s.MFUTF32, s.PeakTFLOPS,
			achieved, achieved/67, achieved/494.7)
	}
	if v := report.Results[0].Value; len(v.Rounds) != 3 || !near(v.Min, 4*32/0.3) || !near(v.Max, 4*32/0.2) {
		t.Errorf("rounds %v: want the three intervals' tokens/s", v.Rounds)
	}
	var out bytes.Buffer
	PrintMFUReport(&out, report)
	if !strings.Contains(out.String(), "H100 SXM") || !strings.Contains(out.String(), "MFU against the TF32") {
		t.Errorf("report:\n%s\nwant the card and the TF32 line", out.String())
	}

	explicit, err := RunMFU(MFUOptions{Run: dir, DType: DTypeBF16, PeakTFLOPS: 100})
	if err != nil {
		t.Fatal(err)
	}
	if e := explicit.Details.(*MFUSummary); !near(e.MFU, achieved/100) || e.MFUTF32 != 0 {
		t.Errorf("-peak_tflops 100: MFU %v, TF32 %v; want %v and none", e.MFU, e.MFUTF32, achieved/100)
	}
}

func TestRunMFURefusesShortOrResumedLogs(t *testing.T) {
	for name, metrics := range map[string]string{
		"one record": `{"step": 10, "time": 30}` + "\n",
		"resumed":    `{"step": 10, "time": 30}` + "\n" + `{"step": 20, "time": 32}` + "\n" + `{"step": 30, "time": 3}` + "\n",
	} {
		if _, err := RunMFU(MFUOptions{Run: writeRun(t, metrics), DType: DTypeFloat32}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
