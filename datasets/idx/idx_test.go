package idx

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// encode builds an IDX file of type uint8 with the given dimensions and data.
func encode(dims []uint32, data []byte) []byte {
	buf := []byte{0, 0, TypeUint8, byte(len(dims))}
	for _, d := range dims {
		buf = binary.BigEndian.AppendUint32(buf, d)
	}
	return append(buf, data...)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadValid(t *testing.T) {
	a, err := Read(bytes.NewReader(encode([]uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6})), 100)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Dims) != "[2 3]" || !bytes.Equal(a.Data, []byte{1, 2, 3, 4, 5, 6}) {
		t.Errorf("got dims %v data %v", a.Dims, a.Data)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name        string
		input       []byte
		maxElements int64
		want        string // a substring of the error
	}{
		{"non-positive limit", encode([]uint32{1}, []byte{0}), 0, "maxElements must be positive"},
		{"empty", nil, 10, "magic: expected 4 bytes, got 0"},
		{"short magic", []byte{0, 0}, 10, "magic: expected 4 bytes, got 2"},
		{"bad magic", []byte{0x1f, 0x8b, 8, 1, 0, 0, 0, 1, 0}, 10, "magic: first two bytes must be zero"},
		{"float32 type", []byte{0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0}, 10, "data type: 0x0d (float32) is not supported"},
		{"invalid type", []byte{0, 0, 0x42, 1, 0, 0, 0, 1, 0}, 10, "data type: 0x42 is not a valid IDX type"},
		{"zero dims", []byte{0, 0, TypeUint8, 0}, 10, "number of dimensions: got 0"},
		{"too many dims", encode([]uint32{1, 1, 1, 1, 1}, []byte{0}), 10, "number of dimensions: got 5, want 1 to 4"},
		{"short dims", encode([]uint32{2, 3}, nil)[:9], 10, "dimensions: expected 8 bytes, got 5"},
		{"zero dim", encode([]uint32{2, 0}, nil), 10, "dimension 1: must be positive"},
		{"over limit", encode([]uint32{4, 4}, make([]byte, 16)), 15, "dimension 1: 4 makes the array larger than the limit of 15"},
		{"overflow", encode([]uint32{math.MaxUint32, math.MaxUint32, math.MaxUint32, math.MaxUint32}, nil),
			math.MaxInt64, "dimension 1"},
		{"truncated data", encode([]uint32{2, 3}, []byte{1, 2, 3, 4}), 10, "data: truncated: expected 6 bytes for dimensions [2 3], got 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Read(bytes.NewReader(tt.input), tt.maxElements)
			if err == nil {
				t.Fatalf("no error, got dims %v", a.Dims)
			}
			if !strings.HasPrefix(err.Error(), "idx: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not start with \"idx: \" or does not contain %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, name string, content []byte) string {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadFile(t *testing.T) {
	raw := encode([]uint32{3, 2}, []byte{9, 8, 7, 6, 5, 4})
	gz := gzipBytes(t, raw)
	// The name says nothing about compression: detection goes by the magic bytes.
	for name, content := range map[string][]byte{"plain": raw, "gzip": gz} {
		t.Run(name, func(t *testing.T) {
			a, err := ReadFile(writeFile(t, "data", content), 100)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(a.Dims) != "[3 2]" || !bytes.Equal(a.Data, raw[12:]) {
				t.Errorf("got dims %v data %v", a.Dims, a.Data)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	raw := encode([]uint32{3, 2}, []byte{9, 8, 7, 6, 5, 4})
	gz := gzipBytes(t, raw)
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-8] ^= 0xff // The gzip trailer is CRC-32 then size.
	tests := []struct {
		name    string
		content []byte
		want    string
	}{
		{"truncated plain", raw[:len(raw)-1], "data: truncated: expected 6 bytes for dimensions [3 2], got 5"},
		{"truncated gzip trailer", gz[:len(gz)-4], "after data: gzip stream truncated"},
		{"truncated gzip data", gz[:len(gz)/2], "truncated"},
		{"gzip checksum", badCRC, "after data: gzip: invalid checksum"},
		{"trailing bytes", append(bytes.Clone(raw), 0), "after data: unexpected trailing bytes"},
		{"bad gzip header", []byte{0x1f, 0x8b, 0, 0}, "gzip header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "train-images-idx3-ubyte.gz", tt.content)
			_, err := ReadFile(path, 100)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "idx: "+path+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name the file %s or does not contain %q", err, path, tt.want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := ReadFile(missing, 100); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want a not-exist error", err)
	}
}

func FuzzRead(f *testing.F) {
	valid := encode([]uint32{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(valid)
	f.Add(valid[:len(valid)-3])               // truncated data
	f.Add(valid[:6])                          // truncated dimensions
	f.Add(append([]byte{1, 2}, valid[2:]...)) // bad magic
	f.Add(encode([]uint32{1 << 31, 1 << 31}, nil))
	const maxElements = 1 << 16
	f.Fuzz(func(t *testing.T, input []byte) {
		a, err := Read(bytes.NewReader(input), maxElements)
		if err != nil {
			if a != nil {
				t.Fatalf("error %v with a non-nil array", err)
			}
			return
		}
		product := 1
		for _, d := range a.Dims {
			if d <= 0 {
				t.Fatalf("non-positive dimension in %v", a.Dims)
			}
			product *= d
		}
		if len(a.Dims) < 1 || len(a.Dims) > MaxDims || product > maxElements || len(a.Data) != product {
			t.Fatalf("inconsistent array: dims %v, %d values", a.Dims, len(a.Data))
		}
		if !bytes.Equal(a.Data, input[4+4*len(a.Dims):4+4*len(a.Dims)+product]) {
			t.Fatal("data differs from the input bytes")
		}
	})
}

func ExampleRead() {
	file := []byte{
		0, 0, 0x08, 2, // magic: uint8, 2 dimensions
		0, 0, 0, 2, 0, 0, 0, 3, // dimensions 2×3
		10, 20, 30, 40, 50, 60,
	}
	a, err := Read(bytes.NewReader(file), 1<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Dims, a.Data)
	_, err = Read(bytes.NewReader(file[:15]), 1<<20)
	fmt.Println(err)
	// Output:
	// [2 3] [10 20 30 40 50 60]
	// idx: data: truncated: expected 6 bytes for dimensions [2 3], got 3
}
