package quant

import (
	"strings"
	"testing"
)

// TestParams reads the ptq_* keys into a Spec and refuses the combinations a key's domain
// cannot, naming the key.
func TestParams(t *testing.T) {
	p := Params.Defaults()
	if err := ValidateParams(p); err != nil {
		t.Errorf("defaults: %v", err)
	}
	p[ParamPTQ], p[ParamPTQGroupSize], p[ParamPTQHadamard] = MethodRTN, 32, true
	if s := SpecFromParams(p, 3); s.Method != MethodRTN || s.Bits != 3 || s.GroupSize != 32 || !s.Hadamard || s.Symmetric || s.Seed != 1 {
		t.Errorf("rtn spec %+v", s)
	}
	p[ParamPTQ] = MethodNF4
	if s := SpecFromParams(p, 3); s.Bits != 0 {
		t.Errorf("nf4 spec has %d bits, want 0 (fixed width)", s.Bits)
	}
	for _, c := range []struct {
		set  map[string]any
		want string
	}{
		{map[string]any{ParamPTQ: "none", ParamPTQBudget: 3.0}, `key "ptq_budget_bits" needs ptq`},
		{map[string]any{ParamPTQ: MethodNF4, ParamPTQBudget: 3.0}, "nf4 has a single code width"},
		{map[string]any{ParamPTQ: MethodRTN, ParamPTQOutliers: 0.2, ParamPTQGroupSize: 0, ParamPTQBits: 9}, "keys ptq_*"},
	} {
		p := Params.Defaults()
		for k, v := range c.set {
			p[k] = v
		}
		if err := ValidateParams(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.set, err, c.want)
		}
	}
}
