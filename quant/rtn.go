package quant

import (
	"fmt"
	"math"
)

// Uniform round-to-nearest (RTN), the baseline of every weight-quantization paper (e.g. GPTQ,
// Frantar et al. 2023; AWQ, Lin et al. 2024). For a group g of b-bit codes:
//
//	asymmetric: lo = min(0, min_g w), hi = max(0, max_g w), s = fp16((hi−lo)/(2^b−1)),
//	            z = clamp(round(−lo/s), 0, 2^b−1), q = clamp(round(w/s)+z, 0, 2^b−1),
//	            ŵ = (q−z)·s
//	symmetric:  s = fp16(max_g |w| / (2^(b−1)−1)), q = clamp(round(w/s), −(2^(b−1)−1), 2^(b−1)−1),
//	            stored as the code q + 2^(b−1)−1 ∈ [0, 2^b−2], ŵ = q·s
//
// Widening [min, max] to contain 0 (as GPTQ's reference quantizer does) makes the zero point
// an exact b-bit integer and 0 exactly representable; without it a group of all-positive
// weights would need a zero point outside [0, 2^b−1]. Codes are computed with the fp16 scale
// actually stored, rounding half to even. A group whose scale is 0 (all zero, or below fp16's
// smallest subnormal) stores s = 0, z = 0 and dequantizes to zeros.
//
// The fp16 scale is the nearest fp16 value at 2..8 bits. At 9..16 bits it is the smallest fp16
// value not below the exact scale: a scale rounded down by half an fp16 ulp (up to 2^−11 of
// it, more when subnormal) would leave the group's extreme weights beyond the code range by
// up to 2^−11 of the range, 32 levels at 16 bits, clipped; rounding the scale up avoids that
// (the step grows by at most one fp16 ulp instead). At 2..8 bits the overrun of a normal
// scale is under 255·2^−11 < ½ level, and the published form is kept.

// quantizeRTN fills q.codes, q.scales and (asymmetric) q.zeros from x; outliers are left out of
// the statistics and coded as 0.
func (q *Quantized) quantizeRTN(x []float64, isOutlier []bool) error {
	l := newLayout(q.rows, q.cols, q.spec.GroupSize)
	bits := q.spec.Bits
	codes := make([]uint32, len(x))
	q.scales = make([]uint16, l.groups())
	if !q.spec.Symmetric {
		q.zeros = make([]uint32, l.groups())
	}
	maxCode := float64(int(1)<<bits - 1)
	half := float64(int(1)<<(bits-1) - 1) // symmetric: largest level magnitude
	for g := range l.groups() {
		lo, hi := l.span(g)
		minV, maxV, maxAbs := 0.0, 0.0, 0.0
		for i := lo; i < hi; i++ {
			if isOutlier != nil && isOutlier[i] {
				continue
			}
			minV, maxV = min(minV, x[i]), max(maxV, x[i])
			maxAbs = max(maxAbs, math.Abs(x[i]))
		}
		var scale float64
		if q.spec.Symmetric {
			scale = maxAbs / half
		} else {
			scale = (maxV - minV) / maxCode
		}
		s16 := float32ToFloat16(float32(scale))
		if bits > MaxBits && float64(float16ToFloat32(s16)) < scale {
			s16++ // the next fp16 value up (s16 is finite and non-negative)
		}
		s := float64(float16ToFloat32(s16))
		if math.IsInf(s, 0) {
			return fmt.Errorf("quant: rtn: %s has scale %g beyond fp16's largest 65504", l.name(g), scale)
		}
		q.scales[g] = s16
		if q.spec.Symmetric {
			for i := lo; i < hi; i++ {
				level := 0.0
				if s > 0 && (isOutlier == nil || !isOutlier[i]) {
					level = clamp(math.RoundToEven(x[i]/s), -half, half)
				}
				codes[i] = uint32(level + half)
			}
			continue
		}
		zero := 0.0
		if s > 0 {
			zero = clamp(math.RoundToEven(-minV/s), 0, maxCode)
		}
		q.zeros[g] = uint32(zero)
		for i := lo; i < hi; i++ {
			code := zero
			if s > 0 && (isOutlier == nil || !isOutlier[i]) {
				code = clamp(math.RoundToEven(x[i]/s)+zero, 0, maxCode)
			}
			codes[i] = uint32(code)
		}
	}
	q.codes = packBits(codes, bits)
	return nil
}

// dequantizeRTN writes (q−z)·s (asymmetric) or (q−(2^(b−1)−1))·s (symmetric) into x.
func (q *Quantized) dequantizeRTN(codes []uint32, x []float64) {
	l := newLayout(q.rows, q.cols, q.spec.GroupSize)
	half := float64(int(1)<<(q.spec.Bits-1) - 1)
	for g := range l.groups() {
		s := float64(float16ToFloat32(q.scales[g]))
		offset := half
		if !q.spec.Symmetric {
			offset = float64(q.zeros[g])
		}
		lo, hi := l.span(g)
		for i := lo; i < hi; i++ {
			x[i] = (float64(codes[i]) - offset) * s
		}
	}
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }
