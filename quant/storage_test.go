package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/qzoo/qzoo/quant/scheme"
)

// TestStorageTerms checks each term of Spec.Storage against a hand count, and that a
// quantized matrix reports the storage of its spec and shape.
func TestStorageTerms(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 20))
	const rows, cols = 4, 96 // 3 groups of 32 per row: 12 groups
	w := normal(rng, rows*cols, 0, 1)
	n := float64(rows * cols)
	for _, tc := range []struct {
		spec Spec
		want scheme.Storage
	}{
		// RTN 4-bit in groups of 32: 4 bits of code, an fp16 scale and a 4-bit zero point per
		// 32 weights.
		{Spec{Method: MethodRTN, Bits: 4, GroupSize: 32}, scheme.Storage{Codes: 4 * n, Scales: 12 * 16, ZeroPoints: 12 * 4}},
		{Spec{Method: MethodRTN, Bits: 4, GroupSize: 32, Symmetric: true}, scheme.Storage{Codes: 4 * n, Scales: 12 * 16}},
		// nf4 block 32: fp32 absmax; double-quantized: int8 codes, one fp32 scale, the fp32 mean.
		{Spec{Method: MethodNF4, GroupSize: 32}, scheme.Storage{Codes: 4 * n, Scales: 12 * 32}},
		{Spec{Method: MethodNF4, GroupSize: 32, DoubleQuant: true}, scheme.Storage{Codes: 4 * n, Scales: 12*8 + 2*32}},
		// squeezellm per row: 2^3 fp16 entries per row.
		{Spec{Method: MethodSqueezeLLM, Bits: 3}, scheme.Storage{Codes: 3 * n, Tables: rows * 8 * 16}},
		// ⌊0.01·384⌋ = 3 outliers: fp32 values; ⌈log₂ 96⌉ = 7-bit columns and 4 row ends of
		// ⌈log₂ 4⌉ = 2 bits; the Hadamard seed is shared, 64 bits.
		{Spec{Method: MethodRTN, Bits: 2, OutlierFraction: 0.01, Hadamard: true, Seed: 3},
			scheme.Storage{Codes: 2 * n, Scales: rows * 16, ZeroPoints: rows * 2, OutlierValues: 3 * 32, OutlierIndices: 3*7 + 4*2, Shared: 64}},
	} {
		tc.want.Values = rows * cols
		if got := tc.spec.Storage(rows, cols); got != tc.want {
			t.Errorf("%s: Storage %+v, want %+v", tc.spec, got, tc.want)
		}
		q, err := Quantize(w, rows, cols, tc.spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Storage(); got != tc.want || q.Bits() != int64(tc.want.Total()) {
			t.Errorf("%s: quantized storage %+v (%d bits), want %+v", tc.spec, got, q.Bits(), tc.want)
		}
	}
	// The per-weight figure of the package documentation: 4 + (16+4)/32 bits.
	if got := (Spec{Method: MethodRTN, Bits: 4, GroupSize: 32}).Storage(rows, cols).BitsPerValue(); got != 4+20.0/32 {
		t.Errorf("rtn-w4-g32-asym: %v bits per weight, want 4.625", got)
	}
}

func TestSpecScheme(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Method: MethodRTN, Bits: 4, GroupSize: 32}, "weights/rtn int b4 asym g32/row"},
		{Spec{Method: MethodRTN, Bits: 3, Symmetric: true}, "weights/rtn int b3 sym row"},
		{Spec{Method: MethodNF4}, "weights/nf4 nf b4 g64/row"},
		{Spec{Method: MethodSqueezeLLM, Bits: 3, GroupSize: 128}, "weights/squeezellm lut b3 g128/row"},
		{Spec{Method: MethodFloat, Bits: 4, GroupSize: 64}, "weights/float e2m1 b4 g64/row"},
		{Spec{Method: MethodFloat, Bits: 8, Exponent: 5}, "weights/float e5m2 b8 row"},
		{Spec{Method: MethodFloat, Bits: 16, GroupSize: 4096}, "weights/float e5m10 b16 g4096/row"},
		{Spec{Method: MethodNF, Bits: 3, GroupSize: 256}, "weights/nf nf b3 g256/row"},
		{Spec{Method: MethodRTN, Bits: 16, Symmetric: true}, "weights/rtn int b16 sym row"},
	} {
		if got := tc.spec.Scheme().String(); got != tc.want {
			t.Errorf("%s: Scheme %q, want %q", tc.spec, got, tc.want)
		}
	}
	if s := (Spec{Method: MethodSqueezeLLM, Bits: 3}).Scheme(); s.Codebook != 8 || s.Type.Format != scheme.Lookup {
		t.Errorf("squeezellm 3-bit: %+v, want a lookup table of 8 levels", s)
	}
	if s := (Spec{Method: MethodFloat, Bits: 8}).Scheme(); s.Type.String() != scheme.E4M3.String() {
		t.Errorf("float 8-bit: type %v, want scheme.E4M3", s.Type)
	}
	if s := (Spec{Method: MethodFloat, Bits: 16}).Scheme(); s.Type.String() != scheme.FP16.String() {
		t.Errorf("float 16-bit: type %v, want scheme.FP16", s.Type)
	}
}

func TestCommonKeys(t *testing.T) {
	params := map[string]any{ParamPTQ: MethodRTN, ParamPTQBits: 3, ParamPTQGroupSize: 64, ParamPTQSymmetric: true,
		ParamPTQExponent: 0, ParamPTQDoubleQuant: false, ParamPTQOutliers: 0.0, ParamPTQHadamard: false}
	s := SpecFromParams(params, 5)
	if s.Bits != 5 || s.GroupSize != 64 || !s.Symmetric {
		t.Errorf("SpecFromParams: %+v, want bits 5 (the argument), group 64, symmetric", s)
	}
}
