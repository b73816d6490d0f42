package netcdf

import (
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/batchatco/go-native-netcdf/netcdf/api"
	"github.com/batchatco/go-native-netcdf/netcdf/cdf"
	"github.com/batchatco/go-native-netcdf/netcdf/util"
)

// This file keeps the netCDF-3 writer this package used before it wrote netCDF-3 itself:
// go-native-netcdf's CDFWriter, which takes every variable's values at once as nested
// slices. The tests compare what Write and Create write with what it wrote, read back.

// libWrite writes f to path with the library's writer, as Write did before Create.
func libWrite(path string, f *File) error {
	if err := f.Check(); err != nil {
		return err
	}
	return libWriteCDF(path, f)
}

// libWriteCDF writes f into the file name with the library's writer, turning its panics into
// errors.
func libWriteCDF(name string, f *File) (err error) {
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
	global, err := libAttrMap(f.Global)
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
		if err := libAddCoord(cw, c); err != nil {
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
		if err := libAddVariable(cw, v); err != nil {
			return err
		}
	}
	closed = true
	return cw.Close()
}

func libAddCoord(cw *cdf.CDFWriter, c *Coord) error {
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
	attrs, err := libAttrMap(c.Attrs)
	if err != nil {
		return fmt.Errorf("coordinate %s: %w", c.Name, err)
	}
	if err := cw.AddVar(c.Name, api.Variable{Values: values, Dimensions: []string{c.Name}, Attributes: attrs}); err != nil {
		return fmt.Errorf("coordinate %s: %w", c.Name, err)
	}
	return nil
}

func libAddVariable(cw *cdf.CDFWriter, v *Variable) error {
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
	m, err := libAttrMap(attrs)
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
func libAttrMap(attrs []Attr) (*util.OrderedMap, error) {
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
