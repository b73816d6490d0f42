// Package rd measures the VAEformer climate codec against the lossy compressors climate
// scientists use — ZFP, bit-rounding + shuffle + a lossless coder (Klöwer et al. 2021) and
// linear n-bit packing (ERA5's own int16) — on the same held-out fields, in the same process:
// rate–distortion points (bits per value against RMSE in physical units), each peer's rate
// interpolated at the codec's RMSE, and the figure of the curves. The bench command (go run
// ./bench climate) and the climate notebook call it.
package rd

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/baselines"
	"github.com/qzoo/qzoo/datasets/era5"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/metrics"
	"github.com/qzoo/qzoo/models/vaeformer"
	"github.com/qzoo/qzoo/plots"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Method is the name of the learned codec's points.
const Method = "vaeformer"

// Options choose the fields a study measures.
type Options struct {
	// DataDir is where the runs' dataset is looked for ("" = the default search path).
	DataDir string
	// Split is the held-out split coded ("test" by default).
	Split string
	// Hours, if positive, keeps only the split's first Hours hours.
	Hours int
	// SkipZFP leaves ZFP out (it needs Debian's python3-zfpy).
	SkipZFP bool
	// Repeats times each peer setting this many times, the fastest counting (default 1).
	Repeats int
}

// Study is the outcome: every point per channel, the codec's first.
type Study struct {
	File     string   `json:"file"`
	Split    string   `json:"split"`
	Hours    int      `json:"hours"`
	H        int      `json:"h"`
	W        int      `json:"w"`
	Channels []string `json:"channels"`
	Units    []string `json:"units"`
	// Points holds, per channel, the codec's points (Method "vaeformer", one per run) and
	// every peer setting.
	Points map[string][]baselines.Point `json:"points"`
}

// Run codes the held-out split of the runs' dataset with each run's codec and with every peer.
// The runs must share their dataset (file, channels, splits): the first run's is used.
func Run(runDirs []string, opts Options, log io.Writer) (*Study, error) {
	if len(runDirs) == 0 {
		return nil, fmt.Errorf("rd: no run directory given")
	}
	if opts.Split == "" {
		opts.Split = framework.SplitTest
	}
	var src *era5.Dataset
	var fields [][]float32
	var s *Study
	var g vaeformer.Geometry
	var key string
	for _, dir := range runDirs {
		codec, err := vaeformer.LoadCodec(dir)
		if err != nil {
			return nil, err
		}
		params := codec.Params
		k := fmt.Sprint(params[era5.ParamFile], "|", params[era5.ParamVariables], "|", params[era5.ParamTestHours], "|", params[era5.ParamValidationHours])
		if src == nil {
			key = k
			data, err := framework.LoadDataset("era5", opts.DataDir, params)
			if err != nil {
				codec.Close()
				return nil, err
			}
			src = data.Source.(*era5.Dataset)
			all, hours, err := src.SplitFields(opts.Split)
			if err != nil {
				codec.Close()
				return nil, err
			}
			if opts.Hours > 0 && opts.Hours < hours {
				hw := len(src.Lat) * len(src.Lon)
				for i := range all {
					all[i] = all[i][:opts.Hours*hw]
				}
				hours = opts.Hours
			}
			fields = all
			g = vaeformer.Geometry{T: hours, H: len(src.Lat), W: len(src.Lon)}
			s = &Study{File: fmt.Sprint(params[era5.ParamFile]), Split: opts.Split, Hours: hours, H: g.H, W: g.W,
				Channels: src.Channels, Units: src.Units, Points: map[string][]baselines.Point{}}
		} else if k != key {
			codec.Close()
			return nil, fmt.Errorf("rd: run %s uses dataset %s, the first run %s", dir, k, key)
		}
		pts, err := CodecPoints(codec, fields, g, src.Lat, fmt.Sprintf("λ=%g w=%d step %d", params[vaeformer.ParamLambda], codec.Window, codec.Step))
		codec.Close()
		if err != nil {
			return nil, fmt.Errorf("rd: run %s: %w", dir, err)
		}
		for ch, p := range pts {
			s.Points[s.Channels[ch]] = append(s.Points[s.Channels[ch]], p)
		}
		fmt.Fprintf(log, "rd: %s: %s\n", dir, pts[0].Setting)
	}
	weights := metrics.LatCosWeights(src.Lat)
	for ch, name := range s.Channels {
		fmt.Fprintf(log, "rd: peers on %s (%d values)\n", name, len(fields[ch]))
		peers, err := baselines.Sweep(fields[ch], []int{g.T, g.H, g.W}, baselines.SweepOptions{LatWeights: weights, SkipZFP: opts.SkipZFP, Repeats: opts.Repeats})
		if err != nil {
			return nil, err
		}
		s.Points[name] = append(s.Points[name], peers...)
	}
	return s, nil
}

// CodecPoints codes fields with the codec, decodes them and returns one point per channel
// (each channel's point carries the whole payload's bits per value). Times are of a second
// pass, after the graphs are compiled ([vaeformer.Codec.Measure]).
func CodecPoints(c *vaeformer.Codec, fields [][]float32, g vaeformer.Geometry, lat []float64, setting string) ([]baselines.Point, error) {
	m, err := c.Measure(fields, g, lat)
	if err != nil {
		return nil, err
	}
	n := g.T * g.H * g.W * len(fields)
	out := make([]baselines.Point, len(fields))
	for ch := range fields {
		out[ch] = baselines.NewPoint(Method, setting, len(m.Payload), n, m.Errors[ch], m.Encode.Seconds, m.Decode.Seconds)
	}
	return out, nil
}

// IsCodec tells the learned codec's points (Method, or Method followed by a label) from the peers'.
func IsCodec(p baselines.Point) bool { return strings.HasPrefix(p.Method, Method) }

// Comparison is the codec's point against the best peer at the same RMSE.
type Comparison struct {
	Channel string
	Codec   baselines.Point
	// Best is the peer with the fewest bits at the codec's RMSE; Gain = Best.BitsPerValue /
	// Codec.BitsPerValue (the codec's ratio over the best peer's).
	Best        baselines.RateAtRMSE
	Gain        float64
	Unbracketed []string
}

// Compare returns, for every codec point of every channel, the best peer at its RMSE.
func (s *Study) Compare() []Comparison {
	var out []Comparison
	for _, ch := range s.Channels {
		var peers []baselines.Point
		for _, p := range s.Points[ch] {
			if !IsCodec(p) {
				peers = append(peers, p)
			}
		}
		for _, p := range s.Points[ch] {
			if !IsCodec(p) {
				continue
			}
			rates, unb := baselines.AtRMSE(peers, p.Errors.RMSE, false)
			c := Comparison{Channel: ch, Codec: p, Unbracketed: unb}
			if len(rates) > 0 {
				c.Best, c.Gain = rates[0], rates[0].BitsPerValue/p.BitsPerValue
			}
			out = append(out, c)
		}
	}
	return out
}

// Summary writes every point and the comparisons as text tables.
func (s *Study) Summary(w io.Writer) error {
	for i, ch := range s.Channels {
		fmt.Fprintf(w, "%s [%s], %s split, %d hours on %d×%d (%s):\n", ch, s.Units[i], s.Split, s.Hours, s.H, s.W, s.File)
		if err := baselines.WriteTable(w, s.Points[ch]); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nvaeformer against the best peer at its RMSE (peers interpolated in log RMSE between settings):")
	for _, c := range s.Compare() {
		if c.Gain == 0 {
			fmt.Fprintf(w, "  %s %s: RMSE %.4g, %.4f bits/value; no peer brackets this RMSE (%s)\n", c.Channel, c.Codec.Setting,
				c.Codec.Errors.RMSE, c.Codec.BitsPerValue, strings.Join(c.Unbracketed, ", "))
			continue
		}
		fmt.Fprintf(w, "  %s %s: RMSE %.4g, %.4f bits/value (%.1f×); best peer %s %.4f bits/value (%.1f×): %.2f× the best peer's ratio\n",
			c.Channel, c.Codec.Setting, c.Codec.Errors.RMSE, c.Codec.BitsPerValue, c.Codec.Ratio,
			c.Best.Method, c.Best.BitsPerValue, c.Best.Ratio, c.Gain)
	}
	return nil
}

// FigureMethods are the peers Figure draws: the best lossless coder of each family (the
// table of Summary has them all).
var FigureMethods = []string{baselines.MethodZFP, baselines.BitRoundMethod(baselines.CoderZstd19),
	baselines.MethodLinearPack, baselines.LinearPackMethod(baselines.CoderZstd19)}

// Figure draws, for one channel, RMSE against bits per value for the codec's points and the
// peers of FigureMethods (log axes; lower left is better), over the peers' settings with an
// RMSE below 3× the codec's largest.
func (s *Study) Figure(channel string) (plots.Figure, error) {
	pts, ok := s.Points[channel]
	if !ok {
		return plots.Figure{}, fmt.Errorf("rd: no channel %q (have %v)", channel, s.Channels)
	}
	unit := s.Units[slices.Index(s.Channels, channel)]
	limit := 0.0
	for _, p := range pts {
		if IsCodec(p) {
			limit = math.Max(limit, 3*p.Errors.RMSE)
		}
	}
	series := map[string]plotter.XYs{}
	var order []string
	for _, p := range pts {
		if !(p.Errors.RMSE > 0) || math.IsInf(p.BitsPerValue, 0) || (!IsCodec(p) && (!slices.Contains(FigureMethods, p.Method) || p.Errors.RMSE > limit)) {
			continue
		}
		name := p.Method
		if _, step, ok := strings.Cut(p.Setting, "step "); ok && IsCodec(p) {
			name = fmt.Sprintf("%s, %s steps", p.Method, step) // runs of one training length form a curve
		}
		if _, ok := series[name]; !ok {
			order = append(order, name)
		}
		series[name] = append(series[name], plotter.XY{X: p.BitsPerValue, Y: p.Errors.RMSE})
	}
	for _, m := range order {
		slices.SortFunc(series[m], func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	}
	return plots.Figure{Width: 8 * vg.Inch, Height: 5 * vg.Inch, Panels: []plots.Panel{{
		Title:  fmt.Sprintf("%s: rate–distortion on %d held-out hours (%d×%d grid)", channel, s.Hours, s.H, s.W),
		XLabel: "bits per value", YLabel: fmt.Sprintf("RMSE (%s)", unit), LogX: true, LogY: true,
		Series: plots.SeriesInOrder(series, order),
	}}}, nil
}

// WriteJSON writes the study to path atomically.
func (s *Study) WriteJSON(path string) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return fmt.Errorf("rd: %w", err)
	}
	return framework.WriteFileAtomic(path, b)
}

// ReadJSON reads a study written by WriteJSON, or the report of go run ./bench climate --json
// (package bench/harness's schema), which holds the study as its "details".
func ReadJSON(path string) (*Study, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rd: %w", err)
	}
	var report struct {
		Benchmark string          `json:"benchmark"`
		Details   json.RawMessage `json:"details"`
	}
	if json.Unmarshal(b, &report) == nil && report.Benchmark != "" && len(report.Details) > 0 {
		b = report.Details
	}
	var s Study
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("rd: %s: %w", path, err)
	}
	if len(s.Channels) == 0 || len(s.Units) != len(s.Channels) {
		return nil, fmt.Errorf("rd: %s: %d channels, %d units", path, len(s.Channels), len(s.Units))
	}
	return &s, nil
}

// Maps draws one hour of a channel: the original, the reconstruction (same colour scale) and
// their difference (a symmetric scale). orig and recon are [T·H·W] over lat [H] and lon [W].
func Maps(orig, recon []float32, lat, lon []float64, unit string, hour int) (plots.Figure, error) {
	hw := len(lat) * len(lon)
	if hw == 0 || len(orig) != len(recon) || len(orig)%hw != 0 || hour < 0 || (hour+1)*hw > len(orig) {
		return plots.Figure{}, fmt.Errorf("rd: maps of hour %d: %d and %d values on a %d×%d grid", hour, len(orig), len(recon), len(lat), len(lon))
	}
	o, r := orig[hour*hw:(hour+1)*hw], recon[hour*hw:(hour+1)*hw]
	diff := make([]float32, hw)
	lo, hi, maxErr := math.Inf(1), math.Inf(-1), 0.0
	for i := range o {
		diff[i] = r[i] - o[i]
		lo, hi = math.Min(lo, float64(o[i])), math.Max(hi, float64(o[i]))
		maxErr = math.Max(maxErr, math.Abs(float64(diff[i])))
	}
	return plots.Figure{Panels: []plots.Panel{
		plots.HeatMap(fmt.Sprintf("original (%s)", unit), plots.Grid{Lat: lat, Lon: lon, Values: o}, lo, hi),
		plots.HeatMap(fmt.Sprintf("reconstruction (%s)", unit), plots.Grid{Lat: lat, Lon: lon, Values: r}, lo, hi),
		plots.HeatMap(fmt.Sprintf("error (%s)", unit), plots.Grid{Lat: lat, Lon: lon, Values: diff}, -maxErr, maxErr),
	}}, nil
}
