package netcdf

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/batchatco/go-native-netcdf/netcdf/api"
	"github.com/batchatco/go-native-netcdf/netcdf/cdf"
	"github.com/batchatco/go-native-netcdf/netcdf/util"
	"github.com/qzoo/qzoo/internal/atomicfile"
)

// packingAttrs are the attributes Write derives from a variable's Packing rather than copies.
var packingAttrs = []string{"scale_factor", "add_offset", "_FillValue", "missing_value"}

// packedDomainAttrs are the attributes that describe stored integers, dropped when a
// variable packed into another type than int16 is written as floats.
var packedDomainAttrs = append(slices.Clone(packingAttrs), "valid_range", "valid_min", "valid_max", "_Unsigned")

// Write writes f to path as a netCDF-3 file (the 64-bit-offset variant, "CDF\x02", which
// go-native-netcdf writes; ncdump -k calls it "64-bit offset"), atomically: into a temporary
// file in path's directory, renamed over path once complete.
//
// The file holds the coordinates (time, level when present, latitude, longitude, each as its
// Coord.Type or the nearest type netCDF-3 has) and the variables, with their attributes and the global attributes. A variable
// with a Packing is re-packed with it into int16: raw = round((x − add_offset)/scale_factor),
// clamped to the int16 range less the fill and missing values; its packing attributes are
// rewritten from the Packing. A variable packed into another integer type (bytes, _Unsigned
// shorts, ints) is written as float32 with NaN marking its missing values and a NaN
// _FillValue, without its attributes of the packed domain (scale_factor, add_offset,
// valid_range, valid_min, valid_max, _Unsigned, missing_value). NaN values are written as the fill value (the _FillValue, else
// the missing_value), so that Read reports them as missing. A variable without Packing is
// written as float32, its scale_factor and add_offset dropped. Attributes of 64-bit or
// unsigned integer types, which netCDF-3 lacks, are written as doubles, lists of strings as
// one string of lines.
func Write(path string, f *File) (err error) {
	fail := func(err error) error { return fmt.Errorf("netcdf: write %s: %w", path, err) }
	if err := f.Check(); err != nil {
		return fail(err)
	}
	if err := atomicfile.WriteWith(path, func(tmp string) error { return writeCDF(tmp, f) }); err != nil {
		return fail(err)
	}
	return nil
}

// writeCDF writes f into the file name with the library's writer, turning its panics into
// errors.
func writeCDF(name string, f *File) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the netCDF writer panicked: %v", p)
		}
	}()
	cw, err := cdf.OpenWriter(name)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			cw.Close()
		}
	}()
	global, err := attrMap(f.Global)
	if err != nil {
		return fmt.Errorf("global attributes: %w", err)
	}
	if err := cw.AddGlobalAttrs(global); err != nil {
		return fmt.Errorf("global attributes: %w", err)
	}
	coords := []*Coord{&f.Time, f.Level, &f.Lat, &f.Lon}
	for _, c := range coords {
		if c == nil {
			continue
		}
		if err := addCoord(cw, c); err != nil {
			return err
		}
	}
	for _, v := range f.Vars {
		want := []string{f.Time.Name, f.Lat.Name, f.Lon.Name}
		if v.HasLevel() {
			want = []string{f.Time.Name, f.Level.Name, f.Lat.Name, f.Lon.Name}
		}
		if !slices.Equal(v.Dims, want) {
			return fmt.Errorf("variable %s has dimensions %v, want the coordinates' %v", v.Name, v.Dims, want)
		}
		if err := addVariable(cw, v); err != nil {
			return err
		}
	}
	closed = true
	return cw.Close()
}

func addCoord(cw *cdf.CDFWriter, c *Coord) error {
	var values any
	inRange := true
	switch c.Type {
	case "float32":
		f32 := make([]float32, len(c.Values))
		for i, x := range c.Values {
			f32[i] = float32(x)
		}
		values = f32
	case "float64":
		values = c.Values
	case "int32":
		values, inRange = roundTo[int32](c.Values, math.MinInt32, math.MaxInt32)
	case "int16", "int8", "uint8":
		values, inRange = roundTo[int16](c.Values, math.MinInt16, math.MaxInt16)
	case "uint16":
		values, inRange = roundTo[int32](c.Values, math.MinInt32, math.MaxInt32)
	case "int64", "uint32", "uint64": // Types netCDF-3 lacks; the values were read exactly as doubles.
		values = c.Values
	default:
		return fmt.Errorf("coordinate %s has type %q, not an integer, float32 or float64", c.Name, c.Type)
	}
	if !inRange {
		return fmt.Errorf("coordinate %s has values outside the range of its type %s", c.Name, c.Type)
	}
	attrs, err := attrMap(c.Attrs)
	if err != nil {
		return fmt.Errorf("coordinate %s: %w", c.Name, err)
	}
	if err := cw.AddVar(c.Name, api.Variable{Values: values, Dimensions: []string{c.Name}, Attributes: attrs}); err != nil {
		return fmt.Errorf("coordinate %s: %w", c.Name, err)
	}
	return nil
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

func addVariable(cw *cdf.CDFWriter, v *Variable) error {
	var values any
	attrs := slices.Clone(v.Attrs)
	if p := v.Packing; p != nil && p.Type == "int16" {
		raw, err := p.pack(v)
		if err != nil {
			return err
		}
		values = nest(raw, v.Shape)
		attrs = setAttr(attrs, "scale_factor", p.ScaleFactor)
		attrs = setAttr(attrs, "add_offset", p.AddOffset)
		for name, value := range map[string]*float64{"_FillValue": p.FillValue, "missing_value": p.MissingValue} {
			if value == nil {
				attrs = slices.DeleteFunc(attrs, func(a Attr) bool { return a.Name == name })
			} else {
				attrs = setAttr(attrs, name, int16(*value))
			}
		}
	} else if v.Packing != nil {
		// Stored as another integer type: written as floats, NaN marking the missing values;
		// the attributes in the packed domain no longer apply.
		values = nest(v.Data, v.Shape)
		attrs = slices.DeleteFunc(attrs, func(a Attr) bool { return slices.Contains(packedDomainAttrs, a.Name) })
		attrs = append(attrs, Attr{Name: "_FillValue", Value: float32(math.NaN())})
	} else {
		attrs = slices.DeleteFunc(attrs, func(a Attr) bool { return a.Name == "scale_factor" || a.Name == "add_offset" })
		marker := float32(math.NaN()) // what NaN is written as: the _FillValue, else the missing_value
		for i, a := range attrs {
			if a.Name == "_FillValue" || a.Name == "missing_value" {
				x, ok := attrFloat(a.Value)
				if !ok {
					return fmt.Errorf("variable %s: attribute %s is %T, not a number", v.Name, a.Name, a.Value)
				}
				attrs[i].Value = float32(x) // The type of a fill value is its variable's.
				if a.Name == "_FillValue" || marker != marker {
					marker = float32(x)
				}
			}
		}
		values = nest(withMarker(v.Data, marker), v.Shape)
	}
	m, err := attrMap(attrs)
	if err != nil {
		return fmt.Errorf("variable %s: %w", v.Name, err)
	}
	if err := cw.AddVar(v.Name, api.Variable{Values: values, Dimensions: v.Dims, Attributes: m}); err != nil {
		return fmt.Errorf("variable %s: %w", v.Name, err)
	}
	return nil
}

// withMarker returns data with its NaNs replaced by marker (a copy), or data itself when
// marker is NaN or data holds none.
func withMarker(data []float32, marker float32) []float32 {
	if marker != marker || !slices.ContainsFunc(data, func(x float32) bool { return x != x }) {
		return data
	}
	out := slices.Clone(data)
	for i, x := range out {
		if x != x {
			out[i] = marker
		}
	}
	return out
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

// pack converts v's Data to int16 with the packing p (see Write).
func (p *Packing) pack(v *Variable) ([]int16, error) {
	if p.Type != "int16" {
		return nil, fmt.Errorf("variable %s: packing type %q; only int16 is written", v.Name, p.Type)
	}
	if p.ScaleFactor == 0 || math.IsNaN(p.ScaleFactor) || math.IsInf(p.ScaleFactor, 0) ||
		math.IsNaN(p.AddOffset) || math.IsInf(p.AddOffset, 0) {
		return nil, fmt.Errorf("variable %s: packing scale_factor %v and add_offset %v must be finite, the scale non-zero",
			v.Name, p.ScaleFactor, p.AddOffset)
	}
	var markers []float64
	for _, m := range []*float64{p.FillValue, p.MissingValue} {
		if m != nil {
			if *m != math.Trunc(*m) || *m < math.MinInt16 || *m > math.MaxInt16 {
				return nil, fmt.Errorf("variable %s: fill or missing value %v is not an int16", v.Name, *m)
			}
			markers = append(markers, *m)
		}
	}
	lo, hi := float64(math.MinInt16), float64(math.MaxInt16)
	for slices.Contains(markers, lo) {
		lo++
	}
	for slices.Contains(markers, hi) {
		hi--
	}
	raw := make([]int16, len(v.Data))
	for i, x := range v.Data {
		if math.IsNaN(float64(x)) {
			if len(markers) == 0 {
				return nil, fmt.Errorf("variable %s: NaN at %s and no _FillValue or missing_value to write it as",
					v.Name, position(v, i))
			}
			raw[i] = int16(markers[0])
			continue
		}
		if math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("variable %s: %v at %s cannot be packed", v.Name, x, position(v, i))
		}
		exact := (float64(x) - p.AddOffset) / p.ScaleFactor
		q := min(hi, max(lo, math.Round(exact)))
		if slices.Contains(markers, q) { // A marker inside the range: take the nearer neighbour.
			if exact > q && !slices.Contains(markers, q+1) || slices.Contains(markers, q-1) {
				q++
			} else {
				q--
			}
		}
		raw[i] = int16(q)
	}
	return raw, nil
}

// nest returns flat as nested slices of the given shape ([][][]T for three dimensions),
// sharing flat's memory, as the library's writer wants them.
func nest[T any](flat []T, shape []int) any {
	if len(shape) == 1 {
		return flat
	}
	inner := 1
	for _, s := range shape[1:] {
		inner *= s
	}
	first := nest(flat[:inner], shape[1:])
	out := reflect.MakeSlice(reflect.SliceOf(reflect.TypeOf(first)), shape[0], shape[0])
	out.Index(0).Set(reflect.ValueOf(first))
	for i := 1; i < shape[0]; i++ {
		out.Index(i).Set(reflect.ValueOf(nest(flat[i*inner:(i+1)*inner], shape[1:])))
	}
	return out.Interface()
}

// attrMap converts attributes to the library's ordered map, turning the integer types
// netCDF-3 lacks into float64.
func attrMap(attrs []Attr) (*util.OrderedMap, error) {
	keys := make([]string, 0, len(attrs))
	values := make(map[string]any, len(attrs))
	for _, a := range attrs {
		if _, dup := values[a.Name]; dup {
			return nil, fmt.Errorf("attribute %s appears twice", a.Name)
		}
		v, err := classicValue(a.Value)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
		}
		keys = append(keys, a.Name)
		values[a.Name] = v
	}
	return util.NewOrderedMap(keys, values)
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
