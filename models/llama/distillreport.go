package llama

// The report of the distillation study (configs/distill/study.json): does quantized
// distillation move the bit-level curves at 2–4 bits? Every point carries the labels "size"
// (the full-precision model it starts from), "method" (fp32 for that model itself, fp32+train
// for it trained as many more steps as QAT on the same data, ptq, qat, qat+kl, qat+topk_kl) and
// "bits" (of the weights' codes; 32 unquantized). The control fp32+train separates what QAT
// gains by training longer from what it loses by quantizing: a teacher trained less than its
// students is a weaker target than their own extra training.

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/laws"
	"github.com/qzoo/qzoo/plots"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// LabelMethod is the label of a distillation-study point naming its method (one of
// [DistillMethods]); its other labels are [LabelSize] and [LabelBits] (the codes' bits).
const LabelMethod = "method"

// The methods of the distillation study (label "method"), in the report's order.
const (
	MethodFP32      = "fp32"        // the full-precision model: the teacher, and where every other point starts
	MethodFP32Train = "fp32+train"  // the control: the full-precision model trained as long as QAT, not quantized
	MethodPTQ       = "ptq"         // round-to-nearest post-training quantization of it
	MethodQAT       = "qat"         // LSQ quantization-aware training on the labels alone
	MethodQATKL     = "qat+kl"      // the same, qat_distill=kl
	MethodQATTopKKL = "qat+topk_kl" // the same, qat_distill=topk_kl
)

// DistillMethods are the methods in the report's order.
var DistillMethods = []string{MethodFP32, MethodFP32Train, MethodPTQ, MethodQAT, MethodQATKL, MethodQATTopKKL}

func init() {
	sweep.RegisterReport("distill_scaling", sweep.Report{
		Doc:    "held-out perplexity and total model bits per size, method (fp32, fp32+train, ptq, qat, qat+kl, qat+topk_kl) and bits, with the change against QAT alone; perplexity against total model bits, one series per method",
		Render: distillReport,
	})
}

// DistillPoint is a point of the distillation study: the labels read, and the held-out
// perplexity at the total model bits (model_bits, every scale counted; the teacher never).
type DistillPoint struct {
	Size, Method string
	Bits         int
	Perplexity   float64
	ModelBits    float64
}

// DistillPoints reads the distillation study's points in the report's order (size as they
// come, then bits, then method): the per-method curves a fit of quality against total model
// bits takes. A point without the labels size, method (one of [DistillMethods]) and bits is
// an error naming it.
func DistillPoints(points []sweep.Point) ([]DistillPoint, error) {
	var out []DistillPoint
	var sizes []string
	for _, p := range points {
		size, method, bits := p.Labels[LabelSize], p.Labels[LabelMethod], p.Labels[LabelBits]
		if size == "" || !slices.Contains(DistillMethods, method) {
			return nil, fmt.Errorf("llama: distill_scaling: point %s/%s: labels %q=%q and %q=%q, want a size and one of %s",
				p.Part, p.Name, LabelSize, size, LabelMethod, method, strings.Join(DistillMethods, ", "))
		}
		b, err := strconv.Atoi(bits)
		if err != nil {
			return nil, fmt.Errorf("llama: distill_scaling: point %s/%s: label %q=%q: %w", p.Part, p.Name, LabelBits, bits, err)
		}
		if !slices.Contains(sizes, size) {
			sizes = append(sizes, size)
		}
		out = append(out, DistillPoint{Size: size, Method: method, Bits: b, Perplexity: p.Metrics[MetricPerplexity], ModelBits: p.Metrics[MetricModelBits]})
	}
	slices.SortStableFunc(out, func(a, b DistillPoint) int {
		return cmp.Or(cmp.Compare(slices.Index(sizes, a.Size), slices.Index(sizes, b.Size)), cmp.Compare(a.Bits, b.Bits),
			cmp.Compare(slices.Index(DistillMethods, a.Method), slices.Index(DistillMethods, b.Method)))
	})
	return out, nil
}

// distillSeries names the law series of a method at bits: "qat+kl 3-bit", "fp32".
func distillSeries(method string, bits int) string {
	if method == MethodFP32 {
		return MethodFP32
	}
	return fmt.Sprintf("%s %d-bit", method, bits)
}

// distillLaws fits the law of held-out perplexity against total model bits of every (method,
// bits) series across the sizes, with its bootstrap intervals over the held-out windows, and the
// optimal series at fixed budgets ([BitScaling], whose precision is here the method at its
// bits); with the series' methods by name. Without the window samples of every point (runs
// evaluated before they were recorded) it fits nothing and says why.
func distillLaws(points []sweep.Point) (s *Scaling, methods map[string]string, why string, err error) {
	methods = map[string]string{}
	relabelled := make([]sweep.Point, 0, len(points))
	for _, p := range points {
		if len(p.Samples[SampleWindowNLL]) == 0 {
			return nil, nil, fmt.Sprintf("point %s/%s has no window samples %q (evaluate it again: go run ./eval --checkpoint DIR)", p.Part, p.Name, SampleWindowNLL), nil
		}
		bits, err := strconv.Atoi(p.Labels[LabelBits])
		if err != nil {
			return nil, nil, "", fmt.Errorf("llama: distill_scaling: point %s/%s: label %q: %w", p.Part, p.Name, LabelBits, err)
		}
		name := distillSeries(p.Labels[LabelMethod], bits)
		methods[name] = p.Labels[LabelMethod]
		q := p
		q.Labels = map[string]string{LabelSize: p.Labels[LabelSize], LabelPrecision: name, LabelBits: p.Labels[LabelBits]}
		relabelled = append(relabelled, q)
	}
	// Three sizes per series: a law of three parameters through three points says nothing, so the
	// pure power law (two) is fitted.
	if s, err = BitScaling(relabelled, ScalingOptions{Form: laws.PowerOnly}); err != nil {
		return nil, nil, "", fmt.Errorf("llama: distill_scaling: %w", err)
	}
	return s, methods, "", nil
}

// distillReport renders the distillation study: per size, bits and method the held-out
// perplexity, the total model bits and the change against QAT without distillation at the same
// size and bits; the law of each (method, bits) series across the sizes with its intervals and
// the optimal series at fixed budgets (distillLaws); and held-out perplexity against total
// model bits (log scales), one colour and marker per method, each law dashed with its band in
// its method's colour, in the manner of the bit-level scaling plots of Dettmers & Zettlemoyer
// 2023 and of Ding et al. 2025's comparison of distillation losses.
func distillReport(_ *sweep.Context, points []sweep.Point) (string, plots.Figure, error) {
	rows, err := DistillPoints(points)
	if err != nil {
		return "", plots.Figure{}, err
	}
	qat := map[string]float64{}
	for _, r := range rows {
		if r.Method == MethodQAT {
			qat[fmt.Sprint(r.Size, "/", r.Bits)] = r.Perplexity
		}
	}
	var b strings.Builder
	b.WriteString("| size | bits | method | held-out perplexity | vs qat | model bits (Mbit) |\n|---|---:|---|---:|---:|---:|\n")
	for _, r := range rows {
		vs := "—"
		if ref, ok := qat[fmt.Sprint(r.Size, "/", r.Bits)]; ok && r.Method != MethodQAT {
			vs = fmt.Sprintf("%+.1f%%", 100*(r.Perplexity/ref-1))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.2f | %s | %.3f |\n", r.Size, r.Bits, r.Method, r.Perplexity, vs, r.ModelBits/1e6)
	}
	fits, methods, why, err := distillLaws(points)
	if err != nil {
		return "", plots.Figure{}, err
	}
	if fits == nil {
		fmt.Fprintf(&b, "\nNo laws fitted: %s.\n", why)
	} else {
		b.WriteString(fits.LawsTable())
	}
	series := map[string]plotter.XYs{}
	var order []string
	for _, method := range DistillMethods {
		for _, r := range rows {
			if r.Method != method || !(r.Perplexity > 0) || math.IsInf(r.Perplexity, 0) || !(r.ModelBits > 0) {
				continue
			}
			if _, ok := series[method]; !ok {
				order = append(order, method)
			}
			series[method] = append(series[method], plotter.XY{X: r.ModelBits / 1e6, Y: r.Perplexity})
		}
	}
	// Markers: a method's points span sizes and bit widths, which one line would join in no
	// meaningful order; its laws (one per bit width, across the sizes) join them instead.
	curves := plots.SeriesInOrder(series, order)
	for i := range curves {
		curves[i].Style = plots.Markers
	}
	if fits != nil && fits.Fits != nil {
		for _, f := range fits.Fits.Series {
			if law, ok := plots.LawSeries(fits.Fits.Grid, f, 1e6, true); ok {
				law.Name = methods[f.Name] // the method's colour and legend entry
				curves = append(curves, law)
			}
		}
	}
	fig := plots.Figure{Panels: []plots.Panel{{Title: "Quantized distillation: held-out perplexity against model bits",
		XLabel: "total model bits (Mbit)", YLabel: "held-out perplexity", LogX10: true, LogY: true,
		Series: curves}}, Width: 7 * vg.Inch, Height: 5 * vg.Inch}
	return b.String(), fig, nil
}
