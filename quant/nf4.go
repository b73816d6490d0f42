package quant

import (
	"fmt"
	"math"
	"math/big"
	"slices"
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
// NormalFloat-k (method nf, k = 2..8 bits) builds its 2^k levels the same way: 2^(k−1)
// positive levels at p = δ_k + i(½−δ_k)/2^(k−1), 2^(k−1)−1 negative ones at
// p = δ_k + i(½−δ_k)/(2^(k−1)−1), and 0, with δ_k = ½((1 − 1/(2(2^k−1))) + (1 − 1/(2·2^k))),
// as bitsandbytes' create_normal_map does for other widths; at k = 4 they are NF4's levels,
// bit for bit ([NFLevels]). Its block constant is an fp16 absmax (NF4 keeps QLoRA's fp32).
//
// Double quantization (QLoRA §3, "Double Quantization"): the fp32 constants c of the whole
// matrix (row-major by block) are centred on their fp32 mean μ (they are positive) and coded
// to 8 bits in blocks of 256 with one fp32 scale each: s₂ = max|c−μ|/127,
// k = clamp(round((c−μ)/s₂), −127, 127), ĉ = μ + k·s₂. QLoRA codes with an 8-bit float; this
// package uses the linear int8 code (same 8 bits per constant). Weights are coded against ĉ,
// the constant actually stored; a block whose ĉ ≤ 0 codes all its weights as level 0.

// Widths of NormalFloat-k.
const (
	MinNFBits = 2 // fewest bits of method nf
	MaxNFBits = 8 // most bits of method nf
)

// nfGrid is the table of NormalFloat-k: levels ascending in [−1, 1], the midpoints between
// them, and the code of the level 0.
type nfGrid struct {
	levels, mids []float64
	zero         uint32
	index        levelIndex
}

// nfGrids are the tables of k = MinNFBits..MaxNFBits bits, indexed by k.
var nfGrids = func() (g [MaxNFBits + 1]nfGrid) {
	for k := MinNFBits; k <= MaxNFBits; k++ {
		g[k] = nfTable(k)
	}
	return g
}()

// nf4Levels and nf4Mids are NF4's table.
var nf4Levels, nf4Mids = nfGrids[NF4Bits].levels, nfGrids[NF4Bits].mids

// nf4Zero is the code of the level 0 of NF4.
const nf4Zero = 7

// nfTable builds the 2^k NormalFloat-k levels. δ_k and ½−δ_k are each rounded once from their
// exact rational values, so that k = 4 gives the table QLoRA's constants give.
func nfTable(k int) nfGrid {
	normalQuantile := func(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }
	n := int64(1) << k
	exact := new(big.Rat).SetFrac64(2*n-1, 4*n*(n-1)) // 1 − δ_k = ½(1/(2(n−1)) + 1/(2n))
	exact.Sub(big.NewRat(1, 1), exact)
	delta, _ := exact.Float64()
	span, _ := new(big.Rat).Sub(big.NewRat(1, 2), exact).Float64()
	positive, negative := 1<<(k-1), 1<<(k-1)-1
	v := []float64{0}
	for i := range positive {
		v = append(v, normalQuantile(delta+float64(i)*span/float64(positive)))
	}
	for i := range negative {
		v = append(v, -normalQuantile(delta+float64(i)*span/float64(negative)))
	}
	sort.Float64s(v)
	top := normalQuantile(delta)
	g := nfGrid{levels: make([]float64, len(v)), mids: make([]float64, len(v)-1), zero: uint32(negative)}
	for i := range v {
		g.levels[i] = v[i] / top
	}
	for i := range g.mids {
		g.mids[i] = (g.levels[i] + g.levels[i+1]) / 2
	}
	g.index = newLevelIndex(g.mids, 16<<k)
	return g
}

// levelIndex finds the nearest of ascending levels in [−1, 1] (given the midpoints between
// them) as nearestSorted does, with a table over equal cells of [−1, 1] instead of a binary
// search: first[c] counts the midpoints m whose cell is below c. The cell of a value,
// ⌊(clamp(v, −1, 1) + 1)·cells/2⌋ in floating point, never decreases as v grows, so every
// midpoint counted in first[cell(v)] is below v and every midpoint of a higher cell is above
// it: only a midpoint in v's own cell remains to compare, and there is at most one, since the
// 16·2^k cells of 2^k levels are 7 to 16 times narrower than the closest two midpoints. The
// one comparison is made without a branch, which a random weight would mispredict half the
// time.
type levelIndex struct {
	mids  []float64 // the midpoints, then +Inf, so that mids[first[c]] always exists
	first []uint8   // cells+1 entries (v = 1 has cell cells)
	scale float64   // cells/2
}

func newLevelIndex(mids []float64, cells int) levelIndex {
	t := levelIndex{mids: append(slices.Clone(mids), math.Inf(1)), scale: float64(cells) / 2}
	t.first = cellStarts(mids, cells, t.cell)
	return t
}

// cellStarts returns, for each cell c = 0..cells of a non-decreasing cell function, the number
// of the ascending midpoints (at most 255) whose cell is below c. It panics if a cell holds
// two midpoints (a table built too coarse: a bug).
func cellStarts(mids []float64, cells int, cell func(float64) int) []uint8 {
	first := make([]uint8, cells+1)
	for c := range first {
		for int(first[c]) < len(mids) && cell(mids[first[c]]) < c {
			first[c]++
		}
		if k := int(first[c]) + 1; k < len(mids) && cell(mids[k]) == c && cell(mids[k-1]) == c {
			panic(fmt.Sprintf("quant: cell %d of %d holds two midpoints", c, cells))
		}
		if c+1 < len(first) {
			first[c+1] = first[c]
		}
	}
	return first
}

func (t *levelIndex) cell(v float64) int {
	if v < -1 {
		v = -1
	} else if v > 1 {
		v = 1
	}
	return int((v + 1) * t.scale)
}

// nearest is nearestSorted(mids, v) for a v that is not NaN.
func (t *levelIndex) nearest(v float64) uint32 {
	k := uint32(t.first[t.cell(v)])
	var above uint32
	if v > t.mids[k] {
		above = 1
	}
	return k + above
}

// NF4Levels returns the 16 NormalFloat4 levels, ascending from −1 to 1 with 0 at index 7.
func NF4Levels() [16]float64 { return [16]float64(nf4Levels) }

// NFLevels returns the 2^k NormalFloat-k levels, ascending from −1 to 1 with 0 at index
// 2^(k−1)−1 (NF4's at k = 4). It panics unless 2 ≤ k ≤ 8 (a caller bug).
func NFLevels(k int) []float64 {
	if k < MinNFBits || k > MaxNFBits {
		panic(fmt.Sprintf("quant: NFLevels: k = %d outside [%d, %d]", k, MinNFBits, MaxNFBits))
	}
	return slices.Clone(nfGrids[k].levels)
}

// nearestSorted is the index of the entry of ascending values nearest v, given the
// midpoints between consecutive values; a tie goes to the lower index.
func nearestSorted(mids []float64, v float64) int {
	return sort.Search(len(mids), func(k int) bool { return v <= mids[k] })
}

// quantizeNF4 fills q.codes and the absmax constants from x; outliers are left out of the
// absmax and coded as level 0.
func quantizeNF4[T float](q *Quantized, x []T, isOutlier []bool) error {
	l := newLayout(q.rows, q.cols, q.spec.GroupSize)
	absmax := make([]float32, l.groups())
	q.codes = reuse(q.codes, packedLen(len(x), NF4Bits))
	index := &nfGrids[NF4Bits].index
	code := func(lo int, codes []uint32, c float32) {
		hi := lo + len(codes)
		absmaxCodes(x[lo:hi], maybe(isOutlier, lo, hi), float64(c), codes, nf4Zero, index)
	}
	blockAbsmax := func(g, lo, hi int) error {
		m := blockMax(x[lo:hi], maybe(isOutlier, lo, hi))
		if m-m != 0 { // a NaN or infinity
			return errNonFinite
		}
		absmax[g] = float32(m)
		return nil
	}
	if !q.spec.DoubleQuant {
		q.absmax = absmax
		return l.encode(q.codes, NF4Bits, func(g, lo int, codes []uint32) error {
			if err := blockAbsmax(g, lo, lo+len(codes)); err != nil {
				return err
			}
			code(lo, codes, absmax[g])
			return nil
		})
	}
	// The weights are coded against the double-quantized constants, which need all of them.
	if err := l.forGroups(8, func(g0, g1 int) error {
		for g := g0; g < g1; g++ {
			lo, hi := l.span(g)
			if err := blockAbsmax(g, lo, hi); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	q.doubleQuantize(absmax)
	stored := q.blockAbsmax()
	return l.encode(q.codes, NF4Bits, func(g, lo int, codes []uint32) error {
		code(lo, codes, stored[g])
		return nil
	})
}

// absmaxCodes codes the weights x of one block, whose absmax constant is c, as the level
// nearest w/c; an outlier, or every weight of a block whose c is 0, gets the code zero.
func absmaxCodes[T float](x []T, isOutlier []bool, c float64, codes []uint32, zero uint32, index *levelIndex) {
	for i, v := range x {
		codes[i] = zero
		if c > 0 && (isOutlier == nil || !isOutlier[i]) {
			codes[i] = index.nearest(float64(v) / c)
		}
	}
}

// blockMax is max |x| over the entries of x that are not outliers, and 0.
func blockMax[T float](x []T, isOutlier []bool) float64 {
	lo, hi := groupRange(x, isOutlier)
	return max(float64(hi), -float64(lo))
}

// maybe is isOutlier[lo:hi], or nil without outliers.
func maybe(isOutlier []bool, lo, hi int) []bool {
	if isOutlier == nil {
		return nil
	}
	return isOutlier[lo:hi]
}

// quantizeNF fills q.codes and q.scales (fp16 absmax per block) from x with the
// NormalFloat-k levels; outliers are left out of the absmax and coded as level 0.
func quantizeNF[T float](q *Quantized, x []T, isOutlier []bool) error {
	grid := &nfGrids[q.spec.Bits]
	return fp16AbsmaxCodes(q, x, isOutlier, func(lo int, c float64, codes []uint32) {
		hi := lo + len(codes)
		absmaxCodes(x[lo:hi], maybe(isOutlier, lo, hi), c, codes, grid.zero, &grid.index)
	})
}

// dequantizeNF writes ℓ_q·c into x.
func dequantizeNF[T float](q *Quantized, x []T) {
	levels := nfGrids[q.spec.Bits].levels
	decodeTable(q, x, func(g int, t *[256]T) {
		c := float64(float16ToFloat32(q.scales[g]))
		for k, v := range levels {
			t[k] = T(v * c)
		}
	})
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
func dequantizeNF4[T float](q *Quantized, x []T) {
	stored := q.blockAbsmax()
	decodeTable(q, x, func(g int, t *[256]T) {
		c := stored[g]
		for k, v := range nf4Levels {
			t[k] = 0 // a block whose c ≤ 0 decodes to zeros
			if c > 0 {
				t[k] = T(v * float64(c))
			}
		}
	})
}
