package entropy

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"

	"github.com/qzoo/qzoo/internal/detmath"
)

// Limits of a [Table].
const (
	// MaxPrecisionBits is the largest table precision P: frequencies sum to 2^P ≤ 2^16,
	// which keeps the rANS state update inside 32 bits (see [Encode]).
	MaxPrecisionBits = 16
	// MaxSymbols is the largest number of symbols lo..hi in a table (escape not counted).
	MaxSymbols = 1<<MaxPrecisionBits - 1
	// MaxAbsSymbol bounds |lo| and |hi|, so an escaped value lo−d or hi+d fits an int64.
	MaxAbsSymbol = 1 << 31
)

// Table is a quantised distribution over the integer symbols lo..hi plus an escape slot
// (see the package doc): freq[i] ≥ 1 is the frequency of symbol lo+i, out of 2^P; the
// escape slot, index hi−lo+1, has frequency 1. A Table is immutable and may be shared.
type Table struct {
	lo        int
	precision uint     // P, bits
	freq      []uint32 // [n+1]: symbols lo..hi, then escape
	cum       []uint32 // [n+2]: cum[i] = Σ_{j<i} freq[j]; cum[n+1] = 2^P
}

// Lo is the smallest symbol coded without an escape.
func (t *Table) Lo() int { return t.lo }

// Hi is the largest symbol coded without an escape.
func (t *Table) Hi() int { return t.lo + len(t.freq) - 2 }

// PrecisionBits is P: frequencies sum to 2^P.
func (t *Table) PrecisionBits() int { return int(t.precision) }

// Freq is the frequency of v out of 2^P, or 0 for a value coded with an escape.
func (t *Table) Freq(v int) int {
	if v < t.lo || v > t.Hi() {
		return 0
	}
	return int(t.freq[v-t.lo])
}

// NewTable quantises a probability mass function over the symbols 0..len(pmf)−1 (use
// [Table.Shift] to move them) to integer frequencies summing to 2^precisionBits. pmf need
// not be normalised. Every symbol gets frequency ≥ 1, since a model's underflowed
// probability may still occur, and the escape slot gets 1; the rest, 2^P − n − 1, is
// shared in proportion to pmf, largest remainders first.
//
// It fails on an empty pmf, a NaN, infinite or negative entry, an all-zero pmf, a
// precision outside 1..16, or more than 2^P − 1 symbols.
func NewTable(pmf []float64, precisionBits int) (*Table, error) {
	t, err := newTable(pmf, precisionBits)
	if err != nil {
		return nil, fmt.Errorf("entropy: NewTable: %w", err)
	}
	return t, nil
}

func newTable(pmf []float64, precisionBits int) (*Table, error) {
	n := len(pmf)
	if precisionBits < 1 || precisionBits > MaxPrecisionBits {
		return nil, fmt.Errorf("precision %d bits out of range [1, %d]", precisionBits, MaxPrecisionBits)
	}
	if n == 0 {
		return nil, errors.New("empty pmf")
	}
	total := uint32(1) << precisionBits
	if n > int(total)-1 {
		return nil, fmt.Errorf("%d symbols do not fit %d-bit precision (at most %d with the escape slot)",
			n, precisionBits, total-1)
	}
	sum := 0.0
	for i, p := range pmf {
		if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
			return nil, fmt.Errorf("pmf[%d] = %v: probabilities must be finite and ≥ 0", i, p)
		}
		sum += p
	}
	if !(sum > 0) || math.IsInf(sum, 0) {
		return nil, fmt.Errorf("pmf sums to %v, need a finite positive sum", sum)
	}
	spare := float64(total - uint32(n) - 1) // shared after the guaranteed 1 each
	freq := make([]uint32, n+1)
	rem := make([]float64, n)
	used := uint32(n + 1)
	for i, p := range pmf {
		share := float64(p / sum * spare) // rounded: fused into share − whole, the remainder would differ by machine
		whole := math.Floor(share)
		freq[i] = 1 + uint32(whole)
		rem[i] = share - whole
		used += uint32(whole)
	}
	freq[n] = 1
	if used < total {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return rem[order[a]] > rem[order[b]] })
		// used ≥ total − n since each floor loses < 1, so one pass suffices.
		for _, i := range order[:total-used] {
			freq[i]++
		}
	}
	cum := make([]uint32, n+2)
	for i, f := range freq {
		cum[i+1] = cum[i] + f
	}
	if cum[n+1] != total {
		return nil, fmt.Errorf("internal: frequencies sum to %d, want %d", cum[n+1], total)
	}
	return &Table{precision: uint(precisionBits), freq: freq, cum: cum}, nil
}

// Shift returns a copy of t whose symbols start at lo instead of t.Lo() (sharing the
// frequencies). It fails if lo or the new hi is beyond ±[MaxAbsSymbol].
func (t *Table) Shift(lo int) (*Table, error) {
	hi := lo + len(t.freq) - 2
	if lo < -MaxAbsSymbol || hi > MaxAbsSymbol {
		return nil, fmt.Errorf("entropy: Shift: symbols %d..%d beyond ±%d", lo, hi, MaxAbsSymbol)
	}
	s := *t
	s.lo = lo
	return &s, nil
}

// GaussianTable is the discretised Gaussian N(mean, scale²) over the integers lo..hi, the
// Gaussian conditional of Ballé et al. (2018, §3; Minnen et al. 2018) with its tails
// folded into the end symbols:
//
//	p(k)  = Φ((k+½−μ)/σ) − Φ((k−½−μ)/σ)   for lo < k < hi
//	p(lo) = Φ((lo+½−μ)/σ)
//	p(hi) = 1 − Φ((hi−½−μ)/σ)
//
// with Φ the standard normal CDF, quantised by [NewTable] to precisionBits (typically
// 16). Values outside lo..hi still code, through the escape. Upper-tail differences are
// taken as differences of Φ's complement, so they keep their relative precision. Φ is
// internal/detmath's erfc, so a table is the same on every machine (an encoder's and a
// decoder's tables must agree to the bit).
// It fails on a non-finite mean, a scale that is not finite and > 0, hi < lo, or the
// limits of [NewTable] and [MaxAbsSymbol].
func GaussianTable(mean, scale float64, lo, hi int, precisionBits int) (*Table, error) {
	if math.IsNaN(mean) || math.IsInf(mean, 0) || !(scale > 0) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("entropy: GaussianTable: mean %v, scale %v: need finite mean and finite scale > 0",
			mean, scale)
	}
	if err := checkRange(lo, hi); err != nil {
		return nil, fmt.Errorf("entropy: GaussianTable: %w", err)
	}
	// Φ(z) = ½ erfc(−z/√2) and 1 − Φ(z) = ½ erfc(z/√2), each accurate in its own tail.
	// Products rounded (float64) so that no FMA fuses them into mass's differences.
	lower := func(k float64) float64 { return float64(0.5 * detmath.Erfc(-(k-mean)/(scale*math.Sqrt2))) }
	upper := func(k float64) float64 { return float64(0.5 * detmath.Erfc((k-mean)/(scale*math.Sqrt2))) }
	mass := func(a, b float64) float64 { // P(a < X ≤ b)
		if a > mean {
			return upper(a) - upper(b)
		}
		return lower(b) - lower(a)
	}
	pmf := make([]float64, hi-lo+1)
	for i := range pmf {
		k := float64(lo + i)
		a, b := k-0.5, k+0.5
		switch {
		case lo == hi:
			pmf[i] = 1
		case i == 0:
			pmf[i] = lower(b)
		case i == len(pmf)-1:
			pmf[i] = upper(a)
		default:
			pmf[i] = mass(a, b)
		}
	}
	t, err := newTable(pmf, precisionBits)
	if err != nil {
		return nil, fmt.Errorf("entropy: GaussianTable(%v, %v, %d..%d): %w", mean, scale, lo, hi, err)
	}
	t.lo = lo
	return t, nil
}

// CDFTable builds the table of a factorised (non-parametric) entropy model over the
// integers lo..lo+len(cdf)−2 from its cumulative distribution c sampled at the symbol
// edges: cdf[i] = c(lo+i−½), shape [n+1] for n symbols, as in Ballé et al. (2018,
// appendix 6.1). Symbol lo+i gets p = cdf[i+1] − cdf[i]; the tails c(lo−½) and
// 1 − c(hi+½) are folded into the end symbols, as in [GaussianTable]. cdf must be
// non-decreasing within [0, 1].
func CDFTable(cdf []float64, lo int, precisionBits int) (*Table, error) {
	if len(cdf) < 2 {
		return nil, fmt.Errorf("entropy: CDFTable: %d CDF values, need ≥ 2 (the edges of ≥ 1 symbol)", len(cdf))
	}
	if err := checkRange(lo, lo+len(cdf)-2); err != nil {
		return nil, fmt.Errorf("entropy: CDFTable: %w", err)
	}
	for i, c := range cdf {
		if !(c >= 0 && c <= 1) {
			return nil, fmt.Errorf("entropy: CDFTable: cdf[%d] = %v outside [0, 1]", i, c)
		}
		if i > 0 && c < cdf[i-1] {
			return nil, fmt.Errorf("entropy: CDFTable: cdf[%d] = %v < cdf[%d] = %v: must be non-decreasing",
				i, c, i-1, cdf[i-1])
		}
	}
	n := len(cdf) - 1
	pmf := make([]float64, n)
	for i := range pmf {
		pmf[i] = cdf[i+1] - cdf[i]
	}
	pmf[0] += cdf[0]
	pmf[n-1] += 1 - cdf[n]
	t, err := newTable(pmf, precisionBits)
	if err != nil {
		return nil, fmt.Errorf("entropy: CDFTable: %w", err)
	}
	t.lo = lo
	return t, nil
}

func checkRange(lo, hi int) error {
	if hi < lo {
		return fmt.Errorf("empty symbol range %d..%d", lo, hi)
	}
	if lo < -MaxAbsSymbol || hi > MaxAbsSymbol {
		return fmt.Errorf("symbol range %d..%d beyond ±%d", lo, hi, MaxAbsSymbol)
	}
	if hi-lo+1 > MaxSymbols {
		return fmt.Errorf("%d symbols in %d..%d, at most %d", hi-lo+1, lo, hi, MaxSymbols)
	}
	return nil
}

// Bits is the information content of coding v under t, in bits: log₂(2^P/f_v) for v in
// lo..hi; for an escaped value at distance d, P + 1 + 2⌊log₂ d⌋ + 1. The coded size of a
// stream is Σ Bits plus at most 4 bytes of flushed state and byte rounding.
func (t *Table) Bits(v int) float64 {
	if f := t.Freq(v); f > 0 {
		return float64(t.precision) - math.Log2(float64(f))
	}
	var d uint64
	if v < t.lo {
		d = uint64(t.lo) - uint64(v)
	} else {
		d = uint64(v) - uint64(t.Hi())
	}
	return float64(t.precision) + 1 + float64(2*(bits.Len64(d)-1)+1)
}
