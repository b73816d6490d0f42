// Package strictjson is the one strict JSON decoder of qzoo, for the files people write by hand:
// training configs (framework.LoadConfig, and the config recorded in every checkpoint) and sweep
// specs. It refuses what encoding/json lets through, and every error names the key it is about
// (`key "axes[0].values[1]": ...`):
//
//   - a syntax error, with its line ("line 3: invalid character ..."), and a hint when the
//     number is NaN or Infinity, which JSON does not have;
//   - an unknown key, listing the valid ones;
//   - a key given twice;
//   - a value of the wrong JSON kind ("got JSON string, want an integer"), a fraction for an
//     integer, a number out of range (1e999) for a float;
//   - null anywhere (omit the key for its default);
//   - an object or a list where a value of type any is a string, number or boolean (numbers are
//     then kept as json.Number, with the text they were written with);
//   - anything after the JSON value.
//
// Files that qzoo reads leniently with encoding/json, because they hold keys qzoo has no use for
// (a Hugging Face config.json) or because qzoo wrote them (run records), report their errors
// through [Describe], which adds the line and the key.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Decode decodes the JSON value data into the value v points to, by the rules of the package
// doc. Fields of v's structs are matched by their json tag's name; fields a document omits keep
// the values v held, so that v can start with its defaults.
func Decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic(fmt.Sprintf("strictjson: Decode needs a non-nil pointer, got %T", v))
	}
	if err := checkSyntax(data); err != nil {
		return err
	}
	return decode(data, "", rv.Elem())
}

// checkSyntax returns a syntax error with its line number, or an error when data holds more
// than one JSON value.
func checkSyntax(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return Describe(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// Describe rewrites an error of encoding/json from decoding data for a person: a syntax error
// gets its line (and the NaN/Infinity hint), a type error its line and key ("line 4: key
// "rms_norm_eps" is a JSON string, want float64"), an empty document says so; other errors
// come back as they are. For the files qzoo reads leniently with encoding/json (a Hugging Face
// config.json, which holds keys qzoo does not know).
func Describe(data []byte, err error) error {
	if err == nil {
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("no JSON value (the file is empty)")
	}
	lineAt := func(offset int64) int {
		return 1 + bytes.Count(data[:min(max(int(offset), 0), len(data))], []byte("\n"))
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		hint := ""
		rest := data[min(max(int(syntax.Offset)-1, 0), len(data)):]
		for _, word := range []string{"NaN", "Inf", "-Inf", "Infinity", "-Infinity"} {
			if bytes.HasPrefix(rest, []byte(word)) {
				hint = " (JSON has no NaN or Infinity: every number must be finite)"
			}
		}
		return fmt.Errorf("line %d: %w%s", lineAt(syntax.Offset), err, hint)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		key := typ.Field
		if key == "" {
			key = "(the document)"
		}
		return fmt.Errorf("line %d: key %q is a JSON %s, want %s", lineAt(typ.Offset), key, typ.Value, typ.Type)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("line %d: %w (truncated?)", lineAt(int64(len(data))), err)
	}
	return err
}

// decode decodes the (syntactically valid) JSON value data into v, settable; path names the
// value in errors ("" for the whole document).
func decode(data []byte, path string, v reflect.Value) error {
	data = bytes.TrimSpace(data)
	got := kind(data)
	if got == "null" {
		return fmt.Errorf("%sgot JSON null, want %s (omit the key for its default)", where(path), want(v.Type()))
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		return decode(data, path, v.Elem())
	case reflect.Struct:
		fields, err := objectFields(data, path, v.Type())
		if err != nil {
			return err
		}
		keys := structKeys(v.Type())
		for _, f := range fields {
			i := indexOf(keys, f.key)
			if i < 0 {
				return fmt.Errorf("%sunknown key %q; valid keys are: %s", where(path), f.key, strings.Join(ValidKeys(v.Type()), ", "))
			}
			if err := decode(f.value, join(path, f.key), v.Field(i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			panic(fmt.Sprintf("strictjson: map keys of %s are not strings", v.Type()))
		}
		fields, err := objectFields(data, path, v.Type())
		if err != nil {
			return err
		}
		m := reflect.MakeMapWithSize(v.Type(), len(fields))
		for _, f := range fields {
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := decode(f.value, join(path, f.key), elem); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(f.key).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
		return nil
	case reflect.Slice:
		if got != "list" {
			return fmt.Errorf("%sgot JSON %s, want %s", where(path), got, want(v.Type()))
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(data, &elems); err != nil {
			return fmt.Errorf("%s%w", where(path), err)
		}
		s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
		for i, e := range elems {
			if err := decode(e, fmt.Sprintf("%s[%d]", path, i), s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Interface:
		if got == "object" || got == "list" {
			return fmt.Errorf("%sgot JSON %s, want a string, number or boolean", where(path), got)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil {
			return fmt.Errorf("%s%w", where(path), err)
		}
		v.Set(reflect.ValueOf(x))
		return nil
	case reflect.String:
		if got != "string" {
			return fmt.Errorf("%sgot JSON %s, want %s", where(path), got, want(v.Type()))
		}
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("%s%w", where(path), err)
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		if got != "boolean" {
			return fmt.Errorf("%sgot JSON %s, want %s", where(path), got, want(v.Type()))
		}
		v.SetBool(string(data) == "true")
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if got != "number" {
			return fmt.Errorf("%sgot JSON %s, want %s", where(path), got, want(v.Type()))
		}
		n, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("%sgot %s, want an integer", where(path), data)
		}
		v.SetInt(n)
		return nil
	case reflect.Float32, reflect.Float64:
		if got != "number" {
			return fmt.Errorf("%sgot JSON %s, want %s", where(path), got, want(v.Type()))
		}
		x, err := strconv.ParseFloat(string(data), v.Type().Bits())
		if err != nil || math.IsInf(x, 0) {
			return fmt.Errorf("%sgot %s, want a finite number", where(path), data)
		}
		v.SetFloat(x)
		return nil
	}
	panic(fmt.Sprintf("strictjson: cannot decode into %s", v.Type()))
}

// field is one key of a JSON object, with its raw value.
type field struct {
	key   string
	value json.RawMessage
}

// objectFields returns the keys of the JSON object data in order, refusing duplicates.
func objectFields(data []byte, path string, t reflect.Type) ([]field, error) {
	if got := kind(data); got != "object" {
		return nil, fmt.Errorf("%sgot JSON %s, want %s", where(path), got, want(t))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, fmt.Errorf("%s%w", where(path), err)
	}
	var fields []field
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s%w", where(path), err)
		}
		key := tok.(string) // inside an object, encoding/json only yields string keys here
		if seen[key] {
			return nil, fmt.Errorf("%skey %q appears twice", where(path), key)
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("%s%w", where(join(path, key)), err)
		}
		fields = append(fields, field{key, value})
	}
	return fields, nil
}

// structKeys lists the JSON names of a struct's fields, in declaration order (unexported
// fields and fields tagged "-" get "" and cannot match a key).
func structKeys(t reflect.Type) []string {
	keys := make([]string, t.NumField())
	for i := range keys {
		if f := t.Field(i); f.IsExported() {
			if name := strings.Split(f.Tag.Get("json"), ",")[0]; name != "-" {
				keys[i] = name
			}
		}
	}
	return keys
}

// ValidKeys lists the keys a JSON object decoded into a struct of type t accepts, in the
// order of its fields.
func ValidKeys(t reflect.Type) []string {
	var keys []string
	for _, k := range structKeys(t) {
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

func indexOf(keys []string, key string) int {
	for i, k := range keys {
		if k == key && k != "" {
			return i
		}
	}
	return -1
}

// kind names the kind of the JSON value data by its first byte.
func kind(data []byte) string {
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '{':
		return "object"
	case '[':
		return "list"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// want describes the JSON a Go type decodes from.
func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return want(t.Elem())
	case reflect.Struct:
		return "an object with keys " + strings.Join(ValidKeys(t), ", ")
	case reflect.Map:
		return "an object"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a string, number or boolean"
}

// where prefixes an error with the key it is about.
func where(path string) string {
	if path == "" {
		return ""
	}
	return fmt.Sprintf("key %q: ", path)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
