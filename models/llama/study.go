package llama

// The Llama studies' parts of the sweep machinery (package framework/sweep): the texts the base
// model samples to be scored on, the retrieval check of a quantized cache, and the reports of
// the quantization study (configs/llm/study.json) and the key/value-cache study
// (configs/kv/study.json).

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/internal/atomicfile"
	"github.com/qzoo/qzoo/plots"
	"github.com/qzoo/qzoo/quant"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Metrics of the retrieval hook ("kv_retrieval").
const (
	MetricRetrievalHits         = "retrieval_hits"          // names repeated correctly
	MetricRetrievalNames        = "retrieval_names"         // names asked (len(RetrievalNames))
	MetricRetrievalPromptTokens = "retrieval_prompt_tokens" // the longest prompt, in tokens
)

// Text labels of the studies' held-out texts (the label "text" of a point).
const (
	TextShakespeare = "shakespeare"
	TextOwnStories  = "own stories"
)

func init() {
	sweep.RegisterPreparation("llama_own_stories", textPreparation(
		"stories260K's own stories: samples stories from BOS at temperature 1, no top-p, seed 1, one per line (SampleStories)",
		"samples", 200, func(dataDir string, backend compute.Backend, n int) (string, error) {
			return SampleStories(dataDir, backend, n, 1)
		}))
	sweep.RegisterPreparation("llama_own_windows", textPreparation(
		"stories260K's own stories: windows of its context sampled from BOS at temperature 1 (seed 1, SampleWindows), cut into stories at BOS, one per line",
		"windows", 64, sampleWindowStories))
	sweep.RegisterPointHook("kv_retrieval", sweep.PointHook{
		Doc: "the retrieval check (Retrieval) with the run's cache quantizer, constants from its checkpoint, in a cache of the model's full context: " +
			MetricRetrievalHits + " of " + MetricRetrievalNames + ", " + MetricRetrievalPromptTokens,
		Args: map[string]any{"sentences": 10},
		Run:  retrievalHook,
	})
	sweep.RegisterReport("llm_quantization", sweep.Report{
		Doc:    "held-out perplexity, trainable parameters and total model bits per row; perplexity against total model bits per held-out text",
		Render: llmReport,
	})
	sweep.RegisterReport("kv_cache", sweep.Report{
		Doc:    "bits per cached value, perplexity and its change against the fp32 cache on each text, retrieval; perplexity relative to fp32 against bits per cached value",
		Render: kvReport,
	})
}

// textPreparation is a preparation writing the text sample returns for the argument key
// (default def) to its file, atomically; a fixed-seed sample of stories260K, so it is cached
// (sweep.Preparation.Cached).
func textPreparation(doc, key string, def int, sample func(dataDir string, backend compute.Backend, n int) (string, error)) sweep.Preparation {
	return sweep.Preparation{Doc: doc, Ext: ".txt", Args: map[string]any{key: def}, Cached: true,
		Run: func(ctx *sweep.Context, args map[string]any, path string) error {
			backend, err := ctx.Backend()
			if err != nil {
				return err
			}
			text, err := sample(ctx.DataDir, backend, args[key].(int))
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(path, []byte(text)); err != nil {
				return fmt.Errorf("llama: write %s: %w", path, err)
			}
			return nil
		}}
}

// sampleWindowStories samples n windows of stories260K's context (SampleWindows, seed 1) and
// returns them cut into stories at BOS, one per line.
func sampleWindowStories(dataDir string, backend compute.Backend, n int) (string, error) {
	m, tok, err := openStories260K(dataDir)
	if err != nil {
		return "", err
	}
	windows, err := SampleWindows(backend, m.Store, n, m.Config.Params[ParamSeqLen].(int), 1)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, win := range windows {
		var story []int
		for i, t := range win {
			if t == llama2c.BOS && i > 0 {
				if len(story) > 1 {
					text, err := tok.Decode(story)
					if err != nil {
						return "", err
					}
					b.WriteString(strings.ReplaceAll(text, "\n", " "))
					b.WriteByte('\n')
				}
				story = story[:0]
			}
			story = append(story, int(t))
		}
	}
	return b.String(), nil
}

// retrievalHook runs the retrieval check on a finished run.
func retrievalHook(ctx *sweep.Context, args map[string]any) (map[string]float64, error) {
	backend, err := ctx.Backend()
	if err != nil {
		return nil, err
	}
	m, err := Open(ctx.Dir)
	if err != nil {
		return nil, err
	}
	q, err := LoadKV(m.Store, m.Config.Params, ctx.Dir)
	if err != nil {
		return nil, err
	}
	tok, err := m.LoadTokenizer(ctx.DataDir)
	if err != nil {
		return nil, err
	}
	s, err := NewKVStepper(backend, m.Store, q, 1, m.Config.Params[ParamSeqLen].(int))
	if err != nil {
		return nil, err
	}
	defer s.Finalize()
	hits, promptTokens, err := Retrieval(s.Decoder(), tok, RetrievalNames, args["sentences"].(int))
	if err != nil {
		return nil, err
	}
	return map[string]float64{MetricRetrievalHits: float64(hits), MetricRetrievalNames: float64(len(RetrievalNames)),
		MetricRetrievalPromptTokens: float64(promptTokens)}, nil
}

// textOrder sorts points by their held-out text, Shakespeare first, keeping the study's order
// within a text.
func textOrder(points []sweep.Point) []sweep.Point {
	rank := func(p sweep.Point) int {
		if p.Labels["text"] == TextOwnStories {
			return 1
		}
		return 0
	}
	out := slices.Clone(points)
	slices.SortStableFunc(out, func(a, b sweep.Point) int { return cmp.Compare(rank(a), rank(b)) })
	return out
}

// llmRow is a line of the quantization study's table.
type llmRow struct {
	name, family, text string
	metrics            map[string]float64
}

// llmRows names the study's points: a trained row by its config, a PTQ point by its sweep and
// coordinates, in the family of its quantizer.
func llmRows(points []sweep.Point) []llmRow {
	var rows []llmRow
	for _, p := range textOrder(points) {
		r := llmRow{name: p.Name, family: p.Labels["family"], text: p.Labels["text"], metrics: p.Metrics}
		if p.Coords != nil {
			r.name = p.Part + " " + p.Coords.String()
			fam := strings.TrimSuffix(strings.TrimPrefix(p.Part, "ptq_"), "_sweep")
			if p.Coords.Value(quant.ParamPTQGroupSize) == "32" {
				fam += " g32"
			}
			if p.Coords.Value(quant.ParamPTQDoubleQuant) == "true" {
				fam += " dq"
			}
			if p.Coords.Value(quant.ParamPTQHadamard) == "true" {
				fam += " + Hadamard"
			}
			r.family = "PTQ " + fam
		}
		rows = append(rows, r)
	}
	return rows
}

// llmReport renders the quantization study: held-out perplexity, trainable parameters, total
// model bits and bits per parameter per row; and held-out perplexity against total model bits
// (log scales), one series per family, one panel per held-out text, in the manner of Dettmers &
// Zettlemoyer 2023 ("The case for 4-bit precision").
func llmReport(_ *sweep.Context, points []sweep.Point) (string, plots.Figure, error) {
	rows := llmRows(points)
	var b strings.Builder
	b.WriteString("| held-out text | row | perplexity | trainable params | model bits | bits / param | linear bits / weight |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		m := r.metrics
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.0f | %.0f | %.2f | %.2f |\n", r.text, r.name,
			m[MetricPerplexity], m[MetricTrainableParams], m[MetricModelBits],
			m[MetricBitsPerParameter], m[MetricLinearBitsPerWeight])
	}
	var fig plots.Figure
	var texts []string
	for _, r := range rows {
		if !slices.Contains(texts, r.text) {
			texts = append(texts, r.text)
		}
	}
	for _, text := range texts {
		series := map[string]plotter.XYs{}
		var order []string
		for _, r := range rows {
			ppl, bits := r.metrics[MetricPerplexity], r.metrics[MetricModelBits]
			if r.text != text || !(ppl > 0) || math.IsInf(ppl, 0) || !(bits > 0) {
				continue
			}
			if _, ok := series[r.family]; !ok {
				order = append(order, r.family)
			}
			series[r.family] = append(series[r.family], plotter.XY{X: bits / 1e6, Y: ppl})
		}
		panel := plots.Panel{Title: "Held-out perplexity on " + text, XLabel: "total model bits (Mbit)", YLabel: "perplexity",
			LogX: true, LogY: true}
		panel.Series = plots.SeriesInOrder(series, order)
		fig.Panels = append(fig.Panels, panel)
	}
	fig.Width, fig.Height = vg.Length(len(fig.Panels))*6.5*vg.Inch, 5*vg.Inch
	return b.String(), fig, nil
}

// kvTexts are the key/value-cache study's held-out texts, in the table's order.
var kvTexts = []string{TextOwnStories, TextShakespeare}

// kvRow is a line of the key/value-cache study: a point of every text.
type kvRow struct {
	name, family string
	bits         int  // nominal bits per key and value (0: fp32, fp16)
	ablation     bool // a step of KVQuant's ablation
	metrics      map[string]map[string]float64
}

// label names a row in the table.
func (r kvRow) label() string {
	switch {
	case r.ablation:
		return fmt.Sprintf("KVQuant %d-bit ablation: %s", r.bits, r.family)
	case r.bits > 0:
		return fmt.Sprintf("%s %d-bit", r.family, r.bits)
	}
	return r.name
}

// kvRows gathers each row's points (one per text, the variant's label "text"), in the order
// rows first appear; a row is a point's name and family (KVQuant's full method is a row of
// its own and the last step of the ablation, with one run).
func kvRows(points []sweep.Point) ([]kvRow, error) {
	var rows []kvRow
	index := map[string]int{}
	for _, p := range points {
		key := p.Name + "\x00" + p.Labels["family"]
		i, ok := index[key]
		if !ok {
			r := kvRow{name: p.Name, family: p.Labels["family"], ablation: p.Labels["ablation"] == "true",
				metrics: map[string]map[string]float64{}}
			if b := p.Labels["bits"]; b != "" {
				if _, err := fmt.Sscan(b, &r.bits); err != nil {
					return nil, fmt.Errorf("point %s: label bits %q: %w", p.Name, b, err)
				}
			}
			i = len(rows)
			index[key] = i
			rows = append(rows, r)
		}
		rows[i].metrics[p.Labels["text"]] = p.Metrics
	}
	return rows, nil
}

// kvReference is the fp32 row's perplexity on text (NaN without one).
func kvReference(rows []kvRow, text string) float64 {
	for _, r := range rows {
		if m, ok := r.metrics[text]; ok && r.name == "fp32" {
			return m[MetricPerplexity]
		}
	}
	return math.NaN()
}

// kvReport renders the key/value-cache study: nominal bits, measured bits per cached value
// (codes and their scales, zero points, sparse outliers and fp16 tokens, on the Shakespeare
// windows), bytes per token, perplexity and its change against fp32 on each text, retrieval
// hits, calibrated constants; and, per text, perplexity relative to the fp32 cache (log scale)
// against bits per cached value, one series per method (ablation rows left out), in the manner
// of the bit-level scaling plots of Dettmers & Zettlemoyer 2023.
func kvReport(_ *sweep.Context, points []sweep.Point) (string, plots.Figure, error) {
	rows, err := kvRows(points)
	if err != nil {
		return "", plots.Figure{}, err
	}
	var b strings.Builder
	b.WriteString("| row | bits | bits / cached value | cache bytes / token |")
	for _, text := range kvTexts {
		fmt.Fprintf(&b, " perplexity (%s) | Δ |", text)
	}
	b.WriteString(" retrieval | constants (bytes) |\n|---|---:|---:|---:|")
	for range kvTexts {
		b.WriteString("---:|---:|")
	}
	b.WriteString("---:|---:|\n")
	for _, r := range rows {
		m := r.metrics[TextShakespeare]
		bits := "32"
		if r.bits > 0 {
			bits = fmt.Sprint(r.bits)
		} else if r.name == "fp16" {
			bits = "16"
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.0f |", r.label(), bits, m[MetricKVBitsPerValue], m[MetricKVBytesPerToken])
		for _, text := range kvTexts {
			ppl := r.metrics[text][MetricPerplexity]
			fmt.Fprintf(&b, " %.3f | %+.2f%% |", ppl, 100*(ppl/kvReference(rows, text)-1))
		}
		ret := "—"
		for _, text := range kvTexts {
			if names := r.metrics[text][MetricRetrievalNames]; names > 0 {
				ret = fmt.Sprintf("%.0f/%.0f", r.metrics[text][MetricRetrievalHits], names)
			}
		}
		fmt.Fprintf(&b, " %s | %.0f |\n", ret, m[MetricKVConstantBytes])
	}
	var fig plots.Figure
	for _, text := range kvTexts {
		ref := kvReference(rows, text)
		series := map[string]plotter.XYs{}
		var order []string
		for _, r := range rows {
			ppl, bits := r.metrics[text][MetricPerplexity], r.metrics[text][MetricKVBitsPerValue]
			if r.ablation || !(ppl > 0) || math.IsInf(ppl, 0) || !(bits > 0) || math.IsNaN(ref) {
				continue
			}
			if _, ok := series[r.family]; !ok {
				order = append(order, r.family)
			}
			series[r.family] = append(series[r.family], plotter.XY{X: bits, Y: ppl / ref})
		}
		window := 0.0
		for _, r := range rows {
			window = max(window, r.metrics[text][MetricKVWindowTokens])
		}
		fig.Panels = append(fig.Panels, plots.Panel{Title: fmt.Sprintf("stories260K, %.0f-token windows of %s", window, text),
			XLabel: "bits per cached value (metadata included)", YLabel: "perplexity / fp32-cache perplexity",
			LogX: true, LogY: true, Series: plots.SeriesInOrder(series, order)})
	}
	fig.Width, fig.Height = vg.Length(len(fig.Panels))*6.5*vg.Inch, 5*vg.Inch
	return b.String(), fig, nil
}
