package metrics

import (
	"fmt"
	"math"
)

// FieldErrors compares a reconstruction with the original field in physical units (K for
// temperature): err = recon − orig over every value where the original is not NaN.
//
//	RMSE    = sqrt(Σ err² / N)
//	LatRMSE = sqrt(Σ w_lat · err² / Σ w_lat)    w_lat the weight of the value's latitude row
//	MaxAbs  = max |err|,  MeanAbs = Σ |err| / N,  Bias = Σ err / N
//
// N counts the values compared (NaNs of the original, missing data, are left out). A NaN or
// Inf in the reconstruction where the original is finite makes the errors +Inf or NaN: a
// codec that loses a value is not forgiven.
type FieldErrors struct {
	RMSE, LatRMSE, MaxAbs, MeanAbs, Bias float64
	N                                    int
}

// CompareFields returns the errors of recon against orig, both flat arrays of the shape
// [..., H, W] (row-major, latitude the second-to-last axis). latWeights holds one weight per
// latitude row (len H), e.g. [LatCosWeights]; nil weighs all rows alike, so that LatRMSE equals
// RMSE. Weights need not be normalised; they must be finite and ≥ 0 with a positive sum.
// It returns an error when the lengths disagree with the shape or with each other.
func CompareFields(orig, recon []float32, shape []int, latWeights []float64) (FieldErrors, error) {
	if len(shape) < 2 {
		return FieldErrors{}, fmt.Errorf("metrics: field shape %v: want [..., H, W]", shape)
	}
	size := 1
	for _, d := range shape {
		if d < 0 {
			return FieldErrors{}, fmt.Errorf("metrics: field shape %v has a negative dimension", shape)
		}
		size *= d
	}
	if len(orig) != size || len(recon) != size {
		return FieldErrors{}, fmt.Errorf("metrics: field shape %v holds %d values, got %d original and %d reconstructed", shape, size, len(orig), len(recon))
	}
	h, w := shape[len(shape)-2], shape[len(shape)-1]
	if latWeights != nil {
		if len(latWeights) != h {
			return FieldErrors{}, fmt.Errorf("metrics: %d latitude weights for %d latitude rows", len(latWeights), h)
		}
		sum := 0.0
		for i, wt := range latWeights {
			if !(wt >= 0) || math.IsInf(wt, 0) {
				return FieldErrors{}, fmt.Errorf("metrics: latitude weight %d is %v, want finite and ≥ 0", i, wt)
			}
			sum += wt
		}
		if sum == 0 && h > 0 {
			return FieldErrors{}, fmt.Errorf("metrics: latitude weights sum to 0")
		}
	}
	var e FieldErrors
	var sumSq, sumAbs, sum, sumWSq, sumW float64
	for i, o := range orig {
		if math.IsNaN(float64(o)) {
			continue
		}
		err := float64(recon[i]) - float64(o)
		abs := math.Abs(err)
		wt := 1.0
		if latWeights != nil {
			wt = latWeights[(i/w)%h]
		}
		e.N++
		sum += err
		sumAbs += abs
		sumSq += err * err
		sumWSq += wt * err * err
		sumW += wt
		if abs > e.MaxAbs || math.IsNaN(abs) {
			e.MaxAbs = abs
		}
	}
	if e.N == 0 {
		return e, nil
	}
	n := float64(e.N)
	e.RMSE, e.MeanAbs, e.Bias = math.Sqrt(sumSq/n), sumAbs/n, sum/n
	if sumW > 0 {
		e.LatRMSE = math.Sqrt(sumWSq / sumW)
	}
	return e, nil
}

// LatCosWeights returns area weights for the latitude rows of a regular latitude–longitude
// grid, given in degrees north: w_i = cos(lat_i) / mean_j cos(lat_j) (the WeatherBench
// weights), so that the weights average 1 and a weighted mean over the grid is Σ w_i x_i / N.
// Cosines are clamped at 0; a grid of poles only (all cosines zero) gets weights of 1. It
// returns nil for no latitudes.
func LatCosWeights(latitudesDeg []float64) []float64 {
	if len(latitudesDeg) == 0 {
		return nil
	}
	w := make([]float64, len(latitudesDeg))
	sum := 0.0
	for i, lat := range latitudesDeg {
		w[i] = max(0, math.Cos(lat*math.Pi/180))
		sum += w[i]
	}
	if sum < 1e-12 {
		for i := range w {
			w[i] = 1
		}
		return w
	}
	mean := sum / float64(len(w))
	for i := range w {
		w[i] /= mean
	}
	return w
}
