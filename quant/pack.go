package quant

import "fmt"

// Pack packs codes of width bits (1..8) LSB-first: code i occupies bits [i·bits, (i+1)·bits)
// of the little-endian bit stream, byte k holding stream bits [8k, 8k+8). The result has
// ⌈len(codes)·bits/8⌉ bytes; unused high bits of the last byte are zero.
//
// Pack panics if bits is outside 1..8 or a code does not fit in bits: both are caller bugs.
func Pack(codes []uint8, bits int) []byte {
	if bits < 1 || bits > 8 {
		panic(fmt.Sprintf("quant: Pack: bits %d out of range [1, 8]", bits))
	}
	vals := make([]uint32, len(codes))
	for i, c := range codes {
		if int(c)>>bits != 0 {
			panic(fmt.Sprintf("quant: Pack: code %d at index %d does not fit in %d bits", c, i, bits))
		}
		vals[i] = uint32(c)
	}
	return packBits(vals, bits)
}

// Unpack is the inverse of [Pack]: it reads n codes of width bits (1..8) from b, which must
// hold exactly ⌈n·bits/8⌉ bytes whose unused high bits are zero.
func Unpack(b []byte, bits, n int) ([]uint8, error) {
	if bits < 1 || bits > 8 {
		return nil, fmt.Errorf("quant: Unpack: bits %d out of range [1, 8]", bits)
	}
	vals, err := unpackBits(b, bits, n)
	if err != nil {
		return nil, fmt.Errorf("quant: Unpack: %w", err)
	}
	codes := make([]uint8, n)
	for i, v := range vals {
		codes[i] = uint8(v)
	}
	return codes, nil
}

// PackWide is [Pack] for codes of width 1..32 bits (the tokens of a codebook of more than 256
// entries): the same LSB-first layout, ⌈len(codes)·bits/8⌉ bytes. The error names a width
// outside 1..32 or the first code that does not fit in bits.
func PackWide(codes []uint32, bits int) ([]byte, error) {
	if bits < 1 || bits > 32 {
		return nil, fmt.Errorf("quant: PackWide: bits %d out of range [1, 32]", bits)
	}
	for i, c := range codes {
		if bits < 32 && c>>bits != 0 {
			return nil, fmt.Errorf("quant: PackWide: code %d at index %d does not fit in %d bits", c, i, bits)
		}
	}
	return packBits(codes, bits), nil
}

// UnpackWide is the inverse of [PackWide]: it reads n codes of width bits (1..32) from b, which
// must hold exactly ⌈n·bits/8⌉ bytes whose unused high bits are zero.
func UnpackWide(b []byte, bits, n int) ([]uint32, error) {
	if bits < 1 || bits > 32 {
		return nil, fmt.Errorf("quant: UnpackWide: bits %d out of range [1, 32]", bits)
	}
	vals, err := unpackBits(b, bits, n)
	if err != nil {
		return nil, fmt.Errorf("quant: UnpackWide: %w", err)
	}
	return vals, nil
}

// packedLen is the number of bytes holding n values of width bits.
func packedLen(n, bits int) int { return (n*bits + 7) / 8 }

// packBits packs values of width 1..32 bits LSB-first (see [Pack]); values must fit.
func packBits(vals []uint32, width int) []byte {
	w := bitWriter{b: make([]byte, packedLen(len(vals), width)), width: uint(width)}
	w.write(vals)
	w.flush()
	return w.b
}

// unpackBits reads n values of width 1..32 bits from b, which must have exactly
// ⌈n·width/8⌉ bytes and zero padding bits (so that every stored form has one encoding).
func unpackBits(b []byte, width, n int) ([]uint32, error) {
	if n < 0 {
		return nil, fmt.Errorf("negative count %d", n)
	}
	if want := packedLen(n, width); len(b) != want {
		return nil, fmt.Errorf("%d values of %d bits need %d bytes, have %d", n, width, want, len(b))
	}
	vals := make([]uint32, n)
	r := bitReader{b: b, width: uint(width)}
	for i := range vals {
		vals[i] = r.next()
	}
	if r.acc != 0 {
		return nil, fmt.Errorf("nonzero padding bits after %d values of %d bits", n, width)
	}
	return vals, nil
}

// bitsFor is the width of an index into n things: ⌈log₂ n⌉, at least 1.
func bitsFor(n int) int {
	w := 1
	for 1<<w < n {
		w++
	}
	return w
}
