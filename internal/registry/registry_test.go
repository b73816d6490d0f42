package registry

import (
	"fmt"
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := New[int]("widget")
	r.Register("b", 2)
	r.Register("a", 1)
	if v, err := r.Lookup("b"); err != nil || v != 2 {
		t.Errorf("Lookup(b) = %v, %v", v, err)
	}
	if _, err := r.Lookup("c"); err == nil || err.Error() != `unknown widget "c"; registered: a, b` {
		t.Errorf("Lookup(c): %v", err)
	}
	if !slices.Equal(r.Names(), []string{"a", "b"}) || !slices.Equal(r.Values(), []int{1, 2}) {
		t.Errorf("Names %v, Values %v", r.Names(), r.Values())
	}
	for name, register := range map[string]func(){
		`registry: widget "a" registered twice`: func() { r.Register("a", 3) },
		"registry: widget with an empty name":   func() { r.Register("", 3) },
	} {
		func() {
			defer func() {
				if p := recover(); fmt.Sprint(p) != name {
					t.Errorf("panic %v, want %q", p, name)
				}
			}()
			register()
		}()
	}
	if v, _ := r.Lookup("a"); v != 1 {
		t.Errorf("a failed registration replaced the entry: %d", v)
	}
}
