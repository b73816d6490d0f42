package whisper

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/internal/strictjson"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/formats/safetensors"
	"github.com/qzoo/qzoo/layers/conv"
	"github.com/qzoo/qzoo/layers/linear"
	"github.com/qzoo/qzoo/layers/norm"
)

// Config is an encoder's architecture, the whisper_* hyperparameters.
type Config struct {
	Mels, DModel, Layers, Heads, FFN, MaxPositions int
}

// params returns c as the whisper_* hyperparameters.
func (c Config) params() map[string]any {
	return map[string]any{ParamMels: c.Mels, ParamDModel: c.DModel, ParamLayers: c.Layers, ParamHeads: c.Heads,
		ParamFFN: c.FFN, ParamMaxPositions: c.MaxPositions}
}

// prefixes are where Hugging Face checkpoints keep the encoder: WhisperForConditionalGeneration,
// WhisperModel, a bare WhisperEncoder.
var prefixes = []string{"model.encoder.", "encoder.", ""}

// Tensor is one tensor of a Hugging Face Whisper encoder and where it goes in the store.
type Tensor struct {
	// HF is the name after the encoder's prefix ("layers.0.fc1.weight").
	HF string
	// Shape is the tensor's shape in the Hugging Face file (PyTorch's layouts).
	Shape []int
	// Scope and Var are the variable's scope path and name in the store.
	Scope []string
	Var   string
	// Conv marks a Conv1d weight [Cout, Cin, k], stored permuted to [k, Cin, Cout].
	Conv bool
}

// Tensors lists the tensors of an encoder of architecture c, in the order Hugging Face writes
// them.
func Tensors(c Config) []Tensor {
	d := c.DModel
	ln := func(hf string, scope ...string) []Tensor {
		return []Tensor{{HF: hf + ".weight", Shape: []int{d}, Scope: scope, Var: norm.VarLayerGain},
			{HF: hf + ".bias", Shape: []int{d}, Scope: scope, Var: norm.VarLayerBias}}
	}
	lin := func(hf string, out, in int, bias bool, scope ...string) []Tensor {
		t := []Tensor{{HF: hf + ".weight", Shape: []int{out, in}, Scope: scope, Var: linear.VarWeights}}
		if bias {
			t = append(t, Tensor{HF: hf + ".bias", Shape: []int{out}, Scope: scope, Var: linear.VarBiases})
		}
		return t
	}
	convolution := func(hf string, in int) []Tensor {
		return []Tensor{{HF: hf + ".weight", Shape: []int{d, in, 3}, Scope: []string{hf, "conv1d"}, Var: conv.VarWeights, Conv: true},
			{HF: hf + ".bias", Shape: []int{d}, Scope: []string{hf, "conv1d"}, Var: conv.VarBiases}}
	}
	out := append(convolution(scopeConv1, c.Mels), convolution(scopeConv2, d)...)
	out = append(out, Tensor{HF: scopePositions + ".weight", Shape: []int{c.MaxPositions, d}, Scope: []string{scopePositions}, Var: varPositions})
	for i := range c.Layers {
		hf, s := fmt.Sprintf("layers.%d.", i), []string{scopeLayers, fmt.Sprintf(layerScope, i)}
		at := func(names ...string) []string { return append(slices.Clone(s), names...) }
		out = append(out, lin(hf+"self_attn.k_proj", d, d, false, at("self_attn", "k_proj")...)...)
		out = append(out, lin(hf+"self_attn.v_proj", d, d, true, at("self_attn", "v_proj")...)...)
		out = append(out, lin(hf+"self_attn.q_proj", d, d, true, at("self_attn", "q_proj")...)...)
		out = append(out, lin(hf+"self_attn.out_proj", d, d, true, at("self_attn", "out_proj")...)...)
		out = append(out, ln(hf+"self_attn_layer_norm", at("self_attn_layer_norm")...)...)
		out = append(out, lin(hf+"fc1", c.FFN, d, true, at("fc1")...)...)
		out = append(out, lin(hf+"fc2", d, c.FFN, true, at("fc2")...)...)
		out = append(out, ln(hf+"final_layer_norm", at("final_layer_norm")...)...)
	}
	return append(out, ln(scopeFinalNorm, scopeFinalNorm)...)
}

// Pretrained is the model's Pretrained hook: it reads the Whisper encoder of the Hugging Face
// safetensors file at path (F32, F16 or BF16) into store's variables and sets the whisper_*
// hyperparameters to its architecture, read from the tensors' shapes: mels and D from
// conv1.weight, the position table from embed_positions.weight, the MLP width from fc1, the
// layers by counting them. Heads are not in any shape: they come from a Hugging Face
// config.json beside the file (encoder_attention_heads), else from whisper_heads when the
// config sets it, else D/64 (every released Whisper has 64-dimensional heads). A config.json's
// sizes must agree with the tensors, and so must every whisper_* key a config sets to other
// than its default; a missing tensor or one of another shape is refused by name.
func Pretrained(store *model.Store, path string, params map[string]any) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("whisper: %w", err)
	}
	defer f.Close()
	c, prefix, err := shapeConfig(f)
	if err != nil {
		return fmt.Errorf("whisper: %s: %w", path, err)
	}
	if err := resolveHeads(&c, path, params); err != nil {
		return fmt.Errorf("whisper: %s: %w", path, err)
	}
	for key, got := range c.params() {
		p, _ := Params.Lookup(key)
		if v, ok := params[key].(int); ok && v != p.Default.(int) && v != got.(int) {
			return fmt.Errorf("whisper: %s: key %q is %d but the file's encoder has %d", path, key, v, got)
		}
	}
	for _, t := range Tensors(c) {
		name := prefix + t.HF
		info, ok := f.Info(name)
		if !ok {
			return fmt.Errorf("whisper: %s: no tensor %q (a Whisper encoder of %+v needs it)", path, name, c)
		}
		if !slices.Equal(info.Shape, t.Shape) {
			return fmt.Errorf("whisper: %s: tensor %q has shape %v, want %v for an encoder of %+v", path, name, info.Shape, t.Shape, c)
		}
		values, err := f.Float32(name)
		if err != nil {
			return fmt.Errorf("whisper: %w", err)
		}
		dims := t.Shape
		if t.Conv {
			values, dims = permuteConv(values, t.Shape)
		}
		s := store.RootScope()
		for _, part := range t.Scope {
			s = s.In("%s", part)
		}
		v, err := s.CreateVariable(t.Var, tensors.FromFlatDataAndDimensions(values, dims...))
		if err != nil {
			return fmt.Errorf("whisper: %s: tensor %q: %w", path, name, err)
		}
		if t.Var == varPositions && t.Scope[0] == scopePositions {
			v.SetTrainable(false) // a fixed table in Whisper, never trained
		}
	}
	store.SetParams(c.params())
	return nil
}

// permuteConv turns PyTorch's Conv1d weight [Cout, Cin, k] into layers/conv's [k, Cin, Cout].
func permuteConv(w []float32, shape []int) ([]float32, []int) {
	cout, cin, k := shape[0], shape[1], shape[2]
	out := make([]float32, len(w))
	for o := range cout {
		for i := range cin {
			for j := range k {
				out[(j*cin+i)*cout+o] = w[(o*cin+i)*k+j]
			}
		}
	}
	return out, []int{k, cin, cout}
}

// shapeConfig finds the encoder's prefix in f and reads its architecture from the tensors'
// shapes (all but Heads).
func shapeConfig(f *safetensors.File) (Config, string, error) {
	prefix, found := "", false
	for _, p := range prefixes {
		if _, ok := f.Info(p + "conv1.weight"); ok {
			prefix, found = p, true
			break
		}
	}
	if !found {
		return Config{}, "", fmt.Errorf("no Whisper encoder: no tensor model.encoder.conv1.weight, encoder.conv1.weight or conv1.weight among %d tensors", len(f.Names()))
	}
	shape := func(name string, rank int) ([]int, error) {
		info, ok := f.Info(prefix + name)
		if !ok {
			return nil, fmt.Errorf("no tensor %q", prefix+name)
		}
		if len(info.Shape) != rank {
			return nil, fmt.Errorf("tensor %q has shape %v, want rank %d", prefix+name, info.Shape, rank)
		}
		return info.Shape, nil
	}
	conv1, err := shape("conv1.weight", 3)
	if err != nil {
		return Config{}, "", err
	}
	pos, err := shape("embed_positions.weight", 2)
	if err != nil {
		return Config{}, "", err
	}
	fc1, err := shape("layers.0.fc1.weight", 2)
	if err != nil {
		return Config{}, "", err
	}
	layers := 0
	for _, name := range f.Names() {
		rest, ok := strings.CutPrefix(name, prefix+"layers.")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '.'), 0)])
		if err != nil {
			return Config{}, "", fmt.Errorf("tensor %q: no layer number after %q", name, prefix+"layers.")
		}
		layers = max(layers, n+1)
	}
	return Config{Mels: conv1[1], DModel: conv1[0], Layers: layers, FFN: fc1[0], MaxPositions: pos[0]}, prefix, nil
}

// hfConfig holds the encoder's fields of a Hugging Face WhisperConfig (config.json).
type hfConfig struct {
	ModelType    string `json:"model_type"`
	DModel       int    `json:"d_model"`
	Layers       int    `json:"encoder_layers"`
	Heads        int    `json:"encoder_attention_heads"`
	FFN          int    `json:"encoder_ffn_dim"`
	Mels         int    `json:"num_mel_bins"`
	MaxPositions int    `json:"max_source_positions"`
}

// maxConfigLen bounds the config.json read beside a checkpoint (Hugging Face's are a few kB).
const maxConfigLen = 1 << 20

// resolveHeads sets c.Heads (see [Pretrained]) and checks a config.json beside path against c.
func resolveHeads(c *Config, path string, params map[string]any) error {
	cfgPath := filepath.Join(filepath.Dir(path), "config.json")
	st, err := os.Stat(cfgPath)
	switch {
	case err == nil && st.Size() > maxConfigLen:
		return fmt.Errorf("%s is %d bytes, over the %d a Whisper config.json needs", cfgPath, st.Size(), maxConfigLen)
	case err == nil:
		data, err := os.ReadFile(cfgPath)
		if err != nil {
			return err
		}
		var hf hfConfig
		if err := json.Unmarshal(data, &hf); err != nil {
			return fmt.Errorf("%s: %w", cfgPath, strictjson.Describe(data, err))
		}
		if hf.ModelType != "whisper" {
			return fmt.Errorf("%s describes a %q model, not a whisper", cfgPath, hf.ModelType)
		}
		for _, kv := range []struct {
			key       string
			got, want int
		}{{"d_model", hf.DModel, c.DModel}, {"encoder_layers", hf.Layers, c.Layers}, {"encoder_ffn_dim", hf.FFN, c.FFN},
			{"num_mel_bins", hf.Mels, c.Mels}, {"max_source_positions", hf.MaxPositions, c.MaxPositions}} {
			if kv.got != kv.want {
				return fmt.Errorf("%s has %s %d, the tensors %d", cfgPath, kv.key, kv.got, kv.want)
			}
		}
		c.Heads = hf.Heads
	case !errors.Is(err, fs.ErrNotExist):
		return err
	default:
		p, _ := Params.Lookup(ParamHeads)
		if h, ok := params[ParamHeads].(int); ok && h != p.Default.(int) {
			c.Heads = h
		} else {
			c.Heads = c.DModel / 64
		}
	}
	if c.Heads < 1 || c.DModel%c.Heads != 0 {
		return fmt.Errorf("%d heads do not divide d_model %d: give Hugging Face's config.json beside the file, or set %s", c.Heads, c.DModel, ParamHeads)
	}
	return nil
}
