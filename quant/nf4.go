package quant

import (
	"math"
	"sort"
)

// NormalFloat4 (NF4), QLoRA (Dettmers et al. 2023, §3). A block of B weights (B = 64 along a
// row by default) stores its absmax c = max|w| and 4-bit codes into the 16 NF4 levels ℓ:
// q = argmin_k |w/c − ℓ_k| and ŵ = ℓ_q·c.
//
// The levels are the normal quantiles of QLoRA's Eq. 4, q_i = ½(Q_N(i/(2^k+1)) +
// Q_N((i+1)/(2^k+1))), built asymmetrically so that 0 is exact: 8 positive levels
// Q_N(p) at p = δ + i(½−δ)/8, i = 0..7, 7 negative levels −Q_N(p) at p = δ + i(½−δ)/7,
// i = 0..6, and 0, all divided by Q_N(δ) so they span [−1, 1]. The outermost probability δ
// is the mean of the extreme quantile probabilities of the two halves,
// δ = ½((1 − 1/(2·15)) + (1 − 1/(2·16))) = 0.96770833…, which bitsandbytes hard-codes as
// 0.9677083 (its create_normal_map); the levels agree with QLoRA's Appendix E table to 2e-7.
//
// Double quantization (QLoRA §3, "Double Quantization"): the fp32 constants c of the whole
// matrix (row-major by block) are centred on their fp32 mean μ (they are positive) and coded
// to 8 bits in blocks of 256 with one fp32 scale each: s₂ = max|c−μ|/127,
// k = clamp(round((c−μ)/s₂), −127, 127), ĉ = μ + k·s₂. QLoRA codes with an 8-bit float; this
// package uses the linear int8 code (same 8 bits per constant). Weights are coded against ĉ,
// the constant actually stored; a block whose ĉ ≤ 0 codes all its weights as level 0.

// nf4Delta is δ, the outermost quantile probability of NF4.
const nf4Delta = ((1 - 1.0/30) + (1 - 1.0/32)) / 2

// nf4Zero is the code of the level 0.
const nf4Zero = 7

// nf4Levels are the 16 NF4 levels, ascending; nf4Mids the 15 midpoints between them.
var nf4Levels, nf4Mids = nf4Table()

func nf4Table() (levels [16]float64, mids [15]float64) {
	normalQuantile := func(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }
	v := []float64{0}
	for i := range 8 {
		v = append(v, normalQuantile(nf4Delta+float64(i)*(0.5-nf4Delta)/8))
	}
	for i := range 7 {
		v = append(v, -normalQuantile(nf4Delta+float64(i)*(0.5-nf4Delta)/7))
	}
	sort.Float64s(v)
	top := normalQuantile(nf4Delta)
	for i := range levels {
		levels[i] = v[i] / top
	}
	for i := range mids {
		mids[i] = (levels[i] + levels[i+1]) / 2
	}
	return levels, mids
}

// NF4Levels returns the 16 NormalFloat4 levels, ascending from −1 to 1 with 0 at index 7.
func NF4Levels() [16]float64 { return nf4Levels }

// nearestSorted is the index of the entry of ascending values nearest v, given the
// midpoints between consecutive values; a tie goes to the lower index.
func nearestSorted(mids []float64, v float64) int {
	return sort.Search(len(mids), func(k int) bool { return v <= mids[k] })
}

// quantizeNF4 fills q.codes and the absmax constants from x; outliers are left out of the
// absmax and coded as level 0.
func (q *Quantized) quantizeNF4(x []float64, isOutlier []bool) {
	l := newLayout(q.rows, q.cols, q.spec.GroupSize)
	absmax := make([]float32, l.groups())
	for g := range absmax {
		lo, hi := l.span(g)
		var m float64
		for i := lo; i < hi; i++ {
			if isOutlier == nil || !isOutlier[i] {
				m = max(m, math.Abs(x[i]))
			}
		}
		absmax[g] = float32(m)
	}
	stored := absmax
	if q.spec.DoubleQuant {
		q.doubleQuantize(absmax)
		stored = q.blockAbsmax()
	} else {
		q.absmax = absmax
	}
	codes := make([]uint8, len(x))
	for g, c := range stored {
		lo, hi := l.span(g)
		for i := lo; i < hi; i++ {
			codes[i] = nf4Zero
			if c > 0 && (isOutlier == nil || !isOutlier[i]) {
				codes[i] = uint8(nearestSorted(nf4Mids[:], x[i]/float64(c)))
			}
		}
	}
	q.codes = Pack(codes, NF4Bits)
}

// doubleQuantize stores the absmax constants c as int8 codes around their mean.
func (q *Quantized) doubleQuantize(c []float32) {
	var sum float64
	for _, v := range c {
		sum += float64(v)
	}
	q.absmaxMean = float32(sum / float64(len(c)))
	mean := float64(q.absmaxMean)
	q.absmaxCodes = make([]int8, len(c))
	q.absmaxScale = make([]float32, (len(c)+DoubleQuantBlock-1)/DoubleQuantBlock)
	for b := range q.absmaxScale {
		block := c[b*DoubleQuantBlock : min((b+1)*DoubleQuantBlock, len(c))]
		var m float64
		for _, v := range block {
			m = max(m, math.Abs(float64(v)-mean))
		}
		s := float32(m / 127)
		q.absmaxScale[b] = s
		if s == 0 {
			continue
		}
		for i, v := range block {
			k := clamp(math.RoundToEven((float64(v)-mean)/float64(s)), -127, 127)
			q.absmaxCodes[b*DoubleQuantBlock+i] = int8(k)
		}
	}
}

// blockAbsmax returns the absmax constant of every block as stored: fp32, or μ + k·s₂ with
// double quantization.
func (q *Quantized) blockAbsmax() []float32 {
	if !q.spec.DoubleQuant {
		return q.absmax
	}
	c := make([]float32, len(q.absmaxCodes))
	for i, k := range q.absmaxCodes {
		c[i] = float32(float64(q.absmaxMean) + float64(k)*float64(q.absmaxScale[i/DoubleQuantBlock]))
	}
	return c
}

// dequantizeNF4 writes ℓ_q·c into x.
func (q *Quantized) dequantizeNF4(codes []uint32, x []float64) {
	l := newLayout(q.rows, q.cols, q.spec.GroupSize)
	for g, c := range q.blockAbsmax() {
		lo, hi := l.span(g)
		for i := lo; i < hi; i++ {
			x[i] = 0
			if c > 0 {
				x[i] = nf4Levels[codes[i]] * float64(c)
			}
		}
	}
}
