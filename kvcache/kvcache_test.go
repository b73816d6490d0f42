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

// BenchmarkSequenceStep times the host's share of one token of generation with a quantized
// cache, what llama.KVStepper asks of a sequence: append the token's keys and values to every
// layer of stories260K's shape (5 layers × 4 heads × 8) and read back the positions the stores
// changed; one op is a whole sequence of 512 tokens. Strict KIVI 4-bit re-quantizes its open
// key group at every token; vq and rvq 2-bit search 256-row codebooks.
func BenchmarkSequenceStep(b *testing.B) {
	shape := Shape{Layers: 5, KVHeads: 4, HeadDim: 8, RoPE: testRoPE}
	w := shape.Width()
	tok := syntheticTokens(rand.New(rand.NewPCG(3, 3)), 512, w)
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"kivi4-strict", Config{Method: MethodKIVI, KeyBits: 4, ValueBits: 4, Group: 32, KeyGroup: 32}},
		{"vq2", Config{Method: MethodVQ, KeyBits: 2, ValueBits: 2}},
		{"rvq2", Config{Method: MethodRVQ, KeyBits: 2, ValueBits: 2}},
	} {
		q := build(b, c.cfg, shape)
		row := make([]float32, w)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				s := q.NewSequence()
				for i := range tok.n {
					k, v := tok.keys[i*w:(i+1)*w], tok.val[i*w:(i+1)*w]
					for l := range shape.Layers {
						kf, vf := s.AppendSides(l, k, k, v)
						for j := kf; j <= i; j++ {
							s.ReadKeys(l, j, row)
						}
						for j := vf; j <= i; j++ {
							s.ReadValues(l, j, row)
						}
					}
				}
			}
		})
	}
}
