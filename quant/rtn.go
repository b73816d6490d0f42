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
func quantizeRTN[T float](q *Quantized, x []T, isOutlier []bool) error {
	l := newLayout(q.rows, q.cols, q.spec.GroupSize)
	bits := q.spec.Bits
	q.codes = make([]byte, packedLen(len(x), bits))
	q.scales = make([]uint16, l.groups())
	if !q.spec.Symmetric {
		q.zeros = make([]uint32, l.groups())
	}
	maxCode := float64(int(1)<<bits - 1)
	half := float64(int(1)<<(bits-1) - 1) // symmetric: largest level magnitude
	return l.encode(q.codes, bits, func(g int, codes []uint32) error {
		lo, hi := l.span(g)
		var minV, maxV T // the range widened to contain 0
		for i, v := range x[lo:hi] {
			if isOutlier != nil && isOutlier[lo+i] {
				continue
			}
			if v < minV {
				minV = v
			}
			if v > maxV {
				maxV = v
			}
		}
		var scale float64
		if q.spec.Symmetric {
			scale = max(float64(maxV), -float64(minV)) / half // max |w|
		} else {
			scale = (float64(maxV) - float64(minV)) / maxCode
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
		offset := half // the code of 0
		if !q.spec.Symmetric {
			offset = 0
			if s > 0 {
				offset = clamp(math.RoundToEven(-float64(minV)/s), 0, maxCode)
			}
			q.zeros[g] = uint32(offset)
		}
		lowest, highest := -offset, maxCode-offset // symmetric: ±half
		if q.spec.Symmetric {
			highest = half
		}
		for i, v := range x[lo:hi] {
			code := offset
			if s > 0 && (isOutlier == nil || !isOutlier[lo+i]) {
				code = clamp(math.RoundToEven(float64(v)/s), lowest, highest) + offset
			}
			codes[i] = uint32(code)
		}
		return nil
	})
}

// dequantizeRTN writes (q−z)·s (asymmetric) or (q−(2^(b−1)−1))·s (symmetric) into x.
func dequantizeRTN[T float](q *Quantized, x []T) {
	half := float64(int(1)<<(q.spec.Bits-1) - 1)
	decode(q, x, func(g int, codes []uint32, x []T) {
		s := float64(float16ToFloat32(q.scales[g]))
		offset := half
		if !q.spec.Symmetric {
			offset = float64(q.zeros[g])
		}
		value := func(code uint32) T { return T((float64(code) - offset) * s) }
		if q.spec.Bits > MaxBits || len(codes) < 1<<q.spec.Bits {
			for i, c := range codes {
				x[i] = value(c)
			}
			return
		}
		var table [1 << MaxBits]T
		for c := range 1 << q.spec.Bits {
			table[c] = value(uint32(c))
		}
		for i, c := range codes {
			x[i] = table[uint8(c)]
		}
	})
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }
