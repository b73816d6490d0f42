// Command climate measures trained VAEformer codecs against ZFP, bit-rounding + shuffle + a
// lossless coder, and linear packing on the same held-out ERA5 fields, in one process, and
// prints every rate–distortion point and the codec's gain over the best peer at its RMSE:
//
//	go run ./bench/climate --runs runs/vaeformer_full[,runs/other...] --data_dir ../shared/data \
//	    [--json figures/climate_rd.json] [--figure figures/climate_rd.png]
//	go run ./bench/climate --from figures/climate_rd.json --figure figures/climate_rd.png
//
// Peers need Debian's python3-zfpy (ZFP) and zstd (reference zstd -19); scripts/install-deps.sh
// installs both.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	_ "github.com/qzoo/qzoo/models/all"
	"github.com/qzoo/qzoo/models/vaeformer/rd"
)

func main() {
	runs := flag.String("runs", "", "comma-separated vaeformer run directories (required)")
	dataDir := flag.String("data_dir", "", "where the runs' dataset is looked for (default: the framework's search path)")
	split := flag.String("split", "test", "held-out split to code")
	hours := flag.Int("hours", 0, "keep only the split's first hours (0: all)")
	repeats := flag.Int("repeats", 3, "time each peer setting this many times, the fastest counting")
	skipZFP := flag.Bool("skip_zfp", false, "leave ZFP out")
	jsonPath := flag.String("json", "", "write every point as JSON here")
	figure := flag.String("figure", "", "draw the first channel's rate–distortion curves to this PNG/SVG")
	from := flag.String("from", "", "instead of measuring, read the points a previous --json wrote")
	flag.Parse()
	if (*runs == "") == (*from == "") {
		fmt.Fprintln(os.Stderr, "climate: give --runs (to measure) or --from (to redraw), not both")
		flag.Usage()
		os.Exit(2)
	}
	var s *rd.Study
	var err error
	if *from != "" {
		s, err = rd.ReadJSON(*from)
	} else {
		s, err = rd.Run(strings.Split(*runs, ","), rd.Options{DataDir: *dataDir, Split: *split, Hours: *hours, SkipZFP: *skipZFP, Repeats: *repeats}, os.Stderr)
	}
	if err == nil {
		err = s.Summary(os.Stdout)
	}
	if err == nil && *jsonPath != "" {
		err = s.WriteJSON(*jsonPath)
	}
	if err == nil && *figure != "" {
		var f interface{ Save(string) error }
		f, err = s.Figure(s.Channels[0])
		if err == nil {
			if err = f.Save(*figure); err == nil {
				fmt.Fprintf(os.Stderr, "climate: figure written to %s\n", *figure)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "climate:", err)
		os.Exit(1)
	}
}
