package netcdf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/internal/atomicfile"
)

// This file writes netCDF-3 itself, hour by hour (see the package documentation): the
// 64-bit offset format ("CDF\x02"), after the netCDF file format specification
// (https://docs.unidata.ucar.edu/netcdf-c/current/file_format_specifications.html).

// packingAttrs are the attributes Write derives from a variable's Packing rather than copies.
var packingAttrs = []string{"scale_factor", "add_offset", "_FillValue", "missing_value"}

// packedDomainAttrs are the attributes that describe stored integers, dropped when a
// variable packed into another type than int16 is written as floats.
var packedDomainAttrs = append(slices.Clone(packingAttrs), "valid_range", "valid_min", "valid_max", "_Unsigned")

// Write writes f to path as a netCDF-3 file (the 64-bit-offset variant, "CDF\x02"; ncdump -k
// calls it "64-bit offset"), atomically: into a temporary file in path's directory, renamed
// over path once complete. It is [Create], one [Writer.WriteHours] of every variable's Data
// and [Writer.Close]: see Create for what the file holds and how values are written. f must
// pass [File.Check].
func Write(path string, f *File) error {
	if err := f.Check(); err != nil {
		return fmt.Errorf("netcdf: write %s: %w", path, err)
	}
	w, err := Create(path, f)
	if err != nil {
		return err
	}
	data := make([][]float32, len(f.Vars))
	for i, v := range f.Vars {
		data[i] = v.Data
	}
	if err := w.WriteHours(data); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// Writer writes a netCDF-3 file hour by hour: see [Create]. Its methods are not safe for
// concurrent use.
type Writer struct {
	path  string
	file  *atomicfile.File
	bw    *bufio.Writer
	vars  []*varWriter
	time  *coordWriter // the time coordinate, a record variable: one value a record
	hours int          // len(File.Time.Values): the records to write
	done  int          // the records written
	buf   []byte       // encoding buffer
	err   error        // the first error of writing: the file is then useless
	ended bool         // closed or aborted
}

// varWriter is how a variable's values are written.
type varWriter struct {
	v          *Variable
	attrs      []Attr
	packer     *packer // int16 packing; nil: written as float32
	marker     float32 // float32: what NaN is written as (NaN: NaN itself)
	hourValues int     // values of one hour, ∏Shape[1:]
	hourBytes  int64   // bytes of one hour, unpadded
}

// coordWriter is a coordinate variable: its netCDF type and its values, encoded.
type coordWriter struct {
	c     *Coord
	attrs []Attr
	typ   int32 // nc_type
	width int64
	data  []byte // big-endian values
}

// netCDF-3 type codes (nc_type) and header tags.
const (
	ncByte   = 1
	ncChar   = 2
	ncShort  = 3
	ncInt    = 4
	ncFloat  = 5
	ncDouble = 6

	tagDimension = 0x0A
	tagVariable  = 0x0B
	tagAttribute = 0x0C
)

// maxRecordBytes is the most bytes a record variable may hold per record (and a fixed
// variable in all) in the 64-bit offset format, whose sizes are 32-bit.
const maxRecordBytes = 1<<32 - 4

// Create starts writing f as netCDF-3 (64-bit offset) at path, atomically: a temporary file
// beside path, renamed over it by Close. f gives the metadata — Global, Time (every hour), Level,
// Lat, Lon, Vars with Name, Attrs, Dims, Shape (Shape[0] = len(Time.Values)) and Packing; Data is ignored.
//
// The file holds the coordinates (time, level when present, latitude, longitude, each as its
// Coord.Type or the nearest type netCDF-3 has: float32, float64, int32 and int16 as such, int8
// and uint8 as int16, uint16 as int32, int64, uint32 and uint64 as float64) and the variables,
// with their attributes and the global attributes. Time is the record (unlimited) dimension:
// each hour is one record of the time coordinate's value and every variable's values, so that
// WriteHours appends and memory stays bounded by one call's data. A variable with an int16
// Packing is stored as shorts, raw = round((x − add_offset)/scale_factor), clamped to the int16
// range less the fill and missing values, its packing attributes rewritten from the Packing
// (scale_factor, add_offset as doubles; _FillValue, missing_value as shorts, removed when the
// Packing has none). A variable packed into another integer type (bytes, _Unsigned shorts,
// ints) is stored as float32 with NaN marking its missing values and a NaN _FillValue, without
// its attributes of the packed domain (scale_factor, add_offset, valid_range, valid_min,
// valid_max, _Unsigned, missing_value). A variable without Packing is stored as float32, its
// scale_factor and add_offset dropped, its _FillValue and missing_value converted to float32.
// NaN values are written as the fill value (the _FillValue, else the missing_value), so that
// Read reports them as missing. Attributes of 64-bit or unsigned integer types, which netCDF-3
// lacks, are written as doubles, lists of strings as one string of lines.
//
// Create refuses, with an error naming path and the coordinate, variable or attribute, a File
// whose shapes disagree with its coordinates, whose variables' dimensions are not the
// coordinates' names, with names netCDF forbids or used twice, a coordinate of another type or
// with values outside its type, an attribute of a type netCDF-3 cannot hold or given twice,
// an unusable Packing (not int16 with a finite, non-zero scale and int16 markers), or a
// variable of more than 4 GiB an hour (netCDF-3's limit on a record).
func Create(path string, f *File) (*Writer, error) {
	fail := func(err error) error { return fmt.Errorf("netcdf: write %s: %w", path, err) }
	if f == nil {
		return nil, fail(errors.New("no file"))
	}
	w := &Writer{path: path, hours: len(f.Time.Values), buf: make([]byte, 1<<16)}
	header, err := w.prepare(f)
	if err != nil {
		return nil, fail(err)
	}
	file, err := atomicfile.Create(path)
	if err != nil {
		return nil, fail(err)
	}
	w.file = file
	w.bw = bufio.NewWriterSize(file, 1<<18)
	if _, err := w.bw.Write(header); err != nil {
		w.Abort()
		return nil, fail(err)
	}
	return w, nil
}

// prepare checks f and returns the file's header and fixed data (the level, latitude and
// longitude coordinates): all the file but its records.
func (w *Writer) prepare(f *File) ([]byte, error) {
	if err := f.check(false); err != nil {
		return nil, err
	}
	if w.hours >= math.MaxInt32 {
		return nil, fmt.Errorf("%d hours, more than netCDF-3 records can count", w.hours)
	}
	var coords []*coordWriter
	var names []string
	for _, c := range []*Coord{&f.Time, f.Level, &f.Lat, &f.Lon} {
		if c == nil {
			continue
		}
		cw, err := newCoordWriter(c)
		if err != nil {
			return nil, err
		}
		if err := checkName("coordinate", c.Name, names); err != nil {
			return nil, err
		}
		names = append(names, c.Name)
		coords = append(coords, cw)
	}
	w.time = coords[0]
	for _, v := range f.Vars {
		want := []string{f.Time.Name, f.Lat.Name, f.Lon.Name}
		if v.HasLevel() {
			want = []string{f.Time.Name, f.Level.Name, f.Lat.Name, f.Lon.Name}
		}
		if !slices.Equal(v.Dims, want) {
			return nil, fmt.Errorf("variable %s has dimensions %v, want the coordinates' %v", v.Name, v.Dims, want)
		}
		if err := checkName("variable", v.Name, names); err != nil {
			return nil, err
		}
		names = append(names, v.Name)
		vw, err := newVarWriter(v)
		if err != nil {
			return nil, err
		}
		w.vars = append(w.vars, vw)
	}
	global, err := classicAttrs(f.Global)
	if err != nil {
		return nil, fmt.Errorf("global attributes: %w", err)
	}

	// The header, whose size does not depend on the offsets it holds: built once to measure
	// it, once with the offsets.
	dimID := map[string]int{}
	for i, c := range coords {
		dimID[c.c.Name] = i
	}
	build := func(begins []int64) []byte {
		var e cdfEncoder
		e.WriteString("CDF\x02")
		e.u32(uint32(w.hours)) // numrecs
		e.u32(tagDimension)
		e.u32(uint32(len(coords)))
		for i, c := range coords {
			e.name(c.c.Name)
			if i == 0 {
				e.u32(0) // time: the record dimension
			} else {
				e.u32(uint32(len(c.c.Values)))
			}
		}
		e.attrs(global)
		e.u32(tagVariable)
		e.u32(uint32(len(coords) + len(w.vars)))
		k := 0
		for i, c := range coords {
			e.name(c.c.Name)
			e.u32(1)
			e.u32(uint32(i))
			e.attrs(c.attrs)
			e.u32(uint32(c.typ))
			if i == 0 {
				e.u32(uint32(pad4(c.width)))
			} else {
				e.u32(uint32(pad4(int64(len(c.data)))))
			}
			e.i64(begins[k])
			k++
		}
		for _, vw := range w.vars {
			e.name(vw.v.Name)
			e.u32(uint32(len(vw.v.Dims)))
			for _, d := range vw.v.Dims {
				e.u32(uint32(dimID[d]))
			}
			e.attrs(vw.attrs)
			if vw.packer != nil {
				e.u32(ncShort)
			} else {
				e.u32(ncFloat)
			}
			e.u32(uint32(pad4(vw.hourBytes)))
			e.i64(begins[k])
			k++
		}
		return e.Bytes()
	}
	begins := make([]int64, len(coords)+len(w.vars))
	at := int64(len(build(begins)))
	for i, c := range coords[1:] { // The fixed variables first, then the records.
		begins[1+i] = at
		at += pad4(int64(len(c.data)))
	}
	begins[0] = at
	at += pad4(w.time.width)
	for i, vw := range w.vars {
		begins[len(coords)+i] = at
		at += pad4(vw.hourBytes)
	}
	out := build(begins)
	for _, c := range coords[1:] {
		out = append(out, c.data...)
		out = append(out, make([]byte, pad4(int64(len(c.data)))-int64(len(c.data)))...)
	}
	return out, nil
}

// validName is netCDF's rule for names, as go-native-netcdf applies it: a letter, digit or
// underscore, then no control character or slash, no trailing space; not a type's name.
var (
	validName    = regexp.MustCompile(`^[\pL\pN_][^\pC/]*$`)
	reservedName = regexp.MustCompile(`(\pZ|^(u?byte|char|string|u?short|u?int|u?int64|uint64|float|double|enum|opaque|compound))$`)
)

// checkName refuses a name netCDF forbids or one of taken.
func checkName(what, name string, taken []string) error {
	if !validName.MatchString(name) || reservedName.MatchString(name) {
		return fmt.Errorf("%s %q: not a valid netCDF name", what, name)
	}
	if slices.Contains(taken, name) {
		return fmt.Errorf("%s %s: the name of another coordinate or variable", what, name)
	}
	return nil
}

// newCoordWriter encodes coordinate c in the netCDF-3 type nearest its Coord.Type.
func newCoordWriter(c *Coord) (*coordWriter, error) {
	cw := &coordWriter{c: c}
	var inRange bool
	switch c.Type {
	case "float32":
		cw.typ, cw.width, inRange = ncFloat, 4, true
		for _, x := range c.Values {
			inRange = inRange && math.Abs(x) <= math.MaxFloat32 // else +Inf in the file
			cw.data = binary.BigEndian.AppendUint32(cw.data, math.Float32bits(float32(x)))
		}
	case "float64", "int64", "uint32", "uint64": // The types netCDF-3 lacks: read exactly as doubles.
		cw.typ, cw.width, inRange = ncDouble, 8, true
		for _, x := range c.Values {
			cw.data = binary.BigEndian.AppendUint64(cw.data, math.Float64bits(x))
		}
	case "int32", "uint16":
		cw.typ, cw.width = ncInt, 4
		var v []int32
		if v, inRange = roundTo[int32](c.Values, math.MinInt32, math.MaxInt32); inRange {
			for _, x := range v {
				cw.data = binary.BigEndian.AppendUint32(cw.data, uint32(x))
			}
		}
	case "int16", "int8", "uint8":
		cw.typ, cw.width = ncShort, 2
		var v []int16
		if v, inRange = roundTo[int16](c.Values, math.MinInt16, math.MaxInt16); inRange {
			for _, x := range v {
				cw.data = binary.BigEndian.AppendUint16(cw.data, uint16(x))
			}
		}
	default:
		return nil, fmt.Errorf("coordinate %s has type %q, not an integer, float32 or float64", c.Name, c.Type)
	}
	if !inRange {
		return nil, fmt.Errorf("coordinate %s has values outside the range of its type %s", c.Name, c.Type)
	}
	attrs, err := classicAttrs(c.Attrs)
	if err != nil {
		return nil, fmt.Errorf("coordinate %s: %w", c.Name, err)
	}
	cw.attrs = attrs
	return cw, nil
}

// roundTo rounds x to integers of type T; ok is false if one is outside [lo, hi].
func roundTo[T int32 | int16](x []float64, lo, hi float64) (out []T, ok bool) {
	out = make([]T, len(x))
	for i, v := range x {
		r := math.Round(v)
		if !(r >= lo && r <= hi) {
			return nil, false
		}
		out[i] = T(r)
	}
	return out, true
}

// newVarWriter decides how v is stored (see Create) and with which attributes.
func newVarWriter(v *Variable) (*varWriter, error) {
	vw := &varWriter{v: v, hourValues: 1, marker: float32(math.NaN())}
	for _, s := range v.Shape[1:] {
		vw.hourValues *= s
	}
	attrs := slices.Clone(v.Attrs)
	width := int64(4)
	if p := v.Packing; p != nil && p.Type == "int16" {
		k, err := newPacker(v.Name, p)
		if err != nil {
			return nil, err
		}
		vw.packer, width = k, 2
		attrs = setAttr(attrs, "scale_factor", p.ScaleFactor)
		attrs = setAttr(attrs, "add_offset", p.AddOffset)
		for _, m := range []struct {
			name  string
			value *float64
		}{{"_FillValue", p.FillValue}, {"missing_value", p.MissingValue}} {
			if m.value == nil {
				attrs = slices.DeleteFunc(attrs, func(a Attr) bool { return a.Name == m.name })
			} else {
				attrs = setAttr(attrs, m.name, int16(*m.value))
			}
		}
	} else if v.Packing != nil {
		// Stored as another integer type: written as floats, NaN marking the missing values;
		// the attributes in the packed domain no longer apply.
		attrs = slices.DeleteFunc(attrs, func(a Attr) bool { return slices.Contains(packedDomainAttrs, a.Name) })
		attrs = append(attrs, Attr{Name: "_FillValue", Value: float32(math.NaN())})
	} else {
		attrs = slices.DeleteFunc(attrs, func(a Attr) bool { return a.Name == "scale_factor" || a.Name == "add_offset" })
		for i, a := range attrs { // NaN is written as the _FillValue, else the missing_value.
			if a.Name == "_FillValue" || a.Name == "missing_value" {
				x, ok := attrFloat(a.Value)
				if !ok {
					return nil, fmt.Errorf("variable %s: attribute %s is %T, not a number", v.Name, a.Name, a.Value)
				}
				attrs[i].Value = float32(x) // The type of a fill value is its variable's.
				if a.Name == "_FillValue" || vw.marker != vw.marker {
					vw.marker = float32(x)
				}
			}
		}
	}
	vw.hourBytes = int64(vw.hourValues) * width
	if vw.hourBytes > maxRecordBytes {
		return nil, fmt.Errorf("variable %s: %d bytes an hour, more than the %d a netCDF-3 record may hold", v.Name, vw.hourBytes, maxRecordBytes)
	}
	var err error
	if vw.attrs, err = classicAttrs(attrs); err != nil {
		return nil, fmt.Errorf("variable %s: %w", v.Name, err)
	}
	return vw, nil
}

// setAttr sets attribute name to value, in place when present, else at the end.
func setAttr(attrs []Attr, name string, value any) []Attr {
	for i := range attrs {
		if attrs[i].Name == name {
			attrs[i].Value = value
			return attrs
		}
	}
	return append(attrs, Attr{Name: name, Value: value})
}

// WriteHours appends the next hours: data[i] holds Vars[i]'s values for the same k ≥ 1 hours
// (k·∏Shape[1:] values, row-major; NaN written as the variable's fill / missing marker, as Write does).
//
// Values are in physical units, converted as Create says. WriteHours refuses, writing
// nothing and leaving the Writer usable, data for another number of variables, a variable's
// values that are not a whole number of its hours or not as many hours as the others', hours
// beyond the time coordinate's, and values an int16-packed variable cannot hold (±Inf; NaN
// when it has no _FillValue or missing_value), naming the variable and the position (its hour
// counted in the file being written). After a failure to write, the Writer only fails.
func (w *Writer) WriteHours(data [][]float32) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("netcdf: write %s: "+format, append([]any{w.path}, args...)...)
	}
	switch {
	case w.ended:
		return fail("WriteHours after Close or Abort")
	case w.err != nil:
		return w.err
	case len(data) != len(w.vars):
		return fail("WriteHours got values of %d variables, the file has %d (%s)", len(data), len(w.vars), strings.Join(w.names(), ", "))
	}
	k := -1
	for i, vw := range w.vars {
		n := len(data[i])
		if n == 0 || n%vw.hourValues != 0 {
			return fail("variable %s: %d values, not a whole number ≥ 1 of hours of %d values (shape %v)", vw.v.Name, n, vw.hourValues, vw.v.Shape)
		}
		if k < 0 {
			k = n / vw.hourValues
		} else if n/vw.hourValues != k {
			return fail("variable %s: %d values, %d hours, and variable %s %d hours: every variable needs the same hours",
				vw.v.Name, n, n/vw.hourValues, w.vars[0].v.Name, k)
		}
	}
	if k > w.hours-w.done {
		return fail("%d hours given after %d written, more than the %d of the time coordinate", k, w.done, w.hours)
	}
	for i, vw := range w.vars {
		if vw.packer != nil {
			if err := vw.packer.check(vw.v, data[i], w.done); err != nil {
				return fail("%v", err)
			}
		}
	}
	for h := range k {
		t := w.done + h
		w.write(w.time.data[int64(t)*w.time.width : int64(t+1)*w.time.width])
		w.write(make([]byte, pad4(w.time.width)-w.time.width))
		for i, vw := range w.vars {
			w.writeValues(vw, data[i][h*vw.hourValues:(h+1)*vw.hourValues])
		}
		if w.err != nil {
			return w.err
		}
	}
	w.done += k
	return nil
}

// names returns the names of the variables written.
func (w *Writer) names() []string {
	out := make([]string, len(w.vars))
	for i, vw := range w.vars {
		out[i] = vw.v.Name
	}
	return out
}

// write writes b to the file, keeping the first error.
func (w *Writer) write(b []byte) {
	if w.err == nil && len(b) > 0 {
		if _, err := w.bw.Write(b); err != nil {
			w.err = fmt.Errorf("netcdf: write %s: %w", w.path, err)
		}
	}
}

// writeValues writes one hour of vw's values, encoded, and the record's padding.
func (w *Writer) writeValues(vw *varWriter, values []float32) {
	for len(values) > 0 && w.err == nil {
		n := min(len(values), len(w.buf)/4)
		b := w.buf[:0]
		if vw.packer != nil {
			for _, x := range values[:n] {
				b = binary.BigEndian.AppendUint16(b, uint16(vw.packer.pack(x)))
			}
		} else {
			for _, x := range values[:n] {
				if x != x && vw.marker == vw.marker {
					x = vw.marker
				}
				b = binary.BigEndian.AppendUint32(b, math.Float32bits(x))
			}
		}
		w.write(b)
		values = values[n:]
	}
	w.write(make([]byte, pad4(vw.hourBytes)-vw.hourBytes))
}

// Close fails unless every hour was written; it flushes, syncs and renames. Abort removes the temporary file.
//
// Either way the Writer is done: on failure the temporary file is removed and path is left
// as it was.
func (w *Writer) Close() error {
	if w.ended {
		return fmt.Errorf("netcdf: write %s: Close after Close or Abort", w.path)
	}
	if w.err == nil && w.done != w.hours {
		w.err = fmt.Errorf("netcdf: write %s: %d of the %d hours of the time coordinate written; nothing written", w.path, w.done, w.hours)
	}
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("netcdf: write %s: %w", w.path, err)
		}
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	w.ended = true
	if err := w.file.Commit(); err != nil {
		return fmt.Errorf("netcdf: write %s: %w", w.path, err)
	}
	return nil
}

// Abort removes the temporary file, leaving path as it was; it does nothing after Close or
// Abort, so that it can be deferred.
func (w *Writer) Abort() {
	if w.ended {
		return
	}
	w.ended = true
	w.file.Abort()
}

// packer converts physical values to int16 with a Packing (see Create).
type packer struct {
	p       *Packing
	markers []float64 // the fill and missing values, the first for NaN
	lo, hi  float64   // the int16 range less the markers at its ends
}

// newPacker checks packing p of variable name.
func newPacker(name string, p *Packing) (*packer, error) {
	if p.Type != "int16" {
		return nil, fmt.Errorf("variable %s: packing type %q; only int16 is written", name, p.Type)
	}
	if p.ScaleFactor == 0 || math.IsNaN(p.ScaleFactor) || math.IsInf(p.ScaleFactor, 0) ||
		math.IsNaN(p.AddOffset) || math.IsInf(p.AddOffset, 0) {
		return nil, fmt.Errorf("variable %s: packing scale_factor %v and add_offset %v must be finite, the scale non-zero",
			name, p.ScaleFactor, p.AddOffset)
	}
	k := &packer{p: p}
	for _, m := range []*float64{p.FillValue, p.MissingValue} {
		if m != nil {
			if *m != math.Trunc(*m) || *m < math.MinInt16 || *m > math.MaxInt16 {
				return nil, fmt.Errorf("variable %s: fill or missing value %v is not an int16", name, *m)
			}
			k.markers = append(k.markers, *m)
		}
	}
	k.lo, k.hi = float64(math.MinInt16), float64(math.MaxInt16)
	for slices.Contains(k.markers, k.lo) {
		k.lo++
	}
	for slices.Contains(k.markers, k.hi) {
		k.hi--
	}
	// What the file's readers will unpack (to float32) must be finite.
	for _, q := range []float64{k.lo, k.hi} {
		if u := q*p.ScaleFactor + p.AddOffset; !(math.Abs(u) <= math.MaxFloat32) {
			return nil, fmt.Errorf("variable %s: packing scale_factor %v and add_offset %v unpack the short %v to %v, beyond float32",
				name, p.ScaleFactor, p.AddOffset, q, u)
		}
	}
	return k, nil
}

// packingRangeLimit bounds how much wider than the values a packing's range may be: a short
// packing spans about 65,535 steps, and one built for the values spans about their range; a
// range a million times their magnitude would round them all to a handful of steps.
const packingRangeLimit = 1e6

// check refuses values that cannot be packed: ±Inf, NaN without a marker to write it as, a
// value more than the packing's whole range beyond one of its ends (values just past an end, a
// lossy decoder's overshoot, are clamped to it), and values that a packing range more than
// packingRangeLimit times their magnitude would collapse onto a few steps. data holds hours of
// v from hour t0 of the file.
func (k *packer) check(v *Variable, data []float32, t0 int) error {
	p := k.p
	lo, hi := k.lo*p.ScaleFactor+p.AddOffset, k.hi*p.ScaleFactor+p.AddOffset
	if lo > hi {
		lo, hi = hi, lo
	}
	width := hi - lo
	biggest := 1.0
	for i, x := range data {
		if x-x == 0 { // finite
			f := float64(x)
			if f < lo-width || f > hi+width {
				return fmt.Errorf("variable %s: %v at %s lies beyond the packing's range [%v, %v] (scale_factor %v, add_offset %v) by more than its width",
					v.Name, x, position(v, i, t0), lo, hi, p.ScaleFactor, p.AddOffset)
			}
			biggest = max(biggest, math.Abs(f))
			continue
		}
		if x != x {
			if len(k.markers) == 0 {
				return fmt.Errorf("variable %s: NaN at %s and no _FillValue or missing_value to write it as",
					v.Name, position(v, i, t0))
			}
			continue
		}
		return fmt.Errorf("variable %s: %v at %s cannot be packed", v.Name, x, position(v, i, t0))
	}
	if width > packingRangeLimit*2*biggest {
		return fmt.Errorf("variable %s: the packing's range [%v, %v] (scale_factor %v, add_offset %v) is more than %g times the values' magnitude (%v): they would round to a few steps",
			v.Name, lo, hi, p.ScaleFactor, p.AddOffset, packingRangeLimit, biggest)
	}
	return nil
}

// pack returns the raw value of x, which check accepted.
func (k *packer) pack(x float32) int16 {
	if x != x {
		return int16(k.markers[0])
	}
	exact := (float64(x) - k.p.AddOffset) / k.p.ScaleFactor
	q := min(k.hi, max(k.lo, math.Round(exact)))
	if slices.Contains(k.markers, q) { // A marker inside the range: take the nearer neighbour.
		if exact > q && !slices.Contains(k.markers, q+1) || slices.Contains(k.markers, q-1) {
			q++
		} else {
			q--
		}
	}
	return int16(q)
}

// pack converts v's Data to int16 with the packing p (see Create).
func (p *Packing) pack(v *Variable) ([]int16, error) {
	k, err := newPacker(v.Name, p)
	if err != nil {
		return nil, err
	}
	if err := k.check(v, v.Data, 0); err != nil {
		return nil, err
	}
	raw := make([]int16, len(v.Data))
	for i, x := range v.Data {
		raw[i] = k.pack(x)
	}
	return raw, nil
}

// classicAttrs converts attributes to the types netCDF-3 (CDF-2) stores (classicValue),
// refusing invalid names and names given twice.
func classicAttrs(attrs []Attr) ([]Attr, error) {
	out := make([]Attr, 0, len(attrs))
	seen := make(map[string]bool, len(attrs))
	for _, a := range attrs {
		if seen[a.Name] {
			return nil, fmt.Errorf("attribute %s appears twice", a.Name)
		}
		seen[a.Name] = true
		if !validName.MatchString(a.Name) || reservedName.MatchString(a.Name) {
			return nil, fmt.Errorf("attribute %q: not a valid netCDF name", a.Name)
		}
		v, err := classicValue(a.Value)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
		}
		out = append(out, Attr{Name: a.Name, Value: v})
	}
	return out, nil
}

// classicValue returns v as a type netCDF-3 (CDF-2) can store: 64-bit and unsigned integers
// as doubles, a list of strings as one string of lines.
func classicValue(v any) (any, error) {
	switch x := v.(type) {
	case string, int8, int16, int32, float32, float64, []int8, []int16, []int32, []float32, []float64:
		return v, nil
	case int64, uint8, uint16, uint32, uint64:
		f, _ := attrFloat(x)
		return f, nil
	case []string:
		return strings.Join(x, "\n"), nil
	case []int64:
		return convertSlice(x), nil
	case []uint8:
		return convertSlice(x), nil
	case []uint16:
		return convertSlice(x), nil
	case []uint32:
		return convertSlice(x), nil
	case []uint64:
		return convertSlice(x), nil
	}
	return nil, fmt.Errorf("type %T cannot be written to netCDF-3", v)
}

func convertSlice[T int64 | uint8 | uint16 | uint32 | uint64](x []T) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// pad4 rounds n up to a multiple of 4, netCDF-3's alignment.
func pad4(n int64) int64 { return (n + 3) &^ 3 }

// cdfEncoder builds a netCDF-3 header (64-bit offset format: 32-bit sizes, 64-bit offsets).
type cdfEncoder struct{ bytes.Buffer }

func (e *cdfEncoder) u32(x uint32) { e.Write(binary.BigEndian.AppendUint32(nil, x)) }
func (e *cdfEncoder) i64(x int64)  { e.Write(binary.BigEndian.AppendUint64(nil, uint64(x))) }

// pad pads the header with zeros to a multiple of 4 bytes.
func (e *cdfEncoder) pad() { e.Write(make([]byte, pad4(int64(e.Len()))-int64(e.Len()))) }

// name writes a name: its length, its bytes, padding.
func (e *cdfEncoder) name(s string) {
	e.u32(uint32(len(s)))
	e.WriteString(s)
	e.pad()
}

// attrs writes an attribute list (ABSENT when empty) of values classicValue returned.
func (e *cdfEncoder) attrs(attrs []Attr) {
	if len(attrs) == 0 {
		e.u32(0)
		e.u32(0)
		return
	}
	e.u32(tagAttribute)
	e.u32(uint32(len(attrs)))
	for _, a := range attrs {
		e.name(a.Name)
		var typ int32
		var values []byte
		var n int
		switch x := a.Value.(type) {
		case string:
			typ, values, n = ncChar, []byte(x), len(x)
		case int8:
			typ, values, n = ncByte, []byte{byte(x)}, 1
		case []int8:
			typ, n = ncByte, len(x)
			for _, y := range x {
				values = append(values, byte(y))
			}
		case int16:
			typ, values, n = ncShort, binary.BigEndian.AppendUint16(nil, uint16(x)), 1
		case []int16:
			typ, n = ncShort, len(x)
			for _, y := range x {
				values = binary.BigEndian.AppendUint16(values, uint16(y))
			}
		case int32:
			typ, values, n = ncInt, binary.BigEndian.AppendUint32(nil, uint32(x)), 1
		case []int32:
			typ, n = ncInt, len(x)
			for _, y := range x {
				values = binary.BigEndian.AppendUint32(values, uint32(y))
			}
		case float32:
			typ, values, n = ncFloat, binary.BigEndian.AppendUint32(nil, math.Float32bits(x)), 1
		case []float32:
			typ, n = ncFloat, len(x)
			for _, y := range x {
				values = binary.BigEndian.AppendUint32(values, math.Float32bits(y))
			}
		case float64:
			typ, values, n = ncDouble, binary.BigEndian.AppendUint64(nil, math.Float64bits(x)), 1
		case []float64:
			typ, n = ncDouble, len(x)
			for _, y := range x {
				values = binary.BigEndian.AppendUint64(values, math.Float64bits(y))
			}
		default: // classicValue returned it: cannot happen.
			panic(fmt.Sprintf("netcdf: attribute %s of type %T", a.Name, a.Value))
		}
		e.u32(uint32(typ))
		e.u32(uint32(n))
		e.Write(values)
		e.pad()
	}
}
