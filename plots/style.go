package plots

import (
	"image/color"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Style is how a [Series] is drawn.
type Style int

const (
	// Lines joins the points with a solid line and marks each one: measured data (the default).
	Lines Style = iota
	// Markers marks the points without joining them: a scatter of measurements (e.g. several
	// seeds or model sizes per precision), often beside a [Fitted] curve of the same name.
	Markers
	// Fitted draws a dashed line without markers: a fitted curve (e.g. a scaling law sampled on
	// a grid of x), in the colour of the series of the same name.
	Fitted
)

func (s Style) String() string {
	switch s {
	case Lines:
		return "Lines"
	case Markers:
		return "Markers"
	case Fitted:
		return "Fitted"
	}
	return "Style(?)"
}

// palette is the Okabe–Ito colour-blind-safe palette (Okabe & Ito 2008, "Color Universal
// Design"), less its yellow, too pale on white.
var palette = []color.RGBA{
	{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
	{230, 159, 0, 255}, {86, 180, 233, 255}, {0, 0, 0, 255},
}

// glyphs mark the points. Their count (6) is coprime with the palette's (7), so series k takes
// colour k mod 7 and glyph k mod 6: no two of the first 42 series of a panel share both, and
// neighbours differ in both.
var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{},
	polygonGlyph{{-1, -1}, {1, -1}, {1, 1}, {-1, 1}}.scaled(0.8), // square
	polygonGlyph{{0, 1.15}, {1, -0.6}, {-1, -0.6}},               // triangle up
	polygonGlyph{{0, 1.25}, {1, 0}, {0, -1.25}, {-1, 0}},         // diamond
	polygonGlyph{{0, -1.15}, {1, 0.6}, {-1, 0.6}},                // triangle down
	crossGlyph{},
}

// seriesStyle is the colour and glyph of the k-th distinct series name of a panel.
func seriesStyle(k int) (color.RGBA, draw.GlyphDrawer) {
	return palette[k%len(palette)], glyphs[k%len(glyphs)]
}

// translucent is c at the opacity of a confidence band.
func translucent(c color.RGBA) color.NRGBA {
	return color.NRGBA{R: c.R, G: c.G, B: c.B, A: 56}
}

// polygonGlyph is a filled polygon, its vertices in units of the glyph's radius.
type polygonGlyph [][2]float64

func (g polygonGlyph) scaled(f float64) polygonGlyph {
	out := make(polygonGlyph, len(g))
	for i, v := range g {
		out[i] = [2]float64{v[0] * f, v[1] * f}
	}
	return out
}

func (g polygonGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	var p vg.Path
	for i, v := range g {
		q := vg.Point{X: pt.X + vg.Length(v[0])*sty.Radius, Y: pt.Y + vg.Length(v[1])*sty.Radius}
		if i == 0 {
			p.Move(q)
		} else {
			p.Line(q)
		}
	}
	p.Close()
	c.SetColor(sty.Color)
	c.Fill(p)
}

// crossGlyph is a bold ×, stroked (gonum's CrossGlyph is a hairline).
type crossGlyph struct{}

func (crossGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.6)})
	r := sty.Radius * 0.9
	for _, s := range []vg.Length{1, -1} {
		var p vg.Path
		p.Move(vg.Point{X: pt.X - r, Y: pt.Y - s*r})
		p.Line(vg.Point{X: pt.X + r, Y: pt.Y + s*r})
		c.Stroke(p)
	}
}
