//go:build !purego

package vaeformer

// The dense layers' inner loop in AVX2 on amd64 (dense_amd64.s): four outputs per instruction,
// each output still computed as out + x_0·w_0j + x_1·w_1j + … in row order with a rounded
// product and a rounded sum per term, so the bits are those of addRowsGo.

//go:noescape
func addRowsAVX2(out *float64, n int, w *float64, offs *int, xs *float64, k int)

// addRows adds xs[t]·w[offs[t] : offs[t]+len(out)] to out for t = 0, 1, … in order; every
// offs[t]+len(out) must be ≤ len(w).
func addRows(out, w []float64, offs []int, xs []float64) {
	n4 := len(out) &^ 3
	if !useAVX2 || n4 == 0 || len(offs) == 0 {
		addRowsGo(out, w, offs, xs)
		return
	}
	xs = xs[:len(offs)]
	for _, o := range offs { // the assembly does not check bounds
		if o < 0 || o+len(out) > len(w) {
			panic("vaeformer: addRows: row offset out of range")
		}
	}
	addRowsAVX2(&out[0], n4, &w[0], &offs[0], &xs[0], len(offs))
	if n4 < len(out) {
		addRowsGo(out[n4:], w[n4:], offs, xs)
	}
}
