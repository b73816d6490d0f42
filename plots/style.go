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

// palette holds 16 colours, as many as a panel of the zoo's figures has series (the LLM
// study's 16 methods): the Okabe–Ito colour-blind-safe palette (Okabe & Ito 2008, "Color
// Universal Design"; its yellow left out, too pale on white), then nine colours of Paul Tol's
// colour-blind-safe schemes (muted, medium-contrast, light and dark; personal.sron.nl/~pault),
// each chosen in turn as the one farthest from those before it. Every two of the 16 are at
// least 18 CIELAB units apart, and 9.9 under simulated protanopia, deuteranopia and
// tritanopia (Machado et al. 2009) — the first seven at least 16 — so a reader with a
// colour-vision deficiency tells the first seven series apart by colour and the others by
// colour and marker together (TestPaletteColourBlindSafe).
var palette = []color.RGBA{
	// Okabe–Ito: blue, vermillion, bluish green, reddish purple, orange, sky blue, black.
	{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
	{230, 159, 0, 255}, {86, 180, 233, 255}, {0, 0, 0, 255},
	// Tol: wine, olive, dark blue, green, grey, light red, light orange, dark red, dark green.
	{136, 34, 85, 255}, {153, 153, 51, 255}, {0, 68, 136, 255}, {17, 119, 51, 255},
	{119, 119, 119, 255}, {238, 153, 170, 255}, {238, 136, 102, 255}, {153, 68, 85, 255},
	{34, 85, 34, 255},
}

// glyphs mark the points. Their count (7) is coprime with the palette's (16), so series k takes
// colour k mod 16 and glyph k mod 7: the first 16 series of a panel have 16 colours, no two of
// the first 112 share both colour and marker, and neighbours differ in both.
var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{},
	polygonGlyph{{-1, -1}, {1, -1}, {1, 1}, {-1, 1}}.scaled(0.8), // square
	polygonGlyph{{0, 1.15}, {1, -0.6}, {-1, -0.6}},               // triangle up
	polygonGlyph{{0, 1.25}, {1, 0}, {0, -1.25}, {-1, 0}},         // diamond
	polygonGlyph{{0, -1.15}, {1, 0.6}, {-1, 0.6}},                // triangle down
	crossGlyph{},
	plusGlyph{},
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

// plusGlyph is a bold +, stroked.
type plusGlyph struct{}

func (plusGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.6)})
	r := sty.Radius * 1.15
	for _, d := range []vg.Point{{X: r}, {Y: r}} {
		var p vg.Path
		p.Move(vg.Point{X: pt.X - d.X, Y: pt.Y - d.Y})
		p.Line(vg.Point{X: pt.X + d.X, Y: pt.Y + d.Y})
		c.Stroke(p)
	}
}
