// Package qat holds graph-side quantization-aware training and low-rank adapters for linear
// layers whose weight W [out, in] is in PyTorch's layout, y = x·Wᵀ (einsum "...i,oi->...o").
//
// # Round-to-nearest fake quantization with the straight-through estimator
//
// [FakeQuant] quantizes each group of groupSize consecutive input columns of each row with its
// own scale Δ (and zero point z), computed from the weights and held constant:
//
//	symmetric:  Δ = max|v|/(2^(b−1) − 1),           q(v) = round(v/Δ)·Δ
//	asymmetric: Δ = (max v − min v)/(2^b − 1),
//	            z = round(−min v/Δ),                 q(v) = (clip(round(v/Δ) + z, 0, 2^b − 1) − z)·Δ
//	FakeQuant(w) = w + StopGradient(q(w) − w)        (forward q(w), gradient the identity)
//
// The straight-through estimator is from Bengio, Léonard and Courville 2013, "Estimating or
// Propagating Gradients Through Stochastic Neurons for Conditional Computation",
// arXiv:1308.3432; the grouped absmax and min/max quantizers (their ranges floored at 10⁻⁵)
// follow the round-to-nearest baseline of AWQ (Lin et al. 2024, "AWQ: Activation-aware Weight
// Quantization for LLM Compression and Acceleration", MLSys).
//
// # Learned step size quantization
//
// [LSQ] (Esser, McKinstry, Bablani, Appuswamy and Modha 2020, "Learned Step Size
// Quantization", ICLR, arXiv:1902.08153) learns the step s of each group instead:
//
//	v̂ = round(clip(v/s, −Q_N, Q_P))·s,    signed: Q_N = 2^(b−1), Q_P = 2^(b−1) − 1;
//	                                       unsigned: Q_N = 0, Q_P = 2^b − 1
//	∂v̂/∂v = 1 if −Q_N < v/s < Q_P, else 0                        (straight through round)
//	∂v̂/∂s = round(v/s) − v/s inside the range, −Q_N below, Q_P above   (eq. 3)
//	gradient of s scaled by g = 1/√(N·Q_P), N the weights of the group  (eq. 5)
//	s₀ = 2·mean|v|/√Q_P                                          (initialisation, section 2.1)
//
// The initial step comes from the weights themselves, in the graph, on its first execution
// (see [LSQ]). [LSQActivation] is the same quantizer with one step for a tensor of activations,
// signed, N the features of one example, initialised from the first batch.
//
// # Low-rank adaptation
//
// [LoRA] (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models",
// arXiv:2106.09685) is the trainable low-rank correction of a frozen linear layer's weight,
//
//	W' = W + (alpha/rank)·B·A,   A [rank, in] ~ N(0, 1/in), B [out, rank] zero at the start,
//
// built in the graph, so that fake quantization can follow it (QA-LoRA) and the merged
// weight W' is what a trained adapter saves.
package qat
