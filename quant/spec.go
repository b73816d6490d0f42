package quant

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/quant/scheme"
)

// Method names accepted in [Spec.Method].
const (
	MethodRTN        = "rtn"        // uniform round-to-nearest, per group scale (and zero point)
	MethodNF4        = "nf4"        // QLoRA's 4-bit NormalFloat with absmax blocks
	MethodSqueezeLLM = "squeezellm" // non-uniform: Fisher-weighted k-means lookup table per group
	MethodFloat      = "float"      // a sign/exponent/mantissa float format, fp16 absmax per block
	MethodNF         = "nf"         // NormalFloat-k (k = 2..8), fp16 absmax per block
)

// Methods lists the valid [Spec.Method] values, in the order of their codec numbers.
var Methods = []string{MethodRTN, MethodNF4, MethodSqueezeLLM, MethodFloat, MethodNF}

// Defaults and limits of a [Spec].
const (
	MinBits            = 2       // fewest bits per code for rtn, squeezellm and nf
	MaxBits            = 8       // most bits per code for squeezellm; rtn also 9..MaxRTNBits
	MaxRTNBits         = 16      // most bits per code for rtn
	NF4Bits            = 4       // nf4's code width (Spec.Bits 0 means this)
	DefaultNF4Block    = 64      // nf4's absmax block size when Spec.GroupSize is 0 (QLoRA §3)
	DoubleQuantBlock   = 256     // nf4 double quantization: absmax constants per second-level block
	MaxOutlierFraction = 0.1     // largest Spec.OutlierFraction
	MaxDim             = 1 << 24 // largest rows, cols and group size
	MaxParams          = 1 << 30 // largest rows·cols
)

// Spec selects a quantizer. The zero value of a field means its default where one is stated.
// Symmetric or DoubleQuant set for a method they do not apply to is an error (Validate), so
// that a configuration never silently ignores them; Seed is unused without Hadamard.
type Spec struct {
	// Method is one of [Methods]: "rtn", "nf4", "squeezellm", "float" or "nf".
	Method string
	// Bits is the code width: 2..16 for rtn, 2..8 for squeezellm and nf, 3..8 or 16 for
	// float; nf4 is always 4 (0 or 4 accepted).
	Bits int
	// Exponent (float only) is the exponent bits E of the format, the mantissa getting
	// M = Bits−1−E: 1..min(Bits−1, 8). 0 means E5M10 (binary16) at 16 bits and ⌊Bits/2⌋
	// otherwise: FP4 E2M1, FP6 E3M2, FP8 E4M3 (the package documentation's "Float formats"
	// gives the top-exponent convention of each width).
	Exponent int
	// GroupSize is the number of consecutive weights sharing a scale (rtn), an absmax (nf4,
	// float, nf) or a lookup table (squeezellm). Up to the row width it counts input columns
	// within a row; 0 means one group per output row (per channel), except for nf4 where it
	// means QLoRA's block of 64. A row whose width is not a multiple ends with a shorter group
	// that pays its own constants (172 in groups of 64: 64, 64, 44). A GroupSize wider than a
	// row (up to MaxDim) cuts the row-major flattened matrix into blocks of GroupSize
	// consecutive weights, the last one shorter, as Dettmers & Zettlemoyer's blockwise
	// quantization does (2023, §3): a [64, 64] matrix in blocks of 4096 has one absmax.
	GroupSize int
	// Symmetric (rtn only): levels −(2^(b−1)−1)..2^(b−1)−1 times a scale max|w|/(2^(b−1)−1),
	// no zero point (the restricted signed range, so that ±max are both exact). Else
	// asymmetric: scale and b-bit integer zero point.
	Symmetric bool
	// DoubleQuant (nf4 only): quantize the fp32 absmax constants to 8 bits in blocks of 256
	// with one fp32 scale each, after subtracting their fp32 mean (QLoRA §3).
	DoubleQuant bool
	// OutlierFraction in [0, 0.1]: the ⌊fraction·rows·cols⌋ weights of largest magnitude in
	// the matrix (after the rotation when Hadamard is set) are kept exactly, as fp32 in a
	// sparse CSR matrix, and left out of the dense quantizer's statistics (SqueezeLLM's
	// dense-and-sparse decomposition, §4.2). Any method accepts it.
	OutlierFraction float64
	// Hadamard rotates the input axis with a randomized block-Hadamard transform before
	// quantizing (QuaRot): see [Quantize].
	Hadamard bool
	// Seed draws the Hadamard rotation's random signs (used only with Hadamard).
	Seed int64
}

// Validate checks the spec; the error, a [*SpecError], names the field to fix.
func (s Spec) Validate() error {
	if !slices.Contains(Methods, s.Method) {
		return specError("Method", "unknown Method %q, valid methods are %s", s.Method, strings.Join(Methods, ", "))
	}
	switch s.Method {
	case MethodNF4:
		if s.Bits != 0 && s.Bits != NF4Bits {
			return specError("Bits", "Bits %d with method nf4: nf4 codes are always 4 bits (set 0 or 4)", s.Bits)
		}
	case MethodFloat:
		if err := validFloat(s.Bits, s.withDefaults().Exponent); err != nil {
			return err
		}
	default:
		hi := MaxBits // squeezellm
		if s.Method == MethodRTN {
			hi = MaxRTNBits
		} else if s.Method == MethodNF {
			hi = MaxNFBits
		}
		if s.Bits < MinBits || s.Bits > hi {
			return specError("Bits", "Bits %d out of range [%d, %d] for method %s", s.Bits, MinBits, hi, s.Method)
		}
	}
	if s.Exponent != 0 && s.Method != MethodFloat {
		return specError("Exponent", "Exponent applies to method float only, not %s", s.Method)
	}
	if s.GroupSize < 0 || s.GroupSize > MaxDim {
		return specError("GroupSize", "GroupSize %d out of range [0, %d] (0: one group per row)", s.GroupSize, MaxDim)
	}
	if s.Symmetric && s.Method != MethodRTN {
		return specError("Symmetric", "Symmetric applies to method rtn only, not %s", s.Method)
	}
	if s.DoubleQuant && s.Method != MethodNF4 {
		return specError("DoubleQuant", "DoubleQuant applies to method nf4 only, not %s", s.Method)
	}
	if math.IsNaN(s.OutlierFraction) || s.OutlierFraction < 0 || s.OutlierFraction > MaxOutlierFraction {
		return specError("OutlierFraction", "OutlierFraction %v out of range [0, %v]", s.OutlierFraction, MaxOutlierFraction)
	}
	return nil
}

// SpecError is an invalid [Spec]: Field names the field to fix ("Method", "Bits",
// "Exponent", "GroupSize", "Symmetric", "DoubleQuant" or "OutlierFraction").
type SpecError struct {
	Field string
	msg   string
}

func (e *SpecError) Error() string { return "quant: " + e.msg }

func specError(field, format string, args ...any) error {
	return &SpecError{Field: field, msg: fmt.Sprintf(format, args...)}
}

// withDefaults fills the defaults of a spec: nf4's bits and block size, float's exponent.
func (s Spec) withDefaults() Spec {
	switch s.Method {
	case MethodNF4:
		s.Bits = NF4Bits
		if s.GroupSize == 0 {
			s.GroupSize = DefaultNF4Block
		}
	case MethodFloat:
		if s.Exponent == 0 {
			s.Exponent = defaultExponent(s.Bits)
		}
	}
	return s
}

// FloatFormat is a float spec's split of its bits after the sign, e.g. "e2m1" for 4 bits with
// 2 exponent bits (OCP MX naming); "" for the other methods.
func (s Spec) FloatFormat() string {
	s = s.withDefaults()
	if s.Method != MethodFloat {
		return ""
	}
	return fmt.Sprintf("e%dm%d", s.Exponent, s.Bits-1-s.Exponent)
}

// String is a short label: method, bits ("w4"), float's split ("e2m1"), group ("g64" or
// "row"), then "-asym" or "-sym" for rtn, "+dq" for double quantization, "+sp0.5%" for
// outliers and "+had" (with "/s<seed>" for a nonzero seed) for the rotation, e.g.
// "rtn-w4-g64-asym+had", "float-w4-e2m1-g64", "nf-w3-row".
func (s Spec) String() string {
	s = s.withDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "%s-w%d-", s.Method, s.Bits)
	if s.Method == MethodFloat {
		b.WriteString(s.FloatFormat() + "-")
	}
	if s.GroupSize == 0 {
		b.WriteString("row")
	} else {
		fmt.Fprintf(&b, "g%d", s.GroupSize)
	}
	if s.Method == MethodRTN {
		if s.Symmetric {
			b.WriteString("-sym")
		} else {
			b.WriteString("-asym")
		}
	}
	if s.DoubleQuant {
		b.WriteString("+dq")
	}
	if s.OutlierFraction != 0 {
		b.WriteString("+sp" + strconv.FormatFloat(100*s.OutlierFraction, 'g', 4, 64) + "%")
	}
	if s.Hadamard {
		b.WriteString("+had")
		if s.Seed != 0 {
			fmt.Fprintf(&b, "/s%d", s.Seed)
		}
	}
	return b.String()
}

// Scheme describes the spec in the zoo's quantizer vocabulary: weights quantized by Method
// with Bits-bit codes (nf4: 4) per weight, blocks of GroupSize along a row (0: the whole row;
// wider than a row: over the flattened matrix, see [scheme.PerRow]); rtn an int grid,
// symmetric or not; nf4 and nf the normal-float grid; float the float type of its
// exponent/mantissa split ("e2m1"); squeezellm a lookup table of 2^Bits fp16 levels per
// block. Double quantization, dense-and-sparse
// outliers and the Hadamard rotation are not fields of the vocabulary: [Spec.String] names
// them and [Spec.Storage] counts what they store.
func (s Spec) Scheme() scheme.Scheme {
	s = s.withDefaults()
	sc := scheme.Scheme{Kind: scheme.Weights, Method: s.Method, Bits: float64(s.Bits), Block: s.GroupSize, Axis: scheme.PerRow}
	switch s.Method {
	case MethodRTN:
		sc.Type, sc.Symmetric = scheme.Integer, s.Symmetric
	case MethodNF4, MethodNF:
		sc.Type = scheme.NF
	case MethodFloat:
		sc.Type = scheme.DataType{Format: scheme.Float, Exponent: s.Exponent, Mantissa: s.Bits - 1 - s.Exponent}
	case MethodSqueezeLLM:
		sc.Type, sc.Codebook = scheme.LUT, 1<<s.Bits
	}
	return sc
}
