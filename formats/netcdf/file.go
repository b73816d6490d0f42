package netcdf

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File is a netCDF file's gridded variables in physical units, with the coordinates and
// attributes needed to write it back.
type File struct {
	// Path is the file read.
	Path string
	// SourceBytes is the file's size on disk.
	SourceBytes int64
	// Format is "netCDF-3" (classic or 64-bit offset) or "netCDF-4" (HDF5).
	Format string
	// Global holds the global attributes in the order the library returns them.
	Global []Attr
	// Time is the time coordinate, e.g. hours since 1900-01-01 (see Time.Attr("units")): the
	// times read, those of the file's hours [TimeStart, TimeStart+len(Time.Values)) when
	// ReadOptions selects a range.
	Time Coord
	// TimeStart is the index in the file's time axis of Time.Values[0] (and of each
	// variable's first hour): ReadOptions.TimeStart, 0 when all of the axis was read.
	TimeStart int
	// TimeTotal is the length of the file's time axis, whatever range was read: Read and
	// Inspect set it; it is 0 in a File built otherwise, and Write and Create ignore it.
	TimeTotal int
	// Level is the vertical coordinate (pressure in hPa, or model level numbers), nil when no
	// variable read has a level dimension.
	Level *Coord
	// Lat and Lon are the latitude and longitude coordinates in degrees, in file order (ERA5
	// stores latitude from north to south).
	Lat, Lon Coord
	// Vars are the variables read, in the order asked for (file order when all were read).
	Vars []*Variable
}

// Attr is a netCDF attribute with its value as the library returns it: string, float64,
// float32, int32, int16, int8, or a slice of one of these.
type Attr struct {
	Name  string
	Value any
}

// Coord is a coordinate variable.
type Coord struct {
	// Name is the variable's (and its dimension's) name, e.g. "latitude" or "lat".
	Name string
	// Values holds the coordinate values converted to float64.
	Values []float64
	// Attrs are the coordinate's attributes (units, long_name, calendar...).
	Attrs []Attr
	// Type is the Go type the coordinate was stored as ("float32", "float64", "int64",
	// "int32", "int16", "uint8"...). Write writes float32, float64, int32 and int16 as such,
	// int8 and uint8 as int16, uint16 as int32, and int64, uint32, uint64 (which netCDF-3
	// lacks) as float64.
	Type string
}

// Variable is a gridded variable in physical units.
type Variable struct {
	Name string
	// Attrs are the variable's attributes as stored, packing attributes (scale_factor,
	// add_offset, _FillValue, missing_value) included.
	Attrs []Attr
	// Dims are the dimension names: (time, latitude, longitude) or (time, level, latitude,
	// longitude), with the file's own spelling (e.g. "lat").
	Dims []string
	// Shape holds the dimension sizes, in the order of Dims: Shape[0] is the number of hours
	// read (len(File.Time.Values)), the file's whole time axis unless ReadOptions selects a
	// range.
	Shape []int
	// Data holds the values in physical units (CF packing applied), row-major over Shape;
	// NaN where the file marks a value missing (counted in Missing). [Inspect] leaves it nil.
	Data []float32
	// Packing is how the file stored the values as integers, nil when it stored floats.
	Packing *Packing
	// Missing counts the values of Data that are NaN because the file marks them missing: a
	// fill or missing value, a NaN, or a value outside the valid range (see [Read]); those of
	// the hours read only.
	Missing int
}

// Packing is CF packing: physical = raw·ScaleFactor + AddOffset, where raw values equal to
// FillValue or MissingValue mark missing data.
type Packing struct {
	// Type is the stored integer type, as a Go type name ("int16", "uint8": _Unsigned
	// applied); [Write] writes "int16" packing as such and the others as floats.
	Type                   string
	ScaleFactor, AddOffset float64
	// FillValue and MissingValue are the raw values of the _FillValue and missing_value
	// attributes, nil when absent.
	FillValue, MissingValue *float64
}

// ReadOptions selects what Read reads and bounds what it may spend. Its zero value reads
// every gridded variable with the default bounds.
type ReadOptions struct {
	// Variables names the variables to read, in the order wanted; nil reads every variable
	// whose dimensions are (time[, level], latitude, longitude).
	Variables []string
	// Timeout bounds the whole read; the reading process is killed when it runs out.
	// Default (0): 2 minutes.
	Timeout time.Duration
	// MaxValues bounds the number of values read of each variable (of all of them together
	// when Variables is nil): of the hours selected by TimeStart and TimeCount. Variables the
	// file declares larger are refused before any of their values is read. Default (0): 1<<28.
	MaxValues int64
	// TimeStart and TimeCount select the time indexes [TimeStart, TimeStart+TimeCount) of every
	// variable read; TimeCount 0 reads from TimeStart to the end. MaxValues bounds the values read.
	// Only the selected hours are read from the file (netCDF-3: at their offsets; netCDF-4: the
	// chunks that hold them) and File.Time.Values holds only their times; a range not within
	// the file's time axis is refused ([ErrTimeRange]). Zero values: the whole axis.
	TimeStart, TimeCount int
}

// Default bounds of ReadOptions.
const (
	DefaultTimeout   = 2 * time.Minute
	DefaultMaxValues = int64(1) << 28
)

// Errors that Read's errors wrap, for errors.Is. Their text is only a category: the errors
// Read returns name the file and, where relevant, the variable and the position.
var (
	// ErrNotNetCDF: the file is empty, not netCDF, or too damaged for the library to open.
	ErrNotNetCDF = errors.New("not a readable netCDF file")
	// ErrNoVariable: a variable asked for is absent, or the file has no gridded variable.
	ErrNoVariable = errors.New("no such variable")
	// ErrNotField: a variable's dimensions are not (time[, level], latitude, longitude), or
	// its type, coding attributes (naming the attribute), storage (naming the structure),
	// coordinates or sizes are unusable.
	ErrNotField = errors.New("not a gridded field")
	// ErrTooLarge: a variable is larger than ReadOptions.MaxValues or than the file can hold.
	ErrTooLarge = errors.New("variable too large")
	// ErrMissingValues: a field holds missing values (File.Complete), or values that unpack
	// to infinities (Read).
	ErrMissingValues = errors.New("incomplete field")
	// ErrReaderFailed: the reading process crashed, was killed at the timeout, or answered
	// garbage; the library met something it could not handle.
	ErrReaderFailed = errors.New("the netCDF reader failed")
	// ErrTimeRange: ReadOptions.TimeStart and TimeCount select hours outside the file's time
	// axis (or are negative).
	ErrTimeRange = errors.New("time range outside the time axis")
)

// Attr returns the value of the attribute name, nil if absent.
func (c *Coord) Attr(name string) any { return attrValue(c.Attrs, name) }

// Attr returns the value of the attribute name, nil if absent.
func (v *Variable) Attr(name string) any { return attrValue(v.Attrs, name) }

// Units returns the variable's "units" attribute, "" if absent.
func (v *Variable) Units() string {
	s, _ := v.Attr("units").(string)
	return s
}

// HasLevel reports whether the variable has a level dimension.
func (v *Variable) HasLevel() bool { return len(v.Dims) == 4 }

// Variable returns the variable read as name. The error names the file and the variable and
// lists the variables read.
func (f *File) Variable(name string) (*Variable, error) {
	for _, v := range f.Vars {
		if v.Name == name {
			return v, nil
		}
	}
	return nil, fmt.Errorf("netcdf: %s: no variable %q among those read (%s): %w",
		f.Path, name, strings.Join(f.VariableNames(), ", "), ErrNoVariable)
}

// VariableNames returns the names of the variables read, in order.
func (f *File) VariableNames() []string {
	names := make([]string, len(f.Vars))
	for i, v := range f.Vars {
		names[i] = v.Name
	}
	return names
}

// Hours returns the number of time steps read (the length of the time coordinate).
func (f *File) Hours() int { return len(f.Time.Values) }

// GridSize returns the number of grid points of one field, len(Lat)·len(Lon).
func (f *File) GridSize() int { return len(f.Lat.Values) * len(f.Lon.Values) }

// SameGrid returns an error naming both files and the coordinate that differs unless a and
// b share their time, latitude and longitude coordinates (values compared exactly), as
// fields combined into one dataset or one compressed file must.
func SameGrid(a, b *File) error {
	for _, c := range []struct {
		what string
		x, y []float64
	}{{"time", a.Time.Values, b.Time.Values}, {"latitude", a.Lat.Values, b.Lat.Values}, {"longitude", a.Lon.Values, b.Lon.Values}} {
		if !slices.Equal(c.x, c.y) {
			return fmt.Errorf("netcdf: %s and %s differ in their time, latitude or longitude coordinates (the %s values differ): fields on one grid and one time axis are needed",
				a.Path, b.Path, c.what)
		}
	}
	return nil
}

// LevelChannel returns the channel name of variable name at level value level, e.g.
// "q@850" (levels are printed in the shortest form that reads back exactly).
func LevelChannel(name string, level float64) string {
	return name + "@" + strconv.FormatFloat(level, 'g', -1, 64)
}

// Channels splits f's variables into 2-D channels over time: a variable without level is
// one channel named as the variable; a variable with levels gives one channel per level,
// named by [LevelChannel] ("q@850"), in level order. data[c] holds channel c's values
// [T·H·W] (time-major, then latitude, then longitude), in physical units. Channels of
// variables without level share the variables' Data; the others are copies.
func Channels(f *File) (names []string, data [][]float32) {
	for _, v := range f.Vars {
		if !v.HasLevel() {
			names = append(names, v.Name)
			data = append(data, v.Data)
			continue
		}
		nt, nl, hw := v.Shape[0], v.Shape[1], v.Shape[2]*v.Shape[3]
		for l := range nl {
			level := float64(l)
			if f.Level != nil && l < len(f.Level.Values) {
				level = f.Level.Values[l]
			}
			ch := make([]float32, nt*hw)
			for t := range nt {
				copy(ch[t*hw:(t+1)*hw], v.Data[(t*nl+l)*hw:(t*nl+l+1)*hw])
			}
			names = append(names, LevelChannel(v.Name, level))
			data = append(data, ch)
		}
	}
	return names, data
}

// attrValue returns the value of attribute name in attrs, nil if absent.
func attrValue(attrs []Attr, name string) any {
	if i := slices.IndexFunc(attrs, func(a Attr) bool { return a.Name == name }); i >= 0 {
		return attrs[i].Value
	}
	return nil
}

// attrFloat returns a numeric attribute (a scalar or a one-element slice) as a float64.
func attrFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.Len() == 1 {
		return attrFloat(rv.Index(0).Interface())
	}
	return 0, false
}

// Complete returns nil when no variable of f has missing values, else an error wrapping
// [ErrMissingValues] that names the file, the first such variable, its count of missing
// values and the first one's position, e.g. "netcdf: read sst.nc: variable sst: 3 missing
// values (first at time 5, latitude 2, longitude 7)", the time being the index in the file's
// time axis (File.TimeStart + the index in Data). Read returns fields with missing
// values (NaN in Data, counted in Variable.Missing); consumers that need complete fields,
// such as the codec and training, call Complete.
func (f *File) Complete() error {
	for _, v := range f.Vars {
		if v.Missing == 0 {
			continue
		}
		first := slices.IndexFunc(v.Data, func(x float32) bool { return x != x })
		return readErrorf(f.Path, ErrMissingValues, "variable %s: %d missing values (first at %s)", v.Name, v.Missing, position(v, max(first, 0), f.TimeStart))
	}
	return nil
}
