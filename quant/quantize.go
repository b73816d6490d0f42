package quant

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/qzoo/qzoo/quant/scheme"
)

// Quantized is the stored form of a quantized rows×cols matrix: what [Quantized.Bits] counts
// and [Quantized.MarshalBinary] writes. Build one with [Quantize] or [UnmarshalQuantized].
type Quantized struct {
	spec       Spec // with defaults filled
	rows, cols int

	codes []byte // rows·cols codes of spec.Bits bits, row-major, Pack-ed

	scales []uint16 // rtn: fp16 scale per group; float and nf: fp16 absmax per block
	zeros  []uint32 // rtn asymmetric: zero point per group (spec.Bits bits)

	absmax      []float32 // nf4: fp32 absmax per block (without double quantization)
	absmaxCodes []int8    // nf4 double quantization: 8-bit code per block
	absmaxScale []float32 // nf4 double quantization: fp32 scale per 256 codes
	absmaxMean  float32   // nf4 double quantization: fp32 mean subtracted before coding

	lut []uint16 // squeezellm: 2^Bits fp16 centroids per group, ascending

	outliers sparse // weights kept exactly (Spec.OutlierFraction)
}

// sparse is a CSR matrix of the outliers.
type sparse struct {
	rowEnds []uint32  // rows entries: outliers of row r are [rowEnds[r-1], rowEnds[r])
	cols    []uint32  // column of each outlier, ascending within a row
	values  []float32 // fp32 value of each outlier
}

// Widths, in bits, of the stored numbers (see the package documentation's table).
const (
	scaleBits       = 16 // rtn scale, float and nf absmax: fp16
	lutEntryBits    = 16 // squeezellm lookup-table entry: fp16
	absmaxBits      = 32 // nf4 absmax: fp32
	absmaxCodeBits  = 8  // nf4 double-quantized absmax: int8 code
	absmaxScaleBits = 32 // nf4 double quantization: fp32 scale per block of 256, and the fp32 mean
	outlierBits     = 32 // sparse outlier value: fp32
	seedBits        = 64 // Hadamard seed: int64
)

// Rows is the number of output channels.
func (q *Quantized) Rows() int { return q.rows }

// Cols is the number of input channels.
func (q *Quantized) Cols() int { return q.cols }

// Spec is the spec the matrix was quantized with, defaults filled (nf4: Bits 4, GroupSize 64
// when it was 0; float: Exponent when it was 0).
func (q *Quantized) Spec() Spec { return q.spec }

// Quantize quantizes the float32 matrix w, rows×cols row-major in PyTorch's [out, in] layout
// (groups run along a row, the input axis, or over the flattened matrix when wider than a
// row: see [Spec.GroupSize]), with the quantizer spec selects.
//
// fisher, optional, is the diagonal Fisher information of each weight (same shape as w: the
// squared gradients of the loss averaged over calibration data, ≥ 0). squeezellm weights its
// k-means by it (SqueezeLLM's objective Σ F·(w−ŵ)², Kim et al. 2024, §4.1); nil means
// unweighted k-means. The other methods do not use it.
//
// With spec.Hadamard the rows are first rotated, W' = W·Rᵀ by the seeded randomized
// block-Hadamard R (see the package documentation; QuaRot, Ashkboos et al. 2024), Fisher with
// them (F'_ij = Σ_k R_jk²·F_ik), and W' is quantized; [Quantized.Dequantize] returns Q(W')·R,
// which equals W up to the quantization error of W'.
//
// Errors: an invalid spec, rows or cols outside [1, MaxDim] or rows·cols > MaxParams,
// len(w) or len(fisher) ≠ rows·cols, a NaN or infinite weight or Fisher entry, a negative
// Fisher entry, and a scale, absmax or lookup-table entry beyond the fp16 range (rtn, squeezellm:
// |w| ≳ 65504·levels; float, nf: |w| > 65504).
func Quantize(w []float32, rows, cols int, spec Spec, fisher []float32) (*Quantized, error) {
	q := &Quantized{}
	if err := QuantizeInto(q, w, rows, cols, spec, fisher); err != nil {
		return nil, err
	}
	return q, nil
}

// QuantizeInto is [Quantize] storing its result in dst, which it overwrites: the packed codes
// (and rtn's scales and zero points) go into the memory of dst's when that is large enough (a
// previous result of the same shape and width), as [Quantized.DequantizeInto] writes into a
// given buffer, instead of a fresh allocation (16 MiB for 4096×4096 8-bit codes, 1.5 MiB for
// their rtn constants in groups of 64, which the runtime may map anew and fault in page by
// page). The result is the same as Quantize's. Errors: those of Quantize,
// after which *dst is the zero Quantized, holding no matrix.
func QuantizeInto(dst *Quantized, w []float32, rows, cols int, spec Spec, fisher []float32) error {
	codes, scales, zeros := dst.codes, dst.scales, dst.zeros
	*dst = Quantized{}
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := checkShape(rows, cols); err != nil {
		return err
	}
	n := rows * cols
	if len(w) != n {
		return fmt.Errorf("quant: len(w) = %d, want rows·cols = %d·%d = %d", len(w), rows, cols, n)
	}
	if fisher != nil && len(fisher) != n {
		return fmt.Errorf("quant: len(fisher) = %d, want rows·cols = %d", len(fisher), n)
	}
	// The kernels of rtn, nf4, nf and float see every weight's range anyway and fail on a
	// non-finite one; the check then runs to name the first. The other paths check first.
	fused := fisher == nil && !spec.Hadamard && spec.OutlierFraction == 0 && spec.Method != MethodSqueezeLLM
	if !fused {
		if err := checkFinite(w, cols); err != nil {
			return err
		}
	}
	for i, v := range fisher {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < 0 {
			return fmt.Errorf("quant: fisher[%d] (row %d, col %d) = %v is not finite and ≥ 0", i, i/cols, i%cols, v)
		}
	}

	spec = spec.withDefaults()
	// The kernels size codes (reuse); rtn's sizes its scales and zero points too.
	q := &Quantized{spec: spec, rows: rows, cols: cols, codes: codes[:0]}
	if spec.Method == MethodRTN {
		q.scales, q.zeros = scales[:0], zeros[:0]
	}
	var err error
	if spec.Hadamard {
		// The rotated weights are float64: quantize them as they are.
		x := make([]float64, n)
		for i, v := range w {
			x[i] = float64(v)
		}
		var f []float64
		if fisher != nil {
			f = make([]float64, n)
			for i, v := range fisher {
				f[i] = float64(v)
			}
		}
		r := newRotation(cols, spec.Seed)
		r.forward(x)
		if f != nil {
			r.spread(f)
		}
		err = quantizeMatrix(q, x, f)
	} else {
		err = quantizeMatrix(q, w, fisher)
	}
	if err != nil && fused {
		if nonFinite := checkFinite(w, cols); nonFinite != nil {
			return nonFinite // the error Quantize returns whatever else fails
		}
	}
	if err != nil {
		return err
	}
	*dst = *q
	return nil
}

// reuse is s resized to n elements, in s's memory when its capacity allows (the contents
// are stale: the kernels write every element), else a new slice.
func reuse[E any](s []E, n int) []E {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]E, n)
}

// errNonFinite is what the kernels return on a group with a NaN or infinite weight, before
// checkFinite names it.
var errNonFinite = errors.New("quant: a weight is not finite")

// checkFinite returns an error naming the first NaN or infinite entry of the rows×cols w.
func checkFinite(w []float32, cols int) error {
	return parallel(len(w), 1, func(lo, hi int) error {
		for i, v := range w[lo:hi] {
			if math.Float32bits(v)&0x7f800000 == 0x7f800000 { // all exponent bits set: NaN or ±Inf
				return fmt.Errorf("quant: w[%d] (row %d, col %d) = %v is not finite", lo+i, (lo+i)/cols, (lo+i)%cols, v)
			}
		}
		return nil
	})
}

// quantizeMatrix fills q's stored form from the weights x (and the optional Fisher f) with
// q.spec's method, the kernels computing in float64 from either element type.
func quantizeMatrix[T float](q *Quantized, x, f []T) error {
	isOutlier := extractOutliers(q, x)
	switch q.spec.Method {
	case MethodRTN:
		return quantizeRTN(q, x, isOutlier)
	case MethodNF4:
		return quantizeNF4(q, x, isOutlier)
	case MethodSqueezeLLM:
		return quantizeSqueezeLLM(q, x, f, isOutlier)
	case MethodFloat:
		return quantizeFloat(q, x, isOutlier)
	case MethodNF:
		return quantizeNF(q, x, isOutlier)
	}
	return nil
}

// checkShape bounds a matrix shape.
func checkShape(rows, cols int) error {
	if rows < 1 || rows > MaxDim || cols < 1 || cols > MaxDim {
		return fmt.Errorf("quant: shape %d×%d: rows and cols must be in [1, %d]", rows, cols, MaxDim)
	}
	if int64(rows)*int64(cols) > MaxParams {
		return fmt.Errorf("quant: shape %d×%d has more than %d weights", rows, cols, MaxParams)
	}
	return nil
}

// Dequantize returns the float32 weights the stored form represents, rows×cols row-major.
func (q *Quantized) Dequantize() []float32 {
	out := make([]float32, q.rows*q.cols)
	q.DequantizeInto(out)
	return out
}

// DequantizeInto writes the weights that [Quantized.Dequantize] returns into dst, rows×cols
// row-major, so that a caller that dequantizes many matrices can reuse one buffer. It panics
// if len(dst) ≠ rows·cols (a caller bug).
func (q *Quantized) DequantizeInto(dst []float32) {
	if len(dst) != q.rows*q.cols {
		panic(fmt.Sprintf("quant: DequantizeInto: len(dst) = %d, want %d·%d", len(dst), q.rows, q.cols))
	}
	if !q.spec.Hadamard {
		dequantizeMatrix(q, dst)
		return
	}
	// The codes are of rotated weights: rotate back in float64, then round once.
	x := make([]float64, len(dst))
	dequantizeMatrix(q, x)
	newRotation(q.cols, q.spec.Seed).inverse(x)
	for i, v := range x {
		dst[i] = float32(v)
	}
}

// dequantizeMatrix writes the value of every weight into x: the dense codes' values, then the
// outliers' fp32 values over them.
func dequantizeMatrix[T float](q *Quantized, x []T) {
	switch q.spec.Method {
	case MethodRTN:
		dequantizeRTN(q, x)
	case MethodNF4:
		dequantizeNF4(q, x)
	case MethodSqueezeLLM:
		dequantizeSqueezeLLM(q, x)
	case MethodFloat:
		dequantizeFloat(q, x)
	case MethodNF:
		dequantizeNF(q, x)
	}
	start := uint32(0)
	for r, end := range q.outliers.rowEnds {
		for k := start; k < end; k++ {
			x[r*q.cols+int(q.outliers.cols[k])] = T(q.outliers.values[k])
		}
		start = end
	}
}

// Bits is the storage of the quantized matrix in bits: [Quantized.Storage]'s total.
func (q *Quantized) Bits() int64 { return int64(q.Storage().Total()) }

// Storage is the storage of the quantized matrix term by term ([Spec.Storage] of its shape:
// [Quantize] and [UnmarshalQuantized] guarantee that its arrays have those lengths).
func (q *Quantized) Storage() scheme.Storage { return q.spec.Storage(q.rows, q.cols) }

// Storage is the storage of a rows×cols matrix quantized with the valid spec s, counting
// every stored number at its stored width (the package documentation's table), in the
// terms of [scheme.Storage]: Codes, Bits bits per weight; Scales, the fp16 scales (rtn), the
// fp16 absmax constants (float, nf), or nf4's fp32 absmax constants, or their 8-bit codes
// plus one fp32 scale per 256 and one fp32 mean (nf4 double quantization); ZeroPoints, rtn's Bits-bit zero points; Tables,
// squeezellm's fp16 lookup tables; OutlierValues, an fp32 value per outlier, and
// OutlierIndices, a ⌈log₂ cols⌉-bit column per outlier plus rows row ends of
// ⌈log₂(outliers+1)⌉ bits; Shared, the 64-bit seed of a Hadamard rotation. It leaves out the
// rest of MarshalBinary's 41-byte header (the shape and spec any stored tensor carries), its
// checksum, and the padding of each bit-packed stream to a whole byte. The storage does not
// depend on the weights: it needs no quantization (QAT reports its format's size with it).
func (s Spec) Storage(rows, cols int) scheme.Storage {
	s = s.withDefaults()
	n := int64(rows) * int64(cols)
	groups := int64(newLayout(rows, cols, s.GroupSize).groups())
	st := scheme.Storage{Values: n, Codes: float64(n * int64(s.Bits))}
	switch s.Method {
	case MethodRTN:
		st.Scales = float64(groups * scaleBits)
		if !s.Symmetric {
			st.ZeroPoints = float64(groups * int64(s.Bits))
		}
	case MethodNF4:
		if s.DoubleQuant {
			blocks := (groups + DoubleQuantBlock - 1) / DoubleQuantBlock
			st.Scales = float64(groups*absmaxCodeBits + (blocks+1)*absmaxScaleBits)
		} else {
			st.Scales = float64(groups * absmaxBits)
		}
	case MethodSqueezeLLM:
		st.Tables = float64(groups << s.Bits * lutEntryBits)
	case MethodFloat, MethodNF:
		st.Scales = float64(groups * scaleBits)
	}
	if nnz := outlierCount(s.OutlierFraction, int(n)); nnz > 0 {
		st.OutlierValues = float64(int64(nnz) * outlierBits)
		st.OutlierIndices = float64(int64(nnz)*int64(bitsFor(cols)) + int64(rows)*int64(bitsFor(nnz+1)))
	}
	if s.Hadamard {
		st.Shared = seedBits
	}
	return st
}

// BitsPerParam is Bits()/(rows·cols).
func (q *Quantized) BitsPerParam() float64 {
	return float64(q.Bits()) / float64(q.rows*q.cols)
}

// layout is the grouping of a rows×cols matrix into blocks that share constants. A block
// size no wider than a row cuts each row into groups of size consecutive columns, the last
// one of a row shorter when size does not divide cols (0: one group per row). A block size
// wider than a row cuts the row-major flattened matrix instead into blocks of size
// consecutive weights, the last one shorter when size does not divide rows·cols (Dettmers &
// Zettlemoyer 2023, §3: blockwise quantization of the flattened tensor).
type layout struct {
	rows, cols int
	size       int  // weights per block (the last of a row, or of the matrix, may be shorter)
	perRow     int  // groups per row (row groups only)
	flat       bool // blocks of the flattened matrix, size > cols
}

func newLayout(rows, cols, groupSize int) layout {
	if groupSize > cols {
		return layout{rows: rows, cols: cols, size: groupSize, flat: true}
	}
	g := groupSize
	if g == 0 {
		g = cols
	}
	return layout{rows: rows, cols: cols, size: g, perRow: (cols + g - 1) / g}
}

// groups is the number of groups (blocks) in the matrix.
func (l layout) groups() int {
	if l.flat {
		return (l.rows*l.cols + l.size - 1) / l.size
	}
	return l.rows * l.perRow
}

// span is the range of flat indices [lo, hi) of group g.
func (l layout) span(g int) (lo, hi int) {
	if l.flat {
		lo = g * l.size
		return lo, min(lo+l.size, l.rows*l.cols)
	}
	r, j := g/l.perRow, g%l.perRow
	lo = r*l.cols + j*l.size
	return lo, min(lo+l.size, (r+1)*l.cols)
}

// name names group g for an error message: "group 5 (row 1)" or "block 5 (weights 320..383)".
func (l layout) name(g int) string {
	if l.flat {
		lo, hi := l.span(g)
		return fmt.Sprintf("block %d (weights %d..%d)", g, lo, hi-1)
	}
	return fmt.Sprintf("group %d (row %d)", g, g/l.perRow)
}

// outlierCount is the number of outliers of a matrix of n weights: ⌊fraction·n⌋.
func outlierCount(fraction float64, n int) int { return int(fraction * float64(n)) }

// extractOutliers moves the ⌊OutlierFraction·n⌋ entries of largest |x| (ties: the earlier
// entry) into q.outliers and reports which entries they are.
func extractOutliers[T float](q *Quantized, x []T) []bool {
	nnz := outlierCount(q.spec.OutlierFraction, len(x))
	if nnz == 0 {
		return nil
	}
	order := make([]int, len(x))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(math.Abs(float64(x[b])), math.Abs(float64(x[a]))); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	isOutlier := make([]bool, len(x))
	for _, i := range order[:nnz] {
		isOutlier[i] = true
	}
	s := sparse{rowEnds: make([]uint32, q.rows)}
	for i, out := range isOutlier {
		if out {
			s.cols = append(s.cols, uint32(i%q.cols))
			s.values = append(s.values, float32(x[i]))
		}
		if (i+1)%q.cols == 0 {
			s.rowEnds[i/q.cols] = uint32(len(s.values))
		}
	}
	q.outliers = s
	return isOutlier
}
