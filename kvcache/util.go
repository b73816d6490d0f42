package kvcache

import "github.com/qzoo/qzoo/quant"

// appendFloat16 appends x rounded to binary16.
func appendFloat16(dst []uint16, x []float32) []uint16 {
	for _, v := range x {
		dst = append(dst, quant.ToFloat16(v))
	}
	return dst
}

// readFloat16 writes the float32 values of h into dst.
func readFloat16(h []uint16, dst []float32) {
	for i, v := range h {
		dst[i] = quant.FromFloat16(v)
	}
}
