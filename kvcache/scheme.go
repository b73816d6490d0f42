package kvcache

import "github.com/qzoo/qzoo/quant/scheme"

// Scheme describes the quantizer of one side (keys or values) of a cache of the given shape
// in the zoo's vocabulary (package quant/scheme; keys and values are two schemes, since they
// differ in bits and in the axis their scales run along):
//
//	fp32, fp16   float e8m23 / e5m10, 32 or 16 bits, no constants
//	kivi         int, asymmetric; keys in blocks of kv_key_group tokens per channel,
//	             values in blocks of kv_group channels per token
//	kvquant      int (lut of 2^b calibrated levels with kv_nonuniform), keys per channel
//	             over all tokens (calibrated ranges) with kv_key_per_channel, else blocks
//	             of kv_group channels per token
//	rotation     lut of 2^b Lloyd–Max levels, blocks of kv_group channels per token (fp16 RMS)
//	vq, simvq    codebook: one code of b·d bits per sub-vector of d channels of a head
//	rvq          codebook: kv_codebook_bits-bit stages over a head vector, b·HeadDim bits
//
// with b = kv_key_bits or kv_value_bits. Not in the vocabulary: the fp16 window
// (kv_residual) and attention sink (kv_sink), kvquant's sparse outliers, pre-RoPE keys and
// Q-Norm, the rotation's Hadamard transform and means; [Sequence.Storage] counts what they
// store. Errors: the config's, as [Config.Validate] reports them.
func (c Config) Scheme(shape Shape, side Side) (scheme.Scheme, error) {
	if err := c.Validate(shape); err != nil {
		return scheme.Scheme{}, err
	}
	b := c.KeyBits
	if side == Values {
		b = c.ValueBits
	}
	s := scheme.Scheme{Kind: scheme.Cache, Method: c.Method, Bits: float64(b)}
	switch c.Method {
	case MethodFP32:
		s.Bits, s.Type = 32, scheme.FP32
	case MethodFP16:
		s.Bits, s.Type = 16, scheme.FP16
	case MethodKIVI:
		s.Type, s.Block, s.Axis = scheme.Integer, c.Group, scheme.PerToken
		if side == Keys {
			s.Block, s.Axis = c.KeyGroup, scheme.PerChannel
		}
	case MethodKVQuant:
		s.Type, s.Block, s.Axis = scheme.Integer, c.Group, scheme.PerToken
		if c.NonUniform {
			s.Type, s.Codebook = scheme.LUT, 1<<b
		}
		if side == Keys && c.KeyPerChannel {
			s.Block, s.Axis = 0, scheme.PerChannel
		}
	case MethodRotation:
		s.Type, s.Codebook, s.Block, s.Axis = scheme.LUT, 1<<b, c.Group, scheme.PerToken
	case MethodVQ, MethodSimVQ, MethodRVQ:
		parts, err := vqLayout(c.Method, c, shape.HeadDim, side)
		if err != nil {
			return scheme.Scheme{}, err
		}
		s.Type, s.Axis, s.Codebook = scheme.Vectors, scheme.PerVector, 1<<parts[0].bits
		s.Bits, s.Dim = float64(parts[0].bits), parts[0].dim
		if c.Method == MethodRVQ {
			s.Bits, s.Stages = float64(b*shape.HeadDim), len(parts)
		}
	}
	return s, nil
}
