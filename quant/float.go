package quant

import (
	"fmt"
	"math"
	"slices"
)

// Floating-point data types with a chosen exponent/mantissa split, blockwise absmax-scaled:
// the package documentation's section "Float formats" states the format, its top-exponent
// convention at each width and the rounding.

// Float formats: widths and exponent bits.
const (
	MinFloatBits     = 3  // fewest bits of a float code (E2M0 or E1M1)
	MaxFloatExponent = 8  // most exponent bits (bfloat16's)
	float16Bits      = 16 // the one float width above 8
)

// floatFormat is a sign/exponent/mantissa format and its grid of non-negative finite values.
type floatFormat struct {
	bits, exponent, mantissa int
	// levels are the non-negative finite values ascending; levels[k] is the value of the
	// magnitude code k (positive sign), since a float's magnitude code orders its values.
	levels []float64
	mids   []float64   // midpoints between consecutive levels
	index  *floatIndex // codes a value
}

// floatIndex finds the nearest of a float format's non-negative levels to a magnitude a as
// nearestSorted(mids, a) does, with a table instead of a binary search, as [levelIndex] does
// for NormalFloat: a's cell is its float64 bit pattern shifted to keep the exponent and the
// top mantissa+2 bits of the mantissa, less the cell of the lowest midpoint, clamped to
// [0, cells]. The bit pattern of a non-negative float64 orders its values, so the cell never
// decreases as a grows; a binade of the format holds 2^mantissa levels, so its 2^(mantissa+2)
// cells are each at most half as wide as the closest two midpoints (the subnormals' spacing
// is that of the lowest normal binade, and their float64 binades are narrower), and a cell
// holds at most one midpoint: first[cell] counts the midpoints below it and one comparison
// decides the rest. Above 8 bits (binary16, bfloat16) the table would need 2^16 cells and
// first is nil: a binary search over the midpoints instead.
type floatIndex struct {
	mids  []float64 // the midpoints, then +Inf, so that mids[first[c]] always exists
	first []uint8
	sign  uint32 // the format's sign bit
	shift uint   // 52 − (mantissa+2): the float64 bits dropped from a cell
	base  int64  // the lowest midpoint's shifted bits: its cell is 0
	top   int64  // the last cell: magnitudes above the highest midpoint
}

func newFloatIndex(mids []float64, bits, mantissa int) *floatIndex {
	t := &floatIndex{mids: append(slices.Clone(mids), math.Inf(1)), sign: 1 << (bits - 1), shift: uint(52 - mantissa - 2)}
	if bits > MaxBits {
		return t
	}
	t.base = int64(math.Float64bits(mids[0]) >> t.shift)
	t.top = int64(math.Float64bits(mids[len(mids)-1])>>t.shift) - t.base + 1
	t.first = cellStarts(mids, int(t.top), t.cell)
	return t
}

func (t *floatIndex) cell(a float64) int {
	k := int64(math.Float64bits(a)>>t.shift) - t.base
	return int(min(max(k, 0), t.top))
}

// code is the code of the value nearest y, ties to the even code; saturating at ±max; 0 is
// +0. y is not NaN.
func (t *floatIndex) code(y float64) uint32 {
	a := math.Abs(y)
	var k int // nearestSorted(mids, a)
	if t.first == nil {
		k = nearestSorted(t.mids[:len(t.mids)-1], a)
	} else {
		k = int(t.first[t.cell(a)])
		var above int
		if a > t.mids[k] {
			above = 1
		}
		k += above
	}
	if a == t.mids[k] && k%2 == 1 {
		k++
	}
	// The sign bit where y < 0 and k > 0, without a branch: a random weight's sign would
	// mispredict half the time.
	negative := uint32(math.Float64bits(y)>>63) & uint32(min(k, 1))
	return uint32(k) | negative*t.sign
}

// defaultExponent is the exponent bits of a float width when Spec.Exponent is 0: E5M10
// (binary16) at 16 bits, else ⌊b/2⌋, which gives OCP's FP4 E2M1, FP6 E3M2 and FP8 E4M3
// (and E1M1, E2M2, E3M3 at 3, 5 and 7 bits).
func defaultExponent(bits int) int {
	if bits == float16Bits {
		return 5
	}
	return bits / 2
}

// validFloat reports whether a float code of bits bits with exponent bits e exists: bits
// 3..8 or 16 and 1 ≤ e ≤ min(bits−1, 8).
func validFloat(bits, exponent int) error {
	if (bits < MinFloatBits || bits > MaxBits) && bits != float16Bits {
		return specError("Bits", "Bits %d for method float: widths are %d..%d and %d", bits, MinFloatBits, MaxBits, float16Bits)
	}
	if exponent < 1 || exponent > min(bits-1, MaxFloatExponent) {
		return specError("Exponent", "Exponent %d for a %d-bit float: want 1..%d exponent bits (the mantissa gets the rest after the sign)", exponent, bits, min(bits-1, MaxFloatExponent))
	}
	return nil
}

// newFloatFormat builds the grid of a valid width and exponent split.
func newFloatFormat(bits, exponent int) floatFormat {
	f := floatFormat{bits: bits, exponent: exponent, mantissa: bits - 1 - exponent}
	bias := 1<<(exponent-1) - 1
	fields := 1 << exponent // exponent field values
	perExp := 1 << f.mantissa
	ieee := bits == float16Bits || bits == 8 && exponent >= 5
	if ieee { // the top exponent field is reserved for infinities and NaN
		fields--
	}
	for e := range fields {
		for m := range perExp {
			var v float64
			if e == 0 {
				v = math.Ldexp(float64(m), 1-bias-f.mantissa)
			} else {
				v = math.Ldexp(1+float64(m)/float64(perExp), e-bias)
			}
			f.levels = append(f.levels, v)
		}
	}
	if bits == 8 && exponent <= 4 { // FN: the all-ones magnitude is NaN
		f.levels = f.levels[:len(f.levels)-1]
	}
	f.mids = make([]float64, len(f.levels)-1)
	for i := range f.mids {
		f.mids[i] = (f.levels[i] + f.levels[i+1]) / 2
	}
	f.index = newFloatIndex(f.mids, bits, f.mantissa)
	return f
}

// max is the largest finite value F.
func (f floatFormat) max() float64 { return f.levels[len(f.levels)-1] }

// signBit is the sign bit of a code.
func (f floatFormat) signBit() uint32 { return 1 << (f.bits - 1) }

// code is the code of the value nearest y, ties to the even code; saturating at ±max; 0 is +0.
func (f floatFormat) code(y float64) uint32 { return f.index.code(y) }

// value is the value of a valid code.
func (f floatFormat) value(code uint32) float64 {
	v := f.levels[code&^f.signBit()]
	if code&f.signBit() != 0 {
		return -v
	}
	return v
}

// checkCode reports a code that is not a finite value or is −0.
func (f floatFormat) checkCode(code uint32) error {
	magnitude := code &^ f.signBit()
	if int(magnitude) >= len(f.levels) {
		return fmt.Errorf("code %#x of e%dm%d is not a finite value", code, f.exponent, f.mantissa)
	}
	if code == f.signBit() {
		return fmt.Errorf("code %#x of e%dm%d is −0 (zero is stored as +0)", code, f.exponent, f.mantissa)
	}
	return nil
}

// quantizeFloat fills q.codes and q.scales (fp16 absmax per block) from x; outliers are left
// out of the absmax and coded as +0.
func quantizeFloat[T float](q *Quantized, x []T, isOutlier []bool) error {
	f := newFloatFormat(q.spec.Bits, q.spec.Exponent)
	top, index := f.max(), f.index
	return fp16AbsmaxCodes(q, x, isOutlier, func(lo int, c float64, codes []uint32) {
		for i, v := range x[lo : lo+len(codes)] {
			codes[i] = 0
			if c > 0 && (isOutlier == nil || !isOutlier[lo+i]) {
				codes[i] = index.code(float64(v) / c * top)
			}
		}
	})
}

// dequantizeFloat writes v·(c/F) into x.
func dequantizeFloat[T float](q *Quantized, x []T) {
	f := newFloatFormat(q.spec.Bits, q.spec.Exponent)
	top := f.max()
	if q.spec.Bits > MaxBits {
		decodeCodes(q, x, func(g int, codes []uint32, x []T) {
			c := float64(float16ToFloat32(q.scales[g]))
			for i, k := range codes {
				x[i] = T(f.value(k) * (c / top))
			}
		})
		return
	}
	decodeTable(q, x, func(g int, t *[256]T) {
		c := float64(float16ToFloat32(q.scales[g]))
		for k, v := range f.levels { // the finite values' codes, the only ones allowed
			t[k] = T(v * (c / top))
			t[uint32(k)|f.signBit()] = T(-v * (c / top))
		}
	})
}

// fp16AbsmaxCodes stores the fp16 absmax of every block in q.scales and packs into q.codes the
// codes that code(lo, c, codes) gives the block of weights [lo, lo+len(codes)) against its
// stored absmax c, concurrently. It returns an error naming the first block whose absmax is
// beyond fp16's range.
func fp16AbsmaxCodes[T float](q *Quantized, x []T, isOutlier []bool, code func(lo int, c float64, codes []uint32)) error {
	l := newLayout(q.rows, q.cols, q.spec.GroupSize)
	q.scales = make([]uint16, l.groups())
	q.codes = reuse(q.codes, packedLen(len(x), q.spec.Bits))
	return l.encode(q.codes, q.spec.Bits, func(g, lo int, codes []uint32) error {
		hi := lo + len(codes)
		m := blockMax(x[lo:hi], maybe(isOutlier, lo, hi))
		if m-m != 0 { // a NaN or infinity
			return errNonFinite
		}
		q.scales[g] = float32ToFloat16(float32(m))
		c := float64(float16ToFloat32(q.scales[g]))
		if math.IsInf(c, 0) {
			return fmt.Errorf("quant: %s: %s has absmax %g beyond fp16's largest 65504", q.spec.Method, l.name(g), m)
		}
		code(lo, c, codes)
		return nil
	})
}
