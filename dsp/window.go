package dsp

import "math"

// Hann returns the periodic Hann window of length n, w[i] = 0.5 − 0.5·cos(2πi/n), as
// torch.hann_window(n) (periodic=True) and scipy.signal.get_window("hann", n). It panics if
// n < 1.
func Hann(n int) []float32 {
	if n < 1 {
		panic("dsp.Hann: length must be ≥ 1")
	}
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n)))
	}
	return w
}

// besselI0 is the modified Bessel function of the first kind of order 0, by its power series
// Σ ((x/2)^k / k!)², summed until the term is below 1e-16 of the sum.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 500; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-16*sum {
			break
		}
	}
	return sum
}

// kaiser is the Kaiser window at position u ∈ [−1, 1] with shape β: I0(β·√(1−u²)) / I0(β),
// and 0 outside.
func kaiser(u, beta float64) float64 {
	if u <= -1 || u >= 1 {
		return 0
	}
	return besselI0(beta*math.Sqrt(1-u*u)) / besselI0(beta)
}
