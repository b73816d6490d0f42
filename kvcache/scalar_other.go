//go:build !(amd64 && goexperiment.simd)

package kvcache

// channelCodesSIMD is the AVX-512 form of channelCodesScalar, which this build (without
// GOEXPERIMENT=simd on amd64) lacks: it always returns false.
func channelCodesSIMD(x []float32, w, bits int, grid []asymmetric, codes []uint8, deq []float32) bool {
	return false
}

// channelRangeSIMD is the AVX-512 form of channelRange, which this build lacks: false.
func channelRangeSIMD(x []float32, w int, lo, hi []float32) bool { return false }
