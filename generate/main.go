// Command generate samples text from a Llama: a llama2.c checkpoint (.bin), a Hugging Face
// model directory (config.json + model.safetensors or shards: Llama, Mistral, Qwen2, SmolLM) or
// a run directory of the train command (fine-tuned, adapted or quantized models included).
//
//	go run ./generate --checkpoint PATH [--prompt TEXT | --prompt_ids 1,345,...] [--print_ids]
//	    [--logits FILE.json] [--max_tokens N] [--temperature T] [--top_p P] [--seed S] [--samples K]
//	    [--tokenizer FILE] [--data_dir DIR] [--save FILE.bin] [--save_hf DIR]
//	    [--set "kv_quant=kvquant;kv_bits=3"] [--calibration_windows N]
//
// --prompt_ids gives the prompt as token ids (BOS included if wanted) instead of text;
// --print_ids prints token ids (the prompt's, then the generated ones, comma-separated) instead
// of text. With both, no tokenizer is read. --logits writes, as JSON, the logits after every
// token fed (prompt and generated, each sample): {"samples": [{"tokens": [...], "logits":
// [[...], ...]}]}, logits[i] being the distribution of the token after tokens[0..i].
//
// A Hugging Face directory's text goes through its tokenizer.json (package formats/hf:
// byte-level BPE with GPT-2's, Llama 3's or Qwen2's split, or SentencePiece-style BPE); its
// prompt starts with the special tokens the tokenizer.json's post_processor puts before a text
// (Llama 3's <|begin_of_text|>; none for Qwen2), else with its bos_token_id (when it has one),
// and its generation stops at its eos_token_id.
//
// It prints the text, then the tokens per second of the cached decoding loop (prompt
// included) on stderr. Temperature 0 is greedy decoding; generation stops at max_tokens, at
// BOS (the end of a story) or at the end of the context. --samples K draws K samples from the
// same prompt, one after the other from the one seeded sampler, each on its own line: e.g. a
// corpus of the model's own stories, on which to measure what quantization costs it.
//
// --set "key=value;..." overrides the model's hyperparameters, e.g. a quantized key/value
// cache: --set "kv_quant=kvquant;kv_bits=3" (keys kv_*, declared in package kvcache). A run
// directory calibrated for the same cache quantizer brings its constants, as does
// kv_calibration_from=RUN_DIR (e.g. a run of configs/kv); otherwise a calibrated quantizer
// is fitted first (llama.CacheQuantizer) on --calibration_windows sequences the
// model samples itself (temperature 1, seed --seed), without data. The cache's packed size
// is printed with the speed.
//
// --save writes the model as a llama2.c checkpoint first — a run's LoRA adapters merged and
// its fake quantization applied (the dequantized values) — which this command, llama2.c's
// run.c and init_from all read back. --save_hf DIR writes it as a Hugging Face model
// directory (float32; the tokenizer files of a Hugging Face source copied along), which
// transformers, this command and init_from read; with --set "ptq=rtn;ptq_bits=4;ptq_group_size=64"
// (or ptq=nf4) its linear weights are written quantized instead (packed codes and scales,
// the layout of models/llama's hfquant.go), which this command and init_from read back.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/atomicfile"
	"github.com/qzoo/qzoo/kvcache"
	_ "github.com/qzoo/qzoo/models/all"
	"github.com/qzoo/qzoo/models/llama"
	"github.com/qzoo/qzoo/quant"
)

func main() {
	o := options{}
	flag.StringVar(&o.checkpoint, "checkpoint", "", "llama2.c .bin file, or run directory of the train command (required)")
	flag.StringVar(&o.prompt, "prompt", "", "text to continue (default: start a story from BOS)")
	flag.StringVar(&o.promptIDs, "prompt_ids", "", "the prompt as comma-separated token ids (instead of --prompt)")
	flag.BoolVar(&o.printIDs, "print_ids", false, "print token ids instead of text")
	flag.StringVar(&o.logits, "logits", "", "write every fed position's logits as JSON to this file")
	flag.StringVar(&o.saveHF, "save_hf", "", "write the (merged, dequantized; with ptq set, quantized) model as a Hugging Face directory")
	flag.IntVar(&o.maxTokens, "max_tokens", 256, "new tokens to generate at most")
	flag.Float64Var(&o.temperature, "temperature", 1, "sampling temperature (0: greedy)")
	flag.Float64Var(&o.topP, "top_p", 0.9, "nucleus sampling threshold in [0, 1] (0 or 1: off)")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed of the sampler")
	flag.IntVar(&o.samples, "samples", 1, "number of samples to draw from the prompt")
	flag.StringVar(&o.tokenizer, "tokenizer", "", "llama2.c tokenizer file, or a directory with a tokenizer.json (default: a Hugging Face model's own, the run's text_tokenizer, else "+llama.Tok512File+")")
	flag.StringVar(&o.save, "save", "", "write the (merged, dequantized) model as a llama2.c .bin file, atomically")
	flag.StringVar(&o.dataDir, "data_dir", "", "where data files are looked for (default: $QZOO_DATA_DIR, the user cache, the working directory)")
	flag.StringVar(&o.set, "set", "", `overrides "key=value;..." of the model's hyperparameters, e.g. "kv_quant=kvquant;kv_bits=3" for a quantized key/value cache`)
	flag.IntVar(&o.calibrationWindows, "calibration_windows", 16, "sequences the model samples to calibrate a cache quantizer on (when the checkpoint brings no calibration)")
	flag.Parse()
	if err := run(o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

type options struct {
	checkpoint, prompt, tokenizer, dataDir, save, set string
	promptIDs, logits, saveHF                         string
	printIDs                                          bool
	maxTokens, samples, calibrationWindows            int
	temperature, topP                                 float64
	seed                                              uint64
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
	opened, err := llama.Open(o.checkpoint)
	if err != nil {
		return err
	}
	store, cfg := opened.Store, opened.Config
	before, _ := kvcache.ConfigFromParams(cfg.Params)
	if err := cfg.Set(o.set); err != nil {
		return fmt.Errorf("--set: %w", err)
	}
	if o.set != "" {
		for k, v := range cfg.Params {
			store.SetParam(k, v)
		}
	}
	if o.tokenizer != "" {
		opened.Tokenizer = o.tokenizer
	}
	var tok llama.TextTokenizer
	if o.promptIDs == "" || !o.printIDs {
		if tok, err = opened.LoadTextTokenizer(o.dataDir); err != nil {
			return err
		}
	}
	prompt, err := promptTokens(o, opened, tok)
	if err != nil {
		return err
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
		enc, err := w.Encode()
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(o.save, enc); err != nil {
			return fmt.Errorf("generate: write %s: %w", o.save, err)
		}
		fmt.Fprintf(stderr, "wrote %s\n", o.save)
	}
	if o.saveHF != "" {
		if err := saveHF(backend, store, cfg, opened, o.saveHF, o.dataDir); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", o.saveHF)
	}
	var gen llama.Decoder
	var kv *llama.KVStepper
	if kvCfg, ok := kvcache.ConfigFromParams(cfg.Params); ok {
		q, err := cacheQuantizer(backend, store, cfg, kvCfg, before, o, stderr)
		if err != nil {
			return err
		}
		if kv, err = llama.NewKVStepper(backend, store, q, 1, cfg.Params[llama.ParamSeqLen].(int)); err != nil {
			return err
		}
		defer kv.Finalize()
		gen = kv.Decoder()
	} else {
		g, err := llama.NewGenerator(backend, store, 1)
		if err != nil {
			return err
		}
		defer g.Finalize()
		gen = g
	}
	rec := &recorder{Decoder: gen, keep: o.logits != ""}
	var recorded []sampleLogits
	start := time.Now()
	fed := 0
	for range o.samples {
		rec.Reset()
		if o.printIDs {
			fmt.Fprint(stdout, joinIDs(prompt))
		} else {
			fmt.Fprint(stdout, o.prompt)
		}
		prev := prompt[len(prompt)-1]
		var pieceErr error
		out, err := llama.GenerateUntil(rec, prompt, o.maxTokens, sampler, opened.StopTokens(), func(t int) {
			if o.printIDs {
				fmt.Fprintf(stdout, ",%d", t)
				return
			}
			p, err := tok.Piece(prev, t)
			if err != nil && pieceErr == nil {
				pieceErr = err
			}
			stdout.Write(p)
			prev = t
		})
		fmt.Fprintln(stdout)
		if err != nil {
			return err
		}
		if pieceErr != nil {
			return pieceErr
		}
		fed += len(prompt) + len(out)
		if rec.keep {
			recorded = append(recorded, sampleLogits{Tokens: append(slices.Clone(prompt), out...), Logits: rec.logits})
		}
	}
	elapsed := time.Since(start)
	if o.logits != "" {
		b, err := json.Marshal(map[string]any{"samples": recorded})
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(o.logits, b); err != nil {
			return fmt.Errorf("generate: write %s: %w", o.logits, err)
		}
	}
	fmt.Fprintf(stderr, "%d samples, %d tokens (prompts included) in %.2f s: %.1f tokens/s\n",
		o.samples, fed, elapsed.Seconds(), float64(fed)/elapsed.Seconds())
	if kv != nil {
		fmt.Fprintf(stderr, "%s cache of the last sample: %d bytes for %d tokens (%.2f bits per cached value; fp32: 32), constants %d bytes\n",
			kv.Quantizer.Config.Method, kv.Bytes(), kv.Pos(), 8*float64(kv.Bytes())/float64(kv.Pos()*2*kv.Config.Layers*kv.Config.KVDim()), kv.Quantizer.ConstantBytes())
	}
	return nil
}

// cacheQuantizer returns the cache quantizer of kvCfg ([llama.CacheQuantizer]): with the
// constants of kv_calibration_from, or the checkpoint's own when the run was calibrated for
// the same config (before), else fitted on windows the model samples itself.
func cacheQuantizer(backend compute.Backend, store *model.Store, cfg *framework.Config, kvCfg, before kvcache.Config, o options, stderr io.Writer) (*kvcache.Quantizer, error) {
	return llama.CacheQuantizer(backend, store, kvCfg, llama.CacheCalibration{
		From:   cfg.Params[kvcache.ParamKVCalibrationFrom].(string),
		Stored: reflect.DeepEqual(before, kvCfg),
		Source: o.checkpoint,
		Batch:  8,
		Out:    stderr,
		Windows: func() ([][]int32, error) {
			if o.calibrationWindows < 1 {
				return nil, fmt.Errorf("--calibration_windows %d must be ≥ 1", o.calibrationWindows)
			}
			return llama.SampleWindows(backend, store, o.calibrationWindows, cfg.Params[llama.ParamSeqLen].(int), o.seed)
		},
	})
}

// promptTokens is the prompt: --prompt_ids as given, else --prompt as llama.Opened's
// PromptTokens encodes it (after the tokenizer.json's post_processor's BOS, else the model's).
func promptTokens(o options, m *llama.Opened, tok llama.TextTokenizer) ([]int, error) {
	vocab := m.Config.Params[llama.ParamVocabSize].(int)
	var ids []int
	if o.promptIDs != "" {
		if o.prompt != "" {
			return nil, fmt.Errorf("--prompt and --prompt_ids both given: one prompt only")
		}
		for _, f := range strings.Split(o.promptIDs, ",") {
			id, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || id < 0 || id >= vocab {
				return nil, fmt.Errorf("--prompt_ids: %q is not a token id in [0, %d)", f, vocab)
			}
			ids = append(ids, id)
		}
		return ids, nil
	}
	ids, err := m.PromptTokens(tok, o.prompt)
	if err != nil {
		return nil, fmt.Errorf("--prompt: %w", err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("--prompt is empty and the model has no bos_token_id: give a prompt")
	}
	return ids, nil
}

func joinIDs(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, ",")
}

// sampleLogits is one sample's record for --logits.
type sampleLogits struct {
	Tokens []int       `json:"tokens"`
	Logits [][]float32 `json:"logits"`
}

// recorder is a decoder that keeps a copy of the logits of every step (when keep).
type recorder struct {
	llama.Decoder
	keep   bool
	logits [][]float32
}

func (r *recorder) Step(token int) ([]float32, error) {
	l, err := r.Decoder.Step(token)
	if err == nil && r.keep {
		r.logits = append(r.logits, slices.Clone(l))
	}
	return l, err
}

func (r *recorder) Reset() {
	r.Decoder.Reset()
	r.logits = nil
}

// saveHF writes the model the store computes with as a Hugging Face directory: quantized by
// the ptq_* keys when ptq is set, float32 otherwise; a Hugging Face source's tokenizer files
// copied along, a llama2.c tokenizer (when found) converted to tokenizer.json.
func saveHF(backend compute.Backend, store *model.Store, cfg *framework.Config, m *llama.Opened, dir, dataDir string) error {
	w, err := llama.EffectiveWeights(backend, store)
	if err != nil {
		return err
	}
	opt := llama.HFOptions{}
	if m.HF != nil {
		opt.TokenizerFrom, opt.Source = m.Path, m.HF
	} else if tok, err := m.LoadTokenizer(dataDir); err == nil {
		opt.Llama2CTokenizer = tok
	}
	if method, _ := cfg.Params[quant.ParamPTQ].(string); method != "" && method != "none" {
		spec := quant.SpecFromParams(cfg.Params, cfg.Params[quant.ParamPTQBits].(int))
		return w.WriteHFQuantized(dir, spec, opt)
	}
	return w.WriteHF(dir, opt)
}
