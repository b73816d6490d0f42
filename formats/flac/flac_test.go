package flac

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	mflac "github.com/mewkiz/flac"
	"github.com/mewkiz/flac/frame"
	"github.com/mewkiz/flac/meta"

	"github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/internal/datadir"
)

// The two LibriSpeech utterances in the shared data: 16 kHz mono 16-bit, with an MD5.
var libriSpeech = []struct {
	name   string
	frames int
}{
	{"speech/librispeech/test_audio_0.flac", 74400},
	{"speech/librispeech/test_audio_1.flac", 77040},
}

func readShared(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(datadir.File(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadLibriSpeech(t *testing.T) {
	for _, c := range libriSpeech {
		a, err := Read(datadir.File(t, c.name))
		if err != nil {
			t.Fatal(err)
		}
		if a.SampleRate != 16000 || a.Channels() != 1 || a.Frames() != c.frames || a.Info.BitsPerSample != 16 {
			t.Fatalf("%s: %d Hz, %d channels, %d frames, %d bits; want 16000 Hz, 1 channel, %d frames, 16 bits",
				c.name, a.SampleRate, a.Channels(), a.Frames(), a.Info.BitsPerSample, c.frames)
		}
		if s := a.Seconds(); s < 4.6 || s > 4.9 {
			t.Errorf("%s: %.3f s, want about 4.7", c.name, s)
		}
		if !a.Info.MD5Checked || a.Info.TotalFrames != int64(c.frames) || a.Info.Blocks != (c.frames+4095)/4096 {
			t.Errorf("%s: info %+v: want the MD5 checked, %d frames declared, in blocks of 4096", c.name, a.Info, c.frames)
		}
		if a.Format.Bits != 16 || a.Format.ValidBits != 16 {
			t.Errorf("%s: format %v, want 16-bit PCM", c.name, a.Format)
		}
		var sum2 float64
		peak := float32(0)
		for _, x := range a.Samples[0] {
			if x < -1 || x >= 1 {
				t.Fatalf("%s: sample %v outside [-1, 1)", c.name, x)
			}
			sum2 += float64(x) * float64(x)
			peak = max(peak, float32(math.Abs(float64(x))))
		}
		if rms := math.Sqrt(sum2 / float64(a.Frames())); rms < 0.01 || peak < 0.1 {
			t.Errorf("%s: rms %.4f, peak %.3f: not speech at a normal level", c.name, rms, peak)
		}
	}
}

// A real clip encoded by libFLAC (through SoX) as 24-bit stereo, the right channel half the
// left: the reference encoder's LPC subframes and stereo decorrelation decode to the WAV's
// samples, and its MD5 checks.
func TestSoxStereo24(t *testing.T) {
	src := datadir.File(t, "speech/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Fatalf("sox is needed as the reference encoder (scripts/install-deps.sh installs it): %v", err)
	}
	out := filepath.Join(t.TempDir(), "stereo.flac")
	if b, err := exec.Command(sox, src, "-b", "24", "-t", "flac", out, "remix", "1", "1v0.5").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s", err, b)
	}
	w, err := wav.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if a.Channels() != 2 || a.Info.BitsPerSample != 24 || a.Frames() != w.Frames() || !a.Info.MD5Checked {
		t.Fatalf("%d channels, %d bits, %d frames (want %d), info %+v", a.Channels(), a.Info.BitsPerSample, a.Frames(), w.Frames(), a.Info)
	}
	for i, x := range w.Samples[0] {
		if a.Samples[0][i] != x || math.Abs(float64(a.Samples[1][i]-x/2)) > 1.0/(1<<23) {
			t.Fatalf("frame %d: %v, %v; want %v, %v", i, a.Samples[0][i], a.Samples[1][i], x, x/2)
		}
	}
}

func mustErr(t *testing.T, what string, data []byte, wants ...string) {
	t.Helper()
	_, err := Parse("clip.flac", data)
	if err == nil {
		t.Fatalf("%s: no error, want one saying %q", what, wants)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "flac: clip.flac: ") {
		t.Errorf("%s: error %q does not name the file", what, msg)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: error %q, want it to say %q", what, msg, w)
		}
	}
}

// frameOffsets returns the byte offset of every audio frame of a whole FLAC file with no ID3
// tag, read with the library alone, and the file's length last.
func frameOffsets(t *testing.T, b []byte) []int {
	t.Helper()
	_, off, err := (&decoder{data: b}).metadata(4)
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(b[off:])
	offsets := []int{off}
	for {
		if _, err := frame.Parse(r); err == io.EOF {
			return offsets
		} else if err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, len(b)-r.Len())
	}
}

func TestDamagedFrames(t *testing.T) {
	orig := readShared(t, libriSpeech[0].name)
	offsets := frameOffsets(t, orig)
	start := offsets[0]
	// A byte flipped anywhere in the audio frames: CRC-16 catches every single-byte error, so
	// each is refused, naming the frame and its offset.
	for at := start; at < len(orig); at += 997 {
		b := bytes.Clone(orig)
		b[at] ^= 0x5A
		mustErr(t, "flipped byte", b, "frame ", "at byte offset ", "(sample ")
	}
	// The third frame's audio: the error says which frame, where it starts and its first sample.
	b := bytes.Clone(orig)
	b[offsets[2]+200] ^= 0x01
	mustErr(t, "flip in frame 2", b, fmt.Sprintf("frame 2 at byte offset %d (sample 8192), audio", offsets[2]))
	// A frame header's frame number: its CRC-8.
	b = bytes.Clone(orig)
	b[offsets[2]+4] ^= 0x01
	mustErr(t, "flip in a header", b, "frame 2 at byte offset", "header", "CRC-8")
	// A whole frame cut out: the next one is numbered 3 where frame 2 should be.
	cut := append(bytes.Clone(orig[:offsets[2]]), orig[offsets[3]:]...)
	mustErr(t, "missing frame", cut, "frame 2", "numbered 3: a frame before it is missing or damaged")
}

func TestTruncated(t *testing.T) {
	orig := readShared(t, libriSpeech[1].name)
	offsets := frameOffsets(t, orig)
	for _, n := range []int{1, 3, 5, 10, 41, 42, offsets[0] - 1, offsets[0], offsets[0] + 1, offsets[5], offsets[5] + 1000, len(orig) - 1} {
		mustErr(t, fmt.Sprintf("cut to %d bytes", n), orig[:n], "truncated")
	}
	mustErr(t, "cut at a frame", orig[:offsets[5]], fmt.Sprintf("after frame 5 at byte offset %d, with 20480 of the 77040 samples", offsets[5]))
}

// id3v2 returns an ID3v2.3 tag holding a title frame padded to size bytes of body.
func id3v2(size int) []byte {
	tag := []byte("ID3\x03\x00\x00")
	for s := 21; s >= 0; s -= 7 {
		tag = append(tag, byte(size>>s&0x7F))
	}
	body := append([]byte("TIT2\x00\x00\x00\x06\x00\x00\x00title"), make([]byte, size)...)
	return append(tag, body[:size]...)
}

func TestTags(t *testing.T) {
	orig := readShared(t, libriSpeech[0].name)
	want, err := Parse("orig", orig)
	if err != nil {
		t.Fatal(err)
	}
	id3v1 := append([]byte("TAG"), make([]byte, 125)...)
	for _, c := range []struct {
		name              string
		data              []byte
		leading, trailing int
	}{
		{"ID3v2 before", cat(id3v2(300), orig), 310, 0},
		{"two ID3v2 before", cat(id3v2(300), id3v2(1000), orig), 1320, 0},
		{"ID3v2 before, ID3v1 after", cat(id3v2(300), orig, id3v1), 310, 128},
		{"ID3v1 after", cat(orig, id3v1), 0, 128},
		{"ID3v2 after", cat(orig, id3v2(500)), 0, 510},
		{"junk after", cat(orig, []byte("\x00\x01junk")), 0, 6},
		{"ID3v2 and zero padding it does not count", cat(id3v2(300), make([]byte, 700), orig), 1010, 0},
	} {
		a, err := Parse(c.name, c.data)
		if err != nil {
			t.Fatal(err)
		}
		if a.Info.LeadingTagBytes != c.leading || a.Info.TrailingBytes != c.trailing || !a.Info.MD5Checked {
			t.Errorf("%s: info %+v, want %d bytes of leading tags, %d trailing, the MD5 checked", c.name, a.Info, c.leading, c.trailing)
		}
		if !equal(a.Samples, want.Samples) {
			t.Errorf("%s: the samples differ from the file's without tags", c.name)
		}
	}
	mustErr(t, "ID3v2 longer than the file", cat(id3v2(300), orig)[:200], "the ID3v2 tag at offset 0 declares 310 bytes, past the end of the file at 200 (truncated)")
	mustErr(t, "ID3v2 then MP3", cat(id3v2(30), []byte{0xFF, 0xFB, 0x90, 0x64}), "this is an MPEG audio stream", "after 40 bytes of ID3v2 tags, not a FLAC file")
	// A tag in place of the last frames: the audio is short.
	offsets := frameOffsets(t, orig)
	mustErr(t, "tag after a cut", cat(orig[:offsets[3]], id3v1), "with 12288 of the 74400 samples STREAMINFO declares, before an ID3v1 tag (truncated)")
}

func TestMD5(t *testing.T) {
	orig := readShared(t, libriSpeech[0].name)
	// STREAMINFO's MD5 is its last 16 bytes: bytes 26 to 42 of the file.
	b := bytes.Clone(orig)
	b[30] ^= 0xFF
	mustErr(t, "altered MD5", b, "the MD5 of the decoded audio is dec86b47", "but STREAMINFO declares dec86b47209f9d54")
	b = bytes.Clone(orig)
	clear(b[26:42])
	a, err := Parse("no MD5", b)
	if err != nil || a.Info.MD5Checked || a.Frames() != 74400 {
		t.Fatalf("an all-zero MD5 (not computed) must be accepted unchecked: %v, %+v", err, a)
	}
}

func TestNotFLAC(t *testing.T) {
	wavFile := readShared(t, "speech/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "the file is empty (0 bytes)"},
		{"wav", wavFile, "this is a WAV file (RIFF WAVE), not a FLAC file"},
		{"html", []byte("<!DOCTYPE html><html><body>Not Found</body></html>"), "this is an HTML page"},
		{"lfs", []byte("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 94321\n"), "this is a Git LFS pointer"},
		{"ogg", []byte("OggS\x00\x02\x00\x00"), "this is an Ogg file"},
		{"binary", []byte{0, 1, 2, 3, 4, 5}, `this is a file that starts with "\x00\x01\x02\x03", not a FLAC file`},
		{"marker only", []byte("fLaC"), "the file ends inside the metadata block header at offset 4 (truncated)"},
		{"no STREAMINFO", []byte("fLaC\x84\x00\x00\x00"), "the first metadata block (offset 4) is a vorbis comment block, not STREAMINFO"},
	} {
		mustErr(t, c.name, c.data, c.want)
	}
}

// streamInfo returns a STREAMINFO block's 38 bytes (header included, marked last).
func streamInfo(rate, channels, bits int, total uint64) []byte {
	b := []byte{0x80, 0, 0, 34, 0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0}
	var x [8]byte
	binary.BigEndian.PutUint64(x[:], uint64(rate)<<44|uint64(channels-1)<<41|uint64(bits-1)<<36|total)
	return append(append(b, x[:]...), make([]byte, 16)...)
}

func TestHeaderBounds(t *testing.T) {
	for _, c := range []struct {
		name string
		si   []byte
		want string
	}{
		{"rate", streamInfo(1000000, 1, 16, 100), "sample rate 1000000 out of range [1, 768000]"},
		{"rate 0", streamInfo(0, 1, 16, 100), "STREAMINFO at offset 4"},
		{"3 bits", streamInfo(16000, 1, 3, 100), "3 bits per sample is below FLAC's minimum of 4"},
		{"32 bits", streamInfo(16000, 1, 32, 100), "32 bits per sample: github.com/mewkiz/flac decodes at most 24"},
		{"huge", streamInfo(16000, 8, 16, 1<<35), "34359738368 frames × 8 channels is over the limit of 1073741824 samples"},
	} {
		mustErr(t, c.name, cat([]byte("fLaC"), c.si), c.want)
	}
	si := streamInfo(16000, 1, 16, 0)
	si[0] = 0 // not last
	mustErr(t, "second STREAMINFO", cat([]byte("fLaC"), si, streamInfo(16000, 1, 16, 0)), "a second STREAMINFO block at offset 42")
	mustErr(t, "block past the end", cat([]byte("fLaC"), si, []byte{0x84, 0, 1, 0, 'x'}), "the vorbis comment metadata block at offset 42 declares 256 bytes, past the end of the file at 47 (truncated)")
	short := streamInfo(16000, 1, 16, 0)
	short[3] = 20
	mustErr(t, "short STREAMINFO", cat([]byte("fLaC"), short[:24]), "the STREAMINFO block at offset 4 declares 20 bytes: it holds 34")
	// The last-block flag never set: the audio's frame sync code reads as a block of type 127.
	mustErr(t, "no last block", cat([]byte("fLaC"), si, []byte{0xFF, 0xF8, 0x69, 0x08, 0, 0}), "metadata block type 127 at offset 42 is invalid (the start of a frame sync code: the block before it was not marked last)")
	// A declared length beyond the file decodes nothing and allocates nothing for it.
	a, err := Parse("empty stream", cat([]byte("fLaC"), streamInfo(16000, 2, 16, 0)))
	if err != nil || a.Frames() != 0 || a.Channels() != 2 {
		t.Fatalf("a stream of no frames and no declared length: %v, %+v", err, a)
	}
}

// encode writes samples ([channels][frames], of the given bit depth) as FLAC with the library's
// encoder, in blocks of blockSize with the channel assignment given. With streamed, the header
// keeps an unknown length and no MD5, as an encoder writing to a pipe leaves it.
func encode(t *testing.T, rate, bits int, assign frame.Channels, samples [][]int32, blockSize int, streamed bool) []byte {
	t.Helper()
	info := &meta.StreamInfo{BlockSizeMin: uint16(blockSize), BlockSizeMax: uint16(blockSize), SampleRate: uint32(rate), NChannels: uint8(len(samples)), BitsPerSample: uint8(bits)}
	var ws writeSeeker
	var w io.Writer = &ws
	if streamed {
		w = &ws.buf
	}
	enc, err := mflac.NewEncoder(w, info)
	if err != nil {
		t.Fatal(err)
	}
	n := len(samples[0])
	for s := 0; s < n; s += blockSize {
		e := min(s+blockSize, n)
		f := &frame.Frame{Header: frame.Header{HasFixedBlockSize: true, BlockSize: uint16(e - s), SampleRate: uint32(rate), Channels: assign, BitsPerSample: uint8(bits)}}
		for _, ch := range samples {
			f.Subframes = append(f.Subframes, &frame.Subframe{SubHeader: frame.SubHeader{Pred: frame.PredVerbatim}, Samples: slices.Clone(ch[s:e]), NSamples: e - s})
		}
		if err := enc.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return ws.buf.Bytes()
}

// writeSeeker is an in-memory io.WriteSeeker, so that the encoder fills in STREAMINFO's length
// and MD5 when it closes.
type writeSeeker struct {
	buf bytes.Buffer
	pos int
}

func (w *writeSeeker) Write(p []byte) (int, error) {
	b := w.buf.Bytes()
	n := copy(b[min(w.pos, len(b)):], p)
	if n < len(p) {
		w.buf.Write(p[n:])
	}
	w.pos += len(p)
	return len(p), nil
}

func (w *writeSeeker) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		w.pos = int(off)
	case io.SeekCurrent:
		w.pos += int(off)
	case io.SeekEnd:
		w.pos = w.buf.Len() + int(off)
	}
	return int64(w.pos), nil
}

// Shapes and scaling on synthetic signals the library's encoder writes: every bit depth the
// frame header can name, stereo in each channel assignment, a last short block, and a streamed
// header (no length, no MD5).
func TestDepthsAndChannels(t *testing.T) {
	const n = 1000
	for _, c := range []struct {
		bits     int
		assign   frame.Channels
		streamed bool
	}{
		{8, frame.ChannelsMono, false},
		{12, frame.ChannelsLR, false},
		{16, frame.ChannelsMidSide, false},
		{20, frame.ChannelsLeftSide, false},
		{24, frame.ChannelsSideRight, false},
		{24, frame.ChannelsLRC, true},
	} {
		name := fmt.Sprintf("%d-bit %d channels (assignment %d)", c.bits, c.assign.Count(), c.assign)
		full := int32(1) << (c.bits - 1)
		samples := make([][]int32, c.assign.Count())
		for ch := range samples {
			samples[ch] = make([]int32, n)
			for i := range samples[ch] {
				v := int32(float64(full) * math.Sin(float64(i*(ch+1))*0.05))
				samples[ch][i] = max(-full, min(full-1, v))
			}
			samples[ch][0], samples[ch][1] = -full, full-1 // the extremes of the range
		}
		a, err := Parse(name, encode(t, 22050, c.bits, c.assign, samples, 256, c.streamed))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.SampleRate != 22050 || a.Channels() != len(samples) || a.Frames() != n || a.Info.Blocks != 4 || a.Info.MD5Checked == c.streamed {
			t.Fatalf("%s: %d Hz, %d channels, %d frames, info %+v", name, a.SampleRate, a.Channels(), a.Frames(), a.Info)
		}
		if a.Format.ValidBits != c.bits || a.Format.Bits != (c.bits+7)/8*8 {
			t.Errorf("%s: format %v", name, a.Format)
		}
		for ch := range samples {
			for i, v := range samples[ch] {
				if want := float32(float64(v) / float64(full)); a.Samples[ch][i] != want {
					t.Fatalf("%s: channel %d frame %d is %v, want %v", name, ch, i, a.Samples[ch][i], want)
				}
			}
			if a.Samples[ch][0] != -1 || a.Samples[ch][1] >= 1 {
				t.Errorf("%s: the extremes read as %v and %v, want -1 and just under 1", name, a.Samples[ch][0], a.Samples[ch][1])
			}
		}
	}
}

func TestFrameAgainstStreamInfo(t *testing.T) {
	samples := [][]int32{make([]int32, 600)}
	b := encode(t, 16000, 16, frame.ChannelsMono, samples, 200, false)
	// STREAMINFO's fields, in bits from byte 8+10=18: rate (20), channels-1 (3), bits-1 (5).
	two := bytes.Clone(b)
	two[20] |= 0x02 // channels-1 = 1
	mustErr(t, "channels", two, "frame 0 at byte offset 42 (sample 0), header: 1 channels, but STREAMINFO declares 2")
	small := bytes.Clone(b)
	binary.BigEndian.PutUint16(small[10:], 100) // maximum block size 100 < 200
	binary.BigEndian.PutUint16(small[8:], 100)
	mustErr(t, "block size", small, "a block of 200 samples, over STREAMINFO's maximum of 100")
	short := bytes.Clone(b)
	short[25] = 0x80 // 36-bit total: 600 -> 128
	short[24] = 0
	mustErr(t, "total", short, "frame 0", "its 200 samples run past the 128 STREAMINFO declares")
}

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

func equal(a, b [][]float32) bool {
	return slices.EqualFunc(a, b, func(x, y []float32) bool { return slices.Equal(x, y) })
}

// FuzzParse: no input panics or hangs the decoder; what it accepts is well-formed.
func FuzzParse(f *testing.F) {
	orig, err := os.ReadFile(filepath.Join(datadir.Root(), libriSpeech[0].name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(orig[:6000])
	f.Add(cat(id3v2(20), orig[:3000]))
	f.Add(cat([]byte("fLaC"), streamInfo(16000, 2, 16, 0)))
	f.Add([]byte("ID3\x04\x00\x00\x00\x00\x00\x02\x00\x00fLaC"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse("fuzz", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "flac: fuzz: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if a.SampleRate < 1 || a.SampleRate > MaxSampleRate || a.Channels() < 1 || a.Channels() > 8 {
			t.Fatalf("accepted %d Hz, %d channels", a.SampleRate, a.Channels())
		}
		for _, ch := range a.Samples {
			if len(ch) != a.Frames() {
				t.Fatalf("channels of different lengths")
			}
			for _, x := range ch {
				if !(x >= -1 && x < 1) {
					t.Fatalf("sample %v outside [-1, 1)", x)
				}
			}
		}
	})
}

func TestIs(t *testing.T) {
	orig := readShared(t, libriSpeech[0].name)
	for _, c := range []struct {
		name string
		data []byte
		want bool
	}{
		{"flac", orig, true},
		{"two tags then flac", cat(id3v2(10), id3v2(20), orig), true},
		{"tag past the end", id3v2(300)[:100], false},
		{"mp3", cat(id3v2(10), []byte{0xFF, 0xFB}), false},
		{"empty", nil, false},
		{"wav", []byte("RIFF\x24\x00\x00\x00WAVE"), false},
		{"cut inside the marker", []byte("fLa"), true},
		{"tag, cut inside the marker", cat(id3v2(10), []byte("fL")), true},
	} {
		if got := Is(c.data); got != c.want {
			t.Errorf("Is(%s) = %v, want %v", c.name, got, c.want)
		}
	}
}

// A stream of unknown length (total 0) ends where the bytes hold no frame sync code any more:
// zeros a recorder padded the file with, or junk, are counted as trailing. A frame whose sync
// code is damaged, with frames after it, is still an error, not the end of the audio.
func TestStreamedTrailingBytes(t *testing.T) {
	samples := [][]int32{make([]int32, 600)}
	for i := range samples[0] {
		samples[0][i] = int32(i%50) * 100
	}
	b := encode(t, 16000, 16, frame.ChannelsMono, samples, 200, true)
	for _, tail := range [][]byte{make([]byte, 4096), []byte("junk\x00\x01\xff\x00")} {
		a, err := Parse("padded", cat(b, tail))
		if err != nil {
			t.Fatal(err)
		}
		if a.Frames() != 600 || a.Info.Blocks != 3 || a.Info.TrailingBytes != len(tail) {
			t.Errorf("%d frames in %d blocks, %d trailing bytes: want 600 in 3, %d", a.Frames(), a.Info.Blocks, a.Info.TrailingBytes, len(tail))
		}
	}
	offsets := frameOffsets(t, b)
	damaged := bytes.Clone(b)
	damaged[offsets[1]] = 0
	mustErr(t, "damaged sync", damaged, "frame 1 at byte offset", "no frame sync code there")
}

// A real clip encoded by libFLAC (through SoX) into a pipe, from an input of unknown length: the
// stream declares no length and no MD5, at rates the frame header can only carry in its 16-bit
// field (7999 Hz) or by code (96 kHz), 8 to 24 bits, 1 to 6 channels. Each decodes to SoX's own
// decoding, and to the same samples with zeros appended (a recorder padding its file).
func TestSoxPiped(t *testing.T) {
	src := datadir.File(t, "speech/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Fatalf("sox is needed as the reference encoder (scripts/install-deps.sh installs it): %v", err)
	}
	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(sox, append([]string{"-V1", "-D"}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sox %v: %v", args, err)
		}
		return out
	}
	raw := run(nil, src, "-t", "f32", "-", "trim", "0", "1.5")
	dir := t.TempDir()
	for _, c := range []struct{ bits, channels, rate int }{{24, 2, 7999}, {8, 1, 11025}, {16, 6, 96000}} {
		name := fmt.Sprintf("%d-bit %d channels %d Hz", c.bits, c.channels, c.rate)
		b := run(raw, "-t", "f32", "-r", "16000", "-c", "1", "-", "-b", fmt.Sprint(c.bits), "-c", fmt.Sprint(c.channels), "-r", fmt.Sprint(c.rate), "-t", "flac", "-")
		path := filepath.Join(dir, "piped.flac")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want := run(nil, path, "-t", "f32", "-")
		for _, data := range [][]byte{b, cat(b, make([]byte, 4096))} {
			a, err := Parse(name, data)
			if err != nil {
				t.Fatal(err)
			}
			if a.Info.TotalFrames != 0 || a.Info.MD5Checked || a.SampleRate != c.rate || a.Channels() != c.channels || a.Info.BitsPerSample != c.bits || a.Frames()*c.channels*4 != len(want) {
				t.Fatalf("%s: %d Hz, %d channels, %d frames (SoX: %d samples), info %+v", name, a.SampleRate, a.Channels(), a.Frames(), len(want)/4, a.Info)
			}
			for i := range a.Frames() {
				for ch := range c.channels {
					if x := math.Float32frombits(binary.LittleEndian.Uint32(want[4*(i*c.channels+ch):])); a.Samples[ch][i] != x {
						t.Fatalf("%s: frame %d channel %d is %v, SoX reads %v", name, i, ch, a.Samples[ch][i], x)
					}
				}
			}
		}
	}
}

// The library's note at each 24 kHz or 176.4 kHz frame header is dropped; other lines of the
// standard logger still reach its writer.
func TestLibraryNoteDropped(t *testing.T) {
	var buf bytes.Buffer
	defer log.SetOutput(log.Writer())
	log.SetOutput(&buf)
	samples := [][]int32{make([]int32, 1000)}
	for _, rate := range []int{24000, 176400} {
		a, err := Parse("24k", encode(t, rate, 16, frame.ChannelsMono, samples, 256, false))
		if err != nil || a.SampleRate != rate || a.Frames() != 1000 {
			t.Fatalf("%d Hz: %v", rate, err)
		}
	}
	log.Print("a line of the program's own")
	if got := buf.String(); strings.Contains(got, "flac library test cases") || !strings.Contains(got, "a line of the program's own") {
		t.Errorf("the standard logger wrote %q", got)
	}
}
