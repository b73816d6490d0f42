package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/internal/strictjson"
)

// The architectures a config.json may name: the Llama family, whose decoder is the same
// stack (RMSNorm, RoPE, grouped-query attention, SwiGLU) up to the fields [Config] reads.
// SmolLM and SmolLM2 are LlamaForCausalLM.
const (
	ArchLlama   = "LlamaForCausalLM"
	ArchMistral = "MistralForCausalLM"
	ArchQwen2   = "Qwen2ForCausalLM"
)

// Architectures lists the supported architectures.
var Architectures = []string{ArchLlama, ArchMistral, ArchQwen2}

// Bounds on a config's sizes, checked before a model of them is allocated: far above the
// largest Llama-family model (hidden 16384, 126 layers, vocabulary 256000), far below what
// would overflow.
const (
	MaxHidden     = 1 << 16
	MaxLayers     = 1 << 10
	MaxVocab      = 1 << 20
	MaxPositions  = 1 << 24
	maxConfigSize = 1 << 20 // bytes of config.json
)

// Config is what a model's config.json says about a Llama-family decoder: the fields below,
// with transformers' names; other keys (token ids, initializer_range, transformers_version,
// ...) are kept as they came in [Config.Extra] and written back. Pointers mark fields whose
// absence means something (NumKeyValueHeads: as many as query heads; RoPETheta: 10000;
// TieWordEmbeddings: false, the default of LlamaConfig, MistralConfig and Qwen2Config).
type Config struct {
	Architectures         []string `json:"architectures"`
	ModelType             string   `json:"model_type,omitempty"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      *int     `json:"num_key_value_heads,omitempty"`
	HeadDim               *int     `json:"head_dim,omitempty"`
	VocabSize             int      `json:"vocab_size"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	RMSNormEps            float64  `json:"rms_norm_eps"`
	RoPETheta             *float64 `json:"rope_theta,omitempty"`
	// RoPEScaling is the raw rope_scaling object, read by [Config.Scaling]: null (or absent,
	// or rope_type "default"), "llama3" (Llama 3.1, 3.2) and "linear" are supported; another
	// scaled RoPE ("dynamic", "yarn", "longrope", ...) is refused by its type.
	RoPEScaling       json.RawMessage `json:"rope_scaling,omitempty"`
	TieWordEmbeddings *bool           `json:"tie_word_embeddings,omitempty"`
	HiddenAct         string          `json:"hidden_act,omitempty"`
	// AttentionBias (Llama) adds biases to q, k, v and o; refused, as the model has none on o.
	AttentionBias *bool `json:"attention_bias,omitempty"`
	// MLPBias (Llama) adds biases to the feed-forward; refused.
	MLPBias *bool `json:"mlp_bias,omitempty"`
	// SlidingWindow (Mistral, Qwen2) bounds attention to that many positions back; the context
	// is cut to it ([Config.Context]), where full attention computes the same.
	SlidingWindow    *int   `json:"sliding_window,omitempty"`
	UseSlidingWindow *bool  `json:"use_sliding_window,omitempty"`
	TorchDType       string `json:"torch_dtype,omitempty"`
	// Extra holds the keys not named above, as they came.
	Extra map[string]json.RawMessage `json:"-"`
}

// ParseConfig decodes and checks a config.json (the error does not name the file: [ReadConfig]
// and [Open] add it). It refuses, naming the key: an architecture not in [Architectures] (or
// more than one), a size out of its bound, heads that do not divide the width or each other,
// an explicit head_dim other than hidden_size / num_attention_heads, an odd head size, a
// non-positive rms_norm_eps or rope_theta, a rope_scaling other than null, "llama3" or
// "linear" (or one of those with a value missing or out of its domain, see [Config.Scaling]),
// hidden_act other than "silu", attention_bias or mlp_bias on a Llama.
func ParseConfig(b []byte) (*Config, error) {
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%d bytes is over the limit of %d", len(b), maxConfigSize)
	}
	c := &Config{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, strictjson.Describe(b, err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, strictjson.Describe(b, err)
	}
	known := knownKeys()
	for k, v := range all {
		if !slices.Contains(known, k) {
			if c.Extra == nil {
				c.Extra = map[string]json.RawMessage{}
			}
			c.Extra[k] = v
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// knownKeys are the JSON names of Config's fields.
func knownKeys() []string {
	return []string{"architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
		"num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings",
		"rms_norm_eps", "rope_theta", "rope_scaling", "tie_word_embeddings", "hidden_act", "attention_bias",
		"mlp_bias", "sliding_window", "use_sliding_window", "torch_dtype"}
}

// Architecture is the one architecture the config names.
func (c *Config) Architecture() string {
	if len(c.Architectures) != 1 {
		return ""
	}
	return c.Architectures[0]
}

// KVHeads is num_key_value_heads, or num_attention_heads when absent.
func (c *Config) KVHeads() int {
	if c.NumKeyValueHeads == nil {
		return c.NumAttentionHeads
	}
	return *c.NumKeyValueHeads
}

// Theta is rope_theta, or 10000 when absent.
func (c *Config) Theta() float64 {
	if c.RoPETheta == nil {
		return 10000
	}
	return *c.RoPETheta
}

// Tied says the classifier is the token embedding (tie_word_embeddings; false when absent).
func (c *Config) Tied() bool { return c.TieWordEmbeddings != nil && *c.TieWordEmbeddings }

// QKVBias says the query, key and value projections have biases: always in Qwen2.
func (c *Config) QKVBias() bool { return c.Architecture() == ArchQwen2 }

// Context is the number of positions the model attends over: max_position_embeddings, cut
// to sliding_window where a window applies (Mistral; Qwen2 with use_sliding_window), since
// within the window full attention computes the same.
func (c *Config) Context() int {
	n := c.MaxPositionEmbeddings
	window := c.SlidingWindow != nil && *c.SlidingWindow > 0
	if c.Architecture() == ArchQwen2 {
		window = window && c.UseSlidingWindow != nil && *c.UseSlidingWindow
	}
	if window && *c.SlidingWindow < n {
		n = *c.SlidingWindow
	}
	return n
}

// Validate checks the config (see [ParseConfig]); errors name the key.
func (c *Config) Validate() error {
	arch := c.Architecture()
	if !slices.Contains(Architectures, arch) {
		return fmt.Errorf("key \"architectures\" is %q: supported are %s (one of them)",
			c.Architectures, strings.Join(Architectures, ", "))
	}
	for _, s := range []struct {
		key   string
		v, hi int
	}{{"hidden_size", c.HiddenSize, MaxHidden}, {"intermediate_size", c.IntermediateSize, 8 * MaxHidden},
		{"num_hidden_layers", c.NumHiddenLayers, MaxLayers}, {"num_attention_heads", c.NumAttentionHeads, MaxHidden},
		{"num_key_value_heads", c.KVHeads(), MaxHidden}, {"vocab_size", c.VocabSize, MaxVocab},
		{"max_position_embeddings", c.MaxPositionEmbeddings, MaxPositions}} {
		if s.v < 1 || s.v > s.hi {
			return fmt.Errorf("key %q is %d, out of [1, %d]", s.key, s.v, s.hi)
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("key \"num_attention_heads\" (%d) does not divide \"hidden_size\" (%d)", c.NumAttentionHeads, c.HiddenSize)
	}
	headDim := c.HiddenSize / c.NumAttentionHeads
	if c.HeadDim != nil && *c.HeadDim != headDim {
		return fmt.Errorf("key \"head_dim\" is %d: only hidden_size / num_attention_heads = %d is supported", *c.HeadDim, headDim)
	}
	if headDim%2 != 0 {
		return fmt.Errorf("head size %d (hidden_size / num_attention_heads) is odd: RoPE rotates pairs", headDim)
	}
	if c.NumAttentionHeads%c.KVHeads() != 0 {
		return fmt.Errorf("key \"num_key_value_heads\" (%d) does not divide \"num_attention_heads\" (%d)", c.KVHeads(), c.NumAttentionHeads)
	}
	if !(c.RMSNormEps > 0) || math.IsInf(c.RMSNormEps, 0) {
		return fmt.Errorf("key \"rms_norm_eps\" is %g, not a positive number", c.RMSNormEps)
	}
	if t := c.Theta(); !(t > 0) || math.IsInf(t, 0) {
		return fmt.Errorf("key \"rope_theta\" is %g, not a positive number", t)
	}
	if _, err := c.Scaling(); err != nil {
		return err
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return fmt.Errorf("key \"hidden_act\" is %q: only \"silu\" (SwiGLU) is supported", c.HiddenAct)
	}
	if c.AttentionBias != nil && *c.AttentionBias {
		return fmt.Errorf("key \"attention_bias\" is true: biases on the attention's output projection are not supported")
	}
	if c.MLPBias != nil && *c.MLPBias {
		return fmt.Errorf("key \"mlp_bias\" is true: feed-forward biases are not supported")
	}
	for _, key := range []string{"bos_token_id", "eos_token_id"} { // the ids qzoo uses
		if _, err := c.tokenIDs(key); err != nil {
			return err
		}
	}
	return nil
}

// The rope_scaling types supported (transformers' rope_type).
const (
	RoPEScalingLlama3 = "llama3"
	RoPEScalingLinear = "linear"
)

// RoPEScaling is a rope_scaling object of a supported type: RoPE's rates θ_i rescaled for a
// context longer than the one they were trained for (models/llama and layers/position apply
// it).
type RoPEScaling struct {
	// Type is rope_type (or the older key "type"): [RoPEScalingLlama3] or [RoPEScalingLinear].
	Type string
	// Factor is factor, ≥ 1: linear divides every rate by it, llama3 the slow ones.
	Factor float64
	// LowFreqFactor and HighFreqFactor (llama3: low_freq_factor and high_freq_factor,
	// 0 < low < high) bound the band of wavelengths that llama3 blends, in units of the
	// original context.
	LowFreqFactor, HighFreqFactor float64
	// OriginalMaxPositionEmbeddings (llama3: original_max_position_embeddings, an integer in
	// [1, MaxPositions]) is the context the rates were pretrained for.
	OriginalMaxPositionEmbeddings int
}

// Scaling reads rope_scaling: nil for null, absent or rope_type "default"; a [RoPEScaling]
// for "llama3" (which needs factor, low_freq_factor, high_freq_factor and
// original_max_position_embeddings) and "linear" (factor). Other keys of the object are
// ignored, as transformers does. Errors name the key "rope_scaling" and the type, or the
// value that is missing or out of its domain.
func (c *Config) Scaling() (*RoPEScaling, error) {
	s := bytes.TrimSpace(c.RoPEScaling)
	if len(s) == 0 || bytes.Equal(s, []byte("null")) {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(s, &obj)
	str := func(key string) string {
		var v string
		_ = json.Unmarshal(obj[key], &v)
		return v
	}
	kind := cmpOr(str("rope_type"), str("type"), string(s))
	switch kind {
	case "default":
		return nil, nil
	case RoPEScalingLlama3, RoPEScalingLinear:
	default:
		return nil, fmt.Errorf("key \"rope_scaling\": scaled RoPE %q is not supported (only null, %q and %q)",
			kind, RoPEScalingLlama3, RoPEScalingLinear)
	}
	var err error
	number := func(key string) float64 {
		raw, ok := obj[key]
		if err != nil {
			return 0
		}
		var v float64
		if !ok {
			err = fmt.Errorf("key \"rope_scaling\": %s scaling needs %q", kind, key)
		} else if json.Unmarshal(raw, &v) != nil {
			err = fmt.Errorf("key \"rope_scaling\": %q is %s, not a number", key, raw)
		}
		return v
	}
	r := &RoPEScaling{Type: kind, Factor: number("factor")}
	if err == nil && !(r.Factor >= 1) {
		err = fmt.Errorf("key \"rope_scaling\": %q is %g, not a number ≥ 1", "factor", r.Factor)
	}
	if kind == RoPEScalingLinear {
		return r, err
	}
	r.LowFreqFactor, r.HighFreqFactor = number("low_freq_factor"), number("high_freq_factor")
	orig := number("original_max_position_embeddings")
	switch {
	case err != nil:
	case !(r.LowFreqFactor > 0):
		err = fmt.Errorf("key \"rope_scaling\": %q is %g, not a positive number", "low_freq_factor", r.LowFreqFactor)
	case !(r.HighFreqFactor > r.LowFreqFactor):
		err = fmt.Errorf("key \"rope_scaling\": %q (%g) is not above %q (%g)", "high_freq_factor", r.HighFreqFactor,
			"low_freq_factor", r.LowFreqFactor)
	case orig != math.Trunc(orig) || orig < 1 || orig > MaxPositions:
		err = fmt.Errorf("key \"rope_scaling\": %q is %g, not an integer in [1, %d]", "original_max_position_embeddings", orig, MaxPositions)
	}
	if err != nil {
		return nil, err
	}
	r.OriginalMaxPositionEmbeddings = int(orig)
	return r, nil
}

// JSON is s as the rope_scaling object transformers writes: rope_type and the keys of its
// type, in sorted order, the float values with a decimal point (factor 32 as 32.0).
func (s RoPEScaling) JSON() json.RawMessage {
	float := func(x float64) string {
		t := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(t, ".eEIN") {
			t += ".0"
		}
		return t
	}
	kind, _ := json.Marshal(s.Type)
	if s.Type == RoPEScalingLinear {
		return json.RawMessage(fmt.Sprintf(`{"factor": %s, "rope_type": %s}`, float(s.Factor), kind))
	}
	return json.RawMessage(fmt.Sprintf(`{"factor": %s, "high_freq_factor": %s, "low_freq_factor": %s, "original_max_position_embeddings": %d, "rope_type": %s}`,
		float(s.Factor), float(s.HighFreqFactor), float(s.LowFreqFactor), s.OriginalMaxPositionEmbeddings, kind))
}

func cmpOr(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Marshal encodes the config as config.json: the fields of Config, then [Config.Extra]'s
// keys, indented.
func (c *Config) Marshal() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, v := range c.Extra {
		if _, ok := all[k]; !ok {
			all[k] = v
		}
	}
	out, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// TokenIDs reads a token-id key that transformers writes as a number or a list of numbers
// (bos_token_id, eos_token_id) from the config's other keys; nil when absent or null.
// [Config.Validate] refuses any other value, or an id outside [0, vocab_size), naming the key.
func (c *Config) TokenIDs(key string) []int {
	ids, _ := c.tokenIDs(key)
	return ids
}

// tokenIDs is TokenIDs with its error: a value that is not null, an integer or a list of
// integers, or an id outside the vocabulary.
func (c *Config) tokenIDs(key string) ([]int, error) {
	raw, ok := c.Extra[key]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var ids []int
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		ids = []int{one}
	} else if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, fmt.Errorf("key %q is %s: want a token id or a list of them", key, raw)
	}
	for _, id := range ids {
		if id < 0 || id >= c.VocabSize {
			return nil, fmt.Errorf("key %q holds %d, outside the vocabulary [0, %d)", key, id, c.VocabSize)
		}
	}
	return ids, nil
}
