package quant

import "fmt"

// Parts are the arrays a round-to-nearest or NF4 matrix stores, for containers other than
// [Quantized.MarshalBinary]'s (models/llama writes them as tensors of a safetensors file).
// With G = Spec.GroupSize (0: one group per row; nf4: 0 means 64), a matrix rows×cols has
// ⌈cols/G⌉ groups per row, numbered row by row, when G ≤ cols; else ⌈rows·cols/G⌉ blocks of G
// consecutive weights of the row-major flattened matrix.
type Parts struct {
	// Codes holds the rows·cols codes, row-major, Bits bits each, packed LSB-first ([Pack]:
	// code i at bits [i·Bits, (i+1)·Bits) of the little-endian bit stream).
	Codes []byte
	// Scales (rtn) is each group's scale s as fp16 bits: ŵ = (q − z)·s, with z = Zeros[g]
	// (asymmetric) or 2^(Bits−1) − 1 (symmetric).
	Scales []uint16
	// Zeros (rtn, asymmetric) is each group's zero point z.
	Zeros []uint32
	// Absmax (nf4) is each block's absmax c: ŵ = NF4Levels()[q]·c (0 when c ≤ 0).
	Absmax []float32
}

// Parts returns the stored arrays of an rtn or nf4 matrix; the other methods, and outliers,
// the Hadamard rotation or nf4's double quantization (whose arrays Parts does not describe),
// are an error naming the spec.
func (q *Quantized) Parts() (Parts, error) {
	s := q.spec
	if s.Method != MethodRTN && s.Method != MethodNF4 || s.OutlierFraction != 0 || s.Hadamard || s.DoubleQuant {
		return Parts{}, fmt.Errorf("quant: %s: only rtn and nf4 without outliers, rotation or double quantization have plain parts", s)
	}
	p := Parts{Codes: q.codes}
	if s.Method == MethodRTN {
		p.Scales, p.Zeros = q.scales, q.zeros
	} else {
		p.Absmax = q.blockAbsmax()
	}
	return p, nil
}
