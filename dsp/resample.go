package dsp

import (
	"fmt"
	"math"
)

// Resampling quality: the windowed-sinc kernel spans resampleZeros zero crossings of the
// lower rate's sinc on each side, under a Kaiser window of shape resampleBeta, with the cutoff
// at resampleRolloff of the lower Nyquist frequency. β = 8.6 puts the stopband near −90 dB;
// 32 zero crossings make the transition band about 6% of Nyquist wide.
const (
	resampleZeros   = 32
	resampleBeta    = 8.6
	resampleRolloff = 0.94
	// resampleTable is the number of fractional times at which filters are tabulated when the
	// rates' ratio has more phases than that.
	resampleTable = 1024
	// maxResampleRate bounds the rates Resample accepts (Hz).
	maxResampleRate = 1 << 20
)

// Resample converts x, sampled at from Hz, to the rate to Hz by band-limited interpolation:
// y[n] = Σ_k x[k]·c·h(c·(n·from/to − k)), h the sinc interpolation kernel under a Kaiser window
// and c = 0.94·min(1, to/from) the cutoff in cycles per input sample relative to the input's
// Nyquist (Smith's bandlimited interpolation, ccrma.stanford.edu/~jos/resample; the method of
// libsamplerate and resampy). Downsampling therefore low-pass filters first, so nothing above the
// new Nyquist aliases; upsampling adds no content above the old Nyquist (an 8 kHz source at
// 16 kHz stays band-limited to 4 kHz). The output has ⌈len(x)·to/from⌉ samples; samples outside
// x count as 0. Rates must be in [1, 2^20] Hz. from == to returns a copy.
func Resample(x []float32, from, to int) ([]float32, error) {
	if from < 1 || to < 1 || from > maxResampleRate || to > maxResampleRate {
		return nil, fmt.Errorf("dsp.Resample: rates must be in [1, %d] Hz, got %d → %d", maxResampleRate, from, to)
	}
	if from == to {
		return append([]float32(nil), x...), nil
	}
	g := gcd(from, to)
	up, down := to/g, from/g // output n sits at input time n·down/up
	n := int((int64(len(x))*int64(up) + int64(down) - 1) / int64(down))
	cutoff := resampleRolloff * math.Min(1, float64(to)/float64(from))
	half := int(math.Ceil(resampleZeros / cutoff)) // taps on each side, in input samples
	// One filter per output phase p = (n·down) mod up, kernel taps at input offsets −half..half.
	taps := 2*half + 1
	at := func(t float64) float64 { return cutoff * sinc(cutoff*t) * kaiser(t/float64(half+1), resampleBeta) }
	// filter is the kernel for an output at fractional input time frac ∈ [0, 1].
	filter := func(frac float64) []float32 {
		h := make([]float32, taps)
		for j := range h {
			h[j] = float32(at(float64(j-half) - frac)) // input sample offset minus the output's time
		}
		return h
	}
	// With few phases (p = (n·down) mod up) each gets its exact filter, computed once. With many
	// (rates such as 7999 Hz, whose ratio to 16 kHz reduces to 16000/7999 phases), filters are
	// computed once at resampleTable fractional times and an output interpolates linearly
	// between the two around its own (as libsamplerate does): an error below 1e-5 of full scale,
	// under the stopband.
	steps := up
	if up > 4096 {
		steps = resampleTable
	}
	filters := make([][]float32, steps+1)
	for q := range filters {
		filters[q] = filter(float64(q) / float64(steps))
	}
	dot := func(h []float32, lo int, x []float32) float64 {
		var acc float64
		for j, w := range h {
			if k := lo + j; k >= 0 && k < len(x) {
				acc += float64(w) * float64(x[k])
			}
		}
		return acc
	}
	y := make([]float32, n)
	for i := range y {
		pos := int64(i) * int64(down)
		centre, p := int(pos/int64(up)), pos%int64(up)
		lo := centre - half
		if steps == up {
			y[i] = float32(dot(filters[p], lo, x))
			continue
		}
		at := float64(p) / float64(up) * float64(steps)
		q := int(at)
		w := at - float64(q)
		y[i] = float32((1-w)*dot(filters[q], lo, x) + w*dot(filters[q+1], lo, x))
	}
	return y, nil
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
