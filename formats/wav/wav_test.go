package wav

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"
)

// chunk is one RIFF chunk a test builds a file from.
type chunk struct {
	id   string
	body []byte
}

// riff builds a RIFF WAVE file of chunks, each odd-sized one followed by its pad byte.
func riff(chunks ...chunk) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF\x00\x00\x00\x00WAVE")
	for _, c := range chunks {
		b.WriteString(c.id)
		binary.Write(&b, binary.LittleEndian, uint32(len(c.body)))
		b.Write(c.body)
		if len(c.body)%2 == 1 {
			b.WriteByte(0)
		}
	}
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

// fmtChunk is a 16-byte fmt chunk (block align channels × bits/8).
func fmtChunk(tag, channels uint16, rate uint32, bits uint16) chunk {
	return fmtChunkAlign(tag, channels, rate, bits, channels*((bits+7)/8))
}

func fmtChunkAlign(tag, channels uint16, rate uint32, bits, align uint16) chunk {
	b := make([]byte, 16)
	le := binary.LittleEndian
	le.PutUint16(b, tag)
	le.PutUint16(b[2:], channels)
	le.PutUint32(b[4:], rate)
	le.PutUint32(b[8:], rate*uint32(align))
	le.PutUint16(b[12:], align)
	le.PutUint16(b[14:], bits)
	return chunk{"fmt ", b}
}

// extChunk is a 40-byte WAVE_FORMAT_EXTENSIBLE fmt chunk whose subformat GUID is built on sub.
func extChunk(sub, channels uint16, rate uint32, bits, valid uint16) chunk {
	c := fmtChunk(tagExtensible, channels, rate, bits)
	le := binary.LittleEndian
	ext := make([]byte, 24)
	le.PutUint16(ext, 22)
	le.PutUint16(ext[2:], valid)
	le.PutUint32(ext[4:], 0x3) // front left, front right
	le.PutUint16(ext[8:], sub)
	copy(ext[10:], guidTail)
	c.body = append(c.body, ext...)
	return c
}

func le16(v ...int16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(x))
	}
	return b
}

func mustParse(t *testing.T, data []byte) *Audio {
	t.Helper()
	a, err := Parse("test.wav", data)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func checkSamples(t *testing.T, a *Audio, want [][]float32) {
	t.Helper()
	if len(a.Samples) != len(want) {
		t.Fatalf("%d channels, want %d", len(a.Samples), len(want))
	}
	for c := range want {
		if len(a.Samples[c]) != len(want[c]) {
			t.Fatalf("channel %d: %d frames, want %d", c, len(a.Samples[c]), len(want[c]))
		}
		for i := range want[c] {
			if a.Samples[c][i] != want[c][i] {
				t.Errorf("channel %d frame %d: %v, want %v", c, i, a.Samples[c][i], want[c][i])
			}
		}
	}
}

func TestPCM(t *testing.T) {
	cases := []struct {
		name   string
		bits   uint16
		data   []byte
		want   [][]float32 // two channels
		format string
	}{
		{"8-bit unsigned", 8, []byte{128, 0, 255, 192}, [][]float32{{0, 127.0 / 128}, {-1, 0.5}}, "8-bit PCM"},
		{"16-bit", 16, le16(0, -32768, 32767, 16384), [][]float32{{0, 32767.0 / 32768}, {-1, 0.5}}, "16-bit PCM"},
		{"24-bit sign-extended", 24, []byte{0, 0, 0, 0, 0, 0x80, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF},
			[][]float32{{0, 8388607.0 / 8388608}, {-1, -1.0 / 8388608}}, "24-bit PCM"},
		{"12-bit in 16", 12, le16(0, -32768, 0x7FF0, 0x4000), [][]float32{{0, 0x7FF0 / 32768.0}, {-1, 0.5}}, "16-bit PCM (12 valid bits)"},
		{"32-bit", 32, []byte{0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0x40, 0, 0, 0, 0xC0},
			[][]float32{{0, 0.5}, {-1, -0.5}}, "32-bit PCM"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := mustParse(t, riff(fmtChunk(tagPCM, 2, 16000, c.bits), chunk{"data", c.data}))
			if a.SampleRate != 16000 || a.Channels() != 2 || a.Frames() != 2 || a.Format.String() != c.format {
				t.Errorf("rate %d channels %d frames %d format %q, want 16000 2 2 %q", a.SampleRate, a.Channels(), a.Frames(), a.Format, c.format)
			}
			checkSamples(t, a, c.want)
		})
	}
}

func TestFloat(t *testing.T) {
	vals := []float64{0, -1, 0.25, 1.5} // a float file may hold overs: kept as stored
	b32 := make([]byte, 4*len(vals))
	b64 := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b32[4*i:], math.Float32bits(float32(v)))
		binary.LittleEndian.PutUint64(b64[8*i:], math.Float64bits(v))
	}
	want := [][]float32{{0, 0.25}, {-1, 1.5}}
	a := mustParse(t, riff(fmtChunk(tagFloat, 2, 48000, 32), chunk{"data", b32}))
	checkSamples(t, a, want)
	if a.Format != (Format{Encoding: Float, Bits: 32, ValidBits: 32}) {
		t.Errorf("format %+v", a.Format)
	}
	a = mustParse(t, riff(fmtChunk(tagFloat, 2, 48000, 64), chunk{"data", b64}))
	checkSamples(t, a, want)
	if a.Format.Bits != 64 {
		t.Errorf("format %+v, want 64 bits", a.Format)
	}
}

func TestExtensible(t *testing.T) {
	// 20 valid bits, left-justified in a 24-bit container: read at the container's width.
	a := mustParse(t, riff(extChunk(tagPCM, 1, 96000, 24, 20), chunk{"data", []byte{0x00, 0x00, 0x40, 0x00, 0x00, 0xC0}}))
	checkSamples(t, a, [][]float32{{0.5, -0.5}})
	if a.Format != (Format{Encoding: PCM, Bits: 24, ValidBits: 20, Extensible: true}) || a.Format.String() != "24-bit PCM (20 valid bits), extensible" {
		t.Errorf("format %+v (%v)", a.Format, a.Format)
	}
	f := make([]byte, 8)
	binary.LittleEndian.PutUint32(f, math.Float32bits(-0.75))
	binary.LittleEndian.PutUint32(f[4:], math.Float32bits(0.125))
	a = mustParse(t, riff(extChunk(tagFloat, 2, 44100, 32, 32), chunk{"data", f}))
	checkSamples(t, a, [][]float32{{-0.75}, {0.125}})
	if a.Format != (Format{Encoding: Float, Bits: 32, ValidBits: 32, Extensible: true}) {
		t.Errorf("format %+v", a.Format)
	}
}

// An 18-byte fmt chunk (cbSize 0) with a fact chunk, as many float writers produce.
func TestFmt18WithFact(t *testing.T) {
	f := fmtChunk(tagFloat, 1, 8000, 32)
	f.body = append(f.body, 0, 0)
	d := make([]byte, 8)
	binary.LittleEndian.PutUint32(d, math.Float32bits(0.5))
	a := mustParse(t, riff(f, chunk{"fact", []byte{2, 0, 0, 0}}, chunk{"data", d}))
	checkSamples(t, a, [][]float32{{0.5, 0}})
}

func TestLaw(t *testing.T) {
	for _, c := range []struct {
		in   byte
		mu   int16
		alaw int16
	}{
		{0xFF, 0, 8}, {0x7F, 0, -8}, {0x80, 32124, 32256}, {0x00, -32124, -32256}, {0xD5, 716, 8}, {0x55, -716, -8},
	} {
		// a-law's 0xD5 and 0x55 are its smallest magnitudes; mu-law's 0xFF and 0x7F are zero.
		if got := muLaw(c.in); got != c.mu {
			t.Errorf("muLaw(0x%02X) = %d, want %d", c.in, got, c.mu)
		}
		if c.in == 0xD5 || c.in == 0x55 {
			if got := aLaw(c.in); got != c.alaw {
				t.Errorf("aLaw(0x%02X) = %d, want %d", c.in, got, c.alaw)
			}
		}
	}
	if aLaw(0xAA) != 32256 || aLaw(0x2A) != -32256 {
		t.Errorf("a-law extremes %d %d, want ±32256", aLaw(0xAA), aLaw(0x2A))
	}
	// Monotone over each sign's codes: the tables have no slip.
	for i := 1; i < 128; i++ {
		if muLaw(byte(0xFF-i)) <= muLaw(byte(0xFF-i+1)) {
			t.Fatalf("mu-law not increasing at code 0x%02X", 0xFF-i)
		}
	}
	a := mustParse(t, riff(fmtChunk(tagMuLaw, 1, 8000, 8), chunk{"data", []byte{0xFF, 0x80}}))
	checkSamples(t, a, [][]float32{{0, 32124.0 / 32768}})
	a = mustParse(t, riff(extChunk(tagALaw, 1, 8000, 8, 8), chunk{"data", []byte{0xAA}}))
	checkSamples(t, a, [][]float32{{32256.0 / 32768}})
	if a.Format.Encoding != ALaw {
		t.Errorf("encoding %v, want a-law", a.Format.Encoding)
	}
}

// Chunks before fmt, between fmt and data, and after data; odd sizes with and without the
// pad byte.
func TestChunkWalk(t *testing.T) {
	samples := le16(1000, -1000, 5)
	want := [][]float32{{1000.0 / 32768, -1000.0 / 32768, 5.0 / 32768}}
	f := fmtChunk(tagPCM, 1, 22050, 16)
	list := chunk{"LIST", []byte("INFOISFT\x05\x00\x00\x00Lavf\x00")} // 17 bytes: odd, padded
	junk := chunk{"JUNK", make([]byte, 28)}
	t.Run("before fmt", func(t *testing.T) {
		checkSamples(t, mustParse(t, riff(junk, list, f, chunk{"data", samples})), want)
	})
	t.Run("between and after", func(t *testing.T) {
		checkSamples(t, mustParse(t, riff(f, list, chunk{"data", samples}, list, chunk{"id3 ", []byte{1, 2, 3}})), want)
	})
	t.Run("odd data chunk then pad", func(t *testing.T) {
		a := mustParse(t, riff(fmtChunk(tagPCM, 1, 8000, 8), chunk{"data", []byte{128, 255, 0}}, list))
		checkSamples(t, a, [][]float32{{0, 127.0 / 128, -1}})
	})
	t.Run("missing pad byte", func(t *testing.T) {
		b := riff(list, f, chunk{"data", samples})
		b = append(b[:12+8+17], b[12+8+18:]...) // drop the LIST chunk's pad byte
		checkSamples(t, mustParse(t, b), want)
	})
	t.Run("missing pad byte before a printable size", func(t *testing.T) {
		// Without the pad, the byte after "J" of JUNK starts "UNK!" (size 33 is '!'): also a
		// plausible name, so the rule cannot be "take whichever position holds one".
		b := riff(list, chunk{"JUNK", make([]byte, 33)}, f, chunk{"data", samples})
		b = append(b[:12+8+17], b[12+8+18:]...)
		checkSamples(t, mustParse(t, b), want)
	})
	t.Run("pad byte not zero", func(t *testing.T) {
		// "X" then "fmt " reads as a chunk "Xfmt" of 4128 bytes: past the end, so not a header.
		b := riff(list, f, chunk{"data", samples})
		b[12+8+17] = 'X'
		checkSamples(t, mustParse(t, b), want)
	})
	t.Run("appended ID3 tag", func(t *testing.T) {
		b := append(riff(f, chunk{"data", samples}), "ID3\x04\x00\x00\x00\x00\x00\x10TIT2"...)
		checkSamples(t, mustParse(t, b), want)
	})
	t.Run("ID3v2 tags before the RIFF header", func(t *testing.T) {
		id3 := []byte("ID3\x04\x00\x00\x00\x00\x00\x02\x00\x00")
		b := slices.Concat(id3, id3, make([]byte, 5), riff(f, chunk{"data", samples}))
		if !Is(b) {
			t.Error("Is: false after ID3v2 tags")
		}
		checkSamples(t, mustParse(t, b), want)
		_, err := Parse("x", slices.Concat(id3, riff(chunk{"data", samples})))
		if err == nil || err.Error() != "wav: x: the data chunk at offset 12 comes before any fmt chunk (offsets from the RIFF header, after 12 bytes of ID3v2 tags)" {
			t.Errorf("error %v", err)
		}
		_, err = Parse("x", slices.Concat(id3, []byte{0xFF, 0xFB, 0x90, 0x64}))
		if err == nil || err.Error() != "wav: x: this is an MP3 file (it starts with an ID3 tag), not a WAV file" {
			t.Errorf("error %v", err)
		}
	})
	t.Run("block align below a frame", func(t *testing.T) {
		// A writer that put one channel's bytes (or 0) there: read as SoX reads it, by frames.
		for _, align := range []uint16{0, 2} {
			a := mustParse(t, riff(fmtChunkAlign(tagPCM, 2, 8000, 16, align), chunk{"data", le16(1, 2, 3, 4)}))
			checkSamples(t, a, [][]float32{{1.0 / 32768, 3.0 / 32768}, {2.0 / 32768, 4.0 / 32768}})
		}
	})
	t.Run("trailing partial frame", func(t *testing.T) {
		a := mustParse(t, riff(fmtChunk(tagPCM, 2, 8000, 16), chunk{"data", append(le16(1, 2), 7, 7, 7)}))
		checkSamples(t, a, [][]float32{{1.0 / 32768}, {2.0 / 32768}})
	})
}

// Streaming writers leave the sizes at 0, 0xFFFFFFFF, SoX's 0x7FFFF000 or INT32_MAX, with any RIFF
// size: the data runs to the end of the file, rounded down to whole frames.
func TestStreamedSizes(t *testing.T) {
	frames := le16(100, 200, 300, 400, 500, 600)
	whole := riff(fmtChunk(tagPCM, 2, 16000, 16), chunk{"data", frames})
	set := func(riffSize, dataSize uint32, tail []byte) []byte {
		b := append(bytes.Clone(whole), tail...)
		binary.LittleEndian.PutUint32(b[4:], riffSize)
		binary.LittleEndian.PutUint32(b[40:], dataSize)
		return b
	}
	want := [][]float32{{100.0 / 32768, 300.0 / 32768, 500.0 / 32768}, {200.0 / 32768, 400.0 / 32768, 600.0 / 32768}}
	for _, c := range []struct {
		name             string
		riffSize, dataSz uint32
	}{
		{"both 0xFFFFFFFF", 0xFFFFFFFF, 0xFFFFFFFF},
		{"data 0xFFFFFFFF", 1234, 0xFFFFFFFF},
		{"both 0", 0, 0},
		{"data 0, RIFF ends at the header", 36, 0},
		{"SoX to a pipe", 0x7FFFF024, 0x7FFFF000}, // sox ... -t wav - (measured with SoX 14.4)
		{"data INT32_MAX", 0x7FFFFFFF, 0x7FFFFFFF},
		{"data 0x80000000", 0, 0x80000000},
		{"data 0, RIFF size filled in", uint32(len(whole)) - 8 + 1, 0},
		{"data 0, RIFF size a placeholder", 0x7FFFFFFF, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkSamples(t, mustParse(t, set(c.riffSize, c.dataSz, []byte{9})), want) // a partial frame dropped
		})
	}
	t.Run("data 0 before loud audio that reads as a chunk name", func(t *testing.T) {
		// The samples 0x4241, 0x4443 spell "ABCD", and 0x4645, 0x4847 a size past the end.
		loud := le16(0x4241, 0x4443, 0x4645, 0x4847)
		b := riff(fmtChunk(tagPCM, 1, 16000, 16), chunk{"data", loud})
		binary.LittleEndian.PutUint32(b[40:], 0)
		checkSamples(t, mustParse(t, b), [][]float32{{0x4241 / 32768.0, 0x4443 / 32768.0, 0x4645 / 32768.0, 0x4847 / 32768.0}})
	})
	t.Run("data 0, the finished header appended", func(t *testing.T) {
		b := riff(fmtChunk(tagPCM, 2, 16000, 16), chunk{"data", frames})
		b = append(b, riff(fmtChunk(tagPCM, 2, 16000, 16), chunk{"data", nil})...)
		binary.LittleEndian.PutUint32(b[len(b)-4:], uint32(len(frames))) // its data size: the audio's
		binary.LittleEndian.PutUint32(b[40:], 0)
		checkSamples(t, mustParse(t, b), want)
	})
	t.Run("a stream ending in RIFF and no more", func(t *testing.T) {
		// Found by FuzzParse: "RIFF" 4 bytes before the end of a stream is no appended header.
		b := []byte("RIFF0000WAVEfmt \x10\x00\x00\x00\x03\x00\x01\x0000\x00\x000000\x04\x00 \x00data000\xffRIFF")
		if a := mustParse(t, b); a.Frames() != 1 {
			t.Errorf("%d frames, want the 4 bytes after the header as one float sample", a.Frames())
		}
	})
	t.Run("an empty data chunk then a tag", func(t *testing.T) {
		b := append(riff(fmtChunk(tagPCM, 1, 16000, 16), chunk{"data", nil}), "ID3\x04\x00\x00\x00\x00\x00\x02\x00\x00"...)
		if a := mustParse(t, b); a.Frames() != 0 {
			t.Errorf("%d frames, want 0", a.Frames())
		}
	})
	t.Run("a true empty data chunk", func(t *testing.T) {
		a := mustParse(t, riff(fmtChunk(tagPCM, 2, 16000, 16), chunk{"data", nil}, chunk{"LIST", make([]byte, 8)}))
		if a.Frames() != 0 || a.Channels() != 2 || a.Seconds() != 0 {
			t.Errorf("frames %d channels %d", a.Frames(), a.Channels())
		}
	})
}

func TestRefusals(t *testing.T) {
	pcm := fmtChunk(tagPCM, 1, 16000, 16)
	data := chunk{"data", le16(1, 2)}
	truncated := riff(pcm, data)
	binary.LittleEndian.PutUint32(truncated[40:], 1000)
	nan := make([]byte, 4)
	binary.LittleEndian.PutUint32(nan, math.Float32bits(float32(math.NaN())))
	badGUID := extChunk(tagPCM, 1, 16000, 16, 16)
	badGUID.body[39] = 0
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "the file is empty"},
		{"mp3 with id3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb"), "an MP3 file (it starts with an ID3 tag)"},
		{"mp3 frames", []byte{0xFF, 0xFB, 0x90, 0x64, 0, 0}, "an MPEG audio stream"},
		{"flac", []byte("fLaC\x00\x00\x00\x22"), "a FLAC file"},
		{"ogg", []byte("OggS\x00\x02"), "an Ogg file"},
		{"aiff", []byte("FORM\x00\x00\x00\x20AIFFCOMM"), "an AIFF file"},
		{"rf64", []byte("RF64\xff\xff\xff\xffWAVEds64"), "an RF64 file"},
		{"bw64", []byte("BW64\xff\xff\xff\xffWAVEds64"), "a BW64 file"},
		{"rifx", []byte("RIFX\x00\x00\x00\x24WAVEfmt "), "a big-endian RIFX file"},
		{"avi", []byte("RIFF\x00\x10\x00\x00AVI LIST"), `a RIFF file of form "AVI "`},
		{"html", []byte("\n<!DOCTYPE html><html><body>404</body></html>"), "an HTML page"},
		{"lfs", []byte("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n"), "a Git LFS pointer"},
		{"text", []byte("hello, this is not audio\n"), "a text file"},
		{"binary", []byte{0, 1, 2, 3, 4, 5}, `a file that starts with "\x00\x01\x02\x03"`},
		{"short riff", []byte("RIFF\x04\x00"), "shorter than the 12-byte RIFF WAVE header"},
		{"no fmt", riff(data), "comes before any fmt chunk"},
		{"no data", riff(pcm), "no data chunk"},
		{"header only", []byte("RIFF\x04\x00\x00\x00WAVE"), "no fmt chunk"},
		{"adpcm", riff(fmtChunkAlign(0x0002, 1, 8000, 4, 256), data), "format tag 0x0002 (Microsoft ADPCM) is not supported"},
		{"unknown tag", riff(fmtChunk(0x1234, 1, 8000, 16), data), "format tag 0x1234 (not one this package knows)"},
		{"unknown guid", riff(badGUID, data), "extensible subformat GUID"},
		{"short extensible", riff(chunk{"fmt ", fmtChunk(tagExtensible, 1, 8000, 16).body}, data), "format tag 0xFFFE (extensible) in 16 bytes"},
		{"short fmt", riff(chunk{"fmt ", make([]byte, 14)}, data), "fmt chunk: 14 bytes is shorter"},
		{"zero channels", riff(fmtChunkAlign(tagPCM, 0, 8000, 16, 2), data), "channels 0 out of range [1, 64]"},
		{"65 channels", riff(fmtChunk(tagPCM, 65, 8000, 16), data), "channels 65 out of range"},
		{"rate 0", riff(fmtChunk(tagPCM, 1, 0, 16), data), "sample rate 0 out of range [1, 768000]"},
		{"rate 800000", riff(fmtChunk(tagPCM, 1, 800000, 16), data), "sample rate 800000 out of range"},
		{"block align over a frame", riff(fmtChunkAlign(tagPCM, 2, 8000, 16, 8), data), "block align 8 is over channels 2 × 2 bytes = 4: the frames hold bytes the header does not describe"},
		{"float 16", riff(fmtChunk(tagFloat, 1, 8000, 16), data), "bits per sample 16 is not one float is stored in"},
		{"pcm 40", riff(fmtChunk(tagPCM, 1, 8000, 40), data), "bits per sample 40"},
		{"truncated data", truncated, "the data chunk declares 1000 bytes, but the file holds 4 after its header (truncated)"},
		{"truncated fmt", riff(pcm)[:30], "the fmt chunk at offset 12 declares 16 bytes, past the end of the file at 30"},
		{"truncated list", riff(chunk{"LIST", make([]byte, 40)}, pcm, data)[:40], `the "LIST" chunk at offset 12 declares 40 bytes`},
		{"garbage chunk", append([]byte("RIFF\x00\x00\x00\x00WAVE\x00\x01\x02\x03"), make([]byte, 8)...), "not a chunk name"},
		{"two fmt", riff(pcm, pcm, data), "a second fmt chunk"},
		{"two data", riff(pcm, data, data), "a second data chunk"},
		{"nan", riff(fmtChunk(tagFloat, 1, 8000, 32), chunk{"data", nan}), "sample NaN at frame 0 of channel 0"},
		{"float64 beyond float32", riff(fmtChunk(tagFloat, 1, 8000, 64), chunk{"data", binary.LittleEndian.AppendUint64(make([]byte, 8), math.Float64bits(-1e300))}),
			"sample -1e+300 at frame 1 of channel 0 is beyond float32's range"},
		{"no data, other chunks", riff(chunk{"LIST", []byte("INFO")}, pcm, chunk{"DATA", le16(1)}), `no data chunk (the chunks: "LIST", "fmt ", "DATA")`},
		{"cut inside RIFF", []byte("RIF"), "3 bytes is shorter than the 12-byte RIFF WAVE header"},
	}
	// Cut at every byte of the headers: each is named as truncated, none reads.
	whole := riff(chunk{"LIST", []byte("INFO")}, pcm, data)
	for n := 12; n < len(whole)-len(data.body); n++ {
		want := "(truncated)"
		if n == 12 || n == 24 {
			want = "no fmt chunk" // the file ends at a chunk boundary: nothing says it was longer
		}
		if n == 48 {
			want = `no data chunk (the chunks: "LIST", "fmt ")`
		}
		cases = append(cases, struct {
			name string
			data []byte
			want string
		}{fmt.Sprintf("cut at %d", n), whole[:n], want})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in.wav")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			if err == nil {
				t.Fatalf("read without error, want %q", c.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "wav: "+path+": ") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q\nwant it to name the file and say %q", msg, c.want)
			}
		})
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing.wav")); err == nil || !strings.Contains(err.Error(), "missing.wav") {
		t.Errorf("a missing file: %v", err)
	}
}

// A header that claims 2 GiB (just under the streaming writers' placeholders) or 4 GiB in a
// 100-byte file allocates nothing of the kind.
func TestHugeClaimAllocatesLittle(t *testing.T) {
	b := riff(fmtChunk(tagPCM, 64, 768000, 32), chunk{"data", make([]byte, 56)})
	binary.LittleEndian.PutUint32(b[40:], placeholderDataSize-2)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := Parse("huge.wav", b); err == nil || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("error %v, want truncated", err)
		}
		binary.LittleEndian.PutUint32(b[40:], 0xFFFFFFFF) // streamed: the 56 bytes present
		if _, err := Parse("huge.wav", b); err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint32(b[40:], placeholderDataSize-2)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("allocated %d bytes to read a %d-byte file 20 times", n, len(b))
	}
}

func TestMono(t *testing.T) {
	a := &Audio{SampleRate: 8000, Samples: [][]float32{{1, 0.5, -1}, {0, 0.5, 0}, {-1, 0.5, 0.25}}}
	got := a.Mono()
	want := []float32{0, 0.5, -0.25}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-7 {
			t.Errorf("mono %v, want %v", got, want)
		}
	}
	one := &Audio{SampleRate: 8000, Samples: [][]float32{{0.25}}}
	m := one.Mono()
	m[0] = 9
	if one.Samples[0][0] != 0.25 {
		t.Error("Mono of a mono file shares its samples")
	}
}

func TestWriteRoundTrip(t *testing.T) {
	n := 1000
	a := &Audio{SampleRate: 16000, Samples: [][]float32{make([]float32, n), make([]float32, n)}}
	for i := range n {
		a.Samples[0][i] = float32(math.Sin(float64(i) * 0.01))
		a.Samples[1][i] = float32(2 * math.Cos(float64(i)*0.037)) // clips
	}
	a.Samples[0][0], a.Samples[0][1], a.Samples[0][2] = 1, -1, 0.5/32768 // half away from zero
	a.Samples[1][0] = -0.5 / 32768
	path := filepath.Join(t.TempDir(), "out.wav")
	if err := Write(path, a); err != nil {
		t.Fatal(err)
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.SampleRate != 16000 || back.Channels() != 2 || back.Frames() != n || back.Format != (Format{Encoding: PCM, Bits: 16, ValidBits: 16}) {
		t.Fatalf("read back rate %d channels %d frames %d format %v", back.SampleRate, back.Channels(), back.Frames(), back.Format)
	}
	for c := range a.Samples {
		for i, x := range a.Samples[c] {
			q := math.Max(-32768, math.Min(32767, math.Round(float64(x)*32768)))
			if got := back.Samples[c][i]; float64(got) != q/32768 {
				t.Fatalf("channel %d frame %d: wrote %v, read %v, want %v", c, i, x, got, q/32768)
			}
		}
	}
	if back.Samples[0][0] != 32767.0/32768 || back.Samples[0][1] != -1 || back.Samples[0][2] != 1.0/32768 || back.Samples[1][0] != -1.0/32768 {
		t.Errorf("+1, -1, ±half a step read back as %v %v %v %v", back.Samples[0][0], back.Samples[0][1], back.Samples[0][2], back.Samples[1][0])
	}
	// What was read is written back bit for bit.
	first, _ := os.ReadFile(path)
	again, err := Encode(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Error("a 16-bit file read and encoded again differs")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want only out.wav", len(entries))
	}
}

func TestWriteRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		a    *Audio
		want string
	}{
		{"no channels", &Audio{SampleRate: 8000}, "channels 0"},
		{"rate", &Audio{SampleRate: 0, Samples: [][]float32{{0}}}, "sample rate 0"},
		{"ragged", &Audio{SampleRate: 8000, Samples: [][]float32{{0, 0}, {0}}}, "channel 1 holds 1 samples, channel 0 2"},
		{"nan", &Audio{SampleRate: 8000, Samples: [][]float32{{0, float32(math.NaN())}}}, "sample NaN at frame 1 of channel 0"},
	} {
		path := filepath.Join(t.TempDir(), "out.wav")
		err := Write(path, c.a)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q naming the file", c.name, err, c.want)
		}
		if _, statErr := os.Stat(path); statErr == nil {
			t.Errorf("%s: a file was written", c.name)
		}
	}
}

// The real speech clips of the data directory.
func TestRealFiles(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(datadir.Root(), "speech", "librivox", "*.wav"))
	if len(paths) == 0 {
		t.Fatalf("no .wav files under %s", filepath.Join(datadir.Root(), "speech", "librivox"))
	}
	for _, p := range paths {
		a, err := Read(p)
		if err != nil {
			t.Error(err)
			continue
		}
		var sum float64
		for _, x := range a.Mono() {
			sum += float64(x) * float64(x)
		}
		rms := math.Sqrt(sum / float64(max(a.Frames(), 1)))
		if a.SampleRate != 16000 || a.Channels() != 1 || a.Seconds() <= 0 || rms < 1e-3 || rms > 0.5 {
			t.Errorf("%s: rate %d channels %d %.2f s RMS %.4f: want 16 kHz mono speech", filepath.Base(p), a.SampleRate, a.Channels(), a.Seconds(), rms)
		}
	}
}

func FuzzParse(f *testing.F) {
	samples := le16(1000, -1000, 5, 7)
	f.Add(riff(fmtChunk(tagPCM, 1, 16000, 16), chunk{"data", samples}))
	f.Add(riff(chunk{"LIST", []byte("abc")}, fmtChunk(tagPCM, 2, 8000, 8), chunk{"data", []byte{1, 2, 3}}))
	f.Add(riff(fmtChunk(tagPCM, 1, 44100, 24), chunk{"data", make([]byte, 9)}))
	f.Add(riff(fmtChunk(tagFloat, 2, 48000, 64), chunk{"data", make([]byte, 32)}))
	f.Add(riff(extChunk(tagFloat, 2, 48000, 32, 32), chunk{"fact", []byte{1, 0, 0, 0}}, chunk{"data", make([]byte, 16)}))
	f.Add(riff(extChunk(tagMuLaw, 1, 8000, 8, 8), chunk{"data", []byte{0, 0x80, 0xFF}}))
	streamed := riff(fmtChunk(tagPCM, 1, 16000, 32), chunk{"data", make([]byte, 12)})
	binary.LittleEndian.PutUint32(streamed[40:], 0xFFFFFFFF)
	f.Add(streamed)
	f.Add([]byte("fLaC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse("fuzz.wav", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "wav: fuzz.wav: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if a.Channels() < 1 || a.Channels() > MaxChannels || a.SampleRate < 1 || a.SampleRate > MaxSampleRate {
			t.Fatalf("channels %d rate %d out of range", a.Channels(), a.SampleRate)
		}
		if _, err := Encode(a); err != nil {
			t.Fatalf("parsed audio does not encode: %v", err)
		}
		if a.Frames()*a.Channels()*a.Format.Bits/8 > len(b) {
			t.Fatalf("%d frames × %d channels of %d bits from %d bytes", a.Frames(), a.Channels(), a.Format.Bits, len(b))
		}
		for c, ch := range a.Samples {
			if len(ch) != a.Frames() {
				t.Fatalf("channel %d holds %d samples, channel 0 %d", c, len(ch), a.Frames())
			}
			for i, x := range ch {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("channel %d frame %d: %v", c, i, x)
				}
				if a.Format.Encoding != Float && (x < -1 || x > 1) {
					t.Fatalf("%v channel %d frame %d: %v outside [-1, 1]", a.Format, c, i, x)
				}
			}
		}
	})
}

// A file larger than any RIFF size field can describe is refused before it is read (a sparse
// file: nothing is written to disk).
func TestReadRefusesOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.wav")
	if err := os.WriteFile(path, riff(fmtChunk(tagPCM, 1, 8000, 16)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, MaxFileBytes+1); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Read(path)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "4294967305 bytes is over the limit of 4294967304") {
		t.Errorf("error %v, want the file named and its size refused", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("allocated %d bytes to refuse it", n)
	}
}

// A real clip written by SoX in every WAV encoding it has, with 1, 2, 3 and 6 channels (more
// than 2: an extensible header), with a comment (a LIST chunk), and streamed to a pipe (the
// placeholder sizes): each reads to the samples SoX itself decodes, and the encodings this
// package does not read are refused by name.
func TestSoxEncodings(t *testing.T) {
	src := datadir.File(t, "speech/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Fatalf("sox is needed as the reference writer (scripts/install-deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(sox, append([]string{"-V1", "-D"}, args...)...) // -D: no dither
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sox %v: %v", args, err)
		}
		return out
	}
	for i, c := range []struct {
		args   []string // output options
		format string   // as Format.String reads it
	}{
		{[]string{"-e", "unsigned", "-b", "8"}, "8-bit PCM"},
		{[]string{"-e", "signed", "-b", "16", "--comment", "a LIST chunk of odd size"}, "16-bit PCM"},
		{[]string{"-e", "signed", "-b", "24", "-c", "2"}, "24-bit PCM, extensible"},
		{[]string{"-e", "signed", "-b", "32", "-c", "3"}, "32-bit PCM, extensible"},
		{[]string{"-e", "float", "-b", "32", "-c", "6"}, "32-bit float"}, // SoX writes float with tag 3
		{[]string{"-e", "float", "-b", "64"}, "64-bit float"},
		{[]string{"-e", "u-law", "-r", "8000"}, "8-bit mu-law"},
		{[]string{"-e", "a-law", "-r", "8000", "-c", "3"}, "8-bit a-law"},
		{[]string{"-t", "wavpcm", "-e", "signed", "-b", "24", "-c", "3"}, "24-bit PCM"}, // WAVE_FORMAT_PCM whatever the channels
	} {
		path := filepath.Join(dir, fmt.Sprintf("%d.wav", i))
		args := slices.Concat([]string{src}, c.args, []string{path, "trim", "0", "1.5"})
		if c.args[0] != "-t" {
			args = slices.Insert(args, len(args)-4, "-t", "wav") // before the output path
		}
		run(nil, args...)
		want := run(nil, path, "-t", "f32", "-")
		check := func(name string, a *Audio, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Format.String(); got != c.format || a.Frames()*a.Channels()*4 != len(want) {
				t.Fatalf("%s %v: %s, %d frames × %d channels; want %s, %d samples", name, c.args, got, a.Frames(), a.Channels(), c.format, len(want)/4)
			}
			for i := range a.Frames() {
				for ch := range a.Channels() {
					x := math.Float32frombits(binary.LittleEndian.Uint32(want[4*(i*a.Channels()+ch):]))
					if d := math.Abs(float64(a.Samples[ch][i] - x)); d > 6e-8 { // 32-bit: SoX rounds to float32 another way
						t.Fatalf("%s %v: frame %d channel %d is %v, SoX reads %v", name, c.args, i, ch, a.Samples[ch][i], x)
					}
				}
			}
		}
		a, err := Read(path)
		check("file", a, err)
		// The same samples through a pipe, from an input of unknown length: SoX leaves its
		// placeholder sizes.
		out := c.args
		if out[0] != "-t" {
			out = slices.Concat([]string{"-t", "wav"}, out)
		}
		in := []string{"-t", "f32", "-r", fmt.Sprint(a.SampleRate), "-c", fmt.Sprint(a.Channels()), "-"}
		piped := run(want, slices.Concat(in, out, []string{"-"})...)
		if size := binary.LittleEndian.Uint32(piped[len(piped)-a.Frames()*a.Channels()*a.Format.Bits/8-4:]); size < placeholderDataSize-4096 {
			t.Fatalf("piped %v: data size %#x, want SoX's placeholder", c.args, size)
		}
		a, err = Parse("piped", piped)
		check("piped", a, err)
	}
	for _, c := range []struct{ encoding, want string }{
		{"ima-adpcm", "format tag 0x0011 (IMA ADPCM) is not supported"},
		{"ms-adpcm", "format tag 0x0002 (Microsoft ADPCM) is not supported"},
		{"gsm-full-rate", "format tag 0x0031 (GSM 6.10) is not supported"},
	} {
		path := filepath.Join(dir, c.encoding+".wav")
		run(nil, src, "-e", c.encoding, "-r", "8000", path, "trim", "0", "0.5")
		if _, err := Read(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.encoding, err, c.want)
		}
	}
}

// The speech synthesizers' own WAV writers, to a file and to a pipe (where they cannot seek back
// to fill in the sizes): espeak-ng leaves SoX's placeholder, Festival's text2wave leaves a data
// size of 0 and appends the finished header after the audio. Through the pipe, each reads to
// the same samples as its file.
func TestSynthesizerPipes(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name       string
		file, pipe []string // commands; the file is written to path
	}{
		{"espeak-ng", []string{"espeak-ng", "-w", "PATH", "a pipe cannot seek"}, []string{"espeak-ng", "--stdout", "a pipe cannot seek"}},
		{"text2wave", []string{"text2wave", "-o", "PATH", "-eval", "(voice_kal_diphone)"}, []string{"text2wave", "-o", "-", "-eval", "(voice_kal_diphone)"}},
	} {
		if _, err := exec.LookPath(c.file[0]); err != nil {
			t.Fatalf("%s is needed (scripts/install-deps.sh installs it): %v", c.file[0], err)
		}
		path := filepath.Join(dir, c.name+".wav")
		file := exec.Command(c.file[0], slices.Replace(slices.Clone(c.file[1:]), slices.Index(c.file[1:], "PATH"), slices.Index(c.file[1:], "PATH")+1, path)...)
		file.Stdin = strings.NewReader("a pipe cannot seek\n")
		if out, err := file.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", file.Args, err, out)
		}
		pipe := exec.Command(c.pipe[0], c.pipe[1:]...)
		pipe.Stdin = strings.NewReader("a pipe cannot seek\n")
		piped, err := pipe.Output()
		if err != nil {
			t.Fatalf("%v: %v", pipe.Args, err)
		}
		want, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(c.name+" piped", piped)
		if err != nil {
			t.Fatal(err)
		}
		if want.Frames() < 4000 || !slices.Equal(got.Samples[0], want.Samples[0]) {
			t.Errorf("%s: %d frames through a pipe, %d from the file (want them equal, and some speech)", c.name, got.Frames(), want.Frames())
		}
	}
}
