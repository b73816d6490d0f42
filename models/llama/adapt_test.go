package llama_test

import (
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/qat"
	"github.com/qzoo/qzoo/models/llama"
	"github.com/qzoo/qzoo/quant"

	_ "github.com/qzoo/qzoo/datasets/text"
)

// maxDiff is the largest absolute difference of two equally long slices.
func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func adaptedStore(t *testing.T, w *llama.Weights, params map[string]any) *model.Store {
	store := storeOf(t, w)
	store.SetParams(params)
	return store
}

// TestLoRAStartsAtBaseAndMerges checks that a fresh adapter leaves the model unchanged, and that
// a trained one, merged and saved as a llama2.c file, gives back the adapted model's logits.
func TestLoRAStartsAtBaseAndMerges(t *testing.T) {
	w, tok := stories260K(t)
	toks, err := tok.Encode("The little bird sang a song", true, false)
	if err != nil {
		t.Fatal(err)
	}
	base := fullLogits(t, storeOf(t, w), toks)
	const rank, alpha = 4, 8.0
	store := adaptedStore(t, w, map[string]any{llama.ParamLoRARank: rank, llama.ParamLoRAAlpha: alpha})
	if d := maxDiff(fullLogits(t, store, toks), base); d != 0 {
		t.Errorf("a fresh LoRA moved the logits by %g (B starts at zero)", d)
	}
	// "Train" the adapters: random B.
	rng := rand.New(rand.NewPCG(1, 2))
	for v := range store.IterVariables() {
		if v.Name() == qat.LoRABVar {
			vals := make([]float32, v.Shape().Size())
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * 0.05)
			}
			v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...))
		}
	}
	adapted := fullLogits(t, store, toks)
	if maxDiff(adapted, base) < 1e-3 {
		t.Fatal("the adapters do not change the model")
	}
	merged, err := llama.EffectiveWeights(goBackend(t), store)
	if err != nil {
		t.Fatal(err)
	}
	// The merged wq of block 1 is W + (α/r)·B·A, computed on the host.
	a := tensors.MustCopyFlatData[float32](store.GetVariable("/block_01/wq/" + qat.LoRAAVar).MustValue())
	b := tensors.MustCopyFlatData[float32](store.GetVariable("/block_01/wq/" + qat.LoRABVar).MustValue())
	want := slices.Clone(w.Blocks[1].WQ)
	for o := range w.Dim {
		for i := range w.Dim {
			var delta float64
			for r := range rank {
				delta += float64(b[o*rank+r]) * float64(a[r*w.Dim+i])
			}
			want[o*w.Dim+i] = float32(float64(want[o*w.Dim+i]) + alpha/rank*delta)
		}
	}
	if d := maxDiff(merged.Blocks[1].WQ, want); d > 1e-6 {
		t.Errorf("merged wq differs from W + (α/r)·B·A by %g", d)
	}
	// Saved and read back as a llama2.c checkpoint, the merged model computes the same logits.
	path := filepath.Join(t.TempDir(), "merged.bin")
	encoded, err := merged.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, encoded, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := llama.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(fullLogits(t, storeOf(t, back), toks), adapted); d > 1e-4 {
		t.Errorf("merged and reloaded model's logits differ by %g", d)
	}
}

// TestQATWeightsLieOnTheGrid checks that under qat=ste every row of an effective weight takes at
// most 2^bits values (per-row fake quantization), and that they are what generation uses.
func TestQATWeightsLieOnTheGrid(t *testing.T) {
	w, _ := stories260K(t)
	store := adaptedStore(t, w, map[string]any{llama.ParamQAT: "ste", llama.ParamQATBits: 3})
	eff, err := llama.EffectiveWeights(goBackend(t), store)
	if err != nil {
		t.Fatal(err)
	}
	w2 := eff.Blocks[2].W2
	for r := range w.Dim {
		distinct := map[float32]bool{}
		for _, v := range w2[r*w.HiddenDim : (r+1)*w.HiddenDim] {
			distinct[v] = true
		}
		if len(distinct) > 8 {
			t.Fatalf("row %d of the 3-bit fake-quantized w2 has %d distinct values", r, len(distinct))
		}
	}
	if d := maxDiff(w2, w.Blocks[2].W2); d == 0 || d > 0.5 {
		t.Errorf("fake quantization moved w2 by %g", d)
	}
}

// runLlama runs a config on the pure-Go backend over the first windows of the test split.
func runLlama(t *testing.T, js string) *framework.Result {
	t.Helper()
	cfg, err := framework.ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	res, err := framework.Run(cfg, framework.RunOptions{Dir: t.TempDir(), DataDir: dataDir, Backend: goBackend(t), Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

const ptqConfig = `{"model": "llama", "init_from": "weights/stories260K.bin", "steps": 0, "batch_size": 4,
	"eval_batch_size": 8, "eval_examples": 16, "params": {"text_seq_len": 128, "ptq_calibration_batches": 1 %s}}`

// TestPTQThroughTheLoop quantizes stories260K with the Calibrate hook: 8 bits costs almost no
// perplexity, 2 bits a lot, and the bits reported are the quantized tensors'.
func TestPTQThroughTheLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("four evaluations of 2,048 tokens on the pure-Go backend")
	}
	ppl := func(extra string) (float64, map[string]float64) {
		res := runLlama(t, strings.Replace(ptqConfig, "%s", extra, 1))
		return res.Eval[llama.MetricPerplexity], res.Eval
	}
	base, m := ppl("")
	if m[llama.MetricModelBits] != 32*260032 || m[llama.MetricTrainableParams] != 260032 {
		t.Errorf("float model: %v bits, %v trainable; want 32·260032 and 260032", m[llama.MetricModelBits], m[llama.MetricTrainableParams])
	}
	p8, m8 := ppl(`, "ptq": "rtn", "ptq_bits": 8`)
	if m8[llama.MetricTrainableParams] != 0 {
		t.Errorf("a post-training-quantized model reports %v trainable parameters, want 0", m8[llama.MetricTrainableParams])
	}
	p2, _ := ppl(`, "ptq": "rtn", "ptq_bits": 2`)
	psq, msq := ppl(`, "ptq": "squeezellm", "ptq_bits": 3`)
	t.Logf("perplexity: float %.3f, rtn-8 %.3f, rtn-2 %.3f, squeezellm-3 %.3f", base, p8, p2, psq)
	if math.Abs(p8/base-1) > 0.01 {
		t.Errorf("8-bit RTN changed perplexity %.3f → %.3f (more than 1%%)", base, p8)
	}
	if p2 < 1.2*base {
		t.Errorf("2-bit RTN perplexity %.3f is suspiciously close to float's %.3f", p2, base)
	}
	if psq <= base || psq > p2 {
		t.Errorf("3-bit SqueezeLLM perplexity %.3f not between float %.3f and 2-bit RTN %.3f", psq, base, p2)
	}
	// 8-bit per-row asymmetric: 8 bits per weight plus a 16-bit scale and an 8-bit zero point
	// per row of every linear layer.
	c := llama.Stories260K
	rows := 0
	for _, name := range llama.LinearNames {
		o, _ := c.LinearShape(name)
		rows += c.Layers * o
	}
	wantLinear := float64(8*c.LinearParams() + 24*rows)
	if got := m8[llama.MetricLinearBitsPerWeight] * float64(c.LinearParams()); math.Abs(got-wantLinear) > 0.5 {
		t.Errorf("8-bit linear bits %v, want %v", got, wantLinear)
	}
	if msq[llama.MetricModelBits] >= m[llama.MetricModelBits] {
		t.Errorf("squeezellm model %v bits is not smaller than float's %v", msq[llama.MetricModelBits], m[llama.MetricModelBits])
	}
}

// TestLQLoRABeatsQuantizationAlone checks LQ-LoRA's decomposition on a real weight: Q + L₁L₂
// is closer to W than the quantized W alone, and the kept round is the best.
func TestLQLoRABeatsQuantizationAlone(t *testing.T) {
	w, _ := stories260K(t)
	W := w.Blocks[0].W1
	out, in := w.HiddenDim, w.Dim
	spec := quant.Spec{Method: quant.MethodRTN, Bits: 3}
	q, err := quant.Quantize(W, out, in, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := quant.MSE(W, q.Dequantize())
	res, err := quant.LQLoRA(W, out, in, spec, nil, 8, 10)
	if err != nil {
		t.Fatal(err)
	}
	approx := res.Q.Dequantize()
	for i := range out {
		for j := range in {
			for k := range 8 {
				approx[i*in+j] += res.B[i*8+k] * res.A[k*in+j]
			}
		}
	}
	lq := quant.MSE(W, approx)
	t.Logf("MSE: 3-bit RTN %.3g, LQ-LoRA (rank 8) %.3g; ‖W−Q−L‖ per round %v", plain, lq, res.Errors)
	if lq >= plain {
		t.Errorf("LQ-LoRA MSE %.3g is not below quantization alone %.3g", lq, plain)
	}
	if _, err := quant.LQLoRA(W, out, in, spec, nil, 100, 2); err == nil {
		t.Error("rank 100 > min(out, in) accepted")
	}
}

func TestAdapterConfigErrors(t *testing.T) {
	for _, c := range []struct{ params, want string }{
		{`"ptq_budget_bits": 3`, `"ptq_budget_bits" needs ptq`},
		{`"lqlora_iterations": 3, "ptq": "nf4"`, `"lqlora_iterations" needs lora_rank > 0`},
		{`"ptq": "nf4", "ptq_budget_bits": 3`, "nf4 has a single code width"},
		{`"ptq": "rtn", "qat": "lsq"`, "either after training"},
		{`"ptq": "nf4", "ptq_symmetric": true`, "Symmetric applies to method rtn only"},
		{`"qat": "int4"`, `key qat: "int4" is not one of none, ste, lsq`},
		{`"qat_activation_bits": 1`, "1 bit"},
		{`"lora_rank": -1`, "lora_rank"},
		{`"text_vocab_size": 1000`, `keys "text_vocab_size" (1000) and "llama_vocab_size" (512) disagree`},
		{`"llama_vocab_size": 1000`, `keys "text_vocab_size" (512) and "llama_vocab_size" (1000) disagree`},
		{`"text_seq_len": 600`, `key "text_seq_len": windows of 600 tokens exceed the context "llama_seq_len"=512`},
		{`"llama_seq_len": 128`, `windows of 256 tokens exceed the context "llama_seq_len"=128`},
	} {
		_, err := framework.ParseConfig([]byte(`{"model": "llama", "params": {` + c.params + `}}`))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("params {%s}: error %v, want one containing %q", c.params, err, c.want)
		}
	}
}

// TestWindowNLLSamples: the forward evaluation records each held-out window's mean NLL (six
// windows, the last batch cut by eval_examples), and they average to the reported nll.
func TestWindowNLLSamples(t *testing.T) {
	res := runLlama(t, `{"model": "llama", "init_from": "weights/stories260K.bin", "steps": 0, "batch_size": 4,
		"eval_batch_size": 4, "eval_examples": 6, "params": {"text_seq_len": 64}}`)
	windows := res.EvalSamples[llama.SampleWindowNLL]
	if len(windows) != 6 {
		t.Fatalf("%d window samples, want 6: %v", len(windows), res.EvalSamples)
	}
	var mean float64
	for _, w := range windows {
		mean += w / float64(len(windows))
	}
	nll := res.Eval[llama.MetricNLL]
	if math.Abs(mean-nll) > 1e-9*nll || math.Abs(math.Exp(mean)-res.Eval[llama.MetricPerplexity]) > 1e-9*res.Eval[llama.MetricPerplexity] {
		t.Errorf("windows' NLLs average to %.12g, nll %.12g, perplexity %g", mean, nll, res.Eval[llama.MetricPerplexity])
	}
	if windows[0] == windows[1] || res.Eval[llama.MetricTokens] != 6*64 {
		t.Errorf("windows %v, %v tokens", windows, res.Eval[llama.MetricTokens])
	}
}
