package vqae

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/laws"
	"github.com/qzoo/qzoo/metrics"
	"github.com/qzoo/qzoo/plots"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ReportLatentScaling is the latent study's report (configs/latents/study.json): quality
// against bits per image for every quantizer of layers/vq on the autoencoder, with a fitted law
// per quantizer (issue 16 item 5; see [LatentScaling]). Its table has a row per point
// (quantizer, latent dimension, bits per image, PSNR, utilisation, code perplexity), then the
// laws PSNR = c + a·bits^(−α) with 95% bootstrap intervals over the test images, then the best
// quantizer at a few bit budgets with its bootstrap win shares; its figure draws PSNR against
// bits per image on a log₁₀ axis, one colour and marker per series, the measured points as
// markers and each law dashed with its band.
const ReportLatentScaling = "latent_scaling"

// Labels of the latent study's points, which the report reads.
const (
	// LabelQuantizer names a point's quantizer (its vq_type), the figure's series.
	LabelQuantizer = "quantizer"
	// LabelLatentDim is a point's latent dimension D (vqae_latent_dim).
	LabelLatentDim = "latent_dim"
)

// DefaultLatentBudgets are the bits per image at which [LatentScaling] asks for the best
// quantizer by default: within the study's range (294–980 bits per image).
var DefaultLatentBudgets = []float64{300, 500, 800}

func init() {
	sweep.RegisterReport(ReportLatentScaling, sweep.Report{
		Doc: "quantizer, latent dimension, bits per image, PSNR, utilisation and code perplexity per point; per quantizer the law " +
			"PSNR = c + a·bits^(−α) with 95% bootstrap intervals over the test images; the best quantizer at 300, 500 and 800 bits " +
			"per image with its bootstrap win shares; PSNR against bits per image (log axis) with the laws and their bands",
		Render: func(_ *sweep.Context, points []sweep.Point) (string, plots.Figure, error) {
			l, err := LatentScaling(points, LatentOptions{})
			if err != nil {
				return "", plots.Figure{}, err
			}
			return l.Table(), l.Figure(), nil
		},
	})
}

// LatentOptions are the settings of [LatentScaling]; zero values take the defaults.
type LatentOptions struct {
	// Replicates is the number of bootstrap replicates (default 1000); Seed seeds them.
	Replicates int
	Seed       uint64
	// Budgets are the bits per image at which the best quantizer is asked (default
	// DefaultLatentBudgets).
	Budgets []float64
	// Form is the laws' form (default laws.Auto: the ceiling c where it is identifiable, at 5
	// rates or more; laws.WithFloor forces it, which 3 points interpolate exactly).
	Form laws.Form
}

// LatentRow is a point of the latent study: a line of the table.
type LatentRow struct {
	// Name is the point's name (e.g. "simvq_k1024").
	Name                 string
	Quantizer, LatentDim string
	// Bits is the bits per image, PSNR in dB (peak 1), Utilization the share of codes in use,
	// CodePerplexity the effective number of codes in use.
	Bits, PSNR, Utilization, CodePerplexity float64
	// Series is the series the point belongs to (see [LatentScaling]).
	Series string
	// ImageMSE are the point's per-test-image mean squared errors (metrics.SampleImageMSE);
	// nil for a point evaluated before they were recorded.
	ImageMSE []float64
}

// Latents is the latent study's analysis (see [LatentScaling]).
type Latents struct {
	Rows []LatentRow
	// Fits are the series with points at 3 or more rates: first those whose every point has
	// per-image samples, bootstrapped; then the others, fitted without intervals
	// (laws.FitSeries: no Band, no Replicates). Nil when no series has 3 rates.
	Fits *laws.Result
	// Unfitted names the series with points at fewer than 3 rates.
	Unfitted []string
	// NoSamples names the points without per-image samples: their series' laws have no
	// intervals until they are evaluated again (go run ./eval --checkpoint DIR).
	NoSamples []string
	// Choices are the best series at each budget (laws.Optimal: bootstrapped series win
	// shares, series without intervals compete by their law alone).
	Choices []laws.Choice
}

// imagePSNR is the aggregate of a point's per-image squared errors: the PSNR (peak 1) of their
// mean, which is the point's mse since every image has the same number of pixels.
func imagePSNR(mse []float64) float64 { return metrics.PSNR(stat.Mean(mse, nil), 1) }

// LatentScaling analyses the latent study's points: one row per point; one series per
// quantizer, at the latent dimension most of its points have, and a series "quantizer (D=…)"
// for its points at another latent dimension (a quantizer whose points each have their own
// latent dimension, such as lfq, binary and qlae with D = d, is one series); for each series
// with points at 3 or more distinct bits per image, the law PSNR = c + a·bits^(−α) (laws.Fit,
// by default form Auto: with fewer than 5 points, as most of the study's quantizers have, or a
// ceiling that does not pay for its parameter, a pure power law PSNR = a·bits^β, β = −α > 0)
// with 95% percentile intervals over the test images: each replicate draws one vector of image
// indices shared by every point scored on the same images (the study's 10,000 test images),
// and a point's PSNR is 10·log10(1/mean MSE) of its drawn images. Points of a series at the
// same bits (QLAE's 8 dims × 4 values and 4 dims × 16 values, both 784 bits per image) are
// both fitted, and the bootstrap resamples between them as laws does with seeds. Then the best
// series at each budget, with the share of replicates each wins.
//
// A point without per-image samples (metrics.SampleImageMSE; evaluated before they were
// recorded) keeps its row; its series is fitted to the points' PSNR without bootstrap (a law,
// no intervals or band, no win share), and the table names the points to evaluate again.
//
// Errors: a point without the quantizer label, or with bits_per_image not positive or psnr not
// finite, each naming the point; per-image samples that are not finite and positive; the fits'
// errors.
func LatentScaling(points []sweep.Point, opts LatentOptions) (*Latents, error) {
	l := &Latents{}
	for _, p := range points {
		r := LatentRow{Name: p.Name, Quantizer: p.Labels[LabelQuantizer], LatentDim: p.Labels[LabelLatentDim],
			Bits: p.Metrics["bits_per_image"], PSNR: p.Metrics["psnr"],
			Utilization: p.Metrics["utilization"], CodePerplexity: p.Metrics["code_perplexity"],
			ImageMSE: p.Samples[metrics.SampleImageMSE]}
		if r.Quantizer == "" {
			return nil, fmt.Errorf("vqae: %s: point %s has no label %q", ReportLatentScaling, p.Name, LabelQuantizer)
		}
		if !(r.Bits > 0) || math.IsInf(r.Bits, 0) || math.IsNaN(r.PSNR) || math.IsInf(r.PSNR, 0) {
			return nil, fmt.Errorf("vqae: %s: point %s has bits_per_image %v and psnr %v", ReportLatentScaling, p.Name, r.Bits, r.PSNR)
		}
		for i, v := range r.ImageMSE {
			if !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("vqae: %s: point %s: sample %q of image %d is %v (want finite and positive)",
					ReportLatentScaling, p.Name, metrics.SampleImageMSE, i, v)
			}
		}
		if r.ImageMSE == nil {
			l.NoSamples = append(l.NoSamples, p.Name)
		}
		l.Rows = append(l.Rows, r)
	}
	order := nameSeries(l.Rows)

	var boot, plain []laws.Series
	for _, name := range order {
		s := laws.Series{Name: name}
		rates := map[float64]bool{}
		sampled := true
		for _, r := range l.Rows {
			if r.Series == name {
				s.Points = append(s.Points, laws.Point{X: r.Bits, Samples: r.ImageMSE})
				rates[r.Bits] = true
				sampled = sampled && r.ImageMSE != nil
			}
		}
		switch {
		case len(rates) < 3:
			l.Unfitted = append(l.Unfitted, name)
		case sampled:
			boot = append(boot, s)
		default:
			plain = append(plain, s)
		}
	}
	if len(boot)+len(plain) == 0 {
		return l, nil
	}
	grid := laws.MeasuredGrid(append(slices.Clone(boot), plain...), 50)
	l.Fits = &laws.Result{Grid: grid, Level: 0.95}
	if len(boot) > 0 {
		res, err := laws.Bootstrap(boot, laws.BootstrapOptions{Aggregate: imagePSNR, Replicates: opts.Replicates, Seed: opts.Seed, Grid: grid, Form: opts.Form})
		if err != nil {
			return nil, fmt.Errorf("vqae: %s: %w", ReportLatentScaling, err)
		}
		l.Fits = res
	}
	for _, s := range plain {
		var x, y []float64
		for _, r := range l.Rows {
			if r.Series == s.Name {
				x, y = append(x, r.Bits), append(y, r.PSNR)
			}
		}
		f, err := laws.FitSeries(s.Name, x, y, grid, opts.Form)
		if err != nil {
			return nil, fmt.Errorf("vqae: %s: %w", ReportLatentScaling, err)
		}
		l.Fits.Series = append(l.Fits.Series, f)
	}
	budgets := opts.Budgets
	if len(budgets) == 0 {
		budgets = DefaultLatentBudgets
	}
	var err error
	if l.Choices, err = laws.Optimal(l.Fits, budgets, true); err != nil {
		return nil, fmt.Errorf("vqae: %s: %w", ReportLatentScaling, err)
	}
	return l, nil
}

// nameSeries sets each row's Series: its quantizer, at the latent dimension most of the
// quantizer's points have; "quantizer (D=…)" for its points at another latent dimension (the
// study's second axis); a quantizer whose points each have their own latent dimension (lfq,
// binary, qlae: D = d) is one series. It returns the series in order of first appearance.
func nameSeries(rows []LatentRow) []string {
	mainDim := map[string]string{}
	counts := map[string]map[string]int{}
	for _, r := range rows {
		if counts[r.Quantizer] == nil {
			counts[r.Quantizer] = map[string]int{}
		}
		counts[r.Quantizer][r.LatentDim]++
		if c := counts[r.Quantizer][r.LatentDim]; c > counts[r.Quantizer][mainDim[r.Quantizer]] {
			mainDim[r.Quantizer] = r.LatentDim
		}
	}
	for q, c := range counts {
		if len(c) > 1 && c[mainDim[q]] == 1 {
			mainDim[q] = ""
		}
	}
	var order []string
	for i, r := range rows {
		name := r.Quantizer
		if mainDim[r.Quantizer] != "" && r.LatentDim != mainDim[r.Quantizer] {
			name = fmt.Sprintf("%s (D=%s)", r.Quantizer, r.LatentDim)
		}
		if !slices.Contains(order, name) {
			order = append(order, name)
		}
		rows[i].Series = name
	}
	return order
}

// Table renders the analysis as Markdown: the points, the laws with their intervals, the
// series not fitted and the points without samples, and the best quantizer at each budget.
func (l *Latents) Table() string {
	var b strings.Builder
	b.WriteString("| quantizer | latent dim | bits / image | PSNR (dB) | utilisation (%) | code perplexity |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, r := range l.Rows {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %.1f | %.1f |\n", r.Quantizer, r.LatentDim, r.Bits, r.PSNR,
			100*r.Utilization, r.CodePerplexity)
	}
	if len(l.NoSamples) > 0 {
		fmt.Fprintf(&b, "\nWithout per-image samples (evaluated before they were recorded; their series' laws have no intervals until "+
			"`go run ./eval --checkpoint DIR` evaluates them again): %s.\n", strings.Join(l.NoSamples, ", "))
	}
	if l.Fits == nil {
		b.WriteString("\nNo series has points at 3 rates: no law fitted.\n")
		return b.String()
	}
	intervals := "no intervals: no series has per-image samples"
	if l.Fits.Replicates > 0 {
		intervals = fmt.Sprintf("%.0f%% percentile intervals over %d bootstrap replicates of the test images", 100*l.Fits.Level, l.Fits.Replicates)
	}
	fmt.Fprintf(&b, "\nLaws PSNR (dB) = c + a·bits^(−α), bits per image (c = 0 where a ceiling is not identifiable: then α < 0), %s:\n\n", intervals)
	b.WriteString("| series | points | law | α | c | a | RMS (dB) |\n|---|---:|---|---|---|---|---:|\n")
	for _, f := range l.Fits.Series {
		interval := func(v float64, in laws.Interval, format string) string {
			if f.Replicates == nil {
				return fmt.Sprintf(format+" (no samples)", v)
			}
			return fmt.Sprintf(format+" ["+format+", "+format+"]", v, in.Lo, in.Hi)
		}
		c := "— (no ceiling)"
		if f.Law.Floor {
			c = interval(f.Law.C, f.C, "%.2f")
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %.3f |\n", f.Name, f.Law.N, f.Law, interval(f.Law.Alpha, f.Alpha, "%.3f"), c,
			interval(f.Law.A, f.A, "%.3g"), f.Law.RMS)
	}
	b.WriteString("\nThe intervals cover the sampling of the test images, not training seeds nor the law's misfit: an RMS wider than " +
		"an interval says the law, not the evaluation, limits what the fit says.\n")
	if len(l.Unfitted) > 0 {
		fmt.Fprintf(&b, "\nNot fitted (points at fewer than 3 rates): %s.\n", strings.Join(l.Unfitted, ", "))
	}
	b.WriteString("\nBest quantizer at a budget of bits per image (law at the budget; * extrapolated beyond the series' measured bits; " +
		"share: bootstrap replicates won):\n\n")
	b.WriteString("| budget (bits / image) | best | among measured | PSNR (dB) | win shares |\n|---:|---|---|---:|---|\n")
	for _, c := range l.Choices {
		fmt.Fprintf(&b, "| %.0f | %s | %s | %.2f | %s |\n", c.Budget, c.SeriesName(l.Fits, c.Best), c.SeriesName(l.Fits, c.BestInRange),
			c.Quality[c.Best], c.Shares(l.Fits))
	}
	return b.String()
}

// Figure draws PSNR against bits per image on a log₁₀ axis: per series its measured points
// and, where fitted, its law (dashed) with its 95% band (none without samples), in one colour
// and marker under one legend entry.
func (l *Latents) Figure() plots.Figure {
	measured := map[string]plotter.XYs{}
	var order []string
	for _, r := range l.Rows {
		if _, ok := measured[r.Series]; !ok {
			order = append(order, r.Series)
		}
		measured[r.Series] = append(measured[r.Series], plotter.XY{X: r.Bits, Y: r.PSNR})
	}
	fits := map[string]laws.SeriesFit{}
	if l.Fits != nil {
		for _, f := range l.Fits.Series {
			fits[f.Name] = f
		}
	}
	panel := plots.Panel{Title: "Fashion-MNIST test set: reconstruction against rate", XLabel: "bits per image",
		YLabel: "PSNR (dB)", LogX10: true}
	for _, s := range plots.SeriesInOrder(measured, order) {
		s.Style = plots.Markers
		panel.Series = append(panel.Series, s)
		if f, ok := fits[s.Name]; ok {
			if law, ok := plots.LawSeries(l.Fits.Grid, f, 1, false); ok {
				panel.Series = append(panel.Series, law)
			}
		}
	}
	return plots.Figure{Panels: []plots.Panel{panel}, Width: 8 * vg.Inch, Height: 5 * vg.Inch}
}
