package vq

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/hparams"
)

// lookup returns the value of a (prefixed) hyperparameter key and whether it is set.
type lookup func(key string) (any, bool)

func mapLookup(params map[string]any) lookup {
	return func(key string) (any, bool) {
		v, ok := params[key]
		return v, ok
	}
}

// scopeLookup reads the hyperparameters visible in scope (its own, then its parents').
func scopeLookup(scope *model.Scope) lookup { return scope.GetParam }

// ReadOptions fills the options struct that opts points to (e.g. a *VQOptions) from params:
// each field tagged `vq:"key"` takes the value of [PrefixedKey](prefix, key), or the key's
// registered default when params lacks it (so ReadOptions(nil, "", &o) gives the defaults). An
// [Options] field (ResidualOptions.Stage) becomes the options of the type its key names, filled
// the same way; a []int field takes a comma-separated string such as "8,5,5,5"; the fields of an
// embedded struct (e.g. the VQOptions of a wrapper's options) are filled too.
//
// Values may be of the key's type or, for numbers, of another Go integer or float type that
// converts exactly. The error is a [*KeyError] naming the prefixed key of a value of the wrong
// type or outside its domain. ReadOptions panics if opts is not a pointer to an options struct.
func ReadOptions(params map[string]any, prefix string, opts Options) error {
	err := readOptions(mapLookup(params), prefix, opts)
	var ke *KeyError
	if errors.As(err, &ke) {
		return &KeyError{Key: PrefixedKey(prefix, ke.Key), Err: ke.Err}
	}
	return err
}

var optionsType = reflect.TypeFor[Options]()

// readOptions fills the tagged fields of the struct target points to; its *KeyErrors name
// unprefixed keys.
func readOptions(get lookup, prefix string, target any) error {
	v := reflect.ValueOf(target)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("vq: ReadOptions needs a pointer to an options struct, got %T", target))
	}
	s := v.Elem()
	for i := range s.NumField() {
		key, ok := s.Type().Field(i).Tag.Lookup("vq")
		if !ok {
			if f := s.Type().Field(i); f.Anonymous && f.Type.Kind() == reflect.Struct {
				if err := readOptions(get, prefix, s.Field(i).Addr().Interface()); err != nil {
					return err
				}
			}
			continue
		}
		value, err := paramValue(get, prefix, key)
		if err != nil {
			return err
		}
		field := s.Field(i)
		switch {
		case field.Type() == optionsType:
			opts, err := optionsOf(key, value.(string))
			if err != nil {
				return err
			}
			if reflect.TypeOf(opts) == v.Type() { // e.g. a residual stack of residual stacks: endless
				return keyErrorf(key, "a %s cannot be built of %s quantizers", value, value)
			}
			if err := readOptions(get, prefix, opts); err != nil {
				return err
			}
			field.Set(reflect.ValueOf(opts))
		case field.Type() == reflect.TypeFor[[]int]():
			ints, err := parseInts(value.(string))
			if err != nil {
				return &KeyError{Key: key, Err: err}
			}
			field.Set(reflect.ValueOf(ints))
		case field.Type() == reflect.TypeOf(value):
			field.Set(reflect.ValueOf(value))
		default:
			panic(fmt.Sprintf("vq: field %s of %s (key %s) has type %s, the key's type is %T",
				s.Type().Field(i).Name, s.Type(), key, field.Type(), value))
		}
	}
	return nil
}

// registered returns the registered hyperparameter key; an unregistered key in a `vq` tag is a
// programming error.
func registered(key string) hparams.Param {
	p, ok := params.Lookup(key)
	if !ok {
		panic(fmt.Sprintf("vq: hyperparameter %q is not registered", key))
	}
	return p
}

// paramValue returns the value of key under prefix, converted to the key's type and checked
// against its domain, or its default when unset.
func paramValue(get lookup, prefix, key string) (any, error) {
	p := registered(key)
	raw, found := get(PrefixedKey(prefix, key))
	if !found || raw == nil {
		return p.Default, nil
	}
	v, err := hparams.Convert(raw, p.Default)
	if err != nil {
		return nil, &KeyError{Key: key, Err: err}
	}
	return v, checkValue(p, v)
}

// checkValue returns a *KeyError when v, of p's type, is non-finite or outside p's domain.
func checkValue(p hparams.Param, v any) error {
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return keyErrorf(p.Key, "%v is not a finite number", f)
	}
	if p.Domain != nil {
		if err := p.Domain(v); err != nil {
			return &KeyError{Key: p.Key, Err: err}
		}
	}
	return nil
}

// checkOptions checks every int, float64, bool and string field of the options struct o
// against its key's domain: the checks a config gets, for options built in Go.
func checkOptions(o any) error {
	s := reflect.Indirect(reflect.ValueOf(o))
	for i := range s.NumField() {
		key, ok := s.Type().Field(i).Tag.Lookup("vq")
		if !ok {
			if f := s.Type().Field(i); f.Anonymous && f.Type.Kind() == reflect.Struct {
				if err := checkOptions(s.Field(i).Interface()); err != nil {
					return err
				}
			}
			continue
		}
		p := registered(key)
		if v := s.Field(i).Interface(); reflect.TypeOf(v) == reflect.TypeOf(p.Default) {
			if err := checkValue(p, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseInts parses a comma-separated list of integers such as "8, 5,5"; "" is the empty list.
func parseInts(spec string) ([]int, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var ints []int
	for _, field := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil {
			return nil, fmt.Errorf("%q is not a comma-separated list of integers", spec)
		}
		ints = append(ints, n)
	}
	return ints, nil
}
