package laws

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat"
)

// bitsGrid are total model bits of a family spanning two decades, as the weights study has.
var bitsGrid = []float64{4e5, 1e6, 2.5e6, 6e6, 1.5e7, 4e7}

func exact(l Law, x []float64) []float64 {
	y := make([]float64, len(x))
	for i, xi := range x {
		y[i] = l.At(xi)
	}
	return y
}

func near(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }

func TestFitRecoversKnownLaws(t *testing.T) {
	for _, tc := range []struct {
		name string
		law  Law
	}{
		{"perplexity falling to a floor", Law{A: 4e4, Alpha: 0.6, C: 5, Floor: true}},
		{"PSNR rising to a ceiling (a < 0)", Law{A: -300, Alpha: 0.35, C: 32, Floor: true}},
		{"steep decay", Law{A: 2e13, Alpha: 2, C: 1.5, Floor: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Fit(bitsGrid, exact(tc.law, bitsGrid), Auto)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Floor || !near(got.A, tc.law.A, 1e-3) || !near(got.Alpha, tc.law.Alpha, 1e-4) || !near(got.C, tc.law.C, 1e-4) {
				t.Errorf("fit %v, want %v", got, tc.law)
			}
			if got.RMS > 1e-6*math.Abs(tc.law.C) || got.N != len(bitsGrid) || got.XMin != bitsGrid[0] || got.XMax != bitsGrid[5] {
				t.Errorf("RMS %g, N %d, range [%g, %g]", got.RMS, got.N, got.XMin, got.XMax)
			}
		})
	}
}

// TestFitNoisyWithinTolerance: 2% noise on 6 points still gives the floor and exponent to a
// tolerance a figure can use.
func TestFitNoisyWithinTolerance(t *testing.T) {
	truth := Law{A: 4e4, Alpha: 0.6, C: 5, Floor: true}
	rng := rand.New(rand.NewPCG(1, 2))
	y := exact(truth, bitsGrid)
	for i := range y {
		y[i] *= 1 + 0.002*rng.NormFloat64()
	}
	got, err := Fit(bitsGrid, y, WithFloor)
	if err != nil {
		t.Fatal(err)
	}
	if !near(got.Alpha, 0.6, 0.15) || !near(got.C, 5, 0.1) {
		t.Errorf("fit %v, want %v", got, truth)
	}
}

// TestFitFallsBackToPurePowerLaw: a law without a floor (a straight line on log axes) is fitted
// as one, and so is any law with fewer than 5 points.
func TestFitFallsBackToPurePowerLaw(t *testing.T) {
	pure := Law{A: 3e3, Alpha: 0.4}
	got, err := Fit(bitsGrid, exact(pure, bitsGrid), Auto)
	if err != nil {
		t.Fatal(err)
	}
	if got.Floor || got.C != 0 || !near(got.A, 3e3, 1e-4) || !near(got.Alpha, 0.4, 1e-5) {
		t.Errorf("fit %v, want %v", got, pure)
	}
	growing := Law{A: 2, Alpha: -0.3}
	if got, err = Fit(bitsGrid, exact(growing, bitsGrid), Auto); err != nil || got.Floor || !near(got.Alpha, -0.3, 1e-5) {
		t.Errorf("growing power law: %v, %v", got, err)
	}
	floor := Law{A: 4e4, Alpha: 0.6, C: 5, Floor: true}
	got, err = Fit(bitsGrid[:4], exact(floor, bitsGrid[:4]), Auto)
	if err != nil || got.Floor {
		t.Errorf("4 points: %v, %v (want a pure power law)", got, err)
	}
	got, err = Fit(bitsGrid[:3], exact(floor, bitsGrid[:3]), WithFloor)
	if err != nil || !got.Floor || !near(got.C, 5, 1e-3) {
		t.Errorf("3 points with a floor asked for: %v, %v", got, err)
	}
}

func TestFitBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y []float64
		want error
	}{
		{"two points", []float64{1, 2}, []float64{1, 2}, ErrTooFewPoints},
		{"zero x", []float64{1, 0, 3}, []float64{1, 2, 3}, ErrBadX},
		{"negative x", []float64{1, -2, 3}, []float64{1, 2, 3}, ErrBadX},
		{"infinite x", []float64{1, math.Inf(1), 3}, []float64{1, 2, 3}, ErrBadX},
		{"NaN x", []float64{1, math.NaN(), 3}, []float64{1, 2, 3}, ErrBadX},
		{"NaN y", []float64{1, 2, 3}, []float64{1, math.NaN(), 3}, ErrBadY},
		{"lengths", []float64{1, 2, 3}, []float64{1, 2}, nil},
	} {
		_, err := Fit(tc.x, tc.y, Auto)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// synthetic builds a series whose points score 64 windows: window w's NLL at point x is
// log(law(x)) + e_w·σ, with e_w shared across points (the same text is hard for every model)
// plus a point's own noise, so that exp(mean NLL) ≈ law(x).
func synthetic(name string, truth Law, rng *rand.Rand, shared []float64, sigma float64) Series {
	s := Series{Name: name}
	for _, x := range bitsGrid {
		p := Point{X: x}
		for _, e := range shared {
			p.Samples = append(p.Samples, math.Log(truth.At(x))+sigma*(e+0.3*rng.NormFloat64()))
		}
		s.Points = append(s.Points, p)
	}
	return s
}

func perplexity(nll []float64) float64 { return math.Exp(stat.Mean(nll, nil)) }

func sharedNoise(rng *rand.Rand, n int) []float64 {
	e := make([]float64, n)
	for i := range e {
		e[i] = rng.NormFloat64()
	}
	return e
}

// TestBootstrapCoversTheTruth: over 20 seeded trials of noisy windows, the 95% band contains
// the true curve's value at the middle of the range in most trials, and the floor's interval
// contains the true floor in most.
func TestBootstrapCoversTheTruth(t *testing.T) {
	truth := Law{A: 4e4, Alpha: 0.6, C: 5, Floor: true}
	mid := 3e6
	coveredCurve, coveredAlpha := 0, 0
	const trials = 20
	for trial := range trials {
		rng := rand.New(rand.NewPCG(uint64(trial), 7))
		s := synthetic("int4", truth, rng, sharedNoise(rng, 64), 0.05)
		res, err := Bootstrap([]Series{s}, BootstrapOptions{Aggregate: perplexity, Replicates: 200, Seed: uint64(trial),
			Form: WithFloor, Grid: []float64{mid}})
		if err != nil {
			t.Fatal(err)
		}
		f := res.Series[0]
		if f.Band[0].Contains(truth.At(mid)) {
			coveredCurve++
		}
		if f.Alpha.Contains(truth.Alpha) {
			coveredAlpha++
		}
		if !(f.Band[0].Lo <= f.Curve[0] && f.Curve[0] <= f.Band[0].Hi) || f.Band[0].Lo >= f.Band[0].Hi {
			t.Errorf("trial %d: band %v around the fit %g", trial, f.Band[0], f.Curve[0])
		}
	}
	// The windows' shared difficulty moves every point together, which a bootstrap over
	// windows captures: coverage near the nominal 95%.
	t.Logf("coverage in %d trials: band %d, α %d", trials, coveredCurve, coveredAlpha)
	if coveredCurve < 14 || coveredAlpha < 12 {
		t.Errorf("the band held the truth in %d of %d trials, α's interval in %d", coveredCurve, trials, coveredAlpha)
	}
}

func TestBootstrapIsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := synthetic("nf4", Law{A: 4e4, Alpha: 0.6, C: 5, Floor: true}, rng, sharedNoise(rng, 32), 0.05)
	opts := BootstrapOptions{Aggregate: perplexity, Replicates: 50, Seed: 11}
	a, err := Bootstrap([]Series{s}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bootstrap([]Series{s}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different results")
	}
	opts.Seed = 12
	c, err := Bootstrap([]Series{s}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Series[0].Alpha, c.Series[0].Alpha) {
		t.Error("another seed gave the same interval")
	}
	if len(a.Grid) != 50 || a.Grid[0] != bitsGrid[0] || !near(a.Grid[49], bitsGrid[5], 1e-12) || len(a.Series[0].Band) != 50 {
		t.Errorf("default grid: %d points from %g to %g", len(a.Grid), a.Grid[0], a.Grid[len(a.Grid)-1])
	}
}

// TestBootstrapResamplesSeeds: two seeds per configuration whose qualities differ widen the
// intervals against one seed alone.
func TestBootstrapResamplesSeeds(t *testing.T) {
	truth := Law{A: 4e4, Alpha: 0.6, C: 5, Floor: true}
	rng := rand.New(rand.NewPCG(5, 6))
	e := sharedNoise(rng, 32)
	one := synthetic("one seed", truth, rng, e, 0.02)
	two := Series{Name: "two seeds"}
	for _, p := range one.Points {
		two.Points = append(two.Points, p)
		q := Point{X: p.X, Seed: 2}
		for _, v := range p.Samples {
			q.Samples = append(q.Samples, v+0.05*rng.NormFloat64()+0.05)
		}
		two.Points = append(two.Points, q)
	}
	opts := BootstrapOptions{Aggregate: perplexity, Replicates: 200, Seed: 1, Form: WithFloor, Grid: []float64{3e6}}
	r1, err := Bootstrap([]Series{one}, opts)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Bootstrap([]Series{two}, opts)
	if err != nil {
		t.Fatal(err)
	}
	w1, w2 := r1.Series[0].Band[0].Hi-r1.Series[0].Band[0].Lo, r2.Series[0].Band[0].Hi-r2.Series[0].Band[0].Lo
	if !(w2 > w1) {
		t.Errorf("band width with two seeds %g, one seed %g", w2, w1)
	}
}

func TestBootstrapBadInput(t *testing.T) {
	good := Series{Name: "s", Points: []Point{{X: 1, Samples: []float64{1}}, {X: 2, Samples: []float64{1}}, {X: 3, Samples: []float64{1}}}}
	noSamples := Series{Name: "s", Points: []Point{{X: 1, Samples: []float64{1}}, {X: 2}, {X: 3, Samples: []float64{1}}}}
	for name, run := range map[string]func() error{
		"no aggregate": func() error { _, err := Bootstrap([]Series{good}, BootstrapOptions{}); return err },
		"no series": func() error {
			_, err := Bootstrap(nil, BootstrapOptions{Aggregate: perplexity})
			return err
		},
		"no samples": func() error {
			_, err := Bootstrap([]Series{noSamples}, BootstrapOptions{Aggregate: perplexity})
			return err
		},
		"level": func() error {
			_, err := Bootstrap([]Series{good}, BootstrapOptions{Aggregate: perplexity, Level: 1.5})
			return err
		},
		"two points": func() error {
			_, err := Bootstrap([]Series{{Name: "s", Points: good.Points[:2]}}, BootstrapOptions{Aggregate: perplexity})
			return err
		},
		"grid": func() error {
			_, err := Bootstrap([]Series{good}, BootstrapOptions{Aggregate: perplexity, Grid: []float64{0}, Replicates: 2})
			return err
		},
	} {
		if err := run(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestOptimalOnAConstructedCase: a 4-bit series beats an 8-bit one at small budgets (it fits
// twice the parameters in the same bits) and loses at large ones (its floor is higher); the
// crossing of the two laws is where the answer changes, and the bootstrap's shares agree away
// from it.
func TestOptimalOnAConstructedCase(t *testing.T) {
	int4 := Law{A: 4e4, Alpha: 0.6, C: 6, Floor: true}
	int8 := Law{A: 4e4 * math.Pow(2, 0.6), Alpha: 0.6, C: 5, Floor: true} // half the parameters per bit, a lower floor
	rng := rand.New(rand.NewPCG(8, 9))
	e := sharedNoise(rng, 64)
	res, err := Bootstrap([]Series{synthetic("int4", int4, rng, e, 0.01), synthetic("int8", int8, rng, e, 0.01)},
		BootstrapOptions{Aggregate: perplexity, Replicates: 200, Seed: 2, Form: WithFloor})
	if err != nil {
		t.Fatal(err)
	}
	choices, err := Optimal(res, []float64{5e5, 3e7, 1e9}, false)
	if err != nil {
		t.Fatal(err)
	}
	if c := choices[0]; c.Best != 0 || c.BestInRange != 0 || c.WinShare[0] < 0.9 || c.Extrapolated[0] {
		t.Errorf("small budget: %+v", c)
	}
	if c := choices[1]; c.Best != 1 || c.WinShare[1] < 0.9 {
		t.Errorf("large budget: %+v", c)
	}
	if c := choices[2]; !c.Extrapolated[0] || !c.Extrapolated[1] || c.BestInRange != -1 || c.Best != 1 {
		t.Errorf("beyond the range: %+v", c)
	}
	for _, c := range choices {
		if sum := c.WinShare[0] + c.WinShare[1]; !near(sum, 1, 1e-12) || c.Replicates != 200 {
			t.Errorf("budget %g: shares sum to %g over %d replicates", c.Budget, sum, c.Replicates)
		}
	}
	if _, err := Optimal(res, []float64{-1}, false); !errors.Is(err, ErrBadX) {
		t.Errorf("negative budget: %v", err)
	}
	if _, err := Optimal(nil, []float64{1}, false); err == nil {
		t.Error("nil result: no error")
	}
}

// TestDegenerateLawTakesNoPart: points that rise with x give a floor fit with α at its lower
// bound (no decay to a floor); the law says so, and Optimal leaves that series out of the best
// choices and the win shares, even where it is the only series measured.
func TestDegenerateLawTakesNoPart(t *testing.T) {
	x := []float64{6e5, 1e6, 1.5e6, 2.8e6, 4.6e6, 8.7e6}
	y := []float64{97, 117, 81, 126, 144, 259} // nf2 of the scaling study: worse with size
	l, err := Fit(x, y, WithFloor)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Degenerate() {
		t.Fatalf("floor fit of rising points %v is not degenerate", l)
	}
	if good := (Law{A: 4e4, Alpha: 0.6, C: 6, Floor: true, N: 6}); good.Degenerate() {
		t.Errorf("%v is degenerate", good)
	}
	if pure := (Law{A: 4e4, Alpha: MinAlpha, N: 6}); pure.Degenerate() {
		t.Errorf("a pure power law %v is degenerate", pure)
	}
	fine := Law{A: 4e4, Alpha: 0.6, C: 6, Floor: true, N: 3, XMin: 1e7, XMax: 1e8}
	res := &Result{Series: []SeriesFit{
		{Name: "rising", Law: l, Replicates: []Law{l, l}},
		{Name: "fine", Law: fine, Replicates: []Law{fine, fine}},
	}}
	choices, err := Optimal(res, []float64{1e6}, false)
	if err != nil {
		t.Fatal(err)
	}
	c := choices[0]
	if c.Best != 1 || c.BestInRange != -1 || c.WinShare[0] != 0 || c.WinShare[1] != 1 {
		t.Errorf("the degenerate series takes part: %+v", c)
	}
	// When every series is degenerate (models barely trained), all compete as they are.
	res.Series[1] = SeriesFit{Name: "also rising", Law: l, Replicates: []Law{l, l}}
	if choices, err = Optimal(res, []float64{1e6}, false); err != nil {
		t.Fatal(err)
	}
	if c := choices[0]; c.Best < 0 || c.BestInRange < 0 || c.Replicates != 2 {
		t.Errorf("every series degenerate: %+v", c)
	}
}

// TestFitSeriesJoinsOptimal: a series fitted without bootstrap (FitSeries) on the measured grid
// competes by its law in Optimal (it is best where its law is) but wins no bootstrap share; the
// grid reaches every measured x.
func TestFitSeriesJoinsOptimal(t *testing.T) {
	int4 := Law{A: 4e4, Alpha: 0.6, C: 6, Floor: true}
	rng := rand.New(rand.NewPCG(8, 9))
	e := sharedNoise(rng, 64)
	boot := synthetic("int4", int4, rng, e, 0.01)
	x := []float64{3e5, 3e6, 3e7}
	better := Law{A: 4e4, Alpha: 0.6, C: 4, Floor: true} // everywhere below int4
	plain := Series{Name: "plain"}
	for _, xi := range x {
		plain.Points = append(plain.Points, Point{X: xi})
	}
	grid := MeasuredGrid([]Series{boot, plain}, 20)
	for _, s := range []Series{boot, plain} {
		for _, p := range s.Points {
			if _, ok := slices.BinarySearch(grid, p.X); !ok {
				t.Errorf("grid lacks the measured x %g", p.X)
			}
		}
	}
	if !slices.IsSorted(grid) || len(grid) != len(slices.Compact(slices.Clone(grid))) {
		t.Errorf("grid not sorted without repeats: %v", grid)
	}
	res, err := Bootstrap([]Series{boot}, BootstrapOptions{Aggregate: perplexity, Replicates: 50, Seed: 1, Grid: grid})
	if err != nil {
		t.Fatal(err)
	}
	f, err := FitSeries("plain", x, exact(better, x), grid, PowerOnly)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Curve) != len(grid) || f.Band != nil || f.Replicates != nil || f.Law.N != 3 {
		t.Fatalf("FitSeries: %d curve points for %d grid, band %v, %d replicates, law %v", len(f.Curve), len(grid), f.Band, len(f.Replicates), f.Law)
	}
	res.Series = append(res.Series, f)
	choices, err := Optimal(res, []float64{1e6}, false)
	if err != nil {
		t.Fatal(err)
	}
	if c := choices[0]; c.Best != 1 || c.WinShare[1] != 0 || c.WinShare[0] != 1 || c.Replicates != 50 {
		t.Errorf("a plain series below the bootstrapped one: %+v", c)
	}
	if c := choices[0]; c.SeriesName(res, c.Best) != "plain" || c.SeriesName(res, -1) != "—" || c.Shares(res) != "int4 100%" {
		t.Errorf("names %q, %q and shares %q, want plain, —, int4 100%%", c.SeriesName(res, c.Best), c.SeriesName(res, -1), c.Shares(res))
	}
	if far, err := Optimal(res, []float64{1e9}, false); err != nil || far[0].SeriesName(res, 1) != "plain*" {
		t.Errorf("beyond the range: %v, %v; want plain starred", far, err)
	}
	if _, err := FitSeries("short", x[:2], x[:2], grid, Auto); !errors.Is(err, ErrTooFewPoints) || !strings.Contains(err.Error(), "short") {
		t.Errorf("two points: error %v should be ErrTooFewPoints naming the series", err)
	}
}
