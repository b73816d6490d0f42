package hparams

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Convert returns value as the type of def, the parameter's type (int, float64, bool or
// string), when it converts exactly: a Go integer or float of another width, a JSON number
// (json.Number, as the strict decoders keep them) or an integral float64 for an int. It is the
// one conversion of hyperparameter values, used by configs, -set overrides (through [Parse]),
// the quantizer options and the typed getter [Get]. The error says what was given and what
// the type wants, e.g. "got string 3, want int"; callers prefix the key. A JSON number must be
// finite; a Go float converts whatever its value, and [Param.Check] refuses NaN and ±Inf.
func Convert(value, def any) (any, error) {
	switch def.(type) {
	case int:
		switch v := value.(type) {
		case int:
			return v, nil
		case int32:
			return int(v), nil
		case int64:
			if int64(int(v)) == v {
				return int(v), nil
			}
		case json.Number:
			i, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || int64(int(i)) != i {
				return nil, fmt.Errorf("got %s, want an integer", v)
			}
			return int(i), nil
		case float64:
			// float64(math.MaxInt) rounds up to 2⁶³, itself out of range.
			if v != math.Trunc(v) || v < math.MinInt || v >= math.MaxInt {
				return nil, fmt.Errorf("got %v, want an integer", v)
			}
			return int(v), nil
		}
	case float64:
		switch v := value.(type) {
		case float64:
			return v, nil
		case float32:
			return float64(v), nil
		case int:
			return float64(v), nil
		case int32:
			return float64(v), nil
		case int64:
			return float64(v), nil
		case json.Number:
			x, err := parseFinite(string(v))
			if err != nil {
				return nil, fmt.Errorf("got %s, want a finite number", v)
			}
			return x, nil
		}
	case bool:
		if v, ok := value.(bool); ok {
			return v, nil
		}
	case string:
		if v, ok := value.(string); ok {
			return v, nil
		}
	default:
		return nil, fmt.Errorf("unsupported parameter type %T", def)
	}
	return nil, wrongType(value, def)
}

// Parse returns the text of a -set override ("key=value") as the type of def: an integer, a
// finite number, a boolean (strconv.ParseBool's spellings) or the text itself for a string.
// The error quotes the text, e.g. `"x" is not an integer`.
func Parse(text string, def any) (any, error) {
	switch def.(type) {
	case int:
		n, err := strconv.Atoi(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", text)
		}
		return n, nil
	case float64:
		return parseFinite(text)
	case bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean", text)
		}
		return b, nil
	}
	return Convert(text, def)
}

// parseFinite parses a finite float: "NaN", "Inf" and out-of-range values are errors.
func parseFinite(text string) (float64, error) {
	x, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", text)
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%q is not a finite number", text)
	}
	return x, nil
}

// wrongType explains a value whose kind the parameter's type cannot take.
func wrongType(value, def any) error {
	return fmt.Errorf("got %s %v, want %s", kindOf(value), value, TypeName(def))
}

// kindOf names the kind of a decoded value as configs spell it.
func kindOf(v any) string {
	switch v.(type) {
	case json.Number, int, int32, int64, float32, float64:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// TypeName names a parameter's type by its default, as --help prints it: int, float, bool or
// string.
func TypeName(def any) string {
	switch def.(type) {
	case int:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case string:
		return "string"
	}
	return fmt.Sprintf("%T", def)
}

// Params is what [Get] reads hyperparameters from: a *model.Scope (its own, then its parents'
// values) or a *model.Store (its root scope's).
type Params interface {
	GetParam(key string) (value any, found bool)
}

// Get returns the value of the hyperparameter key declared in list, as type T, from params; or
// its declared default when params holds none (or nil). It is how models and layers read their
// hyperparameters, so that each default is said once, in its Param. A key list does not
// declare, a T other than the key's type, or a value that does not convert (see [Convert]) is
// a programming error: Get panics naming the key, as graph-building code does.
func Get[T any](params Params, list List, key string) T {
	p, ok := list.Lookup(key)
	if !ok {
		panic(fmt.Sprintf("hparams: hyperparameter %q is not declared", key))
	}
	if _, ok := p.Default.(T); !ok {
		var t T
		panic(fmt.Sprintf("hparams: hyperparameter %q has type %s, read as %T", key, TypeName(p.Default), t))
	}
	v, found := params.GetParam(key)
	if !found || v == nil {
		return p.Default.(T)
	}
	converted, err := Convert(v, p.Default)
	if err != nil {
		panic(fmt.Sprintf("hparams: hyperparameter %q: %v", key, err))
	}
	return converted.(T)
}
