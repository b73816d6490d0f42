package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
)

type inner struct {
	Name  string  `json:"name"`
	Scale float64 `json:"scale"`
}

type doc struct {
	Steps  int               `json:"steps"`
	Seed   int64             `json:"seed"`
	On     bool              `json:"on"`
	Inner  *inner            `json:"inner"`
	List   []inner           `json:"list"`
	Values []any             `json:"values"`
	Params map[string]any    `json:"params"`
	Expect map[string]string `json:"expect,omitempty"`
	hidden int
}

func TestDecode(t *testing.T) {
	d := doc{Steps: 7, Seed: 1}
	err := Decode([]byte(`{"seed": 3, "on": true, "inner": {"name": "a", "scale": 1e-3}, "list": [{"name": "b"}],
		"values": [1, "x", false, 2.50], "params": {"k": 10}, "expect": {"mse": "< 1"}}`), &d)
	if err != nil {
		t.Fatal(err)
	}
	if d.Steps != 7 || d.Seed != 3 || !d.On || d.Inner.Name != "a" || d.Inner.Scale != 1e-3 || d.List[0].Name != "b" ||
		d.Params["k"] != json.Number("10") || d.Values[3] != json.Number("2.50") || d.Expect["mse"] != "< 1" {
		t.Errorf("decoded %+v", d)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"stepz": 1}`, `unknown key "stepz"; valid keys are: steps, seed, on, inner, list, values, params, expect`},
		{`{"hidden": 1}`, `unknown key "hidden"`},
		{`{"inner": {"nam": "a"}}`, `key "inner": unknown key "nam"; valid keys are: name, scale`},
		{`{"steps": 1, "steps": 2}`, `key "steps" appears twice`},
		{`{"list": [{"name": "a", "name": "b"}]}`, `key "list[0]": key "name" appears twice`},
		{`{"steps": "3"}`, `key "steps": got JSON string, want an integer`},
		{`{"steps": 2.5}`, `key "steps": got 2.5, want an integer`},
		{`{"steps": 1e30}`, `key "steps": got 1e30, want an integer`},
		{`{"inner": {"scale": 1e999}}`, `key "inner.scale": got 1e999, want a finite number`},
		{`{"on": 1}`, `key "on": got JSON number, want a boolean`},
		{`{"steps": null}`, `key "steps": got JSON null, want an integer (omit the key for its default)`},
		{`{"params": {"k": null}}`, `key "params.k": got JSON null`},
		{`{"values": [[1]]}`, `key "values[0]": got JSON list, want a string, number or boolean`},
		{`{"params": {"k": {"a": 1}}}`, `key "params.k": got JSON object, want a string, number or boolean`},
		{`{"list": {}}`, `key "list": got JSON object, want a list`},
		{`[]`, `got JSON list, want an object with keys steps, seed`},
		{`{"steps": 1} {}`, `trailing data after the JSON value`},
		{"{\n  \"steps\": 1,\n  \"inner\": {\"scale\": NaN}}", `line 3: invalid character 'N' looking for beginning of value (JSON has no NaN or Infinity`},
		{"{\n\"steps\": -Infinity}", `line 2: invalid character 'I' in numeric literal (JSON has no NaN or Infinity`},
		{"{\"steps\": 1,\n", `line 2: unexpected EOF`},
		{"  ", `no JSON value`},
	} {
		var d doc
		err := Decode([]byte(tc.json), &d)
		if d.hidden != 0 {
			t.Errorf("%s: an unexported field was set", tc.json)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.json, err, tc.want)
		}
	}
}

// FuzzDecode: any bytes decode or give an error, never a panic.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{`{"steps": 1, "inner": {"name": "a"}}`, `{"values": [1, "a", true]}`, `{"params": {"a": 1e3}}`, `[1]`, `null`, ``} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		_ = Decode(data, &d)
	})
}

// TestDescribe checks the errors of encoding/json rewritten with their line and key, as the
// readers of Hugging Face files report them.
func TestDescribe(t *testing.T) {
	type cfg struct {
		Eps  float64 `json:"eps"`
		Size int     `json:"size"`
	}
	for _, tc := range []struct{ text, want string }{
		{"{\n  \"size\": 3,\n  \"eps\": \"x\"\n}", `line 3: key "eps" is a JSON string, want float64`},
		{"{\n\n  \"size\": 1.5}", `line 3: key "size" is a JSON number 1.5, want int`},
		{"{\"size\": 3,\n \"eps\": NaN}", "line 2: invalid character 'N' looking for beginning of value (JSON has no NaN or Infinity: every number must be finite)"},
		{"{\"size\": 3,\n", "line 2: unexpected end of JSON input"},
		{"  \n", "no JSON value (the file is empty)"},
	} {
		var c cfg
		err := Describe([]byte(tc.text), json.Unmarshal([]byte(tc.text), &c))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Describe(%q) = %v, want %s", tc.text, err, tc.want)
		}
	}
	if Describe(nil, nil) != nil {
		t.Error("Describe of no error is an error")
	}
}
