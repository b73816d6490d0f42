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
	q.codes = reuseBytes(q.codes, packedLen(len(x), bits))
	q.scales = make([]uint16, l.groups())
	if !q.spec.Symmetric {
		q.zeros = make([]uint32, l.groups())
	}
	maxCode := float64(int(1)<<bits - 1)
	half := float64(int(1)<<(bits-1) - 1) // symmetric: largest level magnitude
	return l.encode(q.codes, bits, func(g, lo int, codes []uint32) error {
		hi := lo + len(codes)
		minV, maxV := groupRange(x[lo:hi], maybe(isOutlier, lo, hi))
		if r := float64(maxV) - float64(minV); r-r != 0 { // a NaN or infinity
			return errNonFinite
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
		if !(s > 0) {
			for i := range codes {
				codes[i] = uint32(offset)
			}
			return nil
		}
		lowest, highest := -offset, maxCode-offset // symmetric: ±half
		if q.spec.Symmetric {
			highest = half
		}
		inv := 1 / s
		for i, v := range x[lo:hi] {
			y := float64(v) * inv
			level := roundHalfEven(y)
			if math.Abs(y-level) > 0.5-1e-9 {
				level = roundHalfEven(float64(v) / s) // near a tie: the division decides
			}
			if level < lowest {
				level = lowest
			} else if level > highest {
				level = highest
			}
			codes[i] = uint32(level + offset)
		}
		for i, out := range maybe(isOutlier, lo, hi) {
			if out {
				codes[i] = uint32(offset)
			}
		}
		return nil
	})
}

// groupRange is the range [min, max] of the entries of x that are not outliers, widened to
// contain 0. Without outliers it keeps four running minima and maxima: Go's min and max of
// floats compile to branch-free instructions, and four chains of them run side by side
// where one would wait on the last (a branch per weight instead mispredicts every time the
// range grows).
func groupRange[T float](x []T, isOutlier []bool) (lo, hi T) {
	if isOutlier != nil {
		for i, v := range x {
			if !isOutlier[i] {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		return lo, hi
	}
	var lo1, lo2, lo3, hi1, hi2, hi3 T
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		lo, lo1, lo2, lo3 = min(lo, v[0]), min(lo1, v[1]), min(lo2, v[2]), min(lo3, v[3])
		hi, hi1, hi2, hi3 = max(hi, v[0]), max(hi1, v[1]), max(hi2, v[2]), max(hi3, v[3])
	}
	for _, v := range x[i:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return min(lo, lo1, lo2, lo3), max(hi, hi1, hi2, hi3)
}

// The codes round w·(1/s) instead of w/s: the product is within 3.4·10⁻¹⁶·|w/s| of the
// quotient (two roundings of 2⁻⁵³ each, and the quotient's own), below 10⁻¹⁰ since
// |w/s| < 2¹⁸ (s is at least the exact scale over 1.5, |w| at most the group's range or
// absmax; an outlier's code is overwritten), so where the product is more than 10⁻⁹ from a
// half-integer both round to the same integer; nearer (about one weight in 10⁹) the code is
// the quotient's, as before. A multiplication costs a fraction of a division.

// roundHalfEven is math.RoundToEven(y) for |y| < 2^51, up to the sign of a zero: adding
// 1.5·2^52 rounds y to an integer in the default rounding mode (to nearest, ties to even; the
// constant is even, so the tie goes the same way). It compiles to two additions, where
// math.RoundToEven takes a branch on the CPU's features that made Go spill the loop's
// registers around it. The rtn codes that use it clamp |y| far below 2^51 (|w/s| is about
// the number of levels), and a larger |y| still comes out larger than any code.
func roundHalfEven(y float64) float64 {
	const shift = 0x1.8p52
	return (y + shift) - shift
}

// dequantizeRTN writes (q−z)·s (asymmetric) or (q−(2^(b−1)−1))·s (symmetric) into x.
func dequantizeRTN[T float](q *Quantized, x []T) {
	half := float64(int(1)<<(q.spec.Bits-1) - 1)
	constants := func(g int) (offset, s float64) {
		if q.spec.Symmetric {
			return half, float64(float16ToFloat32(q.scales[g]))
		}
		return float64(q.zeros[g]), float64(float16ToFloat32(q.scales[g]))
	}
	if q.spec.Bits > MaxBits || q.spec.GroupSize != 0 && q.spec.GroupSize < 1<<q.spec.Bits {
		// Wide codes, or groups smaller than a table of every code: compute each weight.
		decodeCodes(q, x, func(g int, codes []uint32, x []T) {
			offset, s := constants(g)
			for i, c := range codes {
				x[i] = T((float64(c) - offset) * s)
			}
		})
		return
	}
	decodeTable(q, x, func(g int, t *[256]T) {
		offset, s := constants(g)
		for c := range 1 << q.spec.Bits {
			t[c] = T((float64(c) - offset) * s)
		}
	})
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }
