// Package vaeformer is a variational transformer codec for gridded climate fields (ERA5), after
// CRA5's VAEformer (Han et al. 2024, "CRA5: Extreme Compression of ERA5 for Portable Global
// Climate and Weather Research via an Efficient Variational Transformer", arXiv:2405.03376):
// a ViT-style encoder infers a Gaussian latent, a hyperprior (Ballé et al. 2018, "Variational
// image compression with a scale hyperprior"; mean–scale form of Minnen et al. 2018) models the
// quantized latent, and a transformer decoder maps it back to the fields. Package entropy turns
// the model's distributions into a real bitstream.
//
// # Shapes
//
// An example is a window x of w consecutive hours of C channels (variables, or one level of
// a variable) on an H×W latitude–longitude grid: [B, w, C, H, W] in physical units. The model
// normalises each channel with the training split's mean and standard deviation (variables
// /normalisation/mean and /normalisation/std, [C], set by [Calibrate]), pads H and W by edge
// replication to multiples of the patch size p, and cuts the window into n = ⌈H/p⌉·⌈W/p⌉
// tokens of P = w·C·p·p values each: every token covers all w hours of a p×p patch. Positions
// are 2-D sine–cosine embeddings (Vaswani et al. 2017; big_vision's posemb_sincos_2d), so one
// trained model compresses grids of any size.
//
// # Equations
//
// Encoder (pre-LayerNorm transformer, L_e blocks of width D): tokens → (μ, log σ²), each
// [B, n, c_y]. The posterior is q(y|x) = N(μ, σ²); during training y = μ + σ·ε, ε ~ N(0, 1),
// and the KL term against N(0, 1) is
//
//	KL = ½ Σ (μ² + σ² − 1 − log σ²).
//
// Hyperprior: z = h_a(μ) on the token grid merged 2×2 ([B, ⌈n_h/2⌉, ⌈n_w/2⌉, c_z]); z is coded
// under a factorised density p_z (Ballé et al. 2018, appendix 6.1: per channel a monotone
// cumulative c(x) = sigmoid(f_K ∘ … ∘ f_1(x)), f_k(x) = g_k(softplus(H_k)·x + b_k),
// g_k(x) = x + tanh(a_k) ⊙ tanh(x), layer widths 1→3→3→3→1). From ẑ, h_s predicts the mean m
// and scale s of a Gaussian conditional for each element of y, and
//
//	p(ŷ | ẑ) = Φ((ŷ − m + ½)/s) − Φ((ŷ − m − ½)/s),   p(ẑ) = c(ẑ + ½) − c(ẑ − ½).
//
// Quantization: in training ỹ = y + u, z̃ = z + u with u ~ U(−½, ½) for the rate; the decoder
// sees y with its rounding residual passed straight through, m + ⌊y − m⌉ in value with the
// identity's gradient (the mixed quantization of Minnen & Singh 2020), unless
// vaeformer_decoder_noise chooses the noisy ỹ. At inference ŷ = m + ⌊μ − m⌉ and ẑ = ⌊z⌉.
//
// Loss, per field value (N values in the batch, λ = vaeformer_lambda, β = vaeformer_kl_weight):
//
//	L = λ · Σ w_lat (x̂ − x)² / N   +   (−Σ log₂ p(ỹ|z̃) − Σ log₂ p(z̃)) / N   +   β · KL / N
//
// with x in normalised units and w_lat = cos(latitude) normalised to mean 1 (uniform when
// vaeformer_lat_weighted is false). The middle term is the rate in bits per value.
//
// # Differences from CRA5
//
// CRA5 compresses the global 0.25° grid of 100+ channels with window attention and a
// transformer hyperprior; here the training grids are small (a few thousand points) and
// training has two CPU cores, so attention is global over the n tokens of a window and the
// hyper transforms are per-token MLPs around a 2×2 token merge. A larger grid is coded in
// tiles with overlap instead ([Tiling], tiles.go): each core of 12×12 tokens is encoded and
// decoded from a span of 16×16 tokens around it, so memory per backend call is bounded and
// time grows linearly with the grid and the hours; grids of at most one span (the UK's 9×13
// tokens) are coded as before. The time axis is part of every
// token (CRA5 codes single time steps), which is what lets the codec exploit hour-to-hour
// correlation the way ZFP's 3-D transform does.
//
// # Codec
//
// [Codec] runs the trained model as a compressor: the analysis transforms run on the backend,
// while everything the decoder must reproduce exactly — the hyper-synthesis h_s, the
// factorised density's tables, the Gaussian bank's tables (entropy.GaussianTable) and the
// choice of table per element — is evaluated in Go float64 from the stored weights.
//
// What is guaranteed: given the checkpoint and the payload, the entropy decoder reads the
// same symbols, and h_s gives the same means, on every backend, GOARCH and CPU, whatever the
// build (-tags purego, any GOAMD64 level) — so a payload written on one machine decodes on any
// other. (The reconstruction itself is the backend's float32 decoder: the same within float
// rounding, not bit for bit; and the encoder's analysis is the backend's, so two machines may
// write different payloads for the same fields, each decodable everywhere.) Two things make
// it so. The transcendental functions are package internal/detmath's, not math's: math.Exp is
// assembly on amd64 with FMA and non-FMA paths that differ in the last bit on about 9% of
// arguments, math.Log is amd64 assembly, s390x has its own, and the math package's Go code
// (Erf, Erfc, Log1p) gives other bits where the compiler fuses its products (arm64, ppc64,
// s390x, riscv64, amd64 with GOAMD64=v3); detmath's are the bits of math on amd64 with FMA,
// on every machine. And every product on the path that meets a sum is rounded explicitly
// (float64(a*b), mul), which the Go spec says no fused multiply-add may cross.
// TestDecoderPathPinned pins the path's bytes for a fixed model (tables, h_s, table choice,
// coded streams: the same hash as before detmath, so payloads written before still decode);
// TestPinsOnOtherArchitectures checks the pin as arm64, ppc64le, s390x and riscv64 binaries
// under qemu-user, TestDecoderPathWithoutAssembly with the kernels below switched off.
//
// On amd64, h_s's dense layers and GELU run in AVX2 (and FMA) assembly (dense_amd64.s,
// gelu_amd64.s: four values per instruction, each computed by the same operations in the same
// order as the Go loops, which the tests check bit for bit); the table of each latent comes
// from a lookup of the exact composition's steps (banklookup.go). Build with -tags purego for
// the Go loops alone: the same bytes.
package vaeformer
