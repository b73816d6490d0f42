package kvcache

import (
	"math/rand/v2"
	"testing"

	"github.com/qzoo/qzoo/quant"
	"github.com/qzoo/qzoo/quant/scheme"
)

// TestResidualWindow: with kv_residual R, a non-KIVI method holds exactly the last R tokens
// in fp16 (read back fp16-rounded), quantizes a token when it leaves the window (append
// returns its position), and counts the window's 2·W bytes per token.
func TestResidualWindow(t *testing.T) {
	const r = 5
	w := testShape.Width()
	tok := syntheticTokens(rand.New(rand.NewPCG(9, 9)), 20, w)
	plain := build(t, Config{Method: MethodRotation, KeyBits: 3, ValueBits: 3, Group: 8}, testShape)
	cfg := plain.Config
	cfg.Residual = r
	q, err := Load(cfg, testShape, plain.Constants())
	if err != nil {
		t.Fatal(err)
	}
	if q.MaxSpan() != r+1 {
		t.Errorf("MaxSpan %d, want %d", q.MaxSpan(), r+1)
	}
	s, ref := q.NewSequence(), plain.NewSequence()
	k, v := make([]float32, w), make([]float32, w)
	for i := range tok.n {
		kp, kk, vv := tok.keysPre[i*w:(i+1)*w], tok.keys[i*w:(i+1)*w], tok.val[i*w:(i+1)*w]
		from := s.Append(0, kp, kk, vv)
		if want := max(0, i-r); from != want && i >= r || i < r && from != i {
			t.Fatalf("append %d returned %d", i, from)
		}
		ref.Append(0, kp, kk, vv)
		for j := 0; j <= i; j++ {
			s.Read(0, j, k, v)
			if j > i-r {
				if k[0] != quant.RoundFloat16(tok.keys[j*w]) || v[0] != quant.RoundFloat16(tok.val[j*w]) {
					t.Fatalf("after %d tokens, window token %d is not its fp16 value", i+1, j)
				}
			}
		}
	}
	n := tok.n
	quantized := n - r
	perToken := (w*3+7)/8 + 2*w/8 // rotation: codes and an fp16 RMS per group of 8
	want := 2 * (quantized*perToken + r*2*w)
	var got scheme.Storage
	for _, st := range s.streams[0] {
		got = got.Add(st.storage())
	}
	if got.Total() != 8*float64(want) || got.FullPrecision != 8*float64(2*r*2*w) {
		t.Errorf("layer 0 holds %+v bits, want %d bytes of which %d in the fp16 window", got, want, 2*r*2*w)
	}
}
