package baselines

import (
	"encoding/binary"
	"fmt"
	"math"
)

// BitRound returns a copy of x with each float32's mantissa rounded to its keepbits most
// significant bits, round to nearest, ties to even (the IEEE rule, as BitInformation.jl's
// round and numcodecs' BitRound do it):
//
//	b' = (b + ((b >> m) & 1) + 2^(m−1) − 1) &^ (2^m − 1),   m = 23 − keepbits
//
// on the bits b of each value. The error is at most half a unit in the last kept place,
// |x − x'| ≤ 2^(e−keepbits−1) with e = floor(log2 |x|). A carry may move a value into the next
// binade, and the largest finite values round up to ±Inf as IEEE rounding would. ±Inf and NaN
// are returned unchanged (the formula alone would turn some NaNs into Inf or −0).
// keepbits = 23 is the identity. It panics unless 0 ≤ keepbits ≤ 23: that is a caller's bug.
func BitRound(x []float32, keepbits int) []float32 {
	if keepbits < 0 || keepbits > 23 {
		panic(fmt.Sprintf("baselines: BitRound keepbits %d outside 0..23", keepbits))
	}
	out := make([]float32, len(x))
	if keepbits == 23 {
		copy(out, x)
		return out
	}
	maskbits := uint32(23 - keepbits)
	mask := ^uint32(0) << maskbits
	halfMinusOne := uint32(1)<<(maskbits-1) - 1
	const exponentBits = 0x7f800000
	for i, v := range x {
		b := math.Float32bits(v)
		if b&exponentBits != exponentBits {
			b = (b + (b>>maskbits)&1 + halfMinusOne) & mask
		}
		out[i] = math.Float32frombits(b)
	}
	return out
}

// Shuffle returns b with its bytes regrouped by their position within each width-byte
// element: all first bytes, then all second bytes, …, as blosc's and HDF5's shuffle filter.
// For float32 (width 4) the rounded-away low mantissa bytes become long runs of zeros, and the
// sign/exponent bytes long runs of near-equal values, which a lossless coder then finds.
// Trailing bytes that do not fill an element are kept at the end unchanged. It panics if
// width < 1.
func Shuffle(b []byte, width int) []byte {
	if width < 1 {
		panic(fmt.Sprintf("baselines: Shuffle width %d < 1", width))
	}
	n := len(b) / width
	out := make([]byte, len(b))
	for i := range n {
		for j := range width {
			out[j*n+i] = b[i*width+j]
		}
	}
	copy(out[n*width:], b[n*width:])
	return out
}

// Unshuffle inverts [Shuffle]: Unshuffle(Shuffle(b, w), w) equals b. It panics if width < 1.
func Unshuffle(b []byte, width int) []byte {
	if width < 1 {
		panic(fmt.Sprintf("baselines: Unshuffle width %d < 1", width))
	}
	n := len(b) / width
	out := make([]byte, len(b))
	for i := range n {
		for j := range width {
			out[i*width+j] = b[j*n+i]
		}
	}
	copy(out[n*width:], b[n*width:])
	return out
}

// BitRoundCompress is Klöwer et al. (2021)'s compressor: [BitRound] to keepbits mantissa bits,
// the float32s as little-endian bytes, [Shuffle] with width 4, then the lossless coder
// ([CoderZstd], [CoderZstd19] or [CoderDeflate]). The stream holds no length: [BitRoundDecompress] is told
// the number of values. It returns an error for keepbits outside 0..23 or an unknown coder.
func BitRoundCompress(x []float32, keepbits int, coder string) ([]byte, error) {
	if keepbits < 0 || keepbits > 23 {
		return nil, fmt.Errorf("baselines: keepbits %d outside 0..23", keepbits)
	}
	if err := checkCoder(coder); err != nil {
		return nil, err
	}
	return compressBytes(Shuffle(float32Bytes(BitRound(x, keepbits)), 4), coder)
}

// BitRoundDecompress decodes a stream of [BitRoundCompress] holding exactly n float32 values.
// It never produces more than 4·n bytes: a stream that would decode to more, or to fewer, or
// that is corrupt returns an error (never a panic).
func BitRoundDecompress(b []byte, n int, coder string) ([]float32, error) {
	if n < 0 || n > math.MaxInt/4 {
		return nil, fmt.Errorf("baselines: cannot decode %d values", n)
	}
	raw, err := decompressBytes(b, 4*n, coder)
	if err != nil {
		return nil, err
	}
	return bytesFloat32(Unshuffle(raw, 4)), nil
}

func float32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func bytesFloat32(b []byte) []float32 {
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}
