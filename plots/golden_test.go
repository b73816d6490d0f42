package plots

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot/cmpimg"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// update rewrites the golden images: go test ./plots -run Golden -update, then look at them.
var update = flag.Bool("update", false, "rewrite the golden images in testdata/")

// goldenFigures are the figure kinds the zoo draws: linear and log₂ axes with several series
// (the codebook sweep), a log₁₀ axis spanning decades (perplexity against bits), a heat map
// of a field (the climate notebook), a log-mel spectrogram (the speech notebook), a scaling
// law (measured points, fitted curves and their bands per precision, on log₁₀ axes), a
// panel of 16 series on a narrow log axis (the LLM study's count of series), two panels of 9
// series in a figure of a set size (the KV-cache study's ratios to fp32), rate against
// distortion over decades (the climate codec against its peers) and a grid of scaling-law
// panels with legends of different lengths (the weight-quantization study).
func goldenFigures() map[string]Figure {
	perplexity := map[string]plotter.XYs{}
	for i, name := range []string{"rtn", "nf4", "squeezellm"} {
		var xy plotter.XYs
		for b := 2; b <= 8; b++ {
			xy = append(xy, plotter.XY{X: float64(b), Y: 12 + math.Pow(10, float64(8-b)/2)/float64(i+1)})
		}
		perplexity[name] = xy
	}
	g := Grid{Lat: []float64{50, 51, 52}, Lon: []float64{-2, -1, 0, 1}}
	for i := range 12 {
		g.Values = append(g.Values, 270+float32(i))
	}
	// A log-mel spectrogram of 40 frames × 20 bands: a band of energy rising in pitch over a
	// quiet floor, as speech's formants move.
	spec := Spectrogram{Frames: 40, Mels: 20, HopSeconds: 0.016}
	for f := range spec.Frames {
		for m := range spec.Mels {
			d := float64(m) - 3 - 0.35*float64(f)
			spec.Values = append(spec.Values, float32(-9+7*math.Exp(-d*d/4)))
		}
	}
	specPanel, err := SpectrogramPanel("log-mel", spec, -10, 0)
	if err != nil {
		panic(err)
	}
	return map[string]Figure{
		"law":         lawFigure(),
		"many_series": {Height: 3 * vg.Inch, Panels: []Panel{manyPanel(16)}},
		"kv_cache":    kvFigure(),
		"rd":          rateDistortionFigure(),
		"law_grid":    lawGridFigure(),
		"spectrogram": {Panels: []Panel{specPanel}},
		"sweep":       testFigure(),
		"log_y":       {Panels: []Panel{{Title: "perplexity", XLabel: "bits", YLabel: "perplexity", LogY: true, Series: SortedSeries(perplexity)}}},
		"heat_map":    {Panels: []Panel{HeatMap("t2m (K)", g, 0, 0)}},
	}
}

// TestGolden compares each figure's PNG with its golden image, pixel by pixel within gonum's
// cmpimg tolerance, so that a change of layout, ticks, colours or fonts is seen in review.
func TestGolden(t *testing.T) {
	for name, fig := range goldenFigures() {
		t.Run(name, func(t *testing.T) {
			got, err := fig.PNG()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".png")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (write the golden images with -update)", err)
			}
			same, err := cmpimg.EqualApprox("png", got, want, 0.01)
			if err != nil {
				t.Fatal(err)
			}
			if !same {
				out := filepath.Join(os.TempDir(), "qzoo-golden-"+name+".png")
				if err := os.WriteFile(out, got, 0o644); err == nil {
					t.Errorf("%s differs from %s; the new image is %s (accept it with -update)", name, path, out)
				} else {
					t.Errorf("%s differs from %s", name, path)
				}
			}
		})
	}
}

// lawFigure is the scaling-law report's figure: per precision, measured points (Markers), the
// fitted law (Fitted) and its confidence band, one colour, marker and legend entry each.
func lawFigure() Figure {
	var series []Series
	for i, bits := range []int{3, 4, 8} {
		name := fmt.Sprintf("int%d", bits)
		law := func(n float64) float64 { return 2.5 + 40*math.Pow(n/1e5, -0.3)*(1+2/float64(bits*bits)) }
		var measured, fit plotter.XYs
		band := &Band{}
		for _, params := range []float64{5e4, 2e5, 8e5, 3.2e6} {
			x := params * float64(bits)
			measured = append(measured, plotter.XY{X: x, Y: law(x/float64(bits)) * (1 + 0.03*math.Sin(float64(i)+x))})
		}
		for j := range 21 {
			n := 5e4 * math.Pow(64, float64(j)/20)
			x := n * float64(bits)
			fit = append(fit, plotter.XY{X: x, Y: law(n)})
			band.Lower = append(band.Lower, plotter.XY{X: x, Y: law(n) * (1 - 0.04 - 0.02*float64(j)/20)})
			band.Upper = append(band.Upper, plotter.XY{X: x, Y: law(n) * (1 + 0.04 + 0.02*float64(j)/20)})
		}
		series = append(series,
			Series{Name: name, Points: measured, Style: Markers},
			Series{Name: name, Points: fit, Style: Fitted, Band: band})
	}
	return Figure{Panels: []Panel{{Title: "Held-out perplexity against total model bits", XLabel: "total model bits",
		YLabel: "perplexity", LogX10: true, LogY: true, Series: series}}}
}

// kvFigure is the KV-cache study's figure: two panels of the nine methods' perplexity ratio
// to fp32 against bits per cached value (log₂), in a figure of a set size.
func kvFigure() Figure {
	names := []string{"reference", "KIVI (fp16 window 32–63)", "KIVI strict", "KVQuant", "KVQuant + fp16 window of 32",
		"rotation + Lloyd-Max", "VQ (product)", "RVQ", "SimVQ"}
	var fig Figure
	for p, text := range []string{"own stories", "shakespeare"} {
		var series []Series
		for i, name := range names {
			if i == 0 {
				series = append(series, Series{Name: name, Points: plotter.XYs{{X: 16, Y: 1}, {X: 32, Y: 1}}})
				continue
			}
			var xy plotter.XYs
			for _, bits := range []float64{2, 3, 4} {
				x := bits + 0.15*float64(i%4)
				xy = append(xy, plotter.XY{X: x, Y: 1 + (0.3+0.2*float64(p))*math.Exp(-float64(i)*x/6)})
			}
			series = append(series, Series{Name: name, Points: xy})
		}
		fig.Panels = append(fig.Panels, Panel{Title: "stories260K, 512-token windows of " + text,
			XLabel: "bits per cached value (metadata included)", YLabel: "perplexity / fp32-cache perplexity",
			LogX: true, LogY: true, Series: series})
	}
	fig.Width, fig.Height = 11*vg.Inch, 4*vg.Inch
	return fig
}

// rateDistortionFigure is the climate codec's figure: an error over four decades (log₁₀)
// against bits per value (log₂), eight coders.
func rateDistortionFigure() Figure {
	var series []Series
	for i, name := range []string{"vaeformer, 15000 steps", "vaeformer, 3000 steps", "bitround+shuffle+zstd19", "linear-pack",
		"linear-pack+zstd19", "zfp", "demean+bitround+shuffle+zstd19", "demean+zfp"} {
		var xy plotter.XYs
		for b := 0; b < 6; b++ {
			rate := 0.25 * math.Pow(2, float64(b)*0.8) * (1 + 0.3*float64(i))
			xy = append(xy, plotter.XY{X: rate, Y: 2 * math.Pow(10, -float64(b)*0.8) * (1 + 0.2*float64(i%3))})
		}
		series = append(series, Series{Name: name, Points: xy})
	}
	return Figure{Width: 8 * vg.Inch, Height: 5 * vg.Inch, Panels: []Panel{{Title: "t2m: maximum error against rate",
		XLabel: "bits per value", YLabel: "maximum absolute error (K)", LogX: true, LogY: true, Series: series}}}
}

// lawGridFigure is the weight-quantization study's figure: four scaling-law panels in two
// columns, with 2 to 10 series each (measured points and fitted laws with bands).
func lawGridFigure() Figure {
	fig := Figure{Columns: 2, Width: 10 * vg.Inch, Height: 6 * vg.Inch}
	for p, n := range []int{4, 2, 10, 6} {
		var series []Series
		for i := range n {
			name := fmt.Sprintf("int%d (block %d)", 2+i%7, 32<<(i/7))
			law := func(x float64) float64 { return 35 + (20+5*float64(i))*math.Pow(x, -0.5-0.05*float64(p)) }
			var measured, fit plotter.XYs
			var band *Band // on every third series: the PNG stays small
			if i%3 == 0 {
				band = &Band{}
			}
			for _, x := range []float64{0.7, 1.5, 3, 6, 12} {
				measured = append(measured, plotter.XY{X: x, Y: law(x) * (1 + 0.02*math.Sin(float64(i)+x))})
			}
			for j := range 11 {
				x := 0.7 * math.Pow(12/0.7, float64(j)/10)
				fit = append(fit, plotter.XY{X: x, Y: law(x)})
				if band != nil {
					band.Lower = append(band.Lower, plotter.XY{X: x, Y: law(x) * 0.97})
					band.Upper = append(band.Upper, plotter.XY{X: x, Y: law(x) * 1.03})
				}
			}
			series = append(series, Series{Name: name, Points: measured, Style: Markers},
				Series{Name: name, Points: fit, Style: Fitted, Band: band})
		}
		fig.Panels = append(fig.Panels, Panel{Title: fmt.Sprintf("panel %d", p+1), XLabel: "total model bits (Mbit)",
			YLabel: "held-out perplexity", LogX10: true, LogY: true, Series: series})
	}
	return fig
}

// TestGoldenSeesSmallChanges: the comparison's tolerance is tight enough that one point moved
// by a few pixels fails it.
func TestGoldenSeesSmallChanges(t *testing.T) {
	fig := goldenFigures()["log_y"]
	s := &fig.Panels[0].Series[1]
	s.Points = append(plotter.XYs{}, s.Points...)
	s.Points[3].Y *= 1.05
	got, err := fig.PNG()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "log_y.png"))
	if err != nil {
		t.Fatal(err)
	}
	if same, err := cmpimg.EqualApprox("png", got, want, 0.01); err != nil || same {
		t.Errorf("a point moved by 5%% passes the golden comparison (err %v)", err)
	}
}
