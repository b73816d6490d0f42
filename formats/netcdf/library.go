package netcdf

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/batchatco/go-native-netcdf/netcdf"
	"github.com/batchatco/go-native-netcdf/netcdf/api"
)

// This file is the part of Read that calls the netCDF library. It runs only in the reader
// process (see read.go): the library may panic, loop or call os.Exit on damaged input.

// Dimension names accepted for each role of a field's dimensions (the first is ERA5's).
var (
	timeDimNames  = []string{"time", "valid_time"}
	levelDimNames = []string{"level", "pressure_level"}
	latDimNames   = []string{"latitude", "lat"}
	lonDimNames   = []string{"longitude", "lon"}
)

const fieldDimsText = "(time[, level], latitude, longitude)"

// netCDF magic numbers: netCDF-3 files start with "CDF" and a version byte (1 classic,
// 2 64-bit offset, 5 64-bit data), netCDF-4 files with the HDF5 signature.
var (
	magicCDF  = []byte("CDF")
	magicHDF5 = []byte("\x89HDF\r\n\x1a\n")
)

// sniff returns path's size and format ("netCDF-3" or "netCDF-4") from its first bytes, or
// an error naming the file for a missing, empty or non-netCDF file.
func sniff(path string) (size int64, format string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, "", fmt.Errorf("netcdf: read %s: %w", path, err)
	}
	if !st.Mode().IsRegular() { // A directory, or a FIFO that would block the open.
		return 0, "", readErrorf(path, ErrNotNetCDF, "not a regular file (%v)", st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("netcdf: read %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, 8)
	n, err := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case n == 0:
		return 0, "", readErrorf(path, ErrNotNetCDF, "the file is empty")
	case len(head) >= 4 && bytes.HasPrefix(head, magicCDF) && slices.Contains([]byte{1, 2, 5}, head[3]):
		return st.Size(), "netCDF-3", nil
	case bytes.Equal(head, magicHDF5):
		return st.Size(), "netCDF-4", nil
	case err != nil && err != io.ErrUnexpectedEOF:
		return 0, "", fmt.Errorf("netcdf: read %s: %w", path, err)
	}
	return 0, "", readErrorf(path, ErrNotNetCDF, "it starts with %q, neither netCDF-3 (\"CDF\\x01\", \"CDF\\x02\", \"CDF\\x05\") nor netCDF-4/HDF5 (\"\\x89HDF\")", head)
}

// libraryReader reads one file with the library.
type libraryReader struct {
	path    string
	size    int64
	format  string
	g       api.Group
	opts    ReadOptions
	getters map[string]api.VarGetter
	dims    map[string]int
	ends    map[string]int64 // netCDF-3: where each variable's data ends
}

// readInProcess reads path with the netCDF library in this process; see Read.
func readInProcess(path string, opts ReadOptions) (*File, error) {
	opts = opts.withDefaults()
	size, format, err := sniff(path)
	if err != nil {
		return nil, err
	}
	var ends map[string]int64
	if format == "netCDF-3" {
		if ends, err = cdfDataEnds(path, size); err != nil {
			return nil, readErrorf(path, ErrNotNetCDF, "%v", err)
		}
	}
	g, err := netcdf.Open(path)
	if err != nil {
		return nil, readErrorf(path, ErrNotNetCDF, "the netCDF library cannot open it: %v", err)
	}
	defer g.Close()
	r := &libraryReader{path: path, size: size, format: format, g: g, opts: opts, ends: ends,
		getters: map[string]api.VarGetter{}, dims: map[string]int{}}
	return r.read()
}

func (r *libraryReader) errorf(kind error, format string, args ...any) error {
	return readErrorf(r.path, kind, format, args...)
}

func (r *libraryReader) getter(name string) (api.VarGetter, error) {
	if vg, ok := r.getters[name]; ok {
		return vg, nil
	}
	vg, err := r.g.GetVarGetter(name)
	if err != nil {
		return nil, err
	}
	r.getters[name] = vg
	return vg, nil
}

// isFieldDims reports whether dims are (time[, level], latitude, longitude), under any of
// the accepted names.
func isFieldDims(dims []string) bool {
	roles := [][]string{timeDimNames, latDimNames, lonDimNames}
	if len(dims) == 4 {
		roles = [][]string{timeDimNames, levelDimNames, latDimNames, lonDimNames}
	}
	if len(dims) != len(roles) {
		return false
	}
	for i, d := range dims {
		if !slices.Contains(roles[i], d) {
			return false
		}
	}
	return true
}

func (r *libraryReader) read() (*File, error) {
	present := r.g.ListVariables()
	names := r.opts.Variables
	if len(names) == 0 {
		for _, name := range present {
			if vg, err := r.getter(name); err == nil && isFieldDims(vg.Dimensions()) {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return nil, r.errorf(ErrNoVariable, "no variable has dimensions %s; variables present: %s",
				fieldDimsText, strings.Join(present, ", "))
		}
	}
	for i, name := range names {
		if !slices.Contains(present, name) {
			return nil, r.errorf(ErrNoVariable, "no variable %q; variables present: %s", name, strings.Join(present, ", "))
		}
		if slices.Contains(names[:i], name) {
			return nil, r.errorf(ErrNoVariable, "variable %s asked for twice", name)
		}
	}

	// Check every variable's dimensions and size before reading any value.
	f := &File{Path: r.path, SourceBytes: r.size, Format: r.format, Global: attrsOf(r.g.Attributes())}
	var first []string // the dimension names of the first variable, shared by all
	var levelDim string
	var total int64
	for _, name := range names {
		vg, err := r.getter(name)
		if err != nil {
			return nil, r.errorf(ErrNotField, "variable %s: %v", name, err)
		}
		dims := vg.Dimensions()
		if !isFieldDims(dims) {
			return nil, r.errorf(ErrNotField, "variable %s has dimensions (%s), not %s: it is not a gridded field",
				name, strings.Join(dims, ", "), fieldDimsText)
		}
		if first == nil {
			first = dims
		}
		if dims[0] != first[0] || dims[len(dims)-2] != first[len(first)-2] || dims[len(dims)-1] != first[len(first)-1] {
			return nil, r.errorf(ErrNotField, "variable %s has dimensions (%s), variable %s (%s): fields read together must share their time, latitude and longitude",
				name, strings.Join(dims, ", "), names[0], strings.Join(first, ", "))
		}
		if len(dims) == 4 {
			if levelDim != "" && dims[1] != levelDim {
				return nil, r.errorf(ErrNotField, "variable %s has level dimension %s, another variable %s: fields read together must share their levels",
					name, dims[1], levelDim)
			}
			levelDim = dims[1]
		}
		goType := vg.GoType()
		if goType != "int16" && goType != "float32" && goType != "float64" {
			return nil, r.errorf(ErrNotField, "variable %s is stored as %s; only short (packed or not), float and double are read", name, vg.Type())
		}
		shape := make([]int, len(dims))
		n := int64(1)
		for i, d := range dims {
			size, err := r.dimSize(d)
			if err != nil {
				return nil, err
			}
			shape[i] = size
			if int64(size) > r.opts.MaxValues/n {
				return nil, r.errorf(ErrTooLarge, "variable %s has dimensions %v, more than the %d values ReadOptions.MaxValues allows",
					name, dims, r.opts.MaxValues)
			}
			n *= int64(size)
		}
		if vg.Len() != int64(shape[0]) {
			return nil, r.errorf(ErrNotField, "variable %s has %d steps along %s, its dimension %d", name, vg.Len(), dims[0], shape[0])
		}
		if err := r.checkFits(name); err != nil {
			return nil, err
		}
		if total += n; len(r.opts.Variables) == 0 && total > r.opts.MaxValues {
			return nil, r.errorf(ErrTooLarge, "the gridded variables %v hold more than the %d values ReadOptions.MaxValues allows",
				names, r.opts.MaxValues)
		}
		f.Vars = append(f.Vars, &Variable{Name: name, Attrs: attrsOf(vg.Attributes()), Dims: dims, Shape: shape})
	}

	var err error
	if f.Time, err = r.coord(first[0]); err != nil {
		return nil, err
	}
	if f.Lat, err = r.coord(first[len(first)-2]); err != nil {
		return nil, err
	}
	if f.Lon, err = r.coord(first[len(first)-1]); err != nil {
		return nil, err
	}
	if levelDim != "" {
		level, err := r.coord(levelDim)
		if err != nil {
			return nil, err
		}
		f.Level = &level
	}
	for _, v := range f.Vars {
		if err := r.values(v); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// dimSize returns the size of dimension d: from the header in netCDF-3, else from the length
// of its coordinate variable (the library lists no dimensions of netCDF-4 files).
func (r *libraryReader) dimSize(d string) (int, error) {
	if n, ok := r.dims[d]; ok {
		return n, nil
	}
	var n uint64
	if size, ok := r.g.GetDimension(d); ok && size > 0 && r.format == "netCDF-3" {
		n = size
	} else {
		cg, err := r.getter(d)
		if err != nil || !slices.Equal(cg.Dimensions(), []string{d}) {
			return 0, r.errorf(ErrNotField, "dimension %s has no coordinate variable %s(%s)", d, d, d)
		}
		if cg.Len() < 0 {
			return 0, r.errorf(ErrNotField, "dimension %s has negative size %d", d, cg.Len())
		}
		n = uint64(cg.Len())
	}
	if n == 0 || n > uint64(r.opts.MaxValues) {
		return 0, r.errorf(ErrTooLarge, "dimension %s has size %d, outside [1, %d] (ReadOptions.MaxValues)", d, n, r.opts.MaxValues)
	}
	r.dims[d] = int(n)
	return int(n), nil
}

// checkFits refuses a netCDF-3 variable whose data runs past the end of the file: the
// library would pad it with fill values.
func (r *libraryReader) checkFits(name string) error {
	if r.format != "netCDF-3" {
		return nil
	}
	end, ok := r.ends[name]
	if !ok {
		return r.errorf(ErrNotNetCDF, "variable %s is missing from the header as parsed by this package", name)
	}
	if end > r.size {
		return r.errorf(ErrNotNetCDF, "variable %s's data runs to byte %d but the file has only %d bytes: it is truncated or its header is damaged",
			name, end, r.size)
	}
	return nil
}

// coord reads the coordinate variable of dimension d.
func (r *libraryReader) coord(d string) (Coord, error) {
	n, err := r.dimSize(d)
	if err != nil {
		return Coord{}, err
	}
	cg, err := r.getter(d)
	if err != nil || !slices.Equal(cg.Dimensions(), []string{d}) {
		return Coord{}, r.errorf(ErrNotField, "dimension %s has no coordinate variable %s(%s)", d, d, d)
	}
	if cg.Len() != int64(n) {
		return Coord{}, r.errorf(ErrNotField, "coordinate %s has %d values, its dimension %d", d, cg.Len(), n)
	}
	if err := r.checkFits(d); err != nil {
		return Coord{}, err
	}
	v, err := r.g.GetVariable(d)
	if err != nil {
		return Coord{}, r.errorf(ErrNotField, "coordinate %s: %v", d, err)
	}
	c := Coord{Name: d, Attrs: attrsOf(v.Attributes), Type: cg.GoType()}
	switch x := v.Values.(type) {
	case []float32:
		c.Values = convert(x)
	case []float64:
		c.Values = x
	case []int32:
		c.Values = convert(x)
	case []int16:
		c.Values = convert(x)
	default:
		return Coord{}, r.errorf(ErrNotField, "coordinate %s holds %T; only float, double, int and short coordinates are read", d, v.Values)
	}
	if len(c.Values) != n {
		return Coord{}, r.errorf(ErrNotField, "coordinate %s has %d values, its dimension %d", d, len(c.Values), n)
	}
	for i, x := range c.Values {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return Coord{}, r.errorf(ErrMissingValues, "coordinate %s[%d] is %v", d, i, x)
		}
	}
	return c, nil
}

func convert[T int16 | int32 | float32](x []T) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// values reads v's values and converts them to physical units.
func (r *libraryReader) values(v *Variable) error {
	raw, err := r.g.GetVariable(v.Name)
	if err != nil {
		return r.errorf(ErrNotField, "variable %s: %v", v.Name, err)
	}
	scale, offset := 1.0, 0.0
	var fill, missing *float64
	for _, a := range []struct {
		name string
		into *float64
		ptr  **float64
	}{{"scale_factor", &scale, nil}, {"add_offset", &offset, nil}, {"_FillValue", nil, &fill}, {"missing_value", nil, &missing}} {
		val := v.Attr(a.name)
		if val == nil {
			continue
		}
		x, ok := attrFloat(val)
		if !ok {
			return r.errorf(ErrNotField, "variable %s: attribute %s is %T %v, not a number", v.Name, a.name, val, val)
		}
		if a.into != nil {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return r.errorf(ErrNotField, "variable %s: attribute %s is %v", v.Name, a.name, x)
			}
			*a.into = x
		} else {
			*a.ptr = &x
		}
	}
	n := 1
	for _, s := range v.Shape {
		n *= s
	}
	v.Data = make([]float32, n)
	var bad badValues
	switch raw.Values.(type) {
	case [][][]int16, [][][][]int16:
		v.Packing = &Packing{Type: "int16", ScaleFactor: scale, AddOffset: offset, FillValue: fill, MissingValue: missing}
		err = unpack[int16](raw.Values, v.Shape, v.Data, scale, offset, fill, missing, &bad)
	case [][][]float32, [][][][]float32:
		err = unpack[float32](raw.Values, v.Shape, v.Data, scale, offset, fill, missing, &bad)
	case [][][]float64, [][][][]float64:
		err = unpack[float64](raw.Values, v.Shape, v.Data, scale, offset, fill, missing, &bad)
	default:
		return r.errorf(ErrNotField, "variable %s holds %T, not a %d-D array of short, float or double", v.Name, raw.Values, len(v.Shape))
	}
	if err != nil {
		return r.errorf(ErrNotField, "variable %s: %v", v.Name, err)
	}
	return bad.err(r, v)
}

// unpack converts the nested values of the given shape, as the library returns them, to
// physical units in out (row-major): x·scale + offset, as CF prescribes for packed integers
// and allows for floats. It counts the fill and missing values (a NaN marker matches NaNs)
// and the non-finite results.
func unpack[T int16 | float32 | float64](nested any, shape []int, out []float32, scale, offset float64,
	fill, missing *float64, bad *badValues) error {
	isMarker := func(x float64, m *float64) bool {
		return m != nil && (x == *m || math.IsNaN(x) && math.IsNaN(*m))
	}
	return forRows(nested, shape, func(start int, row []T) {
		for j, q := range row {
			x, i := float64(q), start+j
			if isMarker(x, fill) || isMarker(x, missing) {
				bad.missing(i)
				continue
			}
			out[i] = float32(x*scale + offset)
			if y := float64(out[i]); math.IsNaN(y) || math.IsInf(y, 0) {
				bad.nonFinite(i)
			}
		}
	})
}

// badValues counts missing and non-finite values and remembers the first of each.
type badValues struct {
	nMissing, nNonFinite         int
	firstMissing, firstNonFinite int
}

func (b *badValues) missing(i int) {
	if b.nMissing == 0 {
		b.firstMissing = i
	}
	b.nMissing++
}

func (b *badValues) nonFinite(i int) {
	if b.nNonFinite == 0 {
		b.firstNonFinite = i
	}
	b.nNonFinite++
}

// err reports the bad values of v, nil if none.
func (b *badValues) err(r *libraryReader, v *Variable) error {
	switch {
	case b.nMissing > 0:
		return r.errorf(ErrMissingValues, "variable %s: %d missing values (first at %s); the codec needs complete fields",
			v.Name, b.nMissing, position(v, b.firstMissing))
	case b.nNonFinite > 0:
		return r.errorf(ErrMissingValues, "variable %s: %d NaN or infinite values (first at %s); the codec needs finite fields",
			v.Name, b.nNonFinite, position(v, b.firstNonFinite))
	}
	return nil
}

// position spells flat index i of v as "time 5, latitude 2, longitude 7".
func position(v *Variable, i int) string {
	idx := make([]string, len(v.Shape))
	for d := len(v.Shape) - 1; d >= 0; d-- {
		idx[d] = fmt.Sprintf("%s %d", v.Dims[d], i%v.Shape[d])
		i /= v.Shape[d]
	}
	return strings.Join(idx, ", ")
}

// forRows calls fn with each innermost row of nested slices (as the library returns them)
// and the row-major index of its first value, checking every length against shape.
func forRows[T any](nested any, shape []int, fn func(start int, row []T)) error {
	start := 0
	var walk func(x any, depth int) error
	walk = func(x any, depth int) error {
		if depth == len(shape)-1 {
			row, ok := x.([]T)
			if !ok || len(row) != shape[depth] {
				return fmt.Errorf("the library returned %T at dimension %d, want []%T of length %d", x, depth, *new(T), shape[depth])
			}
			fn(start, row)
			start += len(row)
			return nil
		}
		rv := reflect.ValueOf(x)
		if rv.Kind() != reflect.Slice || rv.Len() != shape[depth] {
			return fmt.Errorf("the library returned %T at dimension %d, want a slice of length %d", x, depth, shape[depth])
		}
		for i := range rv.Len() {
			if err := walk(rv.Index(i).Interface(), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(nested, 0)
}

// attrsOf copies a library attribute map, in its order. Values of types other than strings,
// numbers and slices of them (HDF5 compound or enum attributes) become their fmt.Sprint
// strings, so that every value crosses the process boundary.
func attrsOf(m api.AttributeMap) []Attr {
	if m == nil {
		return nil
	}
	keys := m.Keys()
	attrs := make([]Attr, 0, len(keys))
	for _, k := range keys {
		v, _ := m.Get(k)
		switch v.(type) {
		case string, []string, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64,
			[]int8, []int16, []int32, []int64, []uint8, []uint16, []uint32, []uint64, []float32, []float64:
		default:
			v = fmt.Sprint(v)
		}
		attrs = append(attrs, Attr{Name: k, Value: v})
	}
	return attrs
}
