package qat

import (
	"fmt"

	"github.com/qzoo/qzoo/quant"
	"github.com/qzoo/qzoo/quant/scheme"
)

// Methods of [Settings].
const (
	MethodSTE = "ste" // [FakeQuant]: round to nearest, straight-through gradient
	MethodLSQ = "lsq" // [LSQ]: learned step size, always symmetric (signed)
)

// Settings are the fake quantizer of a linear weight: [FakeQuant] (ste) or [LSQ] (lsq) at
// Bits bits in groups of GroupSize input columns of a row (0: the whole row).
type Settings struct {
	Method    string
	Bits      int
	GroupSize int
	Symmetric bool // ste only: lsq is always symmetric
}

// Scheme describes the settings in the zoo's vocabulary: weights, an int grid of Bits bits,
// blocks of GroupSize along a row, symmetric for lsq.
func (s Settings) Scheme() scheme.Scheme {
	return scheme.Scheme{Kind: scheme.Weights, Method: s.Method, Bits: float64(s.Bits), Type: scheme.Integer,
		Block: s.GroupSize, Axis: scheme.PerRow, Symmetric: s.Method == MethodLSQ || s.Symmetric}
}

// Stored is the stored format the fake quantizer stands for once training ends: rtn at Bits
// in groups of GroupSize, symmetric as [Settings.Scheme] says (b-bit codes and an fp16 scale
// per group, plus a b-bit zero point when asymmetric; LSQ's steps are those scales).
func (s Settings) Stored() quant.Spec {
	return quant.Spec{Method: quant.MethodRTN, Bits: s.Bits, GroupSize: s.GroupSize, Symmetric: s.Scheme().Symmetric}
}

// Storage is the storage of a rows×cols weight in the [Settings.Stored] format. A group size
// wider than the row is one group per row, as [FakeQuant] and [LSQ] group (quant's blocks
// would run over the flattened matrix there). Errors: a method other than ste and lsq, or bits
// and group size the stored format refuses.
func (s Settings) Storage(rows, cols int) (scheme.Storage, error) {
	if s.Method != MethodSTE && s.Method != MethodLSQ {
		return scheme.Storage{}, fmt.Errorf("qat: method %q is not %s or %s", s.Method, MethodSTE, MethodLSQ)
	}
	spec := s.Stored()
	if spec.GroupSize > cols {
		spec.GroupSize = 0
	}
	if err := spec.Validate(); err != nil {
		return scheme.Storage{}, fmt.Errorf("qat: stored format of %s: %w", s.Scheme(), err)
	}
	return spec.Storage(rows, cols), nil
}

// ActivationScheme describes [LSQActivation] at bits: activations, a signed int grid with
// one learned step for the tensor.
func ActivationScheme(bits int) scheme.Scheme {
	return scheme.Scheme{Kind: scheme.Activations, Method: MethodLSQ, Bits: float64(bits), Type: scheme.Integer,
		Axis: scheme.PerTensor, Symmetric: true}
}
