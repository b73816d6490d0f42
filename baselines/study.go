package baselines

// A learned codec's rate–distortion study against the peers of this package on the same
// held-out fields: every point per channel, each peer's rate interpolated at the codec's RMSE,
// the summary tables and the figure of the curves. models/vaeformer measures one
// (vaeformer.RateDistortion); the bench command (go run ./bench climate), the climate study
// (configs/climate/study.json) and the climate notebook render it.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/internal/strictjson"

	"github.com/qzoo/qzoo/internal/atomicfile"
	"github.com/qzoo/qzoo/plots"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// CodecMethod is the name of the learned codec's points (the VAEformer climate codec's).
const CodecMethod = "vaeformer"

// Study is a rate–distortion study: every point per channel, the codec's first.
type Study struct {
	File     string   `json:"file"`
	Split    string   `json:"split"`
	Hours    int      `json:"hours"`
	H        int      `json:"h"`
	W        int      `json:"w"`
	Channels []string `json:"channels"`
	Units    []string `json:"units"`
	// Points holds, per channel, the codec's points (CodecMethod, one per run) and
	// every peer setting.
	Points map[string][]Point `json:"points"`
}

// BoundedMethod names the learned codec's points in the error-bounded mode (compress
// --max_abs_error: residuals beside the payload), whose setting ends with the bound "E=…".
const BoundedMethod = CodecMethod + "+residuals"

// IsBounded tells the learned codec's error-bounded points.
func IsBounded(p Point) bool { return p.Method == BoundedMethod }

// IsCodec tells the learned codec's points (CodecMethod, or CodecMethod followed by a label) from the peers'.
func IsCodec(p Point) bool { return strings.HasPrefix(p.Method, CodecMethod) }

// Comparison is the codec's point against the best peer at the same RMSE.
type Comparison struct {
	Channel string
	Codec   Point
	// Best is the peer with the fewest bits at the codec's RMSE; Gain = Best.BitsPerValue /
	// Codec.BitsPerValue (the codec's ratio over the best peer's).
	Best        RateAtRMSE
	Gain        float64
	Unbracketed []string
}

// Compare returns, for every codec point of every channel, the best peer at its RMSE.
func (s *Study) Compare() []Comparison {
	return s.compare(IsCodec, func(peers []Point, p Point) ([]RateAtRMSE, []string) { return AtRMSE(peers, p.Errors.RMSE, false) })
}

// CompareMaxAbs returns, for every error-bounded codec point ([IsBounded]) of every channel,
// the best peer at the codec's bound on the maximum error (the setting's "E=…"; the codec's
// achieved maximum error, packing included, is at most that): [AtMaxAbs].
func (s *Study) CompareMaxAbs() []Comparison {
	return s.compare(IsBounded, func(peers []Point, p Point) ([]RateAtRMSE, []string) {
		_, e, _ := strings.Cut(p.Setting, "E=")
		bound, err := strconv.ParseFloat(e, 64)
		if err != nil {
			bound = p.Errors.MaxAbs
		}
		return AtMaxAbs(peers, bound)
	})
}

// compare returns, for every codec point that mine selects, the best of the channel's peers
// by at (rates best first).
func (s *Study) compare(mine func(Point) bool, at func(peers []Point, p Point) ([]RateAtRMSE, []string)) []Comparison {
	var out []Comparison
	for _, ch := range s.Channels {
		var peers []Point
		for _, p := range s.Points[ch] {
			if !IsCodec(p) {
				peers = append(peers, p)
			}
		}
		for _, p := range s.Points[ch] {
			if !mine(p) {
				continue
			}
			rates, unb := at(peers, p)
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
		if err := WriteTable(w, s.Points[ch]); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nvaeformer against the best peer at its RMSE (peers interpolated in log RMSE between settings; every method's bytes count its headers and side information, the codec's its whole file):")
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
	if bounded := s.CompareMaxAbs(); len(bounded) > 0 {
		fmt.Fprintln(w, "\nvaeformer error-bounded (--max_abs_error E: every value of the decompressed file within E, int16 packing included) against the best peer at maximum error E (peers interpolated in log maximum error between settings; their maximum errors are of their float32 output, before any packing):")
		for _, c := range bounded {
			if c.Gain == 0 {
				fmt.Fprintf(w, "  %s %s: max error %.4g, RMSE %.4g, %.4f bits/value; no peer brackets this maximum error (%s)\n", c.Channel, c.Codec.Setting,
					c.Codec.Errors.MaxAbs, c.Codec.Errors.RMSE, c.Codec.BitsPerValue, strings.Join(c.Unbracketed, ", "))
				continue
			}
			fmt.Fprintf(w, "  %s %s: max error %.4g, RMSE %.4g, %.4f bits/value (%.1f×); best peer %s %.4f bits/value (%.1f×): %.2f× the best peer's ratio\n",
				c.Channel, c.Codec.Setting, c.Codec.Errors.MaxAbs, c.Codec.Errors.RMSE, c.Codec.BitsPerValue, c.Codec.Ratio,
				c.Best.Method, c.Best.BitsPerValue, c.Best.Ratio, c.Gain)
		}
	}
	fmt.Fprintln(w, "\nvaeformer's speed against ZFP's setting nearest its RMSE (MB/s of float32, both from this run):")
	for _, c := range s.Compare() {
		z, ok := s.nearestRMSE(c.Channel, MethodZFP, c.Codec.Errors.RMSE)
		if !ok {
			fmt.Fprintf(w, "  %s %s: encode %.0f MB/s, decode %.0f MB/s; no ZFP point\n", c.Channel, c.Codec.Setting, c.Codec.EncodeMBps, c.Codec.DecodeMBps)
			continue
		}
		fmt.Fprintf(w, "  %s %s: encode %.0f MB/s (%.3f× zfp %s's %.0f), decode %.0f MB/s (%.3f× its %.0f)\n",
			c.Channel, c.Codec.Setting, c.Codec.EncodeMBps, c.Codec.EncodeMBps/z.EncodeMBps, z.Setting, z.EncodeMBps,
			c.Codec.DecodeMBps, c.Codec.DecodeMBps/z.DecodeMBps, z.DecodeMBps)
	}
	return nil
}

// nearestRMSE is the point of method on channel ch whose RMSE is nearest rmse in log scale.
func (s *Study) nearestRMSE(ch, method string, rmse float64) (Point, bool) {
	var best Point
	found := false
	for _, p := range s.Points[ch] {
		if p.Method != method {
			continue
		}
		if d := math.Abs(math.Log(p.Errors.RMSE / rmse)); !found || d < math.Abs(math.Log(best.Errors.RMSE/rmse)) {
			best, found = p, true
		}
	}
	return best, found
}

// FigureMethods are the peers Figure draws: the best lossless coder of each family, raw and
// demeaned (the table of Summary has them all).
var FigureMethods = []string{MethodZFP, DemeanMethod(MethodZFP), BitRoundMethod(CoderZstd19),
	DemeanMethod(BitRoundMethod(CoderZstd19)), MethodLinearPack, LinearPackMethod(CoderZstd19)}

// Figure draws, for one channel, RMSE against bits per value for the codec's points and the
// peers of FigureMethods (log axes; lower left is better), over the peers' settings with an
// RMSE below 3× the codec's largest; the error-bounded points have their own figure
// ([Study.FigureMaxAbs]).
func (s *Study) Figure(channel string) (plots.Figure, error) {
	return s.figure(channel, "RMSE", "rate–distortion", func(p Point) float64 { return p.Errors.RMSE }, func(p Point) bool { return IsCodec(p) && !IsBounded(p) })
}

// FigureMaxAbs draws, for one channel, the maximum absolute error against bits per value for
// the codec's error-bounded points ([IsBounded]) and the peers of FigureMethods, over the
// peers' settings with a maximum error below 3× the codec's largest.
func (s *Study) FigureMaxAbs(channel string) (plots.Figure, error) {
	return s.figure(channel, "maximum absolute error", "maximum error against rate", func(p Point) float64 { return p.Errors.MaxAbs }, IsBounded)
}

// figure draws metric against bits per value for the codec's points that mine selects and
// the peers of FigureMethods.
func (s *Study) figure(channel, metricName, title string, metric func(Point) float64, mine func(Point) bool) (plots.Figure, error) {
	pts, ok := s.Points[channel]
	if !ok {
		return plots.Figure{}, fmt.Errorf("baselines: no channel %q (have %v)", channel, s.Channels)
	}
	unit := s.Units[slices.Index(s.Channels, channel)]
	limit := 0.0
	for _, p := range pts {
		if mine(p) {
			limit = math.Max(limit, 3*metric(p))
		}
	}
	if limit == 0 {
		return plots.Figure{}, fmt.Errorf("baselines: channel %q has no codec point to draw (%s)", channel, title)
	}
	series := map[string]plotter.XYs{}
	var order []string
	for _, p := range pts {
		if IsCodec(p) && !mine(p) {
			continue
		}
		if !(metric(p) > 0) || math.IsInf(p.BitsPerValue, 0) || (!IsCodec(p) && (!slices.Contains(FigureMethods, p.Method) || metric(p) > limit)) {
			continue
		}
		name := p.Method
		if _, step, ok := strings.Cut(p.Setting, "step "); ok && IsCodec(p) {
			step, _, _ = strings.Cut(step, " ")
			name = fmt.Sprintf("%s, %s steps", p.Method, step) // runs of one training length form a curve
		}
		if _, ok := series[name]; !ok {
			order = append(order, name)
		}
		series[name] = append(series[name], plotter.XY{X: p.BitsPerValue, Y: metric(p)})
	}
	for _, m := range order {
		slices.SortFunc(series[m], func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	}
	return plots.Figure{Width: 8 * vg.Inch, Height: 5 * vg.Inch, Panels: []plots.Panel{{
		Title:  fmt.Sprintf("%s: %s on %d held-out hours (%d×%d grid)", channel, title, s.Hours, s.H, s.W),
		XLabel: "bits per value", YLabel: fmt.Sprintf("%s (%s)", metricName, unit), LogX: true, LogY: true,
		Series: plots.SeriesInOrder(series, order),
	}}}, nil
}

// WriteJSON writes the study to path atomically.
func (s *Study) WriteJSON(path string) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return fmt.Errorf("baselines: %w", err)
	}
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("baselines: write %s: %w", path, err)
	}
	return nil
}

// ReadJSON reads a study written by WriteJSON, or the report of go run ./bench climate --json
// (package bench/harness's schema), which holds the study as its "details".
func ReadJSON(path string) (*Study, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("baselines: %w", err)
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
		return nil, fmt.Errorf("baselines: %s: %w", path, strictjson.Describe(b, err))
	}
	if len(s.Channels) == 0 || len(s.Units) != len(s.Channels) {
		return nil, fmt.Errorf("baselines: %s: %d channels, %d units", path, len(s.Channels), len(s.Units))
	}
	return &s, nil
}

// Maps draws one hour of a channel: the original, the reconstruction (same colour scale) and
// their difference (a symmetric scale). orig and recon are [T·H·W] over lat [H] and lon [W].
func Maps(orig, recon []float32, lat, lon []float64, unit string, hour int) (plots.Figure, error) {
	hw := len(lat) * len(lon)
	if hw == 0 || len(orig) != len(recon) || len(orig)%hw != 0 || hour < 0 || (hour+1)*hw > len(orig) {
		return plots.Figure{}, fmt.Errorf("baselines: maps of hour %d: %d and %d values on a %d×%d grid", hour, len(orig), len(recon), len(lat), len(lon))
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
