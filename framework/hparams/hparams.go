// Package hparams declares hyperparameters: the one documented home of each key, its default
// value (whose Go type is the parameter's type) and its meaning. Layers and models export
// their hyperparameters as a List; the framework merges the lists of a model to validate
// configs strictly and to print --help.
package hparams

import (
	"fmt"
	"sort"
)

// Param documents one hyperparameter.
type Param struct {
	// Key is the name used in configs and in the model.Store, e.g. "vq_codebook_size".
	Key string
	// Default is the value used when a config does not set the key. Its type is the type the
	// key must have: int, float64, bool or string.
	Default any
	// Doc says what the parameter does, in one sentence.
	Doc string
	// Domain, if set, restricts the values (e.g. [AtLeast](0), [OneOf]("a", "b")); see
	// [Param.Check]. Non-finite floats are always rejected.
	Domain Domain
}

// List is an ordered list of hyperparameters.
type List []Param

// Merge concatenates lists; a key declared twice is a programming error and panics.
func Merge(lists ...List) List {
	seen := map[string]bool{}
	var out List
	for _, l := range lists {
		for _, p := range l {
			if seen[p.Key] {
				panic(fmt.Sprintf("hparams: key %q declared twice", p.Key))
			}
			seen[p.Key] = true
			out = append(out, p)
		}
	}
	return out
}

// Defaults returns the key → default value map of the list.
func (l List) Defaults() map[string]any {
	m := make(map[string]any, len(l))
	for _, p := range l {
		m[p.Key] = p.Default
	}
	return m
}

// Lookup returns the parameter with the given key.
func (l List) Lookup(key string) (Param, bool) {
	for _, p := range l {
		if p.Key == key {
			return p, true
		}
	}
	return Param{}, false
}

// Keys returns the sorted keys of the list.
func (l List) Keys() []string {
	keys := make([]string, len(l))
	for i, p := range l {
		keys[i] = p.Key
	}
	sort.Strings(keys)
	return keys
}
