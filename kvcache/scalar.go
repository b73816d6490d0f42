package kvcache

import (
	"math"
	"slices"

	"github.com/qzoo/qzoo/quant"
	"github.com/qzoo/qzoo/quant/scheme"
)

// Primitives shared by the scalar quantizers (kivi.go, kvquant.go, rotation.go): packed code
// access, asymmetric min/max quantization with fp16 constants, nearest level in a sorted table,
// quantiles, and the attention-sink wrapper.

// maxFloat16 is binary16's largest finite value.
const maxFloat16 = 65504

// toHalf returns the binary16 bits of v, saturated to ±65504 so that a stored scale or zero
// point is always finite.
func toHalf(v float32) uint16 {
	return quant.ToFloat16(min(max(v, -maxFloat16), maxFloat16))
}

// roundHalf returns v rounded to the nearest finite binary16 value, as a float32.
func roundHalf(v float32) float32 { return quant.FromFloat16(toHalf(v)) }

// codeAt reads code i of width bits (1..8) from codes packed LSB-first by [quant.Pack]. A
// width that divides 8 never straddles a byte: one shift and mask.
func codeAt(packed []byte, bits, i int) uint8 {
	if 8%bits == 0 {
		off := i * bits
		return packed[off>>3] >> (off & 7) & byte(1<<bits-1)
	}
	return uint8(bitsAt(packed, i*bits, bits))
}

// bitsAt reads the width-bit value at bit offset off of an LSB-first stream (see
// [quant.Pack]); any width up to the int's.
func bitsAt(b []byte, off, width int) int {
	v := 0
	for got := 0; got < width; {
		pos := off + got
		shift := pos % 8
		take := min(8-shift, width-got)
		v |= int(b[pos/8]>>shift&(1<<take-1)) << got
		got += take
	}
	return v
}

// asymmetric holds the fp16 scale s and zero point z (the minimum) of min/max uniform
// quantization at b bits (KIVI, Liu et al. 2024, §3): s = (max−min)/(2^b−1), z = min,
// code = clamp(round((x−z)/s), 0, 2^b−1), x̂ = code·s + z, computed with s and z as stored.
type asymmetric struct{ scale, zero float32 }

// newAsymmetric rounds the scale and zero point of the range [lo, hi] at b bits to fp16 and
// returns them with their binary16 bits.
func newAsymmetric(lo, hi float32, bits int) (a asymmetric, scale, zero uint16) {
	scale, zero = toHalf((hi-lo)/float32(int(1)<<bits-1)), toHalf(lo)
	return asymmetric{quant.FromFloat16(scale), quant.FromFloat16(zero)}, scale, zero
}

// code quantizes v to [0, 2^b−1]; a zero scale codes everything as 0.
func (a asymmetric) code(v float32, bits int) uint8 {
	if a.scale == 0 {
		return 0
	}
	q := math.Round(float64((v - a.zero) / a.scale))
	return uint8(min(max(q, 0), float64(int(1)<<bits-1)))
}

func (a asymmetric) value(code uint8) float32 { return float32(code)*a.scale + a.zero }

func halfAsymmetric(scale, zero uint16) asymmetric {
	return asymmetric{quant.FromFloat16(scale), quant.FromFloat16(zero)}
}

// tokenCodes is one token's W values quantized per token: asymmetric b-bit codes [W] packed
// into one slice, one fp16 scale and zero point per group of g consecutive channels
// ([W/g] each). Storage: ⌈W·b/8⌉ + 4·W/g bytes.
type tokenCodes struct {
	codes       []byte
	scale, zero []uint16
}

// quantizeToken quantizes x [W] per token in groups of g channels at b bits.
func quantizeToken(x []float32, g, bits int) tokenCodes {
	codes := make([]uint8, len(x))
	t := tokenCodes{scale: make([]uint16, len(x)/g), zero: make([]uint16, len(x)/g)}
	for k := range t.scale {
		grp := x[k*g : (k+1)*g]
		var a asymmetric
		a, t.scale[k], t.zero[k] = newAsymmetric(slices.Min(grp), slices.Max(grp), bits)
		for i, v := range grp {
			codes[k*g+i] = a.code(v, bits)
		}
	}
	t.codes = quant.Pack(codes, bits)
	return t
}

// read writes the dequantized token [W] into dst.
func (t tokenCodes) read(dst []float32, g, bits int) {
	for k := range t.scale {
		a := halfAsymmetric(t.scale[k], t.zero[k])
		for i := k * g; i < (k+1)*g; i++ {
			dst[i] = a.value(codeAt(t.codes, bits, i))
		}
	}
}

func (t tokenCodes) storage() scheme.Storage { return codesStorage(t.codes, t.scale, t.zero) }

// codesStorage is packed codes with fp16 scales and zero points.
func codesStorage(codes []byte, scale, zero []uint16) scheme.Storage {
	return scheme.Storage{Codes: 8 * float64(len(codes)), Scales: 16 * float64(len(scale)), ZeroPoints: 16 * float64(len(zero))}
}

// channelCodes is a group of tokens quantized per channel (KIVI's keys): asymmetric b-bit
// codes [tokens, W] packed into one slice, one fp16 scale and zero point per channel over the
// group's tokens ([W] each). Storage: ⌈tokens·W·b/8⌉ + 4·W bytes.
type channelCodes struct {
	codes       []byte
	scale, zero []uint16
}

// quantizeChannels quantizes x [tokens, W] (row-major) per channel at b bits and, when deq is
// not nil, writes the dequantized values [tokens, W] into it (what readTokens would read; deq
// may be x itself).
func quantizeChannels(x []float32, w, bits int, deq []float32) channelCodes {
	codes := make([]uint8, len(x))
	c := channelCodes{scale: make([]uint16, w), zero: make([]uint16, w)}
	quantizeChannelsInto(x, w, bits, deq, codes, c.scale, c.zero)
	c.codes = quant.Pack(codes, bits)
	return c
}

// quantizeChannelsInto is quantizeChannels with the codes left unpacked in codes [tokens, W]
// and the fp16 scales and zero points written into scale and zero [W]. The channels' ranges
// and codes (and deq) come 16 channels at a time from channelRangeSIMD and channelCodesSIMD
// where the build has them, else from channelRange and channelCodesScalar: the same values
// (TestQuantizeChannelsSIMD).
func quantizeChannelsInto(x []float32, w, bits int, deq []float32, codes []uint8, scale, zero []uint16) {
	lo, hi := make([]float32, w), make([]float32, w)
	if !channelRangeSIMD(x, w, lo, hi) {
		for ch := range w {
			lo[ch], hi[ch] = channelRange(x, w, ch)
		}
	}
	grid := make([]asymmetric, w)
	for ch := range w {
		grid[ch], scale[ch], zero[ch] = newAsymmetric(lo[ch], hi[ch], bits)
	}
	if !channelCodesSIMD(x, w, bits, grid, codes, deq) {
		channelCodesScalar(x, w, bits, grid, codes, deq)
	}
}

// channelRange is the least and the greatest value of channel ch of x [tokens, W], by Go's
// min and max (NaN if there is one; −0 below +0).
func channelRange(x []float32, w, ch int) (lo, hi float32) {
	lo, hi = x[ch], x[ch]
	for i := ch + w; i < len(x); i += w {
		lo, hi = min(lo, x[i]), max(hi, x[i])
	}
	return lo, hi
}

// channelCodesScalar writes the codes of x [tokens, W] on the channels' grids [W] into codes,
// and their dequantized values into deq when it is not nil (deq may be x).
func channelCodesScalar(x []float32, w, bits int, grid []asymmetric, codes []uint8, deq []float32) {
	for i, v := range x {
		a := grid[i%w]
		codes[i] = a.code(v, bits)
		if deq != nil {
			deq[i] = a.value(codes[i])
		}
	}
}

// read writes the dequantized token t [W] of the group into dst.
func (c channelCodes) read(t int, dst []float32, bits int) { c.readTokens(t, t+1, dst, bits) }

// readTokens writes the dequantized tokens [t0, t1) of the group into dst [t1−t0, W],
// converting each channel's fp16 scale and zero point once.
func (c channelCodes) readTokens(t0, t1 int, dst []float32, bits int) {
	w := len(c.scale)
	for ch := range w {
		a := halfAsymmetric(c.scale[ch], c.zero[ch])
		for t := t0; t < t1; t++ {
			dst[(t-t0)*w+ch] = a.value(codeAt(c.codes, bits, t*w+ch))
		}
	}
}

func (c channelCodes) storage() scheme.Storage { return codesStorage(c.codes, c.scale, c.zero) }

// levelTable is a sorted table of 2^b reconstruction levels and the midpoints between
// neighbours, which bound each level's cell.
type levelTable struct {
	levels, mids []float32
}

func newLevelTable(levels []float32) levelTable {
	t := levelTable{levels: levels, mids: make([]float32, len(levels)-1)}
	for k := range t.mids {
		t.mids[k] = (levels[k] + levels[k+1]) / 2
	}
	return t
}

// uniformLevels are 2^b levels evenly spaced on [−1, 1]: −1 + 2k/(2^b−1).
func uniformLevels(bits int) []float32 {
	n := 1 << bits
	levels := make([]float32, n)
	for k := range levels {
		levels[k] = -1 + 2*float32(k)/float32(n-1)
	}
	return levels
}

// nearest is the index of the level nearest to v (the lower one on a midpoint), by binary
// search on the midpoints.
func (t levelTable) nearest(v float32) uint8 {
	lo, hi := 0, len(t.mids)
	for lo < hi {
		m := (lo + hi) / 2
		if v <= t.mids[m] {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return uint8(lo)
}

// fitLevels returns 2^b levels from the weighted 1-D k-means of values (nil weights: 1;
// iterations ≤ 0: quant's default), rounded to fp16 and sorted.
func fitLevels(values, weights []float64, bits, iterations int) []float32 {
	centroids := quant.WeightedKMeans1D(values, weights, 1<<bits, iterations)
	levels := make([]float32, len(centroids))
	for k, c := range centroids {
		levels[k] = roundHalf(float32(c))
	}
	slices.Sort(levels)
	return levels
}

// quantile is the q-quantile (0 ≤ q ≤ 1) of ascending values, linearly interpolated between
// order statistics at rank q·(n−1).
func quantile(sorted []float32, q float64) float32 {
	r := q * float64(len(sorted)-1)
	i := int(r)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	f := r - float64(i)
	return float32(float64(sorted[i])*(1-f) + float64(sorted[i+1])*f)
}

// channelColumn copies channel c of x [n, W] into dst [n] and sorts it.
func channelColumn(x []float32, n, w, c int, dst []float32) []float32 {
	dst = dst[:0]
	for t := range n {
		dst = append(dst, x[t*w+c])
	}
	slices.Sort(dst)
	return dst
}

// halfConstant rounds v to fp16 in place (constants are stored as fp16) and returns it.
func halfConstant(v []float32) []float32 {
	for i := range v {
		v[i] = roundHalf(v[i])
	}
	return v
}

// sinkStream keeps the first sink tokens in fp16 (the attention sink of KVQuant's sink-aware quantization) and
// hands the others to rest, renumbered from 0. Storage: 2·W bytes per sink token.
type sinkStream struct {
	sink, w int
	head    []uint16 // [sink, W] fp16
	rest    stream
}

// withSink wraps rest so that its first sink tokens are kept in fp16 (rest itself when
// sink is 0).
func withSink(sink, w int, rest stream) stream {
	if sink == 0 {
		return rest
	}
	return &sinkStream{sink: sink, w: w, rest: rest}
}

func (s *sinkStream) append(x []float32, pos int) int {
	if pos < s.sink {
		s.head = appendFloat16(s.head, x)
		return pos
	}
	return s.rest.append(x, pos-s.sink) + s.sink
}

func (s *sinkStream) read(j int, dst []float32) {
	if j < s.sink {
		readFloat16(s.head[j*s.w:(j+1)*s.w], dst)
		return
	}
	s.rest.read(j-s.sink, dst)
}

func (s *sinkStream) storage() scheme.Storage {
	return s.rest.storage().Add(scheme.Storage{FullPrecision: 16 * float64(len(s.head))})
}
