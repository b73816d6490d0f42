package hf

import (
	"bytes"
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
		{`"rope_scaling": {"type": "linear", "factor": 2.0}`, `"linear"`},
		{`"rope_scaling": {"rope_type": "yarn", "factor": 4.0}`, `"yarn"`},
		{`"hidden_act": "gelu"`, "hidden_act"},
		{`"attention_bias": true`, "attention_bias"},
		{`"mlp_bias": true`, "mlp_bias"},
		{`"vocab_size": -5`, "vocab_size"},
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
