package dsp

import (
	"fmt"
	"math"
)

// MelScale selects the Hz ↔ mel mapping of a filterbank.
type MelScale int

const (
	// HTK is mel = 2595·log10(1 + f/700) (the HTK book; torchaudio's default).
	HTK MelScale = iota
	// Slaney is Auditory Toolbox's scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic
	// above (27 mels per factor 6.4); librosa's default and Whisper's front end.
	Slaney
)

// HzToMel maps a frequency in Hz to mels on the scale s.
func (s MelScale) HzToMel(f float64) float64 {
	if s == HTK {
		return 2595 * math.Log10(1+f/700)
	}
	const fSp, minLogHz = 200.0 / 3, 1000.0
	minLogMel, logStep := minLogHz/fSp, math.Log(6.4)/27
	if f < minLogHz {
		return f / fSp
	}
	return minLogMel + math.Log(f/minLogHz)/logStep
}

// MelToHz is the inverse of HzToMel.
func (s MelScale) MelToHz(m float64) float64 {
	if s == HTK {
		return 700 * (math.Pow(10, m/2595) - 1)
	}
	const fSp, minLogHz = 200.0 / 3, 1000.0
	minLogMel, logStep := minLogHz/fSp, math.Log(6.4)/27
	if m < minLogMel {
		return m * fSp
	}
	return minLogHz * math.Exp(logStep*(m-minLogMel))
}

// MelFilterbank returns the triangular mel filters for one-sided spectra of an nfft-point DFT
// at sampleRate Hz, as a row-major [nfft/2+1, nMels] matrix, so that a power spectrum row
// [bins] times it gives the mel energies [nMels] (librosa.filters.mel and torchaudio's
// melscale_fbanks, transposed as torchaudio returns it). The nMels+2 band edges are equally
// spaced in mels between fMin and fMax (Hz); filter m rises linearly from edge m to edge m+1
// and falls to edge m+2, evaluated at each bin's frequency k·sampleRate/nfft. With areaNorm
// (librosa's norm="slaney") each filter is scaled by 2/(edge m+2 − edge m) in Hz so that all
// have equal area; otherwise each peaks at 1. Errors: nfft < 2, nMels < 1, or not
// 0 ≤ fMin < fMax ≤ sampleRate/2.
func MelFilterbank(sampleRate, nfft, nMels int, fMin, fMax float64, scale MelScale, areaNorm bool) ([]float32, error) {
	nyquist := float64(sampleRate) / 2
	switch {
	case nfft < 2:
		return nil, fmt.Errorf("dsp.MelFilterbank: nfft must be ≥ 2, got %d", nfft)
	case nMels < 1:
		return nil, fmt.Errorf("dsp.MelFilterbank: nMels must be ≥ 1, got %d", nMels)
	case !(fMin >= 0 && fMin < fMax && fMax <= nyquist):
		return nil, fmt.Errorf("dsp.MelFilterbank: need 0 ≤ fMin < fMax ≤ %g Hz (sampleRate/2), got fMin=%g fMax=%g", nyquist, fMin, fMax)
	}
	bins := nfft/2 + 1
	lo, hi := scale.HzToMel(fMin), scale.HzToMel(fMax)
	edges := make([]float64, nMels+2)
	for i := range edges {
		edges[i] = scale.MelToHz(lo + (hi-lo)*float64(i)/float64(nMels+1))
	}
	fb := make([]float32, bins*nMels)
	for k := 0; k < bins; k++ {
		f := float64(k) * float64(sampleRate) / float64(nfft)
		for m := 0; m < nMels; m++ {
			left, centre, right := edges[m], edges[m+1], edges[m+2]
			w := math.Max(0, math.Min((f-left)/(centre-left), (right-f)/(right-centre)))
			if areaNorm {
				w *= 2 / (right - left)
			}
			fb[k*nMels+m] = float32(w)
		}
	}
	return fb, nil
}
