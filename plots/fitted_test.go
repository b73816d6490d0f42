package plots

import (
	"testing"

	"github.com/qzoo/qzoo/laws"
)

// TestLawSeries: a fitted law becomes a Fitted series within its measured range, x in the
// caller's unit, with its band when bootstrapped and without one when not; on a log y axis the
// non-positive values are left out.
func TestLawSeries(t *testing.T) {
	grid := []float64{1e5, 1e6, 2e6, 4e6, 1e7}
	law := laws.Law{A: -2, Alpha: -1e-6, N: 3, XMin: 1e6, XMax: 4e6} // ≈ −2 everywhere
	f := laws.SeriesFit{Name: "int4", Law: law, Curve: []float64{5, 1, 2, 3, 5}, Band: []laws.Interval{
		{Lo: 4, Hi: 6}, {Lo: 0.5, Hi: 1.5}, {Lo: 1, Hi: 3}, {Lo: 2, Hi: 4}, {Lo: 4, Hi: 6}}}
	s, ok := LawSeries(grid, f, 1e6, true)
	if !ok || s.Name != "int4" || s.Style != Fitted || len(s.Points) != 3 || s.Points[0].X != 1 || s.Points[2].X != 4 ||
		s.Band == nil || len(s.Band.Lower) != 3 || s.Band.Upper[1].Y != 3 {
		t.Errorf("bootstrapped law: %+v (ok %v)", s, ok)
	}
	f.Curve[2], f.Band = -1, nil
	if s, ok := LawSeries(grid, f, 1, true); !ok || s.Band != nil || len(s.Points) != 2 || s.Points[1].X != 4e6 {
		t.Errorf("a law without bootstrap on a log y axis: %+v (ok %v)", s, ok)
	}
	if s, ok := LawSeries(grid, f, 1, false); !ok || len(s.Points) != 3 {
		t.Errorf("a linear y axis keeps the negative value: %+v", s)
	}
	if _, ok := LawSeries(grid[:2], f, 1, false); ok {
		t.Error("a curve that does not match the grid: ok")
	}
	f.Law = laws.Law{A: -5e4, Alpha: laws.MinAlpha, C: 5e4, Floor: true, N: 6, XMin: 1e6, XMax: 4e6}
	if _, ok := LawSeries(grid, f, 1, false); ok {
		t.Error("a degenerate floor fit (α at its bound) is drawn")
	}
}
