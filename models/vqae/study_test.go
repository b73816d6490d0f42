package vqae_test

import (
	"strings"
	"testing"

	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/models/vqae"
)

// latentPoint is a finished point of the latent study with the given labels and metrics.
func latentPoint(name, quantizer, dim string, bits, psnr, utilization float64) sweep.Point {
	return sweep.Point{Name: name, Labels: map[string]string{vqae.LabelQuantizer: quantizer, vqae.LabelLatentDim: dim},
		Metrics: map[string]float64{"bits_per_image": bits, "psnr": psnr, "utilization": utilization, "code_perplexity": 100}}
}

// TestLatentScalingReport renders the report of a few points: a row per point in the study's
// order, one series per quantizer sorted by bits, a quantizer's points at a second latent
// dimension in a series of their own, and the quantizers whose every point has its own
// latent dimension (D = d) in one series.
func TestLatentScalingReport(t *testing.T) {
	points := []sweep.Point{
		latentPoint("simvq_k1024", "simvq", "16", 490, 20.05, 0.985),
		latentPoint("simvq_k256", "simvq", "16", 392, 19.1, 0.99),
		latentPoint("simvq_k1024_d8", "simvq", "8", 490, 19.5, 0.9),
		latentPoint("qlae_d5_v4", "qlae", "5", 490, 18.2, 1),
		latentPoint("qlae_d8_v4", "qlae", "8", 784, 19.9, 1),
	}
	st := &sweep.Study{Report: vqae.ReportLatentScaling}
	table, fig, err := st.Render(points, sweep.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"| simvq | 16 | 490 | 20.05 | 98.5 | 100.0 |", "| simvq | 8 | 490 | 19.50 | 90.0 |", "| qlae | 8 | 784 | 19.90 | 100.0 |"} {
		if !strings.Contains(table, row) {
			t.Errorf("table lacks the row %q:\n%s", row, table)
		}
	}
	if got := strings.Count(table, "| 16 |") + strings.Count(table, "| 8 |") + strings.Count(table, "| 5 |"); got != len(points) {
		t.Errorf("table has %d point rows, want %d:\n%s", got, len(points), table)
	}
	if !strings.Contains(table, "No series has points at 3 rates: no law fitted.") {
		t.Errorf("table should say no law is fitted:\n%s", table)
	}
	if len(fig.Panels) != 1 || !fig.Panels[0].LogX10 {
		t.Fatalf("figure %+v, want one panel with a log₁₀ x axis", fig)
	}
	var names []string
	for _, s := range fig.Panels[0].Series {
		names = append(names, s.Name)
		for i := 1; i < len(s.Points); i++ {
			if s.Points[i].X < s.Points[i-1].X {
				t.Errorf("series %s is not sorted by bits: %v", s.Name, s.Points)
			}
		}
	}
	if strings.Join(names, ",") != "simvq,simvq (D=8),qlae" {
		t.Errorf("series %v, want simvq, simvq (D=8), qlae", names)
	}
	if _, err := fig.PNG(); err != nil {
		t.Errorf("rendering the figure: %v", err)
	}

	points[1].Labels = nil
	if _, _, err := st.Render(points, sweep.Options{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "simvq_k256") {
		t.Errorf("a point without labels: error %v should name it", err)
	}
}
