// Package plots draws the zoo's figures with gonum/plot. The same function renders a figure
// inline in a GoNB notebook and to PNG/SVG files from the command line (see [Figure.Show]).
//
// Figures are meant to be read: log axes carry at least three labelled ticks (decades; 1, 2
// and 5 within fewer than two decades; powers of two on log₂ axes); each of the first 16
// series of a panel has its own colour (Okabe–Ito's, then Paul Tol's: colour-blind safe) and
// each its own colour and marker pair; legends sit beside the data, never on it; axis labels
// are centred on the data; and a series may carry a fitted curve ([Fitted]) and a confidence
// [Band] in its colour, under one legend entry: the layout of a bit-level scaling-law plot
// (Dettmers & Zettlemoyer 2023). [Figure.Save] writes a PNG and an SVG beside it.
package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
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

// Series is one named set of points of a panel. Series of a panel that share a Name share a
// colour, a marker and one legend entry: measured points ([Markers] or [Lines]) and their
// fitted curve ([Fitted]) with its confidence [Band] are one series to the reader. Distinct
// names take distinct colours (16 of them, in order of first appearance) and distinct colour
// and marker pairs (112 of them; then they repeat): a panel of more than 16 series is better
// split into panels by family. A series with an empty Name has its own colour and no legend
// entry.
type Series struct {
	Name string
	// Points are drawn in their order (a line joins them so): sort them by x for a curve.
	Points plotter.XYs
	// Style is how the points are drawn: Lines (the zero value), Markers or Fitted.
	Style Style
	// Band, if not nil, is filled translucent in the series' colour behind every line.
	Band *Band
}

// Band is a confidence band: the region between the curves Lower and Upper, each ordered by
// x (e.g. the 2.5% and 97.5% quantiles of bootstrap fits evaluated on the grid of x of the
// fitted curve). Each needs at least two points, all finite (and positive on a log axis).
type Band struct {
	Lower, Upper plotter.XYs
}

// Panel describes one chart: its title, axis labels (with their units: "total model bits
// (Mbit)") and series. Its legend is drawn beside the chart, to the right, in as many columns
// as its height needs, never over the data.
type Panel struct {
	Title, XLabel, YLabel string
	// LogX draws the x axis on a log₂ scale (codebook sizes, bit budgets), its powers of two
	// labelled.
	LogX bool
	// LogX10 draws the x axis on a log₁₀ scale (totals spanning decades), labelled as LogY;
	// it takes precedence over LogX.
	LogX10 bool
	// LogY draws the y axis on a log₁₀ scale (perplexities spanning decades): every decade
	// labelled, and 2 and 5 within a decade when the axis spans less than two; never fewer than
	// three labels (an axis as narrow as [1.1, 1.9] is labelled in linear steps).
	LogY   bool
	Series []Series
	// Plotters are drawn before the series, without a legend entry: e.g. a plotter.HeatMap
	// of a field (see [HeatMap]).
	Plotters []plot.Plotter
}

// builtPanel is a panel's gonum plot, its axis labels (drawn by [builtPanel.drawAxisLabels])
// and its legend's columns, drawn beside it.
type builtPanel struct {
	plot           *plot.Plot
	xLabel, yLabel string
	legend         []plot.Legend
	// styles are the colour and glyph of each named series, in legend order.
	styles []seriesKey
}

// seriesKey is a named series' look, by which the reader tells series apart.
type seriesKey struct {
	name  string
	color color.RGBA
	glyph draw.GlyphDrawer
}

// axisLabelPlaceholder stands in the gonum plot for an axis label that
// [builtPanel.drawAxisLabels] draws. gonum sets room aside for a label centred on the axis's
// arithmetic midpoint in data units, which on a log axis lies far from the middle (17, on a
// log₂ axis from 2 to 32, lies at 77% of it), and pads the data by as much as the label would
// overhang: a third of a panel's width went blank right of the data, or above it. The
// placeholder is one line high, as the label, and a space wide.
const axisLabelPlaceholder = " "

// drawAxisLabels draws the panel's axis labels where gonum draws them, centred on the data.
func (b builtPanel) drawAxisLabels(c draw.Canvas) {
	data := b.plot.DataCanvas(c)
	if b.xLabel != "" {
		sty := b.plot.X.Label.TextStyle
		c.FillText(sty, vg.Point{X: (data.Min.X + data.Max.X) / 2, Y: c.Min.Y + sty.FontExtents().Descent}, b.xLabel)
	}
	if b.yLabel != "" {
		sty := b.plot.Y.Label.TextStyle
		rotated := sty
		rotated.Rotation += math.Pi / 2
		x := c.Min.X + sty.Height(axisLabelPlaceholder) - sty.FontExtents().Descent
		c.FillText(rotated, vg.Point{X: x, Y: (data.Min.Y + data.Max.Y) / 2}, b.yLabel)
	}
}

// legendWidth is the room the legend takes to the right of the plot (0 without one).
func (b builtPanel) legendWidth() vg.Length {
	if len(b.legend) == 0 {
		return 0
	}
	w := legendMargin + legendColumnGap*vg.Length(len(b.legend)-1)
	for i := range b.legend {
		w += b.legend[i].Rectangle(draw.Canvas{}).Size().X
	}
	return w
}

const (
	legendMargin    = 8 * vg.Millimeter / 3 // between the plot and its legend
	legendColumnGap = 4 * vg.Millimeter
	lineWidth       = 1.5 // points
	glyphRadius     = 3   // points
)

// namedSeries is the number of distinct names of the panel's series.
func (p Panel) namedSeries() int {
	names := map[string]bool{}
	for _, s := range p.Series {
		if s.Name != "" {
			names[s.Name] = true
		}
	}
	return len(names)
}

// build makes the gonum plot of a panel and its legend, whose columns fit within height (the
// panel's, roughly: the legend starts at the top of the data), its text legendSize high.
func (p Panel) build(height, legendSize vg.Length) (builtPanel, error) {
	pl := plot.New()
	pl.Title.Text = p.Title
	b := builtPanel{plot: pl}
	// A label of one line is drawn by drawAxisLabels (see axisLabelPlaceholder); gonum draws
	// one of several lines.
	pl.X.Label.Text, pl.Y.Label.Text = p.XLabel, p.YLabel
	if p.XLabel != "" && !strings.Contains(p.XLabel, "\n") {
		pl.X.Label.Text, b.xLabel = axisLabelPlaceholder, p.XLabel
	}
	if p.YLabel != "" && !strings.Contains(p.YLabel, "\n") {
		pl.Y.Label.Text, b.yLabel = axisLabelPlaceholder, p.YLabel
	}
	if len(p.Plotters) > 0 {
		pl.Add(p.Plotters...)
	} else {
		pl.Add(plotter.NewGrid())
	}
	// One style per distinct name, in order of first appearance; bands first, behind every
	// line and marker.
	type entry struct {
		name               string
		k                  int
		band, line, dashes bool
		glyph              bool
	}
	var entries []*entry
	byName := map[string]*entry{}
	var lines []plot.Plotter
	for _, s := range p.Series {
		e := byName[s.Name]
		if e == nil || s.Name == "" {
			e = &entry{name: s.Name, k: len(entries)}
			entries = append(entries, e)
			if s.Name != "" {
				byName[s.Name] = e
			}
		}
		c, glyph := seriesStyle(e.k)
		if s.Band != nil {
			poly, err := bandPolygon(s.Band)
			if err != nil {
				return builtPanel{}, fmt.Errorf("plots: panel %q, series %q: %w", p.Title, s.Name, err)
			}
			poly.Color = translucent(c)
			poly.LineStyle.Width = 0
			pl.Add(poly)
			e.band = true
		}
		ps, err := seriesPlotters(s, c, glyph)
		if err != nil {
			return builtPanel{}, fmt.Errorf("plots: panel %q, series %q: %w", p.Title, s.Name, err)
		}
		lines = append(lines, ps...)
		switch s.Style {
		case Lines:
			e.line, e.glyph = true, true
		case Markers:
			e.glyph = true
		case Fitted:
			e.dashes = true
		}
	}
	pl.Add(lines...)
	// A log axis needs positive data spanning a range: over a single value (one point, or
	// points all equal) gonum would pad the axis through 0 and panic, so it stays linear.
	logX10 := p.LogX10 && pl.X.Min > 0 && pl.X.Max > pl.X.Min
	logX := !p.LogX10 && p.LogX && pl.X.Min > 0 && pl.X.Max > pl.X.Min
	logY := p.LogY && pl.Y.Min > 0 && pl.Y.Max > pl.Y.Min
	pl.X.Tick.Marker, pl.Y.Tick.Marker = linearTicks{}, linearTicks{}
	switch {
	case logX10:
		pl.X.Scale, pl.X.Tick.Marker = plot.LogScale{}, log10Ticks{}
	case logX:
		pl.X.Scale, pl.X.Tick.Marker = log2Scale{}, log2Ticks{}
	}
	if logY {
		pl.Y.Scale, pl.Y.Tick.Marker = plot.LogScale{}, log10Ticks{}
	}

	var named []*entry
	for _, e := range entries {
		if e.name != "" {
			named = append(named, e)
		}
	}
	if len(named) == 0 {
		return b, nil
	}
	proto := plot.NewLegend()
	proto.TextStyle.Font.Size = legendSize
	proto.Top, proto.Left = true, true
	proto.Padding = vg.Points(2)
	proto.ThumbnailWidth = vg.Points(22)
	entryHeight := proto.TextStyle.Rectangle("Mg").Max.Y
	// The data's height is the panel's less its title and x axis, about an inch.
	rows := max(1, int((height-vg.Inch+proto.Padding)/(entryHeight+proto.Padding)))
	cols := (len(named) + rows - 1) / rows
	rows = (len(named) + cols - 1) / cols
	for i, e := range named {
		if i%rows == 0 {
			b.legend = append(b.legend, proto)
		}
		c, glyph := seriesStyle(e.k)
		b.styles = append(b.styles, seriesKey{name: e.name, color: c, glyph: glyph})
		var thumbs []plot.Thumbnailer
		if e.band {
			thumbs = append(thumbs, &plotter.Polygon{Color: translucent(c)})
		}
		if e.line || e.dashes {
			thumbs = append(thumbs, &plotter.Line{LineStyle: lineStyle(c, !e.line)})
		}
		if e.glyph {
			thumbs = append(thumbs, &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: c, Shape: glyph, Radius: vg.Points(glyphRadius)}})
		}
		b.legend[len(b.legend)-1].Add(e.name, thumbs...)
	}
	return b, nil
}

// seriesPlotters draws a series' points in its style, colour and glyph.
func seriesPlotters(s Series, c color.RGBA, glyph draw.GlyphDrawer) ([]plot.Plotter, error) {
	var out []plot.Plotter
	if s.Style < Lines || s.Style > Fitted {
		return nil, fmt.Errorf("unknown style %d (use Lines, Markers or Fitted)", s.Style)
	}
	if s.Style != Markers {
		line, err := plotter.NewLine(s.Points)
		if err != nil {
			return nil, err
		}
		line.LineStyle = lineStyle(c, s.Style == Fitted)
		out = append(out, line)
	}
	if s.Style != Fitted {
		points, err := plotter.NewScatter(s.Points)
		if err != nil {
			return nil, err
		}
		points.GlyphStyle = draw.GlyphStyle{Color: c, Shape: glyph, Radius: vg.Points(glyphRadius)}
		out = append(out, points)
	}
	return out, nil
}

// lineStyle is a series' solid line, or dashed for a fitted curve.
func lineStyle(c color.Color, dashed bool) draw.LineStyle {
	sty := draw.LineStyle{Color: c, Width: vg.Points(lineWidth)}
	if dashed {
		sty.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	}
	return sty
}

// bandPolygon is the region between a band's curves: Lower forward, Upper backward.
func bandPolygon(b *Band) (*plotter.Polygon, error) {
	if len(b.Lower) < 2 || len(b.Upper) < 2 {
		return nil, fmt.Errorf("band: %d lower and %d upper points (need at least 2 each)", len(b.Lower), len(b.Upper))
	}
	ring := append(plotter.XYs{}, b.Lower...)
	for i := len(b.Upper) - 1; i >= 0; i-- {
		ring = append(ring, b.Upper[i])
	}
	poly, err := plotter.NewPolygon(ring)
	if err != nil {
		return nil, fmt.Errorf("band: %w", err)
	}
	return poly, nil
}

type log2Scale struct{}

func (log2Scale) Normalize(min, max, x float64) float64 {
	lmin, lmax := math.Log2(min), math.Log2(max)
	return (math.Log2(x) - lmin) / (lmax - lmin)
}

// Figure is a row of panels rendered side by side, each with its legend to its right.
type Figure struct {
	Panels []Panel
	// Columns is the number of panels per row; the panels fill rows left to right (0: one
	// row of every panel).
	Columns int
	// Width and Height of the whole figure; zero means 5 inches per column plus the widest
	// legend, by 3.8 inches per row.
	Width, Height vg.Length
}

// grid is the figure's columns and rows of panels.
func (f Figure) grid() (cols, rows int) {
	cols = len(f.Panels)
	if f.Columns > 0 && f.Columns < cols {
		cols = f.Columns
	}
	cols = max(cols, 1)
	return cols, (len(f.Panels) + cols - 1) / cols
}

// layout builds the panels and sizes the figure.
func (f Figure) layout() ([]builtPanel, vg.Length, vg.Length, error) {
	cols, rows := f.grid()
	h := f.Height
	if h == 0 {
		h = vg.Length(rows) * 3.8 * vg.Inch
	}
	// One legend text size for the figure: smaller when a panel has many series.
	legendSize := vg.Points(10)
	for _, p := range f.Panels {
		if p.namedSeries() > 8 {
			legendSize = vg.Points(8)
		}
	}
	built := make([]builtPanel, len(f.Panels))
	var widest vg.Length
	for i, p := range f.Panels {
		b, err := p.build(h/vg.Length(rows), legendSize)
		if err != nil {
			return nil, 0, 0, err
		}
		built[i] = b
		widest = max(widest, b.legendWidth())
	}
	w := f.Width
	if w == 0 {
		w = vg.Length(cols) * (5*vg.Inch + widest)
	}
	return built, w, h, nil
}

// legendColumns is the widest legend of each column of panels: the room every panel of the
// column leaves for its legend, so that the data of a column's panels are as wide.
func (f Figure) legendColumns(built []builtPanel) []vg.Length {
	cols, _ := f.grid()
	widths := make([]vg.Length, cols)
	for i, b := range built {
		widths[i%cols] = max(widths[i%cols], b.legendWidth())
	}
	return widths
}

// plotCanvases are the canvases of the panels' plots on c, legends left out: the panels
// tiled in the figure's grid, their data aligned by row and by column, each tile's right part
// left for the widest legend of its column.
func (f Figure) plotCanvases(c draw.Canvas, built []builtPanel) []draw.Canvas {
	cols, rows := f.grid()
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
	}
	for i, b := range built {
		grid[i/cols][i%cols] = b.plot
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	aligned := plot.Align(grid, tiles, c)
	legendWidths := f.legendColumns(built)
	out := make([]draw.Canvas, len(built))
	for i := range built {
		out[i] = draw.Crop(aligned[i/cols][i%cols], 0, -legendWidths[i%cols], 0, 0)
	}
	return out
}

// draw renders the panels in their grid on a canvas: each panel's tile holds its plot and, to
// the right, its legend, whose top meets the top of the data.
func (f Figure) draw(c draw.Canvas, built []builtPanel) {
	if len(built) == 0 {
		return
	}
	for i, pc := range f.plotCanvases(c, built) {
		b := built[i]
		b.plot.Draw(pc)
		b.drawAxisLabels(pc)
		top := b.plot.DataCanvas(pc).Max.Y
		x := pc.Max.X + legendMargin
		for j := range b.legend {
			l := &b.legend[j]
			w := l.Rectangle(draw.Canvas{}).Size().X
			l.Draw(draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{X: x, Y: pc.Min.Y}, Max: vg.Point{X: x + w, Y: top}}})
			x += w + legendColumnGap
		}
	}
}

// render lays the figure out on a canvas of its size made by newCanvas, and draws it.
func (f Figure) render(newCanvas func(w, h vg.Length) vg.CanvasWriterTo) (vg.CanvasWriterTo, error) {
	built, w, h, err := f.layout()
	if err != nil {
		return nil, err
	}
	canvas := newCanvas(w, h)
	f.draw(draw.New(canvas), built)
	return canvas, nil
}

// PNG renders the figure as a PNG image at 120 dpi.
func (f Figure) PNG() ([]byte, error) {
	return f.encode("PNG", func(w, h vg.Length) vg.CanvasWriterTo {
		return vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(120))}
	})
}

// SVG renders the figure as SVG.
func (f Figure) SVG() ([]byte, error) {
	return f.encode("SVG", func(w, h vg.Length) vg.CanvasWriterTo { return vgsvg.New(w, h) })
}

func (f Figure) encode(format string, newCanvas func(w, h vg.Length) vg.CanvasWriterTo) ([]byte, error) {
	canvas, err := f.render(newCanvas)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plots: encode %s: %w", format, err)
	}
	return buf.Bytes(), nil
}

// Save writes the figure to path, its extension picking the format: x.png writes the PNG
// and, beside it, x.svg (the same figure as vectors, to scale for print); x.svg writes the SVG
// alone. Each file is written atomically (internal/atomicfile).
func (f Figure) Save(path string) error {
	ext := filepath.Ext(path)
	var paths []string
	var encoders []func() ([]byte, error)
	switch strings.ToLower(ext) {
	case ".png":
		paths = []string{path, strings.TrimSuffix(path, ext) + ".svg"}
		encoders = append(encoders, f.PNG, f.SVG)
	case ".svg":
		paths = []string{path}
		encoders = append(encoders, f.SVG)
	default:
		return fmt.Errorf("plots: %s: unknown format %q, use .png or .svg", path, ext)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	for i, p := range paths {
		data, err := encoders[i]()
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(p, data); err != nil {
			return fmt.Errorf("plots: write %s: %w", p, err)
		}
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
