// Package qzc is qzoo's compressed-signal container (".qzc"): one file holds one signal — of
// any kind: gridded fields ([Gridded]), audio ([Audio]) — coded by one trained zoo model, with
// the model's identity, the signal's channels, shape and sample rate, named numbers the model
// reports about its coding (frame rate, stages), and the description of the source file that
// its media front end (media/netcdf for netCDF, media/wav for audio) needs to write the signal
// back. The container knows no media and no model: it frames, checks and names them.
//
// # Layout
//
//	offset  size  field
//	0       8     magic "\x89QZC\r\n\x1a\n" (PNG-style: catches text-mode and truncation damage)
//	8       2     format version, little-endian (2 to 6, see below; version 1 is read too)
//	10      4     header length h, little-endian (≤ 16 MiB)
//	14      h     header: JSON, DEFLATE-compressed (see [Header]; inflated size ≤ 64 MiB)
//	14+h    8     payload length p, little-endian (must be exactly what remains less 4)
//	22+h    p     payload: the model's bitstream (for vaeformer: uvarint length of the
//	              hyper-latent rANS stream, that stream, then the latent rANS stream)
//	22+h+p  4     CRC-32C (Castagnoli) of every byte before it
//
// Version 1 (qzoo before the container served any signal) held gridded fields only: its
// header had "geometry" {T, H, W} where version 2 has "shape" [T, H, W], and neither
// "signal" nor "media". [Parse] reads it as a gridded signal written by the netCDF front end;
// the framing and the payload are the same.
//
// Version 3 adds two header fields, "sample_rate" and "coding" (audio needs them); a header
// without them is written as version 2, so that gridded files stay byte for byte what they
// were and older programs still read them, while an older program given an audio file says
// that it does not read version 3. A version 2 header holding either field is refused.
//
// Version 4 adds the mask of the signal's missing values ([Mask]), between the header and the
// payload length: its length m (8 bytes, little-endian; m ≥ 1), then its m bytes, so that the
// payload starts at 30+h+m. A signal with no missing value is written as version 2 or 3 as
// before; an older program given a file with missing values says that it does not read
// version 4. A version 4 file marks at least one value missing.
//
// Version 5 is the error-bounded mode ([ErrorBound]: `codec compress --max_abs_error`): after
// the header come the mask's length m (8 bytes; 0 when no value is missing) and its m bytes,
// then the residuals' length r (8 bytes, r ≥ 1) and their r bytes, then the payload length;
// the payload starts at 38+h+m+r. The header's "error_bound" says how the residuals correct the
// decoded values; what the residual bytes hold is the compressor's (package compressor). A file
// without residuals is written as version 2, 3 or 4 as before.
//
// Version 6 is segmented: the signal is coded in k ≥ 2 segments along its first axis (gridded:
// hours), each with its own mask, residuals and payload, so that a [Writer] and a [Reader] hold
// one segment at a time however long the signal. The header's "segments" lists the segments'
// lengths along Shape[0] (each ≥ 1, adding up to Shape[0]); after the header come
//
//	offset  size  field
//	14+h    8     segment count k (the header's number of segments)
//	then, for each segment:
//	        8     its length along Shape[0] (the header's)
//	        8     mask length m (0 when none of the segment's values is missing)
//	        m     the segment's mask ([Mask] of its channels × length × ∏Shape[1:] values)
//	        8     residuals' length r (r ≥ 1 exactly when the header has an error bound)
//	        r     the segment's residuals
//	        8     payload length p
//	        p     the segment's payload
//	then    4     CRC-32C (Castagnoli) of every byte before it
//
// with nothing between the last payload and the checksum. A signal coded in one segment is
// written as version 2 to 5 as before; [Parse] and [ReadFile] refuse a version 6 file with
// [ErrSegmented] (read it with [Open]).
//
// Every size read from the file is checked against the bytes actually present before
// anything is allocated from it; [Parse] and [NewReader] never panic (FuzzParse, FuzzOpen), and
// errors caused by the bytes wrap [ErrCorrupt].
package qzc

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"regexp"
)

// Magic starts every .qzc file.
const Magic = "\x89QZC\r\n\x1a\n"

// Version is the newest format version, which a [Writer] writes for a signal of several
// segments (Header.Segments). Marshal writes 5 for a header with residuals
// (Header.ErrorBound), else 4 for a signal with missing values (Header.Mask), else 3 for a
// header with a sample rate or coding values, else 2; Parse reads versions 1 to 5, [Open]
// versions 1 to 6.
const Version = 6

// Limits of what Parse accepts.
const (
	MaxHeaderBytes   = 16 << 20
	MaxInflatedBytes = 64 << 20
	// MaxValues bounds the values of a signal: the product of its shape times its channels.
	MaxValues = 1 << 31
	// MaxFileBytes bounds the size of a file ReadFile reads.
	MaxFileBytes = 1 << 34
)

// ErrCorrupt is wrapped by every error caused by a file's bytes.
var ErrCorrupt = errors.New("qzc: corrupt file")

// ErrSegmented is wrapped by the error of [Parse] and [ReadFile] given an intact version 6
// (segmented) file, which they do not read: [Open] does.
var ErrSegmented = errors.New("qzc: segmented file (version 6)")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Kind is the kind of signal a file holds; it tells which models and media front ends can
// handle it. A kind is a lower-case word (letters, digits, '-', '_').
type Kind string

// Gridded is fields on a latitude–longitude grid over time: each channel has shape
// [T, H, W] (hours, latitudes, longitudes). Every version 1 file holds one.
const Gridded Kind = "gridded"

// Audio is sound sampled in time: each channel has shape [N], N samples at the header's
// SampleRate (which it requires). The codec's speech models code one channel, "mono", at
// 16 kHz; the source's own rate, channels and length are the front end's description's.
const Audio Kind = "audio"

// Names of Header.Coding values that the codec command knows how to show; a compressor may
// report others, which are listed by name.
const (
	// CodingFrameRate is the rate of the model's token frames (frames per second, e.g. 12.5).
	CodingFrameRate = "frame_rate"
	// CodingStages is the number of codebooks (quantizer stages) coded per frame.
	CodingStages = "stages"
)

// MaxSampleRate bounds a header's sample rate (Hz).
const MaxSampleRate = 1 << 20

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// maxCoding bounds the number of Header.Coding values.
const maxCoding = 64

// Header describes a .qzc file: the kind of signal, the model that coded it, the signal's
// channels and shape, and the source file's description for its media front end.
type Header struct {
	// Signal is the kind of signal the payload codes.
	Signal Kind `json:"signal"`
	// Model is the zoo model's registry name, e.g. "vaeformer".
	Model string `json:"model"`
	// Checkpoint identifies the trained weights: the run directory at compression time, the
	// checkpoint file's SHA-256 and its step. Decompression refuses other weights.
	Checkpoint CheckpointID `json:"checkpoint"`
	// Shape is each channel's shape (gridded: [T, H, W]; audio: [N]); Channels are the coded
	// channels in payload order.
	Shape    []int    `json:"shape"`
	Channels []string `json:"channels"`
	// Mean and Std are the model's per-channel normalisation (physical units), for
	// reference; empty for a model that does not normalise.
	Mean []float64 `json:"mean,omitempty"`
	Std  []float64 `json:"std,omitempty"`
	// EstimatedBits is the model's rate for the payload (−Σ log₂ p), for comparison with its size.
	EstimatedBits float64 `json:"estimated_bits"`
	// SampleRate is the signal's samples per second along its first axis (audio: along [N]);
	// 0 for a signal without one (gridded). Version 3.
	SampleRate int `json:"sample_rate,omitempty"`
	// Coding holds named numbers the model reports about how it coded the payload (see
	// compressor.CodingReporter), shown by `codec inspect`: [CodingFrameRate], [CodingStages],
	// and any others under lower-case names. Version 3.
	Coding map[string]float64 `json:"coding,omitempty"`
	// Media names the front end that read the source and writes the signal back ("netcdf");
	// Source is that front end's description of the source file, opaque to the container.
	Media  string          `json:"media"`
	Source json.RawMessage `json:"source"`
	// Mask codes the positions of the signal's missing values, which the payload codes filled
	// in; empty when none is missing. It is stored beside the JSON header, not in it. Version 4.
	Mask Mask `json:"-"`
	// ErrorBound, when not nil, says how Residuals correct the decoded values so that every
	// value written back lies within a bound of the source's. Version 5.
	ErrorBound *ErrorBound `json:"error_bound,omitempty"`
	// Residuals are the error-bounded mode's coded residuals (≥ 1 byte exactly when
	// ErrorBound is set), stored beside the JSON header. Version 5.
	Residuals []byte `json:"-"`
	// Segments are the lengths along Shape[0] of the segments a segmented file codes the
	// signal in (at least 2, each ≥ 1, adding up to Shape[0]), each with its own mask,
	// residuals and payload ([Segment]): Mask and Residuals are then empty. Empty for a
	// signal coded in one segment. Version 6.
	Segments []int `json:"segments,omitempty"`
}

// ErrorBound is the error-bounded mode's description, one entry per channel: the bound on the
// absolute error of every value written back (MaxAbs, in the channel's units; 0 where the
// channel is not bounded and has no residuals), the lattice the media front end writes the
// channel's values on (Offset + Step·k for integers k from Lo to Hi, beyond which the writer
// clamps: CF int16 packing; Step 0 where values are written as float32), and the residual
// quantiser's bin: in lattice steps (an odd integer
// 2m+1, m = the steps a value may be off) where Step > 0, in the channel's units where
// Step = 0. Package compressor codes and decodes the residuals.
type ErrorBound struct {
	MaxAbs []float64 `json:"max_abs"`
	Step   []float64 `json:"step"`
	Offset []float64 `json:"offset"`
	Lo     []float64 `json:"lo"`
	Hi     []float64 `json:"hi"`
	Bin    []float64 `json:"bin"`
}

// Check validates e against a signal of that many channels.
func (e *ErrorBound) Check(channels int) error {
	for _, f := range [][]float64{e.Step, e.Offset, e.Lo, e.Hi, e.Bin} {
		if len(f) != len(e.MaxAbs) || len(f) != channels {
			return fmt.Errorf("qzc: header: error bound of %d, %d, %d, %d, %d and %d entries (bound, step, offset, lo, hi, bin) for %d channels",
				len(e.MaxAbs), len(e.Step), len(e.Offset), len(e.Lo), len(e.Hi), len(e.Bin), channels)
		}
	}
	for i := range channels {
		m, s, o, b := e.MaxAbs[i], e.Step[i], e.Offset[i], e.Bin[i]
		ok := finite(m) && finite(s) && finite(o) && finite(b) && finite(e.Lo[i]) && finite(e.Hi[i]) && e.Lo[i] <= e.Hi[i] && m >= 0
		if ok && m > 0 {
			ok = b > 0 && (s == 0 || b == math.Trunc(b) && math.Mod(b, 2) == 1 && b <= 1<<20)
		}
		if !ok {
			return fmt.Errorf("qzc: header: channel %d's error bound %v, lattice step %v offset %v, bin %v: want finite values, a bound ≥ 0, and for a bounded channel a bin > 0 (an odd integer up to 2^20 on a lattice)",
				i, m, s, o, b)
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// headerV1 is a version 1 header: gridded fields, written by the netCDF front end.
type headerV1 struct {
	Model         string                `json:"model"`
	Checkpoint    CheckpointID          `json:"checkpoint"`
	Geometry      struct{ T, H, W int } `json:"geometry"`
	Channels      []string              `json:"channels"`
	Mean          []float64             `json:"mean"`
	Std           []float64             `json:"std"`
	EstimatedBits float64               `json:"estimated_bits"`
	Source        json.RawMessage       `json:"source"`
}

// mediaV1 is the media front end of every version 1 file.
const mediaV1 = "netcdf"

// CheckpointID identifies a trained model's weights.
type CheckpointID struct {
	Dir    string `json:"dir"`
	SHA256 string `json:"sha256"`
	Step   int64  `json:"step"`
}

// Values returns the number of values the header's signal holds: the product of Shape
// times the number of channels.
func (h *Header) Values() int {
	n := len(h.Channels)
	for _, s := range h.Shape {
		n *= s
	}
	return n
}

// Marshal encodes a header and payload into a .qzc file's bytes — version 2 to 5, the lowest
// that holds h (see [Version]) — and says where they go. A segmented header (Header.Segments)
// is written by a [Writer], not by Marshal.
func Marshal(h *Header, payload []byte) ([]byte, Sizes, error) {
	if len(h.Segments) != 0 {
		return nil, Sizes{}, fmt.Errorf("qzc: a header of %d segments is written segment by segment (qzc.Create), not by Marshal", len(h.Segments))
	}
	if err := h.Check(); err != nil {
		return nil, Sizes{}, err
	}
	version := h.version()
	z, err := encodeHeader(h)
	if err != nil {
		return nil, Sizes{}, err
	}
	framing := fixedBytes + sectionLengths(version)
	out := make([]byte, 0, framing+len(z)+len(h.Mask)+len(h.Residuals)+len(payload))
	out = appendPrefix(out, version, z)
	if version >= 4 {
		out = binary.LittleEndian.AppendUint64(out, uint64(len(h.Mask)))
		out = append(out, h.Mask...)
	}
	if version == 5 {
		out = binary.LittleEndian.AppendUint64(out, uint64(len(h.Residuals)))
		out = append(out, h.Residuals...)
	}
	out = binary.LittleEndian.AppendUint64(out, uint64(len(payload)))
	out = append(out, payload...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
	return out, Sizes{Total: len(out), Header: len(z), Mask: len(h.Mask), Residuals: len(h.Residuals), Payload: len(payload), Framing: framing, Version: version}, nil
}

// encodeHeader returns h's JSON, DEFLATE-compressed, at most MaxHeaderBytes.
func encodeHeader(h *Header) ([]byte, error) {
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("qzc: encode header: %w", err)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(js)
	w.Close()
	if z.Len() > MaxHeaderBytes {
		return nil, fmt.Errorf("qzc: header of %d bytes exceeds %d", z.Len(), MaxHeaderBytes)
	}
	return z.Bytes(), nil
}

// appendPrefix appends a file's magic, version, header length and compressed header z.
func appendPrefix(out []byte, version int, z []byte) []byte {
	out = append(out, Magic...)
	out = binary.LittleEndian.AppendUint16(out, uint16(version))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(z)))
	return append(out, z...)
}

// sectionLengths is the bytes a file of versions 1 to 5 spends on lengths beside fixedBytes:
// the mask's (versions 4 and 5) and the residuals' (version 5).
func sectionLengths(version int) int {
	return 8 * max(0, min(version, 5)-3)
}

// version is the lowest format version that holds h: 6 with segments, 5 with residuals, 4
// with a mask, 3 with a sample rate or coding values, else 2.
func (h *Header) version() int {
	if len(h.Segments) != 0 {
		return 6
	}
	if h.ErrorBound != nil {
		return 5
	}
	if len(h.Mask) != 0 {
		return 4
	}
	if h.SampleRate != 0 || len(h.Coding) != 0 {
		return 3
	}
	return 2
}

// fixedBytes is a file's framing: magic, version, header length, payload length (version 6:
// segment count), CRC.
const fixedBytes = len(Magic) + 2 + 4 + 8 + 4

// segmentBytes is the framing of each segment of a version 6 file: its length, the lengths
// of its mask, residuals and payload.
const segmentBytes = 4 * 8

// Sizes reports where a file's bytes go (Mask: the missing values' mask, 0 before version 4;
// Residuals: the error-bounded mode's, 0 before version 5; in a segmented file, the sums over
// its segments, whose lengths count as Framing), and its format version.
type Sizes struct{ Total, Header, Mask, Residuals, Payload, Framing, Version int }

// Parse decodes a .qzc file's bytes: it checks the magic, version, every length against the
// bytes present, the checksum, and the header's consistency ([Header.Check]). A version 1
// header comes back as version 2 would hold it (see the package documentation). An intact
// version 6 (segmented) file is refused with an error wrapping [ErrSegmented]: [NewReader]
// reads it segment by segment.
func Parse(data []byte) (*Header, []byte, Sizes, error) {
	fail := func(format string, args ...any) (*Header, []byte, Sizes, error) {
		return nil, nil, Sizes{}, corrupt(format, args...)
	}
	const fixed = fixedBytes
	version, hlen, err := checkPrefix(data, int64(len(data)))
	if err != nil {
		return nil, nil, Sizes{}, err
	}
	if version == 6 {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, nil, Sizes{}, err
		}
		return nil, nil, Sizes{}, fmt.Errorf("%w of %d segments: read it segment by segment (qzc.Open)", ErrSegmented, r.Segments())
	}
	body := data[:len(data)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(data[len(data)-4:]); got != want {
		return fail("checksum mismatch (CRC-32C %08x, stored %08x): the file is damaged or truncated", got, want)
	}
	off := 14 + int(hlen)
	framing := fixed
	var mask Mask
	var residuals []byte
	if version >= 4 {
		lengths := 8 * (int(version) - 2) // the mask's, the residuals' (version 5) and the payload's
		if len(body)-off < lengths {
			return fail("version %d: no room for the section lengths after the header", version)
		}
		mlen := binary.LittleEndian.Uint64(data[off:])
		if version == 4 && mlen == 0 || mlen > uint64(len(body)-off-lengths) {
			return fail("mask length %d, but %d bytes follow the header", mlen, len(body)-off-lengths)
		}
		mask = Mask(data[off+8 : off+8+int(mlen)])
		off += 8 + int(mlen)
		framing += 8
		if version == 5 {
			rlen := binary.LittleEndian.Uint64(data[off:])
			if rlen == 0 || rlen > uint64(len(body)-off-16) {
				return fail("residuals' length %d, but %d bytes follow the mask", rlen, len(body)-off-16)
			}
			residuals = data[off+8 : off+8+int(rlen)]
			off += 8 + int(rlen)
			framing += 8
		}
		if len(mask) == 0 {
			mask = nil
		}
	}
	plen := binary.LittleEndian.Uint64(data[off:])
	if plen != uint64(len(body)-off-8) {
		return fail("payload length %d, but %d bytes follow the header", plen, len(body)-off-8)
	}
	h, err := decodeHeader(version, data[14:14+hlen])
	if err != nil {
		return nil, nil, Sizes{}, err
	}
	h.Mask, h.Residuals = mask, residuals
	if err := h.checkVersion(version); err != nil {
		return nil, nil, Sizes{}, err
	}
	sizes := Sizes{Total: len(data), Header: int(hlen), Mask: len(mask), Residuals: len(residuals), Payload: int(plen), Framing: framing, Version: int(version)}
	return h, data[off+8 : len(body)], sizes, nil
}

// corrupt returns an error wrapping ErrCorrupt.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// checkPrefix checks the start of a file of size bytes (head: its first 14 bytes, or all of
// it when shorter): the magic, room for a file's framing, a version this program reads (1 to
// 6) and a header length within the bytes present. It returns the version and header length.
func checkPrefix(head []byte, size int64) (version int, hlen int64, err error) {
	if len(head) < len(Magic) || string(head[:len(Magic)]) != Magic {
		if bytes.HasPrefix(head, []byte("QZOOCKPT")) {
			return 0, 0, corrupt("this is a qzoo training checkpoint (ckpt-*.ckpt, ckpt-*.qzc in older runs), not a compressed .qzc file; give its run directory to --checkpoint")
		}
		return 0, 0, corrupt("not a compressed .qzc file (bad magic)")
	}
	if size < int64(fixedBytes) {
		return 0, 0, corrupt("%d bytes, shorter than the %d of an empty file", size, fixedBytes)
	}
	version = int(binary.LittleEndian.Uint16(head[8:]))
	if version < 1 || version > Version {
		return 0, 0, corrupt("format version %d, this program reads versions 1 to %d", version, Version)
	}
	hlen = int64(binary.LittleEndian.Uint32(head[10:]))
	if hlen > MaxHeaderBytes || hlen > size-int64(fixedBytes) {
		return 0, 0, corrupt("header length %d exceeds the %d bytes present", hlen, size-int64(fixedBytes))
	}
	return version, hlen, nil
}

// decodeHeader inflates and decodes the header z of a file of that version; a version 1
// header comes back as version 2 would hold it. It checks nothing but the decoding.
func decodeHeader(version int, z []byte) (*Header, error) {
	js, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), MaxInflatedBytes+1))
	if err != nil {
		return nil, corrupt("header: %v", err)
	}
	if len(js) > MaxInflatedBytes {
		return nil, corrupt("header inflates beyond %d bytes", MaxInflatedBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var h Header
	if version == 1 {
		var v1 headerV1
		if err := dec.Decode(&v1); err != nil {
			return nil, corrupt("version 1 header: %v", err)
		}
		g := v1.Geometry
		h = Header{Signal: Gridded, Model: v1.Model, Checkpoint: v1.Checkpoint, Shape: []int{g.T, g.H, g.W},
			Channels: v1.Channels, Mean: v1.Mean, Std: v1.Std, EstimatedBits: v1.EstimatedBits, Media: mediaV1, Source: v1.Source}
	} else if err := dec.Decode(&h); err != nil {
		return nil, corrupt("header: %v", err)
	}
	return &h, nil
}

// checkVersion checks that the header h (with its mask and residuals) of a file of that
// version holds that version's fields only and is consistent ([Header.Check]).
func (h *Header) checkVersion(version int) error {
	if err := h.checkFields(version); err != nil {
		return err
	}
	return h.check()
}

// checkFields checks that the header h of a file of that version holds that version's
// fields only.
func (h *Header) checkFields(version int) error {
	switch {
	case version == 2 && (h.SampleRate != 0 || len(h.Coding) != 0):
		return corrupt("version 2 header holds the version 3 fields sample_rate or coding")
	case version <= 5 && (version == 5) != (h.ErrorBound != nil):
		return corrupt("version %d header with%s an error bound", version, map[bool]string{true: "", false: "out"}[h.ErrorBound != nil])
	case (version == 6) != (len(h.Segments) != 0):
		return corrupt("version %d header with %d segments", version, len(h.Segments))
	}
	return nil
}

// check is Check for a header read from a file: its errors wrap ErrCorrupt.
func (h *Header) check() error {
	if err := h.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

// Check validates a header's internal consistency: a signal kind, a model, a media front end
// and a source description; one to 8 positive dimensions and 1 to 65536 channels whose
// values number at most MaxValues; a mean and a standard deviation per channel, or none; a
// sample rate in [0, MaxSampleRate], and for audio one dimension and a sample rate; at most
// 64 coding values, named by lower-case words, finite; a mask, if any, of the signal's values
// that marks at least one missing; residuals exactly with an error bound; segments, if any, at
// least 2 of length ≥ 1 adding up to Shape[0], and then neither a mask nor residuals (the
// segments carry them, and the residuals of every segment exist exactly with an error bound).
// What the source description says is for the media front end to check.
func (h *Header) Check() error {
	if !kindRE.MatchString(string(h.Signal)) {
		return fmt.Errorf("qzc: header: signal kind %q is not a lower-case word", h.Signal)
	}
	if h.Model == "" || h.Media == "" || len(h.Source) == 0 {
		return fmt.Errorf("qzc: header: model %q, media %q, %d bytes of source description: none may be empty", h.Model, h.Media, len(h.Source))
	}
	if len(h.Channels) == 0 || len(h.Channels) > 1<<16 {
		return fmt.Errorf("qzc: header: %d channels, want 1 to %d", len(h.Channels), 1<<16)
	}
	if len(h.Shape) == 0 || len(h.Shape) > 8 {
		return fmt.Errorf("qzc: header: shape %v has %d dimensions, want 1 to 8", h.Shape, len(h.Shape))
	}
	n := int64(len(h.Channels))
	for _, s := range h.Shape {
		if s < 1 || s > MaxValues || n*int64(s) > MaxValues {
			return fmt.Errorf("qzc: header: shape %v with %d channels out of range (each dimension ≥ 1, at most %d values)", h.Shape, len(h.Channels), int64(MaxValues))
		}
		n *= int64(s)
	}
	if (len(h.Mean) != 0 || len(h.Std) != 0) && (len(h.Mean) != len(h.Channels) || len(h.Std) != len(h.Channels)) {
		return fmt.Errorf("qzc: header: %d channels but %d means and %d standard deviations", len(h.Channels), len(h.Mean), len(h.Std))
	}
	if h.SampleRate < 0 || h.SampleRate > MaxSampleRate {
		return fmt.Errorf("qzc: header: sample rate %d Hz out of range [0, %d]", h.SampleRate, MaxSampleRate)
	}
	if h.Signal == Audio && (h.SampleRate == 0 || len(h.Shape) != 1) {
		return fmt.Errorf("qzc: header: an audio signal needs a sample rate and shape [samples], got %d Hz and shape %v", h.SampleRate, h.Shape)
	}
	if len(h.Coding) > maxCoding {
		return fmt.Errorf("qzc: header: %d coding values, at most %d", len(h.Coding), maxCoding)
	}
	for k, v := range h.Coding {
		if !kindRE.MatchString(k) || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("qzc: header: coding value %q = %v: want a lower-case name and a finite number", k, v)
		}
	}
	if len(h.Segments) != 0 {
		if err := h.checkSegments(); err != nil {
			return err
		}
	} else if (h.ErrorBound != nil) != (len(h.Residuals) != 0) {
		return fmt.Errorf("qzc: header: an error bound needs residuals and residuals an error bound (error bound set: %v, %d residual bytes)", h.ErrorBound != nil, len(h.Residuals))
	}
	if h.ErrorBound != nil {
		if err := h.ErrorBound.Check(len(h.Channels)); err != nil {
			return err
		}
	}
	if len(h.Mask) != 0 {
		if missing, err := h.Mask.Missing(int(n)); err != nil {
			return fmt.Errorf("qzc: header: %w", err)
		} else if missing == 0 {
			return fmt.Errorf("qzc: header: the missing-value mask marks no value missing")
		}
	}
	return nil
}

// checkSegments checks the segments of a header whose shape is valid.
func (h *Header) checkSegments() error {
	k, t := len(h.Segments), h.Shape[0]
	if k < 2 || k > t {
		return fmt.Errorf("qzc: header: %d segments along a first axis of %d: want 2 to %d (one segment is not segmented)", k, t, t)
	}
	sum := 0
	for i, n := range h.Segments {
		if n < 1 || n > t-sum {
			return fmt.Errorf("qzc: header: segment %d of length %d after %d of the first axis's %d: want ≥ 1 and within it", i, n, sum, t)
		}
		sum += n
	}
	if sum != t {
		return fmt.Errorf("qzc: header: segments of lengths adding up to %d along a first axis of %d", sum, t)
	}
	if len(h.Mask) != 0 || len(h.Residuals) != 0 {
		return fmt.Errorf("qzc: header: %d segments, and a mask of %d bytes and %d residual bytes beside them: the segments carry them", k, len(h.Mask), len(h.Residuals))
	}
	return nil
}

// ReadFile reads and parses the .qzc file at path; errors name it. A version 6 (segmented)
// file is refused with an error wrapping [ErrSegmented]: [Open] reads it.
func ReadFile(path string) (*Header, []byte, Sizes, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, Sizes{}, fmt.Errorf("qzc: %w", err)
	}
	if st.Size() > MaxFileBytes {
		return nil, nil, Sizes{}, fmt.Errorf("qzc: %s: %d bytes is larger than any .qzc file this program writes", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, Sizes{}, fmt.Errorf("qzc: %w", err)
	}
	h, payload, sizes, err := Parse(b)
	if err != nil {
		return nil, nil, Sizes{}, fmt.Errorf("%s: %w", path, err)
	}
	return h, payload, sizes, nil
}
