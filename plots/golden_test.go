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
// law (measured points, fitted curves and their bands per precision, on log₁₀ axes) and a
// panel of 16 series on a narrow log axis (the KV-cache study's ratios to fp32).
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
		"many_series": manySeriesFigure(),
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

// manySeriesFigure has 16 series on a log axis spanning [0.99, 1.5] (no decade in it): each
// series its own colour and marker pair, the legend beside the data in two columns.
func manySeriesFigure() Figure {
	var series []Series
	for i := range 16 {
		var xy plotter.XYs
		for _, bits := range []float64{2, 3, 4, 8, 16} {
			xy = append(xy, plotter.XY{X: bits, Y: 1 + 0.5*math.Exp(-bits/(1+0.2*float64(i))) - 0.01*float64(i%3)})
		}
		series = append(series, Series{Name: fmt.Sprintf("method %d", i+1), Points: xy})
	}
	return Figure{Height: 3 * vg.Inch, Panels: []Panel{{Title: "16 series", XLabel: "bits per cached value",
		YLabel: "perplexity / fp32 perplexity", LogX: true, LogY: true, Series: series}}}
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
