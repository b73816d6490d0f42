// Command eval evaluates the latest checkpoint of a run on its model's evaluation set:
//
//	go run ./eval --checkpoint DIR [--set "eval_split=validation;eval_examples=1000"] [--json FILE]
//
// It prints a metrics table and writes the metrics as JSON (default DIR/eval.json), and the
// per-example samples the model records beside it (eval_samples.json; an older one is removed
// when the model records none). The evaluators themselves live in package metrics.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qzoo/qzoo/framework"
	_ "github.com/qzoo/qzoo/models/all"
)

func main() {
	dir := flag.String("checkpoint", "", "run directory written by the train command (required)")
	out := flag.String("json", "", "where to write the metrics as JSON (default DIR/eval.json)")
	dataDir := flag.String("data_dir", "", "where datasets are looked for (default: $QZOO_DATA_DIR, then system locations)")
	set := flag.String("set", "", `overrides of eval_split, eval_examples and eval_batch_size, e.g. "eval_split=validation"`)
	flag.Parse()
	if err := run(*dir, *set, *out, *dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
}

func run(dir, set, out, dataDir string) error {
	if dir == "" {
		return fmt.Errorf("--checkpoint is required")
	}
	ev, cfg, err := framework.EvaluateRun(dir, set, framework.RunOptions{DataDir: dataDir})
	if err != nil {
		return err
	}
	fmt.Print(framework.FormatMetrics(fmt.Sprintf("%s (%s) at step %d, split %s", cfg.Model, dir, ev.Step, ev.Split), ev.Metrics))
	if out == "" {
		out = filepath.Join(dir, framework.EvalFile)
	}
	if err := framework.WriteEvalSamples(framework.EvalSamplesPath(out), ev.Step, ev.Split, ev.Samples); err != nil {
		return err
	}
	return framework.WriteEval(out, ev.Step, ev.Metrics)
}
