package llama2c

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"
)

var sharedData = datadir.Root()

// stories260K is llama2.c's header of stories260K.bin.
var stories260K = Header{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, VocabSize: 512, SeqLen: 512, Shared: true}

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(sharedData, "weights", "stories260K.bin")
	c, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Header != stories260K {
		t.Errorf("header %+v, want %+v", c.Header, stories260K)
	}
	if wq := c.Tensor(WQ); wq == nil || !slices.Equal(wq.Dims, []int{5, 64, 64}) || len(wq.Data) != 5*64*64 {
		t.Errorf("wq: %+v", wq)
	}
	if c.Tensor(Classifier) != nil {
		t.Error("a tied checkpoint has a wcls tensor")
	}
	orig, _ := os.ReadFile(path)
	enc, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, orig) {
		t.Error("re-encoded checkpoint differs from the file")
	}
}

// tiny is a small valid checkpoint with distinct values; shared says whether its classifier
// is the embedding.
func tiny(shared bool) *Checkpoint {
	h := Header{Dim: 4, HiddenDim: 6, Layers: 1, Heads: 2, KVHeads: 1, VocabSize: 8, SeqLen: 4, Shared: shared}
	c := &Checkpoint{Header: h, Tensors: h.Layout()}
	k := float32(0)
	for i := range c.Tensors {
		c.Tensors[i].Data = make([]float32, c.Tensors[i].Size())
		for j := range c.Tensors[i].Data {
			k++
			c.Tensors[i].Data[j] = k / 100
		}
	}
	return c
}

// TestSeparateClassifier reads a checkpoint whose classifier is stored apart (negative
// vocab_size in the header): the wcls tensor comes last and round-trips.
func TestSeparateClassifier(t *testing.T) {
	c := tiny(false)
	enc, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if v := int32(binary.LittleEndian.Uint32(enc[20:])); v != -8 {
		t.Errorf("header vocab_size %d, want -8", v)
	}
	path := filepath.Join(t.TempDir(), "untied.bin")
	os.WriteFile(path, enc, 0o644)
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Shared || back.VocabSize != 8 {
		t.Errorf("header %+v, want VocabSize 8, Shared false", back.Header)
	}
	wcls := back.Tensor(Classifier)
	if wcls == nil || !slices.Equal(wcls.Data, c.Tensor(Classifier).Data) || !slices.Equal(wcls.Dims, []int{8, 4}) {
		t.Errorf("wcls = %+v", wcls)
	}
	// The same file without its classifier is short by exactly wcls.
	os.WriteFile(path, enc[:len(enc)-4*8*4], 0o644)
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("untied checkpoint without wcls: %v", err)
	}
	bad := tiny(true)
	bad.Tensors = bad.Tensors[:len(bad.Tensors)-1]
	if _, err := bad.Encode(); err == nil || !strings.Contains(err.Error(), "12 tensors, its header needs 13") {
		t.Errorf("encoding a checkpoint missing a tensor: %v", err)
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
	export := func(version int32) []byte {
		b := make([]byte, 256+1024)
		binary.LittleEndian.PutUint32(b, 0x616b3432)
		binary.LittleEndian.PutUint32(b[4:], uint32(version))
		copy(b[8:], good[:28])
		return b
	}
	lfs := "version https://git-lfs.github.com/spec/v1\noid sha256:b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696\nsize 1056540\n"
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than the 28-byte header"},
		{"short", good[:10], "shorter than the 28-byte header"},
		{"truncated", good[:len(good)-100], "it has 1056440 bytes"},
		{"extra bytes", append(slices.Clone(good), 0, 0, 0, 0), "it has 1056544 bytes"},
		{"huge dim", header(0, 1<<30), "dim 1073741824 out of range"},
		{"huge layers", header(2, 1<<20), "n_layers"},
		{"kv heads not dividing", header(4, 3), "n_kv_heads 3 does not divide"},
		{"zero heads", header(3, 0), "n_heads 0"},
		{"sizes disagree", header(1, 173), "describes a"},
		{"negative seq", header(6, -1), "seq_len -1"},
		{"huge vocabulary", header(5, 1<<30), "vocab_size 1073741824 out of range"},
		{"infinite weight", nan, "token_embedding_table holds +Inf at index 10"},
		{"text file", []byte(strings.Repeat("not a checkpoint\n", 10)), "out of range"},
		{"git lfs pointer", []byte(lfs), "a Git LFS pointer"},
		{"html page", []byte("\n<!DOCTYPE html>\n<html><body>Not found</body></html>\n"), "an HTML page"},
		{"export version 1", export(1), `llama2.c export of version 1 (magic "ak42"`},
		{"export version 2", export(2), "export of version 2"},
		{"gguf", append([]byte("GGUF\x03\x00\x00\x00"), make([]byte, 100)...), "a GGUF file"},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "model.bin")
		os.WriteFile(path, c.data, 0o644)
		_, err := Read(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, path, c.want)
		}
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing.bin")); err == nil || !strings.Contains(err.Error(), "missing.bin") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	for _, shared := range []bool{true, false} {
		enc, err := tiny(shared).Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
		f.Add(enc[:40])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		got, err := c.Encode()
		if err != nil {
			t.Fatalf("parsed checkpoint does not encode: %v", err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("parsed %d bytes, re-encoded %d different ones", len(b), len(got))
		}
	})
}
