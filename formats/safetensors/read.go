package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/internal/sniff"
	"github.com/qzoo/qzoo/internal/strictjson"
	"github.com/qzoo/qzoo/quant"
)

// MaxHeaderLen bounds the JSON header's length in bytes (the reference implementation's limit).
const MaxHeaderLen = 100_000_000

// MaxRank bounds the number of axes of a tensor.
const MaxRank = 16

// metadataKey is the header's entry of free-form string metadata.
const metadataKey = "__metadata__"

// DType is a tensor's element type, as the header spells it.
type DType string

// The dtypes of the format. F8 types can be read as raw bytes only.
const (
	F64    DType = "F64"
	F32    DType = "F32"
	F16    DType = "F16"
	BF16   DType = "BF16"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
	I64    DType = "I64"
	I32    DType = "I32"
	I16    DType = "I16"
	I8     DType = "I8"
	U64    DType = "U64"
	U32    DType = "U32"
	U16    DType = "U16"
	U8     DType = "U8"
	Bool   DType = "BOOL"
)

var dtypeSizes = map[DType]int{F64: 8, F32: 4, F16: 2, BF16: 2, F8E4M3: 1, F8E5M2: 1,
	I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, Bool: 1}

// Size is the number of bytes of one element, 0 for an unknown dtype.
func (d DType) Size() int { return dtypeSizes[d] }

// Info describes one tensor of a file.
type Info struct {
	Name  string
	DType DType
	// Shape is the tensor's dimensions, row-major; empty for a scalar.
	Shape []int
	// Begin and End are the tensor's byte range in the data section.
	Begin, End int64
}

// Len is the number of elements, the product of Shape.
func (i Info) Len() int { return int((i.End - i.Begin) / int64(i.DType.Size())) }

// File is an open safetensors file: its header, read and checked, and a reader for the tensors.
type File struct {
	// Path names the file in errors.
	Path string
	// Metadata is the header's "__metadata__" (nil if absent).
	Metadata map[string]string
	infos    map[string]Info
	names    []string
	r        io.ReaderAt
	closer   io.Closer
	// dataStart is the file offset of the data section, 8 + the header length.
	dataStart int64
}

// Open opens and checks the safetensors file at path; Close it when done.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if st.IsDir() {
		fh.Close()
		return nil, fmt.Errorf("safetensors: %s is a directory, not a .safetensors file", path)
	}
	f, err := Parse(path, fh, st.Size())
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// Close closes the file opened by Open (a File from Parse has nothing to close).
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// Parse reads and checks the header of the size-byte safetensors file r; path names it in
// errors. The File reads its tensors from r.
func Parse(path string, r io.ReaderAt, size int64) (*File, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors: %s: "+format, append([]any{path}, args...)...)
	}
	head := make([]byte, min(size, 512))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fail("%w", err)
	}
	if what := sniff.StandIn(head); what != "" {
		return nil, fail("this is %s", what)
	}
	if size < 8 {
		return nil, fail("%d bytes, shorter than the 8-byte header length", size)
	}
	n := binary.LittleEndian.Uint64(head[:8])
	if n > MaxHeaderLen {
		return nil, fail("header length %d is over the %d-byte limit (not a safetensors file?)", n, MaxHeaderLen)
	}
	if int64(n) > size-8 {
		return nil, fail("header length %d runs past the end of the %d-byte file (truncated?)", n, size)
	}
	header := make([]byte, n)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fail("reading the header: %w", err)
	}
	f := &File{Path: path, r: r, dataStart: 8 + int64(n), infos: map[string]Info{}}
	if err := f.parseHeader(header, size-f.dataStart); err != nil {
		return nil, fail("%w", err)
	}
	return f, nil
}

// tensorEntry is one tensor's entry of the header.
type tensorEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// parseHeader decodes the JSON header and checks every tensor against the dataLen-byte data
// section.
func (f *File) parseHeader(header []byte, dataLen int64) error {
	// The reference writer pads the header with spaces; JSON allows white space around a value.
	dec := json.NewDecoder(bytes.NewReader(header))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("the header is not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("header: %w", err)
		}
		name := tok.(string) // an object's keys are strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("header, entry %q: %w", name, err)
		}
		if name == metadataKey {
			if f.Metadata != nil {
				return fmt.Errorf("header: %q is given twice", metadataKey)
			}
			if err := strictjson.Decode(raw, &f.Metadata); err != nil {
				return fmt.Errorf("header, %q: %w", metadataKey, err)
			}
			if f.Metadata == nil {
				f.Metadata = map[string]string{}
			}
			continue
		}
		if _, dup := f.infos[name]; dup {
			return fmt.Errorf("header: tensor %q is given twice", name)
		}
		var e tensorEntry
		if err := strictjson.Decode(raw, &e); err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		info, err := checkEntry(name, e, dataLen)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		f.infos[name] = info
		f.names = append(f.names, name)
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if rest := bytes.TrimSpace(header[dec.InputOffset():]); len(rest) > 0 {
		return errors.New("header: data after the JSON object")
	}
	slices.Sort(f.names)
	return f.checkLayout(dataLen)
}

// checkEntry checks one tensor's entry against the dataLen-byte data section.
func checkEntry(name string, e tensorEntry, dataLen int64) (Info, error) {
	dtype := DType(e.DType)
	size := dtype.Size()
	if size == 0 {
		known := make([]string, 0, len(dtypeSizes))
		for d := range dtypeSizes {
			known = append(known, string(d))
		}
		slices.Sort(known)
		return Info{}, fmt.Errorf("unknown dtype %q (known: %s)", e.DType, strings.Join(known, ", "))
	}
	if e.Shape == nil || e.DataOffsets == nil {
		return Info{}, errors.New(`needs "dtype", "shape" and "data_offsets"`)
	}
	if len(e.DataOffsets) != 2 {
		return Info{}, fmt.Errorf("data_offsets has %d numbers, want 2 (begin, end)", len(e.DataOffsets))
	}
	if len(e.Shape) > MaxRank {
		return Info{}, fmt.Errorf("rank %d is over the limit of %d", len(e.Shape), MaxRank)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin < 0 || end < begin {
		return Info{}, fmt.Errorf("data_offsets [%d, %d] is not a range", begin, end)
	}
	if end > dataLen {
		return Info{}, fmt.Errorf("data_offsets [%d, %d] run past the end of the %d-byte data section (truncated file?)", begin, end, dataLen)
	}
	count := uint64(1)
	shape := make([]int, len(e.Shape))
	for i, d := range e.Shape {
		if d < 0 {
			return Info{}, fmt.Errorf("shape %v has a negative dimension", e.Shape)
		}
		hi, lo := bits.Mul64(count, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return Info{}, fmt.Errorf("shape %v has more elements than a file can hold", e.Shape)
		}
		count, shape[i] = lo, int(d)
	}
	if hi, lo := bits.Mul64(count, uint64(size)); hi != 0 || lo != uint64(end-begin) {
		return Info{}, fmt.Errorf("shape %v of %s needs %d×%d bytes, data_offsets [%d, %d] hold %d", e.Shape, dtype, count, size, begin, end, end-begin)
	}
	return Info{Name: name, DType: dtype, Shape: shape, Begin: begin, End: end}, nil
}

// checkLayout refuses overlapping tensors and bytes of the data section that belong to none.
func (f *File) checkLayout(dataLen int64) error {
	byOffset := make([]Info, 0, len(f.infos))
	for _, name := range f.names {
		byOffset = append(byOffset, f.infos[name])
	}
	slices.SortFunc(byOffset, func(a, b Info) int {
		if a.Begin != b.Begin {
			return int(min(max(a.Begin-b.Begin, -1), 1))
		}
		return int(min(max(a.End-b.End, -1), 1))
	})
	covered := int64(0)
	for i, t := range byOffset {
		if t.Begin < covered {
			return fmt.Errorf("tensors %q and %q overlap (bytes [%d, %d) and [%d, %d) of the data section)",
				byOffset[i-1].Name, t.Name, byOffset[i-1].Begin, byOffset[i-1].End, t.Begin, t.End)
		}
		if t.Begin > covered {
			return fmt.Errorf("bytes [%d, %d) of the data section belong to no tensor (before %q)", covered, t.Begin, t.Name)
		}
		covered = t.End
	}
	if covered != dataLen {
		return fmt.Errorf("bytes [%d, %d) at the end of the data section belong to no tensor", covered, dataLen)
	}
	return nil
}

// Names returns the tensors' names, sorted.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Info returns the description of the tensor called name.
func (f *File) Info(name string) (Info, bool) {
	i, ok := f.infos[name]
	return i, ok
}

// lookup returns the tensor called name or an error naming the file and the tensor.
func (f *File) lookup(name string) (Info, error) {
	i, ok := f.infos[name]
	if !ok {
		return Info{}, fmt.Errorf("safetensors: %s: no tensor %q", f.Path, name)
	}
	return i, nil
}

// Bytes returns the raw little-endian bytes of the tensor called name.
func (f *File) Bytes(name string) ([]byte, error) {
	i, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	return f.read(i)
}

func (f *File) read(i Info) ([]byte, error) {
	b := make([]byte, i.End-i.Begin) // bounded by the file's size (checkEntry)
	if len(b) == 0 {
		return b, nil // a reader may answer io.EOF to an empty read at the end
	}
	if _, err := f.r.ReadAt(b, f.dataStart+i.Begin); err != nil {
		return nil, fmt.Errorf("safetensors: %s: tensor %q: %w", f.Path, i.Name, err)
	}
	return b, nil
}

// Float32 returns the values of the floating-point tensor called name (F64, F32, F16 or BF16)
// as float32, row-major; F64 values are rounded to the nearest float32.
func (f *File) Float32(name string) ([]float32, error) {
	i, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	switch i.DType {
	case F64, F32, F16, BF16:
	default:
		return nil, fmt.Errorf("safetensors: %s: tensor %q is %s, not a floating-point dtype (F64, F32, F16, BF16)", f.Path, name, i.DType)
	}
	b, err := f.read(i)
	if err != nil {
		return nil, err
	}
	out := make([]float32, i.Len())
	le := binary.LittleEndian
	for k := range out {
		switch i.DType {
		case F64:
			out[k] = float32(math.Float64frombits(le.Uint64(b[8*k:])))
		case F32:
			out[k] = math.Float32frombits(le.Uint32(b[4*k:]))
		case F16:
			out[k] = quant.FromFloat16(le.Uint16(b[2*k:]))
		case BF16:
			out[k] = math.Float32frombits(uint32(le.Uint16(b[2*k:])) << 16)
		}
	}
	return out, nil
}

// Int64 returns the values of the integer or BOOL tensor called name as int64, row-major; a U64
// value above the int64 range is an error.
func (f *File) Int64(name string) ([]int64, error) {
	i, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	switch i.DType {
	case I64, I32, I16, I8, U64, U32, U16, U8, Bool:
	default:
		return nil, fmt.Errorf("safetensors: %s: tensor %q is %s, not an integer dtype", f.Path, name, i.DType)
	}
	b, err := f.read(i)
	if err != nil {
		return nil, err
	}
	out := make([]int64, i.Len())
	le := binary.LittleEndian
	for k := range out {
		switch i.DType {
		case I64:
			out[k] = int64(le.Uint64(b[8*k:]))
		case U64:
			u := le.Uint64(b[8*k:])
			if u > math.MaxInt64 {
				return nil, fmt.Errorf("safetensors: %s: tensor %q: element %d (%d) is beyond the int64 range", f.Path, name, k, u)
			}
			out[k] = int64(u)
		case I32:
			out[k] = int64(int32(le.Uint32(b[4*k:])))
		case U32:
			out[k] = int64(le.Uint32(b[4*k:]))
		case I16:
			out[k] = int64(int16(le.Uint16(b[2*k:])))
		case U16:
			out[k] = int64(le.Uint16(b[2*k:]))
		case I8:
			out[k] = int64(int8(b[k]))
		case U8, Bool:
			out[k] = int64(b[k])
		}
	}
	return out, nil
}
