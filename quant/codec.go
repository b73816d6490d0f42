package quant

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
)

// Layout constants of the binary form (see [Quantized.MarshalBinary]).
const (
	codecMagic   = "QZQW"
	codecVersion = 1
	headerLen    = 41
	checksumLen  = 4
)

const (
	flagSymmetric = 1 << iota
	flagDoubleQuant
	flagHadamard
	flagsKnown = flagSymmetric | flagDoubleQuant | flagHadamard

	// exponentShift places float's exponent bits in the flags byte's high nibble.
	exponentShift = 4
	exponentMask  = 0xf << exponentShift
)

// MarshalBinary encodes q (little-endian):
//
//	offset  size  field
//	0       4     magic "QZQW"
//	4       2     format version (1)
//	6       1     method: 1 rtn, 2 nf4, 3 squeezellm, 4 float, 5 nf
//	7       1     bits
//	8       1     flags: 1 symmetric, 2 double quantization, 4 Hadamard; the high nibble
//	              (bits 4..7) holds float's exponent bits E, 0 for the other methods
//	9       4     group size (as filled by the defaults: nf4's 0 is stored as 64)
//	13      8     outlier fraction (float64)
//	21      8     seed (int64)
//	29      4     rows
//	33      4     cols
//	37      4     number of outliers, ⌊fraction·rows·cols⌋
//	41            payload, each bit-packed stream LSB-first (see Pack) and padded to a byte:
//	                codes: rows·cols × bits
//	                rtn: fp16 scale per group (2 bytes each); asymmetric: zero points, bits each
//	                float, nf: fp16 absmax per block (2 bytes each)
//	                nf4: fp32 absmax per block; or, double-quantized: fp32 mean, fp32 scale
//	                     per 256 blocks, int8 code per block
//	                squeezellm: fp16 lookup tables, 2^bits per group
//	                outliers (if any): fp32 values, columns × ⌈log₂ cols⌉ bits,
//	                     row ends × ⌈log₂(outliers+1)⌉ bits
//	end−4   4     CRC-32 (IEEE) of everything before it
//
// Every size follows from the header, which is bounded and checked against the input's
// length before anything is allocated; the form is canonical (one encoding per value), so
// unmarshalling and marshalling again gives the same bytes. It never fails.
func (q *Quantized) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, headerLen+q.Bits()/8+64)
	b = append(b, codecMagic...)
	b = binary.LittleEndian.AppendUint16(b, codecVersion)
	var flags byte
	if q.spec.Symmetric {
		flags |= flagSymmetric
	}
	if q.spec.DoubleQuant {
		flags |= flagDoubleQuant
	}
	if q.spec.Hadamard {
		flags |= flagHadamard
	}
	flags |= byte(q.spec.Exponent) << exponentShift
	b = append(b, methodCode(q.spec.Method), byte(q.spec.Bits), flags)
	b = binary.LittleEndian.AppendUint32(b, uint32(q.spec.GroupSize))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(q.spec.OutlierFraction))
	b = binary.LittleEndian.AppendUint64(b, uint64(q.spec.Seed))
	b = binary.LittleEndian.AppendUint32(b, uint32(q.rows))
	b = binary.LittleEndian.AppendUint32(b, uint32(q.cols))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(q.outliers.values)))

	b = append(b, q.codes...)
	for _, s := range q.scales {
		b = binary.LittleEndian.AppendUint16(b, s)
	}
	if q.zeros != nil {
		b = append(b, packBits(q.zeros, q.spec.Bits)...)
	}
	for _, a := range q.absmax {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(a))
	}
	if q.spec.DoubleQuant {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(q.absmaxMean))
		for _, s := range q.absmaxScale {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s))
		}
		for _, k := range q.absmaxCodes {
			b = append(b, byte(k))
		}
	}
	for _, e := range q.lut {
		b = binary.LittleEndian.AppendUint16(b, e)
	}
	if nnz := len(q.outliers.values); nnz > 0 {
		for _, v := range q.outliers.values {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		b = append(b, packBits(q.outliers.cols, bitsFor(q.cols))...)
		b = append(b, packBits(q.outliers.rowEnds, bitsFor(nnz+1))...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
}

func methodCode(method string) byte {
	for i, m := range Methods {
		if m == method {
			return byte(i + 1)
		}
	}
	return 0
}

// ErrCorrupt is wrapped by every error of UnmarshalQuantized.
var ErrCorrupt = errors.New("quant: corrupt quantized matrix")

// UnmarshalQuantized decodes the output of [Quantized.MarshalBinary]. It checks the magic,
// version and checksum, bounds the header (shape, spec, outlier count) and checks the
// input's exact length before allocating, then checks every stored number (finite,
// non-negative scales, codes in range, well-formed CSR). It never panics: corrupt input gives
// an error wrapping a message that says what is wrong.
func UnmarshalQuantized(b []byte) (*Quantized, error) {
	q, err := unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, strings.TrimPrefix(err.Error(), "quant: "))
	}
	return q, nil
}

func unmarshal(b []byte) (*Quantized, error) {
	if len(b) < headerLen+checksumLen {
		return nil, fmt.Errorf("%d bytes, shorter than the %d-byte header and checksum", len(b), headerLen+checksumLen)
	}
	if string(b[:4]) != codecMagic {
		return nil, fmt.Errorf("magic %q, want %q", b[:4], codecMagic)
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != codecVersion {
		return nil, fmt.Errorf("format version %d, this package reads %d", v, codecVersion)
	}
	body := b[:len(b)-checksumLen]
	if got, want := crc32.ChecksumIEEE(body), binary.LittleEndian.Uint32(b[len(body):]); got != want {
		return nil, fmt.Errorf("checksum %08x, stored %08x", got, want)
	}

	method, flags := b[6], b[8]
	if method < 1 || int(method) > len(Methods) {
		return nil, fmt.Errorf("method code %d, want 1..%d", method, len(Methods))
	}
	if flags&^(flagsKnown|exponentMask) != 0 {
		return nil, fmt.Errorf("unknown flags %#x", flags&^(flagsKnown|exponentMask))
	}
	spec := Spec{
		Method:          Methods[method-1],
		Bits:            int(b[7]),
		GroupSize:       int(binary.LittleEndian.Uint32(b[9:])),
		Symmetric:       flags&flagSymmetric != 0,
		DoubleQuant:     flags&flagDoubleQuant != 0,
		OutlierFraction: math.Float64frombits(binary.LittleEndian.Uint64(b[13:])),
		Hadamard:        flags&flagHadamard != 0,
		Exponent:        int(flags&exponentMask) >> exponentShift,
		Seed:            int64(binary.LittleEndian.Uint64(b[21:])),
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.withDefaults() != spec {
		return nil, fmt.Errorf("spec %s stored without its defaults filled", spec)
	}
	rows, cols := int(binary.LittleEndian.Uint32(b[29:])), int(binary.LittleEndian.Uint32(b[33:]))
	if err := checkShape(rows, cols); err != nil {
		return nil, err
	}
	n := rows * cols
	nnz := int(binary.LittleEndian.Uint32(b[37:]))
	if want := outlierCount(spec.OutlierFraction, n); nnz != want {
		return nil, fmt.Errorf("%d outliers, want ⌊%v·%d⌋ = %d", nnz, spec.OutlierFraction, n, want)
	}

	l := newLayout(rows, cols, spec.GroupSize)
	groups := l.groups()
	sizes := payloadSizes(spec, l, nnz)
	want := int64(headerLen + checksumLen)
	for _, s := range sizes {
		want += s
	}
	if int64(len(b)) != want {
		return nil, fmt.Errorf("%d bytes, the header implies %d", len(b), want)
	}

	r := reader{b: body[headerLen:]}
	q := &Quantized{spec: spec, rows: rows, cols: cols}
	q.codes = bytes.Clone(r.take(packedLen(n, spec.Bits)))
	codes, err := unpackBits(q.codes, spec.Bits, n)
	if err != nil {
		return nil, fmt.Errorf("codes: %w", err)
	}
	switch spec.Method {
	case MethodRTN:
		q.scales = make([]uint16, groups)
		for g := range q.scales {
			q.scales[g] = r.uint16()
			if s := q.scales[g]; s&0x8000 != 0 || s&0x7c00 == 0x7c00 {
				return nil, fmt.Errorf("rtn scale of group %d is %v, not finite and ≥ 0", g, float16ToFloat32(s))
			}
		}
		if spec.Symmetric {
			for i, c := range codes {
				if c > 1<<spec.Bits-2 {
					return nil, fmt.Errorf("symmetric code %d at index %d above %d", c, i, 1<<spec.Bits-2)
				}
			}
		} else {
			zeros, err := unpackBits(r.take(packedLen(groups, spec.Bits)), spec.Bits, groups)
			if err != nil {
				return nil, fmt.Errorf("zero points: %w", err)
			}
			q.zeros = zeros
		}
	case MethodNF4:
		if !spec.DoubleQuant {
			q.absmax = make([]float32, groups)
			for g := range q.absmax {
				if q.absmax[g] = r.float32(); !finiteNonNegative(q.absmax[g]) {
					return nil, fmt.Errorf("absmax of block %d is %v, not finite and ≥ 0", g, q.absmax[g])
				}
			}
			break
		}
		if q.absmaxMean = r.float32(); !finiteNonNegative(q.absmaxMean) {
			return nil, fmt.Errorf("absmax mean %v is not finite and ≥ 0", q.absmaxMean)
		}
		q.absmaxScale = make([]float32, (groups+DoubleQuantBlock-1)/DoubleQuantBlock)
		for i := range q.absmaxScale {
			if q.absmaxScale[i] = r.float32(); !finiteNonNegative(q.absmaxScale[i]) {
				return nil, fmt.Errorf("absmax scale %d is %v, not finite and ≥ 0", i, q.absmaxScale[i])
			}
		}
		q.absmaxCodes = make([]int8, groups)
		for g, k := range r.take(groups) {
			if q.absmaxCodes[g] = int8(k); q.absmaxCodes[g] == math.MinInt8 {
				return nil, fmt.Errorf("absmax code of block %d is −128, outside ±127", g)
			}
		}
		for g, c := range q.blockAbsmax() {
			if math.IsInf(float64(c), 0) {
				return nil, fmt.Errorf("absmax of block %d decodes to %v", g, c)
			}
		}
	case MethodFloat, MethodNF:
		q.scales = make([]uint16, groups)
		for g := range q.scales {
			q.scales[g] = r.uint16()
			if c := q.scales[g]; c&0x8000 != 0 || c&0x7c00 == 0x7c00 {
				return nil, fmt.Errorf("%s absmax of block %d is %v, not finite and ≥ 0", spec.Method, g, float16ToFloat32(c))
			}
		}
		if spec.Method == MethodFloat {
			f := newFloatFormat(spec.Bits, spec.Exponent)
			for i, c := range codes {
				if err := f.checkCode(c); err != nil {
					return nil, fmt.Errorf("weight %d: %w", i, err)
				}
			}
		}
	case MethodSqueezeLLM:
		k := 1 << spec.Bits
		q.lut = make([]uint16, groups*k)
		for i := range q.lut {
			q.lut[i] = r.uint16()
			v := float16ToFloat32(q.lut[i])
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("lookup-table entry %d of group %d is %v", i%k, i/k, v)
			}
			if i%k > 0 && v < float16ToFloat32(q.lut[i-1]) {
				return nil, fmt.Errorf("lookup table of group %d is not ascending at entry %d", i/k, i%k)
			}
		}
	}
	if nnz > 0 {
		if err := q.readOutliers(&r, nnz); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// payloadSizes is the byte size of each payload section the header implies, in int64 so that
// a hostile header cannot overflow it.
func payloadSizes(spec Spec, l layout, nnz int) []int64 {
	n, groups := int64(l.rows)*int64(l.cols), int64(l.groups())
	packed := func(count int64, width int) int64 { return (count*int64(width) + 7) / 8 }
	sizes := []int64{packed(n, spec.Bits)}
	switch spec.Method {
	case MethodRTN:
		sizes = append(sizes, 2*groups)
		if !spec.Symmetric {
			sizes = append(sizes, packed(groups, spec.Bits))
		}
	case MethodNF4:
		if spec.DoubleQuant {
			sizes = append(sizes, 4, 4*((groups+DoubleQuantBlock-1)/DoubleQuantBlock), groups)
		} else {
			sizes = append(sizes, 4*groups)
		}
	case MethodSqueezeLLM:
		sizes = append(sizes, 2*groups<<spec.Bits)
	case MethodFloat, MethodNF:
		sizes = append(sizes, 2*groups)
	}
	if nnz > 0 {
		sizes = append(sizes, 4*int64(nnz), packed(int64(nnz), bitsFor(l.cols)), packed(int64(l.rows), bitsFor(nnz+1)))
	}
	return sizes
}

// readOutliers reads and checks the CSR section.
func (q *Quantized) readOutliers(r *reader, nnz int) error {
	s := sparse{values: make([]float32, nnz)}
	for i := range s.values {
		if s.values[i] = r.float32(); math.IsNaN(float64(s.values[i])) || math.IsInf(float64(s.values[i]), 0) {
			return fmt.Errorf("outlier %d is %v", i, s.values[i])
		}
	}
	var err error
	if s.cols, err = unpackBits(r.take(packedLen(nnz, bitsFor(q.cols))), bitsFor(q.cols), nnz); err != nil {
		return fmt.Errorf("outlier columns: %w", err)
	}
	if s.rowEnds, err = unpackBits(r.take(packedLen(q.rows, bitsFor(nnz+1))), bitsFor(nnz+1), q.rows); err != nil {
		return fmt.Errorf("outlier row ends: %w", err)
	}
	start := uint32(0)
	for row, end := range s.rowEnds {
		if end < start || int(end) > nnz {
			return fmt.Errorf("outlier row %d ends at %d, after %d and within %d expected", row, end, start, nnz)
		}
		for k := start; k < end; k++ {
			if int(s.cols[k]) >= q.cols || (k > start && s.cols[k] <= s.cols[k-1]) {
				return fmt.Errorf("outlier %d of row %d: column %d not ascending within [0, %d)", k, row, s.cols[k], q.cols)
			}
		}
		start = end
	}
	if int(start) != nnz {
		return fmt.Errorf("outlier rows end at %d, want %d", start, nnz)
	}
	q.outliers = s
	return nil
}

func finiteNonNegative(v float32) bool {
	return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) && !math.Signbit(float64(v))
}

// reader takes consecutive sections of a buffer whose length was checked beforehand.
type reader struct{ b []byte }

func (r *reader) take(n int) []byte {
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) uint16() uint16 { return binary.LittleEndian.Uint16(r.take(2)) }
func (r *reader) float32() float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(r.take(4)))
}
