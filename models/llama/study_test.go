package llama

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/plots"
)

// TestKVReport: a row gathers its points of both texts, the table's deltas are against the fp32
// row of each text, KVQuant's full method shows as a row and as the last ablation step, and a
// figure of one point (a degenerate log axis) renders.
func TestKVReport(t *testing.T) {
	m := func(ppl, bpv float64) map[string]float64 {
		return map[string]float64{MetricPerplexity: ppl, MetricKVBitsPerValue: bpv, MetricKVWindowTokens: 512}
	}
	point := func(name, text string, metrics map[string]float64, labels map[string]string) sweep.Point {
		l := map[string]string{"text": text}
		for k, v := range labels {
			l[k] = v
		}
		return sweep.Point{Name: name, Variant: text, Labels: l, Metrics: metrics}
	}
	ref := map[string]string{"family": "reference"}
	kivi := map[string]string{"family": "KIVI", "bits": "4"}
	kvq := map[string]string{"family": "KVQuant", "bits": "3"}
	abl := map[string]string{"family": "+ Q-Norm (= KVQuant)", "bits": "3", "ablation": "true"}
	retrieved := m(99, 5.7)
	retrieved[MetricRetrievalHits], retrieved[MetricRetrievalNames] = 9, 12
	points := []sweep.Point{
		point("fp32", TextOwnStories, m(4, 32), ref), point("kivi_4", TextOwnStories, m(4.04, 5.7), kivi),
		point("kvquant_3", TextOwnStories, m(4.1, 3.3), kvq), point("kvquant_3", TextOwnStories, m(4.1, 3.3), abl),
		point("fp32", TextShakespeare, m(100, 32), ref), point("kivi_4", TextShakespeare, retrieved, kivi),
		point("kvquant_3", TextShakespeare, m(101, 3.3), kvq), point("kvquant_3", TextShakespeare, m(101, 3.3), abl),
	}
	table, fig, err := kvReport(nil, points)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| KIVI 4-bit | 4 | 5.70 |", "+1.00%", "-1.00%", "9/12", "| KVQuant 3-bit | 3 | 3.30 |",
		"| KVQuant 3-bit ablation: + Q-Norm (= KVQuant) | 3 |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if n := strings.Count(table, "\n"); n != 2+4 {
		t.Errorf("table of %d lines, want 2 + 4 rows:\n%s", n, table)
	}
	if _, err := fig.PNG(); err != nil {
		t.Errorf("figure: %v", err)
	}
	if _, fig, err = kvReport(nil, points[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := fig.PNG(); err != nil {
		t.Errorf("figure of one point: %v", err)
	}
}

// TestLLMReport: rows are grouped by held-out text (Shakespeare first, the study's order
// within), a PTQ point is named by its sweep and coordinates and joins its quantizer's family.
func TestLLMReport(t *testing.T) {
	m := func(ppl, bits float64) map[string]float64 {
		return map[string]float64{MetricPerplexity: ppl, MetricModelBits: bits}
	}
	coords := sweep.Coords{{Key: "ptq_group_size", Value: "32"}, {Key: "ptq_bits", Value: "4"}, {Key: "ptq_hadamard", Value: "true"}}
	points := []sweep.Point{
		{Name: "base", Labels: map[string]string{"text": TextShakespeare, "family": "base (TinyStories)"}, Metrics: m(174.6, 8.3e6)},
		{Name: "base", Labels: map[string]string{"text": TextOwnStories, "family": "base (TinyStories)"}, Metrics: m(4.7, 8.3e6)},
		{Name: coords.String(), Part: "ptq_rtn_sweep", Coords: coords, Labels: map[string]string{"text": TextShakespeare}, Metrics: m(13.6, 2.1e6)},
	}
	rows := llmRows(points)
	if len(rows) != 3 || rows[1].name != "ptq_rtn_sweep ptq_group_size=32;ptq_bits=4;ptq_hadamard=true" ||
		rows[1].family != "PTQ rtn g32 + Hadamard" || rows[2].text != TextOwnStories {
		t.Errorf("rows %+v", rows)
	}
	table, fig, err := llmReport(nil, points)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "| shakespeare | ptq_rtn_sweep ptq_group_size=32;ptq_bits=4;ptq_hadamard=true | 13.60 |") {
		t.Errorf("table:\n%s", table)
	}
	if len(fig.Panels) != 2 {
		t.Errorf("%d panels, want one per text", len(fig.Panels))
	}
}

// TestDistillReport: points are ordered by size, bits and method, each compared with QAT alone
// at its size and bits; a point without the study's labels is refused, naming it.
func TestDistillReport(t *testing.T) {
	point := func(name, size, method, bits string, ppl, mbit float64) sweep.Point {
		return sweep.Point{Name: name, Part: method, Labels: map[string]string{LabelSize: size, LabelMethod: method, LabelBits: bits},
			Metrics: map[string]float64{MetricPerplexity: ppl, MetricModelBits: mbit * 1e6}}
	}
	points := []sweep.Point{
		point("fp", "260K", MethodFP32, "32", 12.5, 8.32),
		point("rtn_3", "260K", MethodPTQ, "3", 30, 1.8), point("rtn_2", "260K", MethodPTQ, "2", 900, 1.6),
		point("qat_3", "260K", MethodQAT, "3", 16, 1.8), point("qat_2", "260K", MethodQAT, "2", 25, 1.6),
		point("kl_3", "260K", MethodQATKL, "3", 15.2, 1.8), point("topk_3", "260K", MethodQATTopKKL, "3", 15.6, 1.8),
	}
	rows, err := DistillPoints(points)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Method+"@"+strconv.Itoa(r.Bits))
	}
	if want := "ptq@2 qat@2 ptq@3 qat@3 qat+kl@3 qat+topk_kl@3 fp32@32"; strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
	table, fig, err := distillReport(nil, points)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 260K | 3 | qat+kl | 15.20 | -5.0% | 1.800 |", "| 260K | 3 | qat | 16.00 | — |", "| 260K | 2 | ptq | 900.00 | +3500.0% |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if s := fig.Panels[0].Series; len(s) != 5 || s[0].Name != MethodFP32 || s[4].Name != MethodQATTopKKL || s[1].Name != MethodPTQ || len(s[1].Points) != 2 {
		t.Errorf("series %+v, want one per method in the report's order", s)
	}
	if _, err := fig.PNG(); err != nil {
		t.Errorf("figure: %v", err)
	}
	if !strings.Contains(table, "No laws fitted: point fp32/fp has no window samples") {
		t.Errorf("table without samples says nothing of the laws:\n%s", table)
	}
	bad := point("x", "260K", "qat+mse", "3", 1, 1)
	if _, err := DistillPoints([]sweep.Point{bad}); err == nil || !strings.Contains(err.Error(), "point qat+mse/x") {
		t.Errorf("a point of an unknown method: %v", err)
	}
}

// TestDistillReportLaws: with window samples at three sizes, each (method, bits) series gets its
// law, drawn in its method's colour (a Fitted series named by the method).
func TestDistillReportLaws(t *testing.T) {
	var points []sweep.Point
	for i, size := range []string{"57k", "108k", "215k"} {
		mbit := 0.3 * math.Pow(2, float64(i))
		for _, m := range []struct {
			method string
			floor  float64
		}{{MethodQAT, 20}, {MethodQATKL, 19}} {
			ppl := m.floor + 30*math.Pow(mbit, -0.7)
			windows := make([]float64, 8)
			for w := range windows {
				windows[w] = math.Log(ppl) + 0.01*float64(w%2*2-1) // mean exactly log(ppl)
			}
			points = append(points, sweep.Point{Name: m.method + size, Part: m.method, Labels: map[string]string{LabelSize: size, LabelMethod: m.method, LabelBits: "3"},
				Metrics: map[string]float64{MetricPerplexity: ppl, MetricModelBits: mbit * 1e6}, Samples: map[string][]float64{SampleWindowNLL: windows}})
		}
	}
	table, fig, err := distillReport(nil, points)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| qat 3-bit | 3 |", "| qat+kl 3-bit | 3 |", "| budget (Mbit) |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	laws := 0
	for _, s := range fig.Panels[0].Series {
		if s.Style == plots.Fitted {
			laws++
			if s.Name != MethodQAT && s.Name != MethodQATKL {
				t.Errorf("law series named %q, want its method's name", s.Name)
			}
		}
	}
	if laws != 2 {
		t.Errorf("%d laws drawn, want 2", laws)
	}
	if _, err := fig.PNG(); err != nil {
		t.Errorf("figure: %v", err)
	}
}
