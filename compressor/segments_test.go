package compressor

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/media"
)

// TestMergeChecks: the checks of a signal's segments, merged, equal the checks of the whole
// signal (errors and statistics over every present value), missing values included.
func TestMergeChecks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const T, H, W = 20, 3, 5
	in := media.Signal{Channels: []string{"a", "b"}, Shape: []int{T, H, W}}
	var dec media.Signal
	dec.Channels, dec.Shape = in.Channels, in.Shape
	for c := range 2 {
		x, y := make([]float32, T*H*W), make([]float32, T*H*W)
		for i := range x {
			x[i] = float32(280 + 10*float64(c) + 5*rng.NormFloat64())
			y[i] = x[i] + float32(rng.NormFloat64()*0.3)
			if rng.IntN(10) == 0 {
				x[i], y[i] = float32(math.NaN()), float32(math.NaN())
			}
		}
		in.Data, dec.Data = append(in.Data, x), append(dec.Data, y)
	}
	mean, std := []float64{250, 290}, []float64{2, 5} // channel a's mean is 15 σ off: a warning
	whole, err := checkChannels(in, dec, mean, std, nil)
	if err != nil {
		t.Fatal(err)
	}
	var parts [][]ChannelCheck
	for t0 := 0; t0 < T; t0 += 8 {
		n := min(8, T-t0)
		a, _ := media.WholeReader{S: in}.ReadRange(t0, n)
		b, _ := media.WholeReader{S: dec}.ReadRange(t0, n)
		c, err := checkChannels(a, b, mean, std, nil)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, c)
	}
	merged := mergeChecks(parts, nil)
	for i, w := range whole {
		m := merged[i]
		for _, p := range [][2]float64{{w.Errors.RMSE, m.Errors.RMSE}, {w.Errors.LatRMSE, m.Errors.LatRMSE}, {w.Errors.MaxAbs, m.Errors.MaxAbs},
			{w.Errors.MeanAbs, m.Errors.MeanAbs}, {w.Errors.Bias, m.Errors.Bias}, {w.Mean, m.Mean}, {w.Std, m.Std}, {w.Min, m.Min}, {w.Max, m.Max}} {
			if math.Abs(p[0]-p[1]) > 1e-9*math.Max(1, math.Abs(p[0])) {
				t.Fatalf("channel %s: merged %+v, whole %+v", w.Channel, m, w)
			}
		}
		if m.Errors.N != w.Errors.N || len(m.Warnings) != len(w.Warnings) {
			t.Fatalf("channel %s: merged %d values, %d warnings; whole %d, %d", w.Channel, m.Errors.N, len(m.Warnings), w.Errors.N, len(w.Warnings))
		}
	}
	if len(merged[0].Warnings) == 0 {
		t.Error("channel a, 15 σ from its training mean, merged without a warning")
	}
}

// TestSegmentBins: a segment's bins travel ahead of its residuals and override the header's;
// bins cut short or out of their domain are refused as corrupt.
func TestSegmentBins(t *testing.T) {
	h := &qzc.ErrorBound{MaxAbs: []float64{0.5, 0, 1e-4}, Step: []float64{0.01, 0, 0}, Offset: []float64{280, 0, 0},
		Lo: []float64{-32766, 0, 0}, Hi: []float64{32767, 0, 0}, Bin: []float64{99, 0, 1.5e-4}}
	seg := *h
	seg.Bin = []float64{97, 0, 1.2e-4}
	b := append(binPrefix(&seg), 1, 2, 3)
	got, rest, err := splitBins(h, b)
	if err != nil || got.Bin[0] != 97 || got.Bin[2] != 1.2e-4 || len(rest) != 3 || h.Bin[0] != 99 {
		t.Fatalf("bins %v, rest %v, header bins %v: %v", got.Bin, rest, h.Bin, err)
	}
	for _, bad := range [][]byte{b[:15], binPrefix(&qzc.ErrorBound{MaxAbs: []float64{1, 0, 1}, Bin: []float64{98, 0, 1}})} {
		if _, _, err := splitBins(h, bad); !errors.Is(err, qzc.ErrCorrupt) {
			t.Errorf("%d bytes of bins: %v", len(bad), err)
		}
	}
}
