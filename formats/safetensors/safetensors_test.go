package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// file builds a safetensors file from a header text and a data section.
func file(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func parse(name string, b []byte) (*File, error) {
	return Parse(name, bytes.NewReader(b), int64(len(b)))
}

func TestRoundTrip(t *testing.T) {
	values := []float32{0, 1, -2.5, 3.140625, 65504, -1e-3}
	var tensors []Tensor
	for _, d := range []DType{F32, F16, BF16} {
		tt, err := FromFloat32("w_"+string(d), d, []int{2, 3}, values)
		if err != nil {
			t.Fatal(err)
		}
		tensors = append(tensors, tt)
	}
	ints, err := FromInt64("ids", I32, []int{3}, []int64{-7, 0, 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	big, err := FromInt64("big", I64, nil, []int64{-1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	tensors = append(tensors, ints, big, Tensor{Name: "empty", DType: F32, Shape: []int{0, 4}})
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Write(path, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if want := []string{"big", "empty", "ids", "w_BF16", "w_F16", "w_F32"}; !slices.Equal(f.Names(), want) {
		t.Errorf("names %v, want %v", f.Names(), want)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
	for _, d := range []DType{F32, F16, BF16} {
		got, err := f.Float32("w_" + string(d))
		if err != nil {
			t.Fatal(err)
		}
		tol := map[DType]float64{F32: 0, F16: 1e-3, BF16: 8e-3}[d] // relative: 2^-11, 2^-8
		for k := range values {
			if diff := math.Abs(float64(got[k] - values[k])); diff > tol*math.Abs(float64(values[k])) {
				t.Errorf("%s[%d] = %v, want %v", d, k, got[k], values[k])
			}
		}
		if info, _ := f.Info("w_" + string(d)); !slices.Equal(info.Shape, []int{2, 3}) || info.DType != d {
			t.Errorf("info %+v", info)
		}
	}
	if got, err := f.Int64("ids"); err != nil || !slices.Equal(got, []int64{-7, 0, 1 << 30}) {
		t.Errorf("ids %v, %v", got, err)
	}
	if got, err := f.Int64("big"); err != nil || !slices.Equal(got, []int64{-1 << 40}) {
		t.Errorf("big %v, %v", got, err)
	}
	if info, _ := f.Info("big"); len(info.Shape) != 0 {
		t.Errorf("a scalar's shape %v", info.Shape)
	}
	if got, err := f.Float32("empty"); err != nil || len(got) != 0 {
		t.Errorf("empty %v, %v", got, err)
	}
	if _, err := f.Float32("ids"); err == nil || !strings.Contains(err.Error(), `tensor "ids" is I32`) {
		t.Errorf("Float32 of an I32 tensor: %v", err)
	}
	if _, err := f.Float32("nope"); err == nil || !strings.Contains(err.Error(), path+`: no tensor "nope"`) {
		t.Errorf("missing tensor: %v", err)
	}
	raw, _ := os.ReadFile(path)
	if n := binary.LittleEndian.Uint64(raw); n%8 != 0 {
		t.Errorf("header length %d is not padded to 8", n)
	}
}

// BF16 rounds to nearest even and keeps NaN.
func TestBFloat16(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want uint16
	}{{1, 0x3F80}, {math.Float32frombits(0x3F808000), 0x3F80}, {math.Float32frombits(0x3F818000), 0x3F82}, {math.Float32frombits(0x3F808001), 0x3F81}} {
		if got := toBFloat16(c.in); got != c.want {
			t.Errorf("bf16(%#x) = %#x, want %#x", math.Float32bits(c.in), got, c.want)
		}
	}
	if nan := toBFloat16(float32(math.NaN())); nan&0x7F80 != 0x7F80 || nan&0x7F == 0 {
		t.Errorf("NaN became %#x", nan)
	}
}

func TestBadFiles(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "3 bytes, shorter than the 8-byte header length"},
		{"lfs", []byte("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n"), "a Git LFS pointer"},
		{"html", []byte("<!DOCTYPE html><html>...</html>"), "an HTML page"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<40), "over the 100000000-byte limit"},
		{"header past end", binary.LittleEndian.AppendUint64(nil, 100), "runs past the end of the 8-byte file"},
		{"not json", file("[1, 2]", nil), "not a JSON object"},
		{"bad json", file(`{"a": {"dtype": "F32",}`, nil), "header, entry \"a\""},
		{"duplicate", file(`{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}`, f32(2)), `tensor "a" is given twice`},
		{"unknown dtype", file(`{"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}`, f32(4)), `tensor "a": unknown dtype "F128"`},
		{"unknown key", file(`{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}`, f32(1)), `unknown key "x"`},
		{"missing key", file(`{"a": {"dtype": "F32", "data_offsets": [0, 4]}}`, f32(1)), `needs "dtype", "shape" and "data_offsets"`},
		{"fraction", file(`{"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}`, f32(1)), "want an integer"},
		{"non-finite", file(`{"a": {"dtype": "F32", "shape": [1e999], "data_offsets": [0, 4]}}`, f32(1)), "want an integer"},
		{"negative", file(`{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}`, f32(1)), "negative dimension"},
		{"overflow", file(`{"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}}`, f32(1)), "more elements than a file can hold"},
		{"size mismatch", file(`{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}`, f32(1)), "needs 2×4 bytes"},
		{"past end", file(`{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}`, f32(1)), "run past the end of the 4-byte data section"},
		{"reversed", file(`{"a": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}}`, f32(1)), "is not a range"},
		{"overlap", file(`{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}`, f32(3)), `tensors "a" and "b" overlap`},
		{"hole", file(`{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}`, f32(2)), "bytes [0, 4) of the data section belong to no tensor"},
		{"tail", file(`{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}`, f32(2)), "bytes [4, 8) at the end of the data section"},
		{"metadata not string", file(`{"__metadata__": {"k": 1}}`, nil), `"__metadata__": key "k": got JSON number`},
		{"trailing", file(`{} x`, nil), "header"},
		{"rank", file(`{"a": {"dtype": "U8", "shape": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], "data_offsets": [0, 1]}}`, []byte{1}), "rank 17"},
	} {
		_, err := parse("bad.safetensors", c.b)
		if err == nil || !strings.HasPrefix(err.Error(), "safetensors: bad.safetensors: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming the file and containing %q", c.name, err, c.want)
		}
	}
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "none.safetensors")); err == nil || !strings.Contains(err.Error(), "none.safetensors") {
		t.Errorf("a missing file: %v", err)
	}
}

func TestWriterRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	a, _ := FromFloat32("a", F32, []int{1}, []float32{1})
	for _, c := range []struct {
		tensors []Tensor
		want    string
	}{
		{[]Tensor{a, a}, `tensor "a" is given twice`},
		{[]Tensor{{Name: "__metadata__", DType: U8, Shape: []int{0}}}, "given twice (or is the reserved"},
		{[]Tensor{{Name: "b", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}}, `tensor "b": 4 bytes for shape [2]`},
	} {
		if err := Write(path, c.tensors, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused write left %s", path)
	}
	if _, err := FromFloat32("c", F32, []int{2}, []float32{1}); err == nil {
		t.Error("FromFloat32 took 1 value for shape [2]")
	}
	if _, err := FromInt64("d", I32, []int{1}, []int64{1 << 40}); err == nil {
		t.Error("FromInt64 put 2^40 in an I32")
	}
}

// An independent reader — numpy, from the format's description (JSON header, raw little-endian
// arrays) — reads back what Write wrote.
func TestNumpyReadsWrite(t *testing.T) {
	python := "/usr/bin/python3" // Debian's, which python3-numpy installs into
	if err := exec.Command(python, "-c", "import numpy").Run(); err != nil {
		t.Skipf("needs %s with numpy (apt-get install python3-numpy): %v", python, err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	w, _ := FromFloat32("w", BF16, []int{2, 2}, []float32{1, -2, 0.5, 3})
	h, _ := FromFloat32("h", F16, []int{3}, []float32{0.25, -8, 1000})
	ids, _ := FromInt64("ids", I64, []int{2}, []int64{5, -9})
	if err := Write(path, []Tensor{w, h, ids}, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	script := `
import json, struct, sys, numpy as np
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8+n])
data = b[8+n:]
def get(k):
    e = h[k]; s, t = e["data_offsets"]; raw = data[s:t]
    if e["dtype"] == "BF16":
        return (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4").reshape(e["shape"])
    return np.frombuffer(raw, {"F16": "<f2", "I64": "<i8"}[e["dtype"]]).reshape(e["shape"])
print(h["__metadata__"]["k"], get("w").tolist(), get("h").tolist(), get("ids").tolist())
`
	out, err := exec.Command(python, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "v [[1.0, -2.0], [0.5, 3.0]] [0.25, -8.0, 1000.0] [5, -9]"; got != want {
		t.Errorf("numpy read %q, want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	a, _ := FromFloat32("a", F16, []int{2, 1}, []float32{1, 2})
	b, _ := FromInt64("b", I32, []int{1}, []int64{3})
	if err := Encode(&buf, []Tensor{a, b}, map[string]string{"m": "x"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(file(`{"a": {"dtype": "BF16", "shape": [], "data_offsets": [0, 2]}}`, []byte{0x80, 0x3f}))
	f.Add(file(`{"x": {"dtype": "U64", "shape": [1], "data_offsets": [0, 8]}, "y": {"dtype": "BOOL", "shape": [0], "data_offsets": [8, 8]}}`, make([]byte, 8)))
	f.Add([]byte("version https://git-lfs"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parse("fuzz.safetensors", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "safetensors: fuzz.safetensors: ") {
				t.Fatalf("error without the file's name: %v", err)
			}
			return
		}
		total := int64(0)
		for _, name := range st.Names() {
			info, _ := st.Info(name)
			total += info.End - info.Begin
			raw, err := st.Bytes(name)
			if err != nil || int64(len(raw)) != info.End-info.Begin {
				t.Fatalf("tensor %q: %d bytes, %v", name, len(raw), err)
			}
			if _, err := st.Float32(name); err == nil {
				continue
			}
			st.Int64(name)
		}
		if total != int64(len(data))-st.dataStart {
			t.Fatalf("tensors cover %d bytes of a %d-byte data section", total, int64(len(data))-st.dataStart)
		}
	})
}
