// Package registry is the one registry type of qzoo: the models, datasets and data files of
// the framework, the quantizer types of layers/vq, the cache quantizers of kvcache, the
// compressors of package compressor, the media front ends of package media and the sweep
// machinery's point hooks, preparations and reports are each a Registry of their own, filled in
// init functions and looked up by name from configs, study files and commands.
package registry

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Registry maps names to entries of type T. It is safe for concurrent use; the zero value is
// not usable: create one with [New].
type Registry[T any] struct {
	kind    string
	mu      sync.RWMutex
	entries map[string]T
}

// New returns an empty registry of entries of the given kind, a noun used in errors ("model",
// "quantizer type").
func New[T any](kind string) *Registry[T] {
	return &Registry[T]{kind: kind, entries: map[string]T{}}
}

// Register adds v under name. An empty name or a name registered twice is a programming error
// (two packages claiming one name): Register panics naming it.
func (r *Registry[T]) Register(name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		panic(fmt.Sprintf("registry: %s with an empty name", r.kind))
	}
	if _, dup := r.entries[name]; dup {
		panic(fmt.Sprintf("registry: %s %q registered twice", r.kind, name))
	}
	r.entries[name] = v
}

// Lookup returns the entry registered as name, or an error naming the kind and listing the
// registered names, e.g. `unknown model "vqea"; registered: llama, vaeformer, vqae`.
func (r *Registry[T]) Lookup(name string) (T, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.entries[name]
	if !ok {
		return v, fmt.Errorf("unknown %s %q; registered: %s", r.kind, name, strings.Join(r.names(), ", "))
	}
	return v, nil
}

// Names returns the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.names()
}

func (r *Registry[T]) names() []string { return slices.Sorted(maps.Keys(r.entries)) }

// Values returns the registered entries in the order of their names.
func (r *Registry[T]) Values() []T {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]T, 0, len(r.entries))
	for _, n := range r.names() {
		out = append(out, r.entries[n])
	}
	return out
}
