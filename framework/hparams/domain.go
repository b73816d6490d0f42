package hparams

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Domain checks that a value, already of its parameter's type, is one the parameter accepts.
// It returns nil or an error saying what is allowed, e.g. "must be ≥ 0, got -0.5"; callers
// prefix the key. Domains are declared where the parameter is (Param.Domain), so that configs,
// -set overrides and Go code that builds a config are all checked the same way.
type Domain func(v any) error

// Check returns an error naming the key when v is outside p's domain. Every float parameter
// must be finite (NaN and ±Inf are never a valid hyperparameter), whatever its domain.
func (p Param) Check(v any) error {
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return fmt.Errorf("key %s: %v is not a finite number", p.Key, f)
	}
	if p.Domain == nil {
		return nil
	}
	if err := p.Domain(v); err != nil {
		return fmt.Errorf("key %s: %w", p.Key, err)
	}
	return nil
}

// Validate checks every value of params whose key the list declares (see [Param.Check]).
// Keys are visited in the list's order, so the first error is deterministic.
func (l List) Validate(params map[string]any) error {
	for _, p := range l {
		if v, ok := params[p.Key]; ok {
			if err := p.Check(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// number returns v as a float64 for the numeric parameter types.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// AtLeast accepts numbers ≥ lo.
func AtLeast(lo float64) Domain {
	return func(v any) error {
		x, ok := number(v)
		if !ok {
			return fmt.Errorf("%v is not a number", v)
		}
		if x < lo {
			return fmt.Errorf("must be ≥ %v, got %v", lo, v)
		}
		return nil
	}
}

// Positive accepts numbers > 0.
func Positive() Domain {
	return func(v any) error {
		x, ok := number(v)
		if !ok {
			return fmt.Errorf("%v is not a number", v)
		}
		if !(x > 0) {
			return fmt.Errorf("must be > 0, got %v", v)
		}
		return nil
	}
}

// Range accepts numbers in the closed interval [lo, hi].
func Range(lo, hi float64) Domain {
	return func(v any) error {
		x, ok := number(v)
		if !ok {
			return fmt.Errorf("%v is not a number", v)
		}
		if x < lo || x > hi {
			return fmt.Errorf("must be in [%v, %v], got %v", lo, hi, v)
		}
		return nil
	}
}

// Probability accepts numbers in [0, 1].
func Probability() Domain { return Range(0, 1) }

// OneOf accepts the listed strings only.
func OneOf(values ...string) Domain {
	return func(v any) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%v is not a string", v)
		}
		if !slices.Contains(values, s) {
			return fmt.Errorf("%q is not one of %s", s, strings.Join(values, ", "))
		}
		return nil
	}
}

// OneOfFunc is OneOf with the list read when checking, for registries filled in init
// functions (e.g. the quantizer types).
func OneOfFunc(values func() []string) Domain {
	return func(v any) error { return OneOf(values()...)(v) }
}
