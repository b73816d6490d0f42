package plots

import (
	"slices"
	"testing"

	"gonum.org/v1/plot"
)

func labels(ticks []plot.Tick) []string {
	var out []string
	for _, t := range ticks {
		if t.Label != "" {
			out = append(out, t.Label)
		}
	}
	return out
}

// TestLogTicksLabelled: every log axis gets at least three labels, decades when it spans
// two or more, 1-2-5 within fewer, linear steps within a decade's narrow slice (the KV-cache
// figure's y axis, perplexity ratios near 1, showed the single label "1").
func TestLogTicksLabelled(t *testing.T) {
	for _, c := range []struct {
		min, max float64
		want     []string // nil: only the count is checked
	}{
		{1.1, 1.9, nil},
		{0.99, 1.5, nil},
		{3, 40, []string{"5", "10", "20"}},
		{100, 1e6, []string{"100", "1000", "10000", "1e5", "1e6"}},
		{1.5, 150, []string{"2", "5", "10", "20", "50", "100"}},
		{0.02, 0.9, []string{"0.02", "0.05", "0.1", "0.2", "0.5"}},
		{3, 9, []string{"3", "4", "5", "6", "7", "8", "9"}},
		{1e-12, 1e12, nil},
	} {
		got := labels(log10Ticks{}.Ticks(c.min, c.max))
		if len(got) < minLabels || (c.want != nil && !slices.Equal(got, c.want)) {
			t.Errorf("log10 [%g, %g]: labels %q, want %q (at least %d)", c.min, c.max, got, c.want, minLabels)
		}
		if len(got) > 13 {
			t.Errorf("log10 [%g, %g]: %d labels crowd the axis", c.min, c.max, len(got))
		}
	}
	for _, c := range []struct {
		min, max float64
		want     []string
	}{
		{256, 1024, []string{"256", "512", "1024"}},
		{200, 700, []string{"256", "384", "512"}},
		{2, 3, nil},
		{0.1, 12, []string{"0.125", "0.25", "0.5", "1", "2", "4", "8"}},
		{1, 1 << 30, nil},
	} {
		got := labels(log2Ticks{}.Ticks(c.min, c.max))
		if len(got) < minLabels || (c.want != nil && !slices.Equal(got, c.want)) {
			t.Errorf("log2 [%g, %g]: labels %q, want %q (at least %d)", c.min, c.max, got, c.want, minLabels)
		}
		if len(got) > 13 {
			t.Errorf("log2 [%g, %g]: %d labels crowd the axis", c.min, c.max, len(got))
		}
	}
	for _, c := range [][2]float64{{0, 1}, {-3, 7}, {99, 101}, {1.1, 1.9}, {0, 1e6}} {
		got := labels(linearTicks{}.Ticks(c[0], c[1]))
		if len(got) < 4 || len(got) > 11 {
			t.Errorf("linear %v: labels %q, want 4 to 11", c, got)
		}
	}
}
