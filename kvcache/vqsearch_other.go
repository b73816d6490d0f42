//go:build !(amd64 && goexperiment.simd)

package kvcache

// vqColumns is the transposed codebook of the AVX-512 search, which this build (without
// GOEXPERIMENT=simd on amd64) lacks: always nil, so vqNearestColumns is never called.
func vqColumns(book []float32, d int) []float32 { return nil }

func vqNearestColumns(v, cols []float32) int { panic("kvcache: vqNearestColumns without SIMD") }
