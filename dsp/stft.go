package dsp

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// STFT describes a short-time Fourier transform: frame f covers the NFFT samples
// [f·Hop, f·Hop+NFFT) of the padded signal, multiplied by a periodic Hann window of length Win
// centred in the frame (zeros outside it), as torch.stft(n_fft=NFFT, hop_length=Hop,
// win_length=Win, window=hann_window(Win)). With Center, NFFT/2 zeros are added at both ends
// first (torch pads by reflection; zeros keep the graph version, layers/audio, free of
// reversed slices). Only whole frames are kept.
type STFT struct {
	NFFT, Win, Hop int
	Center         bool
}

// Validate checks 1 ≤ Hop, 1 ≤ Win ≤ NFFT.
func (s STFT) Validate() error {
	if s.Hop < 1 || s.Win < 1 || s.Win > s.NFFT {
		return fmt.Errorf("STFT: need hop ≥ 1 and 1 ≤ win ≤ nfft, got nfft=%d win=%d hop=%d", s.NFFT, s.Win, s.Hop)
	}
	return nil
}

// Bins is the number of one-sided frequency bins, NFFT/2+1.
func (s STFT) Bins() int { return s.NFFT/2 + 1 }

// Pad is the number of zeros added before (and after) the signal: NFFT/2 with Center, else 0.
func (s STFT) Pad() int {
	if s.Center {
		return s.NFFT / 2
	}
	return 0
}

// NumFrames is the number of whole frames of a signal of n samples (0 if it is shorter than
// one frame after padding).
func (s STFT) NumFrames(n int) int {
	p := n + 2*s.Pad()
	if p < s.NFFT {
		return 0
	}
	return (p-s.NFFT)/s.Hop + 1
}

// Window is the analysis window over a whole frame: Hann(Win) centred in NFFT samples.
func (s STFT) Window() []float32 {
	w := make([]float32, s.NFFT)
	copy(w[(s.NFFT-s.Win)/2:], Hann(s.Win))
	return w
}

// Power returns the power spectrogram |X[f, k]|² of x, row-major [frames, Bins()], with
// frames = NumFrames(len(x)). Errors: an invalid STFT.
func (s STFT) Power(x []float32) ([]float32, int, error) {
	if err := s.Validate(); err != nil {
		return nil, 0, err
	}
	frames, bins, pad := s.NumFrames(len(x)), s.Bins(), s.Pad()
	win := s.Window()
	fft := fourier.NewFFT(s.NFFT)
	buf := make([]float64, s.NFFT)
	coeff := make([]complex128, bins)
	out := make([]float32, frames*bins)
	for f := 0; f < frames; f++ {
		start := f*s.Hop - pad
		for i := range buf {
			j := start + i
			if j >= 0 && j < len(x) {
				buf[i] = float64(x[j]) * float64(win[i])
			} else {
				buf[i] = 0
			}
		}
		fft.Coefficients(coeff, buf)
		for k, c := range coeff {
			out[f*bins+k] = float32(real(c)*real(c) + imag(c)*imag(c))
		}
	}
	return out, frames, nil
}

// Mel describes a log-mel spectrogram: the STFT's power spectrum times a mel filterbank
// (MelFilterbank with these fields), then ln(max(mel, Floor)). Floor > 0 bounds the log of
// silence (e.g. 1e-5).
type Mel struct {
	STFT
	SampleRate, NMels int
	FMin, FMax        float64
	Scale             MelScale
	AreaNorm          bool
	Floor             float64
}

// Filterbank is MelFilterbank for m's fields: [Bins(), NMels].
func (m Mel) Filterbank() ([]float32, error) {
	return MelFilterbank(m.SampleRate, m.NFFT, m.NMels, m.FMin, m.FMax, m.Scale, m.AreaNorm)
}

// LogMel returns the log-mel spectrogram of x, row-major [frames, NMels], and the number of
// frames. Errors: invalid STFT or filterbank fields, or Floor ≤ 0.
func (m Mel) LogMel(x []float32) ([]float32, int, error) {
	if !(m.Floor > 0) {
		return nil, 0, fmt.Errorf("Mel: floor must be > 0, got %g", m.Floor)
	}
	fb, err := m.Filterbank()
	if err != nil {
		return nil, 0, err
	}
	power, frames, err := m.Power(x)
	if err != nil {
		return nil, 0, err
	}
	bins := m.Bins()
	out := make([]float32, frames*m.NMels)
	for f := 0; f < frames; f++ {
		row := power[f*bins : (f+1)*bins]
		for j := 0; j < m.NMels; j++ {
			var e float64
			for k, p := range row {
				e += float64(p) * float64(fb[k*m.NMels+j])
			}
			out[f*m.NMels+j] = float32(math.Log(math.Max(e, m.Floor)))
		}
	}
	return out, frames, nil
}
