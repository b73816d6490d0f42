package llama

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/formats/hf"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/formats/safetensors"
	"github.com/qzoo/qzoo/internal/atomicfile"
	"github.com/qzoo/qzoo/layers/position"
	"github.com/qzoo/qzoo/quant"
)

// A Hugging Face model directory (package formats/hf) as this model's weights.
//
// Tensor names: model.embed_tokens.weight ↔ Embedding, model.norm.weight ↔ NormFinal,
// lm_head.weight ↔ Classifier (absent when tie_word_embeddings), and for block N under
// model.layers.N.: input_layernorm.weight ↔ AttnNorm, post_attention_layernorm.weight ↔
// FFNNorm, self_attn.{q,k,v,o}_proj.weight ↔ WQ, WK, WV, WO, self_attn.{q,k,v}_proj.bias ↔
// BQ, BK, BV (Qwen2), mlp.gate_proj.weight ↔ W1, mlp.up_proj.weight ↔ W3,
// mlp.down_proj.weight ↔ W2. All are PyTorch [out, in], as here.
//
// RoPE layout: transformers' Llama rotates the pairs (i, i + h/2) of a head (rotate_half),
// this model the adjacent pairs (2i, 2i+1) (llama2.c's). The two compute the same when the
// rows of the query and key projections (and their biases) are permuted within each head:
// row j·h/2 + i of a Hugging Face head (j ∈ {0, 1}, i < h/2) is row 2i + j here. Meta's
// checkpoints were interleaved too; transformers' converter, and llama2.c's export.py, apply
// this permutation ("permute") on the way to Hugging Face. [ReadHF] undoes it, [WriteHF] does it.

// hfName is the Hugging Face name of block i's tensor for the llama2.c name (a [LinearNames]
// entry or llama2c.RMSAtt / RMSFFN), with suffix "weight" or "bias".
func hfName(i int, name, suffix string) string {
	part := map[string]string{
		llama2c.RMSAtt: "input_layernorm", llama2c.RMSFFN: "post_attention_layernorm",
		"wq": "self_attn.q_proj", "wk": "self_attn.k_proj", "wv": "self_attn.v_proj", "wo": "self_attn.o_proj",
		"w1": "mlp.gate_proj", "w2": "mlp.down_proj", "w3": "mlp.up_proj",
	}[name]
	return fmt.Sprintf("model.layers.%d.%s.%s", i, part, suffix)
}

// Names of the tensors outside the blocks.
const (
	hfEmbedding  = "model.embed_tokens.weight"
	hfNormFinal  = "model.norm.weight"
	hfClassifier = "lm_head.weight"
)

// ConfigFromHF is the architecture a Hugging Face config states: the context is
// [hf.Config.Context] cut to llama2c.MaxSeqLen (65536), the longest context this model takes;
// RoPE's scaling is rope_scaling's ([hf.Config.Scaling]; none where the config has an
// invalid one, which [hf.Config.Validate] refuses).
func ConfigFromHF(c *hf.Config) Config {
	var scaling position.RoPEScaling
	if s, err := c.Scaling(); err == nil && s != nil {
		scaling = position.RoPEScaling{Type: s.Type, Factor: s.Factor}
		if s.Type == hf.RoPEScalingLlama3 {
			scaling.LowFreqFactor, scaling.HighFreqFactor = s.LowFreqFactor, s.HighFreqFactor
			scaling.OriginalMaxPositions = s.OriginalMaxPositionEmbeddings
		}
	}
	return Config{Dim: c.HiddenSize, HiddenDim: c.IntermediateSize, Layers: c.NumHiddenLayers, Heads: c.NumAttentionHeads,
		KVHeads: c.KVHeads(), VocabSize: c.VocabSize, SeqLen: min(c.Context(), llama2c.MaxSeqLen), Shared: c.Tied(),
		RoPETheta: c.Theta(), RoPEScaling: scaling, NormEps: c.RMSNormEps, AttnBias: c.QKVBias()}
}

// HFConfig is the config.json of architecture c: Qwen2ForCausalLM when it has biases, else
// LlamaForCausalLM (which Mistral's and SmolLM's weights are too), with torch_dtype dtype;
// a RoPE scaling is written as the rope_scaling object a config.json of its type has
// ([hf.RoPEScaling.JSON]), no scaling as no rope_scaling key.
func HFConfig(c Config, dtype safetensors.DType) *hf.Config {
	arch, modelType := hf.ArchLlama, "llama"
	if c.AttnBias {
		arch, modelType = hf.ArchQwen2, "qwen2"
	}
	kv, theta, tied := c.KVHeads, c.RoPETheta, c.Shared
	torch := map[safetensors.DType]string{safetensors.F32: "float32", safetensors.F16: "float16", safetensors.BF16: "bfloat16"}[dtype]
	cfg := &hf.Config{Architectures: []string{arch}, ModelType: modelType, HiddenSize: c.Dim, IntermediateSize: c.HiddenDim,
		NumHiddenLayers: c.Layers, NumAttentionHeads: c.Heads, NumKeyValueHeads: &kv, VocabSize: c.VocabSize,
		MaxPositionEmbeddings: c.SeqLen, RMSNormEps: c.NormEps, RoPETheta: &theta, TieWordEmbeddings: &tied,
		HiddenAct: "silu", TorchDType: torch}
	if s := c.RoPEScaling; s.Type != "" {
		cfg.RoPEScaling = hf.RoPEScaling{Type: s.Type, Factor: s.Factor, LowFreqFactor: s.LowFreqFactor,
			HighFreqFactor: s.HighFreqFactor, OriginalMaxPositionEmbeddings: s.OriginalMaxPositions}.JSON()
	}
	return cfg
}

// ReadHF reads the Llama of a Hugging Face model directory ([hf.Open]: config.json and
// model.safetensors or its shards), tensor by tensor, converted to float32 and the query and
// key rows permuted to this model's RoPE layout; a directory that [Weights.WriteHFQuantized]
// wrote is dequantized (other quantization_configs, such as GPTQ's, are refused by name). Errors name the file and the tensor: a
// missing tensor, a tensor of the wrong shape, an architecture the config does not support.
// Tensors the model does not use (e.g. rotary_emb.inv_freq) are ignored.
func ReadHF(dir string) (*Weights, error) {
	d, err := hf.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	c := ConfigFromHF(d.Config)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("llama: %s: %w", dir, err)
	}
	qc, err := hfQuantization(d.Config)
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", filepath.Join(dir, hf.ConfigFile), err)
	}
	var levels []float64
	if qc != nil && qc.Method == quant.MethodNF4 {
		b, err := rawOf(d, hfNF4Levels, safetensors.F64, 8*16)
		if err != nil {
			return nil, err
		}
		for i := range 16 {
			levels = append(levels, math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	}
	w := &Weights{Config: c, Blocks: make([]Layer, c.Layers)}
	read := func(dst *[]float32, name string, dims ...int) {
		if err != nil {
			return
		}
		if base, ok := strings.CutSuffix(name, ".weight"); ok && qc != nil && len(dims) == 2 && base != "lm_head" && base != "model.embed_tokens" {
			*dst, err = dequantizeHF(d, qc, levels, base, dims[0], dims[1])
		} else {
			*dst, err = d.Float32(name, dims...)
		}
		if err == nil {
			// A weight that is not a finite number makes every output NaN: refused here, by
			// name, rather than found as a generation of nonsense.
			for i, x := range *dst {
				if x-x != 0 {
					err = fmt.Errorf("llama: %s: tensor %s holds %v at index %d", dir, name, x, i)
					return
				}
			}
		}
	}
	read(&w.Embedding, hfEmbedding, c.VocabSize, c.Dim)
	read(&w.NormFinal, hfNormFinal, c.Dim)
	if !c.Shared {
		read(&w.Classifier, hfClassifier, c.VocabSize, c.Dim)
	}
	hd := c.HeadDim()
	for i := range w.Blocks {
		l := &w.Blocks[i]
		read(&l.AttnNorm, hfName(i, llama2c.RMSAtt, "weight"), c.Dim)
		read(&l.FFNNorm, hfName(i, llama2c.RMSFFN, "weight"), c.Dim)
		for _, name := range LinearNames {
			o, in := c.LinearShape(name)
			read(l.Linear(name), hfName(i, name, "weight"), o, in)
		}
		if c.AttnBias {
			read(&l.BQ, hfName(i, "wq", "bias"), c.Dim)
			read(&l.BK, hfName(i, "wk", "bias"), c.KVDim())
			read(&l.BV, hfName(i, "wv", "bias"), c.KVDim())
		}
		if err != nil {
			return nil, err
		}
		l.WQ = interleavedFromHalf(l.WQ, hd, c.Dim)
		l.WK = interleavedFromHalf(l.WK, hd, c.Dim)
		if c.AttnBias {
			l.BQ = interleavedFromHalf(l.BQ, hd, 1)
			l.BK = interleavedFromHalf(l.BK, hd, 1)
		}
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// interleavedFromHalf permutes the rows (of cols values each) of a projection whose heads of
// size hd pair row i with row i + hd/2 (rotate_half) so that they pair rows 2i and 2i+1.
func interleavedFromHalf(w []float32, hd, cols int) []float32 {
	out := make([]float32, len(w))
	half := hd / 2
	for h := 0; h < len(w)/(hd*cols); h++ {
		for j := range 2 {
			for i := range half {
				src := (h*hd + j*half + i) * cols
				dst := (h*hd + 2*i + j) * cols
				copy(out[dst:dst+cols], w[src:src+cols])
			}
		}
	}
	return out
}

// halfFromInterleaved is the inverse of [interleavedFromHalf].
func halfFromInterleaved(w []float32, hd, cols int) []float32 {
	out := make([]float32, len(w))
	half := hd / 2
	for h := 0; h < len(w)/(hd*cols); h++ {
		for j := range 2 {
			for i := range half {
				src := (h*hd + 2*i + j) * cols
				dst := (h*hd + j*half + i) * cols
				copy(out[dst:dst+cols], w[src:src+cols])
			}
		}
	}
	return out
}

// HFTensors returns w's tensors under their Hugging Face names, in dtype (F32, F16 or BF16),
// the query and key rows permuted to rotate_half's layout: embedding, blocks in order, final
// norm, classifier (when not tied).
func (w *Weights) HFTensors(dtype safetensors.DType) ([]safetensors.Tensor, error) {
	c := w.Config
	var out []safetensors.Tensor
	var err error
	add := func(name string, values []float32, dims ...int) {
		if err != nil {
			return
		}
		var t safetensors.Tensor
		if t, err = safetensors.FromFloat32(name, dtype, dims, values); err == nil {
			out = append(out, t)
		}
	}
	hd := c.HeadDim()
	add(hfEmbedding, w.Embedding, c.VocabSize, c.Dim)
	for i := range w.Blocks {
		l := &w.Blocks[i]
		add(hfName(i, llama2c.RMSAtt, "weight"), l.AttnNorm, c.Dim)
		for _, name := range LinearNames {
			o, in := c.LinearShape(name)
			v := *l.Linear(name)
			if name == "wq" || name == "wk" {
				v = halfFromInterleaved(v, hd, in)
			}
			add(hfName(i, name, "weight"), v, o, in)
		}
		if c.AttnBias {
			add(hfName(i, "wq", "bias"), halfFromInterleaved(l.BQ, hd, 1), c.Dim)
			add(hfName(i, "wk", "bias"), halfFromInterleaved(l.BK, hd, 1), c.KVDim())
			add(hfName(i, "wv", "bias"), l.BV, c.KVDim())
		}
		add(hfName(i, llama2c.RMSFFN, "weight"), l.FFNNorm, c.Dim)
	}
	add(hfNormFinal, w.NormFinal, c.Dim)
	if !c.Shared {
		add(hfClassifier, w.Classifier, c.VocabSize, c.Dim)
	}
	return out, err
}

// HFOptions says how [Weights.WriteHF] writes a model directory.
type HFOptions struct {
	// DType of the tensors: F32 (the zero value means F32), F16 or BF16.
	DType safetensors.DType
	// TokenizerFrom, if set, is a model directory whose tokenizer files ([hf.TokenizerFiles])
	// are copied along.
	TokenizerFrom string
	// Llama2CTokenizer, if set (and TokenizerFrom is not), is written as tokenizer.json
	// ([hf.SentencePieceJSON]), with <unk>, <s> and </s> (ids 0, 1, 2) as control tokens.
	Llama2CTokenizer *llama2c.Tokenizer
	// Source, if set, is the config of the Hugging Face model w came from: its keys that
	// [hf.Config] does not read (token ids, chat settings, ...) are written back. Unset, the
	// token ids are llama2.c's: bos_token_id 1 and eos_token_id [2, 1] (llama2.c ends a story
	// at BOS).
	Source *hf.Config
}

// hfConfigFor is the config.json WriteHF writes: [HFConfig] with opt's token ids.
func hfConfigFor(c Config, opt HFOptions) *hf.Config {
	cfg := HFConfig(c, opt.DType)
	cfg.Extra = map[string]json.RawMessage{}
	if opt.Source != nil {
		for k, v := range opt.Source.Extra {
			if k != "quantization_config" {
				cfg.Extra[k] = v
			}
		}
		return cfg
	}
	cfg.Extra["bos_token_id"] = json.RawMessage(strconv.Itoa(llama2c.BOS))
	cfg.Extra["eos_token_id"] = json.RawMessage(fmt.Sprintf("[%d, %d]", llama2c.EOS, llama2c.BOS))
	return cfg
}

// WriteHF writes w as a Hugging Face model directory that transformers' LlamaForCausalLM (or
// Qwen2ForCausalLM, with biases) loads: config.json and one model.safetensors, atomically
// each, the tokenizer files copied when opt names a source.
func (w *Weights) WriteHF(dir string, opt HFOptions) error {
	if opt.DType == "" {
		opt.DType = safetensors.F32
	}
	if err := w.Config.Validate(); err != nil {
		return fmt.Errorf("llama: write %s: %w", dir, err)
	}
	tensors, err := w.HFTensors(opt.DType)
	if err != nil {
		return fmt.Errorf("llama: write %s: %w", dir, err)
	}
	if err := hf.Write(dir, hfConfigFor(w.Config, opt), tensors, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return writeHFTokenizer(dir, opt)
}

// writeHFTokenizer copies or writes the tokenizer opt names into dir.
func writeHFTokenizer(dir string, opt HFOptions) error {
	if opt.TokenizerFrom != "" {
		_, err := hf.CopyTokenizer(opt.TokenizerFrom, dir)
		return err
	}
	if t := opt.Llama2CTokenizer; t != nil {
		pieces := make([]string, len(t.Pieces))
		for i, p := range t.Pieces {
			pieces[i] = string(p)
		}
		special := []int{0, llama2c.BOS, llama2c.EOS}
		for _, id := range special {
			// llama2.c's export writes <s> and </s> as "\n<s>\n" and "\n</s>\n".
			pieces[id] = strings.TrimSpace(pieces[id])
		}
		b, err := hf.SentencePieceJSON(pieces, t.Scores, special)
		if err != nil {
			return fmt.Errorf("llama: write %s: %w", dir, err)
		}
		path := filepath.Join(dir, hf.TokenizerFile)
		if err := atomicfile.WriteFile(path, b); err != nil {
			return fmt.Errorf("llama: write %s: %w", path, err)
		}
	}
	return nil
}
