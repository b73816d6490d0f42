// Command study runs one of the zoo's studies, prints its Markdown table and writes its figure:
//
//	go run ./study llm --data_dir ../shared/data [--set "steps=3"] [--samples 200]
//	go run ./study kv --data_dir ../shared/data [--set "eval_examples=4"] [--rows fp32,kivi_4]
//
// llm is the Llama quantization study of configs/llm (package models/llama/experiment): every
// adaptation row, then the PTQ sweeps on the Shakespeare fine-tune and on the base model's own
// stories. kv is the key/value-cache study of configs/kv (package models/llama/kvstudy): every
// cache quantizer at 4, 3 and 2 bits and KVQuant's ablation on stories260K, with the retrieval
// check. Rows already run under --dir are read back. The climate codec's rate–distortion
// study against its peers is measured by go run ./bench climate.
//
// --dir is the root of the study's run directories (as sweep's --dir); --runs, its former
// name, is still accepted.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	_ "github.com/qzoo/qzoo/models/all"
	"github.com/qzoo/qzoo/models/llama/experiment"
	"github.com/qzoo/qzoo/models/llama/kvstudy"
	"github.com/qzoo/qzoo/plots"
)

// studies are the subcommands, by name.
var studies = map[string]struct {
	about string
	run   func(args []string, out io.Writer) error
}{
	"llm": {"the Llama quantization study of configs/llm (adaptations, PTQ sweeps)", runLLM},
	"kv":  {"the key/value-cache study of configs/kv (every cache at 4/3/2 bits, KVQuant's ablation, retrieval)", runKV},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stderr)
		os.Exit(2)
	}
	s, ok := studies[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "study: unknown study %q\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	if err := s.run(os.Args[2:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "study %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: go run ./study STUDY [flags]   (go run ./study STUDY --help lists its flags)")
	names := make([]string, 0, len(studies))
	for name := range studies {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-4s %s\n", name, studies[name].about)
	}
}

// common are the flags every study has.
type common struct {
	figure, configs, dir, set, dataDir string
	fs                                 *flag.FlagSet
}

// newFlags declares the common flags of a study whose configs, run directories and figure
// default to the given paths.
func newFlags(name, configs, dir, figure string) *common {
	c := &common{fs: flag.NewFlagSet("study "+name, flag.ContinueOnError)}
	c.fs.StringVar(&c.figure, "figure", figure, "where to write the figure (.png or .svg)")
	c.fs.StringVar(&c.configs, "configs", configs, "directory of the study's configs")
	c.fs.StringVar(&c.dir, "dir", dir, "root of the study's run directories")
	c.fs.StringVar(&c.dir, "runs", dir, "former name of --dir")
	c.fs.StringVar(&c.set, "set", "", `overrides for every run, e.g. "steps=3;eval_examples=16"`)
	c.fs.StringVar(&c.dataDir, "data_dir", "", "where data files are looked for (default: $QZOO_DATA_DIR, the user cache)")
	return c
}

// save writes fig to the --figure path and says so on out.
func (c *common) save(fig plots.Figure, out io.Writer) error {
	if err := fig.Save(c.figure); err != nil {
		return err
	}
	fmt.Fprintln(out, "figure written to", c.figure)
	return nil
}

func runLLM(args []string, out io.Writer) error {
	c := newFlags("llm", "configs/llm", "runs/llm", "figures/llm_bits.png")
	o := experiment.Options{Out: out}
	c.fs.IntVar(&o.Samples, "samples", 200, "stories the base model samples for the own-text measurement (0: skip)")
	c.fs.BoolVar(&o.Quiet, "quiet", false, "no progress lines")
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	o.ConfigDir, o.RunDir, o.Set, o.DataDir = c.configs, c.dir, c.set, c.dataDir
	rows, err := experiment.Run(o)
	if err != nil {
		return err
	}
	fmt.Fprint(out, experiment.Table(rows))
	return c.save(experiment.Figure(rows), out)
}

func runKV(args []string, out io.Writer) error {
	c := newFlags("kv", "configs/kv", "runs/kv", "figures/kv_cache.png")
	o := kvstudy.Options{Out: out}
	c.fs.IntVar(&o.RetrievalSentences, "retrieval_sentences", kvstudy.DefaultRetrievalSentences, "filler sentences of the retrieval check (-1: skip it)")
	c.fs.BoolVar(&o.Quiet, "quiet", true, "no progress lines of the runs")
	only := c.fs.String("rows", "", "comma-separated row names to run (default: every row; see kvstudy.Rows)")
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	o.ConfigDir, o.RunDir, o.Set, o.DataDir = c.configs, c.dir, c.set, c.dataDir
	if *only != "" {
		names := strings.Split(*only, ",")
		for _, r := range kvstudy.Rows() {
			if slices.Contains(names, r.Name) {
				o.Rows = append(o.Rows, r)
			}
		}
		if len(o.Rows) == 0 {
			return fmt.Errorf("no row named in --rows %q", *only)
		}
	}
	results, err := kvstudy.Run(o)
	if err != nil {
		return err
	}
	fmt.Fprint(out, kvstudy.Table(results))
	return c.save(kvstudy.Figure(results), out)
}
