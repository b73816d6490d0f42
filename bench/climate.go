package main

// The climate benchmark (go run ./bench climate): trained VAEformer codecs against ZFP,
// bit-rounding + shuffle + a lossless coder, and linear packing on the same held-out ERA5
// fields, in one process (vaeformer.RateDistortion, rendered by baselines.Study), printing every rate–distortion point
// and the codec's gain over the best peer at its RMSE:
//
//	go run ./bench climate --checkpoint runs/vaeformer_full[,runs/other...] --data_dir ../shared/data \
//	    [--json figures/climate_rd.json] [--figure figures/climate_rd.png]
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
// --checkpoint names the run directories, as in train, eval, generate and codec; --runs, its
// former name, is still accepted.

import (
	"flag"
	"fmt"
	"io"
	"runtime"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (runs == "") == (*from == "") {
		fs.Usage()
		return fmt.Errorf("give --checkpoint (to measure) or --from (to redraw), not both")
	}
	report := harness.NewReport(BenchClimate, runtime.GOMAXPROCS(0), *repeats)
	var s *baselines.Study
	var err error
	if *from != "" {
		s, err = baselines.ReadJSON(*from)
	} else {
		report.Settings = map[string]any{"checkpoint": runs, "data_dir": *dataDir, "split": *split, "hours": *hours, "repeats": *repeats, "skip_zfp": *skipZFP}
		s, err = vaeformer.RateDistortion(strings.Split(runs, ","), vaeformer.RDOptions{DataDir: *dataDir, Split: *split, Hours: *hours, SkipZFP: *skipZFP, Repeats: *repeats}, log)
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
	return nil
}
