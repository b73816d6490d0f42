package baselines

import (
	"fmt"
	"math"
)

// LinearPack quantises x linearly to bits-bit codes and packs them densely, as ERA5's own
// netCDF files store fields in int16 (there with bits = 16):
//
//	x ≈ offset + scale·k,   k = round((x − offset) / scale) ∈ {0, …, 2^bits − 2}
//	offset = min x,   scale = (max x − min x) / (2^bits − 2)
//
// The code 2^bits − 1 is kept for missing values (NaN), as netCDF keeps a _FillValue, so the
// error of every finite value is at most scale/2 (before the reconstruction's rounding to
// float32). Codes are packed most significant bit first, bits per value, into
// ceil(len(x)·bits/8) bytes: the payload alone; offset and scale travel beside it (16 bytes as
// two float64s, which [Sweep] counts). A constant field has scale 0 and all codes 0.
// It returns an error for bits outside 1..32, for ±Inf in x, and for a non-constant field
// with bits = 1 (one level and the missing code).
func LinearPack(x []float32, bits int) (payload []byte, offset, scale float64, err error) {
	if bits < 1 || bits > 32 {
		return nil, 0, 0, fmt.Errorf("baselines: linear packing to %d bits, want 1..32", bits)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range x {
		f := float64(v)
		if math.IsInf(f, 0) {
			return nil, 0, 0, fmt.Errorf("baselines: linear packing cannot hold %v", v)
		}
		if f < lo {
			lo = f
		}
		if f > hi {
			hi = f
		}
	}
	if lo > hi { // no finite values
		lo, hi = 0, 0
	}
	maxCode := uint64(1)<<bits - 2 // the largest level; maxCode+1 is the missing code
	if hi > lo {
		if maxCode == 0 {
			return nil, 0, 0, fmt.Errorf("baselines: 1-bit linear packing holds one level only, the field spans [%v, %v]", lo, hi)
		}
		scale = (hi - lo) / float64(maxCode)
	}
	offset = lo
	w := newBitWriter(len(x), bits)
	for _, v := range x {
		var k uint64
		switch {
		case math.IsNaN(float64(v)):
			k = maxCode + 1
		case scale > 0:
			k = uint64(math.Round((float64(v) - offset) / scale))
			k = min(k, maxCode)
		}
		w.write(k)
	}
	return w.bytes(), offset, scale, nil
}

// LinearUnpack inverts [LinearPack]: n values of bits bits each from payload, value k becoming
// float32(offset + scale·k) and the missing code 2^bits − 1 becoming NaN. It returns an error
// (never panics) when bits is outside 1..32, payload is not ceil(n·bits/8) bytes, or offset or
// scale is not finite or scale < 0.
func LinearUnpack(payload []byte, n, bits int, offset, scale float64) ([]float32, error) {
	if bits < 1 || bits > 32 {
		return nil, fmt.Errorf("baselines: linear unpacking of %d bits, want 1..32", bits)
	}
	if n < 0 || n > math.MaxInt/32 {
		return nil, fmt.Errorf("baselines: cannot unpack %d values", n)
	}
	if want := packedBytes(n, bits); len(payload) != want {
		return nil, fmt.Errorf("baselines: %d values of %d bits take %d bytes, payload has %d", n, bits, want, len(payload))
	}
	if math.IsNaN(offset) || math.IsInf(offset, 0) || !(scale >= 0) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("baselines: linear unpacking with offset %v and scale %v, want finite and scale ≥ 0", offset, scale)
	}
	missing := uint64(1)<<bits - 1
	out := make([]float32, n)
	r := bitReader{buf: payload, bits: uint(bits)}
	for i := range out {
		k := r.read()
		if k == missing {
			out[i] = float32(math.NaN())
		} else {
			out[i] = float32(offset + scale*float64(k))
		}
	}
	return out, nil
}

func packedBytes(n, bits int) int { return (n*bits + 7) / 8 }

// bitWriter packs fixed-width codes most significant bit first.
type bitWriter struct {
	buf   []byte
	acc   uint64 // pending bits, right-aligned
	nAcc  uint
	width uint
}

func newBitWriter(n, bits int) *bitWriter {
	return &bitWriter{buf: make([]byte, 0, packedBytes(n, bits)), width: uint(bits)}
}

func (w *bitWriter) write(k uint64) {
	w.acc = w.acc<<w.width | k
	w.nAcc += w.width
	for w.nAcc >= 8 {
		w.nAcc -= 8
		w.buf = append(w.buf, byte(w.acc>>w.nAcc))
	}
	w.acc &= 1<<w.nAcc - 1
}

func (w *bitWriter) bytes() []byte {
	if w.nAcc > 0 {
		w.buf = append(w.buf, byte(w.acc<<(8-w.nAcc)))
		w.nAcc = 0
	}
	return w.buf
}

// bitReader reads fixed-width codes most significant bit first; the caller has checked that
// the buffer holds them all.
type bitReader struct {
	buf  []byte
	pos  int
	acc  uint64
	nAcc uint
	bits uint
}

func (r *bitReader) read() uint64 {
	for r.nAcc < r.bits {
		r.acc = r.acc<<8 | uint64(r.buf[r.pos])
		r.pos++
		r.nAcc += 8
	}
	r.nAcc -= r.bits
	k := r.acc >> r.nAcc
	r.acc &= 1<<r.nAcc - 1
	return k
}
