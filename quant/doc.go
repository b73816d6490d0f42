// Package quant holds pure-Go post-training weight quantizers for the linear layers of a
// Llama: a float32 matrix W [out, in] (PyTorch layout, row-major) goes in, a bit-exact
// stored form ([Quantized]) and its dequantized float32 weights come out. It does no graph
// building: model code calls it on []float32 and loads the dequantized weights.
//
// # Methods
//
// A row of W (one output channel) is cut into groups of Spec.GroupSize consecutive input
// columns (0: the whole row); a row width that the group size does not divide ends with a
// shorter group, which pays for its own constants like the others.
//
//   - rtn: uniform round-to-nearest, the baseline of GPTQ (Frantar et al. 2023) and AWQ
//     (Lin et al. 2024). Asymmetric: s = (max−min)/(2^b−1) over the group's range widened to
//     contain 0, integer zero point z = round(−min/s), q = clamp(round(w/s)+z, 0, 2^b−1),
//     ŵ = (q−z)·s. Symmetric: s = max|w|/(2^(b−1)−1), q ∈ [−(2^(b−1)−1), 2^(b−1)−1] (the
//     restricted signed range), ŵ = q·s. Scales are fp16.
//   - nf4: QLoRA's 4-bit NormalFloat (Dettmers et al. 2023, §3): ŵ = ℓ_q·c with c the
//     block's absmax (blocks of 64 by default) and ℓ the 16 normal-quantile levels of Eq. 4,
//     0 exact ([NF4Levels]); with double quantization the fp32 constants c are coded to 8
//     bits in blocks of 256 around their mean.
//   - squeezellm: SqueezeLLM (Kim et al. 2024): a 2^b-entry fp16 lookup table per row from
//     1-D k-means weighted by the diagonal Fisher information, minimising Σ F·(w−ŵ)²
//     (§4.1; [WeightedError]); codes index the table.
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
// vocabulary (package quant/scheme): codes; scales (rtn's fp16 scales, nf4's absmax and its
// double quantization); zero points; tables (squeezellm); outlier values and indices (the
// column and row-end widths); shared (the rotation seed). [Spec.Scheme] describes a spec in
// the same vocabulary, and [CommonKeys] names its bits, block and symmetric keys.
//
// Not counted: the shape and spec that any stored tensor carries (the rest of the 41-byte
// header), the 4-byte checksum, and each bit-packed stream's padding to a whole byte. For
// stories260K's w2 [64, 172]: rtn-w4-g64-asym is 4 + 3·(16+4)/172 = 4.349 bits per weight,
// nf4 4 + 3·32/172 = 4.558 (4.145 double-quantized), squeezellm-w4-row 4 + 16·16/172 = 5.488.
package quant
