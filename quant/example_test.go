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
