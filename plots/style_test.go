package plots

import (
	"fmt"
	"image/color"
	"math"
	"reflect"
	"testing"

	"gonum.org/v1/plot/plotter"
)

// TestSeriesStyles: the first 16 distinct series of a panel have 16 colours, the first 112
// never share both colour and marker, and neighbours differ in both.
func TestSeriesStyles(t *testing.T) {
	for k := range len(palette) * len(glyphs) {
		ck, gk := seriesStyle(k)
		for j := range k {
			cj, gj := seriesStyle(j)
			if cj == ck && reflect.DeepEqual(gj, gk) {
				t.Fatalf("series %d and %d share colour and marker", j, k)
			}
			if k < len(palette) && cj == ck {
				t.Errorf("series %d and %d share a colour", j, k)
			}
			if j == k-1 && (cj == ck || reflect.DeepEqual(gj, gk)) {
				t.Errorf("series %d and %d share a colour or a marker", j, k)
			}
		}
	}
	if len(palette) < 16 {
		t.Errorf("%d colours; the LLM study's figure has 16 series in a panel", len(palette))
	}
}

// TestFiguresSeriesDistinct: in every panel of every figure kind the zoo draws (the golden
// figures, and a panel of 16 series, as many as the LLM study's), no two named series share a
// colour, nor a colour and marker pair, and each name has one legend entry.
func TestFiguresSeriesDistinct(t *testing.T) {
	figures := goldenFigures()
	figures["16 series"] = Figure{Panels: []Panel{manyPanel(16)}}
	for name, fig := range figures {
		built, _, _, err := fig.layout()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, b := range built {
			if want := fig.Panels[i].namedSeries(); len(b.styles) != want {
				t.Errorf("%s, panel %d: %d legend entries for %d names", name, i, len(b.styles), want)
			}
			for k, s := range b.styles {
				for _, o := range b.styles[:k] {
					if o.color == s.color {
						t.Errorf("%s, panel %d: %q and %q share colour %v", name, i, o.name, s.name, s.color)
					}
					if o.color == s.color && reflect.DeepEqual(o.glyph, s.glyph) {
						t.Errorf("%s, panel %d: %q and %q share colour and marker", name, i, o.name, s.name)
					}
				}
			}
		}
	}
}

// manyPanel is a panel of n series on a log axis near 1, as the KV-cache study's.
func manyPanel(n int) Panel {
	var series []Series
	for i := range n {
		var xy plotter.XYs
		for _, bits := range []float64{2, 3, 4, 8, 16} {
			xy = append(xy, plotter.XY{X: bits, Y: 1 + 0.5*math.Exp(-bits/(1+0.2*float64(i))) - 0.01*float64(i%3)})
		}
		series = append(series, Series{Name: fmt.Sprintf("method %d", i+1), Points: xy})
	}
	return Panel{Title: fmt.Sprintf("%d series", n), XLabel: "bits per cached value",
		YLabel: "perplexity / fp32 perplexity", LogX: true, LogY: true, Series: series}
}

// TestPaletteColourBlindSafe: the palette's colours are far apart in CIELAB (ΔE*ab, 1976) to
// normal vision and to simulated protanopia, deuteranopia and tritanopia (Machado, Oliveira
// & Fernandes 2009, severity 1, in linear RGB): every two of the 16 at least 18 apart to
// normal vision and 9.5 to each deficiency, every two of Okabe–Ito's first seven at least 16,
// and none paler than L* = 75 on the white background.
func TestPaletteColourBlindSafe(t *testing.T) {
	deficiencies := map[string][3][3]float64{
		"normal":       {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
		"protanopia":   {{0.152286, 1.052583, -0.204868}, {0.114503, 0.786281, 0.099216}, {-0.003882, -0.048116, 1.051998}},
		"deuteranopia": {{0.367322, 0.860646, -0.227968}, {0.280085, 0.672501, 0.047413}, {-0.011820, 0.042940, 0.968881}},
		"tritanopia":   {{1.255528, -0.076749, -0.178779}, {-0.078411, 0.930809, 0.147602}, {0.004733, 0.691367, 0.303900}},
	}
	for name, m := range deficiencies {
		lab := make([][3]float64, len(palette))
		for i, c := range palette {
			lab[i] = cieLab(simulate(m, linearRGB(c)))
			if name == "normal" && lab[i][0] > 75 {
				t.Errorf("colour %d (%v) has L* %.0f: too pale on white", i, c, lab[i][0])
			}
		}
		for i := range lab {
			for j := range i {
				d := math.Sqrt(sq(lab[i][0]-lab[j][0]) + sq(lab[i][1]-lab[j][1]) + sq(lab[i][2]-lab[j][2]))
				want := 9.5
				switch {
				case name == "normal":
					want = 18
				case i < 7:
					want = 16
				}
				if d < want {
					t.Errorf("%s: colours %d (%v) and %d (%v) are %.1f apart, want at least %g", name, j, palette[j], i, palette[i], d, want)
				}
			}
		}
	}
}

func sq(x float64) float64 { return x * x }

// linearRGB undoes sRGB's transfer function.
func linearRGB(c color.RGBA) [3]float64 {
	var out [3]float64
	for i, v := range []uint8{c.R, c.G, c.B} {
		x := float64(v) / 255
		if x <= 0.04045 {
			out[i] = x / 12.92
		} else {
			out[i] = math.Pow((x+0.055)/1.055, 2.4)
		}
	}
	return out
}

// simulate applies a colour-vision-deficiency matrix to a linear RGB colour, clamped to [0, 1].
func simulate(m [3][3]float64, rgb [3]float64) [3]float64 {
	var out [3]float64
	for i := range 3 {
		out[i] = min(1, max(0, m[i][0]*rgb[0]+m[i][1]*rgb[1]+m[i][2]*rgb[2]))
	}
	return out
}

// cieLab is a linear sRGB colour's CIELAB coordinates (D65 white).
func cieLab(rgb [3]float64) [3]float64 {
	r, g, b := rgb[0], rgb[1], rgb[2]
	x := (0.4124*r + 0.3576*g + 0.1805*b) / 0.95047
	y := 0.2126*r + 0.7152*g + 0.0722*b
	z := (0.0193*r + 0.1192*g + 0.9505*b) / 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return t*24389/27/116 + 16.0/116
	}
	return [3]float64{116*f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))}
}
