package plots

import (
	"math"

	"github.com/qzoo/qzoo/laws"
	"gonum.org/v1/plot/plotter"
)

// LawSeries is a fitted law (package laws) as a [Fitted] series named after it: its curve on
// the grid points within its measured x range (no extrapolation drawn), x divided by xUnit
// (e.g. 1e6 for Mbit), with its bootstrap [Band] when it has one (none for a series fitted
// without bootstrap, laws.FitSeries). grid is the x of f.Curve (the laws.Result's Grid). With
// logY, points whose value or band is not positive are left out (a log axis). false when fewer
// than two points remain, f's curve does not match grid, or the law is degenerate
// (laws.Law.Degenerate: not a law to draw).
func LawSeries(grid []float64, f laws.SeriesFit, xUnit float64, logY bool) (Series, bool) {
	if len(f.Curve) != len(grid) || (f.Band != nil && len(f.Band) != len(grid)) || f.Law.Degenerate() {
		return Series{}, false
	}
	out := Series{Name: f.Name, Style: Fitted}
	if f.Band != nil {
		out.Band = &Band{}
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && (!logY || v > 0) }
	for i, x := range grid {
		y := f.Curve[i]
		if !f.Law.InRange(x) || !finite(y) {
			continue
		}
		if out.Band != nil {
			lo, hi := f.Band[i].Lo, f.Band[i].Hi
			if !finite(lo) || !finite(hi) {
				continue
			}
			out.Band.Lower = append(out.Band.Lower, plotter.XY{X: x / xUnit, Y: lo})
			out.Band.Upper = append(out.Band.Upper, plotter.XY{X: x / xUnit, Y: hi})
		}
		out.Points = append(out.Points, plotter.XY{X: x / xUnit, Y: y})
	}
	return out, len(out.Points) >= 2
}
