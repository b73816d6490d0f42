package main

// The climate benchmark (go run ./bench climate): trained VAEformer codecs against ZFP,
// bit-rounding + shuffle + a lossless coder, and linear packing on the same held-out ERA5
// fields, in one process (vaeformer.RateDistortion, rendered by baselines.Study), printing every rate–distortion point
// and the codec's gain over the best peer at its RMSE:
//
//	go run ./bench climate --checkpoint runs/vaeformer_full[,runs/other...] --data_dir ../shared/data \
//	    [--json figures/climate_rd.json] [--figure figures/climate_rd.png] \
//	    [--max_abs_error 0.1,0.25,0.5,1,2 --figure_max_abs figures/climate_maxabs.png]
//	go run ./bench climate --from figures/climate_rd.json --figure figures/climate_rd.png
//
// What each side measures: the codec codes the split through its real bitstream, once to
// compile its graphs and then --repeats times, its fastest encode and decode counting; each peer
// setting (ZFP's tolerances, bit-rounding's kept bits with each lossless coder, packing's
// widths) codes the same fields, timed --repeats times, the fastest counting (vaeformer.RDOptions). The
// peers are processes or libraries of package baselines: ZFP runs in /usr/bin/python3 with
// Debian's python3-zfpy, zstd -19 is the reference zstd binary; scripts/install-deps.sh
// installs both. --json writes the report in harness's schema with the study's points as its
// Details; --from reads that back (or a study written by the former bench/climate), as the
// climate notebook does (baselines.ReadJSON). The climate study (go run ./study climate) trains
// the runs and renders the same measurement.
//
// --max_abs_error E1,E2,... also codes the split in the error-bounded mode at each bound
// (codec compress --max_abs_error: the whole file, residuals included, decompressed and read
// back), and compares it with the peers at equal maximum error; --figure_max_abs draws that.
//
// --checkpoint names the run directories, as in train, eval, generate and codec; --runs, its
// former name, is still accepted.

import (
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/baselines"
	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/models/vaeformer"
)

// runClimateCommand parses the climate benchmark's flags and runs it.
func runClimateCommand(args []string, stdout, log io.Writer) error {
	fs := flag.NewFlagSet("bench "+BenchClimate, flag.ContinueOnError)
	var runs string
	fs.StringVar(&runs, "checkpoint", "", "comma-separated vaeformer run directories (required unless --from)")
	fs.StringVar(&runs, "runs", "", "former name of --checkpoint")
	dataDir := fs.String("data_dir", "", "where the runs' dataset is looked for (default: the framework's search path)")
	split := fs.String("split", "test", "held-out split to code")
	hours := fs.Int("hours", 0, "keep only the split's first hours (0: all)")
	repeats := fs.Int("repeats", 3, "time each codec and each peer setting this many times, the fastest counting")
	skipZFP := fs.Bool("skip_zfp", false, "leave ZFP out")
	jsonPath := fs.String("json", "", "write the report (every point) as JSON here")
	figure := fs.String("figure", "", "draw the first channel's rate–distortion curves to this PNG/SVG")
	from := fs.String("from", "", "instead of measuring, read the points a previous --json wrote")
	maxAbs := fs.String("max_abs_error", "", "comma-separated bounds E: also code the split in the error-bounded mode at each (codec compress --max_abs_error E) and compare with the peers at equal maximum error")
	figureMaxAbs := fs.String("figure_max_abs", "", "draw the first channel's maximum error against bits per value (error-bounded points) to this PNG/SVG")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (runs == "") == (*from == "") {
		fs.Usage()
		return fmt.Errorf("give --checkpoint (to measure) or --from (to redraw), not both")
	}
	var bounds []float64
	for _, f := range strings.Split(*maxAbs, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		e, err := strconv.ParseFloat(f, 64)
		if err != nil || !(e > 0) || math.IsInf(e, 0) {
			return fmt.Errorf("--max_abs_error %q: want numbers > 0 joined by commas", *maxAbs)
		}
		bounds = append(bounds, e)
	}
	if *from != "" && len(bounds) > 0 {
		return fmt.Errorf("--max_abs_error measures; with --from the points are read as they were")
	}
	report := harness.NewReport(BenchClimate, runtime.GOMAXPROCS(0), *repeats)
	var s *baselines.Study
	var err error
	if *from != "" {
		s, err = baselines.ReadJSON(*from)
	} else {
		report.Settings = map[string]any{"checkpoint": runs, "data_dir": *dataDir, "split": *split, "hours": *hours, "repeats": *repeats, "skip_zfp": *skipZFP, "max_abs_error": bounds}
		s, err = vaeformer.RateDistortion(strings.Split(runs, ","), vaeformer.RDOptions{DataDir: *dataDir, Split: *split, Hours: *hours, SkipZFP: *skipZFP, Repeats: *repeats, MaxAbsErrors: bounds}, log)
	}
	if err != nil {
		return err
	}
	report.Details = s
	report.Header.Print(stdout)
	if err := s.Summary(stdout); err != nil {
		return err
	}
	if *from == "" {
		if err := report.WriteJSON(*jsonPath); err != nil {
			return err
		}
	} else if *jsonPath != "" {
		return fmt.Errorf("--json with --from would rewrite the measured report; give --figure only")
	}
	if *figure != "" {
		f, err := s.Figure(s.Channels[0])
		if err != nil {
			return err
		}
		if err := f.Save(*figure); err != nil {
			return err
		}
		fmt.Fprintf(log, "climate: figure written to %s\n", *figure)
	}
	if *figureMaxAbs != "" {
		f, err := s.FigureMaxAbs(s.Channels[0])
		if err != nil {
			return err
		}
		if err := f.Save(*figureMaxAbs); err != nil {
			return err
		}
		fmt.Fprintf(log, "climate: figure written to %s\n", *figureMaxAbs)
	}
	return nil
}
