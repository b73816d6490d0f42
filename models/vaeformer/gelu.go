package vaeformer

import "math"

// GELU over a slice, x·½(1 + erf(x/√2)) with the bits of math.Erf, faster than calling
// math.Erf element by element: math.Erf branches on |x| into five formulas, and GELU inputs fall in all
// of them, so the branches mispredict. Here each element is first sorted into its formula's
// group without branching, then each group runs as a branch-free loop that the CPU overlaps
// across elements. The formulas, their constants and their order of operations are math.erf's
// (Go 1.27, after FreeBSD's s_erf.c; erf is odd, so it is evaluated at |x| and the sign set
// after, which gives the same bits as math.Erf's own handling of x < 0). Its two exponentials
// in the tail are expFMA, math.Exp's amd64 assembly (FMA path) written in Go; where that does
// not reproduce math.Exp (another CPU or architecture, checked at start-up) math.Exp is used.
// Products are rounded explicitly (float64(a*b)) so no compiler fuses them into an FMA that
// math.erf would not have. TestGeluSliceMatchesGelu pins all of it against math.Erf.

// The coefficients of math.erf (erf.go, Go 1.27; © The Go Authors, BSD licence, from FreeBSD's
// s_erf.c © Sun Microsystems).
const (
	erx = 8.45062911510467529297e-01 // 0x3FEB0AC160000000
	// Coefficients for approximation to  erf in [0, 0.84375]
	pp0 = 1.28379167095512558561e-01  // 0x3FC06EBA8214DB68
	pp1 = -3.25042107247001499370e-01 // 0xBFD4CD7D691CB913
	pp2 = -2.84817495755985104766e-02 // 0xBF9D2A51DBD7194F
	pp3 = -5.77027029648944159157e-03 // 0xBF77A291236668E4
	pp4 = -2.37630166566501626084e-05 // 0xBEF8EAD6120016AC
	qq1 = 3.97917223959155352819e-01  // 0x3FD97779CDDADC09
	qq2 = 6.50222499887672944485e-02  // 0x3FB0A54C5536CEBA
	qq3 = 5.08130628187576562776e-03  // 0x3F74D022C4D36B0F
	qq4 = 1.32494738004321644526e-04  // 0x3F215DC9221C1A10
	qq5 = -3.96022827877536812320e-06 // 0xBED09C4342A26120
	// Coefficients for approximation to  erf  in [0.84375, 1.25]
	pa0 = -2.36211856075265944077e-03 // 0xBF6359B8BEF77538
	pa1 = 4.14856118683748331666e-01  // 0x3FDA8D00AD92B34D
	pa2 = -3.72207876035701323847e-01 // 0xBFD7D240FBB8C3F1
	pa3 = 3.18346619901161753674e-01  // 0x3FD45FCA805120E4
	pa4 = -1.10894694282396677476e-01 // 0xBFBC63983D3E28EC
	pa5 = 3.54783043256182359371e-02  // 0x3FA22A36599795EB
	pa6 = -2.16637559486879084300e-03 // 0xBF61BF380A96073F
	qa1 = 1.06420880400844228286e-01  // 0x3FBB3E6618EEE323
	qa2 = 5.40397917702171048937e-01  // 0x3FE14AF092EB6F33
	qa3 = 7.18286544141962662868e-02  // 0x3FB2635CD99FE9A7
	qa4 = 1.26171219808761642112e-01  // 0x3FC02660E763351F
	qa5 = 1.36370839120290507362e-02  // 0x3F8BEDC26B51DD1C
	qa6 = 1.19844998467991074170e-02  // 0x3F888B545735151D
	// Coefficients for approximation to  erfc in [1.25, 1/0.35]
	ra0 = -9.86494403484714822705e-03 // 0xBF843412600D6435
	ra1 = -6.93858572707181764372e-01 // 0xBFE63416E4BA7360
	ra2 = -1.05586262253232909814e+01 // 0xC0251E0441B0E726
	ra3 = -6.23753324503260060396e+01 // 0xC04F300AE4CBA38D
	ra4 = -1.62396669462573470355e+02 // 0xC0644CB184282266
	ra5 = -1.84605092906711035994e+02 // 0xC067135CEBCCABB2
	ra6 = -8.12874355063065934246e+01 // 0xC054526557E4D2F2
	ra7 = -9.81432934416914548592e+00 // 0xC023A0EFC69AC25C
	sa1 = 1.96512716674392571292e+01  // 0x4033A6B9BD707687
	sa2 = 1.37657754143519042600e+02  // 0x4061350C526AE721
	sa3 = 4.34565877475229228821e+02  // 0x407B290DD58A1A71
	sa4 = 6.45387271733267880336e+02  // 0x40842B1921EC2868
	sa5 = 4.29008140027567833386e+02  // 0x407AD02157700314
	sa6 = 1.08635005541779435134e+02  // 0x405B28A3EE48AE2C
	sa7 = 6.57024977031928170135e+00  // 0x401A47EF8E484A93
	sa8 = -6.04244152148580987438e-02 // 0xBFAEEFF2EE749A62
	// Coefficients for approximation to  erfc in [1/.35, 28]
	rb0 = -9.86494292470009928597e-03 // 0xBF84341239E86F4A
	rb1 = -7.99283237680523006574e-01 // 0xBFE993BA70C285DE
	rb2 = -1.77579549177547519889e+01 // 0xC031C209555F995A
	rb3 = -1.60636384855821916062e+02 // 0xC064145D43C5ED98
	rb4 = -6.37566443368389627722e+02 // 0xC083EC881375F228
	rb5 = -1.02509513161107724954e+03 // 0xC09004616A2E5992
	rb6 = -4.83519191608651397019e+02 // 0xC07E384E9BDC383F
	sb1 = 3.03380607434824582924e+01  // 0x403E568B261D5190
	sb2 = 3.25792512996573918826e+02  // 0x40745CAE221B9F0A
	sb3 = 1.53672958608443695994e+03  // 0x409802EB189D5118
	sb4 = 3.19985821950859553908e+03  // 0x40A8FFB7688C246A
	sb5 = 2.55305040643316442583e+03  // 0x40A3F219CEDF3BE6
	sb6 = 4.74528541206955367215e+02  // 0x407DA874E79FE763
	sb7 = -2.24409524465858183362e+01 // 0xC03670E242712D62

	erfSmall = 1.0 / (1 << 28) // math.erf's Small: below it erf takes another formula
)

// geluScratch is geluSlice's working memory, reused across calls.
type geluScratch struct {
	a, e         []float64 // |x/√2| and erf(|x/√2|) of each element
	tailX, tailE []float64 // one group's arguments and results, packed
	groups       [6][]int32
}

// The groups of erf's formulas by |x|: [2⁻²⁸, 0.84375), [0.84375, 1.25), [1.25, 1/0.35),
// [1/0.35, 6), [6, ∞], and the rest (below 2⁻²⁸, or NaN), left to math.Erf.
const (
	erfPoly = iota
	erfNearOne
	erfTailNear
	erfTailFar
	erfOne
	erfOther
)

// geluSlice replaces each v[i] by v[i]·½(1 + math.Erf(v[i]/√2)), with the same bits.
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
		t[j] = a[i] * a[i]
	}
	g.ratios(q, t, &erfPolyCoef)
	for j, i := range idx {
		e[i] = a[i] + mul(a[i], q[j])
	}
	idx = g.groups[erfNearOne][:count[erfNearOne]]
	t, q = g.tailX[:len(idx)], g.tailE[:len(idx)]
	for j, i := range idx {
		t[j] = a[i] - 1
	}
	g.ratios(q, t, &erfNearOneCoef)
	for j, i := range idx {
		e[i] = erx + q[j]
	}
	for _, tail := range []struct {
		group int
		coef  *[16]float64
	}{{erfTailNear, &erfTailNearCoef}, {erfTailFar, &erfTailFarCoef}} {
		idx := g.groups[tail.group][:count[tail.group]]
		x, y := g.tailX[:len(idx)], g.tailE[:len(idx)]
		for j, i := range idx {
			x[j] = a[i]
		}
		for j := erfTails(y, x, tail.coef); j < len(x); j++ {
			y[j] = erfTail(x[j], tail.coef)
		}
		for j, i := range idx {
			e[i] = y[j]
		}
	}
	for _, i := range g.groups[erfOne][:count[erfOne]] {
		e[i] = 1
	}
	for _, i := range g.groups[erfOther][:count[erfOther]] {
		e[i] = math.Erf(a[i])
	}
	for i, x := range v {
		v[i] = x * 0.5 * (1 + math.Copysign(e[i], x))
	}
}

// erfPolyCoef and erfNearOneCoef are math.erf's rational terms below 0.84375 and below 1.25:
// P's coefficients from the constant term up, then Q's after its leading 1, padded with zeros
// to seven and six (exact, as for the tail's).
var (
	erfPolyCoef    = [13]float64{pp0, pp1, pp2, pp3, pp4, 0, 0, qq1, qq2, qq3, qq4, qq5, 0}
	erfNearOneCoef = [13]float64{pa0, pa1, pa2, pa3, pa4, pa5, pa6, qa1, qa2, qa3, qa4, qa5, qa6}
)

// ratios sets q[i] = P(t[i])/Q(t[i]) for the rational term coef (erfPolyCoef's layout).
func (g *geluScratch) ratios(q, t []float64, coef *[13]float64) {
	for i := erfRatios(q, t, coef); i < len(t); i++ {
		p, d := coef[6], coef[12]
		for k := 5; k >= 0; k-- {
			p = coef[k] + mul(t[i], p)
		}
		for k := 11; k >= 7; k-- {
			d = coef[k] + mul(t[i], d)
		}
		q[i] = p / (1 + mul(t[i], d))
	}
}

// erfTailNearCoef and erfTailFarCoef are the tail's rational term, R's coefficients from the
// constant term up, then S's after its leading 1, each padded with zeros to eight (the padding
// adds s·0 = 0 to the highest coefficient: the same bits as math.erf's shorter polynomials).
var (
	erfTailNearCoef = [16]float64{ra0, ra1, ra2, ra3, ra4, ra5, ra6, ra7, sa1, sa2, sa3, sa4, sa5, sa6, sa7, sa8}
	erfTailFarCoef  = [16]float64{rb0, rb1, rb2, rb3, rb4, rb5, rb6, 0, sb1, sb2, sb3, sb4, sb5, sb6, sb7, 0}
)

// erfTail is math.erf(x) for 1.25 ≤ x < 6, its rational term's coefficients coef.
func erfTail(x float64, coef *[16]float64) float64 {
	s := 1 / (x * x)
	r, q := coef[7], coef[15]
	for k := 6; k >= 0; k-- {
		r = coef[k] + mul(s, r)
	}
	for k := 14; k >= 8; k-- {
		q = coef[k] + mul(s, q)
	}
	q = 1 + mul(s, q)
	z := math.Float64frombits(math.Float64bits(x) & 0xffffffff00000000) // pseudo-single (20-bit) precision x
	return 1 - erfExp(mul(-z, z)-0.5625)*erfExp(mul(z-x, z+x)+r/q)/x
}

// mul is a·b rounded: no fused multiply-add may absorb it.
func mul(a, b float64) float64 { return float64(a * b) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// useExpFMA says whether expFMA reproduces math.Exp here (on amd64 with FMA, math.Exp is the
// assembly expFMA transcribes).
var useExpFMA = expFMAMatches()

// erfExp is math.Exp, through expFMA where that gives the same bits.
func erfExp(x float64) float64 {
	if useExpFMA && math.Abs(x) <= 700 {
		return expFMA(x)
	}
	return math.Exp(x)
}

// expFMA is math.Exp's amd64 assembly (exp_amd64.s, Go 1.27, its FMA path: N. Shibata's method
// from SLEEF) in Go, for |x| ≤ 700: x = k·ln 2 + r with k the nearest integer to x·log₂e,
// e^(r/16) by its Taylor series, squared four times as (y+1)² − 1 = y·(y + 2), times 2^k.
func expFMA(x float64) float64 {
	const (
		log2e = 1.4426950408889634073599246810018920
		ln2U  = 0.69314718055966295651160180568695068359375
		ln2L  = 0.28235290563031577122588448175013436025525412068e-12
		round = 0x1.8p52 // adding and subtracting it rounds to the nearest integer, ties to even
	)
	k := (mul(x, log2e) + round) - round
	r := math.FMA(-k, ln2U, x)
	r = math.FMA(-k, ln2L, r)
	r *= 0.0625
	p := math.FMA(r, 2.4801587301587301587e-5, 1.9841269841269841270e-4)
	p = math.FMA(r, p, 1.3888888888888888889e-3)
	p = math.FMA(r, p, 8.3333333333333333333e-3)
	p = math.FMA(r, p, 4.1666666666666666667e-2)
	p = math.FMA(r, p, 1.6666666666666666667e-1)
	p = math.FMA(r, p, 0.5)
	p = math.FMA(r, p, 1.0)
	y := r * p
	y *= y + 2
	y *= y + 2
	y *= y + 2
	y = math.FMA(y+2, y, 1.0)
	return y * math.Float64frombits(uint64(int64(k)+1023)<<52)
}

// expFMAMatches compares expFMA with math.Exp on arguments across its range and those erf's
// tail gives it.
func expFMAMatches() bool {
	for i := range 4096 {
		x := -700 + 1400*float64(i)/4095
		y := -40 + 41*float64(i)/4095
		for _, v := range []float64{x, y, math.Nextafter(y, 0)} {
			if math.Float64bits(expFMA(v)) != math.Float64bits(math.Exp(v)) {
				return false
			}
		}
	}
	return true
}
