// Package speech is qzoo's speech corpus, registered with the framework as "speech": real
// recordings that Debian and the shared data directory provide, plus synthetic speech of
// several engines and voices, every clip served as mono float32 at 16 kHz, split by speaker,
// with a word transcript where one is known and a phoneme transcript in one fixed inventory.
// It feeds the speech tokenizer (fixed-length crops) and its CTC teacher (utterances with
// phoneme labels) of issue 15 (LM-SPT, arXiv 2506.16738).
//
// # Sources
//
// BuildManifest lists, in a Manifest of Utterances (id, file, speaker, source, file rate,
// narrowband flag, duration, transcript, phonemes, split):
//
//   - librivox-shared: ../shared/data/speech/librivox, 5 clips of one LibriVox reader (Sense
//     and Sensibility, ch. 1) with their transcription (pocketsphinx-testdata ships the same
//     clips, which are not listed twice);
//   - librispeech-shared: ../shared/data/speech/librispeech, 2 FLAC clips of two speakers (their
//     transcripts, which the directory lacks, are given in addLibriSpeechShared);
//   - pocketsphinx-testdata (Debian): 9 clips at 16 kHz, 5 speakers, 7 transcribed;
//   - asterisk (Debian asterisk-core-sounds-en-wav): 558 prompts of one speaker at 8 kHz
//     (narrowband), transcribed by core-sounds-en.txt.gz of the package
//     asterisk-core-sounds-en; the fr/es/it/ru packages, when installed, add one speaker each
//     (untranscribed: the G2P is English);
//   - codec2-examples (Debian): 13 clips, untranscribed, mostly 8 kHz (tokenizer only);
//   - a LibriSpeech directory as published (speech_librispeech_dir), optional;
//   - synthetic: 15 voices of espeak-ng, flite and festival (Voices) reading distinct lines of
//     tinyshakespeare (Synthesize), generated once into the cache directory.
//
// A source that is not installed is listed in Manifest.Skipped (and in the summary), not an
// error. WAV and FLAC files are read through formats/audio, headerless raw files here.
//
// # Splits, by speaker
//
// No speaker is in two splits (speakers, not clips, are held out):
//   - test: the real held-out speakers of the final tables — the LibriVox reader, the two
//     shared LibriSpeech clips, the pocketsphinx speakers (and LibriSpeech test-* subsets);
//   - validation: synthetic voices espeak-ng en-gb-scotland+f2 and en-029+m1, flite rms,
//     festival ked_diphone; the Codec2 clips forig, morig and mmt1; asterisk languages other
//     than English; LibriSpeech dev-* subsets;
//   - train: everything else (the asterisk English speaker, the other Codec2 clips, the other
//     11 synthetic voices: 9 speakers once flite kal16/festival kal_diphone and flite
//     slt/festival cmu_us_slt_arctic_hts are counted as the people they were built from).
//
// # Phonemes
//
// Every transcript goes once through espeak-ng's en-us voice (G2P: `espeak-ng -q -x
// --sep=|`), cached in the cache directory; its ASCII mnemonics are mapped to the 39 ARPAbet
// phonemes of CMUdict (Inventory), stress dropped, by a longest-match table
// (espeakToARPAbet). Label id 0 is the CTC blank; phoneme Inventory[i] is id i+1. The same
// step serves real and synthetic clips, so all share one inventory.
//
// # Examples
//
// speech_mode selects what datasets.Batches serves (batch k a pure function of (seed, k)):
//   - tokenizer: training examples are crops of speech_crop_seconds (Crops: random positions
//     drawn from (seed, example index), clips drawn in proportion to their length); inputs
//     one float32 tensor [B, S]; no labels. Evaluation splits are every clip cut in order
//     into consecutive crops (Windows), the last zero-padded.
//   - recognizer: whole transcribed utterances of at most speech_max_seconds and
//     speech_max_labels phonemes (Utterances): inputs audio [B, S] float32 zero-padded and
//     audio_len [B] int32; labels [B, L] int32 (ids 1..39, then 0) and label_len [B] int32.
//
// speech_narrowband=false leaves the 8 kHz clips out of every split (half of the training audio
// is the 8 kHz asterisk speaker: a wideband tokenizer may not want it).
//
// The cache directory (speech_cache_dir, default $XDG_CACHE_HOME/qzoo/speech or
// ~/.cache/qzoo/speech; never the repository or the data directory) holds the synthetic
// clips, the G2P results, each file's rate and duration (probe.json) and 16 kHz copies of the
// clips at other rates (LoadCached). The
// first build of the default corpus generates about 22 minutes of synthetic speech and
// phonemizes about a thousand transcripts: about 25 s of CPU (1.5 min of wall time on two busy
// cores); later loads read the cache.
//
// The dataset prints its summary (Manifest.Summary: utterances, speakers and minutes by
// split, source and speaker; what was skipped) to stderr when loaded. The framework's
// Data.Source is the *Dataset.
package speech
