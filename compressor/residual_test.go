package compressor

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/media"
)

// residualSignal makes a source of 2 channels × [5, 7, 9] on ERA5-like packing (the first on
// int16's lattice, the second float32, a block missing in both) and a decoding of it off by
// Gaussian noise of scale sigma.
func residualSignal(seed uint64, sigma float64) (in, dec media.Signal, lat []media.Lattice) {
	rng := rand.New(rand.NewPCG(seed, 1))
	shape := []int{5, 7, 9}
	n := 5 * 7 * 9
	lat = []media.Lattice{{Step: 0.00071, Offset: 271.3, Lo: -32766, Hi: 32767}, {}}
	in = media.Signal{Kind: qzc.Gridded, Channels: []string{"t2m", "sst"}, Shape: shape, Data: [][]float32{make([]float32, n), make([]float32, n)}}
	dec = media.Signal{Kind: qzc.Gridded, Channels: in.Channels, Shape: shape, Data: [][]float32{make([]float32, n), make([]float32, n)}}
	for c := range 2 {
		for i := range n {
			x := float32(270 + 10*math.Sin(float64(i)/9) + rng.NormFloat64())
			if c == 0 {
				x, _ = lat[0].Written(x)
			}
			v := float32(float64(x) + sigma*rng.NormFloat64())
			if i%63 >= 20 && i%63 < 24 {
				x, v = float32(math.NaN()), float32(math.NaN())
			}
			in.Data[c][i], dec.Data[c][i] = x, v
		}
	}
	return in, dec, lat
}

// TestResidualsBound: every value written is within its bound, on a lattice and in float32;
// decoding the residual bytes gives exactly the values the encoder checked; a bound below the
// packing step is lossless on the lattice; a bound larger than every error needs no symbol.
func TestResidualsBound(t *testing.T) {
	for _, c := range []struct {
		name   string
		bounds []float64
		sigma  float64
	}{{"coarse", []float64{0.5, 0.5}, 1}, {"fine", []float64{0.01, 0.02}, 1}, {"below the step", []float64{0.0002, 0.001}, 1},
		{"one channel", []float64{0, 0.3}, 1}, {"loose", []float64{50, 50}, 0.1}} {
		t.Run(c.name, func(t *testing.T) {
			in, dec, lat := residualSignal(7, c.sigma)
			eb, b, reps, err := encodeResiduals(in, dec, c.bounds, lat)
			if err != nil {
				t.Fatal(err)
			}
			if err := eb.Check(len(in.Channels)); err != nil {
				t.Fatal(err)
			}
			_, again, _ := residualSignal(7, c.sigma)
			if err := applyResiduals(again.Data, in.Shape, eb, b); err != nil {
				t.Fatal(err)
			}
			for ch, e := range c.bounds {
				if e == 0 {
					continue
				}
				if !slices.EqualFunc(again.Data[ch], dec.Data[ch], func(a, b float32) bool { return a == b || a != a && b != b }) {
					t.Fatalf("channel %d: decoded residuals give other values than the encoder's", ch)
				}
				worst := 0.0
				for i, x := range in.Data[ch] {
					w, _ := lat[ch].Written(again.Data[ch][i])
					if x != x {
						if w == w {
							t.Fatalf("channel %d value %d: missing, decoded %v", ch, i, w)
						}
						continue
					}
					worst = math.Max(worst, math.Abs(float64(w)-float64(x)))
				}
				if worst > e {
					t.Errorf("channel %d: max error %g > bound %g", ch, worst, e)
				}
				if e < lat[ch].Step/2 && worst != 0 {
					t.Errorf("channel %d: bound below half the packing step, max error %g, want lossless", ch, worst)
				}
			}
			if c.name == "loose" && len(b) != 2 {
				t.Errorf("bounds above every error: %d residual bytes, want one per channel", len(b))
			}
			if c.name == "one channel" && (len(reps) != 1 || reps[0].Channel != "sst" || eb.MaxAbs[0] != 0) {
				t.Errorf("one channel bounded: reports %+v, bound %v", reps, eb.MaxAbs)
			}
		})
	}
}

// TestResidualsRefuseBelowFloatResolution: a float32 channel cannot be held within less than
// half its ulp; the error names the bound and the resolution.
func TestResidualsRefuseBelowFloatResolution(t *testing.T) {
	in, dec, lat := residualSignal(1, 1)
	if _, _, _, err := encodeResiduals(in, dec, []float64{0, 1e-6}, lat); err == nil {
		t.Fatal("a bound of 1e-6 at 280 K in float32 was accepted")
	}
}

// TestResidualsCorrupt: truncated or altered residual bytes fail with qzc.ErrCorrupt and never
// panic.
func TestResidualsCorrupt(t *testing.T) {
	in, dec, lat := residualSignal(3, 1)
	eb, b, _, err := encodeResiduals(in, dec, []float64{0.1, 0.1}, lat)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{0, 1, len(b) / 2, len(b) - 1} {
		_, d, _ := residualSignal(3, 1)
		if err := applyResiduals(d.Data, in.Shape, eb, b[:cut]); !errors.Is(err, qzc.ErrCorrupt) {
			t.Errorf("truncated to %d of %d bytes: %v", cut, len(b), err)
		}
	}
	_, d, _ := residualSignal(3, 1)
	if err := applyResiduals(d.Data, in.Shape, eb, append(slices.Clone(b), 0)); !errors.Is(err, qzc.ErrCorrupt) {
		t.Errorf("a trailing byte: %v", err)
	}
}

// FuzzResiduals: any bytes as residuals decode or fail with qzc.ErrCorrupt, never panic.
func FuzzResiduals(f *testing.F) {
	in, dec, lat := residualSignal(5, 1)
	eb, b, _, err := encodeResiduals(in, dec, []float64{0.2, 0.05}, lat)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0, 0})
	f.Add([]byte{3, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, d, _ := residualSignal(5, 1)
		if err := applyResiduals(d.Data, in.Shape, eb, data); err != nil && !errors.Is(err, qzc.ErrCorrupt) {
			t.Fatalf("error not wrapping ErrCorrupt: %v", err)
		}
	})
}

// TestResidualsClampedLattice: where the source uses the packing's whole range, a decoded value
// beyond it is clamped by the writer; the residuals start from the clamped index, so the bound
// holds at the range's ends too.
func TestResidualsClampedLattice(t *testing.T) {
	in, dec, lat := residualSignal(11, 2)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range in.Data[0] {
		if x == x {
			_, k := lat[0].Written(x)
			lo, hi = math.Min(lo, k), math.Max(hi, k)
		}
	}
	lat[0].Lo, lat[0].Hi = lo, hi
	for _, e := range []float64{3, 0.05} {
		_, dec, _ = residualSignal(11, 2)
		eb, b, _, err := encodeResiduals(in, dec, []float64{e, 0}, lat)
		if err != nil {
			t.Fatalf("bound %g: %v", e, err)
		}
		_, again, _ := residualSignal(11, 2)
		if err := applyResiduals(again.Data, in.Shape, eb, b); err != nil {
			t.Fatal(err)
		}
		for i, x := range in.Data[0] {
			if x == x {
				k := min(hi, max(lo, math.Round((float64(again.Data[0][i])-lat[0].Offset)/lat[0].Step)))
				if w := float32(k*lat[0].Step + lat[0].Offset); math.Abs(float64(w)-float64(x)) > e {
					t.Fatalf("bound %g: value %d written as %v, source %v", e, i, w, x)
				}
			}
		}
	}
}
