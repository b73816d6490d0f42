package quant

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The kernels of Quantize and Dequantize split a matrix into contiguous runs of groups and
// code or decode the runs on GOMAXPROCS goroutines at most. Groups are independent, and each
// run starts on a byte of the packed codes, so the runs write disjoint bytes and the output
// is the same for any number of goroutines and runs.

// parallelGrain is the fewest weights worth a goroutine of their own. Tests lower it so that
// small matrices are split too.
var parallelGrain = 1 << 15

// piecesPerWorker is how many pieces parallel cuts the work into per goroutine, at most: a
// goroutine that the OS deschedules for a while (another process's turn on a shared
// machine) then holds up one piece, while the others take the rest, instead of a share that
// all wait for.
const piecesPerWorker = 8

// float is the element type of a matrix the kernels read or write: float32 (the weights as
// given) or float64 (after a Hadamard rotation).
type float interface{ ~float32 | ~float64 }

// parallel calls fn on contiguous pieces [lo, hi) covering [0, n), each of at least
// parallelGrain weights when a unit holds unitWeights weights, from at most GOMAXPROCS
// goroutines that take the next piece as they finish one, and returns the error of the
// first piece (in index order) that failed, so that the error is the one a sequential loop
// would have met first when fn stops at its first failure.
func parallel(n, unitWeights int, fn func(lo, hi int) error) error {
	pieces := min(n, max(1, n*unitWeights/parallelGrain))
	workers := min(runtime.GOMAXPROCS(0), pieces)
	if workers <= 1 {
		return fn(0, n)
	}
	pieces = min(pieces, workers*piecesPerWorker)
	errs := make([]error, pieces)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < pieces; k = int(next.Add(1)) - 1 {
				errs[k] = fn(n*k/pieces, n*(k+1)/pieces)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// forGroups calls fn(g0, g1) on runs of consecutive groups covering all of l's groups,
// concurrently (see [parallel]); every run but the last starts and ends on a byte boundary
// of the codes packed at bits bits per weight.
func (l layout) forGroups(bits int, fn func(g0, g1 int) error) error {
	perUnit, unitWeights := 1, l.size // flat blocks: a unit is whole blocks
	if !l.flat {
		perUnit, unitWeights = l.perRow, l.cols // row groups: a unit is whole rows
	}
	for unitWeights*bits%8 != 0 {
		perUnit, unitWeights = 2*perUnit, 2*unitWeights
	}
	groups := l.groups()
	units := (groups + perUnit - 1) / perUnit
	return parallel(units, unitWeights, func(u0, u1 int) error {
		return fn(u0*perUnit, min(u1*perUnit, groups))
	})
}

// encode packs the codes of every group into packed (⌈rows·cols·bits/8⌉ bytes, laid out as
// packBits does), concurrently: code(g, lo, codes) fills codes with the codes of group g,
// the weights [lo, lo+len(codes)). It returns the error of the lowest group whose code failed.
func (l layout) encode(packed []byte, bits int, code func(g, lo int, codes []uint32) error) error {
	return l.forGroups(bits, func(g0, g1 int) error {
		start, _ := l.span(g0)
		w := bitWriter{b: packed[start*bits/8:], width: uint(bits)}
		codes := make([]uint32, min(l.size, l.rows*l.cols))
		for g := g0; g < g1; g++ {
			lo, hi := l.span(g)
			if err := code(g, lo, codes[:hi-lo]); err != nil {
				return err
			}
			w.write(codes[:hi-lo])
		}
		w.flush()
		return nil
	})
}

// decodeTable writes the value of every code of q into out, concurrently, for codes of at
// most 8 bits: table(g, t) sets t[c] to the value of code c in group g, for every code c
// that Quantize and UnmarshalQuantized allow.
func decodeTable[T float](q *Quantized, out []T, table func(g int, t *[256]T)) {
	l := newLayout(q.rows, q.cols, q.spec.GroupSize)
	bits := q.spec.Bits
	_ = l.forGroups(bits, func(g0, g1 int) error {
		start, _ := l.span(g0)
		r := bitReader{b: q.codes[start*bits/8:], width: uint(bits)}
		var t [256]T
		for g := g0; g < g1; g++ {
			lo, hi := l.span(g)
			table(g, &t)
			lookup(&r, &t, out[lo:hi])
		}
		return nil
	})
}

// decodeCodes is decodeTable for any width: it unpacks group g's codes and calls
// values(g, codes, out[lo:hi]) on them and the group's span of out.
func decodeCodes[T float](q *Quantized, out []T, values func(g int, codes []uint32, out []T)) {
	l := newLayout(q.rows, q.cols, q.spec.GroupSize)
	bits := q.spec.Bits
	_ = l.forGroups(bits, func(g0, g1 int) error {
		start, _ := l.span(g0)
		r := bitReader{b: q.codes[start*bits/8:], width: uint(bits)}
		codes := make([]uint32, min(l.size, l.rows*l.cols))
		for g := g0; g < g1; g++ {
			lo, hi := l.span(g)
			codes := codes[:hi-lo]
			for i := range codes {
				codes[i] = r.next()
			}
			values(g, codes, out[lo:hi])
		}
		return nil
	})
}

// lookup writes t[c] for the next len(out) codes c of r (at most 8 bits wide) into out.
func lookup[T float](r *bitReader, t *[256]T, out []T) {
	values := t[:] // a slice of 256: indexing it by a byte needs no checks in the loops
	switch {
	case r.width == 8: // r.n is always 0
		b := r.b[r.k : r.k+len(out)]
		out = out[:len(b)]
		for i, c := range b {
			out[i] = values[c]
		}
		r.k += len(b)
		return
	case r.width == 4 && r.n == 0:
		b := r.b[r.k : r.k+len(out)/2]
		pairs := out[:2*len(b)]
		for i, c := range b {
			pairs[2*i], pairs[2*i+1] = values[c&15], values[c>>4]
		}
		r.k += len(b)
		out = out[2*len(b):]
	}
	for i := range out {
		out[i] = values[uint8(r.next())]
	}
}

// bitWriter packs codes of width bits LSB-first into b from its first byte, as packBits.
type bitWriter struct {
	b     []byte
	k     int    // next byte of b
	acc   uint64 // pending bits, LSB first
	n     uint   // number of pending bits, < 8 between calls
	width uint
}

// write appends codes, each of which must fit in the width.
func (w *bitWriter) write(codes []uint32) {
	switch {
	case w.width == 8: // w.n is always 0
		b := w.b[w.k : w.k+len(codes)]
		for i, c := range codes {
			b[i] = byte(c)
		}
		w.k += len(codes)
		return
	case w.width == 4 && w.n == 0:
		b := w.b[w.k : w.k+len(codes)/2]
		for i := range b {
			b[i] = byte(codes[2*i] | codes[2*i+1]<<4)
		}
		w.k += len(b)
		codes = codes[2*len(b):]
	}
	for _, c := range codes {
		w.acc |= uint64(c) << w.n
		w.n += w.width
		for w.n >= 8 {
			w.b[w.k] = byte(w.acc)
			w.k++
			w.acc >>= 8
			w.n -= 8
		}
	}
}

// flush writes the pending bits, if any, as a last byte padded with zeros.
func (w *bitWriter) flush() {
	if w.n > 0 {
		w.b[w.k] = byte(w.acc)
		w.k++
		w.acc, w.n = 0, 0
	}
}

// bitReader reads codes of width bits packed LSB-first from b's first byte.
type bitReader struct {
	b     []byte
	k     int    // next byte of b
	acc   uint64 // bits read ahead, LSB first
	n     uint   // number of bits read ahead
	width uint
}

// next reads the next code.
func (r *bitReader) next() uint32 {
	for r.n < r.width {
		r.acc |= uint64(r.b[r.k]) << r.n
		r.k++
		r.n += 8
	}
	c := uint32(r.acc & (1<<r.width - 1))
	r.acc >>= r.width
	r.n -= r.width
	return c
}
