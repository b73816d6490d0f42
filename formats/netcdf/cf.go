package netcdf

import (
	"fmt"
	"math"
	"strings"
)

// This file decodes a variable's stored values into physical units after the CF conventions
// (CF 1.11, sections 2.5.1 "Missing data, valid and actual range of data" and 8.1 "Packed
// data"), the NetCDF User Guide's attribute conventions, and netCDF-C's default fill values.

// storedTypes are the variable types read, by Go name, with their size in bits.
var storedTypes = map[string]int{"int8": 8, "uint8": 8, "int16": 16, "uint16": 16, "int32": 32, "uint32": 32,
	"int64": 64, "uint64": 64, "float32": 32, "float64": 64}

// defaultFill holds netCDF-C's default fill values (NC_FILL_*), which mark values never
// written when a variable has no _FillValue. Bytes have none that counts: NUG and
// netCDF4-python do not mask the byte default.
var defaultFill = map[string]float64{"int16": -32767, "uint16": 65535, "int32": -2147483647, "uint32": 4294967295,
	"int64": -9223372036854775806, "uint64": 18446744073709551614, "float32": float64(float32(9.9692099683868690e+36)),
	"float64": 9.9692099683868690e+36}

// cfCoding is how a variable's stored values map to physical values.
type cfCoding struct {
	typ      string // the stored type, _Unsigned applied ("uint8" for a byte with _Unsigned = "true")
	reinterp int    // bits of a signed type whose negative values are read as unsigned (_Unsigned), else 0
	scale    float64
	offset   float64
	packed   bool      // scale_factor or add_offset present
	markers  []float64 // stored values that mean missing: _FillValue (or the default), missing_value
	nanMarks bool      // NaN is missing (floats)
	lo, hi   float64   // the valid range; values outside are missing
	rangeRaw bool      // the valid range is in the stored (packed) domain, else in physical units
	fill     *float64  // the _FillValue as a stored value
	missing  *float64  // the first missing_value as a stored value
}

// newCFCoding reads the coding attributes of variable name, stored as typ. Its errors name
// the variable and the attribute; the caller prefixes the file.
func newCFCoding(name, typ string, attrs []Attr) (*cfCoding, error) {
	bits, ok := storedTypes[typ]
	if !ok {
		return nil, fmt.Errorf("variable %s is stored as %s; only integers of 8 to 64 bits, float and double are read", name, typ)
	}
	c := &cfCoding{typ: typ, scale: 1, lo: math.Inf(-1), hi: math.Inf(1), rangeRaw: true}
	isFloat := strings.HasPrefix(typ, "float")
	if u := attrValue(attrs, "_Unsigned"); u != nil {
		s, _ := u.(string)
		switch strings.ToLower(s) {
		case "true":
			if strings.HasPrefix(typ, "int") {
				c.reinterp, c.typ = bits, "u"+typ
			}
		case "false":
		default:
			return nil, fmt.Errorf("variable %s: attribute _Unsigned is %v, not \"true\" or \"false\"", name, u)
		}
	}
	attrNum := func(attr string, v any) (float64, error) {
		x, ok := attrFloat(v)
		if !ok {
			return 0, fmt.Errorf("variable %s: attribute %s is %T %v, not one number", name, attr, v, v)
		}
		return x, nil
	}
	for _, a := range []struct {
		attr string
		into *float64
	}{{"scale_factor", &c.scale}, {"add_offset", &c.offset}} {
		if v := attrValue(attrs, a.attr); v != nil {
			x, err := attrNum(a.attr, v)
			if err != nil {
				return nil, err
			}
			if math.IsNaN(x) || math.IsInf(x, 0) || a.attr == "scale_factor" && x == 0 {
				return nil, fmt.Errorf("variable %s: attribute %s is %v", name, a.attr, x)
			}
			*a.into, c.packed = x, true
		}
	}
	// A stored value given by an attribute: converted to the variable's type, refused when it
	// is not a value of that type.
	stored := func(attr string, v any) (float64, error) {
		x, err := c.storedValue(v)
		if err != nil {
			return 0, fmt.Errorf("variable %s: attribute %s = %v (%T): %v", name, attr, v, v, err)
		}
		return x, nil
	}
	if v := attrValue(attrs, "_FillValue"); v != nil {
		if n := attrLen(v); n != 1 {
			return nil, fmt.Errorf("variable %s: attribute _FillValue has %d values, not one", name, n)
		}
		x, err := stored("_FillValue", v)
		if err != nil {
			return nil, err
		}
		c.fill = &x
		c.markers = append(c.markers, x)
	} else if d, ok := defaultFill[c.typ]; ok {
		c.markers = append(c.markers, d)
	}
	if v := attrValue(attrs, "missing_value"); v != nil {
		for i, e := range attrElems(v) {
			x, err := stored("missing_value", e)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				c.missing = &x
			}
			c.markers = append(c.markers, x)
		}
	}
	c.nanMarks = isFloat
	// The valid range: in the packed domain, except when the attribute has the type of
	// scale_factor and the variable another (netCDF-Java's rule for ranges in physical units).
	rangeAttrs := []string{"valid_range", "valid_min", "valid_max"}
	scaleType := elemType(attrValue(attrs, "scale_factor"))
	if scaleType == "" {
		scaleType = elemType(attrValue(attrs, "add_offset"))
	}
	domains := map[bool]string{}
	for _, attr := range rangeAttrs {
		v := attrValue(attrs, attr)
		if v == nil || attr != "valid_range" && attrValue(attrs, "valid_range") != nil { // valid_range prevails
			continue
		}
		if attr == "valid_range" {
			if n := attrLen(v); n != 2 {
				return nil, fmt.Errorf("variable %s: attribute valid_range has %d values, not two", name, n)
			}
		} else if n := attrLen(v); n != 1 {
			return nil, fmt.Errorf("variable %s: attribute %s has %d values, not one", name, attr, n)
		}
		physical := c.packed && !isFloat && strings.HasPrefix(scaleType, "float") && elemType(v) == scaleType
		var xs []float64
		for _, e := range attrElems(v) {
			var x float64
			var err error
			if physical {
				x, err = attrNum(attr, e)
			} else {
				x, err = c.storedRange(e)
				if err != nil {
					err = fmt.Errorf("variable %s: attribute %s = %v (%T): %v", name, attr, v, v, err)
				}
			}
			if err != nil {
				return nil, err
			}
			xs = append(xs, x)
		}
		if other, ok := domains[!physical]; ok {
			return nil, fmt.Errorf("variable %s: attributes %s and %s give the valid range in different domains (one packed, one physical)", name, other, attr)
		}
		domains[physical] = attr
		c.rangeRaw = !physical
		switch attr {
		case "valid_range":
			c.lo, c.hi = xs[0], xs[1]
		case "valid_min":
			c.lo = xs[0]
		case "valid_max":
			c.hi = xs[0]
		}
	}
	if c.lo > c.hi {
		return nil, fmt.Errorf("variable %s: the valid range [%v, %v] is empty (attributes valid_range, valid_min, valid_max)", name, c.lo, c.hi)
	}
	return c, nil
}

// elemType returns the Go element type of an attribute value ("" if absent).
func elemType(v any) string {
	if v == nil {
		return ""
	}
	s := fmt.Sprintf("%T", v)
	return strings.TrimPrefix(s, "[]")
}

// attrLen returns the number of elements of an attribute value.
func attrLen(v any) int { return len(attrElems(v)) }

// attrElems returns the elements of an attribute value (a scalar is one element); strings
// are one element each.
func attrElems(v any) []any {
	switch x := v.(type) {
	case []int8:
		return elems(x)
	case []uint8:
		return elems(x)
	case []int16:
		return elems(x)
	case []uint16:
		return elems(x)
	case []int32:
		return elems(x)
	case []uint32:
		return elems(x)
	case []int64:
		return elems(x)
	case []uint64:
		return elems(x)
	case []float32:
		return elems(x)
	case []float64:
		return elems(x)
	case []string:
		return elems(x)
	}
	return []any{v}
}

func elems[T any](x []T) []any {
	out := make([]any, len(x))
	for i, e := range x {
		out[i] = e
	}
	return out
}

// storedValue converts a marker attribute (_FillValue, missing_value) to the stored type:
// exactly, or an error. A signed integer of the variable's width is reinterpreted as
// unsigned under _Unsigned, as the variable's values are.
func (c *cfCoding) storedValue(v any) (float64, error) {
	x, ok := attrFloat(v)
	if !ok {
		return 0, fmt.Errorf("not a number")
	}
	if c.reinterp > 0 && x < 0 && elemType(v) == strings.TrimPrefix(c.typ, "u") {
		x += math.Exp2(float64(c.reinterp))
	}
	if math.IsNaN(x) {
		if strings.HasPrefix(c.typ, "float") {
			return x, nil
		}
		return 0, fmt.Errorf("NaN is not a value of the variable's type %s", c.typ)
	}
	if !representable(x, c.typ) {
		return 0, fmt.Errorf("not a value of the variable's type %s", c.typ)
	}
	if c.typ == "float32" {
		x = float64(float32(x))
	}
	return x, nil
}

// storedRange converts a valid_range, valid_min or valid_max element to the stored domain;
// a bound between two stored values keeps its value (comparisons stay exact).
func (c *cfCoding) storedRange(v any) (float64, error) {
	x, ok := attrFloat(v)
	if !ok || math.IsNaN(x) {
		return 0, fmt.Errorf("not a number")
	}
	if c.reinterp > 0 && x < 0 && elemType(v) == strings.TrimPrefix(c.typ, "u") {
		x += math.Exp2(float64(c.reinterp))
	}
	return x, nil
}

// representable reports whether x is exactly a value of the Go numeric type typ.
func representable(x float64, typ string) bool {
	if math.IsInf(x, 0) {
		return strings.HasPrefix(typ, "float")
	}
	switch typ {
	case "float64":
		return true
	case "float32": // A double rounds to the float it was written from (netCDF-C converts so).
		return math.Abs(x) <= math.MaxFloat32
	}
	if x != math.Trunc(x) {
		return false
	}
	bits := storedTypes[typ]
	if typ[0] == 'u' {
		return x >= 0 && x <= math.Exp2(float64(bits))-1
	}
	return x >= -math.Exp2(float64(bits-1)) && x <= math.Exp2(float64(bits-1))-1
}

// decode converts stored values raw (as float64, the stored type's values) to physical
// values in out: NaN where missing (a marker, NaN, or outside the valid range). It returns
// the number of missing values and the index of the first value that is finite in the file
// but not once unpacked (an overflow), -1 if none.
func (c *cfCoding) decode(raw []float64, out []float32) (missing, firstInf int) {
	firstInf = -1
	wrap := math.Exp2(float64(c.reinterp))
	nan := float32(math.NaN())
	for i, x := range raw {
		if c.reinterp > 0 && x < 0 {
			x += wrap
		}
		bad := c.nanMarks && math.IsNaN(x)
		for _, m := range c.markers {
			bad = bad || x == m
		}
		y := x*c.scale + c.offset
		if c.rangeRaw {
			bad = bad || x < c.lo || x > c.hi
		} else {
			bad = bad || y < c.lo || y > c.hi
		}
		if bad {
			out[i] = nan
			missing++
			continue
		}
		out[i] = float32(y)
		if math.IsInf(float64(out[i]), 0) && firstInf < 0 {
			firstInf = i
		}
	}
	return missing, firstInf
}
