// Package quant holds pure-Go post-training weight quantizers for the linear layers of a
// Llama: a float32 matrix W [out, in] (PyTorch layout, row-major) goes in, a bit-exact
// stored form ([Quantized]) and its dequantized float32 weights come out. It does no graph
// building: model code calls it on []float32 and loads the dequantized weights.
//
// # Methods
//
// A row of W (one output channel) is cut into groups of Spec.GroupSize consecutive input
// columns (0: the whole row, per channel); a row width that the group size does not divide
// ends with a shorter group, which pays for its own constants like the others. A group size
// wider than the row cuts the row-major flattened matrix instead, into blocks of GroupSize
// consecutive weights, the last one shorter (the blockwise quantization of Dettmers &
// Zettlemoyer 2023, "The case for 4-bit precision", §3, with blocks of 32 to 4096).
//
// The data types of that paper are here: integer (rtn, symmetric and asymmetric), float
// (float, any exponent/mantissa split) and quantile (nf, normal quantiles; squeezellm,
// learned levels), each with its block constants counted in the bits.
//
//   - rtn: uniform round-to-nearest at 2..16 bits, the baseline of GPTQ (Frantar et al.
//     2023) and AWQ (Lin et al. 2024). Asymmetric: s = (max−min)/(2^b−1) over the group's
//     range widened to contain 0, integer zero point z = round(−min/s),
//     q = clamp(round(w/s)+z, 0, 2^b−1), ŵ = (q−z)·s. Symmetric: s = max|w|/(2^(b−1)−1),
//     q ∈ [−(2^(b−1)−1), 2^(b−1)−1] (the restricted signed range), ŵ = q·s. Stored: an fp16
//     scale per group and, asymmetric, a b-bit zero point.
//   - float: a sign/exponent/mantissa format of b = 3..8 or 16 bits with E exponent bits
//     (FP4 E2M1, FP6 E2M3 and E3M2, FP8 E4M3 and E5M2, binary16 E5M10, ...), subnormals
//     included, each block scaled by its absmax so that max|w| maps to the format's largest
//     value, rounded to nearest with ties to even. Stored: an fp16 absmax per block. The top
//     exponent follows OCP MX v1.0 below 8 bits (all codes finite), OCP OFP8 at 8 (E4M3's
//     "FN": max 448; E5M2 IEEE-like: max 57344) and IEEE 754 at 16 (see "Float formats" below).
//   - nf: NormalFloat-k, k = 2..8, QLoRA's construction of NF4 at other widths; at k = 4
//     the levels are NF4's ([NFLevels]). Stored: an fp16 absmax per block.
//   - nf4: QLoRA's 4-bit NormalFloat (Dettmers et al. 2023, §3): ŵ = ℓ_q·c with c the
//     block's absmax (blocks of 64 by default) and ℓ the 16 normal-quantile levels of Eq. 4,
//     0 exact ([NF4Levels]); with double quantization the fp32 constants c are coded to 8
//     bits in blocks of 256 around their mean.
//   - squeezellm: SqueezeLLM (Kim et al. 2024): a 2^b-entry fp16 lookup table per row from
//     1-D k-means weighted by the diagonal Fisher information, minimising Σ F·(w−ŵ)²
//     (§4.1; [WeightedError]); codes index the table.
//
// [Spec.Scheme] names the data type in the vocabulary of package quant/scheme: int, nf, lut
// or e<E>m<M> ("weights/float e2m1 b4 g64/row").
//
// Two options apply to every method:
//
//   - Dense-and-sparse (SqueezeLLM §4.2): Spec.OutlierFraction of the weights, those of
//     largest magnitude in the matrix, are kept exactly in a CSR matrix and left out of the
//     dense quantizer's statistics.
//   - Hadamard rotation (QuaRot, Ashkboos et al. 2024; RSQ): the input axis is rotated by an
//     orthogonal R = H·D, D random signs from Spec.Seed and H block-diagonal normalized
//     Hadamard blocks of the powers of two that sum to the width (172 = 128+32+8+4);
//     W' = W·Rᵀ is quantized and Dequantize returns Q(W')·R. Outlier input channels are
//     spread over their block, which shrinks the ranges the scales must cover.
//
// [Allocate] picks one stored form per layer under a total-bits budget (mixed precision,
// an exact multiple-choice knapsack; [AllocationChoice] prices one width of a layer);
// [MSE], [RelativeError] and [WeightedError] measure the error. [LQLoRA] (Guo et al. 2024)
// splits a weight into a quantized matrix and a low-rank product, the initialisation of
// LQ-LoRA's adapters.
//
// # Float formats
//
// Method float's data types have a chosen exponent/mantissa split and are blockwise
// absmax-scaled (Dettmers & Zettlemoyer 2023, "The case for 4-bit precision", §3). A code of
// b bits is a sign bit, E exponent bits and M = b−1−E mantissa bits; with bias β = 2^(E−1) − 1
// an exponent field e and mantissa field m stand for
//
//	e = 0 (subnormal):  (−1)^s · m·2^(1−β−M)
//	e > 0 (normal):     (−1)^s · (1 + m·2^(−M))·2^(e−β)
//
// What the top exponent field means is the one thing the standards disagree on; each width
// follows the standard that defines it:
//
//   - 3..7 bits: every code is finite (no infinities, no NaN), as OCP's MX formats FP6
//     E2M3 (max 7.5), FP6 E3M2 (max 28) and FP4 E2M1 (max 6) define it (OCP Microscaling
//     Formats (MX) Specification v1.0, 2023, its element data types).
//   - 8 bits with E ≤ 4: the "FN" convention of OCP's E4M3 (OCP 8-bit Floating Point
//     Specification (OFP8) v1.0, 2023, Tables 1-2; MX v1.0): the top exponent field holds normal
//     numbers, only the all-ones magnitude S.1111.111 is NaN, and there are no infinities:
//     E4M3's largest value is 1.75·2^8 = 448.
//   - 8 bits with E ≥ 5, and 16 bits: IEEE 754's convention (OFP8's E5M2; binary16 E5M10;
//     bfloat16 E8M7): the top exponent field is reserved for infinities and NaN, so E5M2's
//     largest value is 1.75·2^15 = 57344 and E5M10's 65504.
//
// A block of weights (see [Spec.GroupSize]) stores its absmax c = max|w| in fp16 (rounded to
// nearest) and each weight as the code of the representable value nearest to y = (w/c)·F,
// F the format's largest finite value, ties to the even code (the even mantissa, as IEEE
// rounding); |y| beyond F (possible by the rounding of c) saturates to ±F. Dequantization is
// ŵ = v·(c/F). Zero is coded +0 (the code of −0 is never written and is refused when read).
// A block whose stored c is 0 dequantizes to zeros.
//
// # Speed
//
// [Quantize] and [Quantized.Dequantize] ([QuantizeInto] and [Quantized.DequantizeInto] into
// memory of the caller's) split the matrix into runs of whole groups, each starting on a byte
// of the packed codes, and work on GOMAXPROCS of them at once (up to 8 runs per goroutine,
// taken as each finishes one, so that a goroutine the OS deschedules holds up little),
// reading the float32 weights and writing the packed codes directly (float64 copies only
// after a Hadamard rotation). rtn codes at 4 and 8 bits go straight into their bytes, from
// v·(1/s) rounded by one shifted addition, the quotient v/s deciding the rare weight near a
// tie, and the range of float32 weights comes from their bits by integer maxima: no
// division, conversion or branch per weight. The nearest level is found by a table over
// equal cells (nf, nf4) or over the float64 bits of the magnitude (float up to 8 bits) and
// one comparison, not a binary search; SqueezeLLM's Lloyd steps find each cluster's run of
// the sorted weights by binary search and keep its sums while the run stays. The arithmetic
// is the float64 one stated above, in the same order, so the stored form and the dequantized
// weights do not depend on the number of threads; testdata/kernels.golden pins them against
// the scalar kernels these replaced. go run ./bench quant measures them against PyTorch; go
// test -bench . ./quant times them alone.
//
// # Keys
//
// The ptq_* hyperparameters ([Params]; [SpecFromParams], [ValidateParams]) are declared
// here, as layers/vq declares its vq_* keys, so that any model of the zoo can offer
// post-training quantization of its linear layers with the same keys.
//
// # Bit accounting
//
// [Quantized.Bits] counts every stored number at the width it is stored at, which is the
// width [Quantized.MarshalBinary] writes (b = Spec.Bits, G = number of groups, n = rows·cols):
//
//	item                          width                      count               method
//	code                          b bits (nf4: 4)            n                   all
//	scale                         fp16, 16 bits              G                   rtn
//	zero point                    b bits                     G                   rtn asymmetric
//	absmax                        fp16, 16 bits              G blocks            float, nf
//	absmax                        fp32, 32 bits              G blocks            nf4
//	  double-quantized absmax     int8, 8 bits               G blocks            nf4 +dq
//	  its scale                   fp32, 32 bits              ⌈G/256⌉             nf4 +dq
//	  its mean                    fp32, 32 bits              1                   nf4 +dq
//	lookup-table entry            fp16, 16 bits              G·2^b               squeezellm
//	outlier value                 fp32, 32 bits              k = ⌊fraction·n⌋    OutlierFraction > 0
//	outlier column                ⌈log₂ cols⌉ bits           k                   OutlierFraction > 0
//	outlier row end (CSR)         ⌈log₂(k+1)⌉ bits           rows                OutlierFraction > 0
//	rotation seed                 int64, 64 bits             1                   Hadamard
//
// [Spec.Storage] (and [Quantized.Storage]) gives the same count term by term in the zoo's
// vocabulary (package quant/scheme): codes; scales (rtn's fp16 scales, the fp16 absmax of
// float and nf, nf4's fp32 absmax and its double quantization); zero points; tables (squeezellm); outlier values and indices (the
// column and row-end widths); shared (the rotation seed). [Spec.Scheme] describes a spec in
// the same vocabulary, and [CommonKeys] names its bits, block and symmetric keys.
//
// Not counted: the shape and spec that any stored tensor carries (the rest of the 41-byte
// header), the 4-byte checksum, and each bit-packed stream's padding to a whole byte. For
// stories260K's w2 [64, 172]: rtn-w4-g64-asym is 4 + 3·(16+4)/172 = 4.349 bits per weight,
// nf4 4 + 3·32/172 = 4.558 (4.145 double-quantized), squeezellm-w4-row 4 + 16·16/172 = 5.488,
// float-w4-e2m1-g64 and nf-w4-g64 4 + 3·16/172 = 4.279; in flattened blocks of 4096 the
// 11,008 weights have 3 constants, float-w4-e2m1-g4096 4 + 3·16/11008 = 4.004.
package quant
