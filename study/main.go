// Command study runs one of the zoo's studies, prints its Markdown table and writes its figure:
//
//	go run ./study NAME --data_dir ../shared/data [--points fp32,kivi_4] [--set "steps=3"] [--dir runs/NAME]
//
// is go run ./sweep --config configs/NAME/study.json --dir runs/NAME (or the study file's "runs"
// root, when it names one: studies that share points share it): the study files of
// configs/ (llm: the Llama quantization study; kv: the key/value-cache study; climate: the
// VAEformer codec's rate–distortion against its peers; latents: the latent quantizers' PSNR
// against bits per image; distill: PTQ, QAT and quantized distillation at 2–4 bits on the
// model-size family, in the scaling study's root), run by package framework/sweep. Points
// already run under --dir are read back, their hooks' results too. --runs and --rows, the
// former names of --dir and --points, are still accepted.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/qzoo/qzoo/framework/sweep"
	_ "github.com/qzoo/qzoo/models/all"
)

// configs is where the studies' files are, configs/NAME/study.json.
const configs = "configs"

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") || os.Args[1] == "help" {
		usage(os.Stderr)
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "study %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: go run ./study NAME [--data_dir DIR] [--points a,b] [--set k=v] [--dir runs/NAME] [--figure FILE]")
	studies, _ := filepath.Glob(filepath.Join(configs, "*", "study.json"))
	for _, s := range studies {
		fmt.Fprintf(w, "  %-8s %s\n", filepath.Base(filepath.Dir(s)), s)
	}
}

// run parses a study's flags and runs it.
func run(name string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("study "+name, flag.ContinueOnError)
	var dir string
	fs.StringVar(&dir, "dir", "", `root of the study's run directories (default: the study's "runs", else runs/NAME)`)
	fs.StringVar(&dir, "runs", "", "former name of --dir")
	var points string
	fs.StringVar(&points, "points", "", "comma-separated points (names, parts, PART/NAME, variants or PART/VARIANT) to run (default: all)")
	fs.StringVar(&points, "rows", "", "former name of --points")
	set := fs.String("set", "", `overrides for every point, e.g. "steps=3;eval_examples=16"`)
	dataDir := fs.String("data_dir", "", "where data files are looked for (default: $QZOO_DATA_DIR, the user cache)")
	figure := fs.String("figure", "", `where to write the figure (default: the study's "figure")`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	path := filepath.Join(configs, name, "study.json")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no study %q: %w", name, err)
	}
	opts := sweep.Options{Dir: dir, DefaultDir: filepath.Join("runs", name), Set: *set, DataDir: *dataDir, Quiet: true}
	if points != "" {
		opts.Points = strings.Split(points, ",")
	}
	return sweep.RunFile(out, path, *figure, opts)
}
