// Package kvstudy runs the key/value-cache quantization study of configs/kv on stories260K:
// every cache quantizer of package kvcache (KIVI with and without its fp16 window, KVQuant,
// rotation + Lloyd-Max, vq, rvq, simvq) at 4, 3 and 2 bits per value, and KVQuant's ablation
// one step at a time at 3 bits, each scored on the held-out Shakespeare test split token by token
// through its quantized cache (perplexity and its change against the fp32 cache), with the
// cache's packed storage per value and a retrieval check (llama.Retrieval: a name given at
// the start of a story, repeated by greedy decoding ~200 tokens later). It renders the
// README's table and the figure (perplexity relative to fp32 against bits per cached value).
//
// Every row is a config of configs/kv run with framework.Run (steps 0: calibrate, evaluate)
// under its own run directory; a row whose directory already holds the evaluation of the same
// config is read back, not rerun.
package kvstudy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/models/llama"
	"github.com/qzoo/qzoo/plots"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Row is one line of the study: a config of configs/kv with overrides.
type Row struct {
	// Name names the run directory; Family the series of the figure; Config the file
	// (without .json) under the config directory; Set the overrides.
	Name, Family, Config, Set string
	// Bits is the nominal bits per key and value (0: not a quantizer: fp32, fp16).
	Bits int
	// Ablation marks KVQuant's ablation rows (one step added per row).
	Ablation bool
}

// Texts are the held-out texts every row is scored on: Shakespeare's test split (real text,
// far from the TinyStories stories260K was trained on) and the test half of stories the
// model sampled itself (its own distribution; the other half calibrates).
var Texts = []string{TextOwnStories, TextShakespeare}

const (
	TextShakespeare = "shakespeare"
	TextOwnStories  = "own stories"
)

// Result is a row with its measurements.
type Result struct {
	Row
	// Metrics per text (see [Texts]).
	Metrics map[string]map[string]float64
	// Hits of the retrieval check out of Names, over prompts of PromptTokens tokens at most
	// (0, 0 when skipped).
	Hits, Names, PromptTokens int
}

// Rows returns the study's rows: references, every method at 4, 3 and 2 bits, then
// KVQuant's ablation at 3 bits.
func Rows() []Row {
	rows := []Row{
		{Name: "fp32", Family: "reference", Config: "base"},
		{Name: "fp16", Family: "reference", Config: "fp16"},
	}
	methods := []struct{ name, family, config string }{
		{"kivi", "KIVI (fp16 window 32–63)", "kivi"},
		{"kivi_strict", "KIVI strict", "kivi_strict"},
		{"kvquant", "KVQuant", "kvquant"},
		{"kvquant_window", "KVQuant + fp16 window of 32", "kvquant"},
		{"rotation", "rotation + Lloyd-Max", "rotation"},
		{"vq", "VQ (product)", "vq"},
		{"rvq", "RVQ", "rvq"},
		{"simvq", "SimVQ", "simvq"},
	}
	for _, m := range methods {
		for _, b := range []int{4, 3, 2} {
			set := fmt.Sprintf("kv_bits=%d", b)
			if m.name == "kvquant_window" {
				set += ";kv_residual=32"
			}
			rows = append(rows, Row{Name: fmt.Sprintf("%s_%d", m.name, b), Family: m.family, Config: m.config, Set: set, Bits: b})
		}
	}
	return append(rows, AblationRows(3)...)
}

// ablationSteps are KVQuant's steps in the order the ablation adds them: each row sets the
// keys of its step on top of the previous rows'.
var ablationSteps = []struct{ name, set string }{
	{"uniform, per-token keys", "kv_key_per_channel=false;kv_pre_rope=false;kv_nonuniform=false;kv_outliers=0;kv_sink=0;kv_qnorm=false"},
	{"+ per-channel keys", "kv_key_per_channel=true"},
	{"+ pre-RoPE keys", "kv_pre_rope=true"},
	{"+ non-uniform datatype", "kv_nonuniform=true"},
	{"+ 1% sparse outliers", "kv_outliers=0.01"},
	{"+ attention sink", "kv_sink=1"},
	{"+ Q-Norm (= KVQuant)", "kv_qnorm=true"},
}

// AblationRows returns KVQuant's ablation at bits: from uniform per-token quantization of
// keys and values, one step added per row, the last being the full method.
func AblationRows(bits int) []Row {
	var rows []Row
	set := fmt.Sprintf("kv_bits=%d", bits)
	for i, s := range ablationSteps {
		set += ";" + s.set
		name := fmt.Sprintf("kvquant_ablation_%d_%d", bits, i)
		if i == len(ablationSteps)-1 {
			name = fmt.Sprintf("kvquant_%d", bits) // the full method: the same config and run
		}
		rows = append(rows, Row{Name: name, Family: s.name, Config: "kvquant", Set: set, Bits: bits, Ablation: true})
	}
	return rows
}

// Options say where the configs are, where to run them and how.
type Options struct {
	// ConfigDir holds the configs (configs/kv); RunDir the run directories (runs/kv).
	ConfigDir, RunDir string
	// Set are overrides applied to every row after its own (e.g. "eval_examples=4" for a
	// quick look).
	Set string
	// Rows to run (nil: [Rows]).
	Rows []Row
	// OwnStoryWindows is the number of 512-token windows the model samples for the
	// own-stories text (0: [OwnStoryWindows]).
	OwnStoryWindows int
	// RetrievalSentences is the filler of the retrieval check (llama.RetrievalPrompt); < 0
	// skips it.
	RetrievalSentences int
	DataDir            string
	Backend            compute.Backend
	Out                io.Writer
	Quiet              bool
}

// DefaultRetrievalSentences puts ~200 tokens between the name and the question, where the
// fp32 cache retrieves 10 of the 12 names.
const DefaultRetrievalSentences = 10

// Run runs (or reads back) every row, then runs the retrieval check on each.
func Run(o Options) ([]Result, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Rows == nil {
		o.Rows = Rows()
	}
	if o.Backend == nil {
		b, line, err := framework.NewBackend()
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(o.Out, line)
		o.Backend = b
	}
	own, err := ownStories(o)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, row := range o.Rows {
		r := Result{Row: row, Metrics: map[string]map[string]float64{}}
		var dir string
		for _, text := range Texts {
			set := framework.JoinOverrides(row.Set, o.Set)
			dir = filepath.Join(o.RunDir, row.Name)
			if text == TextOwnStories {
				set = framework.JoinOverrides(set, "text_file="+own+";text_test_fraction=0.5;text_validation_fraction=0")
				dir = filepath.Join(o.RunDir, "own_stories", row.Name)
			}
			metrics, err := runRow(o, row, set, dir)
			if err != nil {
				return nil, err
			}
			r.Metrics[text] = metrics
		}
		// The retrieval check uses the quantizer calibrated on the model's own stories (the
		// last text run).
		if o.RetrievalSentences >= 0 {
			if r.Hits, r.PromptTokens, err = retrieval(o, dir); err != nil {
				return nil, fmt.Errorf("kvstudy: %s: retrieval: %w", row.Name, err)
			}
			r.Names = len(llama.RetrievalNames)
		}
		fmt.Fprintf(o.Out, "kvstudy: %-28s perplexity %.3f (own stories), %.3f (Shakespeare), %.2f bits per cached value, retrieval %d/%d\n", row.Name,
			r.Metrics[TextOwnStories][llama.MetricPerplexity], r.Metrics[TextShakespeare][llama.MetricPerplexity],
			r.Metrics[TextShakespeare][llama.MetricKVBitsPerValue], r.Hits, r.Names)
		out = append(out, r)
	}
	return out, nil
}

// runRow runs one row on one text (or reads it back) and returns its evaluation.
func runRow(o Options, row Row, set, dir string) (map[string]float64, error) {
	cfg, err := framework.LoadConfig(filepath.Join(o.ConfigDir, row.Config+".json"))
	if err != nil {
		return nil, err
	}
	if err := cfg.Set(set); err != nil {
		return nil, fmt.Errorf("kvstudy: %s: %w", row.Name, err)
	}
	cfg.Steps = 0
	metrics, err := readBack(dir, cfg)
	if err != nil || metrics != nil {
		return metrics, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	res, err := framework.Run(cfg, framework.RunOptions{Dir: dir, DataDir: o.DataDir, Backend: o.Backend, Out: o.Out, Quiet: o.Quiet})
	if err != nil {
		return nil, fmt.Errorf("kvstudy: %s: %w", row.Name, err)
	}
	return res.Eval, nil
}

// OwnStoryWindows is the number of 512-token windows the model samples for the own-stories
// text (about 32,000 tokens: half calibrate, half are held out).
const OwnStoryWindows = 64

// ownStories writes (once) runDir/own_stories.txt: OwnStoryWindows windows the model samples
// from BOS at temperature 1 (seed 1, llama.SampleWindows), cut into stories at BOS, one per
// line.
func ownStories(o Options) (string, error) {
	n := o.OwnStoryWindows
	if n <= 0 {
		n = OwnStoryWindows
	}
	path := filepath.Join(o.RunDir, "own_stories.txt")
	if n != OwnStoryWindows {
		path = filepath.Join(o.RunDir, fmt.Sprintf("own_stories_%d.txt", n))
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	wPath, err := framework.LocateData(o.DataDir, llama.Stories260KFile)
	if err != nil {
		return "", err
	}
	m, err := llama.Open(wPath)
	if err != nil {
		return "", err
	}
	tok, err := m.LoadTokenizer(o.DataDir)
	if err != nil {
		return "", err
	}
	windows, err := llama.SampleWindows(o.Backend, m.Store, n, m.Config.Params[llama.ParamSeqLen].(int), 1)
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
	if err := os.MkdirAll(o.RunDir, 0o755); err != nil {
		return "", err
	}
	return path, framework.WriteFileAtomic(path, []byte(b.String()))
}

// readBack returns the evaluation in dir when dir's config is cfg, else nil.
func readBack(dir string, cfg *framework.Config) (map[string]float64, error) {
	old, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(bytes.TrimSpace(old), bytes.TrimSpace(cfg.JSON())) {
		return nil, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, "eval.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var e struct {
		Metrics map[string]float64 `json:"metrics"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("kvstudy: %s: %w", filepath.Join(dir, "eval.json"), err)
	}
	return e.Metrics, nil
}

// retrieval runs the retrieval check with the run's cache quantizer (constants from its
// checkpoint) in a cache of the model's full context.
func retrieval(o Options, dir string) (hits, promptTokens int, err error) {
	m, err := llama.Open(dir)
	if err != nil {
		return 0, 0, err
	}
	q, err := llama.LoadKV(m.Store, m.Config.Params, dir)
	if err != nil {
		return 0, 0, err
	}
	tok, err := m.LoadTokenizer(o.DataDir)
	if err != nil {
		return 0, 0, err
	}
	s, err := llama.NewKVStepper(o.Backend, m.Store, q, 1, m.Config.Params[llama.ParamSeqLen].(int))
	if err != nil {
		return 0, 0, err
	}
	defer s.Finalize()
	return llama.Retrieval(s.Decoder(), tok, llama.RetrievalNames, o.RetrievalSentences)
}

// reference is the fp32 row's perplexity on text (NaN without one).
func reference(results []Result, text string) float64 {
	for _, r := range results {
		if r.Name == "fp32" {
			return r.Metrics[text][llama.MetricPerplexity]
		}
	}
	return math.NaN()
}

// Label names a row in the table and figure.
func (r Row) Label() string {
	switch {
	case r.Ablation:
		return fmt.Sprintf("KVQuant %d-bit ablation: %s", r.Bits, r.Family)
	case r.Bits > 0:
		return fmt.Sprintf("%s %d-bit", r.Family, r.Bits)
	}
	return r.Name
}

// Table renders the results as a Markdown table: nominal bits, measured bits per cached
// value (codes and their scales, zero points, sparse outliers and fp16 tokens, on the
// Shakespeare windows), bytes per token, perplexity and its change against fp32 on each
// text, retrieval hits, calibrated constants.
func Table(results []Result) string {
	var b strings.Builder
	b.WriteString("| row | bits | bits / cached value | cache bytes / token |")
	for _, text := range Texts {
		fmt.Fprintf(&b, " perplexity (%s) | Δ |", text)
	}
	b.WriteString(" retrieval | constants (bytes) |\n|---|---:|---:|---:|")
	for range Texts {
		b.WriteString("---:|---:|")
	}
	b.WriteString("---:|---:|\n")
	for _, r := range results {
		m := r.Metrics[TextShakespeare]
		bits := "32"
		if r.Bits > 0 {
			bits = fmt.Sprint(r.Bits)
		} else if r.Name == "fp16" {
			bits = "16"
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.0f |", r.Label(), bits, m[llama.MetricKVBitsPerValue], m[llama.MetricKVBytesPerToken])
		for _, text := range Texts {
			ppl := r.Metrics[text][llama.MetricPerplexity]
			fmt.Fprintf(&b, " %.3f | %+.2f%% |", ppl, 100*(ppl/reference(results, text)-1))
		}
		ret := "—"
		if r.Names > 0 {
			ret = fmt.Sprintf("%d/%d", r.Hits, r.Names)
		}
		fmt.Fprintf(&b, " %s | %.0f |\n", ret, m[llama.MetricKVConstantBytes])
	}
	return b.String()
}

// Figure draws, per text, perplexity relative to the fp32 cache (log scale) against bits
// per cached value, one series per method (ablation rows left out), in the manner of the
// bit-level scaling plots of Dettmers & Zettlemoyer 2023.
func Figure(results []Result) plots.Figure {
	var fig plots.Figure
	for _, text := range Texts {
		ref := reference(results, text)
		series := map[string]plotter.XYs{}
		var order []string
		for _, r := range results {
			ppl, bits := r.Metrics[text][llama.MetricPerplexity], r.Metrics[text][llama.MetricKVBitsPerValue]
			if r.Ablation || !(ppl > 0) || math.IsInf(ppl, 0) || !(bits > 0) || math.IsNaN(ref) {
				continue
			}
			if _, ok := series[r.Family]; !ok {
				order = append(order, r.Family)
			}
			series[r.Family] = append(series[r.Family], plotter.XY{X: bits, Y: ppl / ref})
		}
		window := 0.0
		for _, r := range results {
			window = max(window, r.Metrics[text][llama.MetricKVWindowTokens])
		}
		fig.Panels = append(fig.Panels, plots.Panel{Title: fmt.Sprintf("stories260K, %.0f-token windows of %s", window, text),
			XLabel: "bits per cached value (metadata included)", YLabel: "perplexity / fp32-cache perplexity",
			LogX: true, LogY: true, Series: plots.SeriesInOrder(series, order)})
	}
	fig.Width, fig.Height = vg.Length(len(fig.Panels))*6.5*vg.Inch, 5*vg.Inch
	return fig
}
