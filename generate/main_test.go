package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"
	"github.com/qzoo/qzoo/models/llama"
)

var weights = filepath.Join(datadir.Root(), "weights")

// expected is llama2.c's greedy output of stories260K (its test_all.py), 200 tokens from BOS.
const expected = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\nLily didn't want to help her mom, so she"

func TestGreedyStory(t *testing.T) {
	var out, log bytes.Buffer
	// No --data_dir: the tokenizer is found beside the checkpoint.
	o := options{checkpoint: filepath.Join(weights, "stories260K.bin"), maxTokens: 200, seed: 1}
	if err := run(o, &out, &log); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(out.String(), "\n"); got != expected {
		t.Errorf("got %q\nwant %q", got, expected)
	}
	if !strings.Contains(log.String(), "tokens/s") {
		t.Errorf("no speed reported: %q", log.String())
	}
}

func TestSampledIsSeeded(t *testing.T) {
	gen := func(seed uint64) string {
		var out, log bytes.Buffer
		o := options{checkpoint: filepath.Join(weights, "stories260K.bin"), prompt: "The cat", maxTokens: 40,
			temperature: 1, topP: 0.9, seed: seed}
		if err := run(o, &out, &log); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	a, b, c := gen(7), gen(7), gen(8)
	if a != b || a == c || !strings.HasPrefix(a, "The cat") {
		t.Errorf("seed 7 twice: %q / %q; seed 8: %q", a, b, c)
	}
}

func TestBadArguments(t *testing.T) {
	for _, c := range []struct {
		o    options
		want string
	}{
		{options{maxTokens: 5}, "--checkpoint is required"},
		{options{checkpoint: "nope.bin", maxTokens: 5}, "nope.bin"},
		{options{checkpoint: filepath.Join(weights, "stories260K.bin"), maxTokens: 5, temperature: -1}, "temperature"},
		{options{checkpoint: filepath.Join(weights, "stories260K.bin"), maxTokens: 5, topP: 2}, "top_p"},
		{options{checkpoint: filepath.Join(weights, "tok512.bin"), maxTokens: 5}, "tok512.bin"},
		{options{checkpoint: t.TempDir(), maxTokens: 5}, "not a run directory"},
	} {
		var out, log bytes.Buffer
		if err := run(c.o, &out, &log); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.o, err, c.want)
		}
	}
}

// TestQuantizedCache is the "done when": generation from stories260K with a 3-bit
// KVQuant cache calibrated on the model's own samples, its storage reported. The 4-bit KIVI
// cache with its fp16 window must keep llama2.c's greedy story for its first 60 tokens'
// worth of text (its window holds them in fp16 until token 64).
func TestQuantizedCache(t *testing.T) {
	var out, log bytes.Buffer
	o := options{checkpoint: filepath.Join(weights, "stories260K.bin"), maxTokens: 60, seed: 1, calibrationWindows: 4,
		set: "kv_quant=kvquant;kv_bits=3"}
	if err := run(o, &out, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "kvquant cache") || !strings.Contains(log.String(), "bits per cached value") {
		t.Errorf("no cache size reported: %q", log.String())
	}
	if len(strings.Fields(out.String())) < 20 {
		t.Errorf("kvquant cache generated %q", out.String())
	}
	out.Reset()
	o.set = "kv_quant=kivi;kv_bits=4;kv_residual=32"
	if err := run(o, &out, &log); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); !strings.HasPrefix(expected, got) || len(got) < 100 {
		t.Errorf("kivi with an fp16 window: %q is not a prefix of llama2.c's greedy story", got)
	}
}

// TestQuantizedCacheBadSettings checks that bad kv_* values are refused with the key named.
func TestQuantizedCacheBadSettings(t *testing.T) {
	bin := filepath.Join(weights, "stories260K.bin")
	for _, c := range []struct{ set, want string }{
		{"kv_quant=kivi;kv_bits=9", "kv_bits"},
		{"kv_quant=kivi;kv_bits=0", "kv_bits"},
		{"kv_quant=kivi;kv_group=3", "kv_group"},
		{"kv_quant=kivi;kv_group=12", "kv_group"},
		{"kv_quant=kivi;kv_residual=20", "kv_residual"},
		{"kv_quant=zip", "kv_quant"},
		{"kv_quant=kvquant;kv_outliers=NaN", "kv_outliers"},
		{"kv_quant=vq;kv_bits=2;kv_codebook_bits=1", "kv_codebook_bits"},
		{"kv_quant=kvquant;kv_calibration_from=" + t.TempDir(), "kv_calibration_from"},
		{"kv_bitz=3", "kv_bitz"},
	} {
		var out, log bytes.Buffer
		o := options{checkpoint: bin, maxTokens: 5, seed: 1, calibrationWindows: 2, set: c.set}
		if err := run(o, &out, &log); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--set %q: error %v, want one naming %q", c.set, err, c.want)
		}
	}
}

// TestHuggingFaceDirectory: --save_hf writes stories260K as a Hugging Face directory; from it,
// --prompt_ids with --print_ids (no tokenizer needed) generates llama2.c's greedy story, token
// for token as the .bin file does, and --logits records the same logits; a text prompt goes
// through the tokenizer.json converted from tok512 to the same text; --set ptq=nf4 writes a
// quantized directory that generates too.
func TestHuggingFaceDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hf")
	logitsBin := filepath.Join(t.TempDir(), "bin.json")
	var out, log bytes.Buffer
	o := options{checkpoint: filepath.Join(weights, "stories260K.bin"), promptIDs: "1", printIDs: true, maxTokens: 40,
		seed: 1, saveHF: dir, logits: logitsBin}
	if err := run(o, &out, &log); err != nil {
		t.Fatal(err)
	}
	fromBin := out.String()
	out.Reset()
	logitsHF := filepath.Join(t.TempDir(), "hf.json")
	o = options{checkpoint: dir, promptIDs: "1", printIDs: true, maxTokens: 40, seed: 1, logits: logitsHF}
	if err := run(o, &out, &log); err != nil {
		t.Fatal(err)
	}
	if out.String() != fromBin || strings.Count(fromBin, ",") != 40 {
		t.Errorf("from the Hugging Face directory %q, from the .bin %q", out.String(), fromBin)
	}
	read := func(path string) (r struct {
		Samples []struct {
			Tokens []int
			Logits [][]float32
		}
	}) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := read(logitsBin), read(logitsHF)
	if len(a.Samples) != 1 || len(a.Samples[0].Logits) != 40 || len(a.Samples[0].Logits[0]) != 512 || len(a.Samples[0].Tokens) != 41 {
		t.Fatalf("logits file: %d samples", len(a.Samples))
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("the logits from the Hugging Face directory differ from the .bin file's")
	}
	// --save_hf converted tok512 to tokenizer.json: text in and out as from the .bin file.
	texts := map[string]string{}
	for _, from := range []string{filepath.Join(weights, "stories260K.bin"), dir} {
		out.Reset()
		if err := run(options{checkpoint: from, prompt: "The little dog", maxTokens: 60, seed: 1}, &out, &log); err != nil {
			t.Fatal(err)
		}
		texts[from] = out.String()
	}
	if texts[dir] != texts[filepath.Join(weights, "stories260K.bin")] || !strings.HasPrefix(texts[dir], "The little dog") {
		t.Errorf("text from the Hugging Face directory %q, from the .bin %q", texts[dir], texts[filepath.Join(weights, "stories260K.bin")])
	}
	qdir := filepath.Join(t.TempDir(), "nf4")
	o = options{checkpoint: dir, promptIDs: "1", printIDs: true, maxTokens: 5, seed: 1, saveHF: qdir, set: "ptq=nf4"}
	if err := run(o, &out, &log); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	o = options{checkpoint: qdir, promptIDs: "1,403", printIDs: true, maxTokens: 5, seed: 1}
	if err := run(o, &out, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "1,403,") {
		t.Errorf("from the nf4 directory: %q", out.String())
	}
}

// A directory with a Llama 3-style tokenizer.json (formats/hf's test file: Llama 3's split,
// ignore_merges, <|begin_of_text|> = 267 added by its post-processor) is prompted with text:
// the prompt's ids are the ones worked out by hand in formats/hf's tests, after the BOS. The
// weights are stories260K's (vocabulary 512), so what follows is noise, beyond the
// tokenizer's 269 ids too (printed as ids).
func TestLlama3StyleTextPrompt(t *testing.T) {
	w, err := llama.ReadCheckpoint(filepath.Join(weights, "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "llama3-style")
	if err := w.WriteHF(dir, llama.HFOptions{TokenizerFrom: filepath.Join("..", "formats", "hf", "testdata", "tiny-llama3")}); err != nil {
		t.Fatal(err)
	}
	var out, log bytes.Buffer
	if err := run(options{checkpoint: dir, prompt: "hello world's 12345", printIDs: true, maxTokens: 4, seed: 1}, &out, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "267,259,266,265,32,264,52,53,") || strings.Count(out.String(), ",") != 11 {
		t.Errorf("ids %q, want 267,259,266,265,32,264,52,53 and 4 generated", out.String())
	}
}
