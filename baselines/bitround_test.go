package baselines

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

func TestBitRoundHandExamples(t *testing.T) {
	maxF := float32(math.MaxFloat32)
	for _, c := range []struct {
		keepbits int
		in, want float32
	}{
		{1, 1.25, 1.0},   // 1.01b: tie between 1.0b and 1.1b, to the even 1.0b
		{1, 1.75, 2.0},   // 1.11b: tie between 1.1b and 10.0b, to the even 10.0b
		{1, 1.3, 1.5},    // nearer to 1.1b
		{1, -1.25, -1.0}, // the sign plays no part
		{1, -1.75, -2.0},
		{2, 1.125, 1.0}, // 1.001b: tie, to 1.00b
		{2, 1.375, 1.5}, // 1.011b: tie, to 1.10b
		{2, 1.625, 1.5}, // 1.101b: tie, to 1.10b
		{0, 1.5, 2.0},   // no mantissa bits: between 1 (biased exponent 127) and 2 (128, even)
		{0, 3.0, 2.0},   // between 2 (biased exponent 128, even) and 4 (129)
		{0, 6.0, 8.0},   // between 4 (129) and 8 (130, even)
		{0, 1.4, 1.0},   // below the midpoint
		{7, 281, 280},   // ERA5-like temperatures: a quantum of 2 K in [256, 512)
		{7, 283, 284},   // 141.5 quanta: to the even 142
		{7, 280.3, 280},
		{0, 0, 0},
		{0, maxF, float32(math.Inf(1))}, // rounds past the largest finite value, as IEEE would
		{23, 280.3, 280.3},
	} {
		got := BitRound([]float32{c.in}, c.keepbits)[0]
		if math.Float32bits(got) != math.Float32bits(c.want) {
			t.Errorf("BitRound(%v, keepbits=%d) = %v, want %v", c.in, c.keepbits, got, c.want)
		}
	}
	if got := BitRound([]float32{float32(math.Copysign(0, -1))}, 3)[0]; math.Float32bits(got) != 1<<31 {
		t.Errorf("−0 became %v", got)
	}
}

func TestBitRoundSpecialValues(t *testing.T) {
	// NaNs with and without payload, ±Inf: the rounding formula alone would turn the first NaN
	// into −0 (keepbits 0) and the second into +Inf.
	specials := []uint32{0x7fc00000, 0x7f800001, 0xffc00001, 0x7f800000, 0xff800000, 0x7fffffff}
	x := make([]float32, len(specials))
	for i, b := range specials {
		x[i] = math.Float32frombits(b)
	}
	for keepbits := 0; keepbits <= 23; keepbits++ {
		for i, v := range BitRound(x, keepbits) {
			if math.Float32bits(v) != specials[i] {
				t.Errorf("keepbits %d: %#08x became %#08x", keepbits, specials[i], math.Float32bits(v))
			}
		}
	}
}

func TestBitRoundErrorBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 20000)
	for i := range x {
		// Random normal numbers over many binades, both signs.
		x[i] = float32(math.Ldexp(1+rng.Float64(), rng.IntN(200)-100))
		if i%2 == 1 {
			x[i] = -x[i]
		}
	}
	for keepbits := 0; keepbits <= 23; keepbits++ {
		r := BitRound(x, keepbits)
		for i, v := range x {
			_, e := math.Frexp(float64(v)) // |v| = f·2^e, f ∈ [0.5, 1): floor(log2|v|) = e−1
			halfUlp := math.Ldexp(1, e-1-keepbits-1)
			if d := math.Abs(float64(r[i]) - float64(v)); d > halfUlp {
				t.Fatalf("keepbits %d: %v → %v, error %g > half a unit %g", keepbits, v, r[i], d, halfUlp)
			}
			if low := math.Float32bits(r[i]) & (1<<(23-keepbits) - 1); low != 0 {
				t.Fatalf("keepbits %d: %v → %v keeps mantissa bits %#x beyond the first %d", keepbits, v, r[i], low, keepbits)
			}
		}
	}
	if got := BitRound(x, 23); firstBitDifference(got, x) >= 0 {
		t.Errorf("keepbits 23 is not the identity")
	}
}

func TestBitRoundPanicsOnKeepBits(t *testing.T) {
	for _, k := range []int{-1, 24} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("BitRound keepbits %d did not panic", k)
				}
			}()
			BitRound([]float32{1}, k)
		}()
	}
}

func TestShuffleInverse(t *testing.T) {
	b := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	s := Shuffle(b, 4)
	if want := []byte{1, 5, 2, 6, 3, 7, 4, 8, 9, 10, 11}; !bytes.Equal(s, want) {
		t.Errorf("Shuffle = %v, want %v (first bytes, second bytes, …, then the 3 left over)", s, want)
	}
	for width := 1; width <= 8; width++ {
		if got := Unshuffle(Shuffle(b, width), width); !bytes.Equal(got, b) {
			t.Errorf("width %d: Unshuffle(Shuffle(b)) = %v", width, got)
		}
	}
}

// smoothField is a [T, H, W] temperature-like field in K: a meridional gradient, a travelling
// wave and a little deterministic noise.
func smoothField(tn, h, w int) []float32 {
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 0, tn*h*w)
	for t := range tn {
		for i := range h {
			for j := range w {
				v := 285 - 15*float64(i)/float64(h) + 4*math.Sin(float64(j)/5+float64(t)/3)*math.Cos(float64(i)/7) + 0.05*rng.NormFloat64()
				x = append(x, float32(v))
			}
		}
	}
	return x
}

func TestBitRoundCompressRoundTrip(t *testing.T) {
	x := smoothField(6, 20, 30)
	for _, coder := range Coders {
		for _, keepbits := range []int{0, 7, 23} {
			stream, err := BitRoundCompress(x, keepbits, coder)
			if err != nil {
				t.Fatal(err)
			}
			got, err := BitRoundDecompress(stream, len(x), coder)
			if err != nil {
				t.Fatalf("%s keepbits %d: %v", coder, keepbits, err)
			}
			if i := firstBitDifference(got, BitRound(x, keepbits)); i >= 0 || len(got) != len(x) {
				t.Errorf("%s keepbits %d: value %d came back as %v", coder, keepbits, i, got[i])
			}
			// 7 kept bits leave 1 sign + 8 exponent + 7 mantissa bits of which most are
			// predictable on a smooth field: well under half of float32's 32 bits.
			if bpv := 8 * float64(len(stream)) / float64(len(x)); keepbits == 7 && bpv > 10 {
				t.Errorf("%s keepbits 7: %.2f bits per value, want < 10", coder, bpv)
			}
		}
	}
	if _, err := BitRoundCompress(x, 24, CoderZstd); err == nil {
		t.Errorf("keepbits 24 accepted")
	}
	if _, err := BitRoundCompress(x, 7, "lz4"); err == nil || !strings.Contains(err.Error(), `want one of ["zstd" "zstd19" "deflate"]`) {
		t.Errorf("unknown coder: error %v", err)
	}
}

func TestZstd19MissingSaysHowToInstall(t *testing.T) {
	saved := ZstdCommand
	defer func() { ZstdCommand = saved }()
	ZstdCommand = filepath.Join(t.TempDir(), "zstd")
	if _, err := BitRoundCompress([]float32{1, 2}, 7, CoderZstd19); err == nil || !strings.Contains(err.Error(), "apt-get install zstd") {
		t.Errorf("error %v, want the install hint", err)
	}
}

func TestBitRoundDecompressCorrupt(t *testing.T) {
	x := smoothField(2, 10, 10)
	for _, coder := range Coders {
		stream, err := BitRoundCompress(x, 9, coder)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{len(x) - 1, len(x) + 1, 0} {
			if _, err := BitRoundDecompress(stream, n, coder); err == nil {
				t.Errorf("%s: stream of %d values decoded as %d values", coder, len(x), n)
			}
		}
		for cut := range len(stream) {
			if _, err := BitRoundDecompress(stream[:cut], len(x), coder); err == nil {
				t.Errorf("%s: stream truncated to %d of %d bytes decoded without error", coder, cut, len(stream))
			}
		}
		rng := rand.New(rand.NewPCG(5, 6))
		for range 300 { // flipped bytes: an error or, rarely, other values of the right count
			bad := bytes.Clone(stream)
			bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
			if got, err := BitRoundDecompress(bad, len(x), coder); err == nil && len(got) != len(x) {
				t.Fatalf("%s: corrupt stream decoded to %d values", coder, len(got))
			}
		}
		if _, err := BitRoundDecompress(stream, len(x), "none"); err == nil {
			t.Errorf("unknown coder accepted")
		}
	}
}

func FuzzBitRoundDecompress(f *testing.F) {
	x := smoothField(1, 8, 8)
	for _, coder := range []string{CoderZstd, CoderDeflate} {
		stream, err := BitRoundCompress(x, 5, coder)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(stream, uint16(len(x)), coder == CoderDeflate)
	}
	f.Add([]byte{}, uint16(0), false)
	f.Fuzz(func(t *testing.T, stream []byte, n uint16, deflate bool) {
		coder := CoderZstd
		if deflate {
			coder = CoderDeflate
		}
		got, err := BitRoundDecompress(stream, int(n), coder)
		if err == nil && len(got) != int(n) {
			t.Fatalf("decoded %d values, asked for %d", len(got), n)
		}
	})
}

func ExampleBitRound() {
	// 2 m temperatures in K with 7 mantissa bits kept: in [256, 512) a step of 2 K.
	fmt.Println(BitRound([]float32{280.3, 281, 283, 288.9}, 7))
	// Output: [280 280 284 288]
}
