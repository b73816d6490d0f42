package vaeformer

import (
	"math"

	"github.com/qzoo/qzoo/internal/detmath"
)

// GELU over a slice, x·½(1 + erf(x/√2)) with the bits of detmath.Erf, faster than calling
// it element by element: erf branches on |x| into five formulas, and GELU inputs fall in all
// of them, so the branches mispredict. Here each element is first sorted into its formula's
// group without branching, then each group runs as a branch-free loop that the CPU overlaps
// across elements. The formulas, their coefficients and their order of operations are
// detmath's (math.erf's, Go 1.27, after FreeBSD's s_erf.c; erf is odd, so it is evaluated at
// |x| and the sign set after, which gives the same bits as Erf's own handling of x < 0), its
// exponentials detmath.Exp's. Products are rounded explicitly (float64(a*b)) so no compiler
// fuses them into an FMA. TestGeluSliceMatchesGelu pins all of it against detmath.Erf.

// erfSmall is erf's Small: below it erf takes another formula.
const erfSmall = 1.0 / (1 << 28)

// geluScratch is geluSlice's working memory, reused across calls.
type geluScratch struct {
	a, e         []float64 // |x/√2| and erf(|x/√2|) of each element
	tailX, tailE []float64 // one group's arguments and results, packed
	groups       [6][]int32
}

// The groups of erf's formulas by |x|: [2⁻²⁸, 0.84375), [0.84375, 1.25), [1.25, 1/0.35),
// [1/0.35, 6), [6, ∞], and the rest (below 2⁻²⁸, or NaN), left to detmath.Erf.
const (
	erfPoly = iota
	erfNearOne
	erfTailNear
	erfTailFar
	erfOne
	erfOther
)

// geluSlice replaces each v[i] by v[i]·½(1 + detmath.Erf(v[i]/√2)), with the same bits.
func (g *geluScratch) geluSlice(v []float64) {
	n := len(v)
	if cap(g.a) < n {
		g.a, g.e = make([]float64, n), make([]float64, n)
		g.tailX, g.tailE = make([]float64, n), make([]float64, n)
		for k := range g.groups {
			g.groups[k] = make([]int32, n)
		}
	}
	a, e := g.a[:n], g.e[:n]
	var count [len(g.groups)]int
	for i, x := range v {
		ai := math.Abs(x / math.Sqrt2)
		a[i] = ai
		k := b2i(ai >= 0.84375) + b2i(ai >= 1.25) + b2i(ai >= 1/0.35) + b2i(ai >= 6)
		if !(ai >= erfSmall) {
			k = erfOther
		}
		g.groups[k][count[k]] = int32(i)
		count[k]++
	}
	// Below 1.25: x + x·P(x²)/Q(x²), or erx + P(x − 1)/Q(x − 1).
	idx := g.groups[erfPoly][:count[erfPoly]]
	t, q := g.tailX[:len(idx)], g.tailE[:len(idx)]
	for j, i := range idx {
		t[j] = mul(a[i], a[i])
	}
	g.ratios(q, t, &detmath.ErfSmallTerm)
	for j, i := range idx {
		e[i] = a[i] + mul(a[i], q[j])
	}
	idx = g.groups[erfNearOne][:count[erfNearOne]]
	t, q = g.tailX[:len(idx)], g.tailE[:len(idx)]
	for j, i := range idx {
		t[j] = a[i] - 1
	}
	g.ratios(q, t, &detmath.ErfNearOneTerm)
	for j, i := range idx {
		e[i] = detmath.Erx + q[j]
	}
	for _, tail := range []struct {
		group int
		coef  *[16]float64
	}{{erfTailNear, &detmath.ErfcNearTerm}, {erfTailFar, &detmath.ErfcFarTerm}} {
		idx := g.groups[tail.group][:count[tail.group]]
		x, y := g.tailX[:len(idx)], g.tailE[:len(idx)]
		for j, i := range idx {
			x[j] = a[i]
		}
		for j := erfTails(y, x, tail.coef); j < len(x); j++ {
			y[j] = 1 - detmath.ErfcTail(x[j], tail.coef)
		}
		for j, i := range idx {
			e[i] = y[j]
		}
	}
	for _, i := range g.groups[erfOne][:count[erfOne]] {
		e[i] = 1
	}
	for _, i := range g.groups[erfOther][:count[erfOther]] {
		e[i] = detmath.Erf(a[i])
	}
	for i, x := range v {
		v[i] = x * 0.5 * (1 + math.Copysign(e[i], x))
	}
}

// ratios sets q[i] = P(t[i])/Q(t[i]) for the rational term coef (detmath.Ratio's layout).
func (g *geluScratch) ratios(q, t []float64, coef *[13]float64) {
	for i := erfRatios(q, t, coef); i < len(t); i++ {
		q[i] = detmath.Ratio(t[i], coef)
	}
}

// mul is a·b rounded: no fused multiply-add may absorb it.
func mul(a, b float64) float64 { return float64(a * b) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
