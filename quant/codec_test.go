package quant

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"
)

// quantizedSamples quantizes small random matrices with every spec (odd shapes, so that
// padding and short groups occur).
func quantizedSamples(t testing.TB) []*Quantized {
	rng := rand.New(rand.NewPCG(2, 1))
	var out []*Quantized
	for i, spec := range everySpec() {
		rows, cols := 3+i, 10+3*i
		w := studentT(rng, rows*cols, 0.05)
		fisher := normal(rng, rows*cols, 0, 1)
		for j := range fisher {
			fisher[j] *= fisher[j]
		}
		q, err := Quantize(w, rows, cols, spec, fisher)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, q)
	}
	return out
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, q := range quantizedSamples(t) {
		b, err := q.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalQuantized(b)
		if err != nil {
			t.Fatalf("%s: %v", q.spec, err)
		}
		if !reflect.DeepEqual(got, q) {
			t.Fatalf("%s: unmarshalled %+v, want %+v", q.spec, got, q)
		}
		if !slices.Equal(got.Dequantize(), q.Dequantize()) {
			t.Fatalf("%s: dequantized values differ after the round trip", q.spec)
		}
		again, _ := got.MarshalBinary()
		if !bytes.Equal(again, b) {
			t.Fatalf("%s: marshalling again changes the bytes", q.spec)
		}
	}
}

// resign replaces the checksum of b, so that a test reaches the checks behind it.
func resign(b []byte) []byte {
	b = bytes.Clone(b)
	body := b[:len(b)-checksumLen]
	binary.LittleEndian.PutUint32(b[len(body):], crc32.ChecksumIEEE(body))
	return b
}

func TestUnmarshalCorrupt(t *testing.T) {
	q := quantizedSamples(t)[0] // rtn-w4-row-asym, 3×10
	b, _ := q.MarshalBinary()
	edit := func(offset int, v ...byte) []byte {
		c := bytes.Clone(b)
		copy(c[offset:], v)
		return resign(c)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than the 45-byte header"},
		{"magic", edit(0, 'X'), `magic "XZQW"`},
		{"version", edit(4, 2), "format version 2"},
		{"checksum", append(bytes.Clone(b[:len(b)-1]), b[len(b)-1]^1), "checksum"},
		{"truncated", resign(b[:len(b)-1]), "bytes, the header implies"},
		{"method", edit(6, 9), "method code 9"},
		{"bits", edit(7, 20), "Bits 20 out of range"},
		{"flags", edit(8, 0x08), "unknown flags 0x8"},
		{"exponent", edit(8, 2<<exponentShift), "Exponent applies to method float only"},
		{"double quant", edit(8, flagDoubleQuant), "DoubleQuant applies to method nf4 only"},
		{"rows", edit(29, 0, 0, 0, 0), "rows and cols must be in"},
		{"huge shape", edit(29, 0, 0, 0, 1, 0, 0, 0, 1), "has more than 1073741824 weights"},
		{"outliers", edit(37, 1), "1 outliers, want"},
		// 30 4-bit codes take 15 bytes; the first fp16 scale follows.
		{"negative scale", edit(headerLen+16, 0x80), "not finite and ≥ 0"},
		{"infinite scale", edit(headerLen+15, 0x00, 0x7c), "not finite and ≥ 0"},
	} {
		_, err := UnmarshalQuantized(tc.b)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "quant: corrupt quantized matrix: ") || strings.Count(err.Error(), "quant:") != 1 {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	// Every single-byte change and every truncation fails cleanly.
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x5a
		if _, err := UnmarshalQuantized(c); err == nil {
			t.Errorf("byte %d changed: no error", i)
		}
		if _, err := UnmarshalQuantized(b[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
}

// FuzzUnmarshalQuantized feeds arbitrary bytes, and the same bytes with a valid checksum so
// that the fuzzer gets past it: decoding must never panic, and what decodes must
// dequantize and encode back to the same bytes.
func FuzzUnmarshalQuantized(f *testing.F) {
	for _, q := range quantizedSamples(f) {
		b, _ := q.MarshalBinary()
		f.Add(b)
	}
	if w, err := readStoriesW2(); err == nil {
		q, err := Quantize(w, 64, 172, Spec{Method: "squeezellm", Bits: 3, OutlierFraction: 0.01}, nil)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := q.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		inputs := [][]byte{b}
		if len(b) >= checksumLen {
			inputs = append(inputs, resign(b))
		}
		for _, in := range inputs {
			q, err := UnmarshalQuantized(in)
			if err != nil {
				continue
			}
			if got := q.Dequantize(); len(got) != q.Rows()*q.Cols() {
				t.Fatalf("Dequantize gave %d values for %d×%d", len(got), q.Rows(), q.Cols())
			}
			out, _ := q.MarshalBinary()
			if !bytes.Equal(out, in) {
				t.Fatalf("decoded input encodes to different bytes")
			}
		}
	})
}

// storiesPath is llama2.c's stories260K checkpoint, shared by the project's worktrees.
var storiesPath = filepath.Join(datadir.Root(), "weights", "stories260K.bin")

// readStoriesW2 reads layer 0's w2 ([64, 172]) from the stories260K checkpoint: after the
// 7-int32 header come token embedding [512,64], rms_att [5,64], wq [5,64,64], wk and wv
// [5,32,64], wo [5,64,64], rms_ffn [5,64] and w1 [5,172,64].
func readStoriesW2() ([]float32, error) {
	f, err := os.Open(storiesPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var header [7]int32
	if err := binary.Read(f, binary.LittleEndian, &header); err != nil {
		return nil, err
	}
	if header[0] != 64 || header[1] != 172 || header[2] != 5 || header[4] != 4 {
		return nil, os.ErrInvalid
	}
	offset := 512*64 + 5*64 + 5*64*64 + 2*5*32*64 + 5*64*64 + 5*64 + 5*172*64
	w := make([]float32, 64*172)
	if _, err := f.Seek(int64(7*4+4*offset), 0); err != nil {
		return nil, err
	}
	if err := binary.Read(f, binary.LittleEndian, w); err != nil {
		return nil, err
	}
	return w, nil
}
