package quant

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestPackRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for bits := 1; bits <= 8; bits++ {
		for _, n := range []int{0, 1, 2, 3, 5, 7, 8, 9, 13, 31, 64, 101} {
			codes := make([]uint8, n)
			for i := range codes {
				codes[i] = uint8(rng.IntN(1 << bits))
			}
			b := Pack(codes, bits)
			if len(b) != (n*bits+7)/8 {
				t.Fatalf("bits %d n %d: %d bytes", bits, n, len(b))
			}
			got, err := Unpack(b, bits, n)
			if err != nil || !slices.Equal(got, codes) {
				t.Fatalf("bits %d n %d: Unpack(Pack(%v)) = %v, %v", bits, n, codes, got, err)
			}
		}
	}
}

func TestPackLayout(t *testing.T) {
	// 1 | 2<<3 | 3<<6 = 0b1101_0001, then the 3's high bit... none: 3 < 4.
	if got := Pack([]uint8{1, 2, 3}, 3); !bytes.Equal(got, []byte{0xd1, 0x00}) {
		t.Errorf("Pack([1 2 3], 3) = %x, want d100", got)
	}
	if got := Pack([]uint8{0xf, 0x1, 0x2}, 4); !bytes.Equal(got, []byte{0x1f, 0x02}) {
		t.Errorf("Pack([f 1 2], 4) = %x, want 1f02", got)
	}
}

func TestPackBitsWide(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for width := 1; width <= 32; width++ {
		vals := make([]uint32, 37)
		for i := range vals {
			vals[i] = uint32(rng.Uint64() & (1<<width - 1))
		}
		got, err := unpackBits(packBits(vals, width), width, len(vals))
		if err != nil || !slices.Equal(got, vals) {
			t.Fatalf("width %d: %v, %v", width, got, err)
		}
	}
}

func TestUnpackErrors(t *testing.T) {
	for _, tc := range []struct {
		b       []byte
		bits, n int
		want    string
	}{
		{[]byte{0}, 0, 1, "bits 0 out of range"},
		{[]byte{0}, 9, 1, "bits 9 out of range"},
		{[]byte{0}, 4, 3, "need 2 bytes, have 1"},
		{[]byte{0, 0}, 4, 1, "need 1 bytes, have 2"},
		{[]byte{0x10}, 4, 1, "nonzero padding"},
		{nil, 4, -1, "negative count"},
	} {
		if _, err := Unpack(tc.b, tc.bits, tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Unpack(%x, %d, %d): err = %v, want %q", tc.b, tc.bits, tc.n, err, tc.want)
		}
	}
}

func TestBitsFor(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 10: 4, 64: 6, 65: 7, 172: 8, 256: 8, 257: 9} {
		if got := bitsFor(n); got != want {
			t.Errorf("bitsFor(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestPackWide: PackWide round-trips codes of 10 and 14 bits (codebooks of 1024 and 16384
// tokens) in ⌈n·bits/8⌉ bytes, and refuses a code that does not fit and a width beyond 32.
func TestPackWide(t *testing.T) {
	for _, bits := range []int{10, 14, 32} {
		codes := []uint32{0, 1, 1<<bits - 1, 513, 7}
		b, err := PackWide(codes, bits)
		if err != nil || len(b) != (len(codes)*bits+7)/8 {
			t.Fatalf("bits %d: %d bytes, %v", bits, len(b), err)
		}
		got, err := UnpackWide(b, bits, len(codes))
		if err != nil || !slices.Equal(got, codes) {
			t.Errorf("bits %d: UnpackWide(PackWide(%v)) = %v, %v", bits, codes, got, err)
		}
	}
	if _, err := PackWide([]uint32{1024}, 10); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("code 1024 in 10 bits: %v", err)
	}
	if _, err := PackWide(nil, 33); err == nil {
		t.Error("33 bits accepted")
	}
	if _, err := UnpackWide([]byte{1, 2}, 10, 3); err == nil {
		t.Error("3 codes of 10 bits from 2 bytes accepted")
	}
}
