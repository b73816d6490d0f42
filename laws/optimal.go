package laws

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Choice is the answer of [Optimal] at one bit budget.
type Choice struct {
	// Budget is the total bits B.
	Budget float64
	// Quality is each series' fitted quality at B (the result's series order).
	Quality []float64
	// Extrapolated says, per series, whether B lies outside the series' measured x range.
	Extrapolated []bool
	// Best is the index of the series whose law is best at B; BestInRange the best among the
	// series measured around B (−1 when B is outside every series' range).
	Best, BestInRange int
	// WinShare is, per series, the share of bootstrap replicates in which it is best at B
	// (replicates where some series' fit failed are left out; the shares sum to 1; 0 for a
	// series fitted without bootstrap, [FitSeries]).
	WinShare []float64
	// Replicates is the number of replicates the shares count.
	Replicates int
}

// Optimal says which series is best at each budget: by the laws fitted to the full data, and in
// what share of the bootstrap replicates (the same replicate of every series, so the
// comparison keeps the points' shared examples). higherIsBetter is true for a quality such as
// PSNR, false for perplexity.
//
// A series without replicates (fitted without bootstrap by [FitSeries], e.g. its points lack
// samples) competes by its law for Best and BestInRange but takes no part in the win shares. A
// series whose law is degenerate ([Law.Degenerate]) takes no part at all, unless every series'
// is (then all compete as they are).
//
// Errors: a nil or empty result, a budget that is not finite and positive, a result whose
// bootstrapped series have different numbers of replicates.
func Optimal(res *Result, budgets []float64, higherIsBetter bool) ([]Choice, error) {
	if res == nil || len(res.Series) == 0 {
		return nil, errors.New("laws: optimal: no fitted series")
	}
	reps, first := 0, ""
	for _, s := range res.Series {
		if len(s.Replicates) == 0 {
			continue
		}
		if reps == 0 {
			reps, first = len(s.Replicates), s.Name
		}
		if len(s.Replicates) != reps {
			return nil, fmt.Errorf("laws: optimal: series %q has %d replicates, %q %d", s.Name, len(s.Replicates), first, reps)
		}
	}
	better := func(a, b float64) bool {
		if math.IsNaN(b) {
			return !math.IsNaN(a)
		}
		if higherIsBetter {
			return a > b
		}
		return a < b
	}
	allDegenerate := true
	for _, s := range res.Series {
		allDegenerate = allDegenerate && s.Law.Degenerate()
	}
	excluded := func(s SeriesFit) bool { return s.Law.Degenerate() && !allDegenerate }
	var out []Choice
	for _, b := range budgets {
		if !(b > 0) || math.IsInf(b, 0) {
			return nil, fmt.Errorf("laws: optimal: budget %g: %w", b, ErrBadX)
		}
		c := Choice{Budget: b, Best: -1, BestInRange: -1, WinShare: make([]float64, len(res.Series))}
		for i, s := range res.Series {
			q := s.Law.At(b)
			c.Quality = append(c.Quality, q)
			c.Extrapolated = append(c.Extrapolated, !s.Law.InRange(b))
			if excluded(s) {
				continue
			}
			if c.Best < 0 || better(q, c.Quality[c.Best]) {
				c.Best = i
			}
			if s.Law.InRange(b) && (c.BestInRange < 0 || better(q, c.Quality[c.BestInRange])) {
				c.BestInRange = i
			}
		}
		for r := range reps {
			win, ok := -1, true
			for i, s := range res.Series {
				if len(s.Replicates) == 0 || excluded(s) {
					continue
				}
				l := s.Replicates[r]
				if l.N == 0 {
					ok = false
					break
				}
				if win < 0 || better(l.At(b), res.Series[win].Replicates[r].At(b)) {
					win = i
				}
			}
			if ok && win >= 0 {
				c.WinShare[win]++
				c.Replicates++
			}
		}
		for i := range c.WinShare {
			if c.Replicates > 0 {
				c.WinShare[i] /= float64(c.Replicates)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// SeriesName names series i of res for a table row of the choice: its name, starred ("*")
// where the budget is extrapolated for it; "—" for i = −1 (e.g. a BestInRange of no series).
func (c Choice) SeriesName(res *Result, i int) string {
	if i < 0 {
		return "—"
	}
	if c.Extrapolated[i] {
		return res.Series[i].Name + "*"
	}
	return res.Series[i].Name
}

// Shares writes the win shares above zero in the series' order, e.g. "int4 93%, nf4 7%".
func (c Choice) Shares(res *Result) string {
	var shares []string
	for i, f := range res.Series {
		if c.WinShare[i] > 0 {
			shares = append(shares, fmt.Sprintf("%s %.0f%%", f.Name, 100*c.WinShare[i]))
		}
	}
	return strings.Join(shares, ", ")
}
