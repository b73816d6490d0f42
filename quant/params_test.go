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
	p[ParamPTQ], p[ParamPTQExponent], p[ParamPTQHadamard] = MethodFloat, 3, false
	if s := SpecFromParams(p, 5); s.Method != MethodFloat || s.Bits != 5 || s.Exponent != 3 || s.String() != "float-w5-e3m1-g32" {
		t.Errorf("float spec %+v (%s), want float-w5-e3m1-g32", s, s)
	}
	// Every key of the domains: the new methods, 16 bits and the exponent's range.
	for key, v := range map[string]any{ParamPTQ: MethodNF, ParamPTQBits: 16, ParamPTQExponent: 8, ParamPTQGroupSize: 4096} {
		if err := Params.Validate(map[string]any{key: v}); err != nil {
			t.Errorf("%s = %v refused: %v", key, v, err)
		}
	}
	for key, v := range map[string]any{ParamPTQ: "fp4", ParamPTQBits: 17, ParamPTQExponent: 9} {
		if err := Params.Validate(map[string]any{key: v}); err == nil {
			t.Errorf("%s = %v accepted", key, v)
		}
	}
	for _, c := range []struct {
		set  map[string]any
		want string
	}{
		{map[string]any{ParamPTQ: "none", ParamPTQBudget: 3.0}, `key "ptq_budget_bits" needs ptq`},
		{map[string]any{ParamPTQ: MethodNF4, ParamPTQBudget: 3.0}, "nf4 has a single code width"},
		{map[string]any{ParamPTQ: MethodFloat, ParamPTQBudget: 3.0}, `key "ptq_budget_bits": float has no 2-bit format`},
		{map[string]any{ParamPTQ: MethodRTN, ParamPTQOutliers: 0.2, ParamPTQGroupSize: 0, ParamPTQBits: 9}, `key "ptq_outliers": quant: OutlierFraction 0.2`},
		{map[string]any{ParamPTQ: MethodSqueezeLLM, ParamPTQBits: 9}, `key "ptq_bits": quant: Bits 9 out of range [2, 8] for method squeezellm`},
		{map[string]any{ParamPTQ: MethodNF, ParamPTQBits: 12}, `key "ptq_bits": quant: Bits 12 out of range [2, 8] for method nf`},
		{map[string]any{ParamPTQ: MethodFloat, ParamPTQBits: 2}, `key "ptq_bits": quant: Bits 2 for method float`},
		{map[string]any{ParamPTQ: MethodFloat, ParamPTQBits: 10}, `key "ptq_bits": quant: Bits 10 for method float: widths are 3..8 and 16`},
		{map[string]any{ParamPTQ: MethodFloat, ParamPTQBits: 4, ParamPTQExponent: 3, ParamPTQGroupSize: 64}, ""},
		{map[string]any{ParamPTQ: MethodFloat, ParamPTQBits: 4, ParamPTQExponent: 4}, `key "ptq_exponent_bits": quant: Exponent 4 for a 4-bit float`},
		{map[string]any{ParamPTQ: MethodRTN, ParamPTQExponent: 2}, `key "ptq_exponent_bits": quant: Exponent applies to method float only, not rtn`},
		{map[string]any{ParamPTQ: MethodNF, ParamPTQSymmetric: true}, `key "ptq_symmetric": quant: Symmetric applies to method rtn only, not nf`},
		{map[string]any{ParamPTQ: MethodNF, ParamPTQDoubleQuant: true}, `key "ptq_double_quant"`},
		{map[string]any{ParamPTQ: MethodRTN, ParamPTQBits: 16, ParamPTQGroupSize: 4096}, ""},
		{map[string]any{ParamPTQ: MethodNF, ParamPTQBits: 3, ParamPTQBudget: 3.0}, ""},
	} {
		p := Params.Defaults()
		for k, v := range c.set {
			p[k] = v
		}
		err := ValidateParams(p)
		if c.want == "" {
			if err != nil {
				t.Errorf("%v: %v", c.set, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.set, err, c.want)
		}
	}
}
