package llama

// The bit-level scaling report of the weights study (configs/scaling/study.json, report
// "bit_scaling"): held-out perplexity of a family of model sizes at several weight precisions
// and block sizes against total model bits, the law of each precision with bootstrap
// confidence intervals (package laws), and which precision is optimal at a fixed bit budget —
// the question of Dettmers & Zettlemoyer 2023, "The case for 4-bit precision".

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/laws"
	"github.com/qzoo/qzoo/plots"
	"github.com/qzoo/qzoo/quant"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// The labels of a weights-study point that BitScaling reads.
const (
	// LabelSize is the family member, e.g. "230k" (the table's first column); without it, the
	// point's variant, else its name.
	LabelSize = "size"
	// LabelPrecision is the weights' data type and bits, e.g. "int4", "fp4 e2m1", "nf4",
	// "fp32"; without it (a sweep's grid point) it is read from the run's config, with the
	// block (configPrecision).
	LabelPrecision = "precision"
	// LabelBlock is the quantization block, e.g. "64" or "row" ("" for a float model).
	LabelBlock = "block"
	// LabelBits is the precision's bits per weight, when its name does not start them (the
	// first number in the precision's name is taken otherwise: "fp4 e2m1" → 4).
	LabelBits = "bits"
	// LabelSeed tells apart the points of one configuration trained with different seeds
	// (an integer; default 0): the bootstrap resamples them.
	LabelSeed = "seed"
)

func init() {
	sweep.RegisterReport("bit_scaling", sweep.Report{
		Doc: "size × precision × block → held-out perplexity, total model bits, bits per parameter; per (precision, block) series " +
			"the law perplexity = c + a·bits^(−α) with 95% bootstrap intervals over held-out windows and seeds; the optimal " +
			"precision at fixed bit budgets with its bootstrap win shares; whether 4-bit is optimal; perplexity against total " +
			"model bits with the fitted laws and their bands",
		Render: func(_ *sweep.Context, points []sweep.Point) (string, plots.Figure, error) {
			s, err := BitScaling(points, ScalingOptions{})
			if err != nil {
				return "", plots.Figure{}, err
			}
			return s.Table(), s.Figure(), nil
		},
	})
}

// ScalingOptions are the settings of [BitScaling]; zero values take the defaults.
type ScalingOptions struct {
	// Replicates is the number of bootstrap replicates (default 1000); Seed seeds them.
	Replicates int
	Seed       uint64
	// Budgets are the total bit budgets at which the optimal precision is asked (default: five
	// spaced evenly in log bits over the measured range of all fitted series).
	Budgets []float64
	// Form is the law's form, the same for every series so that the laws compare:
	// laws.WithFloor (c + a·bits^(−α)) or laws.PowerOnly; the zero value, laws.Auto, means
	// laws.WithFloor here (Auto would choose per series, and over six briefly trained sizes a
	// floor is identified for some series and not others).
	Form laws.Form
}

// ScalingRow is a point of the weights study: a line of the table.
type ScalingRow struct {
	Size, Precision, Block string
	Perplexity, ModelBits  float64
	BitsPerParameter       float64
	// Series is the (precision, block) series the point belongs to.
	Series string
}

// Scaling is the weights study's analysis (see [BitScaling]).
type Scaling struct {
	Rows []ScalingRow
	// Fits are the series with at least 3 points, fitted with intervals; Unfitted names the
	// others.
	Fits     *laws.Result
	Unfitted []string
	// Bits is the bits per weight of each fitted series (Fits.Series' order; 0 when unknown).
	Bits []int
	// Choices are the optimal series at each budget.
	Choices []laws.Choice
}

// windowPerplexity is the aggregate of a point's window samples: exp of the windows' mean NLL
// (the windows have equal token counts, so this is the point's perplexity).
func windowPerplexity(nll []float64) float64 { return math.Exp(stat.Mean(nll, nil)) }

// seriesName names a (precision, block) series: "int4 (block 64)", "int4 (row)", "fp32".
func seriesName(precision, block string) string {
	switch block {
	case "":
		return precision
	case "row":
		return precision + " (row)"
	}
	return precision + " (block " + block + ")"
}

var firstNumber = regexp.MustCompile(`[0-9]+`)

// BitScaling analyses the weights study's points: one row per point; one series per
// (precision, block), since the block's scales are part of the bits and the block is part of
// what is compared at a fixed budget (choosing each precision's best block by the data would
// bias the comparison); each series with points at 3 or more sizes gets its law of perplexity
// against total model bits with percentile intervals over the held-out windows (the points'
// SampleWindowNLL samples, shared windows resampled together) and seeds; and the optimal
// series at each budget.
//
// Errors: a point without perplexity, model_bits or window samples (evaluated before samples
// were recorded: evaluate it again with go run ./eval), a seed label that is not an integer, or
// the fits' errors; each names the point.
func BitScaling(points []sweep.Point, opts ScalingOptions) (*Scaling, error) {
	s := &Scaling{}
	bySeries := map[string]*laws.Series{}
	var order []string
	bits := map[string]int{}
	for _, p := range points {
		r := ScalingRow{Size: p.Labels[LabelSize], Precision: p.Labels[LabelPrecision], Block: p.Labels[LabelBlock]}
		if r.Precision == "" {
			var err error
			if r.Precision, r.Block, err = configPrecision(p.Dir); err != nil {
				return nil, fmt.Errorf("llama: bit_scaling: point %s: %w", p.Name, err)
			}
		}
		if r.Size == "" {
			r.Size = cmp.Or(p.Variant, p.Name)
		}
		r.Series = seriesName(r.Precision, r.Block)
		var ok bool
		if r.Perplexity, ok = p.Metrics[MetricPerplexity]; !ok {
			return nil, fmt.Errorf("llama: bit_scaling: point %s (%s): no metric %q", p.Name, p.Dir, MetricPerplexity)
		}
		if r.ModelBits, ok = p.Metrics[MetricModelBits]; !ok || !(r.ModelBits > 0) {
			return nil, fmt.Errorf("llama: bit_scaling: point %s (%s): metric %q missing or not positive", p.Name, p.Dir, MetricModelBits)
		}
		r.BitsPerParameter = p.Metrics[MetricBitsPerParameter]
		s.Rows = append(s.Rows, r)

		windows := p.Samples[SampleWindowNLL]
		if len(windows) == 0 {
			return nil, fmt.Errorf("llama: bit_scaling: point %s (%s) has no window samples %q: evaluate it again (go run ./eval --checkpoint DIR)",
				p.Name, p.Dir, SampleWindowNLL)
		}
		var seed int64
		if text := p.Labels[LabelSeed]; text != "" {
			var err error
			if seed, err = strconv.ParseInt(text, 10, 64); err != nil {
				return nil, fmt.Errorf("llama: bit_scaling: point %s: label %q: %w", p.Name, LabelSeed, err)
			}
		}
		if bySeries[r.Series] == nil {
			bySeries[r.Series] = &laws.Series{Name: r.Series}
			order = append(order, r.Series)
			b, err := precisionBits(p.Labels[LabelBits], r.Precision)
			if err != nil {
				return nil, fmt.Errorf("llama: bit_scaling: point %s: %w", p.Name, err)
			}
			bits[r.Series] = b
		}
		bySeries[r.Series].Points = append(bySeries[r.Series].Points, laws.Point{X: r.ModelBits, Seed: seed, Samples: windows})
	}
	var fitted []laws.Series
	for _, name := range order {
		ser := bySeries[name]
		sizes := map[float64]bool{}
		for _, p := range ser.Points {
			sizes[p.X] = true
		}
		if len(sizes) < 3 {
			s.Unfitted = append(s.Unfitted, name)
			continue
		}
		fitted = append(fitted, *ser)
		s.Bits = append(s.Bits, bits[name])
	}
	if len(fitted) == 0 {
		return s, nil
	}
	// The bands' grid: 50 points over all measured bits, and every measured bits, so that each
	// law is drawn to its first and last point.
	grid := laws.MeasuredGrid(fitted, 50)
	form := opts.Form
	if form == laws.Auto {
		form = laws.WithFloor
	}
	res, err := laws.Bootstrap(fitted, laws.BootstrapOptions{Aggregate: windowPerplexity, Replicates: opts.Replicates, Seed: opts.Seed, Grid: grid, Form: form})
	if err != nil {
		return nil, fmt.Errorf("llama: bit_scaling: %w", err)
	}
	s.Fits = res
	budgets := opts.Budgets
	if len(budgets) == 0 {
		budgets = laws.LogGrid(grid[0], grid[len(grid)-1], 5)
	}
	if s.Choices, err = laws.Optimal(res, budgets, false); err != nil {
		return nil, fmt.Errorf("llama: bit_scaling: %w", err)
	}
	return s, nil
}

// configPrecision names the weights' precision and block of the run in dir from its config's
// ptq_* keys (quant.SpecFromParams): "int4" (asymmetric) or "int4 sym", "fp4 e2m1", "nf3",
// "nf4 qlora" (method nf4, fp32 absmax), "squeezellm3", "fp32" without ptq; the block is the
// group size ("64", "4096") or "row" (one per output channel; "" for fp32).
func configPrecision(dir string) (precision, block string, err error) {
	cfg, err := framework.LoadConfig(filepath.Join(dir, framework.ConfigFile))
	if err != nil {
		return "", "", err
	}
	if err := cfg.Resolve(); err != nil {
		return "", "", fmt.Errorf("%s: %w", dir, err)
	}
	params := cfg.Params
	if params[quant.ParamPTQ].(string) == "none" {
		return "fp32", "", nil
	}
	spec := quant.SpecFromParams(params, params[quant.ParamPTQBits].(int))
	if err := spec.Validate(); err != nil {
		return "", "", fmt.Errorf("%s: %w", dir, err)
	}
	sc := spec.Scheme()
	bits := int(sc.Bits)
	switch spec.Method {
	case quant.MethodRTN:
		precision = fmt.Sprintf("int%d", bits)
		if spec.Symmetric {
			precision += " sym"
		}
	case quant.MethodFloat:
		precision = fmt.Sprintf("fp%d %s", bits, spec.FloatFormat())
	case quant.MethodNF:
		precision = fmt.Sprintf("nf%d", bits)
	case quant.MethodNF4:
		precision = "nf4 qlora"
	default:
		precision = fmt.Sprintf("%s%d", spec.Method, bits)
	}
	if spec.Hadamard {
		precision += " +had"
	}
	block = "row"
	if sc.Block > 0 {
		block = strconv.Itoa(sc.Block)
	}
	return precision, block, nil
}

// precisionBits is the bits per weight of a precision: the label bits if given, else the first
// number in its name (0 when it has none).
func precisionBits(label, precision string) (int, error) {
	text := label
	if text == "" {
		text = firstNumber.FindString(precision)
	}
	if text == "" {
		return 0, nil
	}
	b, err := strconv.Atoi(text)
	if err != nil {
		return 0, fmt.Errorf("label %q: %q is not a number of bits", LabelBits, text)
	}
	return b, nil
}

// Table renders the analysis as Markdown: (a) the points, (b) the laws with their intervals,
// (c) the optimal precision at each budget with the win shares, (d) whether 4-bit is optimal.
func (s *Scaling) Table() string {
	var b strings.Builder
	b.WriteString("| size | precision | block | held-out perplexity | total model bits | bits / param |\n|---|---|---|---:|---:|---:|\n")
	for _, r := range s.Rows {
		block := r.Block
		if block == "" {
			block = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.3f | %.0f | %.2f |\n", r.Size, r.Precision, block, r.Perplexity, r.ModelBits, r.BitsPerParameter)
	}
	b.WriteString(s.LawsTable())
	return b.String()
}

// LawsTable renders (b) to (d) of [Scaling.Table]: the laws with their intervals, the optimal
// precision at each budget with the win shares, and whether 4-bit is optimal.
func (s *Scaling) LawsTable() string {
	var b strings.Builder
	if s.Fits == nil {
		b.WriteString("\nNo series has points at 3 sizes: no law fitted.\n")
		return b.String()
	}
	level := 100 * s.Fits.Level
	fmt.Fprintf(&b, "\nLaws perplexity = c + a·bits^(−α) (c = 0 where a floor is not identifiable), %.0f%% percentile intervals over %d bootstrap replicates of the held-out windows and seeds:\n\n",
		level, s.Fits.Replicates)
	b.WriteString("| series | points | law | α | c | a | RMS |\n|---|---:|---|---|---|---|---:|\n")
	for _, f := range s.Fits.Series {
		if f.Law.Degenerate() {
			fmt.Fprintf(&b, "| %s | %d | no law: α ended at its bound (%.3g), the points show no decay to a floor | | | | %.3g |\n",
				f.Name, f.Law.N, f.Law.Alpha, f.Law.RMS)
			continue
		}
		c := "— (no floor)"
		if f.Law.Floor {
			c = fmt.Sprintf("%.3f [%.3f, %.3f]", f.Law.C, f.C.Lo, f.C.Hi)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.3f [%.3f, %.3f] | %s | %.3g [%.3g, %.3g] | %.3g |\n", f.Name, f.Law.N, f.Law,
			f.Law.Alpha, f.Alpha.Lo, f.Alpha.Hi, c, f.Law.A, f.A.Lo, f.A.Hi, f.Law.RMS)
	}
	if len(s.Unfitted) > 0 {
		fmt.Fprintf(&b, "\nNot fitted (points at fewer than 3 sizes): %s.\n", strings.Join(s.Unfitted, ", "))
	}
	b.WriteString("\nOptimal precision at a fixed budget of total model bits (law at the budget; * extrapolated beyond the series' measured bits; share: bootstrap replicates won):\n\n")
	b.WriteString("| budget (Mbit) | optimal | among measured | perplexity | win shares |\n|---:|---|---|---:|---|\n")
	for _, c := range s.Choices {
		fmt.Fprintf(&b, "| %.3g | %s | %s | %.3f | %s |\n", c.Budget/1e6, c.SeriesName(s.Fits, c.Best), c.SeriesName(s.Fits, c.BestInRange),
			c.Quality[c.Best], c.Shares(s.Fits))
	}
	b.WriteString("\n")
	for _, line := range s.Verdict() {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// Verdict says, per budget, whether a 4-bit series is optimal, with the bootstrap's share of
// replicates won by 4-bit series and a word on extrapolation: the input of the README's
// statement on the 4-bit result at this scale.
func (s *Scaling) Verdict() []string {
	var lines []string
	for _, c := range s.Choices {
		var share4 float64
		for i, b := range s.Bits {
			if b == 4 {
				share4 += c.WinShare[i]
			}
		}
		best := s.Fits.Series[c.Best].Name
		verdict := "4-bit is optimal"
		if s.Bits[c.Best] != 4 {
			verdict = fmt.Sprintf("4-bit is not optimal (%s is)", best)
		}
		note := ""
		if c.Extrapolated[c.Best] {
			note = fmt.Sprintf(" (%s extrapolated here)", best)
		}
		lines = append(lines, fmt.Sprintf("- at %.3g Mbit: %s%s; 4-bit series win %.0f%% of the bootstrap replicates.",
			c.Budget/1e6, verdict, note, 100*share4))
	}
	return lines
}

// Figure draws held-out perplexity against total model bits on log axes, one panel per data
// type at its blocks of 64 (integer, floating point, normal-float, ...) and one of the other
// blocks, every panel with the unquantized points as reference: per (precision, block) series
// its measured points and, where fitted, its law (dashed) with the 95% band, in one colour and
// marker under one legend entry (plots.LawSeries, x in Mbit).
func (s *Scaling) Figure() plots.Figure {
	measured := map[string]plotter.XYs{}
	panelOf := map[string]string{}
	var order, panels []string
	for _, r := range s.Rows {
		if !(r.Perplexity > 0) || math.IsInf(r.Perplexity, 0) {
			continue
		}
		if _, ok := measured[r.Series]; !ok {
			order = append(order, r.Series)
			panelOf[r.Series] = figurePanel(r)
			if p := panelOf[r.Series]; p != "" && !slices.Contains(panels, p) {
				panels = append(panels, p)
			}
		}
		measured[r.Series] = append(measured[r.Series], plotter.XY{X: r.ModelBits / 1e6, Y: r.Perplexity})
	}
	if len(panels) == 0 {
		panels = []string{"Held-out perplexity against total model bits"}
	}
	fits := map[string]laws.SeriesFit{}
	if s.Fits != nil {
		for _, f := range s.Fits.Series {
			fits[f.Name] = f
		}
	}
	fig := plots.Figure{Columns: 2, Width: 13 * vg.Inch, Height: vg.Length(4.5*float64((len(panels)+1)/2)) * vg.Inch}
	for _, title := range panels {
		panel := plots.Panel{Title: title, XLabel: "total model bits (Mbit)", YLabel: "held-out perplexity", LogX10: true, LogY: true}
		for _, name := range order {
			if p := panelOf[name]; p != "" && p != title {
				continue // a reference series ("") is drawn in every panel
			}
			panel.Series = append(panel.Series, plots.Series{Name: name, Points: measured[name], Style: plots.Markers})
			if f, ok := fits[name]; ok {
				if law, ok := plots.LawSeries(s.Fits.Grid, f, 1e6, true); ok {
					panel.Series = append(panel.Series, law)
				}
			}
		}
		fig.Panels = append(fig.Panels, panel)
	}
	if len(fig.Panels) == 1 {
		fig.Columns, fig.Width, fig.Height = 1, 9*vg.Inch, 6*vg.Inch
	}
	return fig
}

// figurePanel is the panel of a row's series: "" (every panel) for an unquantized point, the
// data type's panel at blocks of 64 ("int", "int sym" → "integer (blocks of 64)", "fp" →
// "floating point ...", "nf" → "normal-float ..."), else "block sizes".
func figurePanel(r ScalingRow) string {
	if r.Block == "" {
		return ""
	}
	if r.Block != "64" {
		return "other block sizes"
	}
	kind := strings.TrimRight(strings.Fields(r.Precision)[0], "0123456789")
	switch kind {
	case "int":
		return "integer (blocks of 64)"
	case "fp":
		return "floating point (blocks of 64)"
	case "nf":
		return "normal-float (blocks of 64)"
	}
	return kind + " (blocks of 64)"
}
