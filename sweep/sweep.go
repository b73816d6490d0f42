// Package sweep trains one base config over a grid of quantizers × codebook sizes and
// collects the final evaluations: the experiment behind SimVQ's central claim (Zhu et al.
// 2024, arXiv:2411.02038) that plain VQ's codebook utilisation collapses as K grows while
// SimVQ's stays near 100%, with reconstruction improving accordingly.
//
// Every point is an ordinary framework.Run in its own run directory, so a sweep that is
// interrupted resumes where it stopped, and a finished point is not trained again.
package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/compute"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/plots"
	"gonum.org/v1/plot/plotter"
)

// Spec is a sweep, read strictly from JSON like a framework.Config.
type Spec struct {
	// Description states the command, its cost on two CPU cores and the result to expect.
	Description string `json:"description"`
	// Base is the path of the training config every point starts from, relative to the
	// directory of the sweep's file.
	Base string `json:"base"`
	// Set are overrides ("key=value;...") applied to Base for every point.
	Set string `json:"set"`
	// Quantizers are the vq_type values swept.
	Quantizers []string `json:"quantizers"`
	// CodebookSizes are the vq_codebook_size values swept.
	CodebookSizes []int `json:"codebook_sizes"`
	// Figure is where the command line writes the figure (.png or .svg), relative to the
	// current directory.
	Figure string `json:"figure"`

	base *framework.Config
}

// LoadSpec reads and validates a sweep file.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, fmt.Errorf("sweep %s: unknown key %s; valid keys are: description, base, set, quantizers, codebook_sizes, figure", path, name)
		}
		return nil, fmt.Errorf("sweep %s: %w", path, err)
	}
	if len(s.Quantizers) == 0 || len(s.CodebookSizes) == 0 {
		return nil, fmt.Errorf("sweep %s: keys \"quantizers\" and \"codebook_sizes\" must not be empty", path)
	}
	basePath := filepath.Join(filepath.Dir(path), s.Base)
	if s.base, err = framework.LoadConfig(basePath); err != nil {
		return nil, fmt.Errorf("sweep %s: key \"base\": %w", path, err)
	}
	if err := s.base.Set(s.Set); err != nil {
		return nil, fmt.Errorf("sweep %s: key \"set\": %w", path, err)
	}
	return &s, nil
}

// Options are the settings of a sweep that are not part of the experiment.
type Options struct {
	// Dir is the root of the sweep's run directories (one per point). Required.
	Dir string
	// Set are extra overrides applied to every point after the spec's own (e.g. "steps=50"
	// for a quick look). Points trained with other overrides live in other directories.
	Set string
	// DataDir, Data, Backend and Out are passed to framework.Run.
	DataDir string
	Data    *framework.Data
	Backend compute.Backend
	Out     io.Writer
	// Quiet turns off the per-run progress lines.
	Quiet bool
}

// Point is the final evaluation of one (quantizer, codebook size) run.
type Point struct {
	Quantizer string
	K         int
	Step      int64
	Metrics   map[string]float64
	Dir       string
}

// Config returns the training config of one point.
func (s *Spec) Config(quantizer string, k int, extra string) (*framework.Config, error) {
	cfg := *s.base
	cfg.Params = make(map[string]any, len(s.base.Params))
	for key, v := range s.base.Params {
		cfg.Params[key] = v
	}
	if err := cfg.Set(fmt.Sprintf("%s;vq_type=%s;vq_codebook_size=%d", extra, quantizer, k)); err != nil {
		return nil, fmt.Errorf("sweep: point %s K=%d: %w", quantizer, k, err)
	}
	return &cfg, nil
}

// Run trains (or resumes, or just reads) every point of the sweep and returns them in order.
func Run(s *Spec, opts Options) ([]Point, error) {
	if opts.Dir == "" {
		return nil, errors.New("sweep: Options.Dir is required")
	}
	m, err := framework.LookupModel(s.base.Model)
	if err != nil {
		return nil, err
	}
	shared, err := framework.RunOptions{DataDir: opts.DataDir, Data: opts.Data, Backend: opts.Backend, Out: opts.Out}.Prepare(m)
	if err != nil {
		return nil, err
	}
	out := shared.Out
	var points []Point
	for _, q := range s.Quantizers {
		for _, k := range s.CodebookSizes {
			cfg, err := s.Config(q, k, opts.Set)
			if err != nil {
				return nil, err
			}
			dir := filepath.Join(opts.Dir, fmt.Sprintf("%s_K%d_steps%d", q, k, cfg.Steps))
			p := Point{Quantizer: q, K: k, Dir: dir}
			if step, metrics, ok := readEval(dir); ok && step == int64(cfg.Steps) {
				p.Step, p.Metrics = step, metrics
			} else {
				fmt.Fprintf(out, "sweep: %s K=%d, %d steps → %s\n", q, k, cfg.Steps, dir)
				res, err := framework.Run(cfg, framework.RunOptions{Dir: dir, Data: shared.Data, Backend: shared.Backend, Out: out, Quiet: opts.Quiet})
				if err != nil {
					return nil, fmt.Errorf("sweep: point %s K=%d: %w", q, k, err)
				}
				p.Step, p.Metrics = res.Step, res.Eval
			}
			points = append(points, p)
		}
	}
	return points, nil
}

// readEval reads a finished run's eval.json.
func readEval(dir string) (int64, map[string]float64, bool) {
	step, metrics, err := framework.ReadEval(filepath.Join(dir, framework.EvalFile))
	return step, metrics, err == nil
}

// Figure plots codebook utilisation and reconstruction PSNR against codebook size, one line
// per quantizer.
func Figure(points []Point) plots.Figure {
	util, psnr := map[string]plotter.XYs{}, map[string]plotter.XYs{}
	for _, p := range points {
		util[p.Quantizer] = append(util[p.Quantizer], plotter.XY{X: float64(p.K), Y: 100 * p.Metrics["utilization"]})
		psnr[p.Quantizer] = append(psnr[p.Quantizer], plotter.XY{X: float64(p.K), Y: p.Metrics["psnr"]})
	}
	return plots.Figure{Panels: []plots.Panel{
		{Title: "Codebook utilisation (test set)", XLabel: "codebook size K", YLabel: "codes used (%)", LogX: true, Series: plots.SortedSeries(util)},
		{Title: "Reconstruction (test set)", XLabel: "codebook size K", YLabel: "PSNR (dB)", LogX: true, Series: plots.SortedSeries(psnr)},
	}}
}

// Table renders the points as a Markdown table, one row per quantizer and K.
func Table(points []Point) string {
	sorted := append([]Point{}, points...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Quantizer != sorted[j].Quantizer {
			return sorted[i].Quantizer < sorted[j].Quantizer
		}
		return sorted[i].K < sorted[j].K
	})
	var b strings.Builder
	b.WriteString("| quantizer | K | steps | utilisation | perplexity | PSNR (dB) | MSE | bits/image |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range sorted {
		m := p.Metrics
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f%% | %.1f | %.2f | %.5f | %.0f |\n",
			p.Quantizer, p.K, p.Step, 100*m["utilization"], m["perplexity"], m["psnr"], m["mse"], m["bits_per_image"])
	}
	return b.String()
}
