package vaeformer

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/qzoo/qzoo/baselines"
	"github.com/qzoo/qzoo/compressor"
	"github.com/qzoo/qzoo/datasets/era5"
	nc "github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/media"
	_ "github.com/qzoo/qzoo/media/netcdf" // the front end that reads the split's netCDF files for the whole file
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
	// MaxAbsErrors are bounds E (the first channel's units; every channel bounded alike) at
	// which each run also codes the split in the error-bounded mode (compressor.Options.
	// MaxAbsError): points of method baselines.BoundedMethod, measured on the decompressed
	// netCDF file as read back (packing included).
	MaxAbsErrors []float64
}

// RateDistortion codes the held-out split of the runs' dataset with each run's codec and with
// every peer of package baselines (ZFP and bit-rounding + shuffle + a lossless coder, raw and
// on the field minus its mean, linear packing): rate–distortion points in bits per value
// against RMSE in physical units. The runs must share their dataset (file, channels, splits):
// the first run's is used.
//
// A codec's bits are those of its whole .qzc file, as `codec compress` writes it for a netCDF
// file holding the split's hours (written to a temporary directory under the source's base
// name, with its packing): container header (model identity, normalisation, the source's
// coordinates and attributes) and framing included. That file's payload must be the one
// measured, bit for bit, or RateDistortion fails.
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
	var splitFiles []string
	tmp, err := os.MkdirTemp("", "qzoo-rd-")
	if err != nil {
		return nil, fmt.Errorf("vaeformer: %w", err)
	}
	defer os.RemoveAll(tmp)
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
			r, _ := src.SplitHours(opts.Split) // SplitFields checked the split
			if splitFiles, err = writeHours(src.Files, r[0], r[0]+hours, filepath.Join(tmp, "split")); err != nil {
				codec.Close()
				return nil, err
			}
		} else if k != key {
			codec.Close()
			return nil, fmt.Errorf("vaeformer: run %s uses dataset %s, the first run %s", dir, k, key)
		}
		m, err := codec.MeasureBest(fields, g, src.Lat, opts.Repeats)
		codec.Close()
		if err != nil {
			return nil, fmt.Errorf("vaeformer: run %s: %w", dir, err)
		}
		sizes, err := wholeFile(dir, splitFiles, src.Channels, m.Payload, filepath.Join(tmp, "split.qzc"))
		if err != nil {
			return nil, err
		}
		setting := fmt.Sprintf("λ=%g w=%d step %d", params[ParamLambda], codec.Window, codec.Step)
		if d, l, def := params[ParamDim], params[ParamLatent], Params.Defaults(); d != def[ParamDim] || l != def[ParamLatent] {
			setting += fmt.Sprintf(" D=%v c_y=%v", d, l) // another architecture than the default's
		}
		n := g.T * g.H * g.W * len(fields)
		for ch := range fields {
			// Each channel's point carries the whole file's bits per value.
			p := baselines.NewPoint(baselines.CodecMethod, setting, sizes.Total, n, m.Errors[ch], m.Encode.Seconds, m.Decode.Seconds)
			s.Points[s.Channels[ch]] = append(s.Points[s.Channels[ch]], p)
		}
		fmt.Fprintf(log, "vaeformer: %s: %s: whole file %d bytes = payload %d + header %d + framing %d (%.4f bits/value; payload alone %.4f)\n",
			dir, setting, sizes.Total, sizes.Payload, sizes.Header, sizes.Framing, 8*float64(sizes.Total)/float64(n), 8*float64(sizes.Payload)/float64(n))
		bounded, err := boundedPoints(dir, splitFiles, src.Channels, fields, g, src.Lat, opts.MaxAbsErrors, setting, tmp)
		if err != nil {
			return nil, err
		}
		for _, pts := range bounded {
			for ch, p := range pts {
				s.Points[s.Channels[ch]] = append(s.Points[s.Channels[ch]], p)
				fmt.Fprintf(log, "vaeformer: %s: %s: %s max error %.4g, RMSE %.4g: %d bytes (%.4f bits/value)\n", dir, p.Setting, s.Channels[ch], p.Errors.MaxAbs, p.Errors.RMSE, p.Bytes, p.BitsPerValue)
			}
		}
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

// boundedPoints codes the split's netCDF files in with the run in dir in the error-bounded
// mode at each bound of bounds (every channel), decompresses each file through the codec
// command's path, reads it back and measures each channel of it against fields (lat-cos
// weighted as the other points): per bound, one point per channel, the whole file's bytes,
// encode and decode times those of the whole compress (its check included) and decompress
// (model loading included). The run's compressor is opened once for all bounds.
func boundedPoints(dir string, in, channels []string, fields [][]float32, g Geometry, lat []float64, bounds []float64, setting, tmp string) ([][]baselines.Point, error) {
	if len(bounds) == 0 {
		return nil, nil
	}
	c, id, err := compressor.Open(dir)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out [][]baselines.Point
	for _, e := range bounds {
		pts, err := boundedPointsAt(c, id, dir, in, channels, fields, g, lat, e, setting, tmp)
		if err != nil {
			return nil, err
		}
		out = append(out, pts)
	}
	return out, nil
}

// boundedPointsAt is boundedPoints at one bound e, with the run's compressor c.
func boundedPointsAt(c compressor.Compressor, id compressor.Identity, dir string, in, channels []string, fields [][]float32, g Geometry, lat []float64, e float64, setting, tmp string) ([]baselines.Point, error) {
	out, back := filepath.Join(tmp, "bounded.qzc"), filepath.Join(tmp, "bounded.nc")
	start := time.Now()
	rep, err := compressor.CompressFile(c, id, in, out, compressor.Options{Selection: channels, MaxAbsError: compressor.Bounds{"": e}})
	if err != nil {
		return nil, fmt.Errorf("vaeformer: run %s: error-bounded at %g: %w", dir, e, err)
	}
	enc := time.Since(start).Seconds()
	start = time.Now()
	if _, err := compressor.DecompressFile(out, back, dir); err != nil {
		return nil, err
	}
	dec := time.Since(start).Seconds()
	fe, err := media.Named("netcdf")
	if err != nil {
		return nil, err
	}
	sig, _, err := fe.Read([]string{back}, channels, channels)
	if err != nil {
		return nil, err
	}
	got := sig.Data
	n := g.T * g.H * g.W * len(fields)
	var pts []baselines.Point
	for ch := range fields {
		errs, err := metrics.CompareFields(fields[ch], got[ch], []int{g.T, g.H, g.W}, metrics.LatCosWeights(lat))
		if err != nil {
			return nil, err
		}
		if errs.MaxAbs > e {
			return nil, fmt.Errorf("vaeformer: run %s: error-bounded at %g: channel %s decompressed with max error %g", dir, e, channels[ch], errs.MaxAbs)
		}
		pts = append(pts, baselines.NewPoint(baselines.BoundedMethod, fmt.Sprintf("%s E=%g", setting, e), rep.Sizes.Total, n, errs, enc, dec))
	}
	return pts, nil
}

// writeHours writes hours [from, to) of the netCDF files (metadata as era5.Dataset keeps it;
// their variables are read again) as netCDF files of the same base names under dir, with the
// source's coordinates, attributes and packing, and returns their paths.
func writeHours(files []*nc.File, from, to int, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("vaeformer: %w", err)
	}
	var paths []string
	for _, meta := range files {
		f, err := nc.Read(meta.Path, nc.ReadOptions{Variables: meta.VariableNames()})
		if err != nil {
			return nil, err
		}
		f.Time.Values = f.Time.Values[from:to]
		for _, v := range f.Vars {
			per := len(v.Data) / v.Shape[0] // values per hour (all levels)
			v.Data = v.Data[from*per : to*per]
			v.Shape[0] = to - from
		}
		path := filepath.Join(dir, filepath.Base(meta.Path))
		if err := nc.Write(path, f); err != nil {
			return nil, fmt.Errorf("vaeformer: hours %d..%d of %s: %w", from, to, meta.Path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// wholeFile compresses the netCDF files in (the split's hours) with the run in dir through the
// codec command's path (compressor.CompressFile) into out, checks that the file's payload is
// payload (the one measured), and returns the file's sizes.
func wholeFile(dir string, in, channels []string, payload []byte, out string) (qzc.Sizes, error) {
	c, id, err := compressor.Open(dir)
	if err != nil {
		return qzc.Sizes{}, err
	}
	defer c.Close()
	if _, err := compressor.CompressFile(c, id, in, out, compressor.Options{Selection: channels}); err != nil {
		return qzc.Sizes{}, fmt.Errorf("vaeformer: run %s: the whole file: %w", dir, err)
	}
	_, filePayload, sizes, err := qzc.ReadFile(out)
	if err != nil {
		return qzc.Sizes{}, err
	}
	if !bytes.Equal(filePayload, payload) {
		return qzc.Sizes{}, fmt.Errorf("vaeformer: run %s: the .qzc file of the split's netCDF holds a payload of %d bytes, not the %d bytes measured: the netCDF round trip changed the fields",
			dir, len(filePayload), len(payload))
	}
	return sizes, nil
}
