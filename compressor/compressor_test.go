package compressor

import (
	"encoding/json"
	"math"
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

func init() { media.Register(textMedia{}) }

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
func (identity) Decode(payload []byte, shape []int) (media.Signal, error) {
	s := media.Signal{Kind: "bytes", Channels: []string{"bytes"}, Shape: shape, Data: [][]float32{make([]float32, len(payload))}, SampleRate: 1}
	for i, b := range payload {
		s.Data[0][i] = float32(b)
	}
	return s, nil
}
func (identity) Close() {}

// offByOne decodes every value 1 too high, and reports training statistics mean and std.
type offByOne struct {
	identity
	mean, std float64
}

func (o offByOne) Normalisation() (mean, std []float64) { return []float64{o.mean}, []float64{o.std} }
func (o offByOne) Decode(payload []byte, shape []int) (media.Signal, error) {
	s, err := o.identity.Decode(payload, shape)
	for i := range s.Data[0] {
		s.Data[0][i]++
	}
	return s, err
}

// TestCompressFile: a compressor and a front end of a new signal kind plug into the path
// without the container knowing either: the file records the kind, the model, the shape, the
// sample rate, the compressor's coding values, the front end and its description, and
// Inspect reads them back; the input is never the output.
func TestCompressFile(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "hello.txt"), filepath.Join(dir, "hello.qzc")
	if err := os.WriteFile(in, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := Identity{Model: "identity", Checkpoint: qzc.CheckpointID{Dir: dir, SHA256: "00", Step: 1}}
	if _, err := CompressFile(identity{}, id, []string{in}, in, Options{}); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("output = input: %v", err)
	}
	rep, err := CompressFile(identity{}, id, []string{in}, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checks) != 1 || rep.Checks[0].Errors.RMSE != 0 || rep.Checks[0].Max != 'o' || rep.Checks[0].Warnings != nil {
		t.Fatalf("checks of a lossless compressor without training statistics: %+v", rep.Checks)
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

// TestCompressChecks: compress measures the error of what it wrote, warns about inputs far
// from the training statistics naming the channel and the statistic, and refuses, writing
// nothing, when an RMSE bound is missed.
func TestCompressChecks(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "hello.txt"), filepath.Join(dir, "hello.qzc")
	if err := os.WriteFile(in, []byte("hello"), 0o644); err != nil { // mean 106.4, std 3.50, 101..111
		t.Fatal(err)
	}
	id := Identity{Model: "offbyone", Checkpoint: qzc.CheckpointID{Dir: dir, SHA256: "00", Step: 1}}
	rep, err := CompressFile(offByOne{mean: 106, std: 4}, id, []string{in}, out, Options{MaxRMSE: Bounds{"": 1}})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Checks[0]
	if c.Errors.RMSE != 1 || c.Errors.MaxAbs != 1 || math.Abs(c.Mean-106.4) > 1e-9 || c.Min != 101 || c.TrainStd != 4 || c.Warnings != nil {
		t.Fatalf("in-distribution check %+v", c)
	}
	// Trained on values around 0 with σ = 1: the mean, the spread and both extremes are out.
	rep, err = CompressFile(offByOne{mean: 0, std: 1}, id, []string{in}, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(rep.Checks[0].Warnings, "\n")
	for _, want := range []string{"bytes: its mean 106.4 is 106.4 training standard deviations (σ = 1) above the training mean 0",
		"bytes: its standard deviation 3.499 is 3.50× the training one", "bytes: its minimum 101 is 101.0", "bytes: its maximum 111 is 111.0"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	// A missed bound: nothing written, the old file left as it was, the error names the
	// channel and the achieved RMSE; the checks still come back.
	old, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []Bounds{{"": 0.5}, {"bytes": 0.99}} {
		rep, err = CompressFile(offByOne{mean: 106, std: 4}, id, []string{in}, out, Options{MaxRMSE: b})
		if err == nil || !strings.Contains(err.Error(), "bytes achieved RMSE 1 > the bound") || !strings.Contains(err.Error(), "nothing written") {
			t.Errorf("bound %v: %v", b, err)
		}
		if len(rep.Checks) != 1 || rep.Checks[0].Errors.RMSE != 1 {
			t.Errorf("bound %v: checks %+v", b, rep.Checks)
		}
		if now, _ := os.ReadFile(out); string(now) != string(old) {
			t.Errorf("bound %v: the output changed", b)
		}
	}
	fresh := filepath.Join(dir, "fresh.qzc")
	if _, err := CompressFile(offByOne{mean: 106, std: 4}, id, []string{in}, fresh, Options{MaxRMSE: Bounds{"": 0.5}}); err == nil {
		t.Error("missed bound accepted")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("a refused compression left files behind: %v", entries)
	}
	if _, err := CompressFile(offByOne{mean: 106, std: 4}, id, []string{in}, out, Options{MaxRMSE: Bounds{"t2m": 1}}); err == nil || !strings.Contains(err.Error(), "t2m, which is not coded") {
		t.Errorf("a bound on a channel not coded: %v", err)
	}
}

func TestStatsSkipMissing(t *testing.T) {
	nan := float32(math.NaN())
	if m, sd, lo, hi := stats([]float32{1, nan, 3}); m != 2 || sd != 1 || lo != 1 || hi != 3 {
		t.Errorf("stats of 1, NaN, 3: mean %v std %v range %v..%v", m, sd, lo, hi)
	}
	if m, _, _, _ := stats([]float32{nan}); !math.IsNaN(m) {
		t.Errorf("stats of NaN alone: mean %v", m)
	}
}

func TestParseBounds(t *testing.T) {
	b, err := ParseBounds("0.5")
	if err != nil || len(b) != 1 || b[""] != 0.5 {
		t.Fatalf("0.5: %v %v", b, err)
	}
	b, err = ParseBounds("t2m=0.5, q=2e-4,q@850=1e-4")
	if err != nil {
		t.Fatal(err)
	}
	for ch, want := range map[string]float64{"t2m": 0.5, "q@500": 2e-4, "q@850": 1e-4} {
		if r, ok := b.forChannel(ch); !ok || r != want {
			t.Errorf("%s: bound %v %v, want %v", ch, r, ok, want)
		}
	}
	if _, ok := b.forChannel("u10"); ok {
		t.Error("a channel no key names is bounded")
	}
	for _, bad := range []string{"", "-1", "0", "inf", "x", "t2m=", "=3", "t2m=1,t2m=2", "NaN"} {
		if _, err := ParseBounds(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestOpenFileBadHeader: a file whose header names a media front end this build lacks, or
// holds a source description its front end cannot read, is refused by Inspect and
// DecompressFile with an error naming the file and the header field, never a panic.
func TestOpenFileBadHeader(t *testing.T) {
	dir := t.TempDir()
	in, good := filepath.Join(dir, "hello.txt"), filepath.Join(dir, "good.qzc")
	if err := os.WriteFile(in, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := Identity{Model: "identity", Checkpoint: qzc.CheckpointID{Dir: dir, SHA256: "00", Step: 1}}
	rep, err := CompressFile(identity{}, id, []string{in}, good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for field, edit := range map[string]func(h *qzc.Header){
		"media":  func(h *qzc.Header) { h.Media = "nosuch" },
		"source": func(h *qzc.Header) { h.Source = json.RawMessage(`[1,2]`) },
	} {
		h := *rep.Header
		edit(&h)
		bad := filepath.Join(dir, field+".qzc")
		w, err := qzc.Create(bad)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(qzc.Segment{Length: 5, Payload: []byte("hello")}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := Inspect(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "header field "+field) {
			t.Errorf("inspect, bad %s: %v", field, err)
		}
		if _, err := DecompressFile(bad, filepath.Join(dir, "back.txt"), dir); err == nil || !strings.Contains(err.Error(), "header field "+field) {
			t.Errorf("decompress, bad %s: %v", field, err)
		}
	}
}
