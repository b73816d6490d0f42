package quant

import (
	"math/rand/v2"
	"testing"
)

// benchSpecs are the quantizers of go run ./bench quant, plus SqueezeLLM's lookup tables and
// the float and NormalFloat-k data types.
var benchSpecs = []Spec{
	{Method: MethodRTN, Bits: 4, GroupSize: 64},
	{Method: MethodRTN, Bits: 8},
	{Method: MethodNF4},
	{Method: MethodNF4, DoubleQuant: true},
	{Method: MethodNF, Bits: 3},
	{Method: MethodFloat, Bits: 4, GroupSize: 64},
	{Method: MethodFloat, Bits: 8, GroupSize: 64},
}

// BenchmarkQuantize times QuantizeInto into one reused Quantized, as go run ./bench quant
// does, on a 4096×4096 Gaussian matrix (1024×1024 with -short):
// go test -run - -bench . -count 5 ./quant
func BenchmarkQuantize(b *testing.B) {
	rows, cols, w := benchMatrix(b)
	for _, spec := range benchSpecs {
		b.Run(spec.String(), func(b *testing.B) {
			var q Quantized
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				if err := QuantizeInto(&q, w, rows, cols, spec, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuantizeSqueezeLLM times SqueezeLLM's 4-bit tables per row of 4096 weights, whose
// weighted k-means takes most of the time, on 256 rows (64 with -short).
func BenchmarkQuantizeSqueezeLLM(b *testing.B) {
	rows, cols := 256, 4096
	if testing.Short() {
		rows = 64
	}
	w := normal(rand.New(rand.NewPCG(1, 2)), rows*cols, 0, 0.02)
	b.SetBytes(int64(4 * len(w)))
	for b.Loop() {
		if _, err := Quantize(w, rows, cols, Spec{Method: MethodSqueezeLLM, Bits: 4}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDequantize times Dequantize of the matrices of BenchmarkQuantize, and of
// SqueezeLLM's 4-bit tables per row (whose k-means is too slow to time here).
func BenchmarkDequantize(b *testing.B) {
	rows, cols, w := benchMatrix(b)
	specs := append(benchSpecs, Spec{Method: MethodSqueezeLLM, Bits: 4})
	for _, spec := range specs {
		q, err := Quantize(w, rows, cols, spec, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(spec.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				q.Dequantize()
			}
		})
	}
}

func benchMatrix(b *testing.B) (rows, cols int, w []float32) {
	rows, cols = 4096, 4096
	if testing.Short() {
		rows, cols = 1024, 1024
	}
	b.Logf("%d×%d", rows, cols)
	return rows, cols, normal(rand.New(rand.NewPCG(1, 2)), rows*cols, 0, 0.02)
}
