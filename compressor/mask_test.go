package compressor

import (
	"math"
	"slices"
	"testing"

	"github.com/qzoo/qzoo/media"
)

// TestFilled: missing values are interpolated along their row between present neighbours,
// take the nearest present value at a row's ends, the channel's mean in a row without any,
// and the training mean in a channel without any; the input is left as it was.
func TestFilled(t *testing.T) {
	nan := float32(math.NaN())
	s := media.Signal{Shape: []int{1, 3, 4}, Channels: []string{"a", "b"}, Data: [][]float32{
		{1, nan, nan, 4, nan, 2, nan, nan, nan, nan, nan, nan},
		{nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan},
	}}
	in := [][]float32{slices.Clone(s.Data[0]), slices.Clone(s.Data[1])}
	got, n := filled(s, []float64{0, 7})
	if n != 21 {
		t.Errorf("filled %d values, want 21", n)
	}
	m := float32(7.0 / 3) // the mean of 1, 4 and 2
	want := [][]float32{{1, 2, 3, 4, 2, 2, 2, 2, m, m, m, m}, {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}}
	for c := range want {
		if !slices.Equal(got.Data[c], want[c]) {
			t.Errorf("channel %d filled as %v, want %v", c, got.Data[c], want[c])
		}
		for i := range in[c] {
			if math.Float32bits(in[c][i]) != math.Float32bits(s.Data[c][i]) {
				t.Fatalf("the input changed: %v", s.Data[c])
			}
		}
	}
	if f, g := frameOf([]int{24, 33, 49}), frameOf([]int{160}); f != 33*49 || g != 0 {
		t.Errorf("frames %d and %d, want an hour's 1617 values and none for audio", f, g)
	}
	full := media.Signal{Shape: []int{2}, Data: [][]float32{{1, 2}}}
	if got, n := filled(full, nil); n != 0 || &got.Data[0][0] != &full.Data[0][0] {
		t.Errorf("a signal without missing values: %d filled, copied", n)
	}
}
