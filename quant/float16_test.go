package quant

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestFloat16RoundTripEveryValue(t *testing.T) {
	for h := range 1 << 16 {
		f := float16ToFloat32(uint16(h))
		got := float32ToFloat16(f)
		if math.IsNaN(float64(f)) {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("NaN %#04x → %v → %#04x, not a NaN", h, f, got)
			}
			continue
		}
		if got != uint16(h) {
			t.Fatalf("%#04x → %v → %#04x", h, f, got)
		}
	}
}

// nearestFloat16 is the reference conversion: the nearest of all finite binary16 values (ties
// to the even encoding), or infinity from 65520 on (65504 plus half its ulp, a tie that goes
// to the even infinity).
func nearestFloat16(x float64, finite []float64, bits []uint16) uint16 {
	if math.Abs(x) >= 65520 {
		if x < 0 {
			return 0xfc00
		}
		return 0x7c00
	}
	i, _ := slices.BinarySearch(finite, x)
	best := -1
	for _, j := range []int{i - 1, i} {
		if j < 0 || j >= len(finite) {
			continue
		}
		if best < 0 {
			best = j
			continue
		}
		d, e := math.Abs(finite[j]-x), math.Abs(finite[best]-x)
		if d < e || (d == e && bits[j]&1 == 0) {
			best = j
		}
	}
	if finite[best] == 0 && math.Signbit(x) {
		return 0x8000
	}
	return bits[best]
}

// float16Table is every finite binary16 value ascending (one zero, +0) and its bits, the
// reference table of nearestFloat16.
func float16Table() (sortedF []float64, sortedB []uint16) {
	var finite []float64
	var bits []uint16
	for h := range 1 << 16 {
		if f := float16ToFloat32(uint16(h)); !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) && !(f == 0 && h != 0) {
			finite, bits = append(finite, float64(f)), append(bits, uint16(h))
		}
	}
	order := make([]int, len(finite))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(finite[a], finite[b]) })
	sortedF, sortedB = make([]float64, len(order)), make([]uint16, len(order))
	for k, i := range order {
		sortedF[k], sortedB[k] = finite[i], bits[i]
	}
	return sortedF, sortedB
}

func TestFloat16RoundingMatchesNearest(t *testing.T) {
	sortedF, sortedB := float16Table()

	check := func(f float32) {
		if got, want := float32ToFloat16(f), nearestFloat16(float64(f), sortedF, sortedB); got != want {
			t.Fatalf("float32ToFloat16(%v = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
	// Every midpoint between neighbours (the ties) and the float32 values just around it.
	for k := 1; k < len(sortedF); k++ {
		mid := float32((sortedF[k-1] + sortedF[k]) / 2)
		check(mid)
		check(math.Nextafter32(mid, float32(math.Inf(1))))
		check(math.Nextafter32(mid, float32(math.Inf(-1))))
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 200_000 {
		if f := math.Float32frombits(rng.Uint32()); !math.IsNaN(float64(f)) {
			check(f)
		}
	}
	for _, f := range []float32{0, 1, 65504, 65519.996, 65520, 1e10, 0x1p-24, 0x1p-25, 0x1.8p-25, 0x1p-26, 1 + 0x1p-11, 1 + 0x3p-11} {
		check(f)
		check(-f)
	}
	if h := float32ToFloat16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN → %#04x", h)
	}
}
