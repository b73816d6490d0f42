package audio

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/flac"
	"github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/internal/datadir"
)

// asteriskDir holds Debian's asterisk-core-sounds-en-wav: 8 kHz mono telephone prompts
// (scripts/install-deps.sh installs it).
const asteriskDir = "/usr/share/asterisk/sounds/en"

func TestLoadSharedClips(t *testing.T) {
	dir := datadir.Dir(t)
	flacs, _ := filepath.Glob(filepath.Join(dir, "speech", "librispeech", "*.flac"))
	wavs, _ := filepath.Glob(filepath.Join(dir, "speech", "librivox", "*.wav"))
	if len(flacs) < 2 || len(wavs) < 5 {
		t.Fatalf("the shared speech clips are missing from %s: %d FLAC, %d WAV", dir, len(flacs), len(wavs))
	}
	for _, p := range append(flacs, wavs...) {
		c, err := Load(p, 16000)
		if err != nil {
			t.Fatal(err)
		}
		want := "WAV"
		if strings.HasSuffix(p, ".flac") {
			want = "FLAC"
		}
		if c.Container != want || c.SampleRate != 16000 || c.SourceRate != 16000 || c.SourceChannels != 1 || c.BandwidthHz != 8000 || c.BandLimited() {
			t.Errorf("%s: %+v", p, *c)
		}
		if s := c.Seconds(); s < 2 || s > 8 {
			t.Errorf("%s: %.2f s, want a few seconds", p, s)
		}
	}
	// At the file's own rate the clip is the decoded samples, untouched.
	f, err := flac.Read(flacs[0])
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(flacs[0], 16000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Samples, f.Samples[0]) {
		t.Errorf("%s at 16 kHz differs from its decoded samples", flacs[0])
	}
	// Down to 8 kHz: half the samples, the same duration, a 4 kHz band.
	c8, err := Load(flacs[0], 8000)
	if err != nil {
		t.Fatal(err)
	}
	if len(c8.Samples) != (f.Frames()+1)/2 || c8.BandwidthHz != 4000 || c8.BandLimited() || math.Abs(c8.Seconds()-f.Seconds()) > 1e-3 {
		t.Errorf("at 8 kHz: %d samples (want %d), %.4f s (want %.4f), band %v Hz", len(c8.Samples), (f.Frames()+1)/2, c8.Seconds(), f.Seconds(), c8.BandwidthHz)
	}
}

// An 8 kHz telephone prompt loaded at 16 kHz keeps its duration, is marked band-limited at
// 4 kHz, and indeed holds no energy above it (the resampler puts ~1e-10 of it above 4.2 kHz;
// repeating samples would put percents there).
func TestLoadAsterisk8kHz(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(asteriskDir, "*.wav"))
	if len(paths) < 100 {
		t.Fatalf("%s holds %d WAV prompts: install asterisk-core-sounds-en-wav (scripts/install-deps.sh)", asteriskDir, len(paths))
	}
	stft := dsp.STFT{NFFT: 512, Win: 512, Hop: 256}
	for _, p := range paths[:12] {
		src, err := wav.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Load(p, 16000)
		if err != nil {
			t.Fatal(err)
		}
		if src.SampleRate != 8000 || c.SourceRate != 8000 || !c.BandLimited() || c.BandwidthHz != 4000 || c.Container != "WAV" {
			t.Fatalf("%s: source %d Hz, clip %+v", p, src.SampleRate, *c)
		}
		if len(c.Samples) != 2*src.Frames() {
			t.Errorf("%s: %d samples at 16 kHz from %d at 8 kHz", p, len(c.Samples), src.Frames())
		}
		power, frames, err := stft.Power(c.Samples)
		if err != nil {
			t.Fatal(err)
		}
		var total, high float64
		edge := 4200 * stft.NFFT / 16000 // the first bin above 4.2 kHz
		for f := range frames {
			for k, v := range power[f*stft.Bins() : (f+1)*stft.Bins()] {
				total += float64(v)
				if k >= edge {
					high += float64(v)
				}
			}
		}
		if total == 0 || high > 1e-6*total {
			t.Errorf("%s: %.3g of the energy at 16 kHz lies above 4.2 kHz (total %.3g): not band-limited", p, high/total, total)
		}
	}
}

func TestMixdownAndID3(t *testing.T) {
	left := []float32{0.5, -0.25, 1, 0}
	right := []float32{0.25, 0.25, -1, -0.5}
	b, err := wav.Encode(&wav.Audio{SampleRate: 16000, Samples: [][]float32{left, right}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode("stereo.wav", b, 16000)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range c.Samples {
		// 16-bit storage: +1 is written as 32767/32768.
		if want := (min(left[i], 32767.0/32768) + right[i]) / 2; math.Abs(float64(x-want)) > 1e-4 {
			t.Errorf("frame %d: mono %v, want %v", i, x, want)
		}
	}
	if c.SourceChannels != 2 {
		t.Errorf("source channels %d, want 2", c.SourceChannels)
	}

	orig, err := os.ReadFile(datadir.File(t, "speech/librispeech/test_audio_1.flac"))
	if err != nil {
		t.Fatal(err)
	}
	tag := append([]byte("ID3\x03\x00\x00\x00\x00\x00\x20"), make([]byte, 32)...)
	tagged, err := Decode("tagged.flac", append(tag, orig...), 16000)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Decode("plain.flac", orig, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if tagged.Container != "FLAC" || !slices.Equal(tagged.Samples, plain.Samples) {
		t.Errorf("an ID3v2 tag before the FLAC marker changed the clip (%s, %d samples)", tagged.Container, len(tagged.Samples))
	}
}

func TestRefused(t *testing.T) {
	orig, err := os.ReadFile(datadir.File(t, "speech/librispeech/test_audio_0.flac"))
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(orig)
	damaged[len(damaged)/2] ^= 0x10
	for _, c := range []struct {
		name string
		data []byte
		rate int
		want string
	}{
		{"empty", nil, 16000, "audio: x: the file is empty (0 bytes)"},
		{"mp3", []byte("ID3\x03\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64"), 16000, "audio: x: this is an MP3 file (it starts with an ID3 tag): only WAV and FLAC files are read"},
		{"ogg", []byte("OggS\x00\x02\x00\x00"), 16000, "audio: x: this is an Ogg file"},
		{"html", []byte("<html><body>404</body></html>"), 16000, "audio: x: this is an HTML page"},
		{"text", []byte("not audio\n"), 16000, "audio: x: this is a text file"},
		{"short riff", []byte("RIFF\x04\x00"), 16000, "wav: x: 6 bytes is shorter than the 12-byte RIFF WAVE header"},
		{"damaged flac", damaged, 16000, "flac: x: frame "},
		{"truncated flac", orig[:len(orig)/2], 16000, "(truncated)"},
		{"rate 0", orig, 0, "audio: x: rate 0 Hz out of range [1, 768000]"},
	} {
		_, err := Decode("x", c.data, c.rate)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	slow, err := wav.Encode(&wav.Audio{SampleRate: 1, Samples: [][]float32{make([]float32, 2000)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode("x", slow, MaxRate); err == nil || !strings.Contains(err.Error(), "2000 frames at 1 Hz resample to 1536000000 at 768000 Hz, over the limit of 1073741824 samples") {
		t.Errorf("a 1 Hz file at 768 kHz: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.wav"), 16000); err == nil || !strings.Contains(err.Error(), "missing.wav") {
		t.Errorf("a missing file: %v", err)
	}
}
