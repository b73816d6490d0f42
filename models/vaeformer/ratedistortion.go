package vaeformer

import (
	"fmt"
	"io"

	"github.com/qzoo/qzoo/baselines"
	"github.com/qzoo/qzoo/datasets/era5"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/metrics"
)

// RDOptions choose the fields RateDistortion measures.
type RDOptions struct {
	// DataDir is where the runs' dataset is looked for ("" = the default search path).
	DataDir string
	// Split is the held-out split coded ("test" by default).
	Split string
	// Hours, if positive, keeps only the split's first Hours hours.
	Hours int
	// SkipZFP leaves ZFP out (it needs Debian's python3-zfpy).
	SkipZFP bool
	// Repeats times each peer setting, and each codec's encode and decode, this many times,
	// the fastest counting (default 1).
	Repeats int
}

// RateDistortion codes the held-out split of the runs' dataset with each run's codec and with
// every peer of package baselines (ZFP, bit-rounding + shuffle + a lossless coder, linear
// packing): rate–distortion points in bits per value against RMSE in physical units. The runs
// must share their dataset (file, channels, splits): the first run's is used.
func RateDistortion(runDirs []string, opts RDOptions, log io.Writer) (*baselines.Study, error) {
	if len(runDirs) == 0 {
		return nil, fmt.Errorf("vaeformer: no run directory given")
	}
	if opts.Split == "" {
		opts.Split = framework.SplitTest
	}
	var src *era5.Dataset
	var fields [][]float32
	var s *baselines.Study
	var g Geometry
	var key string
	for _, dir := range runDirs {
		codec, err := LoadCodec(dir)
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
			g = Geometry{T: hours, H: len(src.Lat), W: len(src.Lon)}
			s = &baselines.Study{File: fmt.Sprint(params[era5.ParamFile]), Split: opts.Split, Hours: hours, H: g.H, W: g.W,
				Channels: src.Channels, Units: src.Units, Points: map[string][]baselines.Point{}}
		} else if k != key {
			codec.Close()
			return nil, fmt.Errorf("vaeformer: run %s uses dataset %s, the first run %s", dir, k, key)
		}
		pts, err := CodecPoints(codec, fields, g, src.Lat, fmt.Sprintf("λ=%g w=%d step %d", params[ParamLambda], codec.Window, codec.Step), opts.Repeats)
		codec.Close()
		if err != nil {
			return nil, fmt.Errorf("vaeformer: run %s: %w", dir, err)
		}
		for ch, p := range pts {
			s.Points[s.Channels[ch]] = append(s.Points[s.Channels[ch]], p)
		}
		fmt.Fprintf(log, "vaeformer: %s: %s\n", dir, pts[0].Setting)
	}
	weights := metrics.LatCosWeights(src.Lat)
	for ch, name := range s.Channels {
		fmt.Fprintf(log, "vaeformer: peers on %s (%d values)\n", name, len(fields[ch]))
		peers, err := baselines.Sweep(fields[ch], []int{g.T, g.H, g.W}, baselines.SweepOptions{LatWeights: weights, SkipZFP: opts.SkipZFP, Repeats: opts.Repeats})
		if err != nil {
			return nil, err
		}
		s.Points[name] = append(s.Points[name], peers...)
	}
	return s, nil
}

// CodecPoints codes fields with the codec, decodes them and returns one point per channel
// (each channel's point carries the whole payload's bits per value). Times are the fastest of
// repeats passes after the one that compiles the graphs ([Codec.MeasureBest]).
func CodecPoints(c *Codec, fields [][]float32, g Geometry, lat []float64, setting string, repeats int) ([]baselines.Point, error) {
	m, err := c.MeasureBest(fields, g, lat, repeats)
	if err != nil {
		return nil, err
	}
	n := g.T * g.H * g.W * len(fields)
	out := make([]baselines.Point, len(fields))
	for ch := range fields {
		out[ch] = baselines.NewPoint(baselines.CodecMethod, setting, len(m.Payload), n, m.Errors[ch], m.Encode.Seconds, m.Decode.Seconds)
	}
	return out, nil
}
