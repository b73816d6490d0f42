package vaeformer

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGeluSliceMatchesGelu: geluSlice gives geluGo's bits for values in every formula of
// detmath.Erf, at and around the boundaries between them, and at the special values.
func TestGeluSliceMatchesGelu(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var v []float64
	for range 200000 {
		v = append(v, rng.NormFloat64()*[]float64{0.01, 1, 3, 10}[rng.IntN(4)], (rng.Float64()-0.5)*20)
	}
	for _, b := range []float64{erfSmall, 0.84375, 1.25, 1 / 0.35, 6, 28} {
		for _, x := range []float64{b * math.Sqrt2, b * math.Sqrt2 * (1 + 1e-15)} {
			for _, s := range []float64{1, -1} {
				v = append(v, s*x, s*math.Nextafter(x, 0), s*math.Nextafter(x, math.Inf(1)))
			}
		}
	}
	v = append(v, 0, math.Copysign(0, -1), 1e-300, -1e-300, 5e-324, 1e300, -1e300, math.Inf(1), math.Inf(-1), math.NaN())
	got := slices.Clone(v)
	var g geluScratch
	g.geluSlice(got[:7]) // a short call first: the scratch grows for the long one
	g.geluSlice(got[7:])
	for i, x := range v {
		want := geluGo(x)
		if math.Float64bits(got[i]) != math.Float64bits(want) && !(math.IsNaN(got[i]) && math.IsNaN(want)) {
			t.Fatalf("gelu(%v) = %v, geluGo %v", x, got[i], want)
		}
	}
}

// BenchmarkGelu: geluSlice against geluGo per element on 256 values spread as h_s's are.
func BenchmarkGelu(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	v := make([]float64, 256)
	for i := range v {
		v[i] = rng.NormFloat64() * 2.5
	}
	w := make([]float64, len(v))
	b.Run("slice", func(b *testing.B) {
		var g geluScratch
		for b.Loop() {
			copy(w, v)
			g.geluSlice(w)
		}
	})
	b.Run("geluGo", func(b *testing.B) {
		for b.Loop() {
			for i, x := range v {
				w[i] = geluGo(x)
			}
		}
	})
}
