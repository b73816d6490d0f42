package qat

import (
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// MaxBits is the widest bit width the quantizers of this package accept; up to it every
// integer level and zero point is exact in float32.
const MaxBits = 16

// minRange floors the range (absmax, or max − min) of a group before it becomes a scale, so
// that a constant or all-zero group gets a positive scale and stays finite. AWQ's round-to-
// nearest quantizer (Lin et al. 2024, pseudo_quantize_tensor) floors it at the same 10⁻⁵.
const minRange = 1e-5

// FakeQuant returns w [out, in], a linear weight in PyTorch's layout (y = x·Wᵀ), quantized to
// bits-bit integers by round-to-nearest and dequantized again, with the straight-through
// estimator (Bengio, Léonard and Courville 2013, arXiv:1308.3432) as its gradient: the
// forward value is the dequantized weight q(w), the gradient w.r.t. w is the identity,
//
//	FakeQuant(w) = w + StopGradient(q(w) − w).
//
// Each output row is cut into groups of groupSize consecutive input columns, each with its
// own scale (and zero point), computed from w itself and treated as constants (they sit inside
// the StopGradient). groupSize 0, or ≥ in, makes one group per row; when groupSize does not
// divide in, the last group of each row is narrower (in = 172, groupSize = 64: groups of 64,
// 64 and 44 columns): the graph pads the rows with zero columns to a multiple of groupSize,
// masks the padding out of the statistics and slices it off again.
//
// Per group of values v, with Q_P = 2^(b−1) − 1 (symmetric) or L = 2^b − 1 (asymmetric):
//
//	symmetric:  Δ = max(max|v|, 10⁻⁵)/Q_P,          q(v) = clip(round(v/Δ), −2^(b−1), Q_P)·Δ
//	asymmetric: Δ = max(max v − min v, 10⁻⁵)/L,
//	            z = round(−min v/Δ),                  q(v) = (clip(round(v/Δ) + z, 0, L) − z)·Δ
//
// round is to nearest, ties to even. Symmetric quantization maps ±max|v| to ±Q_P, so the
// level −2^(b−1) goes unused; asymmetric quantization spreads the 2^b levels over
// [min v, max v], shifted by the rounding of z so that 0 is a level when the group straddles
// it. Both follow the round-to-nearest baseline of AWQ (Lin et al. 2024, MLSys).
//
// Symmetric needs 2 ≤ bits ≤ [MaxBits], asymmetric 1 ≤ bits ≤ [MaxBits]; FakeQuant panics
// otherwise, or if w is not a float matrix, or groupSize < 0.
func FakeQuant(w *graph.Node, bits, groupSize int, symmetric bool) *graph.Node {
	gr := newGrouping(w, groupSize, "FakeQuant")
	checkBits("FakeQuant", bits, symmetric)
	v := gr.split(w)
	var q *graph.Node
	if symmetric {
		q = roundSymmetric(v, bits)
	} else {
		q = roundAsymmetric(v, gr.mask(w.Graph()), bits)
	}
	return graph.Add(w, graph.StopGradient(graph.Sub(gr.merge(q), w)))
}

// checkBits panics unless 2 ≤ bits ≤ MaxBits (signed) or 1 ≤ bits ≤ MaxBits (unsigned).
func checkBits(fn string, bits int, signed bool) {
	lowest := 1
	if signed {
		lowest = 2 // a 1-bit signed grid {−1, 0} has Q_P = 0: no positive level
	}
	if bits < lowest || bits > MaxBits {
		exceptions.Panicf("qat: %s bits must be in [%d, %d] (signed=%v), got %d", fn, lowest, MaxBits, signed, bits)
	}
}

// roundSymmetric quantizes the grouped view v [out, n, size] (zero padding included, which
// leaves max|v| unchanged) with one absmax scale per group.
func roundSymmetric(v *graph.Node, bits int) *graph.Node {
	g := v.Graph()
	qp := math.Exp2(float64(bits-1)) - 1
	absMax := graph.ReduceAndKeep(graph.Abs(v), graph.ReduceMax, -1)
	scale := graph.Div(graph.MaxScalar(absMax, minRange), graph.Scalar(g, v.DType(), qp))
	levels := graph.ClipScalar(graph.Round(graph.Div(v, scale)), -(qp + 1), qp)
	return graph.Mul(levels, scale)
}

// roundAsymmetric quantizes the grouped view v [out, n, size] with one min/max scale and zero
// point per group; valid [out, n, size] keeps the padding out of min and max.
func roundAsymmetric(v, valid *graph.Node, bits int) *graph.Node {
	g := v.Graph()
	top := math.Exp2(float64(bits)) - 1
	lo := graph.InsertAxes(graph.MaskedReduceMin(v, valid, -1), -1)
	hi := graph.InsertAxes(graph.MaskedReduceMax(v, valid, -1), -1)
	scale := graph.Div(graph.MaxScalar(graph.Sub(hi, lo), minRange), graph.Scalar(g, v.DType(), top))
	zero := graph.Round(graph.Div(graph.Neg(lo), scale))
	levels := graph.ClipScalar(graph.Add(graph.Round(graph.Div(v, scale)), zero), 0, top)
	return graph.Mul(graph.Sub(levels, zero), scale)
}
