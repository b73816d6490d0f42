// Package speechtok is an LM-SPT-style speech tokenizer (Jo et al. 2025, "LM-SPT: LM-Aligned
// Semantic Distillation for Speech Tokenization", arXiv:2506.16738; public code kakao/lmspt):
// 16 kHz speech to a semantic token stream and N acoustic residual streams at 25, 12.5 or
// 6.25 Hz, and back, scaled to train on two CPU cores.
//
// # Layout
//
// Two encoders of one architecture (semantic and acoustic, separate weights) read the waveform
// x [B, S]:
//
//	patches  [B, S/P, P]      a reshape (no strided op), P = speechtok_patch
//	Conv1d(P→C, k7, p3)
//	per stride s: residual units, LeakyReLU, Conv1d(k=2s, stride s, padding s/2)   channels ×2 up to speechtok_max_channels
//	Conv1d(→D, k3, p1)        latents [B, T, D], T = S/hop, hop = P·Π strides
//
// so the frame rate is 16000/hop: with P = 160, strides "4" give 25 Hz (hop 640), "2,4"
// 12.5 Hz (1280), "4,4" 6.25 Hz (2560). The semantic latents go through one quantizer (keys
// sem_vq_*: default SimVQ with 1024 codes; LM-SPT 16384×8), the acoustic latents through
// another (keys ac_vq_*: default a residual stack of 4 SimVQ stages of 1024 codes; LM-SPT
// 7×4096×8); any quantizer of layers/vq with a Decode can be chosen for either. The main
// decoder mirrors an encoder (Conv1d k7, per stride a ConvTranspose1d(k=2s, stride s, padding
// s/2) and residual units, Conv1d to P samples per patch, unpatch, tanh) on the concatenated
// quantized latents [B, T, 2D]; the auxiliary decoder, of the same architecture with its own
// weights, reads the semantic latents [B, T, D] alone. All convolutions are layers/conv's
// (PyTorch semantics, exact gradients on the Go and ONNX backends).
//
// # Losses
//
//	L = w_mel · MelDist(x, x̂) + w_vq · (L_sem + L_ac) + w_distill · ‖E(x) − E(x̃)‖² / ‖E(x)‖²
//
// x̂ = main decoder(all tokens); x̃ = auxiliary decoder(semantic tokens); MelDist is
// layers/audio's multi-scale log-mel L1 distance (scales speechtok_mel_ffts / _mel_bins, hop
// NFFT/4; spectra by a fixed DFT matrix in the graph, since the Go backend has no FFT op: the
// cost grows as NFFT², hence NFFT ≤ 1024 by default); L_sem and L_ac are the quantizers' own
// losses (codebook term + β commitment, β = vq_beta = 0.25: LM-SPT's 1.0 and 0.25); E is the
// frozen teacher's encoder (framework.BuildTeacher: its weights are never trained, the
// gradient passes through it to x̃).
//
// The distillation is a relative squared distance (normalised by the mean square of the
// teacher's features of the original), a deviation from LM-SPT's plain squared distance: it
// makes one weight fit teachers of any feature scale (an in-repo CTC recognizer, a Whisper
// encoder). LM-SPT weighs 15 (mel) : 1 (codebook) : 0.25 (commitment) : 500 (distillation) on
// Whisper large-v3's features; here the defaults are mel 1, quantizers 1 (their β inside),
// distillation 1 on the relative distance, which puts the distillation at the size of the mel
// term at the start of training; configs tune it.
//
// Quantizer dropout (Zeghidour et al. 2021, SoundStream §3.3): during training each example
// keeps, with probability speechtok_quantizer_dropout, a random number of acoustic stages
// uniform in 0..N (else all N), via layers/vq's QuantizeKeeping; 0 stages trains the main
// decoder to decode the semantic tokens alone, so one model serves every rate from
// semantic-only to all stages.
//
// Left out: LM-SPT's (and every GAN codec's) adversarial losses — multi-period and multi-scale
// STFT discriminators with feature matching. Without them the decoder regresses to the mean
// spectrum at a given mel distance: an over-smoothed, buzzy or muffled high band, phase
// artefacts, and a lower perceptual quality (and STOI, PESQ-like scores) than a GAN-trained
// codec of the same mel distance. A discriminator would roughly double the cost of a step.
//
// # The teacher contract
//
// The teacher is a registered framework model (Model.Teacher: "asr" for "speechtok", the
// in-repo CTC phoneme recognizer; a Whisper-shaped encoder fits the same contract) whose Build,
// given inputs[0] = waveforms [B, S] float32 at 16 kHz, returns Predictions[0] = encoder
// features [B, F, D]. It is read from the config's teacher_from; the config's teacher_model
// names another model of the same contract (e.g. "whisper_encoder", a Whisper encoder read from
// a Hugging Face safetensors file). "speechtok_nodistill" is the same tokenizer without a
// teacher (distillation weight 0, no auxiliary decoder), for runs with no trained teacher.
//
// # Predictions, evaluation, compression
//
// Build's predictions are the reconstruction from all tokens [B, S], the resynthesis from the
// semantic tokens alone [B, S] (the auxiliary decoder's when distilling, else the main
// decoder's with every acoustic stage dropped), and the codes [B, T, 1+N] int32. [Evaluator]
// reports bits per second (all streams and semantic only, packed at ⌈log₂ K⌉ bits per code),
// the frame rate, codebook utilisation and perplexity per stream, and the log-mel distances.
// [Codec] is the compressor (package compressor) of qzc.Audio signals (media/wav's 16 kHz mono
// mixdown), reporting its frame rate and streams to the .qzc header: a whole clip is padded
// to whole frames, tokenized, and its streams bit-packed one after the other; decoding returns
// exactly the clip's number of samples.
package speechtok
