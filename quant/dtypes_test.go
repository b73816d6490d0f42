package quant

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/quant/scheme"
)

// TestFloatGrids checks the largest value, the smallest subnormal and the number of
// non-negative finite values of the standard formats (OCP MX v1.0 / OFP8 v1.0; IEEE 754).
func TestFloatGrids(t *testing.T) {
	bf16Max := float64(math.Float32frombits(0x7f7f0000)) // (2 − 2⁻⁷)·2¹²⁷
	for _, tc := range []struct {
		bits, exponent int
		max, minPos    float64 // the largest value and the smallest positive one
		count          int
	}{
		{4, 2, 6, 0.5, 8},                     // FP4 E2M1
		{6, 2, 7.5, 0.125, 32},                // FP6 E2M3
		{6, 3, 28, 0.0625, 32},                // FP6 E3M2
		{8, 4, 448, 0x1p-9, 127},              // FP8 E4M3 (FN: S.1111.111 is NaN)
		{8, 5, 57344, 0x1p-16, 124},           // FP8 E5M2 (IEEE: exponent 11111 reserved)
		{16, 5, 65504, 0x1p-24, 31 * 1024},    // binary16
		{16, 8, bf16Max, 0x1p-133, 255 * 128}, // bfloat16
		{3, 1, 3, 1, 4},                       // E1M1: {0, 1, 2, 3}
		{3, 2, 4, 1, 4},                       // E2M0: {0, 1, 2, 4}, no subnormal but 0
		{7, 6, 0x1p32, 0x1p-30, 64},           // E6M0: every code finite below 8 bits
	} {
		f := newFloatFormat(tc.bits, tc.exponent)
		name := (Spec{Method: MethodFloat, Bits: tc.bits, Exponent: tc.exponent}).String()
		if f.max() != tc.max || f.levels[1] != tc.minPos || len(f.levels) != tc.count {
			t.Errorf("%s: max %v, smallest positive %v, %d values; want %v, %v, %d", name, f.max(), f.levels[1], len(f.levels), tc.max, tc.minPos, tc.count)
		}
		if !slices.IsSorted(f.levels) || f.levels[0] != 0 {
			t.Errorf("%s: levels not ascending from 0", name)
		}
	}
	if got := newFloatFormat(4, 2).levels; !slices.Equal(got, []float64{0, 0.5, 1, 1.5, 2, 3, 4, 6}) {
		t.Errorf("E2M1 grid %v, want ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}", got)
	}
	if got := newFloatFormat(3, 2).levels; !slices.Equal(got, []float64{0, 1, 2, 4}) {
		t.Errorf("E2M0 grid %v", got)
	}
	// binary16: the magnitude code is the binary16 bit pattern.
	f16 := newFloatFormat(16, 5)
	for k, v := range f16.levels {
		if v != float64(float16ToFloat32(uint16(k))) {
			t.Fatalf("e5m10 level %d is %v, binary16 %#04x is %v", k, v, k, float16ToFloat32(uint16(k)))
		}
	}
}

// TestFloatRounding: round to nearest, ties to the even code, saturating at the largest
// value, with subnormals; and the same as a brute-force search over every code of every
// split of 3..8 bits.
func TestFloatRounding(t *testing.T) {
	e2m1 := newFloatFormat(4, 2)
	for y, want := range map[float64]float64{
		2.5: 2, 0.25: 0, 0.75: 1, 1.25: 1, 1.75: 2, 5: 4, 3.5: 4, 2.6: 3, 7: 6, 1e9: 6,
		-5.5: -6, -0.2: 0, -0.3: -0.5, 0: 0,
	} {
		if got := e2m1.value(e2m1.code(y)); got != want {
			t.Errorf("e2m1(%v) = %v, want %v", y, got, want)
		}
	}
	if c := e2m1.code(-0.1); c != 0 {
		t.Errorf("e2m1(−0.1) has code %#x, want +0", c)
	}
	e4m3 := newFloatFormat(8, 4)
	for y, want := range map[float64]float64{
		0x1p-10: 0, 0x1.8p-9: 0x1p-8, 0x1.4p-9: 0x1p-9, 3 * 0x1p-9: 3 * 0x1p-9, 464: 448, 500: 448, -1e6: -448,
		0x1.1p-6: 0x1p-6, 0x1.3p-6: 0x1.4p-6, // the first normal binade, step 2⁻⁹
	} {
		if got := e4m3.value(e4m3.code(y)); got != want {
			t.Errorf("e4m3(%v) = %v, want %v", y, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for bits := MinFloatBits; bits <= MaxBits; bits++ {
		for e := 1; e < bits; e++ {
			f := newFloatFormat(bits, e)
			var ys []float64
			for k := 1; k < len(f.levels); k++ {
				mid := (f.levels[k-1] + f.levels[k]) / 2
				ys = append(ys, mid, -mid, math.Nextafter(mid, 0), math.Nextafter(mid, math.Inf(1)))
			}
			for range 200 {
				ys = append(ys, (2*rng.Float64()-1)*1.2*f.max())
			}
			ys = append(ys, 0, 5e-324, -1e-300, f.levels[1]/4, 4*f.max(), -3*f.max()) // the table's clamped ends
			for _, y := range ys {
				if got, want := f.code(y), bruteForceCode(f, y); got != want {
					t.Fatalf("e%dm%d(%v): code %#x, brute force %#x", e, bits-1-e, y, got, want)
				}
			}
		}
	}
}

// bruteForceCode is the code of the finite value nearest y among every code of f (ties to the
// even code, zero as +0).
func bruteForceCode(f floatFormat, y float64) uint32 {
	best, bestD := uint32(0), math.Inf(1)
	for code := range uint32(1) << f.bits {
		if f.checkCode(code) != nil {
			continue
		}
		d := math.Abs(f.value(code) - y)
		if d < bestD || (d == bestD && code&1 == 0 && best&1 == 1) {
			best, bestD = code, d
		}
	}
	return best
}

// TestFloat16Method: float at 16 bits (E5M10) codes every weight of stories260K's w2 as the
// binary16 rounding of its scaled value y = (w/c)·65504, c the block's fp16 absmax.
func TestFloat16Method(t *testing.T) {
	w, err := readStoriesW2()
	if err != nil {
		t.Fatalf("stories260K (%s): %v", storiesPath, err)
	}
	sortedF, sortedB := float16Table()
	for _, group := range []int{64, 0, 4096} {
		spec := Spec{Method: MethodFloat, Bits: 16, GroupSize: group}
		q, wq := roundTrip(t, w, 64, 172, spec, nil)
		codes, err := unpackBits(q.codes, 16, len(w))
		if err != nil {
			t.Fatal(err)
		}
		l := newLayout(64, 172, group)
		checked := 0
		for g, h := range q.scales {
			c := float64(float16ToFloat32(h))
			lo, hi := l.span(g)
			for i := lo; i < hi; i++ {
				y := float64(w[i]) / c * 65504
				if math.Abs(y) > 65504 {
					continue // beyond the grid by the rounding of c: saturates (TestFloatRounding)
				}
				want := nearestFloat16(y, sortedF, sortedB)
				if want == 0x8000 {
					want = 0 // zero is stored as +0
				}
				if codes[i] != uint32(want) {
					t.Fatalf("%s: weight %d: y = %v coded %#04x, binary16 rounding %#04x", spec, i, y, codes[i], want)
				}
				if got := float32(float64(float16ToFloat32(want)) * (c / 65504)); wq[i] != got {
					t.Fatalf("%s: weight %d dequantized to %v, want %v", spec, i, wq[i], got)
				}
				checked++
			}
		}
		if checked < len(w)-2*len(q.scales) {
			t.Errorf("%s: only %d of %d weights checked", spec, checked, len(w))
		}
		if e := RelativeError(w, wq); e > 5e-4 {
			t.Errorf("%s: relative error %.3g, want ≤ 5e-4 (binary16's ulp is 2⁻¹⁰ of a binade)", spec, e)
		}
	}
}

// TestNFLevels: NormalFloat-k has 2^k ascending levels from −1 to 1 with 0 exact, and at
// k = 4 they are NF4's, bit for bit.
func TestNFLevels(t *testing.T) {
	nf4 := NF4Levels()
	if got := NFLevels(4); !slices.Equal(got, nf4[:]) {
		t.Errorf("NFLevels(4) = %v, NF4 %v", got, nf4)
	}
	for k := MinNFBits; k <= MaxNFBits; k++ {
		l := NFLevels(k)
		ascending := true
		for i := 1; i < len(l); i++ {
			ascending = ascending && l[i] > l[i-1]
		}
		if len(l) != 1<<k || l[0] != -1 || l[len(l)-1] != 1 || l[1<<(k-1)-1] != 0 || !ascending {
			t.Errorf("NFLevels(%d) = %v: want 2^k distinct ascending levels, −1, 0 at %d, 1", k, l, 1<<(k-1)-1)
		}
	}
	if l := NFLevels(2); l[2] <= 0 || l[2] >= 1 {
		t.Errorf("NF2 levels %v: want −1, 0, a level in (0, 1), 1", l)
	}
	// nf at 4 bits codes with NF4's levels: with an absmax that fp16 holds exactly the codes and
	// weights equal nf4's, block for block.
	rng := rand.New(rand.NewPCG(3, 4))
	w := normal(rng, 8*64, 0, 0.05)
	for g := range 8 {
		w[g*64+g] = 0.5 // each block's absmax (10σ), exact in fp16 and fp32
	}
	_, nfW := roundTrip(t, w, 8, 64, Spec{Method: MethodNF, Bits: 4, GroupSize: 64}, nil)
	_, nf4W := roundTrip(t, w, 8, 64, Spec{Method: MethodNF4}, nil)
	if !slices.Equal(nfW, nf4W) {
		t.Error("nf-w4-g64 and nf4-w4-g64 dequantize differently with absmax constants exact in fp16")
	}
}

// TestErrorDecreasesWithBitsPerType quantizes stories260K's w2 with every data type at each
// width, in blocks of 64, per channel and in flattened blocks of 4096: the relative error
// falls with every added bit. Float keeps its exponent (E2 or E3) and adds mantissa bits: a
// bit added to the exponent instead buys range that absmax-scaled weights do not use (E3M3
// at 7 bits 0.0246, E4M3 at 8 bits 0.0245 in blocks of 64; per row E4M3 is worse).
func TestErrorDecreasesWithBitsPerType(t *testing.T) {
	w, err := readStoriesW2()
	if err != nil {
		t.Fatalf("stories260K (%s): %v", storiesPath, err)
	}
	widths := func(lo, hi int, extra ...int) []int {
		var b []int
		for k := lo; k <= hi; k++ {
			b = append(b, k)
		}
		return append(b, extra...)
	}
	for _, group := range []int{64, 0, 4096} {
		for _, tc := range []struct {
			base Spec
			bits []int
		}{
			{Spec{Method: MethodRTN}, widths(2, 8, 16)},
			{Spec{Method: MethodRTN, Symmetric: true}, widths(2, 8, 16)},
			{Spec{Method: MethodFloat, Exponent: 2}, widths(3, 8, 16)},
			{Spec{Method: MethodFloat, Exponent: 3}, widths(4, 8, 16)},
			{Spec{Method: MethodNF}, widths(2, 8)},
		} {
			prev := math.Inf(1)
			for _, b := range tc.bits {
				spec := tc.base
				spec.Bits, spec.GroupSize = b, group
				e := relErr(t, w, 64, 172, spec)
				t.Logf("%-22s relative error %.5f", spec, e)
				if e >= prev {
					t.Errorf("%s: relative error %.4g not below %.4g at the previous width", spec, e, prev)
				}
				prev = e
			}
		}
	}
}

// TestFlatBlocks: blocks wider than a row are consecutive weights of the flattened matrix,
// the last one shorter, one fp16 constant each, and the storage counts them exactly.
func TestFlatBlocks(t *testing.T) {
	// 3×64 in blocks of 100: weights 0..99 (row 0 and 36 weights of row 1) and 100..191.
	w := make([]float32, 3*64)
	for i := range w {
		w[i] = 0.01 * float32(i%7-3)
	}
	w[99] = 2 // row 1, column 35: the first block's absmax only
	q, wq := roundTrip(t, w, 3, 64, Spec{Method: MethodFloat, Bits: 8, GroupSize: 100}, nil)
	if len(q.scales) != 2 || float16ToFloat32(q.scales[0]) != 2 || float16ToFloat32(q.scales[1]) != float16ToFloat32(float32ToFloat16(0.03)) {
		t.Errorf("absmax constants %v, want fp16 2 and 0.03", q.scales)
	}
	if wq[99] != 2 {
		t.Errorf("the block's absmax dequantizes to %v, want 2 exactly", wq[99])
	}
	rng := rand.New(rand.NewPCG(8, 9))
	for _, tc := range []struct {
		rows, cols int
		spec       Spec
		want       scheme.Storage
	}{
		{64, 64, Spec{Method: MethodRTN, Bits: 4, GroupSize: 4096}, scheme.Storage{Codes: 4 * 4096, Scales: 16, ZeroPoints: 4}},
		{64, 172, Spec{Method: MethodNF, Bits: 3, GroupSize: 256}, scheme.Storage{Codes: 3 * 11008, Scales: 43 * 16}},
		{172, 64, Spec{Method: MethodFloat, Bits: 8, GroupSize: 1000}, scheme.Storage{Codes: 8 * 11008, Scales: 12 * 16}},
		{32, 64, Spec{Method: MethodRTN, Bits: 16, GroupSize: 128, Symmetric: true}, scheme.Storage{Codes: 16 * 2048, Scales: 16 * 16}},
		{32, 64, Spec{Method: MethodSqueezeLLM, Bits: 2, GroupSize: 512}, scheme.Storage{Codes: 2 * 2048, Tables: 4 * 4 * 16}},
		{64, 64, Spec{Method: MethodNF4, GroupSize: 4096, DoubleQuant: true}, scheme.Storage{Codes: 4 * 4096, Scales: 8 + 2*32}},
		// Up to the row width, groups stay within rows: 172 in groups of 128 is 128 + 44.
		{64, 172, Spec{Method: MethodFloat, Bits: 4, GroupSize: 128}, scheme.Storage{Codes: 4 * 11008, Scales: 64 * 2 * 16}},
		{32, 64, Spec{Method: MethodNF, Bits: 5}, scheme.Storage{Codes: 5 * 2048, Scales: 32 * 16}},
	} {
		tc.want.Values = int64(tc.rows * tc.cols)
		if got := tc.spec.Storage(tc.rows, tc.cols); got != tc.want {
			t.Errorf("%d×%d %s: Storage %+v, want %+v", tc.rows, tc.cols, tc.spec, got, tc.want)
		}
		q, _ := roundTrip(t, normal(rng, tc.rows*tc.cols, 0, 0.1), tc.rows, tc.cols, tc.spec, nil)
		if q.Storage() != tc.want {
			t.Errorf("%d×%d %s: quantized storage %+v", tc.rows, tc.cols, tc.spec, q.Storage())
		}
		b, _ := q.MarshalBinary()
		payload := int64(len(b)-headerLen-checksumLen) * 8
		if payload < int64(tc.want.Total()) || payload > int64(tc.want.Total())+3*7 {
			t.Errorf("%d×%d %s: %d payload bits serialized for %v counted", tc.rows, tc.cols, tc.spec, payload, tc.want.Total())
		}
	}
}

// TestRTN16Bits: 16-bit codes pack two bytes each, and the scale rounded up to fp16 clips no
// weight: every weight is within half a step of its level.
func TestRTN16Bits(t *testing.T) {
	w, err := readStoriesW2()
	if err != nil {
		t.Fatalf("stories260K (%s): %v", storiesPath, err)
	}
	for _, spec := range []Spec{{Method: MethodRTN, Bits: 16, GroupSize: 64}, {Method: MethodRTN, Bits: 16, Symmetric: true}, {Method: MethodRTN, Bits: 12, GroupSize: 4096}} {
		q, wq := roundTrip(t, w, 64, 172, spec, nil)
		if len(q.codes) != packedLen(len(w), spec.Bits) {
			t.Errorf("%s: %d code bytes, want %d", spec, len(q.codes), packedLen(len(w), spec.Bits))
		}
		l := newLayout(64, 172, spec.GroupSize)
		for g, h := range q.scales {
			s := float64(float16ToFloat32(h))
			lo, hi := l.span(g)
			for i := lo; i < hi; i++ {
				if d := math.Abs(float64(w[i]) - float64(wq[i])); d > s/2*(1+1e-6)+1e-12 {
					t.Fatalf("%s: weight %d = %v dequantized to %v, %.3g steps away (clipped)", spec, i, w[i], wq[i], d/s)
				}
			}
		}
	}
}

// TestFloatCodesCorrupt: a stored float code that is NaN (E4M3's S.1111.111, E5M2's top
// exponent) or −0 is refused.
func TestFloatCodesCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	w := normal(rng, 30, 0, 1)
	for _, tc := range []struct {
		spec Spec
		code byte
		want string
	}{
		{Spec{Method: MethodFloat, Bits: 8}, 0x7f, "code 0x7f of e4m3 is not a finite value"},
		{Spec{Method: MethodFloat, Bits: 8}, 0xff, "not a finite value"},
		{Spec{Method: MethodFloat, Bits: 8, Exponent: 5}, 0x7c, "code 0x7c of e5m2 is not a finite value"},
		{Spec{Method: MethodFloat, Bits: 8}, 0x80, "is −0"},
	} {
		q, err := Quantize(w, 3, 10, tc.spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := q.MarshalBinary()
		c := bytes.Clone(b)
		c[headerLen+4] = tc.code // weight 4's code
		_, err = UnmarshalQuantized(resign(c))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "weight 4: code ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with code %#x: err = %v, want %q", tc.spec, tc.code, err, tc.want)
		}
	}
}
