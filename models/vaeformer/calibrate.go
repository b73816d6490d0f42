package vaeformer

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/datasets/era5"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/metrics"
)

// channelsOf returns the channels and window a run codes, from its resolved params (the
// dataset's era5_variables and era5_window).
func channelsOf(params map[string]any) (channels []string, window int, err error) {
	_, cfg, err := era5.ConfigFromParams(params)
	if err != nil {
		return nil, 0, fmt.Errorf("vaeformer: %w", err)
	}
	if len(cfg.Channels) == 0 {
		return nil, 0, fmt.Errorf("vaeformer: %s names no variable", era5.ParamVariables)
	}
	return cfg.Channels, cfg.Window, nil
}

// source returns the era5 dataset behind ctx, or an error naming the dataset the model needs.
func source(ctx *framework.EvalContext) (*era5.Dataset, error) {
	src, ok := ctx.Data.Source.(*era5.Dataset)
	if !ok {
		return nil, fmt.Errorf("vaeformer: needs the era5 dataset (its normalisation and coordinates), got %T", ctx.Data.Source)
	}
	return src, nil
}

// ConstantStdFraction sets the standard deviation Calibrate gives a channel that is constant on
// the training split (specific humidity at 10 and 40 hPa, packed in int16, holds one value for a
// day): this fraction of its mean's magnitude, or minConstantStd for a channel of zeros, so that
// it normalises to zeros and its decoded error scales with its own magnitude.
const ConstantStdFraction = 1e-3

// minConstantStd is the standard deviation of a channel that is zero on the whole training split.
const minConstantStd = 1e-20

// Calibrate sets the normalisation variables from the training split: each channel's mean and
// standard deviation (a constant channel's from ConstantStdFraction), and the cos(latitude)
// weights of the training grid.
func Calibrate(ctx *framework.EvalContext) error {
	src, err := source(ctx)
	if err != nil {
		return err
	}
	mean := make([]float32, len(src.Mean))
	std := make([]float32, len(src.Std))
	for i := range mean {
		mean[i], std[i] = float32(src.Mean[i]), float32(src.Std[i])
		if math.IsNaN(src.Std[i]) || math.IsInf(src.Std[i], 0) || math.IsNaN(src.Mean[i]) || math.IsInf(src.Mean[i], 0) {
			return fmt.Errorf("vaeformer: channel %s has mean %v and standard deviation %v on the training split", src.Channels[i], src.Mean[i], src.Std[i])
		}
		if !(std[i] > 0) {
			std[i] = float32(max(ConstantStdFraction*math.Abs(src.Mean[i]), minConstantStd))
			fmt.Fprintf(ctx.Out, "vaeformer: channel %s is constant (%.6g %s) on the training split: normalised with standard deviation %.3g\n",
				src.Channels[i], src.Mean[i], src.Units[i], std[i])
		}
	}
	w := metrics.LatCosWeights(src.Lat)
	lw := make([]float32, len(w))
	for i, v := range w {
		lw[i] = float32(v)
	}
	scope := ctx.Store.RootScope().In(scopeNorm)
	for name, data := range map[string][]float32{varMean: mean, varStd: std, varLatWeights: lw} {
		if err := setVariable(scope, name, data); err != nil {
			return err
		}
	}
	fmt.Fprintf(ctx.Out, "vaeformer: normalisation from the training split: %s\n", describeNorm(src))
	return nil
}

func describeNorm(src *era5.Dataset) string {
	parts := make([]string, len(src.Channels))
	for i, c := range src.Channels {
		parts[i] = fmt.Sprintf("%s mean %.4g std %.4g %s", c, src.Mean[i], src.Std[i], src.Units[i])
	}
	return strings.Join(parts, "; ")
}

// setVariable creates or overwrites the non-trainable variable name in scope with data [len].
func setVariable(scope *model.Scope, name string, data []float32) error {
	t := tensors.FromFlatDataAndDimensions(append([]float32(nil), data...), len(data))
	if v := scope.GetVariable(name); v != nil {
		if err := v.SetValue(t); err != nil {
			return fmt.Errorf("vaeformer: set %s: %w", name, err)
		}
		v.SetTrainable(false)
		return nil
	}
	v, err := scope.CreateVariable(name, t)
	if err != nil {
		return fmt.Errorf("vaeformer: create %s: %w", name, err)
	}
	v.SetTrainable(false)
	return nil
}

// Evaluate compresses the whole evaluation split with the real codec (entropy-coded
// bitstream), decompresses it, and reports, per channel c: rmse_c, lat_rmse_c and max_abs_c
// in physical units; over all: bits_per_value (the payload's), estimated_bits_per_value (the
// model's rate), payload_vs_estimate (payload bits / estimated bits − 1), ratio_float32
// (32 / bits per value), ratio_source (the source file's bytes per value over the payload's),
// encode_mbps and decode_mbps (MB of float32 fields per second, 1 MB = 10^6 bytes).
func Evaluate(ctx *framework.EvalContext) (map[string]float64, error) {
	src, err := source(ctx)
	if err != nil {
		return nil, err
	}
	fields, hours, err := src.SplitFields(ctx.Split)
	if err != nil {
		return nil, err
	}
	codec, err := NewCodec(ctx.Backend, ctx.Store, ctx.Config)
	if err != nil {
		return nil, err
	}
	defer codec.Close()
	m, err := codec.Measure(fields, Geometry{T: hours, H: len(src.Lat), W: len(src.Lon)}, src.Lat)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for ch, name := range src.Channels {
		out["rmse_"+name] = m.Errors[ch].RMSE
		out["lat_rmse_"+name] = m.Errors[ch].LatRMSE
		out["max_abs_"+name] = m.Errors[ch].MaxAbs
	}
	enc, dec := m.Encode, m.Decode
	bpv := 8 * float64(enc.PayloadBytes) / float64(enc.Values)
	out["bits_per_value"] = bpv
	out["estimated_bits_per_value"] = enc.EstimatedBits / float64(enc.Values)
	out["payload_vs_estimate"] = 8*float64(enc.PayloadBytes)/enc.EstimatedBits - 1
	out["ratio_float32"] = 32 / bpv
	out["ratio_source"] = 8 * src.SourceBytesPerValue / bpv
	mb := 4 * float64(enc.Values) / 1e6
	out["encode_mbps"] = mb / enc.Seconds
	out["decode_mbps"] = mb / dec.Seconds
	return out, nil
}
