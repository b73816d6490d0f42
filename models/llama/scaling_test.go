package llama

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/plots"
)

// scalingPoints is a synthetic weights study: five sizes (parameters) at fp32, int4 per row,
// int4 in blocks of 64 and int8 per row, plus nf4 at two sizes only; each point scores 32
// windows whose NLLs share a per-window difficulty, around a law of perplexity against the
// parameters (so that 4-bit, with 4.5 bits per parameter, wins at small budgets).
func scalingPoints() []sweep.Point {
	rng := rand.New(rand.NewPCG(1, 2))
	difficulty := make([]float64, 32)
	for i := range difficulty {
		difficulty[i] = 0.05 * rng.NormFloat64()
	}
	sizes := map[string]float64{"50k": 5e4, "120k": 1.2e5, "260k": 2.6e5, "600k": 6e5, "1.5M": 1.5e6}
	type prec struct {
		name, block   string
		bits, penalty float64 // bits per parameter, perplexity factor of the quantization error
	}
	var points []sweep.Point
	for _, size := range []string{"50k", "120k", "260k", "600k", "1.5M"} {
		params := sizes[size]
		for _, p := range []prec{{"fp32", "", 32, 1}, {"int4", "row", 4.1, 1.06}, {"int4", "64", 4.5, 1.03}, {"int8", "row", 8.1, 1.001}, {"nf4", "64", 4.5, 1.02}} {
			if p.name == "nf4" && params > 1.3e5 {
				continue
			}
			ppl := p.penalty * (4 + 3e3*math.Pow(params, -0.5))
			var windows []float64
			for _, d := range difficulty {
				windows = append(windows, math.Log(ppl)+d+0.01*rng.NormFloat64())
			}
			var mean float64
			for _, w := range windows {
				mean += w / float64(len(windows))
			}
			points = append(points, sweep.Point{Name: size + "/" + p.name + "/" + p.block,
				Labels:  map[string]string{LabelSize: size, LabelPrecision: p.name, LabelBlock: p.block},
				Metrics: map[string]float64{MetricPerplexity: math.Exp(mean), MetricNLL: mean, MetricModelBits: p.bits * params, MetricBitsPerParameter: p.bits},
				Samples: map[string][]float64{SampleWindowNLL: windows}})
		}
	}
	return points
}

func TestBitScalingReport(t *testing.T) {
	points := scalingPoints()
	s, err := BitScaling(points, ScalingOptions{Replicates: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	table := s.Table()
	if rows := strings.Count(table, "| 50k |") + strings.Count(table, "| 1.5M |"); rows != 5+4 {
		t.Errorf("%d rows of the smallest and largest sizes, want 5 + 4:\n%s", rows, table)
	}
	for _, want := range []string{"| 120k | int4 | 64 |", "| 50k | fp32 | — |", "| int4 (block 64) | 5 | y = ", "| fp32 | 5 |",
		"Not fitted (points at fewer than 3 sizes): nf4 (block 64).", "| budget (Mbit) |", "- at 0.205 Mbit: 4-bit is optimal; 4-bit series win 100% of the bootstrap replicates.", "| 12.3 | int4 (block 64)* | fp32 |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if len(s.Fits.Series) != 4 || len(s.Choices) != 5 || s.Bits[0] != 32 || s.Bits[1] != 4 {
		t.Errorf("%d fitted series (bits %v), %d budgets", len(s.Fits.Series), s.Bits, len(s.Choices))
	}
	// The smallest budget is below every series but the 4-bit ones: a 4-bit series wins in
	// (nearly) every replicate; at the largest, 8-bit is measured and wins.
	if c := s.Choices[0]; s.Bits[c.Best] != 4 || c.WinShare[1]+c.WinShare[2] < 0.9 {
		t.Errorf("smallest budget %g: best %s, shares %v", c.Budget, s.Fits.Series[c.Best].Name, c.WinShare)
	}
	png, err := s.Figure().PNG()
	if err != nil || len(png) < 1000 {
		t.Errorf("figure: %d bytes, %v", len(png), err)
	}
	// Over the panels (the fp32 reference is in every one): each series' points once, each
	// law with its band once.
	measuredNames, fittedNames := map[string]bool{}, map[string]bool{}
	for _, panel := range s.Figure().Panels {
		for _, ser := range panel.Series {
			if ser.Band != nil && len(ser.Points) >= 10 && len(ser.Band.Lower) == len(ser.Points) {
				fittedNames[ser.Name] = true
			} else if ser.Style == plots.Markers {
				measuredNames[ser.Name] = true
			}
		}
	}
	if len(measuredNames) != 5 || len(fittedNames) != 4 {
		t.Errorf("%d series, %d laws with bands; want 5 measured series and 4 laws", len(measuredNames), len(fittedNames))
	}
	if table2 := mustScaling(t, points).Table(); table2 != mustScaling(t, points).Table() {
		t.Error("two analyses of the same points differ")
	}

	points[3].Samples = nil
	if _, err := BitScaling(points, ScalingOptions{Replicates: 10}); err == nil || !strings.Contains(err.Error(), points[3].Name) {
		t.Errorf("a point without window samples: %v", err)
	}
	points[3].Samples = points[4].Samples
	points[3].Labels[LabelSeed] = "one"
	if _, err := BitScaling(points, ScalingOptions{Replicates: 10}); err == nil || !strings.Contains(err.Error(), `"seed"`) {
		t.Errorf("a seed that is not a number: %v", err)
	}
}

func mustScaling(t *testing.T, points []sweep.Point) *Scaling {
	t.Helper()
	s, err := BitScaling(points, ScalingOptions{Replicates: 20, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConfigPrecision names a grid point's precision and block from its run's ptq_* keys.
func TestConfigPrecision(t *testing.T) {
	for _, c := range []struct{ set, precision, block string }{
		{"ptq=none", "fp32", ""},
		{"ptq=rtn;ptq_bits=4;ptq_group_size=64", "int4", "64"},
		{"ptq=rtn;ptq_bits=3;ptq_symmetric=true;ptq_group_size=0", "int3 sym", "row"},
		{"ptq=float;ptq_bits=4;ptq_group_size=4096", "fp4 e2m1", "4096"},
		{"ptq=float;ptq_bits=8;ptq_exponent_bits=5;ptq_group_size=32", "fp8 e5m2", "32"},
		{"ptq=nf;ptq_bits=3;ptq_group_size=0", "nf3", "row"},
		{"ptq=nf4;ptq_group_size=0", "nf4 qlora", "64"},
	} {
		cfg := framework.DefaultConfig()
		cfg.Model, cfg.Dataset = "llama", "text"
		if err := cfg.Set(c.set); err != nil {
			t.Fatalf("%s: %v", c.set, err)
		}
		if err := cfg.Resolve(); err != nil {
			t.Fatalf("%s: %v", c.set, err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, framework.ConfigFile), cfg.JSON(), 0o644); err != nil {
			t.Fatal(err)
		}
		precision, block, err := configPrecision(dir)
		if err != nil || precision != c.precision || block != c.block {
			t.Errorf("%s: %q, %q (%v); want %q, %q", c.set, precision, block, err, c.precision, c.block)
		}
	}
	if _, _, err := configPrecision(t.TempDir()); err == nil {
		t.Error("a directory without a config was accepted")
	}
}
