package quant_test

import (
	"fmt"
	"math"

	"github.com/qzoo/qzoo/quant"
)

// Quantize a 4×128 weight matrix three ways and compare storage and error.
func Example() {
	const rows, cols = 4, 128
	w := make([]float32, rows*cols)
	for i := range w { // N(0, 0.05²) quantiles in golden-ratio order: Gaussian-looking weights
		u := math.Mod((float64(i)+0.5)*0.6180339887498949, 1)
		w[i] = float32(0.05 * math.Sqrt2 * math.Erfinv(2*u-1))
	}
	for _, spec := range []quant.Spec{
		{Method: "rtn", Bits: 4, GroupSize: 64},
		{Method: "nf4"},
		{Method: "squeezellm", Bits: 3},
	} {
		q, err := quant.Quantize(w, rows, cols, spec, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		wq := q.Dequantize() // [rows, cols] float32, what the model loads
		fmt.Printf("%-20s %4d bits = %.2f bits/weight, relative error %.3f\n",
			spec, q.Bits(), q.BitsPerParam(), quant.RelativeError(w, wq))
	}
	// Output:
	// rtn-w4-g64-asym      2208 bits = 4.31 bits/weight, relative error 0.097
	// nf4-w4-g64           2304 bits = 4.50 bits/weight, relative error 0.091
	// squeezellm-w3-row    2048 bits = 4.00 bits/weight, relative error 0.182
}

// Pick one quantizer per layer under a budget of 60 000 bits.
func ExampleAllocate() {
	options := [][]quant.Choice{
		{{Label: "w2", Bits: 10_000, Cost: 9}, {Label: "w4", Bits: 20_000, Cost: 2}, {Label: "w8", Bits: 40_000, Cost: 0.1}},
		{{Label: "w2", Bits: 10_000, Cost: 1}, {Label: "w4", Bits: 20_000, Cost: 0.5}, {Label: "w8", Bits: 40_000, Cost: 0.01}},
		{{Label: "w2", Bits: 5_000, Cost: 4}, {Label: "w4", Bits: 10_000, Cost: 1}, {Label: "w8", Bits: 20_000, Cost: 0.05}},
	}
	picks, bits, cost, err := quant.Allocate(options, 60_000)
	if err != nil {
		fmt.Println(err)
		return
	}
	for layer, p := range picks {
		fmt.Printf("layer %d: %s\n", layer, options[layer][p].Label)
	}
	fmt.Printf("%d bits, cost %.2f\n", bits, cost)
	// Output:
	// layer 0: w8
	// layer 1: w2
	// layer 2: w4
	// 60000 bits, cost 2.10
}

// The data types of Dettmers & Zettlemoyer 2023 on the same 4×128 Gaussian-looking weights:
// integer, float with a chosen exponent/mantissa split, and normal-float, in blocks of 64 and
// in one block of the flattened matrix (512 > 128 columns), each block's constant counted.
func Example_dataTypes() {
	const rows, cols = 4, 128
	w := make([]float32, rows*cols)
	for i := range w {
		u := math.Mod((float64(i)+0.5)*0.6180339887498949, 1)
		w[i] = float32(0.05 * math.Sqrt2 * math.Erfinv(2*u-1))
	}
	for _, spec := range []quant.Spec{
		{Method: "rtn", Bits: 4, GroupSize: 64, Symmetric: true},
		{Method: "float", Bits: 4, Exponent: 2, GroupSize: 64},
		{Method: "nf", Bits: 4, GroupSize: 64},
		{Method: "float", Bits: 8, GroupSize: 64},
		{Method: "float", Bits: 4, GroupSize: 512},
	} {
		q, err := quant.Quantize(w, rows, cols, spec, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-20s %-34s %.3f bits/weight, relative error %.3f\n",
			spec, spec.Scheme(), q.BitsPerParam(), quant.RelativeError(w, q.Dequantize()))
	}
	// Output:
	// rtn-w4-g64-sym       weights/rtn int b4 sym g64/row     4.250 bits/weight, relative error 0.115
	// float-w4-e2m1-g64    weights/float e2m1 b4 g64/row      4.250 bits/weight, relative error 0.105
	// nf-w4-g64            weights/nf nf b4 g64/row           4.250 bits/weight, relative error 0.091
	// float-w8-e4m3-g64    weights/float e4m3 b8 g64/row      8.250 bits/weight, relative error 0.025
	// float-w4-e2m1-g512   weights/float e2m1 b4 g512/row     4.031 bits/weight, relative error 0.114
}
