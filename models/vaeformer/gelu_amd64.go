//go:build !purego

package vaeformer

// detmath.Erf's formulas four elements per instruction in AVX2 (gelu_amd64.s), for geluSlice.

//go:noescape
func ratioAVX2(q, t *float64, n int, coef *[13]float64)

// erfRatios sets q[i] = P(t[i])/Q(t[i]) (coefficients coef: P's seven, then Q's six after its
// leading 1) for the first n elements, a multiple of 4, and returns n; 0 without AVX2.
func erfRatios(q, t []float64, coef *[13]float64) int {
	n := len(t) &^ 3
	if !useAVX2 || n == 0 {
		return 0
	}
	ratioAVX2(&q[:n][0], &t[0], n, coef)
	return n
}

//go:noescape
func erfTailAVX2(e, a *float64, n int, coef *[16]float64)

// erfTails sets e[i] to erf's tail 1 − detmath.ErfcTail(x[i], coef) (1.25 ≤ x[i] < 6) for the
// first n elements, a multiple of 4, and returns n; 0 without AVX2 or FMA (the assembly's
// exponential is detmath.Exp's FMA steps).
func erfTails(e, x []float64, coef *[16]float64) int {
	n := len(x) &^ 3
	if !useAVX2 || !hasFMA || n == 0 {
		return 0
	}
	erfTailAVX2(&e[:n][0], &x[0], n, coef)
	return n
}
