package scheme_test

import (
	"fmt"
	"testing"

	"github.com/qzoo/qzoo/quant/scheme"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		s    scheme.Scheme
		want string
	}{
		{scheme.Scheme{Kind: scheme.Weights, Method: "rtn", Bits: 4, Type: scheme.Integer, Block: 32, Axis: scheme.PerRow}, "weights/rtn int b4 asym g32/row"},
		{scheme.Scheme{Kind: scheme.Weights, Method: "rtn", Bits: 3, Type: scheme.Integer, Symmetric: true, Axis: scheme.PerRow}, "weights/rtn int b3 sym row"},
		{scheme.Scheme{Kind: scheme.Weights, Method: "fp4", Bits: 4, Type: scheme.E2M1, Block: 32, Axis: scheme.PerRow}, "weights/fp4 e2m1 b4 g32/row"},
		{scheme.Scheme{Kind: scheme.Cache, Method: "fp16", Bits: 16, Type: scheme.FP16}, "cache/fp16 e5m10 b16"},
		{scheme.Scheme{Kind: scheme.Latents, Method: "rvq", Bits: 30, Type: scheme.Vectors, Codebook: 1024, Stages: 3, Dim: 64, Axis: scheme.PerVector}, "latents/rvq codebook b30 K=1024×3 d=64 vector"},
		{scheme.Scheme{Kind: scheme.Latents, Method: "fsq", Bits: scheme.CodeBits(1000), Type: scheme.DataType{Format: scheme.Levels, Levels: []int{8, 5, 5, 5}}, Codebook: 1000, Axis: scheme.PerVector}, "latents/fsq levels[8,5,5,5] b9.966 K=1000 vector"},
		{scheme.Scheme{Kind: scheme.Weights, Method: "squeezellm", Bits: 3, Type: scheme.LUT, Codebook: 8, Axis: scheme.PerRow}, "weights/squeezellm lut b3 row"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestBitsPerValue(t *testing.T) {
	vq := scheme.Scheme{Bits: 8, Dim: 4}
	if got := vq.BitsPerValue(); got != 2 {
		t.Errorf("8-bit codes of 4 values: %v bits per value, want 2", got)
	}
	if got := (scheme.Scheme{Bits: 3}).BitsPerValue(); got != 3 {
		t.Errorf("scalar 3-bit codes: %v bits per value, want 3", got)
	}
}

func TestStorage(t *testing.T) {
	a := scheme.Storage{Values: 64, Codes: 256, Scales: 32, ZeroPoints: 8}
	b := scheme.Storage{Values: 10, OutlierValues: 32, OutlierIndices: 7, Tables: 5, Shared: 64, FullPrecision: 16}
	if got := a.Total(); got != 296 {
		t.Errorf("Total %v, want 296", got)
	}
	sum := scheme.Sum(a, b)
	if sum.Values != 74 || sum.Codes != 256 || sum.Shared != 64 || sum.Total() != 296+124 {
		t.Errorf("Sum %+v", sum)
	}
	if got := scheme.TotalBits(a, b); got != 420 {
		t.Errorf("TotalBits %v, want 420", got)
	}
	if got := scheme.BitsPerValue(a, b); got != 420.0/74 {
		t.Errorf("BitsPerValue %v, want 420/74", got)
	}
	if got := a.Scale(3); got.Values != 192 || got.Total() != 3*296 {
		t.Errorf("Scale(3) %+v", got)
	}
	if got := scheme.Unquantized(10, 32); got.FullPrecision != 320 || got.BitsPerValue() != 32 {
		t.Errorf("Unquantized %+v", got)
	}
	if got := (scheme.Storage{}).BitsPerValue(); got != 0 {
		t.Errorf("empty storage: %v bits per value", got)
	}
}

func TestKeysRead(t *testing.T) {
	params := map[string]any{"x_bits": 3, "x_group": 64, "x_sym": true, "other": 1}
	got := scheme.Keys{Bits: "x_bits", Block: "x_group", Symmetric: "x_sym"}.Read(params)
	if got != (scheme.Common{Bits: 3, Block: 64, Symmetric: true}) {
		t.Errorf("Read %+v", got)
	}
	if got := (scheme.Keys{Bits: "x_bits"}).Read(params); got != (scheme.Common{Bits: 3}) {
		t.Errorf("Read of bits alone %+v", got)
	}
}

// A model's total bits: rtn-w4-g32 weights (4-bit codes, an fp16 scale and a 4-bit zero
// point per 32 weights) beside float embeddings, summed with one function.
func ExampleTotalBits() {
	rtn := scheme.Scheme{Kind: scheme.Weights, Method: "rtn", Bits: 4, Type: scheme.Integer, Block: 32, Axis: scheme.PerRow}
	n := int64(1 << 20)
	linear := scheme.Storage{Values: n, Codes: float64(4 * n), Scales: float64(16 * n / 32), ZeroPoints: float64(4 * n / 32)}
	embedding := scheme.Unquantized(1<<16, 32)
	fmt.Println(rtn)
	fmt.Printf("%.4f bits per weight, %.0f bits in all\n", linear.BitsPerValue(), scheme.TotalBits(linear, embedding))
	// Output:
	// weights/rtn int b4 asym g32/row
	// 4.6250 bits per weight, 6946816 bits in all
}
