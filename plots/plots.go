// Package plots draws the zoo's figures with gonum/plot. The same function renders a figure
// inline in a GoNB notebook and to PNG/SVG files from the command line (see [Show]).
package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/qzoo/qzoo/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Series is one named line of points.
type Series struct {
	Name   string
	Points plotter.XYs
}

// Panel describes one chart: its title, axis labels and lines.
type Panel struct {
	Title, XLabel, YLabel string
	// LogX draws the x axis on a log₂ scale (codebook sizes, bit budgets).
	LogX bool
	// LogY draws the y axis on a log₁₀ scale (perplexities spanning decades).
	LogY   bool
	Series []Series
	// Plotters are drawn before the series, without a legend entry: e.g. a plotter.HeatMap
	// of a field (see [HeatMap]).
	Plotters []plot.Plotter
}

// palette gives each series a distinct, colour-blind-safe colour (Okabe–Ito).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{86, 180, 233, 255},
	color.RGBA{0, 0, 0, 255},
}

// glyphs mark the points of a series: circles, then other shapes once the colours repeat.
var glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}}

// log2Ticks labels a log₂ axis with the powers of two it spans.
type log2Ticks struct{}

func (log2Ticks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log2(min)); e <= math.Ceil(math.Log2(max)); e++ {
		v := math.Exp2(e)
		if v >= min && v <= max {
			ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprintf("%g", v)})
		}
	}
	return ticks
}

// ticksUpTo labels a linear axis every 1, 2, 2.5 or 5 × 10ⁿ, about five labels over the data,
// and none above max (the headroom left for the legend).
type ticksUpTo struct{ max float64 }

func (t ticksUpTo) Ticks(min, max float64) []plot.Tick {
	span := t.max - min
	if !(span > 0) {
		return (plot.DefaultTicks{}).Ticks(min, max)
	}
	magnitude := math.Pow(10, math.Floor(math.Log10(span/5)))
	step := magnitude
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step = m * magnitude; span/step <= 5 {
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(min/step) * step; v <= t.max+1e-9*span; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(math.Round(v/step)*step, 'g', 12, 64)})
	}
	return ticks
}

type log2Scale struct{}

func (log2Scale) Normalize(min, max, x float64) float64 {
	lmin, lmax := math.Log2(min), math.Log2(max)
	return (math.Log2(x) - lmin) / (lmax - lmin)
}

// Plot builds the gonum plot of a panel.
func (p Panel) Plot() (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text = p.XLabel
	pl.Y.Label.Text = p.YLabel
	pl.Legend.Top = true
	if len(p.Plotters) > 0 {
		pl.Add(p.Plotters...)
	} else {
		pl.Add(plotter.NewGrid())
	}
	for i, s := range p.Series {
		line, points, err := plotter.NewLinePoints(s.Points)
		if err != nil {
			return nil, fmt.Errorf("plots: series %q of %q: %w", s.Name, p.Title, err)
		}
		c := palette[i%len(palette)]
		line.Color, points.Color = c, c
		line.Width = vg.Points(1.5)
		// Past the palette's colours, series differ by their glyphs.
		points.Shape = glyphs[(i/len(palette))%len(glyphs)]
		pl.Add(line, points)
		pl.Legend.Add(s.Name, line, points)
	}
	// A log axis needs positive data spanning a range: over a single value (one point, or
	// points all equal) gonum would pad the axis through 0 and panic, so it stays linear.
	logX := p.LogX && pl.X.Min > 0 && pl.X.Max > pl.X.Min
	logY := p.LogY && pl.Y.Min > 0 && pl.Y.Max > pl.Y.Min
	if logX {
		pl.X.Scale = log2Scale{}
		pl.X.Tick.Marker = log2Ticks{}
	}
	if logY {
		pl.Y.Scale = plot.LogScale{}
		pl.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if len(p.Series) > 6 { // many series: a smaller legend
		pl.Legend.TextStyle.Font.Size = vg.Points(8)
	}
	if logY {
		return pl, nil
	}
	// Room above the data for the legend, which sits in the top right corner; the axis keeps
	// its ticks within the data.
	if len(p.Series) > 0 && pl.Y.Max > pl.Y.Min {
		pl.Y.Tick.Marker = ticksUpTo{max: pl.Y.Max}
		pl.Y.Max += 0.08 * float64(len(p.Series)+1) * (pl.Y.Max - pl.Y.Min)
	}
	return pl, nil
}

// Figure is a row of panels rendered side by side.
type Figure struct {
	Panels []Panel
	// Width and Height of the whole figure; zero means 5 inches per panel by 3.8 inches.
	Width, Height vg.Length
}

func (f Figure) size() (vg.Length, vg.Length) {
	w, h := f.Width, f.Height
	if w == 0 {
		w = vg.Length(len(f.Panels)) * 5 * vg.Inch
	}
	if h == 0 {
		h = 3.8 * vg.Inch
	}
	return w, h
}

// draw renders the panels side by side on a canvas.
func (f Figure) draw(c draw.Canvas) error {
	plots := make([][]*plot.Plot, 1)
	for _, p := range f.Panels {
		pl, err := p.Plot()
		if err != nil {
			return err
		}
		plots[0] = append(plots[0], pl)
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(f.Panels), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, c)
	for j, pl := range plots[0] {
		pl.Draw(canvases[0][j])
	}
	return nil
}

// PNG renders the figure as a PNG image at 120 dpi.
func (f Figure) PNG() ([]byte, error) {
	w, h := f.size()
	canvas := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(120))}
	if err := f.draw(draw.New(canvas)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plots: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// SVG renders the figure as SVG.
func (f Figure) SVG() ([]byte, error) {
	w, h := f.size()
	canvas := vgsvg.New(w, h)
	if err := f.draw(draw.New(canvas)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plots: encode SVG: %w", err)
	}
	return buf.Bytes(), nil
}

// Save writes the figure to path; the extension (.png or .svg) picks the format. The file is
// written atomically (internal/atomicfile).
func (f Figure) Save(path string) error {
	var data []byte
	var err error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		data, err = f.PNG()
	case ".svg":
		data, err = f.SVG()
	default:
		return fmt.Errorf("plots: %s: unknown format %q, use .png or .svg", path, filepath.Ext(path))
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("plots: write %s: %w", path, err)
	}
	return nil
}

// Show displays the figure inline when running in a GoNB notebook; elsewhere it saves it to
// fallbackPath (if not empty) and says where.
func (f Figure) Show(fallbackPath string) error {
	if gonbui.IsNotebook {
		png, err := f.PNG()
		if err != nil {
			return err
		}
		gonbui.DisplayPNG(png)
		gonbui.Sync() // GoNB stops reading the display pipe when the cell's program exits
		return nil
	}
	if fallbackPath == "" {
		return nil
	}
	if err := f.Save(fallbackPath); err != nil {
		return err
	}
	fmt.Printf("figure written to %s\n", fallbackPath)
	return nil
}

// SortedSeries returns the series of a map sorted by name, points sorted by x.
func SortedSeries(m map[string]plotter.XYs) []Series {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return SeriesInOrder(m, names)
}

// SeriesInOrder returns the series of m named by order, in that order (e.g. the order their
// rows came in), points sorted by x.
func SeriesInOrder(m map[string]plotter.XYs, order []string) []Series {
	out := make([]Series, len(order))
	for i, n := range order {
		pts := append(plotter.XYs{}, m[n]...)
		sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
		out[i] = Series{Name: n, Points: pts}
	}
	return out
}

// Grid is a field on a latitude–longitude grid for [HeatMap]: Values [len(Lat)·len(Lon)],
// row-major (latitude rows, as ERA5 stores them), coordinates in degrees.
type Grid struct {
	Lat, Lon []float64
	Values   []float32
}

// Dims, Z, X and Y make a Grid a plotter.GridXYZ: columns are longitudes, rows latitudes.
func (g Grid) Dims() (c, r int)   { return len(g.Lon), len(g.Lat) }
func (g Grid) Z(c, r int) float64 { return float64(g.Values[r*len(g.Lon)+c]) }
func (g Grid) X(c int) float64    { return g.Lon[c] }
func (g Grid) Y(r int) float64    { return g.Lat[r] }

// HeatMap is a panel drawing a field with a colour scale over [lo, hi] (blue to red; lo == hi
// takes the field's own range), titled with the range it shows.
func HeatMap(title string, g Grid, lo, hi float64) Panel {
	if lo == hi {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range g.Values {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
	}
	hm := plotter.NewHeatMap(g, moreland.SmoothBlueRed().Palette(64))
	hm.Min, hm.Max = lo, hi
	return Panel{Title: fmt.Sprintf("%s [%.3g, %.3g]", title, lo, hi), XLabel: "longitude (°E)", YLabel: "latitude (°N)",
		Plotters: []plot.Plotter{hm}}
}
