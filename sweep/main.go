// Command sweep runs a sweep file (see package framework/sweep), prints its table and writes its
// figure; it exits with status 1 when a point does not meet the sweep's expect conditions
// (after running every point and writing the table and figure):
//
//	go run ./sweep --config configs/vq/codebook_sweep.json [--set steps=50] [--dir runs/sweep]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/qzoo/qzoo/framework/sweep"
	_ "github.com/qzoo/qzoo/models/all"
)

func main() {
	path := flag.String("config", "", "sweep file (required)")
	set := flag.String("set", "", `extra overrides for every point, e.g. "steps=50" (not an axis)`)
	dir := flag.String("dir", "runs/sweep", "root of the points' run directories")
	figure := flag.String("figure", "", `where to write the figure (default: the sweep file's "figure.file")`)
	dataDir := flag.String("data_dir", "", "where datasets are looked for")
	flag.Parse()
	if err := run(os.Stdout, *path, *set, *dir, *figure, *dataDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(out io.Writer, path, set, dir, figure, dataDir string) error {
	if path == "" {
		return errors.New("sweep: --config is required")
	}
	spec, err := sweep.LoadSpec(path)
	if err != nil {
		return err
	}
	points, err := sweep.Run(spec, sweep.Options{Dir: dir, Set: set, DataDir: dataDir, Out: out, Quiet: true})
	var unmet *sweep.ExpectationsError
	if err != nil && !errors.As(err, &unmet) {
		return err
	}
	fmt.Fprint(out, spec.Table(points))
	if figure == "" && spec.Figure != nil {
		figure = spec.Figure.File
	}
	if figure != "" {
		fig, err := spec.Plot(points)
		if err != nil {
			return err
		}
		if err := fig.Save(figure); err != nil {
			return err
		}
		fmt.Fprintln(out, "figure written to", figure)
	}
	if unmet != nil {
		return unmet
	}
	return nil
}
