package llama

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(sharedData, "weights", "stories260K.bin")
	w, err := ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if w.Config != Stories260K {
		t.Errorf("config %+v, want %+v", w.Config, Stories260K)
	}
	// 512·64 embedding + 5·(2·64 norms + 64·64 + 2·32·64 + 64·64 + 3·172·64) + 64 final norm.
	if n := w.NumParams(); n != 260032 {
		t.Errorf("NumParams = %d, want 260032", n)
	}
	orig, _ := os.ReadFile(path)
	enc := w.Encode()
	// Everything but llama2.c's stored RoPE tables (recomputed here in float64, then rounded)
	// is bit-exact.
	ropeStart := len(orig) - 4*w.SeqLen*w.HeadDim()
	if !bytes.Equal(enc[:ropeStart], orig[:ropeStart]) {
		t.Error("re-encoded weights differ from the file")
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

func TestCheckpointBadInput(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(sharedData, "weights", "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	header := func(field int, v int32) []byte {
		b := slices.Clone(good)
		binary.LittleEndian.PutUint32(b[4*field:], uint32(v))
		return b
	}
	nan := slices.Clone(good)
	binary.LittleEndian.PutUint32(nan[28+40:], math.Float32bits(float32(math.Inf(1))))
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than the 28-byte header"},
		{"truncated", good[:len(good)-100], "it has 1056440 bytes"},
		{"extra bytes", append(slices.Clone(good), 0, 0, 0, 0), "it has 1056544 bytes"},
		{"huge dim", header(0, 1<<30), "dim 1073741824 out of range"},
		{"huge layers", header(2, 1<<20), "n_layers"},
		{"kv heads not dividing", header(4, 3), "n_kv_heads 3 does not divide"},
		{"zero heads", header(3, 0), "n_heads 0"},
		{"sizes disagree", header(1, 173), "describes a"},
		{"negative seq", header(6, -1), "seq_len -1"},
		{"infinite weight", nan, "token_embedding holds +Inf at index 10"},
		{"text file", []byte(strings.Repeat("not a checkpoint\n", 10)), "out of range"},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "model.bin")
		os.WriteFile(path, c.data, 0o644)
		_, err := ReadCheckpoint(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, path, c.want)
		}
	}
	if _, err := ReadCheckpoint(filepath.Join(t.TempDir(), "missing.bin")); err == nil || !strings.Contains(err.Error(), "missing.bin") {
		t.Errorf("missing file: %v", err)
	}
}

// tinyCheckpoint is a valid small checkpoint: the fuzzer's seed.
func tinyCheckpoint() []byte {
	c := Config{Dim: 4, HiddenDim: 6, Layers: 1, Heads: 2, KVHeads: 1, VocabSize: 8, SeqLen: 4, Shared: true}
	w := &Weights{Config: c, Blocks: make([]Layer, 1)}
	fill := func(n int) []float32 { return make([]float32, n) }
	w.Embedding, w.NormFinal = fill(c.VocabSize*c.Dim), fill(c.Dim)
	l := &w.Blocks[0]
	l.AttnNorm, l.FFNNorm = fill(c.Dim), fill(c.Dim)
	for _, name := range LinearNames {
		o, i := c.LinearShape(name)
		*l.Linear(name) = fill(o * i)
	}
	return w.Encode()
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add(tinyCheckpoint())
	f.Add(tinyCheckpoint()[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ParseCheckpoint(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if got := w.Encode(); len(got) != len(b) {
			t.Errorf("parsed %d bytes, re-encoded %d", len(b), len(got))
		}
	})
}
