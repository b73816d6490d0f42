// Command generate samples text from a Llama: a llama2.c checkpoint (.bin) or a run directory
// of the train command (fine-tuned, adapted or quantized models included).
//
//	go run ./generate --checkpoint PATH [--prompt TEXT] [--max_tokens N] [--temperature T]
//	    [--top_p P] [--seed S] [--samples K] [--tokenizer FILE] [--data_dir DIR] [--save FILE.bin]
//
// It prints the text, then the tokens per second of the cached decoding loop (prompt
// included) on stderr. Temperature 0 is greedy decoding; generation stops at max_tokens, at
// BOS (the end of a story) or at the end of the context. --samples K draws K samples from the
// same prompt, one after the other from the one seeded sampler, each on its own line: e.g. a
// corpus of the model's own stories, on which to measure what quantization costs it.
//
// --save writes the model as a llama2.c checkpoint first — a run's LoRA adapters merged and
// its fake quantization applied (the dequantized values) — which this command, llama2.c's
// run.c and init_from all read back.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	_ "github.com/qzoo/qzoo/models/all"
	"github.com/qzoo/qzoo/models/llama"
)

func main() {
	o := options{}
	flag.StringVar(&o.checkpoint, "checkpoint", "", "llama2.c .bin file, or run directory of the train command (required)")
	flag.StringVar(&o.prompt, "prompt", "", "text to continue (default: start a story from BOS)")
	flag.IntVar(&o.maxTokens, "max_tokens", 256, "new tokens to generate at most")
	flag.Float64Var(&o.temperature, "temperature", 1, "sampling temperature (0: greedy)")
	flag.Float64Var(&o.topP, "top_p", 0.9, "nucleus sampling threshold in [0, 1] (0 or 1: off)")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed of the sampler")
	flag.IntVar(&o.samples, "samples", 1, "number of samples to draw from the prompt")
	flag.StringVar(&o.tokenizer, "tokenizer", "", "llama2.c tokenizer file (default: the run's text_tokenizer, else "+llama.Tok512File+")")
	flag.StringVar(&o.save, "save", "", "write the (merged, dequantized) model as a llama2.c .bin file, atomically")
	flag.StringVar(&o.dataDir, "data_dir", "", "where data files are looked for (default: $QZOO_DATA_DIR, the user cache, the working directory)")
	flag.Parse()
	if err := run(o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

type options struct {
	checkpoint, prompt, tokenizer, dataDir, save string
	maxTokens, samples                           int
	temperature, topP                            float64
	seed                                         uint64
}

func run(o options, stdout, stderr io.Writer) error {
	if o.checkpoint == "" {
		return fmt.Errorf("--checkpoint is required")
	}
	if o.maxTokens < 1 {
		return fmt.Errorf("--max_tokens %d must be ≥ 1", o.maxTokens)
	}
	if o.samples < 1 {
		o.samples = 1
	}
	sampler, err := llama.NewSampler(o.temperature, o.topP, o.seed)
	if err != nil {
		return err
	}
	store, tokName, err := loadModel(o.checkpoint)
	if err != nil {
		return err
	}
	if o.tokenizer != "" {
		tokName = o.tokenizer
	}
	tokPath, err := locateTokenizer(o.dataDir, tokName, o.checkpoint)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	backend, line, err := framework.NewBackend()
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, line)
	if o.save != "" {
		w, err := llama.EffectiveWeights(backend, store)
		if err != nil {
			return err
		}
		if err := framework.WriteFileAtomic(o.save, w.Encode()); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", o.save)
	}
	gen, err := llama.NewGenerator(backend, store)
	if err != nil {
		return err
	}
	defer gen.Finalize()
	tok, err := llama.LoadTokenizer(tokPath, gen.Config.VocabSize)
	if err != nil {
		return err
	}
	prompt := tok.Encode(o.prompt, true, false)
	start := time.Now()
	fed := 0
	for range o.samples {
		gen.Reset()
		fmt.Fprint(stdout, o.prompt)
		prev := prompt[len(prompt)-1]
		out, err := gen.Generate(prompt, o.maxTokens, sampler, func(t int) {
			stdout.Write(tok.Piece(prev, t))
			prev = t
		})
		fmt.Fprintln(stdout)
		if err != nil {
			return err
		}
		fed += len(prompt) + len(out)
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "%d samples, %d tokens (prompts included) in %.2f s: %.1f tokens/s\n",
		o.samples, fed, elapsed.Seconds(), float64(fed)/elapsed.Seconds())
	return nil
}

// locateTokenizer finds the tokenizer as a data file, else (llama2.c's habit) beside a .bin
// checkpoint.
func locateTokenizer(dataDir, name, checkpoint string) (string, error) {
	path, err := framework.LocateData(dataDir, name)
	if err == nil {
		return path, nil
	}
	if st, statErr := os.Stat(checkpoint); statErr == nil && !st.IsDir() {
		beside := filepath.Join(filepath.Dir(checkpoint), filepath.Base(name))
		if _, statErr := os.Stat(beside); statErr == nil {
			return beside, nil
		}
	}
	return "", err
}

// loadModel reads a llama2.c checkpoint or a run directory into a store, and names the
// tokenizer that goes with it.
func loadModel(path string) (*model.Store, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", err
	}
	if !st.IsDir() {
		w, err := llama.ReadCheckpoint(path)
		if err != nil {
			return nil, "", err
		}
		store := model.NewStore()
		return store, llama.Tok512File, w.Load(store)
	}
	cfg, store, _, err := framework.LoadRun(path)
	if err != nil {
		return nil, "", err
	}
	if cfg.Model != "llama" {
		return nil, "", fmt.Errorf("%s holds a %q run, not a llama", path, cfg.Model)
	}
	tokName, _ := cfg.Params["text_tokenizer"].(string)
	if tokName == "" {
		tokName = llama.Tok512File
	}
	return store, tokName, nil
}
