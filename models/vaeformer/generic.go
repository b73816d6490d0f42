//go:build !amd64 || purego

package vaeformer

// Without the assembly kernels (other architectures, or -tags purego): the Go loops.

const useAVX2 = false

// addRows adds xs[t]·w[offs[t] : offs[t]+len(out)] to out for t = 0, 1, … in order.
func addRows(out, w []float64, offs []int, xs []float64) { addRowsGo(out, w, offs, xs) }

// erfTails leaves every element of erf's tail to the Go loop.
func erfTails(e, x []float64, coef *[16]float64) int { return 0 }

// erfRatios leaves every rational term to the Go loop.
func erfRatios(q, t []float64, coef *[13]float64) int { return 0 }
