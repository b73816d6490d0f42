// Command bench measures the zoo's speed against a peer — the same computation in PyTorch, or
// the compressors climate scientists use — on the same machine, in the same run:
//
//	go run ./bench vqae      [flags]   # models/vqae training steps against PyTorch (vqae.go)
//	go run ./bench llama     [flags]   # models/llama training and generation tokens/s against PyTorch (llama.go)
//	go run ./bench vaeformer [flags]   # models/vaeformer (the climate codec's model) training steps against PyTorch (vaeformer.go)
//	go run ./bench kv        [flags]   # generation with each quantized key/value cache against the fp32 one (kv.go)
//	go run ./bench quant     [flags]   # quant's quantize/dequantize throughput against PyTorch (quant.go)
//	go run ./bench climate   [flags]   # the climate codec's rate–distortion and speed against ZFP, bit-rounding, packing (climate.go)
//	go run ./bench climatescale [flags] # the climate codec on a 0.25° global grid: time, peak memory, MB/s against ZFP (climatescale.go)
//	go run ./bench speech    [flags]   # speech tokenizers' quality, bit rate and speed against Codec2 and Opus (speech.go)
//	go run ./bench mfu --run DIR       # a Llama run's training tokens/s and model FLOPs utilization on its card (mfu.go)
//	go run ./bench mainjob   [flags]   # the README's main job, go run ./train as a whole, against the same training in PyTorch (mainjob.go)
//
// go run ./bench with no benchmark is vqae, and -model llama|kv still picks the other two (the
// command's former form). Each file says what it measures on each side; go run ./bench NAME
// --help lists its flags. Every benchmark prints the header of package bench/harness (CPU,
// cores, load average, default backend, Go version and GOEXPERIMENT, the environment the peer
// inherits), a table of the median over its interleaved rounds with the min and the max, and
// with --json FILE writes the report in harness's one schema. The peers are the Python scripts
// of bench/peers, run with /usr/bin/python3 (--python), which need Debian's python3-torch; the
// climate and speech benchmarks' peers are the codecs of package baselines (ZFP, zstd; Codec2,
// Opus, pocketsphinx), and speech prints its own table (quality and bit rate per codec).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Benchmarks of the command (the first argument; -model picks among the first three).
const (
	ModelVQAE    = "vqae"
	ModelLlama   = "llama"
	ModelKV      = "kv"
	BenchQuant   = "quant"
	BenchClimate = "climate"
	BenchSpeech  = "speech"
)

// benchmark is one subcommand.
type benchmark struct {
	about string
	run   func(args []string, stdout, log io.Writer) error
}

// benchmarks are the subcommands, by name.
var benchmarks = map[string]benchmark{
	ModelVQAE:  {"models/vqae training steps against PyTorch", func(a []string, o, l io.Writer) error { return runModel(ModelVQAE, a, o, l) }},
	ModelLlama: {"models/llama training and generation tokens/s against PyTorch", func(a []string, o, l io.Writer) error { return runModel(ModelLlama, a, o, l) }},
	ModelVAEformer: {"models/vaeformer (the climate codec's model) training steps against PyTorch", func(a []string, o, l io.Writer) error {
		return runModel(ModelVAEformer, a, o, l)
	}},
	ModelKV:           {"generation with each quantized key/value cache against the fp32 one", func(a []string, o, l io.Writer) error { return runModel(ModelKV, a, o, l) }},
	BenchQuant:        {"quant's quantize/dequantize throughput against PyTorch", runQuantCommand},
	BenchClimate:      {"the climate codec against ZFP, bit-rounding + lossless coders, packing", runClimateCommand},
	BenchClimateScale: {"the climate codec on a 0.25° global grid (synthetic): time, peak memory, MB/s against ZFP", runClimateScaleCommand},
	BenchSpeech:       {"speech tokenizers against Codec2 and Opus on held-out clips", runSpeechCommand},
	BenchMFU:          {"a Llama run's training tokens/s and model FLOPs utilization (MFU) on its card", runMFUCommand},
	BenchMainJob:      {"the README's main job (go run ./train), whole process, against the same training in PyTorch", runMainJobCommand},
}

func main() {
	args := os.Args[1:]
	name := "" // vqae, or -model's choice
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		usage(os.Stderr)
		os.Exit(2)
	}
	var err error
	if name == "" {
		err = runModel("", args, os.Stdout, os.Stderr)
	} else if b, ok := benchmarks[name]; ok {
		err = b.run(args, os.Stdout, os.Stderr)
	} else {
		fmt.Fprintf(os.Stderr, "bench: unknown benchmark %q\n", name)
		usage(os.Stderr)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: go run ./bench BENCHMARK [flags]   (go run ./bench BENCHMARK --help lists its flags)")
	names := make([]string, 0, len(benchmarks))
	for name := range benchmarks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-9s %s\n", name, benchmarks[name].about)
	}
}
