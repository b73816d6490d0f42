package kvcache

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestHadamardOrthogonal: the normalised Walsh–Hadamard transform keeps norms and is its own
// inverse, and the codec's rotation with its signs round-trips at 8 bits.
func TestHadamardOrthogonal(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	v := make([]float32, 16)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	orig := append([]float32(nil), v...)
	hadamard(v)
	var n0, n1 float64
	for i := range v {
		n0 += float64(orig[i]) * float64(orig[i])
		n1 += float64(v[i]) * float64(v[i])
	}
	if math.Abs(n0-n1) > 1e-5*n0 {
		t.Errorf("norm² %v before, %v after", n0, n1)
	}
	hadamard(v)
	for i := range v {
		if math.Abs(float64(v[i]-orig[i])) > 1e-5 {
			t.Fatalf("H·H·v differs from v at %d: %v, %v", i, v[i], orig[i])
		}
	}
	tok := syntheticTokens(rng, 30, testShape.Width())
	k, v8 := fill(t, build(t, Config{Method: MethodRotation, KeyBits: 8, ValueBits: 8, Group: 8}, testShape), tok)
	if e, f := relErr(tok.keys, k), relErr(tok.val, v8); e > 1e-4 || f > 1e-4 {
		t.Errorf("8-bit relative errors %.3g (keys), %.3g (values), want below 1e-4", e, f)
	}
}

// TestRotationBytes: ⌈W·b/8⌉ bytes of codes and 2 bytes per group's fp16 RMS per token, 2·W
// per sink token; the constants are the 2^b fp16 levels and the W fp16 channel means per
// layer and side.
func TestRotationBytes(t *testing.T) {
	const bits, group, sink = 3, 16, 2
	w := testShape.Width()
	q := build(t, Config{Method: MethodRotation, KeyBits: bits, ValueBits: bits, Group: group, Sink: sink}, testShape)
	tok := syntheticTokens(rand.New(rand.NewPCG(13, 13)), 9, w)
	s := q.NewSequence()
	for i := range tok.n {
		s.Append(1, tok.keysPre[i*w:(i+1)*w], tok.keys[i*w:(i+1)*w], tok.val[i*w:(i+1)*w])
	}
	if want := 2 * (sink*2*w + (tok.n-sink)*((w*bits+7)/8+2*w/group)); s.Bytes() != want {
		t.Errorf("%d bytes, want %d", s.Bytes(), want)
	}
	if want := testShape.Layers * 2 * 2 * (1<<bits + w); q.ConstantBytes() != want {
		t.Errorf("%d constant bytes, want %d", q.ConstantBytes(), want)
	}
}
