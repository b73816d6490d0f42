package kvcache

import "testing"

// TestConfigFromParams reads the kv_* keys: none is no quantizer; overrides apply per stream;
// KVQuant's steps only to kvquant.
func TestConfigFromParams(t *testing.T) {
	p := Params.Defaults()
	if _, ok := ConfigFromParams(p); ok {
		t.Error("kv_quant=none gave a quantizer")
	}
	p[ParamKVQuant], p[ParamKVBits], p[ParamKVKeyBits] = MethodKVQuant, 3, 2
	c, ok := ConfigFromParams(p)
	if !ok || c.Method != MethodKVQuant || c.KeyBits != 2 || c.ValueBits != 3 || !c.KeyPerChannel || !c.PreRoPE || c.Outliers != 0.01 || c.Sink != 1 {
		t.Errorf("kvquant config %+v", c)
	}
	p[ParamKVQuant] = MethodKIVI
	if c, _ := ConfigFromParams(p); c.KeyPerChannel || c.PreRoPE || c.Sink != 0 || c.Group != 32 || c.KeyGroup != 32 {
		t.Errorf("kivi config %+v: KVQuant's steps leaked in, or the groups are not the defaults", c)
	}
}
