package quant

import "math"

// float32ToFloat16 returns the IEEE 754 binary16 bits nearest to f, ties to even (the rounding
// of every IEEE conversion): magnitudes at or above 65520 (65504 plus half an ulp) become
// infinities, magnitudes below 2⁻²⁵ (half the smallest subnormal) become signed zeros, and
// NaNs stay (quiet) NaNs.
func float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // binary16 biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal result m·2⁻²⁴ with m = (1.mant)·2^(exp-127+24) = M >> (14-e), M the
		// 24-bit significand. A shift past 24 leaves less than half of 2⁻²⁴: zero.
		shift := uint(14 - e)
		if shift > 24 {
			return sign
		}
		m := mant | 0x800000
		return sign | uint16(roundShift(m, shift))
	}
	// The carry of rounding up the mantissa propagates into the exponent, which is what
	// rounding to the next binade (or to infinity from 65504) needs.
	return sign | uint16(roundShift(uint32(e)<<23|mant, 13))
}

// roundShift returns x >> shift rounded to nearest, ties to even.
func roundShift(x uint32, shift uint) uint32 {
	q := x >> shift
	rem := x & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return q
}

// float16ToFloat32 returns the value of binary16 bits h (exactly: every binary16 value is a
// float32 value).
func float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0:
		v := float32(mant) * 0x1p-24
		if sign != 0 {
			return -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// roundFloat16 rounds f to the nearest binary16 value, returned as a float32.
func roundFloat16(f float32) float32 { return float16ToFloat32(float32ToFloat16(f)) }

// ToFloat16 returns the IEEE 754 binary16 bits nearest to f (ties to even; see
// float32ToFloat16 for overflow, underflow and NaN).
func ToFloat16(f float32) uint16 { return float32ToFloat16(f) }

// FromFloat16 returns the float32 value of the binary16 bits h (exact).
func FromFloat16(h uint16) float32 { return float16ToFloat32(h) }

// RoundFloat16 returns f rounded to the nearest binary16 value, as a float32.
func RoundFloat16(f float32) float32 { return roundFloat16(f) }
