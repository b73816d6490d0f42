package llama_test

import (
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"

	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/internal/testbackend"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/models/llama"
	"github.com/qzoo/qzoo/models/llama/reference"
)

var dataDir = datadir.Root()

// goBackend is the pure-Go backend: the one every machine has.
func goBackend(t testing.TB) compute.Backend { return testbackend.Go(t) }

func stories260K(t testing.TB) (*llama.Weights, *llama2c.Tokenizer) {
	m, err := llama.Open(filepath.Join(dataDir, "weights", "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := m.Weights()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.LoadTokenizer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return w, tok
}

func storeOf(t testing.TB, w *llama.Weights) *model.Store {
	store := model.NewStore()
	if err := w.Load(store); err != nil {
		t.Fatal(err)
	}
	return store
}

// expected is llama2.c's published output of stories260K at temperature 0 for 200 steps from
// BOS (the expected_stdout of its test_all.py).
const expected = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\nLily didn't want to help her mom, so she"

func TestGreedyMatchesLlama2c(t *testing.T) {
	w, tok := stories260K(t)
	gen, err := llama.NewGenerator(goBackend(t), storeOf(t, w), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Finalize()
	greedy, _ := llama.NewSampler(0, 0, 1)
	out, err := gen.Generate([]int{llama2c.BOS}, 200, greedy, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tok.Decode(append([]int{llama2c.BOS}, out...)); err != nil || got != expected {
		t.Errorf("greedy generation\n got %q (%v)\nwant %q", got, err, expected)
	}
}

// fullLogits runs the full-sequence forward pass (no cache) over tokens [1, T] and returns
// the logits [T, VocabSize], flat.
func fullLogits(t *testing.T, store *model.Store, tokens []int) []float32 {
	exec, err := model.NewExec(goBackend(t), store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return llama.Forward(scope, x, nil, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	ids := make([]int32, len(tokens))
	for i, v := range tokens {
		ids[i] = int32(v)
	}
	out, err := exec.Exec([][]int32{ids})
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

// testTokens is BOS and a prompt, then a greedy continuation: 96 positions of real text.
func testTokens(t *testing.T, w *llama.Weights, tok *llama2c.Tokenizer) []int {
	toks, err := tok.Encode("Tom and his dog went to the river. The sun was hot", true, false)
	if err != nil {
		t.Fatal(err)
	}
	ref := reference.New(w)
	for len(toks) < 96 {
		logits := ref.Forward(toks[ref.Len()])
		if ref.Len() == len(toks) {
			best := 0
			for i, v := range logits {
				if v > logits[best] {
					best = i
				}
			}
			toks = append(toks, best)
		}
	}
	return toks
}

// TestLogitsMatchReference compares the GoMLX forward pass with the independent float64
// implementation at every position.
func TestLogitsMatchReference(t *testing.T) {
	w, tok := stories260K(t)
	toks := testTokens(t, w, tok)
	got := fullLogits(t, storeOf(t, w), toks)
	ref := reference.New(w)
	v := w.VocabSize
	var worst float64
	for p, token := range toks {
		want := ref.Forward(token)
		for i, x := range want {
			worst = max(worst, math.Abs(float64(got[p*v+i])-x))
		}
	}
	t.Logf("max |logit − float64 reference| over %d positions: %.2g", len(toks), worst)
	if worst > 1e-4 {
		t.Errorf("logits differ from the float64 reference by %.3g > 1e-4", worst)
	}
}

// TestCacheMatchesFullForward checks the cached one-token-at-a-time path against the
// full-sequence forward pass.
func TestCacheMatchesFullForward(t *testing.T) {
	w, tok := stories260K(t)
	toks := testTokens(t, w, tok)
	store := storeOf(t, w)
	full := fullLogits(t, store, toks)
	gen, err := llama.NewGenerator(goBackend(t), store, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Finalize()
	v := w.VocabSize
	var worst float64
	for p, token := range toks {
		logits, err := gen.Step(token)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range logits {
			worst = max(worst, math.Abs(float64(x-full[p*v+i])))
		}
	}
	t.Logf("max |cached − full| logit: %.2g", worst)
	// Both are float32; the cached path sums attention over its length bucket (masked slots
	// exactly 0) in another order, which moves logits of magnitude ~10 by ~1e-5.
	if worst > 5e-5 {
		t.Errorf("cached logits differ from the full forward pass by %.3g > 5e-5", worst)
	}
}

// TestBucketsMatchFullCapacity checks the generator's length buckets against one step graph
// over the whole 512-slot context (masked: the generator before buckets), at batch 1 and 3,
// over every position of the context: the two sum the same nonzero attention terms, only the
// count of masked zeros differs, and with it the blocking of the backend's matrix product over
// the slots (its summation order). Greedy tokens must agree everywhere.
func TestBucketsMatchFullCapacity(t *testing.T) {
	w, _ := stories260K(t)
	store := storeOf(t, w)
	v, n := w.VocabSize, w.SeqLen
	for _, batch := range []int{1, 3} {
		full, err := llama.NewGeneratorBuckets(goBackend(t), store, batch, []int{n})
		if err != nil {
			t.Fatal(err)
		}
		defer full.Finalize()
		bucketed, err := llama.NewGenerator(goBackend(t), store, batch)
		if err != nil {
			t.Fatal(err)
		}
		defer bucketed.Finalize()
		tokens := make([]int32, batch)
		for b := range tokens {
			tokens[b] = int32(llama2c.BOS + 37*b) // a different first token for every sequence
		}
		var worst float64
		for p := range n {
			want, err := full.StepBatch(tokens)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bucketed.StepBatch(tokens)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				worst = max(worst, math.Abs(float64(got[i]-want[i])))
			}
			for b := range tokens { // greedy, from the full-capacity logits
				best := argmax(want[b*v : (b+1)*v])
				if other := argmax(got[b*v : (b+1)*v]); other != best {
					t.Errorf("batch %d, sequence %d, position %d: greedy token %d bucketed, %d full-capacity", batch, b, p, other, best)
				}
				tokens[b] = int32(best)
			}
			if p == n-1 {
				if _, err := bucketed.StepBatch(tokens); !errors.Is(err, llama.ErrContextFull) {
					t.Errorf("batch %d: step %d of a %d-token context: err %v, want ErrContextFull", batch, n+1, n, err)
				}
			}
		}
		t.Logf("batch %d: max |bucketed − full-capacity| logit over %d positions: %.2g", batch, n, worst)
		if worst > 5e-5 { // TestCacheMatchesFullForward's bound; measured 1.7e-5 and 2.2e-5 (Go backend)
			t.Errorf("batch %d: bucketed logits differ from the full-capacity step's by %.3g > 5e-5", batch, worst)
		}
	}
}

func argmax(xs []float32) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}
