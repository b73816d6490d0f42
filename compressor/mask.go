package compressor

// Missing values: a signal's NaNs (sea-surface temperature over land) are coded losslessly by
// their mask in the .qzc file (qzc.Mask), and the model codes the signal with them filled in.

import (
	"math"
	"slices"

	"github.com/qzoo/qzoo/media"
)

// filled returns s with its missing values (NaN) filled in, for a model to code cheaply, and
// the number filled (s itself when none is missing). Along each row (the last dimension of
// s.Shape: a latitude row of a gridded field) a missing value is interpolated linearly
// between the nearest present values on either side, or takes the nearest present value
// when there is one on one side only; a row with no present value takes the channel's mean
// over its present values, and a channel with none present takes mean[c] (the model's
// training mean; 0 when the model does not normalise).
func filled(s media.Signal, mean []float64) (media.Signal, int) {
	count := 0
	for _, ch := range s.Data {
		for _, v := range ch {
			if v != v {
				count++
			}
		}
	}
	if count == 0 {
		return s, 0
	}
	out := s
	out.Data = make([][]float32, len(s.Data))
	w := s.Shape[len(s.Shape)-1]
	for c, ch := range s.Data {
		x := slices.Clone(ch)
		fallback := 0.0
		if c < len(mean) {
			fallback = mean[c]
		}
		if m, _, _, _ := stats(ch); !math.IsNaN(m) {
			fallback = m
		}
		for r := 0; r+w <= len(x); r += w {
			fillRow(x[r:r+w], float32(fallback))
		}
		out.Data[c] = x
	}
	return out, count
}

// fillRow fills row's NaNs in place (see filled); fallback when the row has no present value.
func fillRow(row []float32, fallback float32) {
	prev := -1 // the last present index
	for i := 0; i <= len(row); i++ {
		if i < len(row) && row[i] != row[i] {
			continue
		}
		// row[prev+1:i] are missing, row[prev] and row[i] present where in range.
		for j := prev + 1; j < i; j++ {
			switch {
			case prev >= 0 && i < len(row):
				f := float32(j-prev) / float32(i-prev)
				row[j] = row[prev] + f*(row[i]-row[prev])
			case prev >= 0:
				row[j] = row[prev]
			case i < len(row):
				row[j] = row[i]
			default:
				row[j] = fallback
			}
		}
		prev = i
	}
}

// frameOf is the values of one step along a shape's first dimension (a gridded field's
// H·W: an hour), from which a mask is predicted (qzc.NewMask); 0 for one dimension.
func frameOf(shape []int) int {
	if len(shape) < 2 {
		return 0
	}
	n := 1
	for _, d := range shape[1:] {
		n *= d
	}
	return n
}
