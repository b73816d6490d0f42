//go:build !purego

package vaeformer

import "testing"

// TestDecoderPathWithoutAssembly: with the assembly kernels switched off as on a CPU without
// AVX2 (the Go loops), and with AVX2 but without FMA (the dense kernel, but erf's tail in Go),
// the decoder-reproduced path gives the pinned bytes.
func TestDecoderPathWithoutAssembly(t *testing.T) {
	avx2, fma := useAVX2, hasFMA
	defer func() { useAVX2, hasFMA = avx2, fma }()
	for _, c := range []struct{ avx2, fma bool }{{false, false}, {true, false}} {
		useAVX2, hasFMA = c.avx2 && avx2, c.fma
		if got := decoderPathHash(t, fixedEntropyModel(t)); got != pinnedDecoderPath {
			t.Errorf("AVX2 %v, FMA %v: decoder path sha256 %s, pinned %s", useAVX2, hasFMA, got, pinnedDecoderPath)
		}
	}
}
