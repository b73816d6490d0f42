package hf

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// smolLM2Like is a config.json in the shape of SmolLM2-135M's (a LlamaForCausalLM with tied
// embeddings, grouped-query attention and rope_theta 100000), with keys the package does not
// read.
const smolLM2Like = `{
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 0,
  "eos_token_id": 0,
  "hidden_act": "silu",
  "hidden_size": 576,
  "initializer_range": 0.041666666666666664,
  "intermediate_size": 1536,
  "max_position_embeddings": 8192,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 9,
  "num_hidden_layers": 30,
  "num_key_value_heads": 3,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "rope_theta": 100000,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.42.3",
  "use_cache": true,
  "vocab_size": 49152
}`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(smolLM2Like))
	if err != nil {
		t.Fatal(err)
	}
	if c.Architecture() != ArchLlama || c.HiddenSize != 576 || c.KVHeads() != 3 || c.Theta() != 100000 || !c.Tied() ||
		c.QKVBias() || c.Context() != 8192 || c.RMSNormEps != 1e-5 {
		t.Errorf("parsed %+v", c)
	}
	if string(c.Extra["transformers_version"]) != `"4.42.3"` {
		t.Errorf("extra keys %v", c.Extra)
	}
	// Written back, it parses to the same config, the unread keys kept.
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := back.Marshal()
	if !bytes.Equal(b, b2) || !strings.Contains(string(b), `"initializer_range": 0.041666666666666664`) {
		t.Errorf("round trip changed the config:\n%s\n%s", b, b2)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
		"num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100, "max_position_embeddings": 4096,
		"rms_norm_eps": 1e-6, "sliding_window": 1024, "use_sliding_window": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.KVHeads() != 4 || c.Theta() != 10000 || c.Tied() || !c.QKVBias() || c.Context() != 4096 {
		t.Errorf("defaults: kv %d theta %g tied %v bias %v context %d", c.KVHeads(), c.Theta(), c.Tied(), c.QKVBias(), c.Context())
	}
	m, err := ParseConfig([]byte(`{"architectures": ["MistralForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 100,
		"max_position_embeddings": 32768, "rms_norm_eps": 1e-5, "sliding_window": 4096}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Context() != 4096 {
		t.Errorf("Mistral's context %d, want its sliding window 4096", m.Context())
	}
}

// Each refusal names the key at fault.
func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct{ edit, mention string }{
		{`"architectures": ["GPT2LMHeadModel"]`, "GPT2LMHeadModel"},
		{`"architectures": []`, "architectures"},
		{`"hidden_size": 0`, "hidden_size"},
		{`"hidden_size": 100000000`, "hidden_size"},
		{`"num_attention_heads": 7`, "num_attention_heads"},
		{`"num_key_value_heads": 2`, "num_key_value_heads"},
		{`"head_dim": 128`, "head_dim"},
		{`"rms_norm_eps": 0`, "rms_norm_eps"},
		{`"rope_theta": -1`, "rope_theta"},
		{`"rope_scaling": {"rope_type": "yarn", "factor": 4.0}`, `rope_scaling": scaled RoPE "yarn"`},
		{`"rope_scaling": {"type": "dynamic", "factor": 2.0}`, `rope_scaling": scaled RoPE "dynamic"`},
		{`"rope_scaling": {"rope_type": "longrope", "short_factor": [1], "long_factor": [2]}`, `"longrope"`},
		{`"rope_scaling": {"factor": 2.0}`, `rope_scaling": scaled RoPE "{\"factor\": 2.0}"`},
		{`"rope_scaling": "llama3"`, "rope_scaling"},
		{`"rope_scaling": {"type": "linear"}`, `rope_scaling": linear scaling needs "factor"`},
		{`"rope_scaling": {"type": "linear", "factor": 0.5}`, `"factor" is 0.5, not a number ≥ 1`},
		{`"rope_scaling": {"rope_type": "llama3", "factor": 8.0}`, `rope_scaling": llama3 scaling needs "low_freq_factor"`},
		{`"rope_scaling": {"rope_type": "llama3", "factor": "8", "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}`, `"factor" is "8", not a number`},
		{`"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}`, `"high_freq_factor" (4) is not above "low_freq_factor" (4)`},
		{`"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}`, `"low_freq_factor" is 0`},
		{`"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192.5}`, `"original_max_position_embeddings" is 8192.5`},
		{`"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}`, `needs "original_max_position_embeddings"`},
		{`"hidden_act": "gelu"`, "hidden_act"},
		{`"attention_bias": true`, "attention_bias"},
		{`"mlp_bias": true`, "mlp_bias"},
		{`"vocab_size": -5`, "vocab_size"},
		// Wrong JSON: the line and the key, and NaN (which Python's json writes) named.
		{`"rms_norm_eps": "1e-5"`, `key "rms_norm_eps" is a JSON string, want float64`},
		{`"hidden_size": 64.5`, `key "hidden_size" is a JSON number 64.5, want int`},
		{`"rope_theta": NaN`, "JSON has no NaN or Infinity"},
		{`"rope_theta": Infinity`, "JSON has no NaN or Infinity"},
	} {
		key := tc.edit[:strings.Index(tc.edit, ":")]
		var lines []string
		for _, l := range strings.Split(smolLM2Like, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), key+":") {
				comma := strings.HasSuffix(l, ",")
				l = "  " + tc.edit
				if comma {
					l += ","
				}
			}
			lines = append(lines, l)
		}
		text := strings.Join(lines, "\n")
		if !strings.Contains(text, tc.edit) {
			text = strings.Replace(smolLM2Like, "{", "{"+tc.edit+",", 1)
		}
		_, err := ParseConfig([]byte(text))
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: error %v, want one naming %s", tc.edit, err, tc.mention)
		}
	}
}

// llama32Like is Llama-3.2-1B's config.json: rope_theta 500000 and Meta's Llama 3.1 RoPE
// scaling with factor 32.
const llama32Like = `{
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": 128001,
  "head_dim": 64,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 8192,
  "max_position_embeddings": 131072,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 16,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {
    "factor": 32.0,
    "high_freq_factor": 4.0,
    "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3"
  },
  "rope_theta": 500000.0,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0",
  "use_cache": true,
  "vocab_size": 128256
}`

// TestRoPEScalingLlama3 reads Llama-3.2-1B's rope_scaling, writes it back (RoPEScaling.JSON)
// as the same object, byte for byte once compacted, and reads the linear type (older key
// "type" too); null and "default" are no scaling.
func TestRoPEScalingLlama3(t *testing.T) {
	c, err := ParseConfig([]byte(llama32Like))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Scaling()
	if err != nil {
		t.Fatal(err)
	}
	want := RoPEScaling{Type: RoPEScalingLlama3, Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}
	if s == nil || *s != want {
		t.Fatalf("rope_scaling read as %+v, want %+v", s, want)
	}
	var orig, written bytes.Buffer
	if err := json.Compact(&orig, c.RoPEScaling); err != nil {
		t.Fatal(err)
	}
	if err := json.Compact(&written, s.JSON()); err != nil {
		t.Fatal(err)
	}
	if orig.String() != written.String() {
		t.Errorf("written back as %s, read from %s", written.String(), orig.String())
	}
	c.RoPEScaling = s.JSON()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := back.Scaling(); err != nil || s2 == nil || *s2 != want || !strings.Contains(string(b), `"factor": 32.0`) {
		t.Errorf("config.json written with rope_scaling %+v (%v):\n%s", s2, err, b)
	}
	for text, want := range map[string]*RoPEScaling{
		`{"type": "linear", "factor": 2.0}`:    {Type: RoPEScalingLinear, Factor: 2},
		`{"rope_type": "linear", "factor": 4}`: {Type: RoPEScalingLinear, Factor: 4},
		`{"rope_type": "default"}`:             nil,
		`null`:                                 nil,
		` `:                                    nil,
		`{"rope_type": "linear", "factor": 2.5, "x": 1}`: {Type: RoPEScalingLinear, Factor: 2.5},
	} {
		c := &Config{RoPEScaling: json.RawMessage(text)}
		got, err := c.Scaling()
		if err != nil || (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("%s: %+v (%v), want %+v", text, got, err, want)
		}
	}
	if got := string((RoPEScaling{Type: RoPEScalingLinear, Factor: 2}).JSON()); got != `{"factor": 2.0, "rope_type": "linear"}` {
		t.Errorf("linear written as %s", got)
	}
}

func TestParseIndex(t *testing.T) {
	ix, err := ParseIndex([]byte(`{"metadata": {"total_size": 12}, "weight_map": {"a": "model-00001-of-00002.safetensors",
		"b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.Shards(); len(got) != 2 || got[0] != "model-00001-of-00002.safetensors" {
		t.Errorf("shards %v", got)
	}
	for _, bad := range []string{`{"weight_map": {}}`, `{"weight_map": {"a": "../x.safetensors"}}`,
		`{"weight_map": {"a": "/etc/x.safetensors"}}`, `{"weight_map": {"a": "x.bin"}}`, `{"weight_map": {"a": ""}}`,
		`{"weight_map": {"a": "sub\\x.safetensors"}}`, `[1]`, `{"weight_map": {"a": 3}}`} {
		if _, err := ParseIndex([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(smolLM2Like))
	f.Add([]byte(`{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
		"num_attention_heads": 2, "vocab_size": 4, "max_position_embeddings": 4, "rms_norm_eps": 1e-6, "rope_scaling": {"type": "dynamic"}}`))
	f.Add([]byte(`{"architectures": ["MistralForCausalLM"], "sliding_window": -1, "rope_theta": 1e999}`))
	f.Add([]byte(llama32Like))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		// An accepted config is within its bounds and writes back to one that parses the same.
		if c.HiddenSize > MaxHidden || c.NumHiddenLayers > MaxLayers || c.VocabSize > MaxVocab || c.Context() < 1 {
			t.Fatalf("accepted sizes out of bounds: %+v", c)
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseConfig(b); err != nil {
			t.Fatalf("written config does not parse: %v\n%s", err, b)
		}
		// A scaling read is valid, and written back (RoPEScaling.JSON) reads the same.
		s, err := c.Scaling()
		if err != nil {
			t.Fatalf("accepted config's rope_scaling: %v", err)
		}
		if s != nil {
			again, err := (&Config{RoPEScaling: s.JSON()}).Scaling()
			if err != nil || again == nil || *again != *s {
				t.Fatalf("rope_scaling %+v written as %s reads %+v (%v)", s, s.JSON(), again, err)
			}
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"metadata": {"total_size": 12}, "weight_map": {"a": "model-00001-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "../../etc/passwd.safetensors"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := ParseIndex(data)
		if err != nil {
			return
		}
		for _, s := range ix.Shards() {
			if strings.ContainsAny(s, `/\`) || !strings.HasSuffix(s, ".safetensors") {
				t.Fatalf("accepted shard %q", s)
			}
		}
	})
}
