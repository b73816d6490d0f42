// Package entropy is a range-asymmetric-numeral-system (rANS) entropy coder with
// model-supplied, per-symbol frequency tables: the lossless back end of a learned codec
// with a hyperprior (Ballé et al. 2018, "Variational image compression with a scale
// hyperprior"), where every latent element is coded under its own discretised Gaussian
// whose mean and scale the hyperprior predicts.
//
// rANS is due to Duda (2013, "Asymmetric numeral systems: entropy coding combining speed
// of Huffman coding with compression rate of arithmetic coding", arXiv:1311.2540); the
// state layout here (32-bit state, normalisation interval [2^23, 2^31), byte-wise
// renormalisation, the encoder running backwards so the decoder reads forwards) follows
// the design of Giesen's public-domain ryg_rans. The code is our own: no maintained Go
// rANS library accepts a different model-supplied CDF table for every symbol, which is
// what a Gaussian conditional needs.
//
// # Tables
//
// A [Table] holds integer frequencies f_k ≥ 1 summing to 2^P (P = precision bits, 1..16)
// over the symbols lo..hi plus one escape slot of frequency 1. A symbol v in lo..hi costs
// log₂(2^P/f_v) bits; [NewTable] quantises a probability mass function,
// [GaussianTable] a discretised Gaussian and [CDFTable] a factorised model's cumulative
// distribution.
//
// # Escapes
//
// A value outside lo..hi is coded as the escape slot (P bits), then one bypass bit for
// the side (0 below lo, 1 above hi), then the distance d ≥ 1 to the nearest end in
// Elias gamma (2⌊log₂ d⌋+1 bypass bits); d < 2^[MaxEscapeBits]. Bypass bits go through
// the same rANS state as uniform symbols, so the stream needs no second buffer.
//
// # Stream
//
// [Encode] writes the encoder's final 32-bit state (4 bytes, little-endian) and then the
// renormalisation bytes in the order the decoder reads them. [Decode] is given the same
// tables, so the symbol count is known and nothing is allocated from the input's claims;
// it fails on a truncated stream, on trailing bytes and on a final state other than the
// encoder's initial one, and every loop is bounded by the input's length or the table count.
package entropy
