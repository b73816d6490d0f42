package vqae_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/laws"
	"github.com/qzoo/qzoo/metrics"
	"github.com/qzoo/qzoo/models/vqae"
	"github.com/qzoo/qzoo/plots"
)

// lawPoints are points of one quantizer whose PSNR follows truth exactly at the given bits per
// image: each has per-image squared errors over the same images (a shared per-image difficulty
// and a little noise of its own), scaled so that their mean is the law's MSE.
func lawPoints(quantizer, dim string, truth laws.Law, bits, difficulty []float64, rng *rand.Rand) []sweep.Point {
	var points []sweep.Point
	for _, x := range bits {
		psnr := truth.At(x)
		mse := make([]float64, len(difficulty))
		var sum float64
		for i, d := range difficulty {
			mse[i] = d * math.Exp(0.05*rng.NormFloat64())
			sum += mse[i]
		}
		scale := math.Pow(10, -psnr/10) / (sum / float64(len(mse)))
		for i := range mse {
			mse[i] *= scale
		}
		p := latentPoint(fmt.Sprintf("%s_d%s_%.0f", quantizer, dim, x), quantizer, dim, x, psnr, 0.9)
		p.Samples = map[string][]float64{metrics.SampleImageMSE: mse}
		points = append(points, p)
	}
	return points
}

// difficulty is the per-image factor of the squared error shared by every point: log-normal,
// as reconstruction errors of a test set are.
func difficulty(rng *rand.Rand, n int) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = math.Exp(0.5 * rng.NormFloat64())
	}
	return d
}

// latentStudy is a synthetic study: vq at 6 rates on PSNR = 30 − 300·bits^(−0.5), fsq at 5
// rates on a law 1 dB lower, rvq at 3 rates 3 dB lower, simvq at 2 rates (not fitted) and at a
// second latent dimension.
var (
	vqLaw  = laws.Law{A: -300, Alpha: 0.5, C: 30, Floor: true}
	fsqLaw = laws.Law{A: -300, Alpha: 0.5, C: 29, Floor: true}
	rvqLaw = laws.Law{A: -300, Alpha: 0.5, C: 27, Floor: true}
)

func latentStudy() []sweep.Point {
	rng := rand.New(rand.NewPCG(3, 4))
	d := difficulty(rng, 300)
	points := lawPoints("vq", "16", vqLaw, []float64{294, 392, 490, 588, 784, 980}, d, rng)
	points = append(points, lawPoints("fsq", "16", fsqLaw, []float64{294, 392, 490, 588, 686}, d, rng)...)
	points = append(points, lawPoints("rvq", "16", rvqLaw, []float64{294, 392, 490}, d, rng)...)
	points = append(points, lawPoints("simvq", "16", vqLaw, []float64{392, 490}, d, rng)...)
	return append(points, lawPoints("simvq", "8", vqLaw, []float64{490}, d, rng)...)
}

// TestLatentScalingLaws: the laws are recovered from the points' per-image samples with
// intervals that hold the truth; a series at fewer than 3 rates is listed unfitted; the best
// quantizer at each budget is the higher law, winning the bootstrap, flagged where it
// extrapolates; the table has every point's row, the laws and the budgets; the figure draws
// markers and the laws dashed with their bands on a log₁₀ axis.
func TestLatentScalingLaws(t *testing.T) {
	points := latentStudy()
	l, err := vqae.LatentScaling(points, vqae.LatentOptions{Replicates: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if l.Fits == nil || len(l.Fits.Series) != 3 || l.Fits.Replicates != 200 {
		t.Fatalf("fits %+v, want vq, fsq and rvq over 200 replicates", l.Fits)
	}
	for i, truth := range []laws.Law{vqLaw, fsqLaw} {
		f := l.Fits.Series[i]
		if !f.Law.Floor || math.Abs(f.Law.C-truth.C) > 1e-3 || math.Abs(f.Law.Alpha-truth.Alpha) > 1e-3 || math.Abs(f.Law.A-truth.A) > 1 {
			t.Errorf("%s law %v, want %v", f.Name, f.Law, truth)
		}
		if !f.C.Contains(truth.C) || !f.Alpha.Contains(truth.Alpha) || !f.A.Contains(truth.A) || f.C.Hi-f.C.Lo <= 0 {
			t.Errorf("%s intervals c %v, α %v, a %v should hold the truth and have a width", f.Name, f.C, f.Alpha, f.A)
		}
	}
	// Three rates: a pure power law rising with bits (α < 0), close to the truth in range.
	if rvq := l.Fits.Series[2]; rvq.Name != "rvq" || rvq.Law.Floor || rvq.Law.Alpha >= 0 || math.Abs(rvq.Law.At(400)-rvqLaw.At(400)) > 0.5 {
		t.Errorf("rvq law %v, want a pure power law near %v", rvq.Law, rvqLaw)
	}
	if strings.Join(l.Unfitted, ",") != "simvq,simvq (D=8)" || len(l.NoSamples) != 0 {
		t.Errorf("unfitted %v, without samples %v; want simvq and simvq (D=8), none", l.Unfitted, l.NoSamples)
	}
	if len(l.Choices) != 3 {
		t.Fatalf("%d choices, want the 3 default budgets", len(l.Choices))
	}
	for _, c := range l.Choices {
		if c.Best != 0 || c.WinShare[0] < 0.9 || c.Replicates != 200 {
			t.Errorf("budget %g: best %d with shares %v, want vq winning", c.Budget, c.Best, c.WinShare)
		}
	}
	if c := l.Choices[2]; c.Budget != 800 || !c.Extrapolated[1] || c.Extrapolated[0] || c.BestInRange != 0 {
		t.Errorf("800 bits: %+v, want fsq extrapolated, vq in range", c)
	}

	table := l.Table()
	for _, want := range []string{"| vq | 16 | 294 |", "| fsq | 16 | 588 |", "| simvq | 8 | 490 |",
		"Laws PSNR (dB) = c + a·bits^(−α)", "95% percentile intervals over 200 bootstrap replicates", "| vq | 6 | y = 30 -300·x^(−0.5) | 0.500 [",
		"| fsq | 5 | y = 29 -300·x^(−0.5) |", "| rvq | 3 | y = ", "·x^(0.", "Not fitted (points at fewer than 3 rates): simvq, simvq (D=8).", "| 800 | vq | vq | "} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if got := strings.Count(table, "| 16 |") + strings.Count(table, "| 8 |"); got != len(points) {
		t.Errorf("%d point rows, want %d:\n%s", got, len(points), table)
	}

	fig := l.Figure()
	if len(fig.Panels) != 1 || !fig.Panels[0].LogX10 {
		t.Fatalf("figure %+v, want one panel with a log₁₀ x axis", fig)
	}
	var drawn []string
	for _, s := range fig.Panels[0].Series {
		drawn = append(drawn, fmt.Sprintf("%s:%v:%v", s.Name, s.Style, s.Band != nil))
	}
	if want := "vq:Markers:false,vq:Fitted:true,fsq:Markers:false,fsq:Fitted:true,rvq:Markers:false,rvq:Fitted:true," +
		"simvq:Markers:false,simvq (D=8):Markers:false"; strings.Join(drawn, ",") != want {
		t.Errorf("series %v, want %s", drawn, want)
	}
	if _, err := fig.PNG(); err != nil {
		t.Errorf("rendering the figure: %v", err)
	}
}

// TestLatentScalingWithoutSamples: points evaluated before per-image samples were recorded keep
// their rows; their series is fitted without intervals (no band, no win share) and the table
// names them to evaluate again; with no samples at all the laws are still fitted.
func TestLatentScalingWithoutSamples(t *testing.T) {
	points := latentStudy()
	for i := range points {
		if points[i].Labels[vqae.LabelQuantizer] == "fsq" {
			points[i].Samples = nil
		}
	}
	l, err := vqae.LatentScaling(points, vqae.LatentOptions{Replicates: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(l.NoSamples, ",") != "fsq_d16_294,fsq_d16_392,fsq_d16_490,fsq_d16_588,fsq_d16_686" {
		t.Errorf("without samples: %v", l.NoSamples)
	}
	// The bootstrapped series come first, then those fitted without intervals.
	fsq := l.Fits.Series[2]
	if fsq.Name != "fsq" || fsq.Replicates != nil || fsq.Band != nil || math.Abs(fsq.Law.At(400)-fsqLaw.At(400)) > 1e-3 {
		t.Errorf("fsq without samples: %+v", fsq)
	}
	for _, c := range l.Choices {
		if c.WinShare[2] != 0 || c.WinShare[0] < 0.9 {
			t.Errorf("budget %g: shares %v, want fsq out of them", c.Budget, c.WinShare)
		}
	}
	table := l.Table()
	for _, want := range []string{"| fsq | 16 | 294 |", "Without per-image samples", "fsq_d16_588", "go run ./eval --checkpoint DIR", "(no samples)"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	var bands int
	for _, s := range l.Figure().Panels[0].Series {
		if s.Style == plots.Fitted && s.Band != nil {
			bands++
		}
	}
	if bands != 2 {
		t.Errorf("%d fitted series with a band, want 2 (vq's and rvq's)", bands)
	}

	for i := range points {
		points[i].Samples = nil
	}
	l, err = vqae.LatentScaling(points, vqae.LatentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Fits.Series) != 3 || !strings.Contains(l.Table(), "no intervals: no series has per-image samples") {
		t.Errorf("no samples at all: %d laws; table:\n%s", len(l.Fits.Series), l.Table())
	}
	if _, err := l.Figure().PNG(); err != nil {
		t.Errorf("rendering the figure without bands: %v", err)
	}
}

// TestLatentScalingBadSamples: a per-image squared error that is not finite and positive is an
// error naming the point.
func TestLatentScalingBadSamples(t *testing.T) {
	points := latentStudy()
	points[2].Samples[metrics.SampleImageMSE][7] = math.NaN()
	if _, err := vqae.LatentScaling(points, vqae.LatentOptions{Replicates: 10}); err == nil || !strings.Contains(err.Error(), points[2].Name) {
		t.Errorf("a NaN sample: error %v should name %s", err, points[2].Name)
	}
}
