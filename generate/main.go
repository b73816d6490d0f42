// Command generate samples text from a Llama: a llama2.c checkpoint (.bin) or a run directory
// of the train command (fine-tuned, adapted or quantized models included).
//
//	go run ./generate --checkpoint PATH [--prompt TEXT] [--max_tokens N] [--temperature T]
//	    [--top_p P] [--seed S] [--tokenizer FILE] [--data_dir DIR]
//
// It prints the text, then the tokens per second of the cached decoding loop (prompt
// included) on stderr. Temperature 0 is greedy decoding; generation stops at max_tokens, at
// BOS (the end of a story) or at the end of the context.
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
	flag.StringVar(&o.tokenizer, "tokenizer", "", "llama2.c tokenizer file (default: the run's text_tokenizer, else "+llama.Tok512File+")")
	flag.StringVar(&o.dataDir, "data_dir", "", "where data files are looked for (default: $QZOO_DATA_DIR, the user cache, the working directory)")
	flag.Parse()
	if err := run(o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

type options struct {
	checkpoint, prompt, tokenizer, dataDir string
	maxTokens                              int
	temperature, topP                      float64
	seed                                   uint64
}

func run(o options, stdout, stderr io.Writer) error {
	if o.checkpoint == "" {
		return fmt.Errorf("--checkpoint is required")
	}
	if o.maxTokens < 1 {
		return fmt.Errorf("--max_tokens %d must be ≥ 1", o.maxTokens)
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
	fmt.Fprint(stdout, o.prompt)
	prev := prompt[len(prompt)-1]
	start := time.Now()
	out, err := gen.Generate(prompt, o.maxTokens, sampler, func(t int) {
		stdout.Write(tok.Piece(prev, t))
		prev = t
	})
	elapsed := time.Since(start)
	fmt.Fprintln(stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d tokens (%d prompt + %d generated) in %.2f s: %.1f tokens/s\n",
		len(prompt)+len(out), len(prompt), len(out), elapsed.Seconds(), float64(len(prompt)+len(out))/elapsed.Seconds())
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
