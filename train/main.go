// Command train trains a model of the zoo from a JSON config:
//
//	go run ./train --config configs/vq/simvq_fashion.json [--set "key=value;..."] [--checkpoint DIR]
//
// It resumes from the latest checkpoint in DIR when there is one, writes the resolved config,
// checkpoints, metrics.jsonl and eval.json there, and prints the final evaluation. It exits
// with status 1 when the run fails or when the config's "expect" conditions do not all hold.
// --help lists the registered models, datasets and their hyperparameters.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/qzoo/qzoo/framework"
	_ "github.com/qzoo/qzoo/models/all"
)

func main() {
	configPath := flag.String("config", "", "path of the JSON config (required)")
	set := flag.String("set", "", `overrides "key=value;key2=value2" of config keys and model, dataset and optimizer hyperparameters`)
	dir := flag.String("checkpoint", "", "run directory for checkpoints and logs (default runs/<config name>)")
	dataDir := flag.String("data_dir", "", "where datasets are looked for (default: $QZOO_DATA_DIR, then system locations)")
	quiet := flag.Bool("quiet", false, "no progress line")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./train --config FILE [--set k=v;...] [--checkpoint DIR]\n\nflags:\n")
		flag.PrintDefaults()
		fmt.Fprintf(flag.CommandLine.Output(), "\nmodels, datasets and their hyperparameters (config \"params\", or -set key=value):\n%s", framework.Help())
	}
	flag.Parse()
	if err := run(*configPath, *set, *dir, *dataDir, *quiet); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func run(configPath, set, dir, dataDir string, quiet bool) error {
	if configPath == "" {
		return fmt.Errorf("--config is required (see --help)")
	}
	cfg, err := framework.LoadConfig(configPath)
	if err != nil {
		return err
	}
	if err := cfg.Set(set); err != nil {
		return fmt.Errorf("config %s: %w", configPath, err)
	}
	if dir == "" {
		dir = filepath.Join("runs", strings.TrimSuffix(filepath.Base(configPath), filepath.Ext(configPath)))
	}
	res, err := framework.Run(cfg, framework.RunOptions{Dir: dir, DataDir: dataDir, Quiet: quiet})
	if err != nil {
		return err
	}
	fmt.Printf("trained %d steps (%.2f steps/s); run directory %s\n", res.Step, res.StepsPerSecond, res.Dir)
	fmt.Printf("time: %s\n", res.Timing)
	for _, l := range res.Expectations {
		fmt.Println(l)
	}
	if !res.ExpectationsMet {
		return fmt.Errorf("config %s: expectations not met (see above); the run itself is in %s", configPath, res.Dir)
	}
	return nil
}
