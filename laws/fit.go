package laws

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/optimize"
)

// Form chooses the law [Fit] fits.
type Form int

const (
	// Auto fits the power law plus a floor when it is identifiable, else a pure power law
	// (see [Fit]).
	Auto Form = iota
	// WithFloor fits y = c + a·x^(−α), α in [MinAlpha, MaxAlpha] (three points at least).
	WithFloor
	// PowerOnly fits y = a·x^(−α), α in [−MaxAlpha, MaxAlpha].
	PowerOnly
)

func (f Form) String() string {
	switch f {
	case Auto:
		return "auto"
	case WithFloor:
		return "power law plus floor"
	case PowerOnly:
		return "pure power law"
	}
	return fmt.Sprintf("Form(%d)", int(f))
}

// The exponent's range: α of a law with a floor lies in [MinAlpha, MaxAlpha], that of a pure
// power law in [−MaxAlpha, MaxAlpha]. A floor fit whose α ends within 1% of either end did not
// find the curvature a floor needs (see [Fit]).
const (
	MinAlpha = 1e-3
	MaxAlpha = 5.0
)

// Errors of the fits; they are wrapped with the series or point they concern.
var (
	ErrTooFewPoints = errors.New("laws: a law needs at least 3 points")
	ErrBadX         = errors.New("laws: x must be finite and positive")
	ErrBadY         = errors.New("laws: y must be finite")
)

// Law is a fitted y(x) = C + A·x^(−Alpha) (C = 0 when Floor is false), in the units of the x
// and y it was fitted to.
type Law struct {
	A, Alpha, C float64
	// Floor says whether C was fitted (false: a pure power law, C = 0).
	Floor bool
	// RMS is the root mean square of the residuals y − law(x).
	RMS float64
	// N is the number of points fitted (0: no law, e.g. a bootstrap replicate whose fit failed);
	// XMin and XMax the range of their x.
	N          int
	XMin, XMax float64
}

// At is the law's value at x.
func (l Law) At(x float64) float64 { return l.C + l.A*math.Pow(x, -l.Alpha) }

// Degenerate says whether the law is a floor fit whose α ended within 1% of MinAlpha or
// MaxAlpha: the points show no curvature to place a floor (near MinAlpha, c + a·x^(−α) is
// c + a − a·α·ln x, a straight line in ln x whose c and a grow without bound, of either sign),
// or a single point carries the whole decay; the criterion by which [Fit]'s Auto drops the
// floor. Its numbers are not a law to read or draw.
func (l Law) Degenerate() bool {
	return l.Floor && l.N > 0 && (l.Alpha < MinAlpha*1.01 || l.Alpha > MaxAlpha*0.99)
}

// InRange says whether x lies within the fitted points' range (no extrapolation).
func (l Law) InRange(x float64) bool { return x >= l.XMin && x <= l.XMax }

// String writes the law as a formula, e.g. "y = 1.2 + 3.4e+05·x^(−0.71)"; a pure power law
// rising with x (α < 0) as "y = 0.61·x^(0.52)".
func (l Law) String() string {
	power := fmt.Sprintf("x^(−%.3g)", l.Alpha)
	if l.Alpha < 0 {
		power = fmt.Sprintf("x^(%.3g)", -l.Alpha)
	}
	if l.Floor {
		return fmt.Sprintf("y = %.4g %+.4g·%s", l.C, l.A, power)
	}
	return fmt.Sprintf("y = %.4g·%s", l.A, power)
}

// Fit fits the law of the given form to the points (x[i], y[i]) by least squares in y.
//
// Auto keeps the floor when all of these hold, and otherwise fits a pure power law (c = 0):
// at least 5 points (the corrected criterion needs n > 4 for 3 parameters), the floor fit's α
// not within 1% of MinAlpha or MaxAlpha (at the lower end the data show no curvature to place a
// floor, at the upper end a single point carries the decay), and a lower AICc = n·ln(RSS/n) +
// 2k + 2k(k+1)/(n−k−1) than the pure law's (k = 3 against 2).
//
// Errors: fewer than 3 points ([ErrTooFewPoints]), x and y of different lengths, an x that is
// not finite and positive ([ErrBadX]) or a y that is not finite ([ErrBadY]), each naming the
// index.
func Fit(x, y []float64, form Form) (Law, error) {
	if len(x) != len(y) {
		return Law{}, fmt.Errorf("laws: %d x values for %d y values", len(x), len(y))
	}
	if len(x) < 3 {
		return Law{}, fmt.Errorf("%w, got %d", ErrTooFewPoints, len(x))
	}
	for i := range x {
		if !(x[i] > 0) || math.IsInf(x[i], 0) {
			return Law{}, fmt.Errorf("%w: x[%d] = %g", ErrBadX, i, x[i])
		}
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return Law{}, fmt.Errorf("%w: y[%d] = %g", ErrBadY, i, y[i])
		}
	}
	p := newProblem(x, y)
	switch form {
	case WithFloor:
		return p.law(p.solve(true)), nil
	case PowerOnly:
		return p.law(p.solve(false)), nil
	case Auto:
		pure := p.solve(false)
		if len(x) < 5 {
			return p.law(pure), nil
		}
		floor := p.solve(true)
		if p.law(floor).Degenerate() || p.aicc(floor, 3) >= p.aicc(pure, 2) {
			return p.law(pure), nil
		}
		return p.law(floor), nil
	}
	return Law{}, fmt.Errorf("laws: unknown form %d", int(form))
}

// problem is a fit in normalised units: u = x/x0 with x0 the geometric mean of x, and
// v = (y − yMean)/yScale.
type problem struct {
	x, logU, v        []float64
	x0, yMean, yScale float64
	xMin, xMax        float64
	scratch           []float64
}

func newProblem(x, y []float64) *problem {
	p := &problem{logU: make([]float64, len(x)), v: make([]float64, len(y)), scratch: make([]float64, len(x)),
		xMin: math.Inf(1), xMax: math.Inf(-1)}
	var logSum float64
	for _, xi := range x {
		logSum += math.Log(xi)
		p.xMin, p.xMax = math.Min(p.xMin, xi), math.Max(p.xMax, xi)
	}
	p.x0 = math.Exp(logSum / float64(len(x)))
	for i, xi := range x {
		p.logU[i] = math.Log(xi / p.x0)
		p.yMean += y[i] / float64(len(y))
	}
	for _, yi := range y {
		p.yScale += (yi - p.yMean) * (yi - p.yMean)
	}
	p.yScale = math.Sqrt(p.yScale / float64(len(y)))
	if p.yScale == 0 {
		p.yScale = 1
	}
	for i, yi := range y {
		p.v[i] = (yi - p.yMean) / p.yScale
	}
	return p
}

// solution is a law in normalised units: v = c + a·u^(−alpha); rss its residual sum of squares.
type solution struct {
	a, alpha, c, rss float64
	floor            bool
}

// linear solves the law's linear part for a given alpha exactly: with a floor, (c, a) by
// least squares on the columns [1, u^(−alpha)]; without, a alone. A column without spread
// (alpha so small that u^(−alpha) is constant) leaves a = 0.
func (p *problem) linear(alpha float64, floor bool) solution {
	g := p.scratch
	var gMean, vMean float64
	for i, lu := range p.logU {
		g[i] = math.Exp(-alpha * lu)
		gMean += g[i]
		vMean += p.v[i]
	}
	n := float64(len(g))
	gMean, vMean = gMean/n, vMean/n
	s := solution{alpha: alpha, floor: floor}
	if floor {
		var sgg, sgv float64
		for i := range g {
			sgg += (g[i] - gMean) * (g[i] - gMean)
			sgv += (g[i] - gMean) * (p.v[i] - vMean)
		}
		if sgg > 1e-300 {
			s.a = sgv / sgg
		}
		s.c = vMean - s.a*gMean
	} else {
		// In normalised units c = 0 is y = yMean; a pure law in y has y = a·g, i.e.
		// v = a·g/yScale − yMean/yScale: solve for a in y units.
		var sgg, sgy float64
		for i := range g {
			y := p.v[i]*p.yScale + p.yMean
			sgg += g[i] * g[i]
			sgy += g[i] * y
		}
		s.a = sgy / sgg / p.yScale
		s.c = -p.yMean / p.yScale
	}
	for i := range g {
		r := p.v[i] - s.c - s.a*g[i]
		s.rss += r * r
	}
	return s
}

// solve finds the best alpha in its range: the RSS on a grid of 201 exponents, then Nelder–Mead
// on a bounded parameterisation from the three best grid points, keeping the best result.
func (p *problem) solve(floor bool) solution {
	lo, hi := MinAlpha, MaxAlpha
	if !floor {
		lo = -MaxAlpha
	}
	// alpha(t) = lo + (hi − lo)·sigmoid(t): unconstrained t, alpha within its range.
	alphaOf := func(t float64) float64 { return lo + (hi-lo)/(1+math.Exp(-t)) }
	tOf := func(alpha float64) float64 {
		q := (alpha - lo) / (hi - lo)
		return math.Log(q / (1 - q))
	}
	type start struct{ alpha, rss float64 }
	var grid []start
	for i := range 201 {
		var alpha float64
		if floor { // log-spaced: the exponents of interest span decades
			alpha = lo * math.Pow(hi/lo, (float64(i)+0.5)/201)
		} else {
			alpha = lo + (hi-lo)*(float64(i)+0.5)/201
		}
		grid = append(grid, start{alpha, p.linear(alpha, floor).rss})
	}
	sort.Slice(grid, func(i, j int) bool { return grid[i].rss < grid[j].rss })
	best := p.linear(grid[0].alpha, floor)
	for _, st := range grid[:3] {
		res, err := optimize.Minimize(optimize.Problem{Func: func(t []float64) float64 {
			return p.linear(alphaOf(t[0]), floor).rss
		}}, []float64{tOf(st.alpha)}, &optimize.Settings{Converger: &optimize.FunctionConverge{Absolute: 1e-14, Relative: 1e-12, Iterations: 50}},
			&optimize.NelderMead{})
		if err != nil || res == nil {
			continue // the grid point stands
		}
		if s := p.linear(alphaOf(res.X[0]), floor); s.rss < best.rss {
			best = s
		}
	}
	return best
}

// aicc is the small-sample corrected Akaike criterion of a solution with k parameters.
func (p *problem) aicc(s solution, k int) float64 {
	n := float64(len(p.v))
	rss := math.Max(s.rss, 1e-300*n)
	return n*math.Log(rss/n) + 2*float64(k) + 2*float64(k*(k+1))/(n-float64(k)-1)
}

// law converts a normalised solution to x and y units: y = yMean + yScale·(c + a·(x/x0)^(−α)).
func (p *problem) law(s solution) Law {
	l := Law{Alpha: s.alpha, A: p.yScale * s.a * math.Pow(p.x0, s.alpha), Floor: s.floor,
		RMS: p.yScale * math.Sqrt(s.rss/float64(len(p.v))), N: len(p.v), XMin: p.xMin, XMax: p.xMax}
	if s.floor {
		l.C = p.yMean + p.yScale*s.c
	}
	return l
}
