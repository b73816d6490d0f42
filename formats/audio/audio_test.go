package audio

import (
	"bytes"
	"encoding/binary"
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
	// Some taggers put one before a WAV file too.
	taggedWAV, err := Decode("tagged.wav", append(bytes.Clone(tag), b...), 16000)
	if err != nil {
		t.Fatal(err)
	}
	if taggedWAV.Container != "WAV" || !slices.Equal(taggedWAV.Samples, c.Samples) {
		t.Errorf("an ID3v2 tag before the RIFF header changed the clip (%s, %d samples)", taggedWAV.Container, len(taggedWAV.Samples))
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
		{"cut in RIFF", []byte("RI"), 16000, "wav: x: 2 bytes is shorter than the 12-byte RIFF WAVE header"},
		{"cut in fLaC", []byte("fLa"), 16000, "flac: x: the file ends inside the fLaC marker at offset 0 (truncated)"},
		{"damaged flac", damaged, 16000, "flac: x: frame "},
		{"truncated flac", orig[:len(orig)/2], 16000, "(truncated)"},
		{"rate 0", orig, 0, "audio: x: rate 0 Hz out of range [1, 768000]"},
	} {
		_, err := Decode("x", c.data, c.rate)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// A file of a few hertz: 60000 samples at 1 Hz (120 KB) would be 3.8 GB at 16 kHz.
	slow, err := wav.Encode(&wav.Audio{SampleRate: 1, Samples: [][]float32{make([]float32, 60000)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode("x", slow, 16000); err == nil || !strings.Contains(err.Error(), "audio: x: resampling 1 Hz to 16000 Hz: the rates differ by more than the factor of 192") {
		t.Errorf("a 1 Hz file at 16 kHz: %v", err)
	}
	// Downsampling 768 kHz to 1 Hz would build a kernel of 52 M taps for a file of 3 samples.
	if _, err := Decode("x", floatWAV(768000, []float32{0, 0.5, 0}), 1); err == nil || !strings.Contains(err.Error(), "resampling 768000 Hz to 1 Hz: the rates differ by more than the factor of 192") {
		t.Errorf("768 kHz to 1 Hz: %v", err)
	}
	// 4 kHz to 768 kHz is allowed by the ratio, but 5.6 M frames would be 1.08 G samples: refused
	// from the header, before resampling.
	long := []byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\xa0\x0f\x00\x00\xa0\x0f\x00\x00\x01\x00\x08\x00data\xff\xff\xff\xff")
	long = append(long, make([]byte, 5_600_000)...)
	if _, err := Decode("x", long, MaxRate); err == nil || !strings.Contains(err.Error(), "5600000 frames at 4000 Hz resample to 1075200000 at 768000 Hz, over the limit of 1073741824 samples") {
		t.Errorf("a long 4 kHz file at 768 kHz: %v", err)
	}
	// Float samples near float32's limit overflow in the resampling filter: refused, not Inf.
	huge := floatWAV(22050, slices.Repeat([]float32{0.5, 3e38, 3e38, 3e38}, 100))
	if _, err := Decode("x", huge, 16000); err == nil || !strings.Contains(err.Error(), "after mixing down and resampling 22050 Hz to 16000 Hz: the file's float samples are too large to be audio") {
		t.Errorf("float samples of 3e38: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.wav"), 16000); err == nil || !strings.Contains(err.Error(), "missing.wav") {
		t.Errorf("a missing file: %v", err)
	}
	dir := t.TempDir()
	if _, err := Load(dir, 16000); err == nil || err.Error() != "audio: "+dir+": this is a directory, not a file" {
		t.Errorf("a directory: %v", err)
	}
	if _, err := Load("/dev/zero", 16000); err == nil || !strings.Contains(err.Error(), "audio: /dev/zero: this is a character device") {
		t.Errorf("/dev/zero: %v", err)
	}
}

// floatWAV returns a mono 32-bit float WAV file holding x at rate Hz.
func floatWAV(rate int, x []float32) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x03\x00\x01\x00")
	b = binary.LittleEndian.AppendUint32(b, uint32(rate))
	b = binary.LittleEndian.AppendUint32(b, uint32(rate*4))
	b = append(b, 4, 0, 32, 0)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(4*len(x)))
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// Clips of 0, 1 and 2 samples, from rates above, below and prime to 16 kHz, keep their duration
// (⌈n·16000/rate⌉ samples) and stay finite.
func TestShortClips(t *testing.T) {
	for _, rate := range []int{7999, 8000, 11025, 44100, 48000, 96000} {
		for n := range 3 {
			x := slices.Repeat([]float32{0.5}, n)
			c, err := Decode("short", floatWAV(rate, x), 16000)
			if err != nil {
				t.Fatalf("%d samples at %d Hz: %v", n, rate, err)
			}
			if want := (n*16000 + rate - 1) / rate; len(c.Samples) != want {
				t.Errorf("%d samples at %d Hz: %d at 16 kHz, want %d", n, rate, len(c.Samples), want)
			}
			for _, v := range c.Samples {
				if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 1 {
					t.Errorf("%d samples at %d Hz: %v", n, rate, c.Samples)
				}
			}
		}
	}
}

// FuzzDecode: no input panics or hangs the loader; an error names the file; a clip is finite, at
// the rate asked for, and no longer than its source's duration allows.
func FuzzDecode(f *testing.F) {
	pcm, err := wav.Encode(&wav.Audio{SampleRate: 8000, Samples: [][]float32{{0.5, -0.5, 0.25}, {0, 0.1, -0.1}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pcm, uint8(1))
	f.Add(floatWAV(7999, []float32{0.5, -1, 1e30}), uint8(0))
	f.Add([]byte("ID3\x04\x00\x00\x00\x00\x00\x02\x00\x00fLaC\x80\x00\x00\x22"), uint8(2))
	if orig, err := os.ReadFile(filepath.Join(datadir.Root(), "speech/librispeech/test_audio_0.flac")); err == nil {
		f.Add(orig[:4000], uint8(1))
	}
	rates := []int{8000, 16000, 22050, 1} // 1 Hz: refused from most sources, by the rate ratio
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		rate := rates[int(pick)%len(rates)]
		c, err := Decode("fuzz", data, rate)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "audio: fuzz: ") && !strings.HasPrefix(msg, "wav: fuzz: ") && !strings.HasPrefix(msg, "flac: fuzz: ") {
				t.Fatalf("error %q does not name the file", msg)
			}
			return
		}
		if c.SampleRate != rate || c.SourceRate < 1 || c.SourceChannels < 1 {
			t.Fatalf("clip %d Hz from %d Hz, %d channels", c.SampleRate, c.SourceRate, c.SourceChannels)
		}
		// A WAV frame takes at least one byte (a FLAC frame may take less: constant blocks);
		// resampling makes ⌈n·rate/source⌉ of them.
		if max := (int64(len(data))*int64(rate) + int64(c.SourceRate) - 1) / int64(c.SourceRate); c.Container == "WAV" && int64(len(c.Samples)) > max {
			t.Fatalf("%d samples at %d Hz from %d bytes at %d Hz", len(c.Samples), rate, len(data), c.SourceRate)
		}
		for i, v := range c.Samples {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("sample %d is %v", i, v)
			}
		}
	})
}
