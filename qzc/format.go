// Package qzc is qzoo's compressed-field file format (".qzc") and the netCDF front end of
// every zoo model that compresses gridded fields: [CompressFile] reads a netCDF file, codes
// its variables with a trained model and writes a .qzc file; [DecompressFile] writes the
// reconstruction back as netCDF-3 with the source's coordinates and CF attributes.
//
// # Layout
//
//	offset  size  field
//	0       8     magic "\x89QZC\r\n\x1a\n" (PNG-style: catches text-mode and truncation damage)
//	8       2     format version, little-endian (currently 1)
//	10      4     header length h, little-endian (≤ 16 MiB)
//	14      h     header: JSON, DEFLATE-compressed (see [Header]; inflated size ≤ 64 MiB)
//	14+h    8     payload length p, little-endian (must be exactly what remains less 4)
//	22+h    p     payload: the model's bitstream (for vaeformer: uvarint length of the
//	              hyper-latent rANS stream, that stream, then the latent rANS stream)
//	22+h+p  4     CRC-32C (Castagnoli) of every byte before it
//
// Every size read from the file is checked against the bytes actually present before
// anything is allocated from it; [Parse] never panics (FuzzParse), and errors caused by the
// bytes wrap [ErrCorrupt].
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
)

// Magic starts every .qzc file.
const Magic = "\x89QZC\r\n\x1a\n"

// Version is the format version written; Parse reads only this version.
const Version = 1

// Limits of what Parse accepts.
const (
	MaxHeaderBytes   = 16 << 20
	MaxInflatedBytes = 64 << 20
	// MaxValues bounds T·C·H·W of a header's geometry.
	MaxValues = 1 << 31
)

// ErrCorrupt is wrapped by every error caused by a file's bytes.
var ErrCorrupt = errors.New("qzc: corrupt file")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header describes a .qzc file: the model that coded it, the geometry of the fields, and the
// source netCDF's metadata needed to write it back.
type Header struct {
	// Model is the zoo model's registry name, e.g. "vaeformer".
	Model string `json:"model"`
	// Checkpoint identifies the trained weights: the run directory at compression time, the
	// checkpoint file's SHA-256 and its step. Decompression refuses other weights.
	Checkpoint CheckpointID `json:"checkpoint"`
	// Geometry is T hours on an H×W grid; Channels are the coded channels in payload order.
	Geometry Geometry `json:"geometry"`
	Channels []string `json:"channels"`
	// Mean and Std are the model's per-channel normalisation (physical units), for reference.
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
	// EstimatedBits is the model's rate for the payload (−Σ log₂ p), for comparison with its size.
	EstimatedBits float64 `json:"estimated_bits"`
	// Source describes the netCDF file compressed.
	Source Source `json:"source"`
}

// CheckpointID identifies a trained model's weights.
type CheckpointID struct {
	Dir    string `json:"dir"`
	SHA256 string `json:"sha256"`
	Step   int64  `json:"step"`
}

// Geometry is the layout of the coded fields: T time steps on an H×W latitude–longitude grid.
type Geometry struct{ T, H, W int }

// Source is the compressed netCDF file's metadata.
type Source struct {
	Name   string    `json:"name"`
	Format string    `json:"format"`
	Bytes  int64     `json:"bytes"`
	Global []Attr    `json:"global,omitempty"`
	Time   Coord     `json:"time"`
	Level  *Coord    `json:"level,omitempty"`
	Lat    Coord     `json:"lat"`
	Lon    Coord     `json:"lon"`
	Vars   []VarMeta `json:"vars"`
}

// Attr is a typed netCDF attribute; Values holds its elements as text (floats with strconv's
// shortest round-trip form, so NaN and ±Inf survive JSON). Type is the Go element type
// ("string", "float64", "float32", "int32", "int16", "int8"), Slice tells a one-element slice
// from a scalar.
type Attr struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Slice  bool     `json:"slice,omitempty"`
	Values []string `json:"values"`
}

// Coord is a coordinate: Start + i·Step for i < N when regular (Values empty), else Values.
type Coord struct {
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	Attrs  []Attr    `json:"attrs,omitempty"`
	N      int       `json:"n"`
	Start  float64   `json:"start,omitempty"`
	Step   float64   `json:"step,omitempty"`
	Values []float64 `json:"values,omitempty"`
}

// VarMeta is a variable's metadata; its channels are Name, or Name@level per level.
type VarMeta struct {
	Name    string   `json:"name"`
	Dims    []string `json:"dims"`
	Shape   []int    `json:"shape"`
	Attrs   []Attr   `json:"attrs,omitempty"`
	Packing *Packing `json:"packing,omitempty"`
}

// Packing is CF int16 packing (see netcdf.Packing).
type Packing struct {
	Type         string   `json:"type"`
	ScaleFactor  float64  `json:"scale_factor"`
	AddOffset    float64  `json:"add_offset"`
	FillValue    *float64 `json:"fill_value,omitempty"`
	MissingValue *float64 `json:"missing_value,omitempty"`
}

// Expand returns the coordinate's N values.
func (c Coord) Expand() []float64 {
	if len(c.Values) > 0 {
		return c.Values
	}
	out := make([]float64, c.N)
	for i := range out {
		out[i] = c.Start + float64(i)*c.Step
	}
	return out
}

// CompactCoord returns the coordinate with values stored as Start/Step when every value is
// exactly Start + i·Step (as ERA5's regular grids and hourly times are), else as a list.
func CompactCoord(name, typ string, attrs []Attr, values []float64) Coord {
	c := Coord{Name: name, Type: typ, Attrs: attrs, N: len(values)}
	if len(values) >= 2 {
		step := values[1] - values[0]
		regular := true
		for i, v := range values {
			if values[0]+float64(i)*step != v {
				regular = false
				break
			}
		}
		if regular {
			c.Start, c.Step = values[0], step
			return c
		}
	}
	if len(values) == 1 {
		c.Start = values[0]
		return c
	}
	c.Values = values
	return c
}

// Marshal encodes a header and payload into a .qzc file's bytes and says where they go.
func Marshal(h *Header, payload []byte) ([]byte, Sizes, error) {
	if err := h.Check(); err != nil {
		return nil, Sizes{}, err
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, Sizes{}, fmt.Errorf("qzc: encode header: %w", err)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(js)
	w.Close()
	if z.Len() > MaxHeaderBytes {
		return nil, Sizes{}, fmt.Errorf("qzc: header of %d bytes exceeds %d", z.Len(), MaxHeaderBytes)
	}
	out := make([]byte, 0, fixedBytes+z.Len()+len(payload))
	out = append(out, Magic...)
	out = binary.LittleEndian.AppendUint16(out, Version)
	out = binary.LittleEndian.AppendUint32(out, uint32(z.Len()))
	out = append(out, z.Bytes()...)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(payload)))
	out = append(out, payload...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
	return out, Sizes{Total: len(out), Header: z.Len(), Payload: len(payload), Framing: fixedBytes}, nil
}

// fixedBytes is a file's framing: magic, version, header length, payload length, CRC.
const fixedBytes = len(Magic) + 2 + 4 + 8 + 4

// Sizes reports where a file's bytes go.
type Sizes struct{ Total, Header, Payload, Framing int }

// Parse decodes a .qzc file's bytes: it checks the magic, version, every length against the
// bytes present, the checksum, and the header's consistency ([Header.Check]).
func Parse(data []byte) (*Header, []byte, Sizes, error) {
	fail := func(format string, args ...any) (*Header, []byte, Sizes, error) {
		return nil, nil, Sizes{}, fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	const fixed = fixedBytes
	if len(data) < len(Magic) || string(data[:len(Magic)]) != Magic {
		if bytes.HasPrefix(data, []byte("QZOOCKPT")) {
			return fail("this is a qzoo training checkpoint (ckpt-*.qzc), not a compressed-field file; give its run directory to --checkpoint")
		}
		return fail("not a compressed-field .qzc file (bad magic)")
	}
	if len(data) < fixed {
		return fail("%d bytes, shorter than the %d of an empty file", len(data), fixed)
	}
	if v := binary.LittleEndian.Uint16(data[8:]); v != Version {
		return fail("format version %d, this program reads version %d", v, Version)
	}
	hlen := uint64(binary.LittleEndian.Uint32(data[10:]))
	if hlen > MaxHeaderBytes || hlen > uint64(len(data)-fixed) {
		return fail("header length %d exceeds the %d bytes present", hlen, len(data)-fixed)
	}
	body := data[:len(data)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(data[len(data)-4:]); got != want {
		return fail("checksum mismatch (CRC-32C %08x, stored %08x): the file is damaged or truncated", got, want)
	}
	off := 14 + int(hlen)
	plen := binary.LittleEndian.Uint64(data[off:])
	if plen != uint64(len(body)-off-8) {
		return fail("payload length %d, but %d bytes follow the header", plen, len(body)-off-8)
	}
	js, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data[14:off])), MaxInflatedBytes+1))
	if err != nil {
		return fail("header: %v", err)
	}
	if len(js) > MaxInflatedBytes {
		return fail("header inflates beyond %d bytes", MaxInflatedBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var h Header
	if err := dec.Decode(&h); err != nil {
		return fail("header: %v", err)
	}
	if err := h.Check(); err != nil {
		return nil, nil, Sizes{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	sizes := Sizes{Total: len(data), Header: int(hlen), Payload: int(plen), Framing: fixed}
	return &h, data[off+8 : len(body)], sizes, nil
}

// Check validates a header's internal consistency: positive bounded geometry, channels, the
// coordinates' lengths against the geometry, variables' shapes, finite numbers.
func (h *Header) Check() error {
	g := h.Geometry
	if g.T < 1 || g.H < 1 || g.W < 1 || int64(g.T)*int64(g.H)*int64(g.W)*int64(max(len(h.Channels), 1)) > MaxValues {
		return fmt.Errorf("qzc: header: geometry %d×%d×%d with %d channels out of range", g.T, g.H, g.W, len(h.Channels))
	}
	if h.Model == "" || len(h.Channels) == 0 || len(h.Channels) > 1<<16 {
		return fmt.Errorf("qzc: header: model %q with %d channels", h.Model, len(h.Channels))
	}
	if len(h.Mean) != len(h.Channels) || len(h.Std) != len(h.Channels) {
		return fmt.Errorf("qzc: header: %d channels but %d means and %d standard deviations", len(h.Channels), len(h.Mean), len(h.Std))
	}
	s := &h.Source
	for _, c := range []struct {
		c    *Coord
		want int
	}{{&s.Time, g.T}, {&s.Lat, g.H}, {&s.Lon, g.W}} {
		if err := c.c.check(c.want); err != nil {
			return err
		}
	}
	if s.Level != nil {
		if err := s.Level.check(-1); err != nil {
			return err
		}
	}
	channels := 0
	for _, v := range s.Vars {
		want := []int{g.T, g.H, g.W}
		if s.Level != nil && len(v.Shape) == 4 {
			want = []int{g.T, s.Level.N, g.H, g.W}
		}
		if len(v.Shape) != len(want) || len(v.Dims) != len(want) {
			return fmt.Errorf("qzc: header: variable %q has shape %v, want %v", v.Name, v.Shape, want)
		}
		for i := range want {
			if v.Shape[i] != want[i] {
				return fmt.Errorf("qzc: header: variable %q has shape %v, want %v", v.Name, v.Shape, want)
			}
		}
		if len(want) == 4 {
			channels += want[1]
		} else {
			channels++
		}
		if p := v.Packing; p != nil && (!finite(p.ScaleFactor) || !finite(p.AddOffset) || p.ScaleFactor == 0) {
			return fmt.Errorf("qzc: header: variable %q: packing scale %v offset %v", v.Name, p.ScaleFactor, p.AddOffset)
		}
	}
	if channels != len(h.Channels) {
		return fmt.Errorf("qzc: header: variables hold %d channels, the payload codes %d", channels, len(h.Channels))
	}
	return nil
}

func (c *Coord) check(want int) error {
	if c.N < 1 || c.N > MaxValues || (want >= 0 && c.N != want) {
		return fmt.Errorf("qzc: header: coordinate %q has %d values, want %d", c.Name, c.N, want)
	}
	if len(c.Values) != 0 && len(c.Values) != c.N {
		return fmt.Errorf("qzc: header: coordinate %q lists %d values, says %d", c.Name, len(c.Values), c.N)
	}
	for _, v := range append([]float64{c.Start, c.Step}, c.Values...) {
		if !finite(v) {
			return fmt.Errorf("qzc: header: coordinate %q holds %v", c.Name, v)
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
