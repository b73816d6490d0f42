package laws

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// Point is one measured configuration of a series: its total bits X and the per-example values
// its quality is aggregated from (e.g. the mean negative log-likelihood of each held-out
// window). Points whose Samples have the same length are taken to be scored on the same
// examples, in the same order. Points of a series with the same X are the same configuration
// trained with different seeds (Seed tells them apart).
type Point struct {
	X       float64
	Seed    int64
	Samples []float64
}

// Series is the points of one precision (or any curve to fit).
type Series struct {
	Name   string
	Points []Point
}

// Aggregate turns a point's samples into its quality: e.g. perplexity, exp of the mean NLL.
type Aggregate func(samples []float64) float64

// BootstrapOptions are the settings of [Bootstrap]; the zero value of each field but
// Aggregate takes the default.
type BootstrapOptions struct {
	// Aggregate computes a point's quality from its (resampled) samples. Required.
	Aggregate Aggregate
	// Replicates is the number B of bootstrap replicates (default 1000).
	Replicates int
	// Level is the confidence level of the intervals (default 0.95).
	Level float64
	// Seed seeds the resampling: the same seed gives the same intervals.
	Seed uint64
	// Form is the law's form; Auto decides it once per series on the full data (see [Fit]) and
	// every replicate refits that form, so that the parameters' intervals are of one law.
	Form Form
	// Grid are the x at which the curves' bands are computed (default: 50 points spaced
	// evenly in log x over the range of all series' points).
	Grid []float64
}

// Interval is a percentile confidence interval.
type Interval struct{ Lo, Hi float64 }

// Contains says whether v lies in the interval.
func (i Interval) Contains(v float64) bool { return v >= i.Lo && v <= i.Hi }

// SeriesFit is one series' law on the full data with its bootstrap intervals.
type SeriesFit struct {
	Name string
	// Law is the fit to the points' aggregated qualities (Y, in the points' order).
	Law Law
	Y   []float64
	// A, Alpha and C are the parameters' intervals (C is [0, 0] for a pure power law).
	A, Alpha, C Interval
	// Curve is the law on the result's Grid and Band its interval at each grid x.
	Curve []float64
	Band  []Interval
	// Replicates are the laws refitted on each replicate (N = 0 where the fit failed), in
	// replicate order, the same across series: [Optimal] compares series replicate by replicate.
	Replicates []Law
	// Failed counts the replicates whose fit failed (they are left out of the intervals).
	Failed int
}

// Result is the outcome of [Bootstrap].
type Result struct {
	Series []SeriesFit
	Grid   []float64
	Level  float64
	// Replicates is B.
	Replicates int
}

// Bootstrap fits a law to every series and gives percentile intervals of its parameters and
// of its curve on a grid, over evaluation samples and seeds (Efron & Tibshirani 1993, ch. 13).
//
// A replicate draws, for every length of sample vector, one vector of example indices with
// replacement, shared by every point (of every series) with that many samples; and, in every
// series, for each X measured with k seeds, k of its seeds with replacement. Each drawn point's
// quality is the aggregate of its samples at the drawn indices, and every series is refitted
// with the form its full-data fit chose.
//
// Errors: no series, a series with fewer than 3 points, a point without samples or with an X
// that is not finite and positive, an aggregate that is not finite on the full data, a missing
// Aggregate, a level outside (0, 1), a negative number of replicates; each names the series and
// point.
func Bootstrap(series []Series, opts BootstrapOptions) (*Result, error) {
	if opts.Aggregate == nil {
		return nil, errors.New("laws: bootstrap: no Aggregate")
	}
	if opts.Replicates == 0 {
		opts.Replicates = 1000
	}
	if opts.Level == 0 {
		opts.Level = 0.95
	}
	if opts.Replicates < 0 || !(opts.Level > 0 && opts.Level < 1) {
		return nil, fmt.Errorf("laws: bootstrap: %d replicates at level %g (need B > 0 and 0 < level < 1)", opts.Replicates, opts.Level)
	}
	if len(series) == 0 {
		return nil, errors.New("laws: bootstrap: no series")
	}
	lengths := map[int]bool{}
	xMin, xMax := math.Inf(1), math.Inf(-1)
	res := &Result{Level: opts.Level, Replicates: opts.Replicates}
	for _, s := range series {
		fit := SeriesFit{Name: s.Name}
		x := make([]float64, len(s.Points))
		for i, p := range s.Points {
			if len(p.Samples) == 0 {
				return nil, fmt.Errorf("laws: series %q, point %d (x = %g): no samples", s.Name, i, p.X)
			}
			lengths[len(p.Samples)] = true
			x[i] = p.X
			fit.Y = append(fit.Y, opts.Aggregate(p.Samples))
			xMin, xMax = math.Min(xMin, p.X), math.Max(xMax, p.X)
		}
		law, err := Fit(x, fit.Y, opts.Form)
		if err != nil {
			return nil, fmt.Errorf("laws: series %q: %w", s.Name, err)
		}
		fit.Law = law
		res.Series = append(res.Series, fit)
	}
	res.Grid = opts.Grid
	if len(res.Grid) == 0 {
		res.Grid = LogGrid(xMin, xMax, 50)
	}
	for _, g := range res.Grid {
		if !(g > 0) || math.IsInf(g, 0) {
			return nil, fmt.Errorf("laws: bootstrap: grid x %g: %w", g, ErrBadX)
		}
	}

	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	draws := map[int][]int{}
	groups := make([]map[float64][]int, len(series)) // per series: X → indices of its points
	for si, s := range series {
		groups[si] = map[float64][]int{}
		for i, p := range s.Points {
			groups[si][p.X] = append(groups[si][p.X], i)
		}
	}
	resampled := []float64{}
	for range opts.Replicates {
		for _, n := range sortedKeys(lengths) {
			idx := draws[n][:0]
			for range n {
				idx = append(idx, rng.IntN(n))
			}
			draws[n] = idx
		}
		for si, s := range series {
			var x, y []float64
			for _, gx := range sortedFloatKeys(groups[si]) {
				members := groups[si][gx]
				for range members {
					p := s.Points[members[rng.IntN(len(members))]]
					resampled = resampled[:0]
					for _, j := range draws[len(p.Samples)] {
						resampled = append(resampled, p.Samples[j])
					}
					x, y = append(x, p.X), append(y, opts.Aggregate(resampled))
				}
			}
			form := WithFloor
			if !res.Series[si].Law.Floor {
				form = PowerOnly
			}
			law, err := Fit(x, y, form)
			if err != nil {
				law = Law{} // e.g. a non-finite aggregate of a replicate
				res.Series[si].Failed++
			}
			res.Series[si].Replicates = append(res.Series[si].Replicates, law)
		}
	}
	alpha := (1 - opts.Level) / 2
	for si := range res.Series {
		f := &res.Series[si]
		var as, alphas, cs []float64
		for _, l := range f.Replicates {
			if l.N > 0 {
				as, alphas, cs = append(as, l.A), append(alphas, l.Alpha), append(cs, l.C)
			}
		}
		if len(as) == 0 {
			return nil, fmt.Errorf("laws: series %q: every bootstrap replicate's fit failed", f.Name)
		}
		f.A, f.Alpha, f.C = percentile(as, alpha), percentile(alphas, alpha), percentile(cs, alpha)
		at := make([]float64, 0, len(as))
		for _, g := range res.Grid {
			f.Curve = append(f.Curve, f.Law.At(g))
			at = at[:0]
			for _, l := range f.Replicates {
				if l.N > 0 {
					at = append(at, l.At(g))
				}
			}
			f.Band = append(f.Band, percentile(at, alpha))
		}
	}
	return res, nil
}

// FitSeries fits a law to one series' qualities y at x without bootstrap (e.g. points measured
// before per-example samples were recorded): its Law, Y and Curve on grid, no intervals (A,
// Alpha and C are zero, Band and Replicates nil). It can join a [Result]'s series, whose Grid
// must be grid: [Optimal] compares it by its law alone.
//
// Errors: those of [Fit], wrapped with the series' name.
func FitSeries(name string, x, y, grid []float64, form Form) (SeriesFit, error) {
	law, err := Fit(x, y, form)
	if err != nil {
		return SeriesFit{}, fmt.Errorf("laws: series %q: %w", name, err)
	}
	f := SeriesFit{Name: name, Law: law, Y: slices.Clone(y)}
	for _, g := range grid {
		f.Curve = append(f.Curve, law.At(g))
	}
	return f, nil
}

// MeasuredGrid is n points spaced evenly in log x over the range of every point of the series,
// and each point's x, sorted without repeats: on it each law's curve reaches its first and last
// measured point (a figure's fitted curves, [BootstrapOptions].Grid). Nil without points.
func MeasuredGrid(series []Series, n int) []float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	var measured []float64
	for _, s := range series {
		for _, p := range s.Points {
			lo, hi = math.Min(lo, p.X), math.Max(hi, p.X)
			measured = append(measured, p.X)
		}
	}
	if len(measured) == 0 {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(append(LogGrid(lo, hi, n), measured...))))
}

// percentile is the interval between the alpha and 1 − alpha empirical quantiles of v (sorted
// in place).
func percentile(v []float64, alpha float64) Interval {
	sort.Float64s(v)
	return Interval{Lo: stat.Quantile(alpha, stat.Empirical, v, nil), Hi: stat.Quantile(1-alpha, stat.Empirical, v, nil)}
}

// LogGrid is n points from lo to hi spaced evenly in log x (lo and hi > 0, n ≥ 2; one point lo
// when lo = hi).
func LogGrid(lo, hi float64, n int) []float64 {
	if lo == hi || n < 2 {
		return []float64{lo}
	}
	g := make([]float64, n)
	for i := range g {
		g[i] = lo * math.Pow(hi/lo, float64(i)/float64(n-1))
	}
	return g
}

func sortedKeys(m map[int]bool) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedFloatKeys(m map[float64][]int) []float64 {
	keys := make([]float64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
