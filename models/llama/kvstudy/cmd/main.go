// Command cmd runs the key/value-cache study of configs/kv (see package kvstudy): every cache
// quantizer at 4, 3 and 2 bits and KVQuant's ablation on stories260K, then prints the
// Markdown table and writes the figure.
//
//	go run ./models/llama/kvstudy/cmd --data_dir ../shared/data [--set "eval_examples=4"] [--rows fp32,kivi_4]
//
// Rows already run under --runs are read back.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	_ "github.com/qzoo/qzoo/models/all"
	"github.com/qzoo/qzoo/models/llama/kvstudy"
)

func main() {
	o := kvstudy.Options{Out: os.Stdout}
	figure := flag.String("figure", "figures/kv_cache.png", "where to write the figure (.png or .svg)")
	flag.StringVar(&o.ConfigDir, "configs", "configs/kv", "directory of the study's configs")
	flag.StringVar(&o.RunDir, "runs", "runs/kv", "directory of the run directories")
	flag.StringVar(&o.Set, "set", "", `overrides for every row, e.g. "eval_examples=4"`)
	flag.IntVar(&o.RetrievalSentences, "retrieval_sentences", kvstudy.DefaultRetrievalSentences, "filler sentences of the retrieval check (-1: skip it)")
	flag.StringVar(&o.DataDir, "data_dir", "", "where data files are looked for (default: $QZOO_DATA_DIR, the user cache)")
	flag.BoolVar(&o.Quiet, "quiet", true, "no progress lines of the runs")
	only := flag.String("rows", "", "comma-separated row names to run (default: every row; see kvstudy.Rows)")
	flag.Parse()
	if *only != "" {
		for _, r := range kvstudy.Rows() {
			if slices.Contains(strings.Split(*only, ","), r.Name) {
				o.Rows = append(o.Rows, r)
			}
		}
		if len(o.Rows) == 0 {
			fmt.Fprintf(os.Stderr, "kvstudy: no row named in --rows %q\n", *only)
			os.Exit(2)
		}
	}
	results, err := kvstudy.Run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvstudy:", err)
		os.Exit(1)
	}
	fmt.Print(kvstudy.Table(results))
	if err := kvstudy.Figure(results).Save(*figure); err != nil {
		fmt.Fprintln(os.Stderr, "kvstudy:", err)
		os.Exit(1)
	}
	fmt.Println("figure written to", *figure)
}
