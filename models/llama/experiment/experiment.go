// Package experiment runs the Llama quantization-and-adaptation study of configs/llm: stories260K
// adapted to Shakespeare by full fine-tuning, LoRA, QAT with LSQ, QLoRA, QA-LoRA and LQ-LoRA,
// post-training quantization of the fine-tune at 8/4/3/2 bits (RTN per channel and in groups,
// NF4, SqueezeLLM, each with and without a Hadamard rotation), and the same quantizers on the
// base model measured on stories it samples itself. It collects held-out perplexity, trainable
// parameters and total model bits per row, renders the README's table and the bit-level figure
// (perplexity against total model bits, in the manner of Dettmers & Zettlemoyer 2023, "The
// case for 4-bit precision").
//
// Every row is a config under configs/llm run with framework.Run (sweeps with sweep.Run): a
// row already trained in the run directory is read back, not retrained.
package experiment

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/models/llama"
	"github.com/qzoo/qzoo/plots"
	"github.com/qzoo/qzoo/quant"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Trained are the configs of the adaptation rows, in table order; full_finetune comes before
// ptq, whose init_from is its run.
var Trained = []string{"base", "full_finetune", "lora", "qat_lsq", "qlora", "qa_lora", "lq_lora"}

// PTQSweeps quantize the fine-tune (and, on its own stories, the base model).
var PTQSweeps = []string{"ptq_rtn_sweep", "ptq_squeezellm_sweep", "ptq_nf4_sweep"}

// Options say where the configs are, where to run them and how.
type Options struct {
	// ConfigDir holds the configs (configs/llm); RunDir the run directories (runs/llm).
	ConfigDir, RunDir string
	// Set are overrides applied to every run (e.g. "steps=3;eval_examples=16" for a quick look);
	// a steps override leaves the rows that train nothing (steps 0: base, PTQ) untrained.
	Set string
	// Trained and Sweeps choose the rows (nil: [Trained] and [PTQSweeps]); a notebook's quick
	// look runs a few.
	Trained, Sweeps []string
	// Samples is the number of stories the base model samples (T = 1, seed 1) for the
	// own-text measurement; 0 skips that part.
	Samples int
	DataDir string
	Backend compute.Backend
	Out     io.Writer
	Quiet   bool
}

// Row is one line of the table.
type Row struct {
	// Name is the config (or sweep point) it comes from; Family groups rows into a series of
	// the figure; Text says which held-out text ("shakespeare" or "own stories").
	Name, Family, Text string
	Bits               int // code bits of a PTQ row, 0 for the others
	Metrics            map[string]float64
}

// Run runs (or reads back) every row.
func Run(o Options) ([]Row, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Trained == nil {
		o.Trained = Trained
	}
	if o.Sweeps == nil {
		o.Sweeps = PTQSweeps
	}
	var rows []Row
	for _, name := range o.Trained {
		cfg, err := loadConfig(filepath.Join(o.ConfigDir, name+".json"), o.Set)
		if err != nil {
			return nil, err
		}
		chain(cfg, o.RunDir)
		res, err := framework.Run(cfg, framework.RunOptions{Dir: filepath.Join(o.RunDir, name), DataDir: o.DataDir,
			Backend: o.Backend, Out: o.Out, Quiet: o.Quiet})
		if err != nil {
			return nil, fmt.Errorf("experiment: %s: %w", name, err)
		}
		rows = append(rows, Row{Name: name, Family: family(name), Text: "shakespeare", Metrics: res.Eval})
	}
	ptq, err := runSweeps(o, "", "shakespeare")
	if err != nil {
		return nil, err
	}
	rows = append(rows, ptq...)
	if o.Samples > 0 {
		own, err := ownStories(o)
		if err != nil {
			return nil, err
		}
		// No step trains on these stories: half of them are the held-out split.
		set := "init_from=" + llama.Stories260KFile + ";text_file=" + own + ";text_test_fraction=0.5"
		cfg, err := loadConfig(filepath.Join(o.ConfigDir, "base.json"), framework.JoinOverrides(o.Set, "text_file="+own+";text_test_fraction=0.5"))
		if err != nil {
			return nil, err
		}
		res, err := framework.Run(cfg, framework.RunOptions{Dir: filepath.Join(o.RunDir, "base_own_stories"), DataDir: o.DataDir,
			Backend: o.Backend, Out: o.Out, Quiet: o.Quiet})
		if err != nil {
			return nil, fmt.Errorf("experiment: base on its own stories: %w", err)
		}
		rows = append(rows, Row{Name: "base", Family: "base (TinyStories)", Text: "own stories", Metrics: res.Eval})
		more, err := runSweeps(o, set, "own stories")
		if err != nil {
			return nil, err
		}
		rows = append(rows, more...)
	}
	return rows, nil
}

// loadConfig loads a config and applies set, keeping steps 0 (a row that trains nothing).
func loadConfig(path, set string) (*framework.Config, error) {
	cfg, err := framework.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	steps := cfg.Steps
	if err := cfg.Set(set); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if steps == 0 {
		cfg.Steps = 0
	}
	return cfg, nil
}

// withoutSteps drops a steps override: the PTQ sweeps train nothing.
func withoutSteps(set string) string {
	var kept []string
	for _, kv := range strings.Split(set, ";") {
		if key, _, _ := strings.Cut(kv, "="); strings.TrimSpace(key) != "steps" {
			kept = append(kept, kv)
		}
	}
	return strings.Join(kept, ";")
}

// chain points an init_from of the form runs/<config> at that config's run under runDir.
func chain(cfg *framework.Config, runDir string) {
	if name, ok := strings.CutPrefix(cfg.InitFrom, "runs/"); ok {
		cfg.InitFrom = filepath.Join(runDir, name)
	}
}

// runSweeps runs the PTQ sweeps with extra overrides (init_from and text for the own-stories
// part; for the fine-tune, its run under RunDir).
func runSweeps(o Options, set, text string) ([]Row, error) {
	var rows []Row
	sub := "ptq"
	if text != "shakespeare" {
		sub = "ptq_own_stories"
	}
	for _, name := range o.Sweeps {
		spec, err := sweep.LoadSpec(filepath.Join(o.ConfigDir, name+".json"))
		if err != nil {
			return nil, err
		}
		extra := set
		if extra == "" {
			base := &framework.Config{InitFrom: "runs/full_finetune"}
			chain(base, o.RunDir)
			extra = "init_from=" + base.InitFrom
		}
		points, err := sweep.Run(spec, sweep.Options{Dir: filepath.Join(o.RunDir, sub), Set: framework.JoinOverrides(extra, withoutSteps(o.Set)),
			DataDir: o.DataDir, Backend: o.Backend, Out: o.Out, Quiet: o.Quiet})
		var unmet *sweep.ExpectationsError
		if err != nil && !errors.As(err, &unmet) {
			return nil, fmt.Errorf("experiment: %s: %w", name, err)
		}
		for _, p := range points {
			method := strings.TrimSuffix(strings.TrimPrefix(name, "ptq_"), "_sweep")
			fam := method
			if p.Coords.Value(quant.ParamPTQGroupSize) == "32" {
				fam += " g32"
			}
			if p.Coords.Value(quant.ParamPTQDoubleQuant) == "true" {
				fam += " dq"
			}
			if p.Coords.Value(quant.ParamPTQHadamard) == "true" {
				fam += " + Hadamard"
			}
			bits := 4
			if b := p.Coords.Value(quant.ParamPTQBits); b != "" {
				fmt.Sscan(b, &bits)
			}
			rows = append(rows, Row{Name: fmt.Sprintf("%s %s", name, p.Coords), Family: "PTQ " + fam, Text: text, Bits: bits, Metrics: p.Metrics})
		}
	}
	return rows, nil
}

// family names the series of a trained row.
func family(name string) string {
	switch name {
	case "base":
		return "base (TinyStories)"
	case "full_finetune":
		return "full fine-tune"
	case "ptq":
		return "PTQ rtn"
	}
	return name
}

// ownStories writes (once) the base model's own stories: Samples samples from BOS at
// temperature 1, no top-p, seed 1, one per line.
func ownStories(o Options) (string, error) {
	path, err := filepath.Abs(filepath.Join(o.RunDir, fmt.Sprintf("stories260K_samples_%d.txt", o.Samples)))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	text, err := llama.SampleStories(o.DataDir, o.Backend, o.Samples, 1)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, framework.WriteFileAtomic(path, []byte(text))
}

// Table renders the rows as a Markdown table: held-out perplexity, trainable parameters,
// total model bits and bits per parameter.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| held-out text | row | perplexity | trainable params | model bits | bits / param | linear bits / weight |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		m := r.Metrics
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.0f | %.0f | %.2f | %.2f |\n", r.Text, r.Name,
			m[llama.MetricPerplexity], m[llama.MetricTrainableParams], m[llama.MetricModelBits],
			m[llama.MetricBitsPerParameter], m[llama.MetricLinearBitsPerWeight])
	}
	return b.String()
}

// Figure draws held-out perplexity against total model bits (log scales), one series per
// family of rows, one panel per held-out text.
func Figure(rows []Row) plots.Figure {
	var fig plots.Figure
	var texts []string
	for _, r := range rows {
		if !slices.Contains(texts, r.Text) {
			texts = append(texts, r.Text)
		}
	}
	for _, text := range texts {
		series := map[string]plotter.XYs{}
		var order []string
		for _, r := range rows {
			ppl, bits := r.Metrics[llama.MetricPerplexity], r.Metrics[llama.MetricModelBits]
			if r.Text != text || !(ppl > 0) || math.IsInf(ppl, 0) || !(bits > 0) {
				continue
			}
			if _, ok := series[r.Family]; !ok {
				order = append(order, r.Family)
			}
			series[r.Family] = append(series[r.Family], plotter.XY{X: bits / 1e6, Y: ppl})
		}
		panel := plots.Panel{Title: "Held-out perplexity on " + text, XLabel: "total model bits (Mbit)", YLabel: "perplexity",
			LogX: true, LogY: true}
		panel.Series = plots.SeriesInOrder(series, order)
		fig.Panels = append(fig.Panels, panel)
	}
	fig.Width, fig.Height = vg.Length(len(fig.Panels))*6.5*vg.Inch, 5*vg.Inch
	return fig
}
