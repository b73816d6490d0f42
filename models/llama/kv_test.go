package llama_test

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"

	"github.com/qzoo/qzoo/kvcache"
	"github.com/qzoo/qzoo/models/llama"
)

// stepLogits runs toks through a KV stepper of batch 1 with cache quantizer q and returns
// the logits [T, VocabSize], flat.
func stepLogits(t *testing.T, s *llama.KVStepper, toks []int) []float32 {
	t.Helper()
	s.Reset()
	var out []float32
	for _, tok := range toks {
		logits, err := s.Step([]int32{int32(tok)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, logits...)
	}
	return out
}

// TestKVStepperFP32MatchesFullForward checks the host-cache path: with the fp32 "quantizer"
// it must give the full forward pass's logits; fp16 must stay close; and a batch of 2 must
// give each row its own logits (a batch of 1's, within the same bound: the batched matmuls round differently).
func TestKVStepperFP32MatchesFullForward(t *testing.T) {
	w, tok := stories260K(t)
	toks := testTokens(t, w, tok)
	store := storeOf(t, w)
	full := fullLogits(t, store, toks)
	shape := llama.KVShape(w.Config)
	for _, c := range []struct {
		method string
		bound  float64
	}{{kvcache.MethodFP32, 5e-5}, {kvcache.MethodFP16, 2e-2}} {
		q, err := kvcache.New(kvcache.Config{Method: c.method}, shape)
		if err != nil {
			t.Fatal(err)
		}
		s, err := llama.NewKVStepper(goBackend(t), store, q, 1, len(toks))
		if err != nil {
			t.Fatal(err)
		}
		got := stepLogits(t, s, toks)
		var worst float64
		for i := range got {
			worst = max(worst, math.Abs(float64(got[i]-full[i])))
		}
		bpv := 8 * float64(s.Bytes()) / float64(len(toks)*w.Layers*2*w.Config.KVDim())
		s.Finalize()
		t.Logf("%s: max |stepped − full| logit %.2g, %.1f bits per cached value", c.method, worst, bpv)
		if worst > c.bound {
			t.Errorf("%s: stepped logits differ from the full forward pass by %.3g > %g", c.method, worst, c.bound)
		}
		if want := map[string]float64{kvcache.MethodFP32: 32, kvcache.MethodFP16: 16}[c.method]; bpv != want {
			t.Errorf("%s: %v bits per value, want %v", c.method, bpv, want)
		}
		// A batch of 2 (toks, and toks from its second token on after BOS): each row its own
		// logits, those of a batch of 1 on the same tokens.
		other := append([]int{toks[0]}, toks[2:]...)
		other = append(other, toks[1])
		one, err := llama.NewKVStepper(goBackend(t), store, q, 1, len(toks))
		if err != nil {
			t.Fatal(err)
		}
		wantOther := stepLogits(t, one, other)
		one.Finalize()
		two, err := llama.NewKVStepper(goBackend(t), store, q, 2, len(toks))
		if err != nil {
			t.Fatal(err)
		}
		v := w.Config.VocabSize
		for p := range toks {
			logits, err := two.Step([]int32{int32(toks[p]), int32(other[p])})
			if err != nil {
				t.Fatal(err)
			}
			for row, want := range [][]float32{got, wantOther} {
				for i, x := range logits[row*v : (row+1)*v] {
					if d := math.Abs(float64(x - want[p*v+i])); d > c.bound {
						t.Fatalf("%s, batch 2: row %d position %d logit %d: %v, batch 1 %v", c.method, row, p, i, x, want[p*v+i])
					}
				}
			}
		}
		two.Finalize()
	}
}

// TestKVShapeRoPEMatchesGraph checks the host RoPE used by pre-RoPE key quantizers: a
// kvquant-style cache storing pre-RoPE keys in fp32 must reproduce the model's logits.
func TestKVShapeRoPEMatchesGraph(t *testing.T) {
	w, tok := stories260K(t)
	toks := testTokens(t, w, tok)
	store := storeOf(t, w)
	full := fullLogits(t, store, toks)
	// A config with PreRoPE over the fp32 codec: keys go in before RoPE and are rotated on
	// the host when read.
	q, err := kvcache.New(kvcache.Config{Method: kvcache.MethodFP32, PreRoPE: true}, llama.KVShape(w.Config))
	if err != nil {
		t.Fatal(err)
	}
	s, err := llama.NewKVStepper(goBackend(t), store, q, 1, len(toks))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Finalize()
	got := stepLogits(t, s, toks)
	var worst float64
	for i := range got {
		worst = max(worst, math.Abs(float64(got[i]-full[i])))
	}
	t.Logf("pre-RoPE fp32 cache: max |Δlogit| %.2g", worst)
	if worst > 1e-4 {
		t.Errorf("host RoPE of pre-RoPE keys: logits differ by %.3g > 1e-4", worst)
	}
}

// kvRun runs a steps-0 config of stories260K with the given params on the first windows of
// the Shakespeare test split, into dir.
func kvRun(t *testing.T, dir, params string) (map[string]float64, error) {
	t.Helper()
	js := `{"model": "llama", "init_from": "weights/stories260K.bin", "steps": 0, "batch_size": 4,
		"eval_batch_size": 4, "eval_examples": 4, "params": {"text_seq_len": 64, "kv_calibration_batches": 4, ` + params + `}}`
	cfg, err := framework.ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	res, err := framework.Run(cfg, framework.RunOptions{Dir: dir, DataDir: dataDir, Backend: goBackend(t), Out: io.Discard})
	if err != nil {
		return nil, err
	}
	return res.Eval, nil
}

// TestKVCalibrationThroughTheLoop calibrates a 3-bit KVQuant cache with the Calibrate hook,
// evaluates through it, reuses its constants from another run with kv_calibration_from, and
// refuses them for a config they do not fit, naming the constant and the key.
func TestKVCalibrationThroughTheLoop(t *testing.T) {
	ref, err := kvRun(t, t.TempDir(), `"kv_quant": "fp32"`)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	got, err := kvRun(t, dir, `"kv_quant": "kvquant", "kv_bits": 3`)
	if err != nil {
		t.Fatal(err)
	}
	ppl, ref32 := got[llama.MetricPerplexity], ref[llama.MetricPerplexity]
	bpv := got[llama.MetricKVBitsPerValue]
	t.Logf("fp32 cache %.3f, kvquant 3-bit %.3f at %.3f bits per value, %v bytes of constants", ref32, ppl, bpv, got[llama.MetricKVConstantBytes])
	if !(ppl > 0.8*ref32 && ppl < 1.5*ref32) {
		t.Errorf("kvquant 3-bit perplexity %.3f, fp32 cache %.3f", ppl, ref32)
	}
	// 3-bit codes, values' fp16 scale and offset per 32 channels (1 bit per value), sparse
	// outliers and the fp16 sink token: between 3.5 and 5 bits per value at 64 tokens.
	if !(bpv > 3.5 && bpv < 5) || got[llama.MetricKVConstantBytes] <= 0 {
		t.Errorf("kvquant 3-bit: %.3f bits per cached value, %v bytes of constants", bpv, got[llama.MetricKVConstantBytes])
	}
	again, err := kvRun(t, t.TempDir(), `"kv_quant": "kvquant", "kv_bits": 3, "kv_calibration_from": "`+dir+`"`)
	if err != nil {
		t.Fatal(err)
	}
	if again[llama.MetricPerplexity] != ppl {
		t.Errorf("constants from %s give perplexity %v, the run itself %v", dir, again[llama.MetricPerplexity], ppl)
	}
	_, err = kvRun(t, t.TempDir(), `"kv_quant": "kvquant", "kv_bits": 4, "kv_calibration_from": "`+dir+`"`)
	if err == nil || !strings.Contains(err.Error(), "kv_calibration_from="+dir) || !strings.Contains(err.Error(), "lut") {
		t.Errorf("4-bit config with 3-bit constants: error %v, want one naming kv_calibration_from and the lookup table", err)
	}
}

// TestKVStepperWorkingCopyFollowsTheStore feeds 160 tokens through a 2-bit KIVI cache with
// a 32-token fp16 window (groups flushed every 32 tokens, rewriting up to 64 positions), and
// without the window (strict: the open key group re-quantized at every token, so the first
// 32 steps rewrite slots around the new token), and checks after every step that the
// backend's working copy equals the store's dequantized tokens, except the newest, which
// attention sees as computed.
func TestKVStepperWorkingCopyFollowsTheStore(t *testing.T) {
	for _, window := range []int{32, 0} {
		t.Run(fmt.Sprintf("window %d", window), func(t *testing.T) { workingCopyFollowsTheStore(t, window) })
	}
}

func workingCopyFollowsTheStore(t *testing.T, window int) {
	w, tok := stories260K(t)
	toks := testTokens(t, w, tok)
	toks = append(toks, toks...)[:160]
	store := storeOf(t, w)
	q, err := kvcache.New(kvcache.Config{Method: kvcache.MethodKIVI, KeyBits: 2, ValueBits: 2, Group: 32, KeyGroup: 32, Residual: window}, llama.KVShape(w.Config))
	if err != nil {
		t.Fatal(err)
	}
	s, err := llama.NewKVStepper(goBackend(t), store, q, 1, 192)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Finalize()
	kw := w.Config.KVDim()
	for p, token := range toks {
		// What the store holds before this step: positions < p as stored after step p−1,
		// which this step must write into the working copy before attending.
		want := make([][2][]float32, w.Layers)
		for l := range w.Layers {
			for j := range p {
				k, v := make([]float32, kw), make([]float32, kw)
				s.Sequence(0).Read(l, j, k, v)
				want[l][0] = append(want[l][0], k...)
				want[l][1] = append(want[l][1], v...)
			}
		}
		if _, err := s.Step([]int32{int32(token)}); err != nil {
			t.Fatal(err)
		}
		for l := range w.Layers {
			gotK, gotV := s.WorkingCopy(l)
			for i := range p * kw {
				if gotK[i] != want[l][0][i] || gotV[i] != want[l][1][i] {
					t.Fatalf("step %d layer %d position %d channel %d: working copy (%v, %v), store (%v, %v)", p, l, i/kw, i%kw,
						gotK[i], gotV[i], want[l][0][i], want[l][1][i])
				}
			}
		}
	}
}

// TestContextFullSaysTheLengths: a full cache is ErrContextFull with the tokens fed and the
// capacity in the message.
func TestContextFullSaysTheLengths(t *testing.T) {
	w, _ := stories260K(t)
	q, err := kvcache.New(kvcache.Config{Method: kvcache.MethodFP32}, llama.KVShape(w.Config))
	if err != nil {
		t.Fatal(err)
	}
	s, err := llama.NewKVStepper(goBackend(t), storeOf(t, w), q, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Finalize()
	stepLogits(t, s, []int{llama2c.BOS, 300, 301})
	_, err = s.Step([]int32{302})
	if !errors.Is(err, llama.ErrContextFull) || !strings.Contains(err.Error(), "3 tokens fed, the cache holds 3 (context llama_seq_len=512)") {
		t.Errorf("fourth step into a cache of 3: %v", err)
	}
}
