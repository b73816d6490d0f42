// Command cmd runs the Llama study of configs/llm (see package experiment): every adaptation
// row, the PTQ sweeps on the Shakespeare fine-tune and on the base model's own stories, then
// prints the Markdown table and writes the figure.
//
//	go run ./models/llama/experiment/cmd --data_dir ../shared/data [--set "steps=3"] [--samples 200]
//
// Rows already run under --runs are read back.
package main

import (
	"flag"
	"fmt"
	"os"

	_ "github.com/qzoo/qzoo/models/all"
	"github.com/qzoo/qzoo/models/llama/experiment"
)

func main() {
	o := experiment.Options{Out: os.Stdout}
	figure := flag.String("figure", "figures/llm_bits.png", "where to write the figure (.png or .svg)")
	flag.StringVar(&o.ConfigDir, "configs", "configs/llm", "directory of the study's configs")
	flag.StringVar(&o.RunDir, "runs", "runs/llm", "directory of the run directories")
	flag.StringVar(&o.Set, "set", "", `overrides for every run, e.g. "steps=3;eval_examples=16"`)
	flag.IntVar(&o.Samples, "samples", 200, "stories the base model samples for the own-text measurement (0: skip)")
	flag.StringVar(&o.DataDir, "data_dir", "", "where data files are looked for (default: $QZOO_DATA_DIR, the user cache)")
	flag.BoolVar(&o.Quiet, "quiet", false, "no progress lines")
	flag.Parse()
	rows, err := experiment.Run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "experiment:", err)
		os.Exit(1)
	}
	fmt.Print(experiment.Table(rows))
	if err := experiment.Figure(rows).Save(*figure); err != nil {
		fmt.Fprintln(os.Stderr, "experiment:", err)
		os.Exit(1)
	}
	fmt.Println("figure written to", *figure)
}
