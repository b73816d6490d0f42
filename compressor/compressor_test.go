package compressor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/media"
)

// textMedia is a front end for ".txt" files of one line of bytes: one channel "bytes" of
// shape [n] at one byte per second, the file's name as the source description.
type textMedia struct{}

func (textMedia) Name() string         { return "text" }
func (textMedia) Kind() qzc.Kind       { return "bytes" }
func (textMedia) Extensions() []string { return []string{".txt"} }
func (textMedia) Read(paths, selection, want []string) (media.Signal, json.RawMessage, error) {
	b, err := os.ReadFile(paths[0])
	if err != nil {
		return media.Signal{}, nil, err
	}
	s := media.Signal{Kind: "bytes", Channels: want, Shape: []int{len(b)}, Data: [][]float32{make([]float32, len(b))}, SampleRate: 1}
	for i, c := range b {
		s.Data[0][i] = float32(c)
	}
	src, _ := json.Marshal(filepath.Base(paths[0]))
	return s, src, nil
}
func (textMedia) Check(media.Signal, json.RawMessage) error { return nil }
func (textMedia) Write(string, media.Signal, json.RawMessage, media.Provenance) error {
	return nil
}
func (textMedia) Describe(src json.RawMessage) (media.Source, error) {
	var name string
	err := json.Unmarshal(src, &name)
	return media.Source{Name: name, Bytes: 5, Lines: []string{"text"}}, err
}

// identity "compresses" bytes by writing them as they are, one stage of one byte per frame.
type identity struct{}

func (identity) Coding() map[string]float64 {
	return map[string]float64{qzc.CodingFrameRate: 1, qzc.CodingStages: 1}
}
func (identity) Kind() qzc.Kind                       { return "bytes" }
func (identity) Channels() []string                   { return []string{"bytes"} }
func (identity) Normalisation() (mean, std []float64) { return nil, nil }
func (identity) Encode(s media.Signal) ([]byte, float64, error) {
	out := make([]byte, len(s.Data[0]))
	for i, v := range s.Data[0] {
		out[i] = byte(v)
	}
	return out, 8 * float64(len(out)), nil
}
func (identity) Decode(payload []byte, shape []int) (media.Signal, error) { return media.Signal{}, nil }
func (identity) Close()                                                   {}

// TestCompressFile: a compressor and a front end of a new signal kind plug into the path
// without the container knowing either: the file records the kind, the model, the shape, the
// sample rate, the compressor's coding values, the front end and its description, and
// Inspect reads them back; the input is never the output.
func TestCompressFile(t *testing.T) {
	media.Register(textMedia{})
	dir := t.TempDir()
	in, out := filepath.Join(dir, "hello.txt"), filepath.Join(dir, "hello.qzc")
	if err := os.WriteFile(in, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := Identity{Model: "identity", Checkpoint: qzc.CheckpointID{Dir: dir, SHA256: "00", Step: 1}}
	if _, err := CompressFile(identity{}, id, []string{in}, in, nil); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("output = input: %v", err)
	}
	rep, err := CompressFile(identity{}, id, []string{in}, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Inspect(out)
	if err != nil {
		t.Fatal(err)
	}
	h := got.Header
	if h.Signal != "bytes" || h.Model != "identity" || h.Media != "text" || !slices.Equal(h.Shape, []int{5}) ||
		got.Source.Name != "hello.txt" || got.Sizes != rep.Sizes || rep.BitsPerValue() != 8*float64(rep.Sizes.Total)/5 ||
		h.SampleRate != 1 || h.Coding[qzc.CodingStages] != 1 || got.Sizes.Version != 3 {
		t.Fatalf("inspected %+v (source %+v)", h, got.Source)
	}
	if p, all := got.BitsPerSecond(); got.Seconds() != 5 || p != 8 || all != 8*float64(got.Sizes.Total)/5 {
		t.Fatalf("%v s, %v bit/s of payload, %v bit/s in all (%d bytes)", got.Seconds(), p, all, got.Sizes.Total)
	}
	_, payload, _, err := qzc.ReadFile(out)
	if err != nil || string(payload) != "hello" {
		t.Fatalf("payload %q, %v", payload, err)
	}
	if _, err := DecompressFile(out, filepath.Join(dir, "back.txt"), filepath.Join(dir, "no-run")); err == nil ||
		!strings.Contains(err.Error(), "not a run directory") {
		t.Fatalf("decompressing without the run: %v", err)
	}
}
