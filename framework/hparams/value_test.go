package hparams

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestConvert(t *testing.T) {
	for _, c := range []struct {
		value, def, want any
	}{
		{3, 0, 3}, {int64(3), 0, 3}, {int32(-2), 0, -2}, {json.Number("7"), 0, 7}, {4.0, 0, 4},
		{2, 0.0, 2.0}, {float32(0.5), 0.0, 0.5}, {json.Number("1e-4"), 0.0, 1e-4}, {int64(3), 0.0, 3.0},
		{true, false, true}, {"x", "", "x"},
	} {
		got, err := Convert(c.value, c.def)
		if err != nil || got != c.want {
			t.Errorf("Convert(%#v, %T) = %#v, %v; want %#v", c.value, c.def, got, err, c.want)
		}
	}
	for _, c := range []struct {
		value, def any
		want       string
	}{
		{json.Number("3.5"), 0, "want an integer"}, {3.5, 0, "want an integer"}, {"3", 0, "got string 3, want int"},
		{json.Number("NaN"), 0.0, "finite"}, {json.Number("1e999"), 0.0, "finite"}, {json.Number("abc"), 0.0, "want a finite number"},
		{1, false, "want bool"}, {true, "", "want string"}, {nil, 0, "got null"}, {1, []int{}, "unsupported"},
	} {
		if _, err := Convert(c.value, c.def); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Convert(%#v, %T): error %v, want one containing %q", c.value, c.def, err, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		text string
		def  any
		want any
	}{{"12", 0, 12}, {"-3", 0, -3}, {"0.25", 0.0, 0.25}, {"3", 0.0, 3.0}, {"true", false, true}, {"0", true, false}, {"a;b", "", "a;b"}} {
		got, err := Parse(c.text, c.def)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q, %T) = %#v, %v; want %#v", c.text, c.def, got, err, c.want)
		}
	}
	for _, c := range []struct {
		text string
		def  any
	}{{"1.5", 0}, {"x", 0}, {"NaN", 0.0}, {"Inf", 0.0}, {"1e999", 0.0}, {"yes", false}} {
		if v, err := Parse(c.text, c.def); err == nil {
			t.Errorf("Parse(%q, %T) = %v, want an error", c.text, c.def, v)
		}
	}
}

// params is a Params over a map.
type params map[string]any

func (p params) GetParam(key string) (any, bool) { v, ok := p[key]; return v, ok }

func TestGet(t *testing.T) {
	l := List{{Key: "n", Default: 3}, {Key: "rate", Default: 0.5}, {Key: "on", Default: true}}
	if got := Get[int](params{}, l, "n"); got != 3 {
		t.Errorf("default: got %d, want 3", got)
	}
	if got := Get[int](params{"n": int64(9)}, l, "n"); got != 9 {
		t.Errorf("set: got %d, want 9", got)
	}
	if got := Get[float64](params{"rate": nil}, l, "rate"); got != 0.5 {
		t.Errorf("nil value: got %v, want the default 0.5", got)
	}
	if got := Get[bool](params{"on": false}, l, "on"); got {
		t.Error("set false: got true")
	}
	for name, c := range map[string]struct {
		read func()
		want string
	}{
		"undeclared": {func() { Get[int](params{}, l, "zz") }, `"zz" is not declared`},
		"wrong T":    {func() { Get[float64](params{}, l, "n") }, `"n" has type int, read as float64`},
		"bad value":  {func() { Get[int](params{"n": "x"}, l, "n") }, `"n": got string x, want int`},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), c.want) {
					t.Errorf("%s: panic %v, want one containing %q", name, r, c.want)
				}
			}()
			c.read()
		}()
	}
}
