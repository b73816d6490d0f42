package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// decodeStrict decodes the JSON value data into v (settable), refusing what encoding/json
// lets through: duplicate keys, unknown keys (the error lists the valid ones), null, and
// values of type any that are not strings, numbers or booleans (numbers decode as
// json.Number, keeping the text they were written with). path names the value in errors
// ("" for the whole file).
func decodeStrict(data []byte, path string, v reflect.Value) error {
	data = bytes.TrimSpace(data)
	got := jsonKind(data)
	if got == "null" {
		return fmt.Errorf("%sgot JSON null, want %s", where(path), wantKind(v.Type()))
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		return decodeStrict(data, path, v.Elem())
	case reflect.Struct:
		fields, err := objectFields(data, path, wantKind(v.Type()))
		if err != nil {
			return err
		}
		keys := structKeys(v.Type())
		for _, f := range fields {
			i := indexOf(keys, f.key)
			if i < 0 {
				return fmt.Errorf("%sunknown key %q; valid keys are: %s", where(path), f.key, strings.Join(validKeys(v.Type()), ", "))
			}
			if err := decodeStrict(f.value, join(path, f.key), v.Field(i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		fields, err := objectFields(data, path, wantKind(v.Type()))
		if err != nil {
			return err
		}
		m := reflect.MakeMapWithSize(v.Type(), len(fields))
		for _, f := range fields {
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := decodeStrict(f.value, join(path, f.key), elem); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(f.key), elem)
		}
		v.Set(m)
		return nil
	case reflect.Slice:
		if got != "list" {
			return fmt.Errorf("%sgot JSON %s, want %s", where(path), got, wantKind(v.Type()))
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(data, &elems); err != nil {
			return fmt.Errorf("%s%w", where(path), err)
		}
		s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
		for i, e := range elems {
			if err := decodeStrict(e, fmt.Sprintf("%s[%d]", path, i), s.Index(i)); err != nil {
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
	}
	if want := wantKind(v.Type()); want != "a "+got {
		return fmt.Errorf("%sgot JSON %s, want %s", where(path), got, want)
	}
	if err := json.Unmarshal(data, v.Addr().Interface()); err != nil {
		return fmt.Errorf("%s%w", where(path), err)
	}
	return nil
}

// field is one key of a JSON object, with its raw value.
type field struct {
	key   string
	value json.RawMessage
}

// objectFields returns the keys of the JSON object data in order, refusing duplicates and
// trailing data.
func objectFields(data []byte, path, want string) ([]field, error) {
	if got := jsonKind(data); got != "object" {
		return nil, fmt.Errorf("%sgot JSON %s, want %s", where(path), got, want)
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
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("%s%w", where(path), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%strailing data after the JSON object", where(path))
	}
	return fields, nil
}

// structKeys lists the JSON names of a struct's exported fields, in declaration order
// (unexported fields get "" and cannot match a key).
func structKeys(t reflect.Type) []string {
	keys := make([]string, t.NumField())
	for i := range keys {
		if f := t.Field(i); f.IsExported() {
			keys[i] = strings.Split(f.Tag.Get("json"), ",")[0]
		}
	}
	return keys
}

// validKeys lists the keys a JSON object decoded into a value of type t accepts.
func validKeys(t reflect.Type) []string {
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

// jsonKind names the kind of the JSON value data by its first byte.
func jsonKind(data []byte) string {
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

// wantKind describes the JSON a Go type decodes from.
func wantKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return wantKind(t.Elem())
	case reflect.Struct:
		return "an object with keys " + strings.Join(validKeys(t), ", ")
	case reflect.Map:
		return "an object"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Float64:
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
