package kvcache

import (
	"testing"

	"github.com/qzoo/qzoo/quant/scheme"
)

func TestSchemes(t *testing.T) {
	for _, tc := range []struct {
		cfg          Config
		keys, values string
	}{
		{Config{Method: MethodFP16}, "cache/fp16 e5m10 b16", "cache/fp16 e5m10 b16"},
		{Config{Method: MethodKIVI, KeyBits: 2, ValueBits: 4, Group: 8, KeyGroup: 32},
			"cache/kivi int b2 asym g32/channel", "cache/kivi int b4 asym g8/token"},
		{Config{Method: MethodKVQuant, KeyBits: 3, ValueBits: 3, Group: 8, KeyPerChannel: true, NonUniform: true},
			"cache/kvquant lut b3 channel", "cache/kvquant lut b3 g8/token"},
		{Config{Method: MethodKVQuant, KeyBits: 4, ValueBits: 4, Group: 8}, "cache/kvquant int b4 asym g8/token", "cache/kvquant int b4 asym g8/token"},
		{Config{Method: MethodRotation, KeyBits: 3, ValueBits: 3, Group: 8}, "cache/rotation lut b3 g8/token", "cache/rotation lut b3 g8/token"},
		// HeadDim 8, 2^8 codewords: 2 bits per value → sub-vectors of 4 channels, 8-bit codes.
		{Config{Method: MethodVQ, KeyBits: 2, ValueBits: 1, CodebookBits: 8}, "cache/vq codebook b8 K=256 d=4 vector", "cache/vq codebook b8 K=256 d=8 vector"},
		// rvq: 3 bits·8 channels = 24 bits in 3 stages of 256 codewords.
		{Config{Method: MethodRVQ, KeyBits: 3, ValueBits: 3, CodebookBits: 8}, "cache/rvq codebook b24 K=256×3 d=8 vector", "cache/rvq codebook b24 K=256×3 d=8 vector"},
	} {
		for side, want := range map[Side]string{Keys: tc.keys, Values: tc.values} {
			s, err := tc.cfg.Scheme(testShape, side)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.cfg.Method, side, err)
			}
			if s.String() != want {
				t.Errorf("%s %s: %q, want %q", tc.cfg.Method, side, s, want)
			}
		}
	}
	s, _ := Config{Method: MethodRVQ, KeyBits: 3, ValueBits: 3, CodebookBits: 8}.Scheme(testShape, Keys)
	if s.BitsPerValue() != 3 {
		t.Errorf("rvq at 3 bits: %v code bits per value", s.BitsPerValue())
	}
	if _, err := (Config{Method: MethodKIVI, KeyBits: 9, ValueBits: 2, Group: 8}).Scheme(testShape, Keys); err == nil {
		t.Error("kv_key_bits=9 accepted")
	}
}

// TestKIVIStorageTerms: 4-bit keys and values of one 32-channel head in blocks of 32 (tokens
// for keys, channels for values), fp16 scales and zero points: 4 + 2·16/32 = 5 bits per value.
func TestKIVIStorageTerms(t *testing.T) {
	shape := Shape{Layers: 1, KVHeads: 1, HeadDim: 32}
	q := build(t, Config{Method: MethodKIVI, KeyBits: 4, ValueBits: 4, Group: 32, KeyGroup: 32}, shape)
	s := q.NewSequence()
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	for range 32 {
		s.Append(0, x, x, x)
	}
	const values = 2 * 32 * 32
	want := scheme.Storage{Values: values, Codes: 4 * values, Scales: values / 2, ZeroPoints: values / 2}
	if got := s.Storage(); got != want {
		t.Errorf("storage %+v, want %+v", got, want)
	}
	if got := s.BitsPerValue(); got != 5 {
		t.Errorf("%v bits per value, want 5", got)
	}
	if got := q.ConstantStorage(); got.Total() != 0 {
		t.Errorf("kivi holds constants: %+v", got)
	}
}

// TestWindowIsFullPrecision: a KIVI window and a kvquant sink are FullPrecision, 16 bits per
// value.
func TestWindowIsFullPrecision(t *testing.T) {
	shape := Shape{Layers: 1, KVHeads: 1, HeadDim: 8}
	q := build(t, Config{Method: MethodKIVI, KeyBits: 2, ValueBits: 2, Group: 8, KeyGroup: 4, Residual: 8}, shape)
	s := q.NewSequence()
	x := []float32{1, -2, 3, 0.5, 0, 7, -1, 2}
	for range 5 {
		s.Append(0, x, x, x)
	}
	if got := s.Storage(); got.FullPrecision != 16*2*5*8 || got.Codes != 0 {
		t.Errorf("5 tokens inside an 8-token window: %+v, want all 1280 bits full precision", got)
	}
}
