// Command sweep runs a sweep file (see package sweep), prints its table and writes its figure:
//
//	go run ./sweep/cmd --config configs/vq/codebook_sweep.json [--set steps=50] [--dir runs/sweep]
package main

import (
	"flag"
	"fmt"
	"os"

	_ "github.com/qzoo/qzoo/models/all"
	"github.com/qzoo/qzoo/sweep"
)

func main() {
	path := flag.String("config", "", "sweep file (required)")
	set := flag.String("set", "", `extra overrides for every point, e.g. "steps=50"`)
	dir := flag.String("dir", "runs/sweep", "root of the points' run directories")
	figure := flag.String("figure", "", "where to write the figure (default: the sweep file's \"figure\")")
	dataDir := flag.String("data_dir", "", "where datasets are looked for")
	flag.Parse()
	if err := run(*path, *set, *dir, *figure, *dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "sweep:", err)
		os.Exit(1)
	}
}

func run(path, set, dir, figure, dataDir string) error {
	if path == "" {
		return fmt.Errorf("--config is required")
	}
	spec, err := sweep.LoadSpec(path)
	if err != nil {
		return err
	}
	points, err := sweep.Run(spec, sweep.Options{Dir: dir, Set: set, DataDir: dataDir, Quiet: true})
	if err != nil {
		return err
	}
	fmt.Print(sweep.Table(points))
	if figure == "" {
		figure = spec.Figure
	}
	if figure == "" {
		return nil
	}
	if err := sweep.Figure(points).Save(figure); err != nil {
		return err
	}
	fmt.Println("figure written to", figure)
	return nil
}
