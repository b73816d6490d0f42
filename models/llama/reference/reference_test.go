package reference

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"

	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/models/llama"
)

var dataDir = datadir.Root()

// expected is llama2.c's published output of stories260K at temperature 0 for 200 steps from
// BOS (its test_all.py, expected_stdout).
const expected = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\nLily didn't want to help her mom, so she"

func TestGreedyMatchesLlama2c(t *testing.T) {
	opened, err := llama.Open(filepath.Join(dataDir, "weights", "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := opened.Weights()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := opened.LoadTokenizer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	m := New(w)
	toks := []int{llama2c.BOS}
	for len(toks) < 201 { // BOS, then one token per step
		logits := m.Forward(toks[len(toks)-1])
		next := 0
		for i, v := range logits {
			if v > logits[next] {
				next = i
			}
		}
		toks = append(toks, next)
	}
	if got, err := tok.Decode(toks); err != nil || got != expected {
		t.Errorf("greedy generation\n got %q (%v)\nwant %q", got, err, expected)
	}
	// The text re-encodes to the generated tokens.
	text, err := tok.Decode(toks[:40])
	if err != nil {
		t.Fatal(err)
	}
	enc, err := tok.Encode(text, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(enc[1:], toks[1:len(enc)]) {
		t.Logf("re-encoding differs (allowed: BPE need not round-trip generated tokens): %v vs %v", enc, toks[:40])
	}
}
