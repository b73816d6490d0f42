package quant

import (
	"testing"
)

// TestStories260KW2 quantizes a real weight matrix, layer 0's w2 ([64, 172]) of llama2.c's
// stories260K.
//
// The bound on 4-bit RTN in groups of 64: uniform rounding with step Δ has RMS error Δ/√12.
// The matrix is centred (mean 2e-4, std σ = 0.124, kurtosis 4.0); its 192 groups span
// 4.6σ on average (range widened to contain 0), so Δ ≈ 4.6σ/15 and the relative error
// predicted from each group's Δ_g is √(Σ_g 64·Δ_g²/12 / Σw²) = 0.0912, which is what is
// measured. The bound 0.10 leaves 10%; a wrong scale, zero point or group boundary costs
// more (one group per row gives 0.107, 2-bit codes 0.45).
func TestStories260KW2(t *testing.T) {
	w, err := readStoriesW2()
	if err != nil {
		t.Fatal(err)
	}
	relative := make(map[string]float64)
	for _, spec := range []Spec{
		{Method: "rtn", Bits: 4, GroupSize: 64},
		{Method: "rtn", Bits: 4, GroupSize: 64, Symmetric: true},
		{Method: "rtn", Bits: 4},
		{Method: "rtn", Bits: 4, GroupSize: 64, Hadamard: true},
		{Method: "nf4"},
		{Method: "nf4", DoubleQuant: true},
		{Method: "squeezellm", Bits: 4},
		{Method: "squeezellm", Bits: 3, OutlierFraction: 0.005},
		{Method: "rtn", Bits: 8, GroupSize: 64},
		{Method: "rtn", Bits: 2, GroupSize: 64},
	} {
		q, wq := roundTrip(t, w, 64, 172, spec, nil)
		relative[spec.String()] = RelativeError(w, wq)
		t.Logf("%-26s %.3f bits/param, relative error %.4f", spec, q.BitsPerParam(), relative[spec.String()])
	}
	if e := relative["rtn-w4-g64-asym"]; e > 0.10 || e < 0.05 {
		t.Errorf("4-bit RTN in groups of 64: relative error %.4f outside [0.05, 0.10]", e)
	}
	if e := relative["rtn-w8-g64-asym"]; e > 0.10/16 {
		t.Errorf("8-bit RTN in groups of 64: relative error %.4f above 1/16 of the 4-bit bound", e)
	}
	if s, r := relative["squeezellm-w4-row"], relative["rtn-w4-row-asym"]; s >= r {
		t.Errorf("per-row 4-bit k-means %.4f not below per-row 4-bit RTN %.4f", s, r)
	}
}
