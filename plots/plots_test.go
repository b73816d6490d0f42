package plots

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func testFigure() Figure {
	return Figure{Panels: []Panel{
		{Title: "utilisation", XLabel: "K", YLabel: "%", LogX: true, Series: SortedSeries(map[string]plotter.XYs{
			"simvq": {{X: 1024, Y: 99}, {X: 256, Y: 100}},
			"vq":    {{X: 256, Y: 30}, {X: 1024, Y: 8}},
		})},
		{Title: "psnr", XLabel: "K", YLabel: "dB", Series: SortedSeries(map[string]plotter.XYs{"vq": {{X: 1, Y: 2}, {X: 2, Y: 3}}})},
	}}
}

func TestSortedSeries(t *testing.T) {
	s := SortedSeries(map[string]plotter.XYs{"b": {{X: 2}, {X: 1}}, "a": {{X: 3}}})
	if s[0].Name != "a" || s[1].Name != "b" || s[1].Points[0].X != 1 {
		t.Errorf("not sorted by name and x: %+v", s)
	}
}

func TestPNG(t *testing.T) {
	data, err := testFigure().PNG()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// Two panels of 5 inches and their legends' width by 3.8 inches at 120 dpi.
	b := img.Bounds()
	if b.Dx() < 1200 || b.Dx() > 1600 || b.Dy() != 456 {
		t.Errorf("image is %v, want 1200 to 1600 × 456", b)
	}
	// Both halves hold drawn (non-white) pixels.
	half := b.Dx() / 2
	for _, x0 := range []int{0, half} {
		drawn := 0
		for y := 0; y < 456; y += 2 {
			for x := x0; x < x0+half; x += 2 {
				if r, g, b, _ := img.At(x, y).RGBA(); r < 0x8000 || g < 0x8000 || b < 0x8000 {
					drawn++
				}
			}
		}
		if drawn < 500 {
			t.Errorf("panel at x=%d has only %d drawn pixels", x0, drawn)
		}
	}
}

func TestSVGAndSave(t *testing.T) {
	data, err := testFigure().SVG()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "utilisation", "simvq", "1024"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	dir := t.TempDir()
	if err := testFigure().Save(filepath.Join(dir, "sub", "f.png")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub", "f.png")); err != nil {
		t.Error(err)
	}
	if err := testFigure().Save(filepath.Join(dir, "f.gif")); err == nil || !strings.Contains(err.Error(), "use .png or .svg") {
		t.Errorf("unknown format: %v", err)
	}
}

// TestDegenerateLogAxes: a log-scale panel over one point (or equal values) renders with
// linear axes instead of panicking.
func TestDegenerateLogAxes(t *testing.T) {
	f := Figure{Panels: []Panel{{Title: "one point", LogX: true, LogY: true,
		Series: []Series{{Name: "a", Points: plotter.XYs{{X: 32, Y: 1}}}}}}}
	if _, err := f.PNG(); err != nil {
		t.Fatal(err)
	}
}

// TestBadSeries: a band with too few points or an unknown style is an error naming the panel
// and the series, not a panic.
func TestBadSeries(t *testing.T) {
	pts := plotter.XYs{{X: 1, Y: 1}, {X: 2, Y: 2}}
	for _, c := range []struct {
		s    Series
		want string
	}{
		{Series{Name: "int4", Points: pts, Band: &Band{Lower: pts[:1], Upper: pts}}, "need at least 2"},
		{Series{Name: "int4", Points: pts, Style: Style(7)}, "unknown style 7"},
	} {
		f := Figure{Panels: []Panel{{Title: "law", Series: []Series{c.s}}}}
		_, err := f.PNG()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `series "int4"`) || !strings.Contains(err.Error(), `panel "law"`) {
			t.Errorf("error %v, want one naming the panel, the series and %q", err, c.want)
		}
	}
}

// TestSharedName: series sharing a name make one legend entry (the SVG names it once) and the
// band is drawn translucent.
func TestSharedName(t *testing.T) {
	svg, err := lawFigure().SVG()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(svg), ">int4<"); n != 1 {
		t.Errorf("the legend names int4 %d times, want once", n)
	}
	if !strings.Contains(string(svg), "fill-opacity") {
		t.Error("the SVG has no translucent fill for the bands")
	}
}

// TestLegendColumns: a legend taller than its panel takes more columns, to the right, and the
// figure widens by as much.
func TestLegendColumns(t *testing.T) {
	panel := func(n int) Panel {
		var series []Series
		for i := range n {
			series = append(series, Series{Name: fmt.Sprintf("series %d", i), Points: plotter.XYs{{X: 1, Y: float64(i)}, {X: 2, Y: float64(i + 1)}}})
		}
		return Panel{Title: "many", Series: series}
	}
	built, err := panel(42).build(2*vg.Inch, vg.Points(10))
	if err != nil {
		t.Fatal(err)
	}
	few, err := panel(3).build(2*vg.Inch, vg.Points(10))
	if err != nil {
		t.Fatal(err)
	}
	if len(built.legend) < 3 || len(few.legend) != 1 || built.legendWidth() < 2.5*few.legendWidth() {
		t.Errorf("42 series: %d columns, %v wide; 3 series: %d columns, %v wide", len(built.legend), built.legendWidth(), len(few.legend), few.legendWidth())
	}
	if _, err := (Figure{Height: 2 * vg.Inch, Panels: []Panel{panel(42)}}).PNG(); err != nil {
		t.Fatal(err)
	}
}

// TestColumns wraps panels into rows: three panels in two columns make a figure two columns
// wide and two rows high, and it renders.
func TestColumns(t *testing.T) {
	panel := Panel{Title: "p", Series: []Series{{Name: "a", Points: plotter.XYs{{X: 1, Y: 1}, {X: 2, Y: 3}}}}}
	f := Figure{Panels: []Panel{panel, panel, panel}, Columns: 2}
	if cols, rows := f.grid(); cols != 2 || rows != 2 {
		t.Fatalf("grid %d×%d, want 2 columns × 2 rows", cols, rows)
	}
	_, w, h, err := f.layout()
	if err != nil {
		t.Fatal(err)
	}
	one := Figure{Panels: []Panel{panel}}
	_, w1, h1, err := one.layout()
	if err != nil {
		t.Fatal(err)
	}
	if w != 2*w1 || h != 2*h1 {
		t.Errorf("size %v×%v, want twice one panel's %v×%v", w, h, w1, h1)
	}
	if _, err := f.PNG(); err != nil {
		t.Fatal(err)
	}
}

// TestAxisLabelsLeaveNoGap: an axis label wider than half its log axis takes no room beside
// the data (gonum set room aside for it at the axis's arithmetic midpoint, which left a third
// of the KV-cache figure's panels blank right of the data and the climate figure's blank above
// it); the labels are drawn, centred on the data.
func TestAxisLabelsLeaveNoGap(t *testing.T) {
	for name, fig := range map[string]Figure{"kv_cache": kvFigure(), "rd": rateDistortionFigure()} {
		built, w, h, err := fig.layout()
		if err != nil {
			t.Fatal(err)
		}
		c := draw.New(vgimg.New(w, h))
		for i, pc := range fig.plotCanvases(c, built) {
			data := built[i].plot.DataCanvas(pc)
			if gap := pc.Max.X - data.Max.X; gap > vg.Points(12) {
				t.Errorf("%s, panel %d: %.0f pt blank right of the data", name, i, gap.Points())
			}
			title := built[i].plot.Title.TextStyle.Rectangle(built[i].plot.Title.Text).Size().Y + built[i].plot.Title.Padding
			if gap := pc.Max.Y - title - data.Max.Y; gap > vg.Points(12) {
				t.Errorf("%s, panel %d: %.0f pt blank above the data", name, i, gap.Points())
			}
		}
		svg, err := fig.SVG()
		if err != nil {
			t.Fatal(err)
		}
		for _, label := range []string{fig.Panels[0].XLabel, fig.Panels[0].YLabel} {
			if !strings.Contains(string(svg), ">"+label+"<") {
				t.Errorf("%s: the SVG lacks the axis label %q", name, label)
			}
		}
	}
}

// TestSaveWritesPNGAndSVG: saving x.png writes x.svg beside it; saving x.svg writes it alone.
func TestSaveWritesPNGAndSVG(t *testing.T) {
	dir := t.TempDir()
	if err := testFigure().Save(filepath.Join(dir, "f.png")); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "f.svg"))
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Errorf("f.png saved without f.svg beside it (%v)", err)
	}
	if err := testFigure().Save(filepath.Join(dir, "g.svg")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "g.png")); err == nil {
		t.Error("g.svg saved with a PNG")
	}
}
