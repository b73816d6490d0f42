// Package audio loads a speech recording for datasets and models: a WAV or FLAC file,
// identified by its content rather than its name, mixed down to mono and resampled to the rate
// the caller asks for.
//
// Shapes and units: [Clip.Samples] is [frames]float32 at [Clip.SampleRate] Hz, values in
// [-1, 1] as formats/wav and formats/flac read them (resampling may overshoot ±1 slightly near
// a full-scale edge). Mono is the mean of the channels at each instant ([wav.Audio.Mono]).
// Resampling is [dsp.Resample] (Kaiser-windowed sinc), which adds nothing above the source's
// Nyquist frequency: an 8 kHz telephone prompt loaded at 16 kHz holds nothing above 4 kHz, and
// [Clip.BandwidthHz] and [Clip.BandLimited] say so, for datasets to mark such sources.
//
// Identification: a RIFF WAVE header goes to formats/wav, a fLaC marker to formats/flac (each
// after ID3v2 tags or not: [wav.Is], [flac.Is]); anything else is refused by what it is (an MP3
// or Ogg file, an HTML page, a Git LFS pointer, text, an empty file: internal/sniff's names).
// Errors from the two readers are returned as they are (they name the file and the problem).
package audio

import (
	"fmt"
	"math"

	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/flac"
	"github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/internal/sniff"
)

// Bounds on resampling, checked before anything is allocated.
const (
	// MaxRate bounds the rate [Load] resamples to (formats/wav's bound on a file's rate).
	MaxRate = wav.MaxSampleRate
	// MaxRateRatio bounds the ratio of the rate asked for and the file's rate, either way: 192
	// takes 4 kHz audio to [MaxRate] and back. Upsampling multiplies the samples by the ratio
	// (a 1 Hz file of 60000 samples, 120 KB, would be 3.8 GB at 16 kHz), and downsampling's
	// anti-alias filter grows with it (768 kHz to 1 Hz would be a kernel of 52 M taps, for any
	// file, however short); a ratio beyond it is not audio resampling.
	MaxRateRatio = 192
)

// Clip is a mono recording resampled to one rate.
type Clip struct {
	// Samples is [frames]float32, mono, at SampleRate.
	Samples    []float32
	SampleRate int // Hz
	// SourceRate, SourceChannels and SourceFrames are the file's sample rate (Hz), channel
	// count and length (samples per channel); Container is its format, "WAV" or "FLAC", and
	// Encoding its sample format (e.g. "16-bit PCM").
	SourceRate, SourceChannels int
	SourceFrames               int64
	Container, Encoding        string
	// BandwidthHz is the highest frequency the clip can hold: half the lower of SourceRate and
	// SampleRate (resampling adds nothing above the source's Nyquist frequency).
	BandwidthHz float64
}

// Seconds is the duration, len(Samples) / SampleRate.
func (c *Clip) Seconds() float64 {
	if c.SampleRate <= 0 {
		return 0
	}
	return float64(len(c.Samples)) / float64(c.SampleRate)
}

// BandLimited reports whether the clip was upsampled from a lower rate, so that it holds
// nothing between BandwidthHz and its own Nyquist frequency (e.g. 8 kHz telephone speech at
// 16 kHz).
func (c *Clip) BandLimited() bool { return c.SourceRate < c.SampleRate }

// Load reads the WAV or FLAC file at path and returns it as mono at rate Hz (see [Decode]). The
// file is loaded whole, at most wav.MaxFileBytes; a directory or a device is refused
// ([sniff.ReadFile]).
func Load(path string, rate int) (*Clip, error) {
	data, err := sniff.ReadFile(path, wav.MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	return Decode(path, data, rate)
}

// Decode identifies the file held in data by its content, decodes it, mixes it down to mono and
// resamples it to rate Hz, in [1, MaxRate] and within a factor of [MaxRateRatio] of the file's
// rate; the resampled clip may hold at most wav.MaxSamples samples (checked before anything is
// allocated) and its samples are finite (float files whose samples overflow float32 in the
// mixdown or the resampling are refused). A file of no samples is an empty clip. name (a path,
// or any label) is named by every error.
func Decode(name string, data []byte, rate int) (*Clip, error) {
	if rate < 1 || rate > MaxRate {
		return nil, fmt.Errorf("audio: %s: rate %d Hz out of range [1, %d]", name, rate, MaxRate)
	}
	var (
		a         *wav.Audio
		container string
	)
	switch {
	case wav.Is(data):
		w, err := wav.Parse(name, data)
		if err != nil {
			return nil, err
		}
		a, container = w, "WAV"
	case flac.Is(data):
		f, err := flac.Parse(name, data)
		if err != nil {
			return nil, err
		}
		a, container = &f.Audio, "FLAC"
	case len(data) == 0:
		return nil, fmt.Errorf("audio: %s: the file is empty (0 bytes)", name)
	default:
		return nil, fmt.Errorf("audio: %s: this is %s: only WAV and FLAC files are read", name, sniff.Kind(data))
	}
	if rate > MaxRateRatio*a.SampleRate || a.SampleRate > MaxRateRatio*rate {
		return nil, fmt.Errorf("audio: %s: resampling %d Hz to %d Hz: the rates differ by more than the factor of %d this package resamples by", name, a.SampleRate, rate, MaxRateRatio)
	}
	if out := (int64(a.Frames())*int64(rate) + int64(a.SampleRate) - 1) / int64(a.SampleRate); out > wav.MaxSamples {
		return nil, fmt.Errorf("audio: %s: %d frames at %d Hz resample to %d at %d Hz, over the limit of %d samples", name, a.Frames(), a.SampleRate, out, rate, int64(wav.MaxSamples))
	}
	x, err := dsp.Resample(a.Mono(), a.SampleRate, rate)
	if err != nil {
		return nil, fmt.Errorf("audio: %s: %w", name, err)
	}
	// The readers refuse NaN and ±Inf; float samples near float32's limit (3.4e38) can still
	// sum past it in the mixdown or the resampling filter. A clip is finite, or an error.
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("audio: %s: sample %d is %v after mixing down and resampling %d Hz to %d Hz: the file's float samples are too large to be audio (float32 overflows)", name, i, v, a.SampleRate, rate)
		}
	}
	return &Clip{
		Samples:        x,
		SampleRate:     rate,
		SourceRate:     a.SampleRate,
		SourceChannels: a.Channels(),
		SourceFrames:   int64(a.Frames()),
		Container:      container,
		Encoding:       a.Format.String(),
		BandwidthHz:    float64(min(a.SampleRate, rate)) / 2,
	}, nil
}
