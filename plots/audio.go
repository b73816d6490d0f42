package plots

import (
	"encoding/base64"
	"fmt"
	"html"
	"math"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/qzoo/qzoo/formats/wav"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
)

// Spectrogram is a log-mel spectrogram for [SpectrogramPanel]: Values [Frames·Mels],
// row-major (one row of Mels bands per frame, as dsp.Mel.LogMel returns them), natural-log
// power; frame f is centred at f·HopSeconds.
type Spectrogram struct {
	Values       []float32
	Frames, Mels int
	HopSeconds   float64
}

// Dims, Z, X and Y make a Spectrogram a plotter.GridXYZ: columns are frames (time), rows mel
// bands (low to high).
func (s Spectrogram) Dims() (c, r int)   { return s.Frames, s.Mels }
func (s Spectrogram) Z(c, r int) float64 { return float64(s.Values[c*s.Mels+r]) }
func (s Spectrogram) X(c int) float64    { return float64(c) * s.HopSeconds }
func (s Spectrogram) Y(r int) float64    { return float64(r) }

// SpectrogramPanel is a panel drawing s with a colour scale over [lo, hi] in the log power's
// units (blue: quiet; red: loud; values beyond take the end colours); lo == hi takes s's
// own range. Give the original and
// its reconstructions one range so their colours compare. Errors: s's Values are not
// Frames·Mels long, or it has under two frames or bands (a heat map needs a grid).
func SpectrogramPanel(title string, s Spectrogram, lo, hi float64) (Panel, error) {
	if s.Frames < 2 || s.Mels < 2 || len(s.Values) != s.Frames*s.Mels {
		return Panel{}, fmt.Errorf("plots: spectrogram %q: %d values for %d frames × %d mel bands (need at least 2 × 2)", title, len(s.Values), s.Frames, s.Mels)
	}
	if lo == hi {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range s.Values {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
	}
	pal := moreland.SmoothBlueRed().Palette(64)
	hm := plotter.NewHeatMap(s, pal)
	hm.Min, hm.Max = lo, hi
	// Values outside the range (a reconstruction quieter or louder than the original) take
	// the end colours rather than none.
	colors := pal.Colors()
	hm.Underflow, hm.Overflow = colors[0], colors[len(colors)-1]
	return Panel{Title: title, XLabel: "time (s)", YLabel: "mel band", Plotters: []plot.Plotter{hm}}, nil
}

// AudioHTML is an HTML audio player holding x (mono, values in [−1, 1], rate Hz) as a
// 16-bit WAV file in a data: URL (formats/wav's Encode), captioned with label: what a GoNB
// notebook shows with [ShowAudio]. A 10 s clip at 16 kHz makes about 430 kB of HTML.
// Errors: formats/wav's (a NaN sample, a rate out of range).
func AudioHTML(label string, x []float32, rate int) (string, error) {
	b, err := wav.Encode(&wav.Audio{SampleRate: rate, Samples: [][]float32{x}})
	if err != nil {
		return "", fmt.Errorf("plots: audio %q: %w", label, err)
	}
	return fmt.Sprintf(`<div><p>%s</p><audio controls><source src="data:audio/wav;base64,%s" type="audio/wav"></audio></div>`,
		html.EscapeString(label), base64.StdEncoding.EncodeToString(b)), nil
}

// ShowAudio displays [AudioHTML]'s player inline in a GoNB notebook; elsewhere it does nothing.
func ShowAudio(label string, x []float32, rate int) error {
	h, err := AudioHTML(label, x, rate)
	if err != nil || !gonbui.IsNotebook {
		return err
	}
	gonbui.DisplayHTML(h)
	gonbui.Sync()
	return nil
}
