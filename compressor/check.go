package compressor

// What compress checks: the error it achieved, decoding the payload it is about to write, and
// how far the input lies from the statistics the model was trained on.

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/media"
	"github.com/qzoo/qzoo/metrics"
)

// The limits past which an input channel is out of the training distribution, in the
// training statistics of the model's normalisation (Compressor.Normalisation: the training
// split's mean μ and standard deviation σ per channel). On the UK March 2 m temperature the
// held-out week lies within 0.3 σ of the training mean, at 0.98× its σ, and within 5.4 σ at
// its extremes (the training hours themselves reach 6.4 σ); a January dewpoint field over
// central Europe, coded with that model, has its mean 3.0 σ away and its minimum 15 σ below.
const (
	// OODMeanSigmas: a channel whose mean lies more than this many σ from μ.
	OODMeanSigmas = 3
	// OODStdRatio: a channel whose standard deviation is more than this many times σ, or less
	// than σ divided by it.
	OODStdRatio = 3
	// OODExtremeSigmas: a channel whose minimum or maximum lies more than this many σ from μ.
	OODExtremeSigmas = 8
)

// ChannelCheck is what compressing found for one channel: the error of the decoded payload
// against the input, the input's statistics, and warnings where they lie far outside the
// training statistics. Values are in the channel's physical units.
type ChannelCheck struct {
	Channel string
	// Errors are the decoded payload's errors against the input (metrics.CompareFields, all
	// latitude rows weighted alike): RMSE and MaxAbs in physical units.
	Errors metrics.FieldErrors
	// Mean, Std, Min and Max describe the input channel.
	Mean, Std, Min, Max float64
	// TrainMean and TrainStd are the model's training statistics for the channel; zero when
	// the model does not normalise.
	TrainMean, TrainStd float64
	// Warnings say, naming the channel and the statistic, where the input lies past
	// OODMeanSigmas, OODStdRatio or OODExtremeSigmas.
	Warnings []string
}

// checkChannels compares the decoded signal with the input, channel by channel, and the input
// with the training statistics mean and std (nil: none); units (by variable, as
// media.Source.Units) spell the warnings' values.
func checkChannels(in, decoded media.Signal, mean, std []float64, units map[string]string) ([]ChannelCheck, error) {
	if len(decoded.Data) != len(in.Data) || !slices.Equal(decoded.Shape, in.Shape) {
		return nil, fmt.Errorf("compressor: decoding what was coded gave %d channels of shape %v, not %d of shape %v",
			len(decoded.Data), decoded.Shape, len(in.Data), in.Shape)
	}
	shape := in.Shape
	if len(shape) == 1 {
		shape = []int{1, shape[0]}
	}
	checks := make([]ChannelCheck, len(in.Data))
	for i, x := range in.Data {
		errs, err := metrics.CompareFields(x, decoded.Data[i], shape, nil)
		if err != nil {
			return nil, fmt.Errorf("compressor: channel %s: %w", in.Channels[i], err)
		}
		c := ChannelCheck{Channel: in.Channels[i], Errors: errs}
		c.Mean, c.Std, c.Min, c.Max = stats(x)
		if len(mean) == len(in.Data) && len(std) == len(in.Data) && std[i] > 0 {
			c.TrainMean, c.TrainStd = mean[i], std[i]
			c.Warnings = outOfDistribution(c, UnitsOf(c.Channel, units))
		}
		checks[i] = c
	}
	return checks, nil
}

// stats returns the mean, (population) standard deviation, minimum and maximum of x's finite
// values (missing values, NaN, are not counted), in float64; NaNs when none is finite.
func stats(x []float32) (mean, std, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	n := 0
	for _, v := range x {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		mean += f
		lo, hi = math.Min(lo, f), math.Max(hi, f)
		n++
	}
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	mean /= float64(n)
	for _, v := range x {
		if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
			std += (f - mean) * (f - mean)
		}
	}
	return mean, math.Sqrt(std / float64(n)), lo, hi
}

// outOfDistribution returns a warning for each statistic of c past its limit, values in units.
func outOfDistribution(c ChannelCheck, units string) []string {
	var w []string
	mu, sigma := c.TrainMean, c.TrainStd
	q := func(v float64) string { return Quantity(v, units) }
	if z := (c.Mean - mu) / sigma; math.Abs(z) > OODMeanSigmas {
		w = append(w, fmt.Sprintf("%s: its mean %s is %.1f training standard deviations (σ = %s) %s the training mean %s (limit %d σ)",
			c.Channel, q(c.Mean), math.Abs(z), q(sigma), side(z), q(mu), OODMeanSigmas))
	}
	if r := c.Std / sigma; r > OODStdRatio || r < 1.0/OODStdRatio {
		w = append(w, fmt.Sprintf("%s: its standard deviation %s is %.2f× the training one (σ = %s; limits 1/%d× to %d×)",
			c.Channel, q(c.Std), r, q(sigma), OODStdRatio, OODStdRatio))
	}
	for _, e := range []struct {
		name string
		v    float64
	}{{"minimum", c.Min}, {"maximum", c.Max}} {
		if z := (e.v - mu) / sigma; math.Abs(z) > OODExtremeSigmas {
			w = append(w, fmt.Sprintf("%s: its %s %s is %.1f training standard deviations (σ = %s) %s the training mean %s (limit %d σ)",
				c.Channel, e.name, q(e.v), math.Abs(z), q(sigma), side(z), q(mu), OODExtremeSigmas))
		}
	}
	return w
}

func side(z float64) string {
	if z < 0 {
		return "below"
	}
	return "above"
}

// Bounds are the largest RMSE allowed per channel, in each channel's physical units, keyed by
// channel ("q@850"), variable ("q": every level of it) or "" (every channel); the most
// specific key that names a channel applies to it.
type Bounds map[string]float64

// ParseBounds reads --max_rmse's value: a number R bounds every channel's RMSE by R in its
// own units; "t2m=0.5,q=2e-4,q@850=1e-4" bounds channels of several variables one by one (a
// channel that no key names is not bounded). Bounds must be finite and > 0; a key may not
// repeat. --max_abs_error's value reads the same way ([ParseMaxAbsError]).
func ParseBounds(s string) (Bounds, error) { return parseBounds(s, "max RMSE") }

// ParseMaxAbsError reads --max_abs_error's value, as [ParseBounds] does --max_rmse's.
func ParseMaxAbsError(s string) (Bounds, error) { return parseBounds(s, "max absolute error") }

func parseBounds(s, what string) (Bounds, error) {
	b := Bounds{}
	for _, part := range strings.Split(s, ",") {
		key, val, named := strings.Cut(strings.TrimSpace(part), "=")
		if !named {
			key, val = "", key
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || !(r > 0) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("compressor: %s %q: want a number > 0, or NAME=R pairs joined by commas (t2m=0.5,q@850=1e-4)", what, part)
		}
		key = strings.TrimSpace(key)
		if _, dup := b[key]; dup {
			return nil, fmt.Errorf("compressor: %s %q: %q bounded twice", what, s, key)
		}
		if named && key == "" {
			return nil, fmt.Errorf("compressor: %s %q: a bound with no name before =", what, part)
		}
		b[key] = r
	}
	return b, nil
}

// forChannel returns the bound that applies to channel ch and whether one does.
func (b Bounds) forChannel(ch string) (float64, bool) {
	if r, ok := b[ch]; ok {
		return r, true
	}
	if base, _, hasLevel := strings.Cut(ch, "@"); hasLevel {
		if r, ok := b[base]; ok {
			return r, true
		}
	}
	r, ok := b[""]
	return r, ok
}

// check returns an error naming every channel whose RMSE in checks exceeds its bound, with
// the achieved value; and an error for a key that names no channel coded.
func (b Bounds) check(checks []ChannelCheck, units map[string]string) error {
	var channels []string
	for _, c := range checks {
		channels = append(channels, c.Channel)
	}
	if err := b.known("max RMSE", channels); err != nil {
		return err
	}
	var missed []string
	for _, c := range checks {
		if r, ok := b.forChannel(c.Channel); ok && !(c.Errors.RMSE <= r) {
			u := UnitsOf(c.Channel, units)
			missed = append(missed, fmt.Sprintf("%s achieved RMSE %s > the bound %s", c.Channel, Quantity(c.Errors.RMSE, u), Quantity(r, u)))
		}
	}
	if len(missed) > 0 {
		return fmt.Errorf("compressor: the maximum RMSE is missed, nothing written: %s", strings.Join(missed, "; "))
	}
	return nil
}

// known returns an error for a key of b that names none of channels.
func (b Bounds) known(what string, channels []string) error {
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if k != "" && !slices.ContainsFunc(channels, func(ch string) bool { base, _, _ := strings.Cut(ch, "@"); return ch == k || base == k }) {
			return fmt.Errorf("compressor: %s bounds %s, which is not coded (the channels: %s)", what, k, strings.Join(channels, ", "))
		}
	}
	return nil
}

// UnitsOf returns channel ch's units from units (keyed by variable name, as media.Source.Units),
// "" when unknown.
func UnitsOf(ch string, units map[string]string) string {
	base, _, _ := strings.Cut(ch, "@")
	return units[base]
}

// Quantity spells v with 4 significant digits followed by its units, if any ("0.4936 K").
func Quantity(v float64, units string) string {
	if units == "" {
		return fmt.Sprintf("%.4g", v)
	}
	return fmt.Sprintf("%.4g %s", v, units)
}
