package hparams

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestMergeLookupDefaults(t *testing.T) {
	a := List{{Key: "a_x", Default: 1, Doc: "x"}}
	b := List{{Key: "b_y", Default: "s", Doc: "y"}, {Key: "a_w", Default: 2.5, Doc: "w"}}
	m := Merge(a, b)
	if len(m) != 3 || m[0].Key != "a_x" || m[2].Key != "a_w" {
		t.Errorf("merge keeps order: %+v", m)
	}
	if p, ok := m.Lookup("b_y"); !ok || p.Default != "s" {
		t.Errorf("lookup: %+v %v", p, ok)
	}
	if _, ok := m.Lookup("zz"); ok {
		t.Error("lookup of an unknown key succeeded")
	}
	if d := m.Defaults(); d["a_w"] != 2.5 || len(d) != 3 {
		t.Errorf("defaults %v", d)
	}
	if fmt.Sprint(m.Keys()) != "[a_w a_x b_y]" {
		t.Errorf("keys %v", m.Keys())
	}
}

func TestMergeRejectsDuplicates(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || fmt.Sprint(r) != `hparams: key "a_x" declared twice` {
			t.Errorf("got %v", r)
		}
	}()
	Merge(List{{Key: "a_x", Default: 1}}, List{{Key: "a_x", Default: 2}})
}

func TestDomains(t *testing.T) {
	l := List{
		{Key: "rate", Default: 0.1, Domain: AtLeast(0)},
		{Key: "p", Default: 0.5, Domain: Probability()},
		{Key: "n", Default: 3, Domain: Positive()},
		{Key: "kind", Default: "a", Domain: OneOf("a", "b")},
		{Key: "free", Default: 1.0},
	}
	for _, bad := range []map[string]any{
		{"rate": -0.5}, {"p": 1.5}, {"n": 0}, {"kind": "c"},
		{"free": math.NaN()}, {"free": math.Inf(1)}, {"rate": math.Inf(1)},
	} {
		err := l.Validate(bad)
		if err == nil {
			t.Errorf("%v accepted", bad)
			continue
		}
		for k := range bad {
			if !strings.Contains(err.Error(), "key "+k) {
				t.Errorf("%v: error %q does not name the key", bad, err)
			}
		}
	}
	if err := l.Validate(map[string]any{"rate": 0.0, "p": 1.0, "n": 1, "kind": "b", "free": -3.0}); err != nil {
		t.Errorf("valid values rejected: %v", err)
	}
}
