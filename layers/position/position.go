// Package position holds position encodings: rotary position embeddings on interleaved pairs, as
// llama2.c applies them (Su et al. 2021, "RoFormer", eq. 34), and the fixed 2-D sine–cosine
// embedding of a grid of patches (the ViT/MAE form, Vaswani et al. 2017 §3.5 per axis).
//
// RoPE rotates the adjacent pairs (2i, 2i+1) of each head of size h at position p by p·θ_i,
// θ_i = b^(−2i/h) with base b = 10000 ([RoPEBase]; models trained with another base, such as
// Hugging Face's rope_theta, pass theirs to [RoPEAnglesBase]) — llama2.c's pairing, not the
// half-split pairing (i, i + h/2) of Hugging Face's Llama or of GoMLX's ml/layers/attention/pos,
// which is why this package has its own (models/llama permutes a Hugging Face model's query and
// key rows on import instead).
//
// Models trained for a longer context than their RoPE was pretrained on rescale the rates
// ([RoPEScaling], [RoPEFrequencies]): "linear" divides every θ_i by a factor (position
// interpolation, Chen et al. 2023), "llama3" is Meta's Llama 3.1 rule (Hugging Face
// transformers' rope_type "llama3"), which leaves the fast rotations alone, divides the slow
// ones by the factor and blends the rates between. The graph ([RoPEAnglesScaled]), models'
// host-side rotations and their reference implementations all take the rates from
// [RoPEFrequencies], the one statement of the rule.
package position

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// RoPEBase is RoFormer's (and llama2.c's) base b of the rotation rates θ_i = b^(−2i/headDim).
const RoPEBase = 10000

// RoPEFrequency is θ_i = 10000^(−2i/headDim), the rotation rate of pair i in radians per position
// (RoFormer eq. 15).
func RoPEFrequency(i, headDim int) float64 { return RoPEFrequencyBase(i, headDim, RoPEBase) }

// RoPEFrequencyBase is θ_i = base^(−2i/headDim), the rotation rate of pair i with another base
// (Hugging Face's rope_theta, e.g. 100000 for SmolLM2, 1000000 for Qwen2).
func RoPEFrequencyBase(i, headDim int, base float64) float64 {
	return 1 / math.Pow(base, float64(2*i)/float64(headDim))
}

// The kinds of [RoPEScaling]: Hugging Face's rope_type values.
const (
	RoPEScalingLinear = "linear" // θ_i / factor
	RoPEScalingLlama3 = "llama3" // Meta's Llama 3.1 rule (see [RoPEScaling.Scale])
)

// RoPEScaling rescales RoPE's rates θ_i (Hugging Face's rope_scaling). The zero value (Type
// "") scales nothing; fields a type does not use are zero, so that equal scalings compare
// equal.
type RoPEScaling struct {
	// Type is "" (none), [RoPEScalingLinear] or [RoPEScalingLlama3].
	Type string
	// Factor is how many times longer the context is than the one the rates were trained for
	// (≥ 1; Llama 3.1: 8, Llama 3.2: 32).
	Factor float64
	// LowFreqFactor and HighFreqFactor (llama3; Meta's 1 and 4) bound the band of blended
	// rates: wavelengths above OriginalMaxPositions/LowFreqFactor are scaled, those below
	// OriginalMaxPositions/HighFreqFactor are not. 0 < LowFreqFactor < HighFreqFactor.
	LowFreqFactor, HighFreqFactor float64
	// OriginalMaxPositions (llama3) is the context the rates were pretrained for (8192).
	OriginalMaxPositions int
}

// Validate says what is wrong with s: an unknown type, a factor below 1, llama3's band
// factors not 0 < low < high, an original context below 1, or a field set that the type does
// not use.
func (s RoPEScaling) Validate() error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch s.Type {
	case "":
		if s != (RoPEScaling{}) {
			return fmt.Errorf("RoPE scaling without a type has values set: %+v", s)
		}
		return nil
	case RoPEScalingLinear, RoPEScalingLlama3:
	default:
		return fmt.Errorf("RoPE scaling %q is not supported (only %q and %q)", s.Type, RoPEScalingLlama3, RoPEScalingLinear)
	}
	if !(s.Factor >= 1) || !finite(s.Factor) {
		return fmt.Errorf("RoPE scaling %s: factor %g is not a number ≥ 1", s.Type, s.Factor)
	}
	if s.Type == RoPEScalingLinear {
		if s.LowFreqFactor != 0 || s.HighFreqFactor != 0 || s.OriginalMaxPositions != 0 {
			return fmt.Errorf("RoPE scaling linear has llama3's band set (low %g, high %g, original context %d)",
				s.LowFreqFactor, s.HighFreqFactor, s.OriginalMaxPositions)
		}
		return nil
	}
	if !(s.LowFreqFactor > 0) || !finite(s.HighFreqFactor) || !(s.HighFreqFactor > s.LowFreqFactor) {
		return fmt.Errorf("RoPE scaling llama3: low_freq_factor %g and high_freq_factor %g are not 0 < low < high",
			s.LowFreqFactor, s.HighFreqFactor)
	}
	if s.OriginalMaxPositions < 1 {
		return fmt.Errorf("RoPE scaling llama3: original context %d is not ≥ 1", s.OriginalMaxPositions)
	}
	return nil
}

// Scale returns the rate f (radians per position) rescaled. linear: f / Factor. llama3, with
// wavelength λ = 2π/f, L = OriginalMaxPositions, lo = LowFreqFactor, hi = HighFreqFactor:
//
//	λ < L/hi:         f                     (fast rotations, seen whole in the original context)
//	λ > L/lo:         f / Factor            (slow ones, interpolated)
//	otherwise:        (1 − s)·f/Factor + s·f,  s = (L/λ − lo) / (hi − lo) ∈ [0, 1]
//
// (Meta's Llama 3.1 apply_scaling; transformers' _compute_llama3_parameters). No type: f.
func (s RoPEScaling) Scale(f float64) float64 {
	switch s.Type {
	case RoPEScalingLinear:
		return f / s.Factor
	case RoPEScalingLlama3:
		orig := float64(s.OriginalMaxPositions)
		wavelength := 2 * math.Pi / f
		switch {
		case wavelength < orig/s.HighFreqFactor:
			return f
		case wavelength > orig/s.LowFreqFactor:
			return f / s.Factor
		}
		smooth := (orig/wavelength - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
		return (1-smooth)*f/s.Factor + smooth*f
	}
	return f
}

// RoPEFrequencies returns the headDim/2 rates θ_i = base^(−2i/headDim) ([RoPEFrequencyBase])
// rescaled by s ([RoPEScaling.Scale]; the zero RoPEScaling leaves them as they are).
func RoPEFrequencies(headDim int, base float64, s RoPEScaling) []float64 {
	freqs := make([]float64, headDim/2)
	for i := range freqs {
		freqs[i] = s.Scale(RoPEFrequencyBase(i, headDim, base))
	}
	return freqs
}

// RoPEAngles returns cos and sin of p·θ_i, [T, headDim/2] each (float32), for positions [T]
// (int32): the tables [RoPE] rotates by, computed once for every layer.
func RoPEAngles(positions *graph.Node, headDim int) (cos, sin *graph.Node) {
	return RoPEAnglesBase(positions, headDim, RoPEBase)
}

// RoPEAnglesBase is [RoPEAngles] with the rates θ_i = base^(−2i/headDim).
func RoPEAnglesBase(positions *graph.Node, headDim int, base float64) (cos, sin *graph.Node) {
	return RoPEAnglesScaled(positions, headDim, base, RoPEScaling{})
}

// RoPEAnglesScaled is [RoPEAngles] with the rates [RoPEFrequencies](headDim, base, s),
// rounded to float32.
func RoPEAnglesScaled(positions *graph.Node, headDim int, base float64, s RoPEScaling) (cos, sin *graph.Node) {
	g := positions.Graph()
	freqs := make([]float32, headDim/2)
	for i, f := range RoPEFrequencies(headDim, base, s) {
		freqs[i] = float32(f)
	}
	p := graph.InsertAxes(graph.ConvertDType(positions, dtypes.Float32), -1)
	angles := graph.Mul(p, graph.InsertAxes(graph.Const(g, freqs), 0))
	return graph.Cos(angles), graph.Sin(angles)
}

// RoPE rotates the adjacent pairs of x [B, T, heads, headDim] by the angles whose cos and sin
// [T, headDim/2] are given: (x₀, x₁) ↦ (x₀cos − x₁sin, x₀sin + x₁cos).
func RoPE(x, cos, sin *graph.Node) *graph.Node {
	if x.Rank() != 4 || x.Shape().Dimensions[3]%2 != 0 {
		exceptions.Panicf("position.RoPE: x must be [batch, time, heads, head_dim] with an even head_dim, got %s", x.Shape())
	}
	dims := x.Shape().Dimensions
	b, t, h, hd := dims[0], dims[1], dims[2], dims[3]
	pairs := graph.Reshape(x, b, t, h, hd/2, 2)
	x0 := graph.Squeeze(graph.Slice(pairs, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, 1)), -1)
	x1 := graph.Squeeze(graph.Slice(pairs, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(1, 2)), -1)
	c := graph.InsertAxes(cos, 0, 1) // [1, T, 1, hd/2]
	s := graph.InsertAxes(sin, 0, 1)
	c = graph.Reshape(c, 1, t, 1, hd/2)
	s = graph.Reshape(s, 1, t, 1, hd/2)
	r0 := graph.Sub(graph.Mul(x0, c), graph.Mul(x1, s))
	r1 := graph.Add(graph.Mul(x0, s), graph.Mul(x1, c))
	return graph.Reshape(graph.Stack([]*graph.Node{r0, r1}, -1), b, t, h, hd)
}

// Sinusoidal2D is the fixed 2-D sine–cosine embedding [1, nh·nw, d] (float32) of an nh × nw grid of
// tokens numbered row-major: for the token at row r and column c, with q = ⌊d/4⌋ and
// ω_k = 10000^(−k/q),
//
//	e[k] = sin(r·ω_k),  e[q+k] = cos(r·ω_k),  e[2q+k] = sin(c·ω_k),  e[3q+k] = cos(c·ω_k),  k < q,
//
// and zero in the d − 4q channels left over when 4 does not divide d.
func Sinusoidal2D(g *graph.Graph, nh, nw, d int) *graph.Node {
	q := d / 4
	values := make([][]float32, nh*nw)
	for i := range nh {
		for j := range nw {
			row := make([]float32, d)
			for k := range q {
				omega := 1 / math.Pow(10000, float64(k)/float64(max(q, 1)))
				row[k] = float32(math.Sin(float64(i) * omega))
				row[q+k] = float32(math.Cos(float64(i) * omega))
				row[2*q+k] = float32(math.Sin(float64(j) * omega))
				row[3*q+k] = float32(math.Cos(float64(j) * omega))
			}
			values[i*nw+j] = row
		}
	}
	return graph.Reshape(graph.Const(g, values), 1, nh*nw, d)
}
