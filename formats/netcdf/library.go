package netcdf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/batchatco/go-native-netcdf/netcdf"
	"github.com/batchatco/go-native-netcdf/netcdf/api"
	"github.com/qzoo/qzoo/formats/netcdf/internal/h5"
)

// This file is the part of Read that calls the netCDF library. It runs only in the reader
// process (see read.go): the library may panic, loop or call os.Exit on damaged input.

// Dimension names accepted for each role of a field's dimensions (the first is ERA5's).
var (
	timeDimNames  = []string{"time", "valid_time"}
	levelDimNames = []string{"level", "pressure_level"}
	latDimNames   = []string{"latitude", "lat"}
	lonDimNames   = []string{"longitude", "lon"}
	// singleDimNames are dimensions of the current Copernicus data store (ensemble member,
	// ERA5/ERA5T experiment version) read when of size 1, and dropped from the field's
	// dimensions; of another size the variable is refused.
	singleDimNames = []string{"number", "expver"}
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

// hdf5Diagnosis returns, for a netCDF-4 file the library cannot open, what package h5 finds
// unreadable in it, naming the variables ("; variable t2m: ..."), or "".
func hdf5Diagnosis(path string, size int64) string {
	fh, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer fh.Close()
	f, err := h5.Open(fh, size)
	if err != nil {
		return "; " + err.Error()
	}
	names, err := f.Datasets()
	if err != nil {
		return "; " + err.Error()
	}
	var out strings.Builder
	for _, name := range names {
		if _, err := f.Dataset(name); err != nil {
			fmt.Fprintf(&out, "; variable %s: %v", name, err)
		}
	}
	return out.String()
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
	file    *os.File
	at      io.ReaderAt // what values are read from: file (tests count the bytes read)
	cdf     *cdfLayout  // netCDF-3: where each variable's values are
	// netCDF-4: the file as package h5 reads it, and the datasets described so far.
	h5       *h5.File
	datasets map[string]*h5.Dataset
	allDims  map[string][]string // each variable's dimensions, those of size 1 dropped from the field included
	// inspect: metadata only, no variable's values read (Inspect).
	inspect bool
	// The time dimension, its length in the file, and the hours read [tStart, tStart+tCount).
	tDim                   string
	tTotal, tStart, tCount int
}

// readInProcess reads path with the netCDF library in this process; see Read.
func readInProcess(path string, opts ReadOptions) (*File, error) {
	r, err := openReader(path, opts)
	if err != nil {
		return nil, err
	}
	defer r.close()
	return r.read()
}

// inspectInProcess reads path's metadata with the netCDF library in this process; see Inspect.
func inspectInProcess(path string, opts ReadOptions) (*File, error) {
	opts.TimeStart, opts.TimeCount = 0, 0
	r, err := openReader(path, opts)
	if err != nil {
		return nil, err
	}
	defer r.close()
	r.inspect = true
	return r.read()
}

// openReader opens path with the library, and with package h5 or the netCDF-3 header
// parser for its values.
func openReader(path string, opts ReadOptions) (*libraryReader, error) {
	opts = opts.withDefaults()
	size, format, err := sniff(path)
	if err != nil {
		return nil, err
	}
	var cdf *cdfLayout
	if format == "netCDF-3" {
		if cdf, err = cdfDataLayout(path, size); err != nil {
			return nil, readErrorf(path, ErrNotNetCDF, "%v", err)
		}
	}
	g, err := netcdf.Open(path)
	if err != nil {
		return nil, readErrorf(path, ErrNotNetCDF, "the netCDF library cannot open it: %v%s", err, hdf5Diagnosis(path, size))
	}
	r := &libraryReader{path: path, size: size, format: format, g: g, opts: opts, cdf: cdf,
		getters: map[string]api.VarGetter{}, dims: map[string]int{}, datasets: map[string]*h5.Dataset{},
		allDims: map[string][]string{}}
	if r.file, err = os.Open(path); err != nil {
		g.Close()
		return nil, fmt.Errorf("netcdf: read %s: %w", path, err)
	}
	r.at = r.file
	if format == "netCDF-4" {
		if r.h5, err = h5.Open(r.file, size); err != nil {
			r.close()
			return nil, readErrorf(path, ErrNotNetCDF, "its HDF5 structure cannot be read, so its values cannot be checked: %v", err)
		}
	}
	return r, nil
}

func (r *libraryReader) close() {
	r.g.Close()
	r.file.Close()
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

// fieldDims returns dims without the dimensions of singleDimNames, and whether those left
// are (time[, level], latitude, longitude), under any of the accepted names.
func fieldDims(dims []string) ([]string, bool) {
	core := slices.DeleteFunc(slices.Clone(dims), func(d string) bool { return slices.Contains(singleDimNames, d) })
	return core, isFieldDims(core)
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
			if vg, err := r.getter(name); err == nil {
				if _, ok := fieldDims(vg.Dimensions()); !ok {
					continue
				}
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
		allDims := vg.Dimensions()
		dims, ok := fieldDims(allDims)
		if !ok {
			return nil, r.errorf(ErrNotField, "variable %s has dimensions (%s), not %s: it is not a gridded field",
				name, strings.Join(allDims, ", "), fieldDimsText)
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
		if err := r.learnDims(name, allDims); err != nil {
			return nil, err
		}
		if r.tDim == "" {
			if err := r.timeRange(first[0]); err != nil {
				return nil, err
			}
		}
		var shape []int
		n := int64(1)
		for _, d := range allDims {
			size, err := r.dimSize(d)
			if err != nil {
				return nil, err
			}
			if slices.Contains(singleDimNames, d) {
				if size != 1 {
					return nil, r.errorf(ErrNotField, "variable %s has dimension %s of size %d; only a %s of size 1 is read (extract one %s first, e.g. ncks -d %s,0)",
						name, d, size, d, d, d)
				}
				continue
			}
			if d == r.tDim {
				size = r.tCount
			}
			shape = append(shape, size)
			if r.inspect { // No value read: MaxValues does not apply.
				continue
			}
			if int64(size) > r.opts.MaxValues/n {
				return nil, r.errorf(ErrTooLarge, "variable %s has dimensions %v of sizes %v (hours [%d, %d) of %d), more than the %d values ReadOptions.MaxValues allows (ReadOptions.TimeStart and TimeCount read fewer hours)",
					name, dims, r.sizes(allDims), r.tStart, r.tStart+r.tCount, r.tTotal, r.opts.MaxValues)
			}
			n *= int64(size)
		}
		if err := r.checkFits(name); err != nil {
			return nil, err
		}
		if total += n; !r.inspect && len(r.opts.Variables) == 0 && total > r.opts.MaxValues {
			return nil, r.errorf(ErrTooLarge, "the gridded variables %v hold more than the %d values ReadOptions.MaxValues allows (hours [%d, %d) of %d; ReadOptions.TimeStart and TimeCount read fewer hours)",
				names, r.opts.MaxValues, r.tStart, r.tStart+r.tCount, r.tTotal)
		}
		f.Vars = append(f.Vars, &Variable{Name: name, Attrs: attrsOf(vg.Attributes()), Dims: dims, Shape: shape})
		r.allDims[name] = allDims
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
	f.TimeStart, f.TimeTotal = r.tStart, r.tTotal
	for _, v := range f.Vars {
		if r.inspect {
			if err := r.packing(v); err != nil {
				return nil, err
			}
			continue
		}
		if err := r.values(v); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// timeRange sets the time dimension d, its length, and the hours to read: those of
// ReadOptions.TimeStart and TimeCount, all of them when inspecting.
func (r *libraryReader) timeRange(d string) error {
	total, err := r.dimSize(d)
	if err != nil {
		return err
	}
	start, count := r.opts.TimeStart, r.opts.TimeCount
	if r.inspect {
		start, count = 0, 0
	}
	end := "end"
	if count > 0 {
		end = fmt.Sprint(start + count)
	}
	if start < 0 || count < 0 || start >= total || count > total-start {
		return r.errorf(ErrTimeRange, "time range [%d, %s) (ReadOptions.TimeStart %d, TimeCount %d) is outside the time axis %s of %d steps",
			start, end, start, count, d, total)
	}
	if count == 0 {
		count = total - start
	}
	r.tDim, r.tTotal, r.tStart, r.tCount = d, total, start, count
	return nil
}

// sizes returns the sizes of the dimensions dims, -1 for those unknown.
func (r *libraryReader) sizes(dims []string) []int {
	out := make([]int, len(dims))
	for i, d := range dims {
		if n, ok := r.dims[d]; ok {
			out[i] = n
		} else {
			out[i] = -1
		}
	}
	return out
}

// learnDims records the sizes of variable name's dimensions allDims. In netCDF-4 they come
// from the variable's HDF5 dataspace, read by package h5 (the library lists no dimensions of
// netCDF-4 files); in netCDF-3 dimSize reads them from the header.
func (r *libraryReader) learnDims(name string, allDims []string) error {
	if r.h5 == nil {
		return nil
	}
	d, err := r.dataset(name)
	if err != nil {
		return err
	}
	if len(d.Dims) != len(allDims) {
		return r.errorf(ErrNotField, "variable %s: the library lists dimensions (%s), its HDF5 dataspace has %d",
			name, strings.Join(allDims, ", "), len(d.Dims))
	}
	for i, dim := range allDims {
		n := d.Dims[i]
		if n == 0 || n > uint64(r.opts.MaxValues) {
			return r.errorf(ErrTooLarge, "variable %s: dimension %s has size %d, outside [1, %d] (ReadOptions.MaxValues)", name, dim, n, r.opts.MaxValues)
		}
		if old, ok := r.dims[dim]; ok && old != int(n) {
			return r.errorf(ErrNotField, "variable %s: dimension %s has size %d, %d in another variable", name, dim, n, old)
		}
		r.dims[dim] = int(n)
	}
	return nil
}

// dataset returns the HDF5 description of netCDF-4 variable name.
func (r *libraryReader) dataset(name string) (*h5.Dataset, error) {
	if d, ok := r.datasets[name]; ok {
		return d, nil
	}
	d, err := r.h5.Dataset(name)
	if err != nil {
		return nil, r.errorf(ErrNotField, "variable %s: its HDF5 dataset cannot be read, so its values cannot be checked: %v", name, err)
	}
	r.datasets[name] = d
	return d, nil
}

// dimSize returns the size of dimension d: from the header in netCDF-3 (from the length of
// its coordinate variable for the unlimited dimension), from the HDF5 dataspaces in netCDF-4.
func (r *libraryReader) dimSize(d string) (int, error) {
	if n, ok := r.dims[d]; ok {
		return n, nil
	}
	var n uint64
	if size, ok := r.g.GetDimension(d); ok && size > 0 && r.format == "netCDF-3" {
		n = size
	} else {
		if _, err := r.getter(d); err != nil {
			return 0, r.errorf(ErrNotField, "dimension %s has no coordinate variable %s(%s)", d, d, d)
		}
		if err := r.learnDims(d, []string{d}); err != nil {
			return 0, err
		}
		if m, ok := r.dims[d]; ok {
			return m, nil
		}
		cg, _ := r.getter(d)
		if !slices.Equal(cg.Dimensions(), []string{d}) {
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
	v, ok := r.cdf.vars[name]
	if !ok {
		return r.errorf(ErrNotNetCDF, "variable %s is missing from the header as parsed by this package", name)
	}
	end := v.end
	if end > r.size {
		return r.errorf(ErrNotNetCDF, "variable %s's data runs to byte %d but the file has only %d bytes: it is truncated or its header is damaged",
			name, end, r.size)
	}
	return nil
}

// maxExactInt is the largest integer up to which every integer is a float64: 64-bit integer
// coordinates beyond it are refused.
const maxExactInt = 1 << 53

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
	if err := r.checkFits(d); err != nil {
		return Coord{}, err
	}
	axis, first := -1, 0 // the time coordinate: the hours read only
	if d == r.tDim {
		axis, first = 0, r.tStart
	}
	values, typ, err := r.raw(d, []int{n}, axis)
	if err != nil {
		return Coord{}, err
	}
	c := Coord{Name: d, Attrs: attrsOf(cg.Attributes()), Type: typ, Values: values}
	for i, x := range c.Values {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return Coord{}, r.errorf(ErrMissingValues, "coordinate %s[%d] is %v", d, first+i, x)
		}
		if (typ == "int64" || typ == "uint64") && math.Abs(x) > maxExactInt {
			return Coord{}, r.errorf(ErrNotField, "coordinate %s[%d] is %v, beyond the integers a double holds exactly (2^53)", d, first+i, x)
		}
	}
	return c, nil
}

// raw returns the stored values of variable name, of the given shape (dimensions of size 1
// included), as float64s, and their stored type's Go name: all of them, or, when axis ≥ 0
// (the time dimension's index in shape), only those of the hours [r.tStart, r.tStart+r.tCount)
// along it. Only the bytes of those values are read (and the chunks that hold them). The
// values are read by this package, not the library: netCDF-4 by package h5 (the library's
// reassembly of chunks is wrong when chunks split the last axes), netCDF-3 from the header's
// offsets (the library panics on a _FillValue of another type than its variable's).
func (r *libraryReader) raw(name string, shape []int, axis int) ([]float64, string, error) {
	start, count := make([]int, len(shape)), slices.Clone(shape)
	if axis >= 0 {
		start[axis], count[axis] = r.tStart, r.tCount
	}
	if r.h5 != nil {
		d, err := r.dataset(name)
		if err != nil {
			return nil, "", err
		}
		if len(d.Dims) != len(shape) {
			return nil, "", r.errorf(ErrNotField, "variable %s: HDF5 dataspace %v, want %v", name, d.Dims, shape)
		}
		start64, count64 := make([]uint64, len(shape)), make([]uint64, len(shape))
		for i, s := range shape {
			if d.Dims[i] != uint64(s) {
				return nil, "", r.errorf(ErrNotField, "variable %s: HDF5 dataspace %v, want %v", name, d.Dims, shape)
			}
			start64[i], count64[i] = uint64(start[i]), uint64(count[i])
		}
		b, err := d.ReadSlab(start64, count64, uint64(r.opts.MaxValues))
		if err != nil {
			return nil, "", r.errorf(ErrNotField, "variable %s (%s layout, chunks %v, filters %v): %v", name, d.Layout, d.Chunk, d.Filters, err)
		}
		return decodeValues(b, d.Type, binary.LittleEndian), d.Type.String(), nil
	}
	// netCDF-3: the dimensions before the time axis have size 1, so the hours read are one
	// run of values [from, from+n) of the variable's row-major order.
	total, from, n := int64(1), int64(0), int64(1)
	for i, s := range shape {
		if i < axis && s != 1 {
			return nil, "", r.errorf(ErrNotField, "variable %s: dimension %d of size %d before its time dimension", name, i, s)
		}
		total *= int64(s)
		from = from*int64(s) + int64(start[i])
		n *= int64(count[i])
	}
	out, typ, err := cdfValues(r.at, r.size, r.cdf, name, total, from, n)
	if err != nil {
		return nil, "", r.errorf(ErrNotNetCDF, "%v", err)
	}
	return out, typ, nil
}

// decodeValues converts values of type t in the given byte order to float64s.
func decodeValues(b []byte, t h5.Type, order binary.ByteOrder) []float64 {
	out := make([]float64, len(b)/t.Size)
	for i := range out {
		e := b[i*t.Size:]
		switch {
		case t.Float && t.Size == 4:
			out[i] = float64(math.Float32frombits(order.Uint32(e)))
		case t.Float:
			out[i] = math.Float64frombits(order.Uint64(e))
		case t.Size == 1 && t.Signed:
			out[i] = float64(int8(e[0]))
		case t.Size == 1:
			out[i] = float64(e[0])
		case t.Size == 2 && t.Signed:
			out[i] = float64(int16(order.Uint16(e)))
		case t.Size == 2:
			out[i] = float64(order.Uint16(e))
		case t.Size == 4 && t.Signed:
			out[i] = float64(int32(order.Uint32(e)))
		case t.Size == 4:
			out[i] = float64(order.Uint32(e))
		case t.Signed:
			out[i] = float64(int64(order.Uint64(e)))
		default:
			out[i] = float64(order.Uint64(e))
		}
	}
	return out
}

// typeOf returns the element type of a Go numeric type name (one of storedTypes).
func typeOf(name string) h5.Type {
	return h5.Type{Float: strings.HasPrefix(name, "float"), Signed: strings.HasPrefix(name, "int"), Size: storedTypes[name] / 8}
}

// values reads v's values, of the hours [r.tStart, r.tStart+r.tCount), and converts them to
// physical units after the CF conventions (cf.go): missing values become NaN and are
// counted in v.Missing.
func (r *libraryReader) values(v *Variable) error {
	shape, err := r.fullShape(v.Name)
	if err != nil {
		return err
	}
	raw, typ, err := r.raw(v.Name, shape, slices.Index(r.allDims[v.Name], r.tDim))
	if err != nil {
		return err
	}
	coding, err := newCFCoding(v.Name, typ, v.Attrs)
	if err != nil {
		return r.errorf(ErrNotField, "%v", err)
	}
	v.Data = make([]float32, len(raw))
	missing, firstInf := coding.decode(raw, v.Data)
	if firstInf >= 0 {
		return r.errorf(ErrMissingValues, "variable %s: the value at %s is infinite once unpacked (scale_factor %v, add_offset %v)",
			v.Name, position(v, firstInf, r.tStart), coding.scale, coding.offset)
	}
	v.Missing = missing
	v.Packing = coding.packing()
	return nil
}

// packing sets v's Packing from its attributes and stored type, reading no value (Inspect).
func (r *libraryReader) packing(v *Variable) error {
	var typ string
	if r.h5 != nil {
		d, err := r.dataset(v.Name)
		if err != nil {
			return err
		}
		typ = d.Type.String()
	} else {
		cv, ok := r.cdf.vars[v.Name]
		if !ok {
			return r.errorf(ErrNotNetCDF, "variable %s is missing from the header as parsed by this package", v.Name)
		}
		if typ, ok = cdfTypes[cv.typ]; !ok {
			return r.errorf(ErrNotNetCDF, "variable %s is of netCDF type %d (char); only numbers are read", v.Name, cv.typ)
		}
	}
	coding, err := newCFCoding(v.Name, typ, v.Attrs)
	if err != nil {
		return r.errorf(ErrNotField, "%v", err)
	}
	v.Packing = coding.packing()
	return nil
}

// fullShape returns the sizes of variable name's dimensions in the file, those of size 1
// that the field drops included.
func (r *libraryReader) fullShape(name string) ([]int, error) {
	var shape []int
	for _, d := range r.allDims[name] {
		n, err := r.dimSize(d)
		if err != nil {
			return nil, err
		}
		shape = append(shape, n)
	}
	return shape, nil
}

// packing returns the Packing of a variable stored as integers with coding c, nil for floats.
func (c *cfCoding) packing() *Packing {
	if strings.HasPrefix(c.typ, "float") {
		return nil
	}
	return &Packing{Type: c.typ, ScaleFactor: c.scale, AddOffset: c.offset, FillValue: c.fill, MissingValue: c.missing}
}

// position spells flat index i of v's Data as "time 5, latitude 2, longitude 7", the time
// counted from t0 (the index in the file of the first hour of Data).
func position(v *Variable, i, t0 int) string {
	idx := make([]string, len(v.Shape))
	for d := len(v.Shape) - 1; d >= 0; d-- {
		k := i % v.Shape[d]
		if d == 0 {
			k += t0
		}
		idx[d] = fmt.Sprintf("%s %d", v.Dims[d], k)
		i /= v.Shape[d]
	}
	return strings.Join(idx, ", ")
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
