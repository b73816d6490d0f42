package speech

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/metrics"
	"github.com/qzoo/qzoo/plots"
	"gonum.org/v1/plot/plotter"
)

// Figure draws the table's quality against bit rate: STOI (higher is better) and log-mel
// distance (lower is better) against the payload bit rate on a log₂ axis, one line per codec
// family — Codec2's modes, Opus's rates, and the learned codecs grouped by their frame rate
// ("tokenizer 12.5 Hz", from their coding values; a learned codec without one is its own
// line). The band-limited control, at no bit rate, is left out.
func (t *Table) Figure() plots.Figure {
	stoi, lmd := map[string]plotter.XYs{}, map[string]plotter.XYs{}
	var order []string
	for _, r := range t.Rows {
		if r.Kind == KindControl {
			continue
		}
		family := Family(r)
		if _, ok := stoi[family]; !ok {
			order = append(order, family)
		}
		stoi[family] = append(stoi[family], plotter.XY{X: r.PayloadBitRate, Y: r.STOI})
		lmd[family] = append(lmd[family], plotter.XY{X: r.PayloadBitRate, Y: r.LogMelDistance})
	}
	return plots.Figure{Panels: []plots.Panel{
		{Title: "intelligibility", XLabel: "payload bit rate (bit/s)", YLabel: "STOI", LogX: true, Series: plots.SeriesInOrder(stoi, order)},
		{Title: "spectral distance", XLabel: "payload bit rate (bit/s)", YLabel: "log-mel distance (nepers)", LogX: true, Series: plots.SeriesInOrder(lmd, order)},
	}}
}

// Family is the line a row is drawn on by [Table.Figure]: "Codec2", "Opus", "tokenizer F Hz"
// for a learned codec reporting frame rate F, else the codec's name.
func Family(r Row) string {
	switch {
	case r.Kind == KindPeer && strings.HasPrefix(r.Codec, "codec2-"):
		return "Codec2"
	case r.Kind == KindPeer && strings.HasPrefix(r.Codec, "opus-"):
		return "Opus"
	case r.Kind == KindLearned && r.Coding != nil && r.Coding[qzc.CodingFrameRate] > 0:
		return "tokenizer " + strconv.FormatFloat(r.Coding[qzc.CodingFrameRate], 'g', -1, 64) + " Hz"
	}
	return r.Codec
}

// LogMelPanels are panels of the log-mel spectrograms of signals (mono, rate Hz; the
// spectrogram of metrics.LogMelDistance: metrics.LogMelDistanceMel, at its rate), titled by
// titles, all on the colour range of the first (an original, then its reconstructions, so
// that their colours compare). Errors: resampling's or the spectrogram's, naming the title.
func LogMelPanels(rate int, titles []string, signals [][]float32) ([]plots.Panel, error) {
	if len(titles) != len(signals) || len(signals) == 0 {
		return nil, fmt.Errorf("speech: spectrograms: %d titles for %d signals", len(titles), len(signals))
	}
	m := metrics.LogMelDistanceMel
	var panels []plots.Panel
	lo, hi := 0.0, 0.0
	for i, x := range signals {
		y := x
		if rate != m.SampleRate {
			var err error
			if y, err = dsp.Resample(x, rate, m.SampleRate); err != nil {
				return nil, fmt.Errorf("speech: spectrogram of %s: %w", titles[i], err)
			}
		}
		v, frames, err := m.LogMel(y)
		if err != nil {
			return nil, fmt.Errorf("speech: spectrogram of %s: %w", titles[i], err)
		}
		if i == 0 {
			lo, hi = math.Inf(1), math.Inf(-1)
			for _, e := range v {
				lo, hi = math.Min(lo, float64(e)), math.Max(hi, float64(e))
			}
		}
		p, err := plots.SpectrogramPanel(titles[i], plots.Spectrogram{Values: v, Frames: frames, Mels: m.NMels,
			HopSeconds: float64(m.Hop) / float64(m.SampleRate)}, lo, hi)
		if err != nil {
			return nil, err
		}
		panels = append(panels, p)
	}
	return panels, nil
}
