package llama_test

import (
	"math"
	"testing"

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
// give each row its own logits.
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
