// Package dsp is qzoo's host-side signal processing for audio: windows, mel filterbanks, the
// short-time Fourier transform and band-limited resampling. It works on []float32 sample
// slices (mono, values in [-1, 1]) and imports no graph code: datasets, metrics (STOI,
// log-mel distance), format loaders and the graph-side spectra of layers/audio all take their
// constants and reference values from here, so the host and the graph compute one definition.
//
// Conventions (the same in layers/audio):
//   - frames: frame f covers samples [f·Hop, f·Hop+Win) of the signal, after Pad zeros are
//     added at the start (Center: Pad = NFFT/2, also NFFT/2 at the end, as torch.stft with
//     center=True but zero rather than reflect padding); only whole frames are kept;
//   - window: the periodic Hann window of length Win (torch.hann_window), centred in NFFT
//     when Win < NFFT;
//   - spectra: one-sided, NFFT/2+1 bins, power |X|² (no normalisation by NFFT);
//   - mel scale: HTK (2595·log10(1+f/700)) or Slaney (linear below 1 kHz, logarithmic above,
//     as librosa's default and Whisper), filters optionally area-normalised (Slaney norm).
//
// The FFT is gonum's (gonum.org/v1/gonum/dsp/fourier). The resampler is written here: no
// maintained pure-Go resampler with a documented stopband was found (the Go audio packages
// offer linear interpolation, which aliases).
package dsp
