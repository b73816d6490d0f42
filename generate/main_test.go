package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

var weights = filepath.Join("..", "..", "shared", "data", "weights")

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
