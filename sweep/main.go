// Command sweep runs a sweep file or a study file (see package framework/sweep), prints its
// table and writes its figure; it exits with status 1 when a point does not meet its expect
// conditions (after running every point and writing the table and figure):
//
//	go run ./sweep --config configs/vq/codebook_sweep.json [--set steps=50] [--dir runs/sweep]
//	go run ./sweep --config configs/kv/study.json --dir runs/kv --points fp32,kivi_4 --data_dir ../shared/data
//
// Points already run under --dir (same config) are read back, their hooks' results too.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/qzoo/qzoo/framework/sweep"
	_ "github.com/qzoo/qzoo/models/all"
)

func main() {
	path := flag.String("config", "", "sweep or study file (required)")
	set := flag.String("set", "", `extra overrides for every point, e.g. "steps=50" (not an axis)`)
	dir := flag.String("dir", "", `root of the points' run directories (default: the file's "runs", else runs/sweep)`)
	figure := flag.String("figure", "", `where to write the figure (default: the file's "figure")`)
	dataDir := flag.String("data_dir", "", "where datasets are looked for")
	points := flag.String("points", "", "comma-separated points (names, parts, PART/NAME, variants or PART/VARIANT) of a study to run (default: all)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go run ./sweep --config FILE [flags]")
		flag.PrintDefaults()
		sweep.Describe(flag.CommandLine.Output())
	}
	flag.Parse()
	if *path == "" {
		fmt.Fprintln(os.Stderr, "sweep: --config is required")
		os.Exit(2)
	}
	opts := sweep.Options{Dir: *dir, DefaultDir: "runs/sweep", Set: *set, DataDir: *dataDir, Quiet: true}
	if *points != "" {
		opts.Points = strings.Split(*points, ",")
	}
	if err := sweep.RunFile(os.Stdout, *path, *figure, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
