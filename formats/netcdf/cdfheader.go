package netcdf

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// cdfLayout is where a netCDF-3 file keeps its variables' values.
type cdfLayout struct {
	vars    map[string]cdfVar
	recSize int64 // bytes of one record of all the record variables
}

// cdfVar is where a netCDF-3 variable's values are.
type cdfVar struct {
	typ       int32 // nc_type
	record    bool
	perRecord int64 // bytes of one record (or of the whole variable), unpadded
	begin     int64
	end       int64 // offset just past the last value
}

// cdfDataLayout parses the header of the netCDF-3 file path (classic, 64-bit offset or
// 64-bit data; see https://docs.unidata.ucar.edu/netcdf-c/current/file_format_specifications.html)
// and returns where each variable's values are, and the offset just past its last value.
// go-native-netcdf pads data missing at the end of a truncated file with fill values, so
// Read compares these ends with the file's size instead; and it panics on a variable whose
// _FillValue has another type, so Read reads the values itself (cdfValues).
func cdfDataLayout(path string, size int64) (*cdfLayout, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := &cdfHeader{r: bufio.NewReader(io.LimitReader(f, size)), size: size}
	magic := h.bytes(4)
	if h.err != nil || string(magic[:3]) != "CDF" {
		return nil, fmt.Errorf("the netCDF-3 header is truncated or damaged: no magic number (%v)", h.err)
	}
	h.version = magic[3]
	numRecs := h.length()
	if numRecs == 0xFFFFFFFF && h.version != 5 || numRecs < 0 { // Streaming: the records are whatever is there.
		numRecs = 0
	}

	var dims []int64
	if n, ok := h.list(0x0A); ok { // NC_DIMENSION
		for ; n > 0 && h.err == nil; n-- {
			h.name()
			dims = append(dims, h.length())
		}
	}
	h.attributes()

	type variable struct {
		name string
		cdfVar
	}
	var vars []variable
	if n, ok := h.list(0x0B); ok { // NC_VARIABLE
		for ; n > 0 && h.err == nil; n-- {
			v := variable{name: h.name()}
			nDims := h.count()
			values := int64(1)
			for i := int64(0); i < nDims && h.err == nil; i++ {
				id := h.length()
				if id < 0 || id >= int64(len(dims)) {
					return nil, fmt.Errorf("variable %s: dimension id %d of %d", v.name, id, len(dims))
				}
				if dims[id] == 0 && i == 0 {
					v.record = true
					continue
				}
				values = mulSat(values, dims[id])
			}
			h.attributes()
			v.typ = h.int32()
			width := cdfTypeWidth(v.typ)
			if width == 0 && h.err == nil {
				return nil, fmt.Errorf("variable %s: unknown type", v.name)
			}
			v.perRecord = mulSat(values, width)
			h.length() // vsize: the padded size, capped at 2³²−1; recomputed from the dimensions above
			if h.version == 1 {
				v.begin = int64(uint32(h.int32()))
			} else {
				v.begin = h.int64()
			}
			vars = append(vars, v)
		}
	}
	if h.err != nil {
		return nil, fmt.Errorf("the netCDF-3 header is truncated or damaged: %w", h.err)
	}
	var recSize int64
	nRecordVars := 0
	for _, v := range vars {
		if v.record {
			recSize = addSat(recSize, addSat(v.perRecord, 3)&^3)
			nRecordVars++
		}
	}
	if nRecordVars == 1 { // A lone record variable's records are not padded.
		recSize = 0
		for _, v := range vars {
			if v.record {
				recSize = v.perRecord
			}
		}
	}
	layout := &cdfLayout{vars: make(map[string]cdfVar, len(vars)), recSize: recSize}
	for _, v := range vars {
		if v.begin < 0 {
			v.begin = maxEnd
		}
		v.end = addSat(v.begin, v.perRecord)
		if v.record && numRecs > 0 {
			v.end = addSat(v.end, mulSat(numRecs-1, recSize))
		}
		layout.vars[v.name] = v.cdfVar
	}
	// A damaged offset would read other bytes as values: the header's, another variable's.
	// Every variable's values start after the header; the fixed-size variables' do not overlap
	// each other or the records; a record variable's part of a record lies inside the record.
	headerEnd := h.pos
	recStart, fixedEnd := int64(maxEnd), int64(0)
	var fixed []variable
	for _, v := range vars {
		if v.begin < headerEnd {
			return nil, fmt.Errorf("variable %s: its values start at byte %d, inside the %d-byte header", v.name, v.begin, headerEnd)
		}
		if v.record {
			recStart = min(recStart, v.begin)
		} else if v.perRecord > 0 {
			fixedEnd = max(fixedEnd, addSat(v.begin, v.perRecord))
			fixed = append(fixed, v)
		}
	}
	slices.SortFunc(fixed, func(a, b variable) int { return cmp.Compare(a.begin, b.begin) })
	for i := 1; i < len(fixed); i++ {
		if a, b := fixed[i-1], fixed[i]; addSat(a.begin, a.perRecord) > b.begin {
			return nil, fmt.Errorf("variables %s and %s: their values overlap (bytes %d–%d and from %d)", a.name, b.name, a.begin, addSat(a.begin, a.perRecord), b.begin)
		}
	}
	if nRecordVars > 0 && fixedEnd > recStart {
		return nil, fmt.Errorf("the fixed-size variables' values (to byte %d) overlap the records (from byte %d)", fixedEnd, recStart)
	}
	for _, v := range vars {
		if v.record && addSat(v.begin, v.perRecord) > addSat(recStart, recSize) {
			return nil, fmt.Errorf("variable %s: its part of a record (bytes %d–%d) lies outside the record (%d–%d)", v.name, v.begin, addSat(v.begin, v.perRecord), recStart, addSat(recStart, recSize))
		}
	}
	return layout, nil
}

// cdfTypes are the Go names of the netCDF-3 numeric types, by nc_type.
var cdfTypes = map[int32]string{1: "int8", 3: "int16", 4: "int32", 5: "float32", 6: "float64", 7: "uint8",
	8: "uint16", 9: "uint32", 10: "int64", 11: "uint64"}

// cdfValues reads the values [from, from+n) of variable name, of total values in all, from
// r: only their bytes, at their offsets — a fixed variable's are contiguous, a record
// variable's are in its records, total/values-per-record of them, interleaved with the other
// record variables'. Values are big-endian, as netCDF-3 stores them. It returns them as
// float64s with their type's Go name.
func cdfValues(r io.ReaderAt, size int64, l *cdfLayout, name string, total, from, n int64) ([]float64, string, error) {
	v, ok := l.vars[name]
	if !ok {
		return nil, "", fmt.Errorf("variable %s is missing from the header as parsed by this package", name)
	}
	typ, ok := cdfTypes[v.typ]
	if !ok {
		return nil, "", fmt.Errorf("variable %s is of netCDF type %d (char); only numbers are read", name, v.typ)
	}
	width := cdfTypeWidth(v.typ)
	recValues := v.perRecord / width
	if recValues <= 0 || total%recValues != 0 || !v.record && total != recValues || from < 0 || n <= 0 || from > total-n {
		return nil, "", fmt.Errorf("variable %s: values [%d, %d) of %d asked for, %d per record in the header", name, from, from+n, total, recValues)
	}
	// Where value i is: in record i/recValues (0 for a fixed variable), at i%recValues.
	at := func(i int64) int64 {
		return addSat(addSat(v.begin, mulSat(i/recValues, l.recSize)), mulSat(i%recValues, width))
	}
	if last := addSat(at(from+n-1), width); last > size { // before allocating
		return nil, "", fmt.Errorf("variable %s's data runs to byte %d but the file has only %d bytes: it is truncated or its header is damaged",
			name, last, size)
	}
	raw := make([]byte, n*width)
	for done := int64(0); done < n; {
		i := from + done
		k := min(recValues-i%recValues, n-done) // values left in this record
		if _, err := r.ReadAt(raw[done*width:(done+k)*width], at(i)); err != nil {
			return nil, "", fmt.Errorf("variable %s: %w", name, err)
		}
		done += k
	}
	return decodeValues(raw, typeOf(typ), binary.BigEndian), typ, nil
}

// maxEnd caps the offsets computed from a header (far beyond any file), so that a damaged
// header's sizes cannot overflow.
const maxEnd = int64(1) << 59

// mulSat returns a·b for a, b ≥ 0, at most maxEnd.
func mulSat(a, b int64) int64 {
	if a < 0 || b < 0 || a != 0 && b > maxEnd/a {
		return maxEnd
	}
	return min(a*b, maxEnd)
}

// addSat returns a+b for a, b in [0, maxEnd], at most maxEnd.
func addSat(a, b int64) int64 { return min(a+b, maxEnd) }

// cdfTypeWidth returns the size in bytes of a netCDF-3 nc_type, 0 for an unknown one.
func cdfTypeWidth(t int32) int64 {
	switch t {
	case 1, 2, 7: // byte, char, ubyte
		return 1
	case 3, 8: // short, ushort
		return 2
	case 4, 5, 9: // int, float, uint
		return 4
	case 6, 10, 11: // double, int64, uint64
		return 8
	}
	return 0
}

// cdfHeader reads the parts of a netCDF-3 header; the first error sticks.
type cdfHeader struct {
	r       *bufio.Reader
	size    int64
	pos     int64 // bytes of the header read so far
	version byte
	err     error
}

func (h *cdfHeader) bytes(n int64) []byte {
	if h.err != nil {
		return make([]byte, n)
	}
	b := make([]byte, n)
	_, h.err = io.ReadFull(h.r, b)
	h.pos += n
	return b
}

func (h *cdfHeader) skip(n int64) {
	if h.err == nil {
		_, h.err = io.CopyN(io.Discard, h.r, n)
		h.pos += n
	}
}

func (h *cdfHeader) int32() int32 { return int32(binary.BigEndian.Uint32(h.bytes(4))) }
func (h *cdfHeader) int64() int64 { return int64(binary.BigEndian.Uint64(h.bytes(8))) }

// length reads a NON_NEG number: 4 bytes, 8 in the 64-bit data format.
func (h *cdfHeader) length() int64 {
	if h.version == 5 {
		return h.int64()
	}
	return int64(uint32(h.int32()))
}

// count reads the NON_NEG number of elements that follow in the header (of a list, a name,
// an attribute's values), refusing one beyond the file's size.
func (h *cdfHeader) count() int64 {
	n := h.length()
	if h.err == nil && (n < 0 || n > h.size) {
		h.err = fmt.Errorf("it counts %d elements in a file of %d bytes", n, h.size)
	}
	return n
}

// name reads a padded name.
func (h *cdfHeader) name() string {
	n := h.count()
	if h.err != nil {
		return ""
	}
	b := h.bytes(n)
	h.skip((4 - n%4) % 4)
	return string(b)
}

// list reads a list's tag and length: ok is true for a list of the given tag, false for
// ABSENT (or after an error).
func (h *cdfHeader) list(tag int32) (n int64, ok bool) {
	got := h.int32()
	n = h.count()
	switch {
	case h.err != nil || got == 0 && n == 0:
		return 0, false
	case got != tag:
		h.err = fmt.Errorf("list tag %#x, want %#x", got, tag)
		return 0, false
	}
	return n, true
}

// attributes skips an attribute list.
func (h *cdfHeader) attributes() {
	n, ok := h.list(0x0C) // NC_ATTRIBUTE
	for ; ok && n > 0 && h.err == nil; n-- {
		h.name()
		width := cdfTypeWidth(h.int32())
		values := h.count()
		if width == 0 && h.err == nil {
			h.err = errors.New("attribute of unknown type")
		}
		bytes := values * width
		h.skip(bytes + (4-bytes%4)%4)
	}
}
