package speech

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/audio"
	"github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/internal/atomicfile"
)

// Rate is the sample rate of every clip the dataset serves: 16 kHz mono float32.
const Rate = 16000

// maxClipBytes bounds a headerless raw file read whole (a raw file has no header to check):
// 64 MiB is 35 minutes of 16 kHz 16-bit audio, far beyond any clip of the corpus.
const maxClipBytes = 64 << 20

// probe returns the rate and the duration of u's file: the header's for WAV (formats/wav
// reads the samples but nothing is resampled), the size's for raw files; a FLAC file is
// decoded at 16 kHz through formats/audio, which reports the source's rate and length.
func probe(u *Utterance) (rate int, seconds float64, err error) {
	switch u.Format {
	case FormatWAV:
		a, err := wav.Read(u.Path)
		if err != nil {
			return 0, 0, fmt.Errorf("speech: %s: %w", u.ID, err)
		}
		if a.Frames() == 0 {
			return 0, 0, fmt.Errorf("speech: %s: %s holds no samples", u.ID, u.Path)
		}
		return a.SampleRate, a.Seconds(), nil
	case FormatRaw16:
		x, err := readRaw16(u.Path)
		if err != nil {
			return 0, 0, fmt.Errorf("speech: %s: %w", u.ID, err)
		}
		return u.SampleRate, float64(len(x)) / float64(u.SampleRate), nil
	case FormatFLAC:
		c, err := audio.Load(u.Path, Rate)
		if err != nil {
			return 0, 0, fmt.Errorf("speech: %s: %w", u.ID, err)
		}
		if c.SourceFrames == 0 {
			return 0, 0, fmt.Errorf("speech: %s: %s holds no samples", u.ID, u.Path)
		}
		return c.SourceRate, float64(c.SourceFrames) / float64(c.SourceRate), nil
	}
	return 0, 0, fmt.Errorf("speech: %s: unknown audio format %q", u.ID, u.Format)
}

// readRaw16 reads a headerless signed 16-bit little-endian mono file as v/32768.
func readRaw16(path string) ([]float32, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	switch {
	case st.Size() > maxClipBytes:
		return nil, fmt.Errorf("%s: raw file of %d bytes exceeds the %d-byte bound", path, st.Size(), maxClipBytes)
	case st.Size() < 2:
		return nil, fmt.Errorf("%s: raw file of %d bytes holds no 16-bit sample", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	x := make([]float32, len(data)/2)
	for i := range x {
		x[i] = float32(int16(binary.LittleEndian.Uint16(data[2*i:]))) / 32768
	}
	return x, nil
}

// Load returns u's audio as mono float32 at 16 kHz (Rate): WAV and FLAC files through
// formats/audio (channels averaged, other rates resampled by dsp.Resample, band-limited: an
// 8 kHz clip stays empty above 4 kHz), headerless raw files read here and resampled the same
// way.
func Load(u *Utterance) ([]float32, error) {
	if u.Format != FormatRaw16 {
		c, err := audio.Load(u.Path, Rate)
		if err != nil {
			return nil, fmt.Errorf("speech: %s: %w", u.ID, err)
		}
		return c.Samples, nil
	}
	x, err := readRaw16(u.Path)
	if err != nil {
		return nil, fmt.Errorf("speech: %s: %w", u.ID, err)
	}
	if u.SampleRate == Rate {
		return x, nil
	}
	y, err := dsp.Resample(x, u.SampleRate, Rate)
	if err != nil {
		return nil, fmt.Errorf("speech: %s: resampling %d Hz to %d Hz: %w", u.ID, u.SampleRate, Rate, err)
	}
	return y, nil
}

// LoadCached is Load through a cache of 16 kHz copies in cacheDir/16k, for the clips at
// other rates (resampling the corpus takes tens of seconds; reading the copies, one). A copy
// is a 16-bit WAV file named by a hash of the source's path, size and modification time, so
// a changed source is resampled again. The samples returned are the copy's, also on the call
// that writes it (the resampled signal rounded to 16 bits, as wav.Encode rounds), so a run
// sees the same values whether the cache was cold or warm.
func LoadCached(u *Utterance, cacheDir string) ([]float32, error) {
	if u.SampleRate == Rate {
		return Load(u)
	}
	st, err := os.Stat(u.Path)
	if err != nil {
		return nil, fmt.Errorf("speech: %s: %w", u.ID, err)
	}
	key := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", u.Path, st.Size(), st.ModTime().UnixNano()))
	path := filepath.Join(cacheDir, "16k", hex.EncodeToString(key[:12])+".wav")
	if a, err := wav.Read(path); err == nil && a.SampleRate == Rate && a.Channels() == 1 {
		return a.Samples[0], nil
	}
	x, err := Load(u)
	if err != nil {
		return nil, err
	}
	data, err := wav.Encode(&wav.Audio{SampleRate: Rate, Samples: [][]float32{x}})
	if err != nil {
		return nil, fmt.Errorf("speech: %s: %w", u.ID, err)
	}
	a, err := wav.Parse(path, data)
	if err != nil {
		return nil, fmt.Errorf("speech: %s: %w", u.ID, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("speech: %w", err)
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return nil, fmt.Errorf("speech: %s: caching its 16 kHz copy: %w", u.ID, err)
	}
	return a.Samples[0], nil
}
