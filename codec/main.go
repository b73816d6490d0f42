// Command codec compresses and decompresses signals with a trained zoo model that compresses
// (package compressor), through the .qzc container (formats/qzc) and a media front end
// (package media: netCDF gridded fields, media/netcdf; audio, media/wav):
//
//	go run ./codec compress --checkpoint RUN_DIR [--variables t2m,q@850,...] [--max_rmse R|NAME=R,...] [--max_abs_error E|NAME=E,...] [--segment HOURS] IN.nc [IN2.nc ...] OUT.qzc
//	go run ./codec compress --checkpoint RUN_DIR IN.wav OUT.qzc
//	go run ./codec decompress [--checkpoint RUN_DIR] OUT.qzc BACK.nc|BACK.wav
//	go run ./codec inspect OUT.qzc
//
// Flags may come before or after the file names. The front end is chosen by the kind of
// signal the model codes and the input's extension; a file of the other kind (a .wav file
// for a model of gridded fields) is refused. Several netCDF input files must share their
// time, latitude and longitude coordinates (e.g. one variable per file, as ERA5 downloads
// often come).
//
// RUN_DIR is a run directory written by `go run ./train` for a model that compresses
// (vaeformer: gridded fields; a speech tokenizer: audio). BACK.nc is netCDF-3 with the
// source's coordinates, CF attributes and packing; BACK.wav is 16-bit PCM at 16 kHz, mono, of
// the source's duration (media/wav). For audio, compress and inspect give the bit rate
// measured from the file, of the payload and of the whole file, and inspect the frame rate
// and stages the model reports (compressor.CodingReporter).
//
// compress decodes the payload it is about to write and reports, per channel (a variable, or
// one level of it: "q@850"), the achieved RMSE and maximum error in the channel's units (the
// netCDF variable's units attribute). These are the errors of the decoded values: decompress
// then packs them as the source was packed (ERA5: int16), which adds up to half a packing step
// (scale_factor/2) to the maximum error. compress warns, naming the channel and the
// statistic, when the input's mean, standard deviation or extremes lie far outside the
// statistics the model was trained on (compressor.OODMeanSigmas, OODStdRatio and
// OODExtremeSigmas of the checkpoint's normalisation), a sign that its error may be far above
// what the model achieves on data like its training data. --max_rmse R refuses to write the
// file (exit status 1, no output left behind) when any channel's RMSE exceeds R in that
// channel's own units; with several variables in different units, bound them one by one:
// --max_rmse t2m=0.5,q=2e-4,q@850=1e-4 (a variable's bound covers its levels, a channel's
// overrides it; channels named by no key are not bounded). The error names every channel that
// missed its bound and its achieved RMSE.
//
// --max_abs_error E (or NAME=E,... as for --max_rmse) is the error-bounded mode: beside the
// learned codec's payload, the file holds the quantised residuals of the bounded channels,
// entropy-coded, so that every value of the decompressed file lies within E of the source's
// — the output's packing (int16 with scale_factor/add_offset) included: the residuals are
// taken on the packing's lattice, so the bound covers what the file holds, not the floats
// before packing. compress checks every value as it will be written and reports each bounded
// channel's residual bytes and how many values they moved; a bound finer than the output's
// packing can hold is refused, naming the channel and the value.
//
// A signal of more than compressor.SegmentValues values (2^24: 16 hours of a 0.25°
// global field) is coded in segments along time (.qzc version 6), each read from the netCDF
// files, coded, decoded for the check and written out on its own, so that memory is bounded by
// one segment however many hours the files hold; decompress decodes and writes the netCDF file
// segment by segment too. --segment HOURS chooses the length (a multiple of the model's
// window of hours). The checks and the error-bounded mode cover every segment.
//
// Every failure is reported as one line naming the file (and variable) at fault, with exit
// status 1; nothing is written unless it is complete.
package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/qzoo/qzoo/compressor"
	"github.com/qzoo/qzoo/formats/qzc"
	_ "github.com/qzoo/qzoo/media/netcdf" // the netCDF front end
	_ "github.com/qzoo/qzoo/media/wav"    // the audio front end
	_ "github.com/qzoo/qzoo/models/all"
)

const usage = `usage:
  codec compress --checkpoint RUN_DIR [--variables t2m,q@850,...] [--max_rmse R|NAME=R,...] [--max_abs_error E|NAME=E,...] [--segment HOURS] IN.nc [IN2.nc ...] OUT.qzc
  codec compress --checkpoint RUN_DIR [--max_rmse R] IN.wav OUT.qzc
  codec decompress [--checkpoint RUN_DIR] IN.qzc OUT.nc|OUT.wav
  codec inspect IN.qzc
RUN_DIR: a run directory of a model that compresses (go run ./train --config configs/climate/...).
Audio is coded mono at 16 kHz and written back as 16-bit WAV at 16 kHz of the same duration.
compress decodes what it codes and reports each channel's RMSE and maximum error in its units, warning
when the input lies far outside the model's training statistics; --max_rmse refuses (nothing written)
when a channel's RMSE exceeds R in its units (NAME=R: per variable or channel such as q@850).
--max_abs_error E adds coded residuals so that every value written back is within E of the source's
(in the channel's units, the output's int16 packing included; NAME=E as for --max_rmse).
--segment HOURS codes a long signal in segments of that many hours (a multiple of the model's window),
one segment in memory at a time; by default a signal of more than 2^24 values is cut into the longest
segments within that (16 hours of a 0.25° global field).
decompress finds the checkpoint the file was coded with in the run directory it records (or RUN_DIR).
`

func main() {
	if err := runCmd(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "codec:", err)
		os.Exit(1)
	}
}

func runCmd(args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no subcommand\n%s", usage)
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprint(out, usage)
		return nil
	}
	fs := flag.NewFlagSet("codec "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ckpt := fs.String("checkpoint", "", "run directory of the trained model")
	vars := fs.String("variables", "", "comma-separated variables (\"t2m\") or channels (\"q@850\") to compress (default: every gridded variable)")
	maxRMSE := fs.String("max_rmse", "", "refuse when a channel's RMSE exceeds R in its units: R, or NAME=R,... per variable or channel")
	maxAbs := fs.String("max_abs_error", "", "error-bounded mode: every value written back within E of the source's: E, or NAME=E,... per variable or channel")
	segment := fs.Int("segment", 0, "code the signal in segments of N steps along its first axis (hours; a multiple of the model's window); 0 chooses (compressor.SegmentValues)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", args[0], err, usage)
	}
	switch args[0] {
	case "compress":
		if len(pos) < 2 || *ckpt == "" {
			return fmt.Errorf("compress needs --checkpoint RUN_DIR, IN.nc and OUT.qzc (got %d file names)\n%s", len(pos), usage)
		}
		return compress(*ckpt, pos[:len(pos)-1], pos[len(pos)-1], *vars, *maxRMSE, *maxAbs, *segment, out)
	case "decompress":
		if len(pos) != 2 {
			return fmt.Errorf("decompress needs IN.qzc and OUT.nc (got %d file names)\n%s", len(pos), usage)
		}
		start := time.Now()
		rep, err := compressor.DecompressFile(pos[0], pos[1], *ckpt)
		if err != nil {
			return err
		}
		sec := time.Since(start).Seconds()
		values := rep.Header.Values()
		if audio := rep.Seconds(); audio > 0 {
			fmt.Fprintf(out, "%s → %s: %s, %.2f s (%.1f× real time)\n", pos[0], pos[1], shapeText(rep.Header), sec, audio/sec)
			return nil
		}
		fmt.Fprintf(out, "%s → %s: %d values (%v), %.2f s, %.2f MB/s of float32\n", pos[0], pos[1], values,
			strings.Join(rep.Header.Channels, ","), sec, 4*float64(values)/1e6/sec)
		return nil
	case "inspect":
		if len(pos) != 1 {
			return fmt.Errorf("inspect needs IN.qzc\n%s", usage)
		}
		rep, err := compressor.Inspect(pos[0])
		if err != nil {
			return err
		}
		inspect(out, pos[0], rep)
		return nil
	}
	return fmt.Errorf("unknown subcommand %q\n%s", args[0], usage)
}

// parseInterleaved parses flags wherever they stand among the positional arguments, which it
// returns in order.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func compress(ckpt string, in []string, outPath, vars, maxRMSE, maxAbs string, segment int, out io.Writer) error {
	opts := compressor.Options{SegmentLength: segment}
	if vars != "" {
		opts.Selection = strings.Split(vars, ",")
	}
	if maxRMSE != "" {
		b, err := compressor.ParseBounds(maxRMSE)
		if err != nil {
			return fmt.Errorf("--max_rmse: %w", err)
		}
		opts.MaxRMSE = b
	}
	if maxAbs != "" {
		b, err := compressor.ParseMaxAbsError(maxAbs)
		if err != nil {
			return fmt.Errorf("--max_abs_error: %w", err)
		}
		opts.MaxAbsError = b
	}
	c, id, err := compressor.Open(ckpt)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	rep, err := compressor.CompressFile(c, id, in, outPath, opts)
	if err != nil {
		if rep.Checks != nil { // a missed --max_rmse: show every channel's error first
			checksText(out, rep)
		}
		return err
	}
	sec := time.Since(start).Seconds()
	h := rep.Header
	values := h.Values()
	fmt.Fprintf(out, "%s → %s: %d values (%s, %s)\n", strings.Join(in, ", "), outPath, values, strings.Join(h.Channels, ","), shapeText(h))
	fmt.Fprintf(out, "  %d bytes = payload %d + header %d%s%s + framing %d; %.4f bits/value; ratio %.1f× float32, %.1f× the source file (%d bytes)\n",
		rep.Sizes.Total, rep.Sizes.Payload, rep.Sizes.Header, maskBytes(rep.Sizes, " + "), residualBytes(rep.Sizes, " + "), rep.Sizes.Framing, rep.BitsPerValue(),
		32/rep.BitsPerValue(), float64(rep.Source.Bytes)/float64(rep.Sizes.Total), rep.Source.Bytes)
	segmentText(out, h)
	maskText(out, rep)
	residualText(out, rep)
	speed := fmt.Sprintf("%.2f MB/s of float32", 4*float64(values)/1e6/sec)
	if audio := rep.Seconds(); audio > 0 {
		fmt.Fprintf(out, "  %s\n", bitRateText(rep))
		speed = fmt.Sprintf("%.1f× real time", audio/sec)
	}
	fmt.Fprintf(out, "  payload vs the model's estimated bits: %+.2f%%; %.2f s (%s, graph compilation and the check's decoding included)\n",
		100*(8*float64(rep.Sizes.Payload)/h.EstimatedBits-1), sec, speed)
	checksText(out, rep)
	return nil
}

// maskBytes is sep + "mask N" for a file with a mask of N bytes, "" for one without.
func maskBytes(s qzc.Sizes, sep string) string {
	if s.Mask == 0 {
		return ""
	}
	return fmt.Sprintf("%smask %d", sep, s.Mask)
}

// residualBytes is sep + "residuals N" for a file of the error-bounded mode, "" otherwise.
func residualBytes(s qzc.Sizes, sep string) string {
	if s.Residuals == 0 {
		return ""
	}
	return fmt.Sprintf("%sresiduals %d", sep, s.Residuals)
}

// residualText writes, in the error-bounded mode, each bounded channel's bound and what its
// residuals did.
func residualText(out io.Writer, rep compressor.Report) {
	for _, r := range rep.Residuals {
		u := compressor.UnitsOf(r.Channel, rep.Source.Units)
		bin := compressor.Quantity(r.Bin, u)
		if r.Step != 0 {
			bin = fmt.Sprintf("%g packing steps of %s", r.Bin, compressor.Quantity(r.Step, u))
		}
		fmt.Fprintf(out, "  %s: every value written within %s (checked, packing included): residuals of %d bytes (%.4f bits/value), bins of %s, %d of %d values corrected (%.2f%%)\n",
			r.Channel, compressor.Quantity(r.Bound, u), r.Bytes, 8*float64(r.Bytes)/float64(max(1, r.Values)), bin, r.Corrected, r.Values, 100*float64(r.Corrected)/float64(max(1, r.Values)))
	}
}

// plural spells n things: "1 channel", "3 channels".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// segmentText writes, for a signal coded in segments, how many and how long.
func segmentText(out io.Writer, h *qzc.Header) {
	if len(h.Segments) < 2 {
		return
	}
	fmt.Fprintf(out, "  coded in %d segments of %d steps along its first axis (the last %d), one at a time in memory\n",
		len(h.Segments), h.Segments[0], h.Segments[len(h.Segments)-1])
}

// maskText writes how many values are missing and the bytes of their mask, when any is.
func maskText(out io.Writer, rep compressor.Report) {
	h := rep.Header
	if len(h.Mask) == 0 {
		return
	}
	n, _ := h.Mask.Missing(h.Values()) // checked when the file was read or written
	fmt.Fprintf(out, "  %d missing values (%.2f%%) coded by their mask in %d bytes (lossless; counted in the file's bytes), filled in for the model, restored as missing on decompression\n",
		n, 100*float64(n)/float64(h.Values()), rep.Sizes.Mask)
}

// checksText writes each channel's achieved error and, where the input lies outside the
// model's training statistics, the warnings.
func checksText(out io.Writer, rep compressor.Report) {
	for _, c := range rep.Checks {
		u := compressor.UnitsOf(c.Channel, rep.Source.Units)
		q := func(v float64) string { return compressor.Quantity(v, u) }
		line := fmt.Sprintf("  %s: achieved RMSE %s, max error %s; input mean %s, std %s, range %s..%s", c.Channel, q(c.Errors.RMSE), q(c.Errors.MaxAbs),
			q(c.Mean), q(c.Std), q(c.Min), q(c.Max))
		if c.TrainStd > 0 {
			line += fmt.Sprintf(" (training mean %s, std %s)", q(c.TrainMean), q(c.TrainStd))
		}
		fmt.Fprintln(out, line)
	}
	for _, c := range rep.Checks {
		for _, w := range c.Warnings {
			fmt.Fprintf(out, "  warning: out of the training distribution: %s (its error may be far above the model's on data like its training data)\n", w)
		}
	}
}

// bitRateText spells the bit rate measured from the file, of its payload and in all, and the
// model's estimate, for a signal with a sample rate.
func bitRateText(rep compressor.Report) string {
	payload, total := rep.BitsPerSecond()
	return fmt.Sprintf("bit rate over %.3f s: payload %.1f bit/s, whole file %.1f bit/s (the model estimated %.1f bit/s)",
		rep.Seconds(), payload, total, rep.Header.EstimatedBits/rep.Seconds())
}

// codingText spells the coding values a model reports: frame rate and stages first, then the
// others by name.
func codingText(c map[string]float64) string {
	var parts []string
	if v, ok := c[qzc.CodingFrameRate]; ok {
		parts = append(parts, fmt.Sprintf("frame rate %g Hz", v))
	}
	if v, ok := c[qzc.CodingStages]; ok {
		parts = append(parts, fmt.Sprintf("stages %g", v))
	}
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if k != qzc.CodingFrameRate && k != qzc.CodingStages {
			parts = append(parts, fmt.Sprintf("%s %g", k, c[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// shapeText spells a signal's shape: "744 h on 33×49" for gridded fields, "113600 samples at
// 16000 Hz (7.100 s)" for audio, the dimensions joined by × for other kinds.
func shapeText(h *qzc.Header) string {
	if h.Signal == qzc.Gridded && len(h.Shape) == 3 {
		return fmt.Sprintf("%d h on %d×%d", h.Shape[0], h.Shape[1], h.Shape[2])
	}
	if h.SampleRate > 0 && len(h.Shape) == 1 {
		return fmt.Sprintf("%d samples at %d Hz (%.3f s)", h.Shape[0], h.SampleRate, float64(h.Shape[0])/float64(h.SampleRate))
	}
	dims := make([]string, len(h.Shape))
	for i, d := range h.Shape {
		dims[i] = fmt.Sprint(d)
	}
	return fmt.Sprintf("%s signal %s", h.Signal, strings.Join(dims, "×"))
}

func inspect(out io.Writer, path string, rep compressor.Report) {
	h, s := rep.Header, rep.Sizes
	values := h.Values()
	fmt.Fprintf(out, "%s: qzc version %d, %d bytes (payload %d, header %d%s%s, framing %d), checksum ok\n", path, s.Version, s.Total, s.Payload, s.Header, maskBytes(s, ", "), residualBytes(s, ", "), s.Framing)
	fmt.Fprintf(out, "  %s signal; model %s, checkpoint step %d sha256 %s\n  run %s\n", h.Signal, h.Model, h.Checkpoint.Step, h.Checkpoint.SHA256, h.Checkpoint.Dir)
	fmt.Fprintf(out, "  source %s (%s, %d bytes)\n", rep.Source.Name, h.Media, rep.Source.Bytes)
	shape := shapeText(h)
	if h.Signal == qzc.Gridded && len(h.Shape) == 3 {
		shape = fmt.Sprintf("%d hours × %d lat × %d lon", h.Shape[0], h.Shape[1], h.Shape[2])
	}
	fmt.Fprintf(out, "  %s × %s = %d values; %.4f bits/value for the whole file, %.4f for the payload (the model estimated %.4f)\n",
		shape, plural(len(h.Channels), "channel"), values, 8*float64(s.Total)/float64(values), 8*float64(s.Payload)/float64(values), h.EstimatedBits/float64(values))
	segmentText(out, h)
	maskText(out, rep)
	if eb := h.ErrorBound; eb != nil {
		var parts []string
		for i, c := range h.Channels {
			if eb.MaxAbs[i] > 0 {
				parts = append(parts, fmt.Sprintf("%s within %s", c, compressor.Quantity(eb.MaxAbs[i], compressor.UnitsOf(c, rep.Source.Units))))
			}
		}
		fmt.Fprintf(out, "  error-bounded: every value written back %s (residuals of %d bytes)\n", strings.Join(parts, ", "), s.Residuals)
	}
	if len(h.Coding) > 0 {
		fmt.Fprintf(out, "  coding: %s\n", codingText(h.Coding))
	}
	if rep.Seconds() > 0 {
		fmt.Fprintf(out, "  %s\n", bitRateText(rep))
	}
	for _, line := range rep.Source.Lines {
		fmt.Fprintf(out, "  %s\n", line)
	}
	for i, c := range h.Channels {
		if len(h.Mean) == len(h.Channels) {
			fmt.Fprintf(out, "  channel %-10s mean %.6g std %.6g\n", c, h.Mean[i], h.Std[i])
		} else {
			fmt.Fprintf(out, "  channel %s\n", c)
		}
	}
}
