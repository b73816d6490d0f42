package vaeformer

import "math"

// A latent element's table is bank[bankIndex(scaleOf(raw))], with raw the h_s output its scale
// is made from: a softplus, a bound and a logarithm per element, three transcendental calls.
// Their composition is a non-decreasing step function of raw, so it is fixed by the bankSize−1
// values of raw where it steps up. bankLookup finds those once, exactly (bisection over the
// float64 values with the exact composition), and then maps raw to its index with a table
// lookup and a comparison or two: the same index as the exact composition, bit for bit, as
// long as that is non-decreasing — which newBankLookup checks around every step (where
// rounding could break it; away from the steps the index cannot change) and otherwise keeps
// the exact composition. TestBankLookupMatchesExact checks it over the whole range.

// bankCellsPerUnit is the resolution of bankLookup's table in units of raw.
const bankCellsPerUnit = 32

// bankLookupCheckULPs is how far around each step newBankLookup checks the step is clean.
const bankLookupCheckULPs = 256

// scaleOf is the Gaussian conditional's scale from h_s's raw output: max(softplus(raw),
// scaleBound), the bound taken directly below raw = −3 (softplus(−3) ≈ 0.049: the bound wins,
// exactly).
func scaleOf(raw float64) float64 {
	if raw < -3 {
		return scaleBound
	}
	return math.Max(softplus(raw), scaleBound)
}

// bankLookup maps h_s's raw scale output to the index of its bank table.
type bankLookup struct {
	// exact is the composition; exactOnly says the lookup could not be made exact and the
	// composition is used for every raw.
	exact     func(raw float64) int
	exactOnly bool
	// step[k] is the smallest raw whose index is ≥ k (k ≥ 1; step[0] is unused).
	step []float64
	// cells[c] counts the steps in cells before c, cell c holding the raw values with
	// int((raw − lo)·bankCellsPerUnit) = c.
	lo    float64
	cells []uint8
}

// newBankLookup builds the lookup of index(raw) = m.bankIndex(scaleOf(raw)).
func (m *EntropyModel) newBankLookup() *bankLookup {
	index := func(raw float64) int { return m.bankIndex(scaleOf(raw)) }
	l := &bankLookup{exact: index, exactOnly: true, step: make([]float64, bankSize)}
	if bankSize > 256 || index(-4) != 0 || index(1e6) != bankSize-1 {
		return l
	}
	// Bisection over the ordered float64 values between −4 and 10⁶.
	for k := 1; k < bankSize; k++ {
		// index(lo) < k ≤ index(hi); hi − lo can exceed MaxInt64, so it is taken unsigned.
		lo, hi := orderedKey(-4), orderedKey(1e6)
		for uint64(hi)-uint64(lo) > 1 {
			mid := lo + int64((uint64(hi)-uint64(lo))/2)
			if index(fromOrderedKey(mid)) >= k {
				hi = mid
			} else {
				lo = mid
			}
		}
		l.step[k] = fromOrderedKey(hi)
		if k > 1 && !(l.step[k] > l.step[k-1]) {
			return l
		}
		for d := int64(1); d <= bankLookupCheckULPs; d++ { // a clean step: below it < k, from it ≥ k
			if index(fromOrderedKey(hi-d)) >= k || index(fromOrderedKey(hi+d-1)) < k {
				return l
			}
		}
	}
	l.lo = math.Floor(l.step[1])
	l.cells = make([]uint8, int((l.step[bankSize-1]-l.lo)*bankCellsPerUnit)+2)
	for k := 1; k < bankSize; k++ {
		for c := int((l.step[k]-l.lo)*bankCellsPerUnit) + 1; c < len(l.cells); c++ {
			l.cells[c]++
		}
	}
	l.exactOnly = false
	return l
}

// index is m.bankIndex(scaleOf(raw)).
func (l *bankLookup) index(raw float64) int {
	if l.exactOnly || raw != raw || raw > math.MaxFloat64 { // NaN and +Inf: whatever int(±Inf or NaN) gives
		return l.exact(raw)
	}
	if raw < l.step[1] {
		return 0
	}
	if raw >= l.step[bankSize-1] {
		return bankSize - 1
	}
	// The steps of earlier cells are ≤ raw and those of later cells > raw (the cell is a
	// non-decreasing function of raw); the cell's own steps are compared.
	k := int(l.cells[int((raw-l.lo)*bankCellsPerUnit)])
	for k+1 < bankSize && raw >= l.step[k+1] {
		k++
	}
	return k
}

// orderedKey maps float64 values to integers in the same order (−0 and +0 apart, adjacent).
func orderedKey(x float64) int64 {
	b := int64(math.Float64bits(x))
	if b < 0 {
		return math.MinInt64 - b - 1
	}
	return b
}

func fromOrderedKey(k int64) float64 {
	if k < 0 {
		return math.Float64frombits(uint64(math.MinInt64 - k - 1))
	}
	return math.Float64frombits(uint64(k))
}
