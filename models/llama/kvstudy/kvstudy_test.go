package kvstudy

import (
	"strings"
	"testing"

	"github.com/qzoo/qzoo/models/llama"
)

// TestRows: every method at 4, 3 and 2 bits, the ablation adding one KVQuant step per row
// and ending on the full method's own run, no two rows sharing a name otherwise.
func TestRows(t *testing.T) {
	rows := Rows()
	names := map[string]int{}
	for _, r := range rows {
		names[r.Name]++
	}
	for name, n := range names {
		if n > 1 && name != "kvquant_3" {
			t.Errorf("row name %q used %d times", name, n)
		}
	}
	abl := AblationRows(3)
	if len(abl) != len(ablationSteps) || abl[len(abl)-1].Name != "kvquant_3" || !strings.Contains(abl[len(abl)-1].Set, "kv_qnorm=true") {
		t.Errorf("ablation rows %+v", abl)
	}
	for i := 1; i < len(abl); i++ {
		if !strings.HasPrefix(abl[i].Set, abl[i-1].Set) {
			t.Errorf("ablation row %d does not extend row %d: %q", i, i-1, abl[i].Set)
		}
	}
}

// TestTableAndFigure: the table's deltas are against the fp32 row of each text, and a figure
// of one point (a degenerate log axis) renders.
func TestTableAndFigure(t *testing.T) {
	m := func(ppl, bpv float64) map[string]float64 {
		return map[string]float64{llama.MetricPerplexity: ppl, llama.MetricKVBitsPerValue: bpv, llama.MetricKVWindowTokens: 512}
	}
	results := []Result{
		{Row: Row{Name: "fp32", Family: "reference"}, Metrics: map[string]map[string]float64{TextOwnStories: m(4, 32), TextShakespeare: m(100, 32)}},
		{Row: Row{Name: "kivi_4", Family: "KIVI", Bits: 4}, Metrics: map[string]map[string]float64{TextOwnStories: m(4.04, 5.7), TextShakespeare: m(99, 5.7)},
			Hits: 9, Names: 12},
	}
	table := Table(results)
	for _, want := range []string{"| KIVI 4-bit | 4 | 5.70 |", "+1.00%", "-1.00%", "9/12"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	for _, rs := range [][]Result{results, results[:1]} {
		if _, err := Figure(rs).PNG(); err != nil {
			t.Errorf("figure of %d rows: %v", len(rs), err)
		}
	}
}
