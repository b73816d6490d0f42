package quant

import (
	"fmt"
	"math"
)

// MSE is the mean squared difference (1/n)·Σ(a_i − b_i)², in float64; 0 for empty inputs.
// It panics if the lengths differ (a caller bug).
func MSE(a, b []float32) float64 {
	checkLengths("MSE", len(a), len(b))
	if len(a) == 0 {
		return 0
	}
	var sum float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		sum += d * d
	}
	return sum / float64(len(a))
}

// RelativeError is the relative Frobenius error ‖w − ŵ‖ / ‖w‖ (0 when both are zero, +Inf
// when only w is). It panics if the lengths differ.
func RelativeError(w, wq []float32) float64 {
	checkLengths("RelativeError", len(w), len(wq))
	var num, den float64
	for i := range w {
		d := float64(w[i]) - float64(wq[i])
		num += d * d
		den += float64(w[i]) * float64(w[i])
	}
	if num == 0 {
		return 0
	}
	return math.Sqrt(num / den)
}

// WeightedError is SqueezeLLM's sensitivity-weighted objective Σ_i F_i·(w_i − ŵ_i)² (Kim et
// al. 2024, §4.1), a second-order estimate of the loss the quantization adds (up to the
// factor ½ and the number of calibration samples); nil fisher means F_i = 1, the sum of
// squared errors. It panics if the lengths differ.
func WeightedError(w, wq, fisher []float32) float64 {
	checkLengths("WeightedError", len(w), len(wq))
	if fisher != nil {
		checkLengths("WeightedError fisher", len(w), len(fisher))
	}
	var sum float64
	for i := range w {
		d := float64(w[i]) - float64(wq[i])
		f := 1.0
		if fisher != nil {
			f = float64(fisher[i])
		}
		sum += f * d * d
	}
	return sum
}

func checkLengths(what string, a, b int) {
	if a != b {
		panic(fmt.Sprintf("quant: %s: lengths %d and %d differ", what, a, b))
	}
}
