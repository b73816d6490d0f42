package quant

import (
	"math"
	"math/rand/v2"
)

// rotation is the randomized block-Hadamard transform R = H·D of an input axis of width n
// (QuaRot, Ashkboos et al. 2024; RSQ uses the same rotation):
//
//   - D = diag(s), random signs s_j = ±1 drawn from the seed (see [newRotation]);
//   - H is block diagonal, one normalized Sylvester–Hadamard block H_m/√m per set bit of n,
//     largest first and contiguous: 64 is one block; 172 = 128+32+8+4 is blocks covering
//     columns [0,128), [128,160), [160,168), [168,172). An odd width ends with a 1×1 block
//     (that column is only sign-flipped).
//
// Each H_m/√m is symmetric and orthogonal, so R is orthogonal: R⁻¹ = Rᵀ = D·H. A weight
// matrix W [out, in] is rotated as W' = W·Rᵀ, i.e. every row w becomes R·w, and Q(W')·R
// restores the original basis, since W'·R = W·Rᵀ·R = W.
type rotation struct {
	signs  []float64
	blocks []int // block sizes, powers of two, largest first, summing to n
}

// rotationStream is the PCG stream constant of the sign generator.
const rotationStream = 0x9e3779b97f4a7c15

// newRotation returns the rotation of width n drawn from seed: sign j is negative when bit
// j mod 64 of the (j div 64)-th Uint64 of math/rand/v2's PCG seeded with (seed,
// 0x9e3779b97f4a7c15) is set.
func newRotation(n int, seed int64) rotation {
	rng := rand.NewPCG(uint64(seed), rotationStream)
	r := rotation{signs: make([]float64, n)}
	var word uint64
	for j := range n {
		if j%64 == 0 {
			word = rng.Uint64()
		}
		r.signs[j] = 1
		if word>>(j%64)&1 == 1 {
			r.signs[j] = -1
		}
	}
	for bit := 62; bit >= 0; bit-- {
		if m := 1 << bit; n&m != 0 {
			r.blocks = append(r.blocks, m)
		}
	}
	return r
}

// forward replaces each row of x ([rows, n] row-major) by R·row = H·(D·row).
func (r rotation) forward(x []float64) {
	n := len(r.signs)
	for row := 0; row < len(x); row += n {
		v := x[row : row+n]
		for j, s := range r.signs {
			v[j] *= s
		}
		r.hadamard(v)
	}
}

// inverse replaces each row of x by Rᵀ·row = D·(H·row).
func (r rotation) inverse(x []float64) {
	n := len(r.signs)
	for row := 0; row < len(x); row += n {
		v := x[row : row+n]
		r.hadamard(v)
		for j, s := range r.signs {
			v[j] *= s
		}
	}
}

// hadamard applies the block-diagonal normalized Hadamard H to v in place: a fast
// Walsh–Hadamard transform per block, scaled by 1/√m.
func (r rotation) hadamard(v []float64) {
	lo := 0
	for _, m := range r.blocks {
		b := v[lo : lo+m]
		for h := 1; h < m; h *= 2 {
			for i := 0; i < m; i += 2 * h {
				for j := i; j < i+h; j++ {
					b[j], b[j+h] = b[j]+b[j+h], b[j]-b[j+h]
				}
			}
		}
		scale := 1 / math.Sqrt(float64(m))
		for j := range b {
			b[j] *= scale
		}
		lo += m
	}
}

// spread maps a diagonal Fisher f ([rows, n]) to the rotated basis: F'_ij = Σ_k R_jk²·F_ik,
// the diagonal of the rotated Fisher when a row's gradient entries are uncorrelated (the
// diagonal approximation SqueezeLLM already makes). R_jk² is 1/m inside a block of size m
// and 0 outside, so every entry becomes its block's mean.
func (r rotation) spread(f []float64) {
	n := len(r.signs)
	for row := 0; row < len(f); row += n {
		lo := row
		for _, m := range r.blocks {
			b := f[lo : lo+m]
			var sum float64
			for _, v := range b {
				sum += v
			}
			for j := range b {
				b[j] = sum / float64(m)
			}
			lo += m
		}
	}
}
