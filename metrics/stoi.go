package metrics

import (
	"errors"
	"fmt"
	"math"
	"math/cmplx"

	"github.com/qzoo/qzoo/dsp"
	"gonum.org/v1/gonum/dsp/fourier"
)

// The constants of STOI (Taal, Hendriks, Heusdens and Jensen 2011, Section II and their
// reference MATLAB code stoi.m).
const (
	stoiRate     = 10000 // Hz: both signals are resampled to this rate
	stoiFrame    = 256   // samples per frame (25.6 ms)
	stoiHop      = 128   // samples between frames (50 % overlap)
	stoiFFT      = 512   // DFT points (the frame zero-padded)
	stoiBands    = 15    // one-third-octave bands
	stoiMinFreq  = 150   // Hz, centre of the lowest band
	stoiSegment  = 30    // frames per short-time segment (N = 384 ms)
	stoiBeta     = -15.0 // dB, lower bound of the signal-to-distortion ratio (clipping)
	stoiDynRange = 40.0  // dB below the clean signal's loudest frame that counts as silence
	stoiEps      = 2.220446049250313e-16
)

// ErrLengthMismatch is returned by the two-signal metrics when the signals differ in length.
var ErrLengthMismatch = errors.New("metrics: the signals differ in length")

// ErrTooShort is returned by [STOI] when fewer than 30 frames (N, 384 ms at 10 kHz) remain
// after the silent frames are removed, and by [LogMelDistance] for a signal shorter than one
// window (64 ms).
var ErrTooShort = errors.New("metrics: signal too short")

// STOI is the short-time objective intelligibility of processed against clean (Taal, Hendriks,
// Heusdens and Jensen 2011, "An Algorithm for Intelligibility Prediction of Time–Frequency
// Weighted Noisy Speech", IEEE TASLP 19(7), 2125–2136): a number in about [−1, 1], 1 for
// identical signals, that falls monotonically with intelligibility. Both are mono signals of
// the same length at rate Hz, time-aligned (STOI compares frame by frame).
//
// The steps, as the paper's reference code stoi.m (and pystoi) performs them:
//  1. both signals are resampled to 10 kHz ([dsp.Resample], a Kaiser-windowed sinc; stoi.m
//     uses MATLAB's resample, so values differ slightly, in the third decimal at most);
//  2. silent frames are removed: frames of 256 samples under MATLAB's hanning(256) (the
//     symmetric Hann window without its zero end points), hop 128, whose clean energy is more
//     than 40 dB below the clean signal's loudest frame are dropped from both signals, and the
//     kept windowed frames are overlap-added back into two shorter signals;
//  3. a 512-point DFT of the same frames (256 samples, Hann, hop 128) gives X(k, m);
//  4. 15 one-third-octave bands, centred at 150·2^(j/3) Hz, sum the power of the DFT bins
//     between their edges 150·2^((2j∓1)/6) Hz (each edge rounded to the nearest bin):
//     X_j(m) = √(Σ_k |X(k, m)|²) (Eq. 1);
//  5. for each band j and each segment of N = 30 consecutive frames ending at frame m,
//     x = [X_j(m−N+1) … X_j(m)] and the processed y likewise; y is scaled to the clean
//     segment's energy, α = ‖x‖/‖y‖, and clipped to bound the signal-to-distortion ratio below
//     by β = −15 dB: y' = min(α·y, (1 + 10^(−β/20))·x) (Eq. 3);
//  6. d_j,m is the correlation coefficient of x and y' (Eq. 5), and STOI is its mean over all
//     bands and segments (Eq. 6).
//
// The test holds it to a numpy transcription of pystoi (testdata/stoi_reference.py) to 1e-6 at
// 10 kHz, where no resampling is involved.
//
// Errors: [ErrLengthMismatch] when the lengths differ, [ErrTooShort] when fewer than 30 frames
// remain after silence removal, and an error for rate < 1. A band whose clean segment is
// constant (all zeros, e.g. digital silence in that band) contributes a correlation of 0, as
// in stoi.m.
func STOI(clean, processed []float32, rate int) (float64, error) {
	if len(clean) != len(processed) {
		return 0, fmt.Errorf("STOI: %w (%d and %d samples)", ErrLengthMismatch, len(clean), len(processed))
	}
	if rate < 1 {
		return 0, fmt.Errorf("STOI: sample rate must be ≥ 1 Hz, got %d", rate)
	}
	x, err := dsp.Resample(clean, rate, stoiRate)
	if err != nil {
		return 0, fmt.Errorf("STOI: %w", err)
	}
	y, err := dsp.Resample(processed, rate, stoiRate)
	if err != nil {
		return 0, fmt.Errorf("STOI: %w", err)
	}
	win := stoiWindow()
	xs, ys := removeSilentFrames(x, y, win)
	xSpec, frames := stoiBandEnvelopes(xs, win)
	ySpec, _ := stoiBandEnvelopes(ys, win)
	if frames < stoiSegment {
		return 0, fmt.Errorf("STOI: %w: %d frames of 25.6 ms remain after removing silence, need %d (%.0f ms of speech); the signal had %d samples at %d Hz",
			ErrTooShort, frames, stoiSegment, float64(stoiSegment*stoiHop)/stoiRate*1000, len(clean), rate)
	}
	clip := 1 + math.Pow(10, -stoiBeta/20)
	xv, yv := make([]float64, stoiSegment), make([]float64, stoiSegment)
	var sum float64
	segments := frames - stoiSegment + 1
	for j := 0; j < stoiBands; j++ {
		for m := stoiSegment; m <= frames; m++ {
			for n := 0; n < stoiSegment; n++ {
				f := m - stoiSegment + n
				xv[n], yv[n] = xSpec[f*stoiBands+j], ySpec[f*stoiBands+j]
			}
			alpha := norm(xv) / (norm(yv) + stoiEps)
			for n := range yv {
				yv[n] = math.Min(alpha*yv[n], clip*xv[n])
			}
			sum += correlation(xv, yv)
		}
	}
	return sum / float64(stoiBands*segments), nil
}

// stoiWindow is MATLAB's hanning(256): 0.5 − 0.5·cos(2π(i+1)/257), i = 0…255, the periodic
// Hann window of length 257 without its first (zero) sample.
func stoiWindow() []float64 {
	h := dsp.Hann(stoiFrame + 1)[1:]
	w := make([]float64, stoiFrame)
	for i, v := range h {
		w[i] = float64(v)
	}
	return w
}

// stoiFrameStarts is the number of frames stoi.m takes from n samples: starts 0, hop, … up to
// and excluding n − frame (its frames = 1:K:(length(x)−N)).
func stoiFrameStarts(n int) int {
	if n <= stoiFrame {
		return 0
	}
	return (n-stoiFrame-1)/stoiHop + 1
}

// removeSilentFrames drops the frames whose clean energy is more than 40 dB below the loudest
// clean frame from both signals and overlap-adds the kept windowed frames (stoi.m's
// removeSilentFrames).
func removeSilentFrames(x, y []float32, win []float64) ([]float64, []float64) {
	frames := stoiFrameStarts(len(x))
	energy := make([]float64, frames)
	maxEnergy := math.Inf(-1)
	for f := range energy {
		var s float64
		for i, w := range win {
			v := w * float64(x[f*stoiHop+i])
			s += v * v
		}
		energy[f] = 20 * math.Log10(math.Sqrt(s)+stoiEps)
		maxEnergy = math.Max(maxEnergy, energy[f])
	}
	var keep []int
	for f, e := range energy {
		if e > maxEnergy-stoiDynRange {
			keep = append(keep, f)
		}
	}
	if len(keep) == 0 {
		return nil, nil
	}
	n := (len(keep)-1)*stoiHop + stoiFrame
	xs, ys := make([]float64, n), make([]float64, n)
	for k, f := range keep {
		for i, w := range win {
			xs[k*stoiHop+i] += w * float64(x[f*stoiHop+i])
			ys[k*stoiHop+i] += w * float64(y[f*stoiHop+i])
		}
	}
	return xs, ys
}

// stoiBandEnvelopes returns the one-third-octave band magnitudes X_j(m) of Eq. 1, row-major
// [frames, 15], and the number of frames.
func stoiBandEnvelopes(x []float64, win []float64) ([]float64, int) {
	lo, hi := thirdOctaveBins()
	frames := stoiFrameStarts(len(x))
	fft := fourier.NewFFT(stoiFFT)
	buf := make([]float64, stoiFFT)
	coeff := make([]complex128, stoiFFT/2+1)
	out := make([]float64, frames*stoiBands)
	for f := 0; f < frames; f++ {
		for i, w := range win {
			buf[i] = w * x[f*stoiHop+i]
		}
		fft.Coefficients(coeff, buf) // buf[256:] stays zero: the frame zero-padded to 512
		for j := 0; j < stoiBands; j++ {
			var p float64
			for k := lo[j]; k < hi[j]; k++ {
				a := cmplx.Abs(coeff[k])
				p += a * a
			}
			out[f*stoiBands+j] = math.Sqrt(p)
		}
	}
	return out, frames
}

// thirdOctaveBins returns, per band j, the DFT bins [lo[j], hi[j]) it sums: the bins nearest
// to 150·2^((2j−1)/6) Hz and 150·2^((2j+1)/6) Hz (stoi.m's thirdoct).
func thirdOctaveBins() (lo, hi [stoiBands]int) {
	nearest := func(hz float64) int {
		k := int(math.Round(hz * stoiFFT / stoiRate))
		return min(max(k, 0), stoiFFT/2)
	}
	for j := 0; j < stoiBands; j++ {
		lo[j] = nearest(stoiMinFreq * math.Pow(2, float64(2*j-1)/6))
		hi[j] = nearest(stoiMinFreq * math.Pow(2, float64(2*j+1)/6))
	}
	return lo, hi
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// correlation is the sample correlation coefficient of a and b (Eq. 5), with stoi.m's ε in the
// denominators: 0 when either is constant.
func correlation(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var ab, aa, bb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		ab += da * db
		aa += da * da
		bb += db * db
	}
	return ab / ((math.Sqrt(aa) + stoiEps) * (math.Sqrt(bb) + stoiEps))
}
