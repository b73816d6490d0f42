// Package asr is a small CTC phoneme recognizer trained in the repository: the frozen teacher of
// the speech tokenizer (models/speechtok), whose encoder features its auxiliary decoder's
// resynthesis must reproduce (LM-SPT, arXiv 2506.16738, uses Whisper's encoder; no neural ASR
// weights can be installed here, so the zoo trains its own).
//
// # The teacher contract
//
// The model "asr" (and any other teacher of a speech model, e.g. a Whisper-shaped encoder read
// from safetensors) builds, from
//
//   - inputs[0]: waveforms [B, S] float32 at 16 kHz, values in [−1, 1];
//   - inputs[1] (optional): the valid samples of each waveform [B] int32 (absent: all S),
//
// the predictions
//
//   - Predictions[0]: encoder features [B, F, D] float32, F frames at FrameRate Hz (zero at the
//     frames past each waveform's length);
//   - Predictions[1]: CTC log-probabilities [B, F, V] float32 over the classes (id 0 = the blank,
//     1..V−1 the phonemes of datasets/speech);
//   - Predictions[2]: the valid frames of each example [B] int32 (F when no lengths are given).
//
// F and the valid frames follow from S and the lengths alone: FrameCount. A waveform's features at
// its valid frames do not depend on the padding or on the other examples of its batch (the front
// end zeroes the padded samples and frames before every convolution and the attention masks padded
// keys), so a clip gives the same features alone as in any batch. The graph is differentiable with
// respect to the waveform: a student may back-propagate a feature loss through the frozen teacher
// into its own decoder.
//
// # Architecture
//
//	log-mel   ln(max(mel, 1e-5)) of a 400-point STFT (25 ms Hann window, 10 ms hop, centred),
//	          80 HTK mel bands 0–8 kHz (FrontEnd), by layers/audio's DFT matrix in the graph;
//	          per-utterance mean and variance normalisation of each band over the valid frames
//	          (cepstral mean and variance normalisation: insensitive to gain and channel, which
//	          matters for a corpus that mixes 8 kHz telephone prompts, real and synthetic voices);
//	          in training only, SpecAugment's frequency and time masks (Park et al. 2019)
//	conv      asr_conv_layers × [Conv1d(k = asr_conv_kernel, stride 2, padding ⌊k/2⌋), GELU],
//	          the first from the mel bands to asr_width channels: 100 Hz → 25 Hz with two (with
//	          none, a linear projection of the bands to asr_width at 100 Hz)
//	pos       rotary position embeddings on the queries and keys (RoFormer; layers/position)
//	encoder   asr_layers pre-LayerNorm transformer blocks x + MHA(LN(x)), x + FFN(LN(x)),
//	          asr_heads heads, FFN width asr_ffn with GELU (Vaswani et al. 2017), a final LayerNorm:
//	          the features
//	head      linear to asr_classes logits, log-softmax: the CTC log-probabilities
//
// # Training and evaluation
//
// The loss (Model.Loss, from the dataset's labels: phoneme ids [B, L] int32 padded with the blank
// 0 and their counts [B] int32) is CTC (Graves et al. 2006), CTCLoss, divided by each example's
// label count and averaged over the batch (PyTorch's CTCLoss reduction "mean"). The evaluator
// decodes greedily (GreedyDecode: arg max per frame, repeats merged, blanks dropped) and reports
// the phoneme error rate per = Σ (S + D + I) / Σ N, the substitutions, deletions and insertions of
// the fewest-edit alignment of each decoded sequence against its reference of N phonemes
// (metrics.Align), pooled over the evaluation split: held-out speakers in datasets/speech.
package asr
