package wav

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/qzc"
	wavfile "github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/internal/datadir"
	"github.com/qzoo/qzoo/media"
)

// clip is a real 16 kHz mono LibriVox recording (7.1 s).
const clip = "speech/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"

var mono = []string{Channel}

// TestRoundTrip16k: a 16 kHz mono source is coded sample for sample as it is, described with
// its format and duration, and written back bit for bit.
func TestRoundTrip16k(t *testing.T) {
	path := datadir.File(t, clip)
	src, err := wavfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	fe, err := media.For(qzc.Audio, "x.WAV")
	if err != nil || fe.Name() != Name {
		t.Fatalf("media.For(audio, x.WAV) = %v, %v", fe, err)
	}
	s, raw, err := fe.Read([]string{path}, nil, mono)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != qzc.Audio || s.SampleRate != Rate || len(s.Shape) != 1 || s.Shape[0] != src.Frames() || len(s.Data) != 1 {
		t.Fatalf("signal %s at %d Hz, shape %v, %d channels; source %d frames", s.Kind, s.SampleRate, s.Shape, len(s.Data), src.Frames())
	}
	for i, v := range s.Data[0] {
		if v != src.Samples[0][i] {
			t.Fatalf("sample %d: %v, source %v", i, v, src.Samples[0][i])
		}
	}
	d, err := fe.Describe(raw)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != filepath.Base(path) || d.Bytes != 227244 || !strings.Contains(d.Lines[0], "WAV, 16-bit PCM, 16000 Hz, 1 channel(s), 113600 frames (7.100 s)") {
		t.Fatalf("described as %+v", d)
	}
	out := filepath.Join(t.TempDir(), "back.wav")
	if err := fe.Write(out, s, raw, media.Provenance{}); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(path)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// The source is a plain 44-byte-header 16-bit file, so the bytes match exactly.
	if string(got) != string(want) {
		t.Fatalf("written back: %d bytes differing from the source's %d", len(got), len(want))
	}
}

// TestOtherRatesAndChannels: sources at 44.1 kHz stereo and at 8 kHz (made from the real
// clip) are mixed down and resampled to 16 kHz; what is written back is 16 kHz mono of the
// source's duration within one sample, and the 44.1 kHz round trip stays close to the clip.
func TestOtherRatesAndChannels(t *testing.T) {
	clean, err := wavfile.Read(datadir.File(t, clip))
	if err != nil {
		t.Fatal(err)
	}
	x := clean.Samples[0]
	dir := t.TempDir()
	for _, c := range []struct {
		rate     int
		channels int
	}{{44100, 2}, {8000, 1}, {22050, 3}} {
		y, err := dsp.Resample(x, Rate, c.rate)
		if err != nil {
			t.Fatal(err)
		}
		// Channel k holds (k+1)/c.channels of the signal: the mixdown is (c.channels+1)/(2·c.channels) of it.
		a := &wavfile.Audio{SampleRate: c.rate}
		for k := range c.channels {
			ch := make([]float32, len(y))
			for i, v := range y {
				ch[i] = v * float32(k+1) / float32(c.channels)
			}
			a.Samples = append(a.Samples, ch)
		}
		in := filepath.Join(dir, "in.wav")
		if err := wavfile.Write(in, a); err != nil {
			t.Fatal(err)
		}
		var fe Frontend
		s, raw, err := fe.Read([]string{in}, nil, mono)
		if err != nil {
			t.Fatal(err)
		}
		n := s.Shape[0]
		srcSec, gotSec := float64(len(y))/float64(c.rate), float64(n)/Rate
		if s.SampleRate != Rate || gotSec < srcSec || gotSec-srcSec >= 1.0/Rate {
			t.Fatalf("%d Hz: %d samples at %d Hz (%.6f s) for a source of %.6f s", c.rate, n, s.SampleRate, gotSec, srcSec)
		}
		back := filepath.Join(dir, "back.wav")
		if err := fe.Write(back, s, raw, media.Provenance{}); err != nil {
			t.Fatal(err)
		}
		b, err := wavfile.Read(back)
		if err != nil {
			t.Fatal(err)
		}
		if b.SampleRate != Rate || b.Channels() != 1 || b.Frames() != n {
			t.Fatalf("%d Hz: written back at %d Hz, %d channels, %d frames; want 16000, 1, %d", c.rate, b.SampleRate, b.Channels(), b.Frames(), n)
		}
		if c.rate == 8000 {
			continue // band-limited to 4 kHz: no longer the clip
		}
		gain := float64(c.channels+1) / float64(2*c.channels)
		var num, den float64
		for i := range min(n, len(x)) {
			e := float64(b.Samples[0][i]) - gain*float64(x[i])
			num += e * e
			den += gain * gain * float64(x[i]) * float64(x[i])
		}
		if snr := 10 * math.Log10(den/num); !(snr > 20) {
			t.Errorf("%d Hz, %d channels: round trip to 16 kHz at %.1f dB SNR, want > 20", c.rate, c.channels, snr)
		}
	}
}

// TestRefusals: files that are not audio, empty audio, several files, a choice of channels, a
// model of other channels, and descriptions that do not fit the signal are refused by name.
func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := datadir.File(t, clip)
	full, _ := os.ReadFile(good)
	empty := filepath.Join(dir, "silence.wav")
	if err := wavfile.Write(empty, &wavfile.Audio{SampleRate: 16000, Samples: [][]float32{{}}}); err != nil {
		t.Fatal(err)
	}
	var fe Frontend
	for _, c := range []struct {
		paths, selection, want []string
		errs                   []string
	}{
		{[]string{write("notes.wav", []byte("hello, not audio\n"))}, nil, mono, []string{"notes.wav", "text"}},
		{[]string{write("zero.wav", nil)}, nil, mono, []string{"zero.wav", "empty"}},
		{[]string{write("cut.wav", full[:len(full)/2])}, nil, mono, []string{"cut.wav", "truncated"}},
		{[]string{write("clip.audio", []byte("fLaC\x00\x00\x00\x22"))}, nil, mono, []string{"clip.audio", "flac", "truncated"}},
		{[]string{empty}, nil, mono, []string{"silence.wav", "no samples"}},
		{[]string{good, good}, nil, mono, []string{"one audio file at a time"}},
		{[]string{good}, []string{"left"}, mono, []string{"left", "mixdown"}},
		{[]string{good}, nil, []string{"left", "right"}, []string{"[left right]", Channel}},
		{[]string{filepath.Join(dir, "missing.wav")}, nil, mono, []string{"missing.wav"}},
	} {
		_, _, err := fe.Read(c.paths, c.selection, c.want)
		if err == nil {
			t.Errorf("%v: read", c.paths)
			continue
		}
		for _, w := range c.errs {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not say %q", c.paths, err, w)
			}
		}
	}

	s, raw, err := fe.Read([]string{good}, nil, mono)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		mutate func(s *media.Signal, src map[string]any)
		want   string
	}{
		"longer payload":  {func(s *media.Signal, _ map[string]any) { s.Shape = []int{s.Shape[0] + 1} }, "the payload codes 113601"},
		"other rate":      {func(_ *media.Signal, src map[string]any) { src["sample_rate"] = 8000 }, "are 227200 samples"},
		"signal at 8 kHz": {func(s *media.Signal, _ map[string]any) { s.SampleRate = 8000 }, "at 8000 Hz is not audio"},
		"gridded":         {func(s *media.Signal, _ map[string]any) { s.Kind = qzc.Gridded }, "gridded signal"},
		"two channels":    {func(s *media.Signal, _ map[string]any) { s.Channels = []string{"a", "b"} }, "[a b]"},
		"no frames":       {func(_ *media.Signal, src map[string]any) { src["frames"] = 0 }, "no samples"},
		"zero rate":       {func(_ *media.Signal, src map[string]any) { src["sample_rate"] = 0 }, "sample rate 0"},
		"many channels":   {func(_ *media.Signal, src map[string]any) { src["channels"] = 1000 }, "1000 channels"},
		"huge":            {func(_ *media.Signal, src map[string]any) { src["frames"] = int64(1) << 40 }, "over the"},
		"unknown field":   {func(_ *media.Signal, src map[string]any) { src["bits"] = 16 }, `unknown field "bits"`},
	} {
		sig := s
		var src map[string]any
		if err := json.Unmarshal(raw, &src); err != nil {
			t.Fatal(err)
		}
		c.mutate(&sig, src)
		b, _ := json.Marshal(src)
		err := fe.Check(sig, b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check = %v, want %q", name, err, c.want)
		}
		if err := fe.Write(filepath.Join(dir, "out.wav"), sig, b, media.Provenance{}); err == nil {
			t.Errorf("%s: written", name)
		}
	}
	short := s
	short.Data = [][]float32{s.Data[0][:100]}
	if err := fe.Write(filepath.Join(dir, "out.wav"), short, raw, media.Provenance{}); err == nil || !strings.Contains(err.Error(), "first of 100 samples") {
		t.Errorf("a decoded signal shorter than its shape: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.wav")); err == nil {
		t.Error("a refused write left a file")
	}
	if _, err := fe.Describe(json.RawMessage(`{"name": "x.wav"`)); err == nil {
		t.Error("a damaged description was described")
	}
}

// FuzzSource: a source description from a .qzc file (untrusted bytes) is checked against a
// signal and described without panicking, and one that passes Check describes a signal of
// as many samples as it says.
func FuzzSource(f *testing.F) {
	f.Add([]byte(`{"name":"a.wav","bytes":44,"format":"WAV, 16-bit PCM","sample_rate":16000,"channels":1,"frames":100}`), 100)
	f.Add([]byte(`{"name":"a.wav","sample_rate":0,"channels":1,"frames":1}`), 1)
	f.Add([]byte(`{"sample_rate":1,"channels":64,"frames":1073741824}`), 1)
	var fe Frontend
	f.Fuzz(func(t *testing.T, raw []byte, n int) {
		s := media.Signal{Kind: qzc.Audio, Channels: mono, Shape: []int{n}, SampleRate: Rate}
		err := fe.Check(s, raw)
		d, derr := fe.Describe(raw)
		if err == nil && (derr != nil || !strings.Contains(d.Lines[1], fmt.Sprintf(": %d samples", n))) {
			t.Fatalf("checked for %d samples, described as %+v, %v", n, d, derr)
		}
	})
}

// TestFLAC reads a real LibriSpeech FLAC file through the front end: 16 kHz mono, every
// sample kept, described as FLAC.
func TestFLAC(t *testing.T) {
	path := datadir.File(t, "speech/librispeech/test_audio_0.flac")
	var fe Frontend
	s, raw, err := fe.Read([]string{path}, nil, []string{Channel})
	if err != nil {
		t.Fatal(err)
	}
	var src Source
	if err := json.Unmarshal(raw, &src); err != nil {
		t.Fatal(err)
	}
	if src.SampleRate != 16000 || src.Channels != 1 || !strings.HasPrefix(src.Format, "FLAC") || int64(s.Shape[0]) != src.Frames || src.Frames != src.Samples() {
		t.Errorf("FLAC source described as %+v, signal shape %v", src, s.Shape)
	}
}
