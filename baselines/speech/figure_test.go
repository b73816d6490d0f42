package speech

import (
	"testing"

	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/metrics"
	"gonum.org/v1/plot/plotter"
)

// TestFigureFamilies draws a table's rows as one line per family: Codec2, Opus and each
// tokenizer frame rate, the control left out.
func TestFigureFamilies(t *testing.T) {
	tab := &Table{Rows: []Row{
		{Codec: "original-4kHz", Kind: KindControl, STOI: 0.99},
		{Codec: "tok6", Kind: KindLearned, PayloadBitRate: 600, STOI: 0.7, Coding: map[string]float64{qzc.CodingFrameRate: 6.25}},
		{Codec: "codec2-700C", Kind: KindPeer, PayloadBitRate: 800, STOI: 0.75},
		{Codec: "tok12", Kind: KindLearned, PayloadBitRate: 1100, STOI: 0.8, Coding: map[string]float64{qzc.CodingFrameRate: 12.5}},
		{Codec: "codec2-1200", Kind: KindPeer, PayloadBitRate: 1200, STOI: 0.83},
		{Codec: "opus-6k", Kind: KindPeer, PayloadBitRate: 6000, STOI: 0.9},
	}}
	f := tab.Figure()
	if len(f.Panels) != 2 {
		t.Fatalf("%d panels", len(f.Panels))
	}
	var names []string
	for _, s := range f.Panels[0].Series {
		names = append(names, s.Name)
	}
	want := []string{"tokenizer 6.25 Hz", "Codec2", "tokenizer 12.5 Hz", "Opus"}
	if len(names) != len(want) {
		t.Fatalf("series %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("series %v, want %v", names, want)
		}
	}
	if c2 := f.Panels[0].Series[1].Points; len(c2) != 2 || c2[1].X != 1200 || c2[1].Y != 0.83 {
		t.Errorf("Codec2 points %v", c2)
	}
	if _, err := f.PNG(); err != nil {
		t.Fatal(err)
	}
}

// TestLogMelPanels draws a real clip's spectrogram and its quieter copy on the clip's colour
// range: metrics' log-mel frames of it.
func TestLogMelPanels(t *testing.T) {
	x := librivox(t, "0880")
	quiet := make([]float32, len(x))
	for i, v := range x {
		quiet[i] = v / 10
	}
	ps, err := LogMelPanels(16000, []string{"0880", "quiet"}, [][]float32{x, quiet})
	if err != nil {
		t.Fatal(err)
	}
	_, frames, err := metrics.LogMelDistanceMel.LogMel(x)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || len(ps[1].Plotters) != 1 || ps[1].XLabel != "time (s)" || frames < 100 {
		t.Fatalf("panels %+v over %d frames", ps, frames)
	}
	a, b := ps[0].Plotters[0].(*plotter.HeatMap), ps[1].Plotters[0].(*plotter.HeatMap)
	if a.Min != b.Min || a.Max != b.Max || !(a.Max > a.Min) {
		t.Errorf("colour ranges [%g, %g] and [%g, %g], want the original's for both", a.Min, a.Max, b.Min, b.Max)
	}
	if _, err := LogMelPanels(16000, []string{"one"}, nil); err == nil {
		t.Error("one title for no signal: no error")
	}
}
