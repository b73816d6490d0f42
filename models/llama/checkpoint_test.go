package llama_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/models/llama"
	"github.com/qzoo/qzoo/models/llama/reference"
)

// TestCheckpointRoundTrip reads stories260K into the model's weights and writes them back:
// everything but llama2.c's stored RoPE tables (recomputed here in float64, then rounded) is
// bit-exact.
func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(dataDir, "weights", "stories260K.bin")
	w, err := llama.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if w.Config != llama.Stories260K {
		t.Errorf("config %+v, want %+v", w.Config, llama.Stories260K)
	}
	// 512·64 embedding + 5·(2·64 norms + 64·64 + 2·32·64 + 64·64 + 3·172·64) + 64 final norm.
	if n := w.NumParams(); n != 260032 {
		t.Errorf("NumParams = %d, want 260032", n)
	}
	orig, _ := os.ReadFile(path)
	enc, err := w.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ropeStart := len(orig) - 4*w.SeqLen*w.HeadDim()
	if len(enc) != len(orig) || !bytes.Equal(enc[:ropeStart], orig[:ropeStart]) {
		t.Fatal("re-encoded weights differ from the file")
	}
	var worst float64
	for i := ropeStart; i < len(orig); i += 4 {
		a := math.Float32frombits(binary.LittleEndian.Uint32(orig[i:]))
		b := math.Float32frombits(binary.LittleEndian.Uint32(enc[i:]))
		worst = max(worst, math.Abs(float64(a-b)))
	}
	if worst > 1e-4 {
		t.Errorf("RoPE tables differ from llama2.c's by %g", worst)
	}
}

// untied writes stories260K with its classifier stored apart from the embedding (negative
// vocab_size), the classifier being the embedding scaled by scale, and reads it back.
func untied(t *testing.T, w *llama.Weights, scale float32) *llama.Weights {
	u := *w
	u.Shared = false
	u.Classifier = slices.Clone(w.Embedding)
	for i := range u.Classifier {
		u.Classifier[i] *= scale
	}
	enc, err := u.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "untied.bin")
	if err := os.WriteFile(path, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := llama.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Shared || !slices.Equal(back.Classifier, u.Classifier) {
		t.Fatal("the separate classifier did not survive the file")
	}
	return back
}

// TestSeparateClassifier: a checkpoint whose classifier is stored apart loads into a
// classifier variable of its own; a copy of the embedding gives exactly the tied model's
// logits, a different one the float64 reference's; its size counts the classifier; merged
// weights keep it.
func TestSeparateClassifier(t *testing.T) {
	w, tok := stories260K(t)
	toks := testTokens(t, w, tok)[:24]
	tied := fullLogits(t, storeOf(t, w), toks)
	if d := maxDiff(fullLogits(t, storeOf(t, untied(t, w, 1)), toks), tied); d != 0 {
		t.Errorf("a separate classifier equal to the embedding moved the logits by %g", d)
	}
	u := untied(t, w, 0.5)
	store := storeOf(t, u)
	got := fullLogits(t, store, toks)
	ref := reference.New(u)
	var worst float64
	for p, token := range toks {
		for i, x := range ref.Forward(token) {
			worst = max(worst, math.Abs(float64(got[p*u.VocabSize+i])-x))
		}
	}
	if worst > 1e-4 {
		t.Errorf("untied logits differ from the float64 reference by %.3g", worst)
	}
	params := llamaParams(t)
	size, err := llama.Size(store, params, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(260032 + 512*64); size.BaseParams != want {
		t.Errorf("BaseParams %d, want %d (the classifier counted)", size.BaseParams, want)
	}
	merged, err := llama.EffectiveWeights(goBackend(t), store)
	if err != nil {
		t.Fatal(err)
	}
	if merged.Shared || !slices.Equal(merged.Classifier, u.Classifier) {
		t.Error("EffectiveWeights lost the separate classifier")
	}
}

// llamaParams is the resolved hyperparameters of a llama config with its defaults.
func llamaParams(t *testing.T) map[string]any {
	cfg := framework.DefaultConfig()
	cfg.Model, cfg.Dataset = "llama", "text"
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	return cfg.Params
}

// TestCheckpointErrorsNameTheFile: what the format refuses, the model's reader refuses with
// the file's name.
func TestCheckpointErrorsNameTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stories260K.bin")
	os.WriteFile(path, []byte("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1056540\n"), 0o644)
	if _, err := llama.ReadCheckpoint(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "Git LFS pointer") {
		t.Errorf("LFS pointer: %v", err)
	}
}

// TestOpen opens a llama2.c file: its config carries the file's architecture, its weights
// are the file's, and a tokenizer found nowhere as a data file is looked for beside it.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"stories260K.bin", "tok512.bin"} {
		b, err := os.ReadFile(filepath.Join(dataDir, "weights", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, map[string]string{"stories260K.bin": "model.bin", "tok512.bin": "my_tok.bin"}[name]), b, 0o644)
	}
	m, err := llama.Open(filepath.Join(dir, "model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Model != "llama" || m.Config.Params[llama.ParamVocabSize] != 512 || m.Config.Params["text_vocab_size"] != 512 {
		t.Errorf("config %s", m.Config.JSON())
	}
	if w, err := m.Weights(); err != nil || w.Config != llama.Stories260K {
		t.Errorf("weights %+v, %v", w, err)
	}
	m.Tokenizer = "my_tok.bin"
	if tok, err := m.LoadTokenizer(t.TempDir()); err != nil || tok.VocabSize() != 512 {
		t.Errorf("tokenizer beside the checkpoint: %v", err)
	}
	m.Tokenizer = "missing_tok.bin"
	if _, err := m.LoadTokenizer(t.TempDir()); err == nil || !strings.Contains(err.Error(), "missing_tok.bin") {
		t.Errorf("missing tokenizer: %v", err)
	}
	if _, err := llama.Open(filepath.Join(dir, "none.bin")); err == nil || !strings.Contains(err.Error(), "none.bin") {
		t.Errorf("missing checkpoint: %v", err)
	}
}
