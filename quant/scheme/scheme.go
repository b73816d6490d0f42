// Package scheme is the one vocabulary in which every quantizer of the zoo describes itself
// ([Scheme]: what it quantizes, its method, bits per code, data type, block size and axis,
// symmetry, codebook) and reports its storage ([Storage]: bits of codes, scales, zero points,
// tables, outliers, shared constants and full-precision parts), so that a study can sweep
// bits, block size or data type across weights (package quant, layers/qat), key/value caches
// (kvcache) and latents (layers/vq) and add up a model's total bits with one function
// ([TotalBits]).
//
// Units: every Storage term is in bits. Terms are float64 so that a rate of log₂K bits for a
// codebook of K entries that is not a power of two (FSQ's 1000 codes: 9.97 bits) can be
// stated; every integer count of bits below 2⁵³ and every sum of them is exact.
package scheme

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is what a quantizer quantizes.
type Kind string

const (
	Weights     Kind = "weights"     // a model's parameters (post-training or quantization-aware)
	Activations Kind = "activations" // a layer's inputs (e.g. LSQ on the inputs of a linear layer)
	Cache       Kind = "cache"       // a transformer's key/value cache, one Scheme per side
	Latents     Kind = "latents"     // the latent vectors of an autoencoder
)

// Format is the data type of a code: how a code maps to a value.
type Format string

const (
	// Int is a uniform integer grid of 2^Bits levels times a scale (and minus a zero point
	// when asymmetric).
	Int Format = "int"
	// Float is a floating-point format of [DataType.Exponent] exponent and
	// [DataType.Mantissa] mantissa bits plus a sign bit (E2M1 is FP4, E4M3 and E5M2 FP8,
	// E5M10 binary16, E8M23 binary32).
	Float Format = "float"
	// NormalFloat is a grid of the quantiles of a normal distribution (QLoRA's NF4).
	NormalFloat Format = "nf"
	// Lookup is a learned table of 2^Bits scalar levels (a non-uniform grid fitted by
	// k-means or Lloyd–Max: SqueezeLLM, KVQuant's datatype, a rotated cache's levels).
	Lookup Format = "lut"
	// Codebook is a learned table of vectors: a code indexes one of [Scheme.Codebook]
	// vectors of [Scheme.Dim] values (VQ, EMA VQ, SimVQ, a cache's VQ).
	Codebook Format = "codebook"
	// Sign is one bit per value, its sign (LFQ, binary latents).
	Sign Format = "sign"
	// Levels is a fixed grid of [DataType.Levels] levels per dimension (FSQ).
	Levels Format = "levels"
)

// DataType is a code's data type: its [Format] and, for Float, the exponent/mantissa split,
// for Levels the levels of each dimension.
type DataType struct {
	Format             Format
	Exponent, Mantissa int   // Float: exponent and mantissa bits (the sign bit apart)
	Levels             []int // Levels: L_i ≥ 2 per dimension (FSQ)
}

// Common data types.
var (
	Integer = DataType{Format: Int}
	FP16    = DataType{Format: Float, Exponent: 5, Mantissa: 10}
	FP32    = DataType{Format: Float, Exponent: 8, Mantissa: 23}
	NF      = DataType{Format: NormalFloat}
	LUT     = DataType{Format: Lookup}
	Vectors = DataType{Format: Codebook}
	Binary  = DataType{Format: Sign}
	E2M1    = DataType{Format: Float, Exponent: 2, Mantissa: 1}
	E4M3    = DataType{Format: Float, Exponent: 4, Mantissa: 3}
	E5M2    = DataType{Format: Float, Exponent: 5, Mantissa: 2}
)

// String is the data type's name: "int", "e4m3", "nf", "lut", "codebook", "sign" or
// "levels[8,5,5,5]".
func (d DataType) String() string {
	switch d.Format {
	case Float:
		return fmt.Sprintf("e%dm%d", d.Exponent, d.Mantissa)
	case Levels:
		parts := make([]string, len(d.Levels))
		for i, l := range d.Levels {
			parts[i] = strconv.Itoa(l)
		}
		return "levels[" + strings.Join(parts, ",") + "]"
	}
	return string(d.Format)
}

// Axis is what a block of values sharing constants (a scale, a zero point, a table) runs
// along.
type Axis string

const (
	// PerTensor: one set of constants for the whole tensor (or none at all).
	PerTensor Axis = "tensor"
	// PerRow: along a weight's output row, i.e. over its input columns ([out, in] layout). A
	// block wider than the row runs on over the following rows: blocks of the row-major
	// flattened weight (Dettmers & Zettlemoyer 2023's blockwise quantization).
	PerRow Axis = "row"
	// PerChannel: along one channel of a cache over consecutive tokens (KIVI's keys).
	PerChannel Axis = "channel"
	// PerToken: along the channels of one token (a cache's values).
	PerToken Axis = "token"
	// PerVector: a code stands for a whole vector (a latent or a cache head), no block.
	PerVector Axis = "vector"
)

// Scheme describes a quantizer. The zero value of a field means "not applicable".
type Scheme struct {
	Kind   Kind   // what is quantized
	Method string // the family's method name: "rtn", "kivi", "simvq", ...
	// Bits is the width of one code: per value for scalar formats; per vector for Codebook
	// (log₂ Codebook), Levels (log₂ ∏L_i) and Sign (the dimensions), summed over Stages.
	Bits float64
	Type DataType
	// Block is the number of values sharing one set of constants along Axis; 0 means the
	// whole axis (a row, all of a token's channels) or, for PerTensor and PerVector, none.
	Block int
	Axis  Axis
	// Symmetric is true for an Int grid centred on 0 with a scale only, false for an
	// asymmetric one with a zero point (float formats are symmetric by construction).
	Symmetric bool
	// Codebook is the entries of one stage's table (Lookup: 2^Bits levels per block;
	// Codebook: K vectors); Stages the residual stages (0 or 1: one); Dim the values one code
	// covers (1 or 0 for scalar codes).
	Codebook, Stages, Dim int
}

// String is the scheme in one notation, fields separated by spaces:
//
//	kind/method type bits [sym|asym] [K=codebook[×stages]] [d=dim] block
//
// (sym or asym for Int only)
//
// bits is "b4" (or "b9.966" for a non-integer rate); block is "g<N>/<axis>" for blocks of N
// values along axis, or the axis alone for the whole axis. Examples: "weights/rtn int b4
// asym g32/row", "weights/nf4 nf b4 g64/row", "cache/kivi int b2 asym g32/channel",
// "latents/simvq codebook b10 K=1024 d=64 vector".
func (s Scheme) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s %s b%s", s.Kind, s.Method, s.Type, strconv.FormatFloat(s.Bits, 'g', 4, 64))
	if s.Type.Format == Int {
		if s.Symmetric {
			b.WriteString(" sym")
		} else {
			b.WriteString(" asym")
		}
	}
	if s.Codebook > 0 && s.Type.Format != Lookup {
		fmt.Fprintf(&b, " K=%d", s.Codebook)
		if s.Stages > 1 {
			fmt.Fprintf(&b, "×%d", s.Stages)
		}
	}
	if s.Dim > 1 {
		fmt.Fprintf(&b, " d=%d", s.Dim)
	}
	if s.Block > 0 {
		fmt.Fprintf(&b, " g%d/%s", s.Block, s.Axis)
	} else if s.Axis != "" {
		b.WriteString(" " + string(s.Axis))
	}
	return b.String()
}

// CodeBits is log₂ k, the bits of a code of a table of k entries (k ≥ 1).
func CodeBits(k int) float64 { return math.Log2(float64(k)) }

// BitsPerValue is the code bits per value, Bits/Dim (Bits for scalar codes): the number a
// sweep over "bits" sets, before scales, tables and other side storage.
func (s Scheme) BitsPerValue() float64 { return s.Bits / float64(max(s.Dim, 1)) }

// Keys names the hyperparameters that hold a family's common settings, where its keys
// mean what the vocabulary means: Bits the bits per code, Block the values sharing one set
// of constants (0: the whole axis), Symmetric an Int grid without zero point. A family
// without one of them leaves its name "". The config keys stay the families' own (ptq_bits,
// qat_bits, kv_bits, ...); Keys reads them one way.
type Keys struct {
	Bits, Block, Symmetric string
}

// Common are the settings Keys names, read from a resolved config.
type Common struct {
	Bits, Block int
	Symmetric   bool
}

// Read reads the settings k names from params (every named key present, of type int for
// Bits and Block and bool for Symmetric, as a resolved config holds them).
func (k Keys) Read(params map[string]any) Common {
	var c Common
	if k.Bits != "" {
		c.Bits = params[k.Bits].(int)
	}
	if k.Block != "" {
		c.Block = params[k.Block].(int)
	}
	if k.Symmetric != "" {
		c.Symmetric = params[k.Symmetric].(bool)
	}
	return c
}
