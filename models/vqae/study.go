package vqae

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/plots"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ReportLatentScaling is the latent study's report (configs/latents/study.json): quality
// against bits per image for every quantizer of layers/vq on the autoencoder. Its table has a
// row per point (quantizer, latent dimension, bits per image, PSNR, utilisation, code
// perplexity), its figure PSNR against bits per image on a log axis, one series per quantizer
// ([latentSeries]). It draws the measured points only, no fitted law: a law per quantizer
// (PSNR = c + a·x^(−α) with bootstrap bands over test images, issue 16 item 4) is to be fitted
// to latentSeries' series, the points of one quantizer sorted by bits.
const ReportLatentScaling = "latent_scaling"

// Labels of the latent study's points, which the report reads.
const (
	// LabelQuantizer names a point's quantizer (its vq_type), the figure's series.
	LabelQuantizer = "quantizer"
	// LabelLatentDim is a point's latent dimension D (vqae_latent_dim).
	LabelLatentDim = "latent_dim"
)

func init() {
	sweep.RegisterReport(ReportLatentScaling, sweep.Report{
		Doc:    "quantizer, latent dimension, bits per image, PSNR, utilisation and code perplexity per point; PSNR against bits per image (log axis), one series per quantizer",
		Render: latentScalingReport,
	})
}

// latentRow is one point of the latent study.
type latentRow struct {
	quantizer, latentDim                    string
	bits, psnr, utilization, codePerplexity float64
}

// latentRows reads the study's points in their order; a point without its quantizer label,
// bits per image or PSNR is an error naming it.
func latentRows(points []sweep.Point) ([]latentRow, error) {
	rows := make([]latentRow, 0, len(points))
	for _, p := range points {
		r := latentRow{quantizer: p.Labels[LabelQuantizer], latentDim: p.Labels[LabelLatentDim],
			bits: p.Metrics["bits_per_image"], psnr: p.Metrics["psnr"],
			utilization: p.Metrics["utilization"], codePerplexity: p.Metrics["code_perplexity"]}
		if r.quantizer == "" {
			return nil, fmt.Errorf("vqae: %s: point %s has no label %q", ReportLatentScaling, p.Name, LabelQuantizer)
		}
		if !(r.bits > 0) || math.IsNaN(r.psnr) {
			return nil, fmt.Errorf("vqae: %s: point %s has bits_per_image %v and psnr %v", ReportLatentScaling, p.Name, r.bits, r.psnr)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// latentScalingReport renders the table, one row per point, and the figure.
func latentScalingReport(_ *sweep.Context, points []sweep.Point) (string, plots.Figure, error) {
	rows, err := latentRows(points)
	if err != nil {
		return "", plots.Figure{}, err
	}
	var b strings.Builder
	b.WriteString("| quantizer | latent dim | bits / image | PSNR (dB) | utilisation (%) | code perplexity |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %.1f | %.1f |\n", r.quantizer, r.latentDim, r.bits, r.psnr,
			100*r.utilization, r.codePerplexity)
	}
	panel := plots.Panel{Title: "Fashion-MNIST test set: reconstruction against rate", XLabel: "bits per image",
		YLabel: "PSNR (dB)", LogX: true}
	series, order := latentSeries(rows)
	panel.Series = plots.SeriesInOrder(series, order)
	return b.String(), plots.Figure{Panels: []plots.Panel{panel}, Width: 7 * vg.Inch, Height: 5 * vg.Inch}, nil
}

// latentSeries groups the rows into the figure's series, each sorted by bits: one per
// quantizer, at the latent dimension most of its points have; the points of a quantizer at
// another latent dimension (the study's second axis) form the series "quantizer (D=…)".
// order is the order of first appearance.
func latentSeries(rows []latentRow) (series map[string]plotter.XYs, order []string) {
	mainDim := map[string]string{}
	counts := map[string]map[string]int{}
	for _, r := range rows {
		if counts[r.quantizer] == nil {
			counts[r.quantizer] = map[string]int{}
		}
		counts[r.quantizer][r.latentDim]++
		if c := counts[r.quantizer][r.latentDim]; c > counts[r.quantizer][mainDim[r.quantizer]] {
			mainDim[r.quantizer] = r.latentDim
		}
	}
	// A quantizer whose points each have their own latent dimension (lfq, binary, qlae: D = d)
	// is one series.
	for q, c := range counts {
		if len(c) > 1 && counts[q][mainDim[q]] == 1 {
			mainDim[q] = ""
		}
	}
	series = map[string]plotter.XYs{}
	for _, r := range rows {
		name := r.quantizer
		if mainDim[r.quantizer] != "" && r.latentDim != mainDim[r.quantizer] {
			name = fmt.Sprintf("%s (D=%s)", r.quantizer, r.latentDim)
		}
		if _, ok := series[name]; !ok {
			order = append(order, name)
		}
		series[name] = append(series[name], plotter.XY{X: r.bits, Y: r.psnr})
	}
	for _, s := range series {
		slices.SortFunc(s, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	}
	return series, order
}
