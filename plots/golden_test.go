package plots

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot/cmpimg"
	"gonum.org/v1/plot/plotter"
)

// update rewrites the golden images: go test ./plots -run Golden -update, then look at them.
var update = flag.Bool("update", false, "rewrite the golden images in testdata/")

// goldenFigures are the figure kinds the zoo draws: linear and log₂ axes with several series
// (the codebook sweep), a log₁₀ axis spanning decades (perplexity against bits) and a heat map
// of a field (the climate notebook), a log-mel spectrogram (the speech notebook).
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
