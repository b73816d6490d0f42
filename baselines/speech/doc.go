// Package speech holds the classical speech codecs a learned speech tokenizer is measured
// against — Codec2 and Opus, run through their Debian command-line tools — and an independent
// recognizer, pocketsphinx, whose word error rate on a reconstruction says how much of the
// words survived. Every peer has one shape ([Peer]: float samples in, float samples at the
// same rate and length out, with the encoded size and the tools' times), so a benchmark and a
// notebook iterate over [Peers] and score each the same way ([Measure]; [Evaluate] scores a
// codec that is not a Peer by the same code: STOI, log-mel distance, bit rates, real-time
// factors, from package metrics).
//
// The peers and what is counted:
//   - Codec2 (Rowe, codec2 1.0.5, Debian `codec2`: c2enc/c2dec; modes 3200, 2400, 1600, 1200
//     and 700C bit/s; [Codec2]) codes 8 kHz 16-bit speech: the input is resampled to 8 kHz
//     ([dsp.Resample]), coded, decoded and resampled back, so its output holds nothing above
//     4 kHz. The bit rate is the headerless bit file's size over the clip's duration: the
//     modes' frames are whole bytes, so 700C (28 bits per 40 ms frame) is stored as 4 bytes
//     per frame, 800 bit/s in a file (its nominal 700 is what a bit-packing transport would
//     carry: [Codec2.NominalBitRate]). The decoder's output lags its input by a constant
//     delay, measured here as the lag that maximises the mean STOI over the five LibriVox
//     clips: 152–156 samples at 8 kHz for 3200, 2400, 1600 and 1200 and 236 for 700C; the
//     output is advanced by 160 and 240 samples (20 and 30 ms, within 0.001 of the peak
//     STOI) and the input padded with zeros so the decoder covers the whole clip.
//   - Opus (RFC 6716; libopus 1.3.1 through opus-tools 0.2's opusenc/opusdec; [Opus]) at
//     6, 8 and 12 kbit/s, VBR, 20 ms frames, from a 16 kHz 16-bit WAV, decoded at 16 kHz.
//     libopus picks the audio bandwidth by rate: at 6 and 8 kbit/s narrowband (measured on a
//     LibriVox clip: 53 dB less energy than the original above 6.2 kHz), at 12 kbit/s
//     wideband (the original's energy up to 8 kHz). Two rates are reported: the whole Ogg
//     file's, and the audio payload's — the sum of the Opus packets' sizes without the two
//     header packets (OpusHead, OpusTags) and the Ogg page headers, read by this package's
//     own bounded Ogg page parser ([OggPackets]; the test checks it against opusinfo). On a
//     3 s clip the container costs about 2 kbit/s. opusdec removes the encoder's pre-skip and
//     trims the end by the granule position, so its output has the input's length and no
//     delay (the tests check both).
//   - pocketsphinx (CMU Sphinx 5prealpha, Debian `pocketsphinx` with `pocketsphinx-en-us`;
//     [Transcribe]): a GMM-HMM recognizer with a 16 kHz acoustic model and a word trigram
//     model, run as pocketsphinx_continuous on a 16 kHz WAV. It is independent of every
//     model in the zoo. Its WER on the original clips is the floor a reconstruction is
//     compared with (36.6 % on the five LibriVox clips). Narrowband audio scores badly
//     whatever its quality: the originals band-limited to 4 kHz by an 8 kHz round trip keep
//     STOI 0.996 but reach 97 % WER. So report the original's WER and the band-limited
//     original's beside a codec's; for narrowband codecs (Codec2, Opus below 12 kbit/s) the
//     WER says nothing about the words that survived.
//
// A trained compressing run of an audio model (a speech tokenizer) is a Peer too
// ([OpenCompressed]: it codes through a real .qzc file, so its bit rates are the file's).
// [Study] codes held-out clips ([LoadHeldOutClips]: five transcribed LibriVox utterances and two
// LibriSpeech ones) with every codec and gathers a [Table] sorted by bit rate, with the original's
// word error rate, the 4 kHz band-limited control ([BandLimitedControl]) and, for each learned
// codec, issue 15's goal check against Codec2 ([Goal]); [Table.Figure] draws quality against
// bit rate and [LogMelPanels] the spectrograms of a clip and its reconstructions. The bench
// command's speech benchmark and notebooks/speech_tokenizer.ipynb are this code.
//
// Times are wall-clock seconds of the tool processes alone (process start included, file
// writing and resampling excluded), so a real-time factor (seconds of processing per second of
// audio) of a short clip is dominated by process start-up; time long clips for speed.
//
// A missing tool gives an error that names the Debian package to install.
package speech
