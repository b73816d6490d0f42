package netcdf

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestCFCoding decodes stored values with coding attributes that the netCDF-C-written files
// of TestReadCF do not exercise: a valid range in physical units (the type of scale_factor
// on an integer variable), a float _FillValue on a short, _Unsigned shorts; and refuses
// unusable attributes with an error naming the variable and the attribute.
func TestCFCoding(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name  string
		typ   string
		attrs []Attr
		raw   []float64
		want  []float64 // NaN: missing
	}{
		{"physical valid_max", "int16", []Attr{{"scale_factor", 0.01}, {"add_offset", 280.0}, {"valid_max", 300.0}},
			[]float64{1000, 2500, -32767}, []float64{290, nan, nan}},
		{"packed valid_max", "int16", []Attr{{"scale_factor", 0.01}, {"add_offset", 280.0}, {"valid_max", int16(2000)}},
			[]float64{1000, 2500}, []float64{290, nan}},
		{"float fill on short", "int16", []Attr{{"_FillValue", float32(-999)}}, []float64{-999, 5}, []float64{nan, 5}},
		{"unsigned short", "int16", []Attr{{"_Unsigned", "true"}, {"_FillValue", int16(-1)}, {"scale_factor", 2.0}},
			[]float64{-2, -1, 3}, []float64{2 * 65534, nan, 6}},
		{"byte without fill", "int8", nil, []float64{-127, 0}, []float64{-127, 0}},
		{"default float fill", "float32", nil, []float64{defaultFill["float32"], 1.5, nan}, []float64{nan, 1.5, nan}},
	} {
		coding, err := newCFCoding("v", c.typ, c.attrs)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		out := make([]float32, len(c.raw))
		missing, _ := coding.decode(c.raw, out)
		want := make([]float32, len(c.want))
		nWant := 0
		for i, w := range c.want {
			want[i] = float32(w)
			if w != w {
				nWant++
			}
		}
		if missing != nWant || !slices.EqualFunc(out, want, func(a, b float32) bool { return a == b || a != a && b != b }) {
			t.Errorf("%s: decoded %v (%d missing), want %v", c.name, out, missing, want)
		}
	}
	for _, c := range []struct {
		typ   string
		attrs []Attr
		want  string
	}{
		{"int16", []Attr{{"_FillValue", 0.5}}, "attribute _FillValue = 0.5 (float64): not a value of the variable's type int16"},
		{"int16", []Attr{{"_FillValue", 1e9}}, "attribute _FillValue = 1e+09 (float64): not a value of the variable's type int16"},
		{"int16", []Attr{{"_FillValue", []int16{1, 2}}}, "attribute _FillValue has 2 values, not one"},
		{"int16", []Attr{{"missing_value", []float64{1, 2.5}}}, "attribute missing_value = 2.5 (float64): not a value"},
		{"int16", []Attr{{"_Unsigned", "maybe"}}, "attribute _Unsigned is maybe"},
		{"int16", []Attr{{"scale_factor", 0.0}}, "attribute scale_factor is 0"},
		{"int16", []Attr{{"add_offset", "ten"}}, "attribute add_offset is string ten, not one number"},
		{"int16", []Attr{{"valid_range", []int16{5, 1}}}, "the valid range [5, 1] is empty"},
		{"int16", []Attr{{"valid_range", []int16{5}}}, "attribute valid_range has 1 values, not two"},
		{"int16", []Attr{{"scale_factor", 0.5}, {"valid_min", int16(0)}, {"valid_max", 10.0}}, "attributes valid_min and valid_max give the valid range in different domains"},
		{"float32", []Attr{{"_FillValue", 1e300}}, "attribute _FillValue = 1e+300 (float64): not a value of the variable's type float32"},
		{"string", nil, "variable v is stored as string"},
	} {
		_, err := newCFCoding("v", c.typ, c.attrs)
		if err == nil || !strings.HasPrefix(err.Error(), "variable v") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want one naming variable v and containing %q", c.typ, c.attrs, err, c.want)
		}
	}
}
