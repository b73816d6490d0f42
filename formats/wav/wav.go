package wav

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/qzoo/qzoo/internal/sniff"
)

// Bounds on a header, checked before anything is allocated.
const (
	MaxChannels   = 64     // more is a corrupt header, not a microphone array
	MaxSampleRate = 768000 // the highest rate audio interfaces offer
	// MaxSamples bounds samples (frames × channels) in one file: 4 GiB of float32.
	MaxSamples = 1 << 30
	// MaxFileBytes bounds the file Read loads: a RIFF size field cannot describe more.
	MaxFileBytes = 1<<32 + 8
)

// Encoding is how a sample is coded in the file.
type Encoding int

const (
	PCM   Encoding = iota + 1 // integer PCM (8-bit unsigned, wider signed)
	Float                     // IEEE 754 float
	MuLaw                     // G.711 mu-law, 8 bits
	ALaw                      // G.711 a-law, 8 bits
)

// placeholderDataSize is the least of the data sizes streaming writers leave when their output
// cannot be sought back to: SoX's 0x7FFFF000 (2 GiB less 4 KiB) rounded down to whole frames
// (what `sox ... -t wav -` writes to a pipe: 0x7FFFF000 for 16-bit mono, 0x7FFFEFFC for 24-bit
// stereo), INT32_MAX, 0x80000000, 0xFFFFFFFF. A data chunk declaring at least this, rounded
// down to whole frames, and running past the end of the file is a stream, not a truncation.
const placeholderDataSize = 0x7FFFF000

func (e Encoding) String() string {
	switch e {
	case PCM:
		return "PCM"
	case Float:
		return "float"
	case MuLaw:
		return "mu-law"
	case ALaw:
		return "a-law"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// Format is how the file stored its samples.
type Format struct {
	Encoding Encoding
	// Bits is the container size of one sample in bits (8, 16, 24, 32 or 64).
	Bits int
	// ValidBits is the bits of precision the file declares: Bits, or fewer in an extensible
	// header (e.g. 20 valid bits in a 24-bit container, left-justified and read as 24-bit).
	ValidBits int
	// Extensible is true for a WAVE_FORMAT_EXTENSIBLE header (format tag 0xFFFE).
	Extensible bool
}

func (f Format) String() string {
	s := fmt.Sprintf("%d-bit %v", f.Bits, f.Encoding)
	if f.ValidBits != f.Bits {
		s += fmt.Sprintf(" (%d valid bits)", f.ValidBits)
	}
	if f.Extensible {
		s += ", extensible"
	}
	return s
}

// Audio is a decoded WAV file.
type Audio struct {
	SampleRate int // frames per second
	// Samples is [channels][frames]: one slice per channel, all of one length.
	Samples [][]float32
	// Format is the source file's; [Write] ignores it and always writes 16-bit PCM.
	Format Format
}

// Channels is the number of channels.
func (a *Audio) Channels() int { return len(a.Samples) }

// Frames is the number of samples per channel.
func (a *Audio) Frames() int {
	if len(a.Samples) == 0 {
		return 0
	}
	return len(a.Samples[0])
}

// Seconds is the duration, Frames / SampleRate.
func (a *Audio) Seconds() float64 {
	if a.SampleRate <= 0 {
		return 0
	}
	return float64(a.Frames()) / float64(a.SampleRate)
}

// Mono returns the mean of the channels at each frame, [frames]float32, in a new slice (a copy
// of the one channel of a mono file).
func (a *Audio) Mono() []float32 {
	out := make([]float32, a.Frames())
	if len(a.Samples) == 0 {
		return out
	}
	inv := 1 / float64(len(a.Samples))
	for i := range out {
		var s float64
		for _, ch := range a.Samples {
			s += float64(ch[i])
		}
		out[i] = float32(s * inv)
	}
	return out
}

// Read reads the WAV file at path (see [Parse]); every error names the file. The file is loaded
// whole, at most [MaxFileBytes]; a directory or a device is refused ([sniff.ReadFile]).
func Read(path string) (*Audio, error) {
	data, err := sniff.ReadFile(path, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("wav: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes the WAV file held in data; name (a path, or any label) is named by every
// error. The package doc states the rules of the walk.
func Parse(name string, data []byte) (*Audio, error) {
	a, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("wav: %s: %w", name, err)
	}
	return a, nil
}

// Format tags of the fmt chunk.
const (
	tagPCM        = 0x0001
	tagFloat      = 0x0003
	tagALaw       = 0x0006
	tagMuLaw      = 0x0007
	tagExtensible = 0xFFFE
)

// tagNames names format tags a reader meets, so that a refusal says what the file holds.
var tagNames = map[uint16]string{
	0x0000: "unknown",
	0x0002: "Microsoft ADPCM",
	0x0011: "IMA ADPCM",
	0x0022: "TrueSpeech",
	0x0031: "GSM 6.10",
	0x0040: "G.721 ADPCM",
	0x0050: "MPEG",
	0x0055: "MPEG Layer III (MP3)",
	0x0092: "Dolby AC-3 SPDIF",
	0x0160: "Windows Media Audio v1",
	0x0161: "Windows Media Audio",
	0x0162: "Windows Media Audio Pro",
	0x0163: "Windows Media Audio Lossless",
	0x1610: "MPEG-4 AAC (HEAAC)",
	0x2000: "Dolby AC-3",
	0xF1AC: "FLAC",
}

// guidTail is bytes 2..15 of every KSDATAFORMAT_SUBTYPE GUID built on a format tag
// (00000000-0000-0010-8000-00aa00389b71, the tag in the first two bytes).
var guidTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// header is what the fmt chunk says.
type header struct {
	format     Format
	channels   int
	rate       int
	blockAlign int
}

// Is reports whether data holds a WAV file, by its content: a RIFF WAVE header at its start or
// after ID3v2 tags, or the first bytes of one (a file cut short, which [Parse] names as such).
func Is(data []byte) bool {
	if n, err := sniff.LeadingTags(data); err == nil && n > 0 {
		data = data[n:]
	}
	return len(data) > 0 && identify(data) == ""
}

func parse(data []byte) (*Audio, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("the file is empty (0 bytes)")
	}
	if n, err := sniff.LeadingTags(data); err != nil {
		return nil, err
	} else if n > 0 && identify(data[n:]) == "" {
		a, err := parse(data[n:])
		if err != nil {
			return nil, fmt.Errorf("%w (offsets from the RIFF header, after %d bytes of ID3v2 tags)", err, n)
		}
		return a, nil
	}
	if what := identify(data); what != "" {
		return nil, fmt.Errorf("this is %s, not a WAV file", what)
	}
	if len(data) < 12 {
		return nil, fmt.Errorf("%d bytes is shorter than the 12-byte RIFF WAVE header", len(data))
	}
	end := int64(len(data))
	var (
		h                   *header
		dataStart, dataSize int64    = 0, -1
		seen                []string // chunk names, for an error that says what the file holds
	)
	off := int64(12)
	for off+8 <= end {
		id := data[off : off+4]
		size := int64(binary.LittleEndian.Uint32(data[off+4:]))
		body := off + 8
		if !isFourCC(id) {
			if h != nil && dataSize >= 0 {
				break // trailing bytes that are no chunk: an appended tag, junk
			}
			return nil, fmt.Errorf("the bytes at offset %d (%q) are not a chunk name: the file is damaged", off, id)
		}
		if len(seen) < 16 {
			seen = append(seen, fmt.Sprintf("%q", id))
		}
		switch string(id) {
		case "fmt ":
			if h != nil {
				return nil, fmt.Errorf("a second fmt chunk at offset %d", off)
			}
			if body+size > end {
				return nil, fmt.Errorf("the fmt chunk at offset %d declares %d bytes, past the end of the file at %d (truncated)", off, size, end)
			}
			var err error
			if h, err = parseFmt(data[body : body+size]); err != nil {
				return nil, fmt.Errorf("fmt chunk: %w", err)
			}
		case "data":
			if dataSize >= 0 {
				return nil, fmt.Errorf("a second data chunk at offset %d", off)
			}
			if h == nil {
				return nil, fmt.Errorf("the data chunk at offset %d comes before any fmt chunk", off)
			}
			rest := data[body:]
			streamed := size >= placeholderDataSize/int64(h.blockAlign)*int64(h.blockAlign) && body+size > end ||
				size == 0 && len(rest) > 0 && !chunkAt(data, body) && sniff.Tag(rest) == ""
			if streamed {
				size = appendedHeader(rest)
			} else if body+size > end {
				return nil, fmt.Errorf("the data chunk declares %d bytes, but the file holds %d after its header (truncated)", size, end-body)
			}
			dataStart, dataSize = body, size
			if streamed {
				off = end
				continue
			}
		default:
			if body+size > end {
				if h != nil && dataSize >= 0 {
					off = end // a damaged chunk after the audio: the audio is whole
					continue
				}
				return nil, fmt.Errorf("the %q chunk at offset %d declares %d bytes, past the end of the file at %d (truncated)", id, off, size, end)
			}
		}
		next := body + size
		// After an odd size, the pad byte (meant to be zero, not always); when a writer left it
		// out, the next chunk's header starts right there instead.
		if size%2 == 1 && (next < end && data[next] == 0 || !chunkAt(data, next)) {
			next++
		}
		off = next
	}
	if h == nil || dataSize < 0 {
		if off < end {
			return nil, fmt.Errorf("the file ends inside a chunk header at offset %d, %d of its 8 bytes (truncated)", off, end-off)
		}
		missing := "fmt"
		if h != nil {
			missing = "data"
		}
		if len(seen) == 0 {
			return nil, fmt.Errorf("no %s chunk: the file holds no chunk after its 12-byte RIFF WAVE header", missing)
		}
		return nil, fmt.Errorf("no %s chunk (the chunks: %s)", missing, strings.Join(seen, ", "))
	}
	frames := dataSize / int64(h.blockAlign)
	if frames*int64(h.channels) > MaxSamples {
		return nil, fmt.Errorf("%d frames × %d channels is over the limit of %d samples", frames, h.channels, MaxSamples)
	}
	return decode(h, data[dataStart:dataStart+frames*int64(h.blockAlign)], int(frames))
}

// parseFmt reads and checks a fmt chunk's body.
func parseFmt(b []byte) (*header, error) {
	if len(b) < 16 {
		return nil, fmt.Errorf("%d bytes is shorter than the 16 a fmt chunk holds", len(b))
	}
	le := binary.LittleEndian
	tag := le.Uint16(b)
	h := &header{
		channels:   int(le.Uint16(b[2:])),
		rate:       int(le.Uint32(b[4:])),
		blockAlign: int(le.Uint16(b[12:])),
	}
	bits := int(le.Uint16(b[14:]))
	h.format = Format{Bits: bits, ValidBits: bits}
	if tag == tagExtensible {
		if len(b) < 40 {
			return nil, fmt.Errorf("format tag 0xFFFE (extensible) in %d bytes: it needs 40", len(b))
		}
		if cb := le.Uint16(b[16:]); cb < 22 {
			return nil, fmt.Errorf("format tag 0xFFFE (extensible) with cbSize %d: it needs 22", cb)
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], guidTail) {
			return nil, fmt.Errorf("extensible subformat GUID %x is not one built on a format tag (PCM, float, mu-law, a-law)", guid)
		}
		h.format.Extensible = true
		tag = le.Uint16(guid)
		if v := int(le.Uint16(b[18:])); v != 0 { // 0: writers that leave it unset mean all bits
			if v > bits {
				return nil, fmt.Errorf("valid bits per sample %d exceed the %d-bit container", v, bits)
			}
			h.format.ValidBits = v
		}
	}
	switch tag {
	case tagPCM:
		h.format.Encoding = PCM
	case tagFloat:
		h.format.Encoding = Float
	case tagMuLaw:
		h.format.Encoding = MuLaw
	case tagALaw:
		h.format.Encoding = ALaw
	default:
		name, ok := tagNames[tag]
		if !ok {
			name = "not one this package knows"
		}
		return nil, fmt.Errorf("format tag 0x%04X (%s) is not supported: this package reads PCM, IEEE float, mu-law and a-law", tag, name)
	}
	switch {
	case h.channels == 0 || h.channels > MaxChannels:
		return nil, fmt.Errorf("channels %d out of range [1, %d]", h.channels, MaxChannels)
	case h.rate == 0 || h.rate > MaxSampleRate:
		return nil, fmt.Errorf("sample rate %d out of range [1, %d]", h.rate, MaxSampleRate)
	}
	var ok bool
	switch h.format.Encoding {
	case PCM:
		// A non-extensible header may state e.g. 12 or 20 bits: the samples are left-justified
		// in whole bytes, so they are read at the container's width.
		ok = bits >= 1 && bits <= 32 && (!h.format.Extensible || bits%8 == 0)
		h.format.Bits = (bits + 7) / 8 * 8
	case Float:
		ok = bits == 32 || bits == 64
	case MuLaw, ALaw:
		ok = bits == 8
	}
	if !ok {
		return nil, fmt.Errorf("bits per sample %d is not one %v is stored in", bits, h.format.Encoding)
	}
	// A block align below a frame's bytes (0, or one channel's worth) is a writer's slip that
	// SoX reads past, as a frame; above it, the frames would hold padding the header does not
	// describe (24-bit samples in 32-bit slots, say), and which bytes are samples is a guess.
	switch want := h.channels * h.format.Bits / 8; {
	case h.blockAlign < want:
		h.blockAlign = want
	case h.blockAlign > want:
		return nil, fmt.Errorf("block align %d is over channels %d × %d bytes = %d: the frames hold bytes the header does not describe", h.blockAlign, h.channels, h.format.Bits/8, want)
	}
	return h, nil
}

// decode turns whole frames of interleaved samples into one slice per channel.
func decode(h *header, b []byte, frames int) (*Audio, error) {
	a := &Audio{SampleRate: h.rate, Format: h.format, Samples: make([][]float32, h.channels)}
	all := make([]float32, frames*h.channels)
	for c := range a.Samples {
		a.Samples[c] = all[c*frames : (c+1)*frames : (c+1)*frames]
	}
	width := h.format.Bits / 8
	le := binary.LittleEndian
	for i := 0; i < frames; i++ {
		for c, ch := range a.Samples {
			s := b[(i*h.channels+c)*width:]
			var x float32
			switch {
			case h.format.Encoding == PCM && width == 1:
				x = float32(int(s[0])-128) / 128
			case h.format.Encoding == PCM && width == 2:
				x = float32(int16(le.Uint16(s))) / (1 << 15)
			case h.format.Encoding == PCM && width == 3:
				v := int32(uint32(s[0])<<8|uint32(s[1])<<16|uint32(s[2])<<24) >> 8
				x = float32(v) / (1 << 23)
			case h.format.Encoding == PCM && width == 4:
				x = float32(float64(int32(le.Uint32(s))) / (1 << 31))
			case h.format.Encoding == Float && width == 4:
				x = math.Float32frombits(le.Uint32(s))
			case h.format.Encoding == Float && width == 8:
				v := math.Float64frombits(le.Uint64(s))
				if math.Abs(v) > math.MaxFloat32 && !math.IsInf(v, 0) {
					return nil, fmt.Errorf("sample %g at frame %d of channel %d is beyond float32's range", v, i, c)
				}
				x = float32(v)
			case h.format.Encoding == MuLaw:
				x = float32(muLaw(s[0])) / (1 << 15)
			case h.format.Encoding == ALaw:
				x = float32(aLaw(s[0])) / (1 << 15)
			}
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("sample %v at frame %d of channel %d (float samples must be finite)", x, i, c)
			}
			ch[i] = x
		}
	}
	return a, nil
}

// muLaw expands a G.711 mu-law byte to a 16-bit linear value (ITU-T G.711; the Sun reference
// decoder's arithmetic), in [-32124, 32124].
func muLaw(u byte) int16 {
	u = ^u
	t := (int(u&0x0F)<<3 + 0x84) << ((u & 0x70) >> 4)
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// aLaw expands a G.711 a-law byte to a 16-bit linear value, in [-32256, 32256].
func aLaw(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t = (t + 0x108) << (seg - 1)
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// appendedHeader returns the length of the audio in stream, the bytes after the header of a data
// chunk whose size was never filled in: all of it, or the bytes before a RIFF WAVE header
// appended to it whose data chunk declares exactly that length. Festival's text2wave writing to
// a pipe leaves its header so: it writes the audio, fails to seek back, and writes the finished
// header at the end, which read as audio would be a click of 22 samples.
func appendedHeader(stream []byte) int64 {
	p := bytes.LastIndex(stream, []byte("RIFF"))
	if p < 0 || p+12 > len(stream) || len(stream)-p > 1024 || string(stream[p+8:p+12]) != "WAVE" {
		return int64(len(stream))
	}
	if d := bytes.Index(stream[p:], []byte("data")); d >= 0 && p+d+8 <= len(stream) && binary.LittleEndian.Uint32(stream[p+d+4:]) == uint32(p) {
		return int64(p)
	}
	return int64(len(stream))
}

// chunkAt reports whether a plausible chunk header starts at off in data: a four-character name
// and a size that ends within the file (a byte past it allowed, for a missing pad byte), or any
// size for a data chunk (streaming writers leave placeholders there).
func chunkAt(data []byte, off int64) bool {
	end := int64(len(data))
	if off < 0 || off+8 > end || !isFourCC(data[off:off+4]) {
		return false
	}
	return string(data[off:off+4]) == "data" || off+8+int64(binary.LittleEndian.Uint32(data[off+4:])) <= end+1
}

// isFourCC reports whether b is a plausible chunk name: four printable ASCII bytes.
func isFourCC(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return false
		}
	}
	return len(b) == 4
}

// identify names what data is when it is not a little-endian RIFF WAVE file ("" when it may be).
func identify(b []byte) string {
	if bytes.HasPrefix(b, []byte("RIFF")) && (len(b) < 12 || string(b[8:12]) == "WAVE") || bytes.HasPrefix([]byte("RIFF"), b) {
		return "" // a WAV file, or one cut short in its first bytes
	}
	what := sniff.Kind(b)
	if bytes.HasPrefix(b, []byte("RF64")) || bytes.HasPrefix(b, []byte("BW64")) {
		what += ", which this package does not read"
	}
	return what
}
