package vq

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParamsWithPrefix(t *testing.T) {
	plain, prefixed := Params(), ParamsWithPrefix("k")
	if !slices.Equal(ParamsWithPrefix("").Keys(), plain.Keys()) {
		t.Errorf("ParamsWithPrefix(\"\") keys %v, want %v", ParamsWithPrefix("").Keys(), plain.Keys())
	}
	if len(prefixed) != len(plain) {
		t.Fatalf("%d prefixed keys, %d plain ones", len(prefixed), len(plain))
	}
	for i, p := range plain {
		q := prefixed[i]
		if q.Key != "k_"+p.Key || q.Doc != p.Doc || q.Default != p.Default || (q.Domain == nil) != (p.Domain == nil) {
			t.Errorf("prefixed %+v does not mirror %+v", q, p)
		}
	}
	// The plain keys are those of the configs written before prefixes existed.
	for _, key := range []string{"vq_type", "vq_codebook_size", "vq_beta", "vq_ema_decay", "vq_fsq_levels", "vq_residual_type"} {
		if _, ok := plain.Lookup(key); !ok {
			t.Errorf("key %s is not declared", key)
		}
	}
}

// TestEveryKeyHasADomain: every non-boolean vq_* key restricts its values.
func TestEveryKeyHasADomain(t *testing.T) {
	for _, p := range Params() {
		if _, isBool := p.Default.(bool); !isBool && p.Domain == nil {
			t.Errorf("key %s declares no Domain", p.Key)
		}
		if err := p.Check(p.Default); err != nil {
			t.Errorf("the default of %s is outside its domain: %v", p.Key, err)
		}
	}
}

// TestValidateNamesTheKey: configurations that domains alone cannot refuse, and values outside
// domains, are errors naming the prefixed key, found without building a graph.
func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		key    string
	}{
		{map[string]any{ParamType: "nope"}, ParamType},
		{map[string]any{ParamType: 7}, ParamType},
		{map[string]any{ParamCodebookSize: "big"}, ParamCodebookSize},
		{map[string]any{ParamCodebookSize: 1}, ParamCodebookSize},
		{map[string]any{ParamBeta: math.NaN()}, ParamBeta},
		{map[string]any{ParamType: "fsq", ParamFSQLevels: "2,8,x"}, ParamFSQLevels},
		{map[string]any{ParamType: "fsq", ParamFSQLevels: "1,8"}, ParamFSQLevels},
		{map[string]any{ParamType: "lfq", ParamCodebookSize: 1000}, ParamCodebookSize},
		{map[string]any{ParamType: "ema_vq", ParamEMADecay: 1.0}, ParamEMADecay},
		{map[string]any{ParamType: "rvq", ParamResidualType: "rvq"}, ParamResidualType},
		{map[string]any{ParamType: "rvq", ParamResidualType: "lfq", ParamCodebookSize: 12}, ParamCodebookSize},
	} {
		for _, prefix := range []string{"", "v"} {
			params := map[string]any{}
			for k, v := range tc.params {
				params[PrefixedKey(prefix, k)] = v
			}
			want := PrefixedKey(prefix, tc.key)
			err := Validate(params, prefix)
			if err == nil || !strings.Contains(err.Error(), "key "+want+":") {
				t.Errorf("Validate(%v, %q) = %v, want an error naming %s", params, prefix, err, want)
			}
		}
	}
	if err := Validate(map[string]any{ParamType: "fsq", ParamFSQLevels: "2,8"}, ""); err != nil {
		t.Errorf("levels 2,8: %v (even levels and 2 are valid)", err)
	}
}

// TestPrefixesAreIndependent: a prefixed quantizer reads only its own keys, not the plain ones
// nor another prefix's.
func TestPrefixesAreIndependent(t *testing.T) {
	params := map[string]any{
		ParamType: "lfq", ParamCodebookSize: 1000, // invalid for lfq, but not read under "k"
		"k_vq_type": "vq", "k_vq_codebook_size": 32,
		"v_vq_type": "fsq", "v_vq_fsq_levels": "3,5",
	}
	for prefix, want := range map[string]string{"k": "vq(K=32)", "v": "fsq(L=3,5)", "w": "vq(K=1024)"} {
		q, err := FromParams(params, prefix)
		if err != nil || q.Name() != want {
			t.Errorf("prefix %q: %v, %v; want %s", prefix, q, err, want)
		}
	}
	if err := Validate(params, ""); err == nil {
		t.Errorf("the plain keys configure lfq with K=1000: want an error")
	}
}

func TestReadOptions(t *testing.T) {
	var defaults EMAOptions
	if err := ReadOptions(nil, "", &defaults); err != nil {
		t.Fatal(err)
	}
	if want := (EMAOptions{CodebookSize: 1024, Beta: 0.25, Decay: 0.99, DeadCodeThreshold: 1, KMeansIters: 10}); defaults != want {
		t.Errorf("defaults %+v, want %+v", defaults, want)
	}
	var stack ResidualOptions
	err := ReadOptions(map[string]any{"k_vq_residual_type": "fsq", "k_vq_fsq_levels": "4, 4", "k_vq_residual_stages": int64(2)}, "k", &stack)
	if err != nil {
		t.Fatal(err)
	}
	fsq, ok := stack.Stage.(*FSQOptions)
	if !ok || stack.NumStages != 2 || !slices.Equal(fsq.Levels, []int{4, 4}) {
		t.Errorf("read %+v with stage %#v", stack, stack.Stage)
	}
	err = ReadOptions(map[string]any{"k_vq_beta": -1}, "k", &defaults)
	if err == nil || !strings.Contains(err.Error(), "k_vq_beta") {
		t.Errorf("β = −1 under prefix k: %v, want an error naming k_vq_beta", err)
	}
}
