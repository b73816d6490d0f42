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
	q.codes = reuse(q.codes, packedLen(len(x), bits))
	zeros := q.zeros                                     // reused when asymmetric
	q.scales, q.zeros = reuse(q.scales, l.groups()), nil // every group sets its own
	if !q.spec.Symmetric {
		q.zeros = reuse(zeros, l.groups())
	}
	maxCode := float64(int(1)<<bits - 1)
	half := float64(int(1)<<(bits-1) - 1) // symmetric: largest level magnitude
	rangeOf := func(lo, hi int) (minV, maxV float64) {
		a, b := groupRange(x[lo:hi], maybe(isOutlier, lo, hi))
		return float64(a), float64(b)
	}
	if w, ok := any(x).([]float32); ok && isOutlier == nil {
		rangeOf = func(lo, hi int) (minV, maxV float64) {
			a, b := rangeFloat32(w[lo:hi])
			return float64(a), float64(b)
		}
	}
	// coder fixes group g's stored scale and zero point from the range of its weights and
	// returns the constants its codes are computed with.
	coder := func(g int, minV, maxV float64) (rtnCoder, error) {
		if r := maxV - minV; r-r != 0 { // a NaN or infinity
			return rtnCoder{}, errNonFinite
		}
		var scale float64
		if q.spec.Symmetric {
			scale = max(maxV, -minV) / half // max |w|
		} else {
			scale = (maxV - minV) / maxCode
		}
		s16, s := fp16Scale(scale)
		if bits > MaxBits && s < scale {
			s16++ // the next fp16 value up (s16 is finite and non-negative)
			s = float64(float16ToFloat32(s16))
		}
		if math.IsInf(s, 0) {
			return rtnCoder{}, fmt.Errorf("quant: rtn: %s has scale %g beyond fp16's largest 65504", l.name(g), scale)
		}
		q.scales[g] = s16
		c := newRTNCoder(s, minV, maxV, q.spec.Symmetric, bits)
		if !q.spec.Symmetric {
			q.zeros[g] = uint32(c.z)
		}
		return c, nil
	}
	aligned := l.flat || l.cols%2 == 0 // with an even group size, every group starts on a byte at 4 bits
	if isOutlier != nil || bits != 8 && !(bits == 4 && l.size%2 == 0 && aligned) {
		return l.encode(q.codes, bits, func(g, lo int, codes []uint32) error {
			hi := lo + len(codes)
			minV, maxV := rangeOf(lo, hi)
			c, err := coder(g, minV, maxV)
			if err != nil {
				return err
			}
			for i, v := range x[lo:hi] {
				codes[i] = uint32(c.code(float64(v)))
			}
			for i, out := range maybe(isOutlier, lo, hi) {
				if out {
					codes[i] = uint32(c.z)
				}
			}
			return nil
		})
	}
	// Whole bytes per group (the last one of the matrix may end on half a byte, zero-padded
	// as packBits does): the codes go straight into their bytes. Up to rtnBatch groups at a
	// time, the kernel finds their ranges, then their constants, then their codes, so that the
	// CPU overlaps the groups' chains of divisions and fp16 roundings instead of waiting for
	// each before its codes (the groups' weights, at most 16 KiB, stay in the L1 cache).
	batch := max(1, min(rtnBatch, rtnBatchWeights/l.size))
	return l.forGroups(bits, func(g0, g1 int) error {
		var coders [rtnBatch]rtnCoder
		var ends [rtnBatch]int
		var mins, maxs [rtnBatch]float64
		lo, _ := l.span(g0)
		end := len(x) // the end of lo's row (row groups) or of the matrix (flat blocks)
		if !l.flat {
			end = (lo/l.cols + 1) * l.cols
		}
		for g := g0; g < g1; g += batch {
			n := min(batch, g1-g)
			start := lo
			for i := range n {
				hi := min(lo+l.size, end)
				mins[i], maxs[i] = rangeOf(lo, hi)
				ends[i] = hi
				if lo = hi; lo == end {
					end = min(end+l.cols, len(x))
				}
			}
			for i := range n {
				c, err := coder(g+i, mins[i], maxs[i])
				if err != nil {
					return err
				}
				coders[i] = c
			}
			for i := range n {
				hi := ends[i]
				if bits == 8 {
					codeBytes(&coders[i], x[start:hi], q.codes[start:hi])
				} else {
					codeNibbles(&coders[i], x[start:hi], q.codes[start/2:(hi+1)/2])
				}
				start = hi
			}
		}
		return nil
	})
}

// rtnBatch is the most groups, and rtnBatchWeights the most weights, whose constants the
// byte-aligned rtn kernel finds before coding them.
const (
	rtnBatch        = 64
	rtnBatchWeights = 4096
)

// rtnCoder holds the constants of one group's codes: the stored scale s, 1/s, the zero
// point z (the code of 0), the largest code, and whether any weight of the group's range
// needs its code clamped to [0, maxCode]; s = inv = 0 when the scale is 0 (every code is z).
// (Outliers lie outside the range: their codes, which may lie outside [0, maxCode], are
// overwritten.)
type rtnCoder struct {
	s, inv     float64
	shiftedZ   float64 // roundingShift + z
	z, maxCode int
	clamps     bool
}

// roundingShift, 1.5·2⁵², rounds a float64 y with |y| < 2⁵¹ to an integer when added to
// it, in the default rounding mode (to nearest, ties to even: the constant is even), and
// the integer then sits in the sum's low bits: round(y) is int32 of the sum's low 32 bits.
// That is an addition and a move, with no branch on the CPU's features (math.RoundToEven
// has one, which made Go spill the loop's registers around it) and no conversion.
const roundingShift = 0x1.8p52

// tieGuard is how near a code's rounding boundary the product v·(1/s) must come for the
// quotient v/s to decide the code.
const tieGuard = 1e-9

// newRTNCoder is the coder of a group whose weights lie in [minV, maxV] (0 included), with
// the stored scale s ≥ 0, at bits bits: its zero point is clamp(round(−minV/s), 0, 2^bits−1)
// (asymmetric; 0 when s is 0) or 2^(bits−1)−1 (symmetric).
func newRTNCoder(s, minV, maxV float64, symmetric bool, bits int) rtnCoder {
	c := rtnCoder{maxCode: 1<<bits - 1}
	if symmetric { // codes q + half ∈ [0, 2·half]
		c.z = 1<<(bits-1) - 1
		c.maxCode = 2 * c.z
	}
	if s > 0 {
		c.s, c.inv = s, 1/s
		lowest, highest := c.rounded(minV), c.rounded(maxV) // round(v/s) grows with v
		if !symmetric {
			c.z = min(max(-lowest, 0), c.maxCode) // round(−minV/s) = −round(minV/s)
		}
		c.clamps = lowest+c.z < 0 || highest+c.z > c.maxCode
	}
	c.shiftedZ = roundingShift + float64(c.z)
	return c
}

// code is the code of the weight v: clamp(round(v/s) + z, 0, maxCode), v/s rounded to
// float64 and then to the nearest integer, ties to even; z when s is 0.
//
// It rounds the product y = v·(1/s) instead of the quotient: y is within 3.4·10⁻¹⁶·|v/s|
// of the quotient (two roundings of 2⁻⁵³ each, and the quotient's own), below 10⁻¹⁰ since
// |v/s| < 2¹⁸ (s is at least the exact scale over 1.5, |v| at most the group's range or
// absmax; an outlier's code is overwritten). When y − tieGuard and y + tieGuard round to
// the same integer, no half-integer lies between them, so the quotient, which lies between
// them too, rounds to that integer; otherwise (about one weight in 10⁹) the quotient is
// rounded. Both roundings add z with roundingShift: away from a half-integer the parity of
// z cannot matter. A multiplication costs a fraction of a division.
func (c *rtnCoder) code(v float64) int {
	k, miss := roundedCode(v, c.inv, c.shiftedZ)
	if miss != 0 {
		k = c.quotient(v) + c.z
	}
	if c.clamps {
		k = min(max(k, 0), c.maxCode)
	}
	return k
}

// roundedCode is round(v·inv) + z, unclamped, from shiftedZ = roundingShift + z, and a
// word that is zero when the product is far enough from a half-integer to give the
// quotient's code (see [rtnCoder.code]). It takes and returns scalars, and the loops OR the
// words of a group and recode the group in the rare case that the result is not zero, so
// that they keep everything in registers and take no branch.
func roundedCode(v, inv, shiftedZ float64) (k int, miss uint64) {
	y := v * inv
	up := math.Float64bits((y + tieGuard) + shiftedZ)
	return int(int32(up)), up ^ math.Float64bits((y-tieGuard)+shiftedZ)
}

// rounded is round(v/s), v/s rounded to float64 and then to the nearest integer, ties to
// even (s > 0): the product's when it is far from a tie, as in [rtnCoder.code].
func (c *rtnCoder) rounded(v float64) int {
	k, miss := roundedCode(v, c.inv, roundingShift)
	if miss != 0 {
		k = c.quotient(v)
	}
	return k
}

// quotient is round(v/s) from the quotient (s > 0).
func (c *rtnCoder) quotient(v float64) int {
	return int(int32(math.Float64bits(v/c.s + roundingShift)))
}

// fp16Scale is float32ToFloat16(float32(scale)) and its value, for scale ≥ 0; inlined for the
// scales of normal fp16 values below 65520 (which round to at most 65504), as the bits of
// the float32 less 112 in its exponent (the bias 127 − 15), rounded by 13 bits, half to even.
func fp16Scale(scale float64) (uint16, float64) {
	const lowest, highest = 0x38800000, 0x477ff000 // the float32 bits of 2⁻¹⁴ and 65520
	if b := math.Float32bits(float32(scale)); b-lowest < highest-lowest {
		h := (b - 112<<23 + 0xfff + b>>13&1) >> 13
		return uint16(h), float64(math.Float32frombits(h<<13 + 112<<23))
	}
	h := float32ToFloat16(float32(scale))
	return h, float64(float16ToFloat32(h))
}

// codeBytes writes the 8-bit code of every weight of x into out[:len(x)].
func codeBytes[T float](c *rtnCoder, x []T, out []byte) {
	out = out[:len(x)]
	if !c.clamps {
		inv, shiftedZ := c.inv, c.shiftedZ
		var misses uint64
		for i, v := range x {
			k, miss := roundedCode(float64(v), inv, shiftedZ)
			out[i] = byte(k)
			misses |= miss
		}
		if misses == 0 {
			return
		}
	}
	for i, v := range x {
		out[i] = byte(c.code(float64(v)))
	}
}

// codeNibbles writes the 4-bit codes of x into out[:⌈len(x)/2⌉], two to a byte, the first
// in the low nibble (as packBits); an odd last code has a byte of its own, the high nibble 0.
func codeNibbles[T float](c *rtnCoder, x []T, out []byte) {
	out = out[:(len(x)+1)/2]
	if len(x)%2 == 1 {
		out[len(out)-1] = byte(c.code(float64(x[len(x)-1])))
		x = x[:len(x)-1]
	}
	if !c.clamps {
		inv, shiftedZ := c.inv, c.shiftedZ
		var misses uint64
		for i := range len(x) / 2 {
			pair := x[2*i : 2*i+2 : 2*i+2]
			k0, miss0 := roundedCode(float64(pair[0]), inv, shiftedZ)
			k1, miss1 := roundedCode(float64(pair[1]), inv, shiftedZ)
			out[i] = byte(k0 | k1<<4)
			misses |= miss0 | miss1
		}
		if misses == 0 {
			return
		}
	}
	for i := range len(x) / 2 {
		out[i] = byte(c.code(float64(x[2*i])) | c.code(float64(x[2*i+1]))<<4)
	}
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

// rangeFloat32 is groupRange(x, nil) for float32 weights, computed on their bits: hi is the
// largest of +0's and the weights' bits read as signed integers, which order the weights of
// sign 0 as their values and put those of sign 1 below +0; lo is +0, or the largest of the
// bits read as unsigned when some weight has sign 1, which orders those weights by
// magnitude above the others. Integer max compiles to a compare and a conditional move,
// where Go's min and max of floats need a sequence for NaN and signed zeros. A NaN has the
// largest bits of its sign (beyond the infinity), so it comes out as lo or hi, as from
// groupRange, and its caller rejects it; -0 comes out as lo, as from groupRange.
func rangeFloat32(x []float32) (lo, hi float32) {
	var top int32  // the largest bits read as signed
	var neg uint32 // the largest bits read as unsigned
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		a, b, c, d := math.Float32bits(v[0]), math.Float32bits(v[1]), math.Float32bits(v[2]), math.Float32bits(v[3])
		// A tree, so that the running maxima wait on one comparison per four weights.
		top = max(top, max(max(int32(a), int32(b)), max(int32(c), int32(d))))
		neg = max(neg, max(max(a, b), max(c, d)))
	}
	for _, v := range x[i:] {
		a := math.Float32bits(v)
		top, neg = max(top, int32(a)), max(neg, a)
	}
	if neg >= 1<<31 {
		lo = math.Float32frombits(neg)
	}
	return lo, math.Float32frombits(uint32(top))
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
