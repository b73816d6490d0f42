package llama_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/formats/hf"
	"github.com/qzoo/qzoo/formats/safetensors"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/kvcache"
	"github.com/qzoo/qzoo/layers/position"
	"github.com/qzoo/qzoo/models/llama"
	"github.com/qzoo/qzoo/models/llama/reference"
	"github.com/qzoo/qzoo/quant"
)

const python = "/usr/bin/python3" // Debian's, which python3-numpy installs into

func needNumpy(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import numpy").Run(); err != nil {
		t.Skipf("needs %s with numpy (scripts/install-deps.sh installs python3-numpy): %v", python, err)
	}
}

// numpyResult is what testdata/hf_forward.py computes from a model directory on its own.
type numpyResult struct {
	Logits  [][]float64 `json:"logits"`
	Tensors map[string]struct {
		Shape  []int  `json:"shape"`
		SHA256 string `json:"sha256"`
	} `json:"tensors"`
}

func numpyForward(t *testing.T, dir string, tokens []int) numpyResult {
	t.Helper()
	ids := make([]string, len(tokens))
	for i, v := range tokens {
		ids[i] = fmt.Sprint(v)
	}
	out := filepath.Join(t.TempDir(), "numpy.json")
	if b, err := exec.Command(python, "testdata/hf_forward.py", dir, strings.Join(ids, ","), out).CombinedOutput(); err != nil {
		t.Fatalf("hf_forward.py: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r numpyResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// numpyDiff is the largest |got − want| over positions, and the largest |want|.
func numpyDiff(got []float32, want [][]float64) (diff, scale float64) {
	v := len(want[0])
	for p, row := range want {
		for i, x := range row {
			diff = max(diff, math.Abs(float64(got[p*v+i])-x))
			scale = max(scale, math.Abs(x))
		}
	}
	return diff, scale
}

func float32SHA(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestHFExportMatchesLlama2c writes stories260K as a Hugging Face directory and checks:
// reading it back gives the same weights and the same logits as the llama2.c file; numpy
// (testdata/hf_forward.py, rotate_half RoPE, float64) reads every tensor as written and
// computes the same logits from the directory alone.
func TestHFExportMatchesLlama2c(t *testing.T) {
	w, tok := stories260K(t)
	dir := filepath.Join(t.TempDir(), "stories260K-hf")
	if err := w.WriteHF(dir, llama.HFOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := llama.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.HF == nil {
		t.Fatal("Open did not take the directory for a Hugging Face model")
	}
	back, err := m.Weights()
	if err != nil {
		t.Fatal(err)
	}
	if back.Config != w.Config {
		t.Fatalf("config %+v, want %+v", back.Config, w.Config)
	}
	for i := range w.Blocks {
		for _, name := range llama.LinearNames {
			if !slices.Equal(*back.Blocks[i].Linear(name), *w.Blocks[i].Linear(name)) {
				t.Fatalf("block %d %s differs after the round trip", i, name)
			}
		}
	}
	toks := testTokens(t, w, tok)
	want := fullLogits(t, storeOf(t, w), toks)
	got := fullLogits(t, m.Store, toks)
	var worst float64
	for i := range want {
		worst = max(worst, math.Abs(float64(got[i]-want[i]))/max(1, math.Abs(float64(want[i]))))
	}
	t.Logf("stories260K, %d positions: max relative logit difference, Hugging Face directory vs llama2.c file: %.2g", len(toks), worst)
	if worst > 1e-5 {
		t.Errorf("logits differ by %.3g (relative) > 1e-5", worst)
	}

	needNumpy(t)
	np := numpyForward(t, dir, toks)
	tensors, err := w.HFTensors(safetensors.F32)
	if err != nil {
		t.Fatal(err)
	}
	if len(np.Tensors) != len(tensors) {
		t.Errorf("numpy read %d tensors, qzoo wrote %d", len(np.Tensors), len(tensors))
	}
	for _, tt := range tensors {
		values := make([]float32, len(tt.Data)/4)
		for i := range values {
			values[i] = math.Float32frombits(binary.LittleEndian.Uint32(tt.Data[4*i:]))
		}
		if r := np.Tensors[tt.Name]; !slices.Equal(r.Shape, tt.Shape) || r.SHA256 != float32SHA(values) {
			t.Errorf("numpy read tensor %s as shape %v (sha256 %.12s), qzoo wrote %v (%.12s)", tt.Name, r.Shape, r.SHA256, tt.Shape, float32SHA(values))
		}
	}
	diff, scale := numpyDiff(want, np.Logits)
	t.Logf("max |logit − numpy's Hugging Face forward| over %d positions: %.2g (logits up to %.3g)", len(toks), diff, scale)
	if diff > 1e-4*max(1, scale) {
		t.Errorf("qzoo's logits differ from numpy's on the Hugging Face directory by %.3g", diff)
	}
}

// randomWeights is a model of architecture c with random weights of the scale of a trained one.
func randomWeights(c llama.Config, seed uint64) *llama.Weights {
	rng := rand.New(rand.NewPCG(seed, 7))
	vec := func(n int, mean, sd float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(mean + sd*rng.NormFloat64())
		}
		return v
	}
	w := &llama.Weights{Config: c, Blocks: make([]llama.Layer, c.Layers)}
	w.Embedding = vec(c.VocabSize*c.Dim, 0, 1)
	w.NormFinal = vec(c.Dim, 1, 0.1)
	if !c.Shared {
		w.Classifier = vec(c.VocabSize*c.Dim, 0, 0.3)
	}
	for i := range w.Blocks {
		l := &w.Blocks[i]
		l.AttnNorm, l.FFNNorm = vec(c.Dim, 1, 0.1), vec(c.Dim, 1, 0.1)
		for _, name := range llama.LinearNames {
			o, in := c.LinearShape(name)
			*l.Linear(name) = vec(o*in, 0, 1/math.Sqrt(float64(in)))
		}
		if c.AttnBias {
			l.BQ, l.BK, l.BV = vec(c.Dim, 0, 0.5), vec(c.KVDim(), 0, 0.5), vec(c.KVDim(), 0, 0.5)
		}
	}
	return w
}

// writeHFDir writes w as a model directory of architecture arch (config edited by edit), in
// dtype, in one file or split over shards with an index.
func writeHFDir(t *testing.T, dir string, w *llama.Weights, arch string, dtype safetensors.DType, shards int, edit func(*hf.Config)) {
	t.Helper()
	c := llama.HFConfig(w.Config, dtype)
	c.Architectures = []string{arch}
	if edit != nil {
		edit(c)
	}
	tensors, err := w.HFTensors(dtype)
	if err != nil {
		t.Fatal(err)
	}
	if err := hf.Write(dir, c, tensors, nil); err != nil {
		t.Fatal(err)
	}
	if shards > 1 {
		splitShards(t, dir, tensors, shards)
	}
}

// splitShards replaces dir/model.safetensors by shards with transformers' names and an index.
func splitShards(t *testing.T, dir string, tensors []safetensors.Tensor, shards int) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, hf.WeightsFile)); err != nil {
		t.Fatal(err)
	}
	ix := hf.Index{Metadata: map[string]any{"total_size": 0}, WeightMap: map[string]string{}}
	per := (len(tensors) + shards - 1) / shards
	for s := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, shards)
		part := tensors[s*per : min((s+1)*per, len(tensors))]
		for _, tt := range part {
			ix.WeightMap[tt.Name] = name
		}
		if err := safetensors.Write(filepath.Join(dir, name), part, nil); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(ix)
	if err := os.WriteFile(filepath.Join(dir, hf.IndexFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHFConfigurations writes small random models of each supported configuration, opens
// them with Open, and checks the logits against numpy's Hugging Face forward pass and
// qzoo's float64 reference, then generates: every greedy token is the argmax of numpy's
// logits at the position before it.
func TestHFConfigurations(t *testing.T) {
	base := llama.Config{Dim: 32, HiddenDim: 48, Layers: 2, Heads: 4, KVHeads: 2, VocabSize: 40, SeqLen: 64,
		RoPETheta: 10000, NormEps: 1e-5}
	for _, tc := range []struct {
		name   string
		arch   string
		dtype  safetensors.DType
		shards int
		edit   func(*llama.Config)
		hfEdit func(*hf.Config)
		seqLen int // the context Open should find
	}{
		{name: "llama-gqa-untied", arch: hf.ArchLlama, dtype: safetensors.BF16, shards: 1, seqLen: 64},
		{name: "mistral-sliding-window", arch: hf.ArchMistral, dtype: safetensors.F16, shards: 1,
			edit:   func(c *llama.Config) { c.KVHeads, c.RoPETheta = 1, 1e6 },
			hfEdit: func(c *hf.Config) { w := 16; c.SlidingWindow = &w; c.ModelType = "mistral" }, seqLen: 16},
		{name: "qwen2-biases", arch: hf.ArchQwen2, dtype: safetensors.F32, shards: 2,
			edit: func(c *llama.Config) { c.AttnBias, c.Shared, c.RoPETheta, c.NormEps = true, true, 1e6, 1e-6 }, seqLen: 64},
		{name: "smollm-tied", arch: hf.ArchLlama, dtype: safetensors.F32, shards: 3,
			edit: func(c *llama.Config) { c.Dim, c.Heads, c.KVHeads, c.Shared, c.RoPETheta = 48, 6, 2, true, 1e5 }, seqLen: 64},
		// Llama 3.1's rule with an original context of 128, so that over a few positions the
		// head's four rates (wavelengths 2π·{1, 10, 100, 1000}) are kept, blended (62.8 between
		// 128/4 and 128/1), divided and divided: written by HFConfig as rope_scaling.
		{name: "llama3-rope-scaling", arch: hf.ArchLlama, dtype: safetensors.BF16, shards: 1,
			edit: func(c *llama.Config) {
				c.SeqLen = 256
				c.RoPEScaling = position.RoPEScaling{Type: position.RoPEScalingLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 128}
			}, seqLen: 256},
		{name: "linear-rope-scaling", arch: hf.ArchLlama, dtype: safetensors.F32, shards: 1,
			edit: func(c *llama.Config) {
				c.RoPEScaling = position.RoPEScaling{Type: position.RoPEScalingLinear, Factor: 4}
			}, seqLen: 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			if tc.edit != nil {
				tc.edit(&c)
			}
			w := randomWeights(c, uint64(len(tc.name)))
			dir := filepath.Join(t.TempDir(), tc.name)
			writeHFDir(t, dir, w, tc.arch, tc.dtype, tc.shards, tc.hfEdit)
			m, err := llama.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Weights()
			if err != nil {
				t.Fatal(err)
			}
			want := c
			want.SeqLen = tc.seqLen
			if got.Config != want {
				t.Fatalf("config %+v, want %+v", got.Config, want)
			}
			gen, err := llama.NewGenerator(goBackend(t), m.Store, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer gen.Finalize()
			greedy, _ := llama.NewSampler(0, 0, 1)
			out, err := gen.Generate([]int{1, 7, 3}, 8, greedy, nil)
			if err != nil {
				t.Fatal(err)
			}
			toks := append([]int{1, 7, 3}, out...)
			logits := fullLogits(t, m.Store, toks)
			ref := reference.New(got)
			var refDiff float64
			for p, tok := range toks {
				for i, x := range ref.Forward(tok) {
					refDiff = max(refDiff, math.Abs(float64(logits[p*c.VocabSize+i])-x))
				}
			}
			if refDiff > 1e-4 {
				t.Errorf("logits differ from the float64 reference by %.3g", refDiff)
			}
			needNumpy(t)
			np := numpyForward(t, dir, toks)
			diff, scale := numpyDiff(logits, np.Logits)
			t.Logf("%s: %d generated; max |logit − numpy| %.2g (logits up to %.3g), − float64 reference %.2g", tc.name, len(out), diff, scale, refDiff)
			if diff > 1e-4*max(1, scale) {
				t.Errorf("logits differ from numpy's Hugging Face forward by %.3g", diff)
			}
			for p := 3; p < len(toks); p++ {
				if best := argmax64(np.Logits[p-1]); best != toks[p] {
					t.Errorf("generated token %d at position %d, numpy's argmax is %d", toks[p], p, best)
				}
			}
		})
	}
}

func argmax64(xs []float64) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}

// TestHFBadInputs: each broken directory is refused with an error naming the file and the
// tensor or key at fault.
func TestHFBadInputs(t *testing.T) {
	c := llama.Config{Dim: 16, HiddenDim: 24, Layers: 2, Heads: 2, KVHeads: 1, VocabSize: 20, SeqLen: 32, Shared: true,
		RoPETheta: 10000, NormEps: 1e-5}
	w := randomWeights(c, 3)
	tensors, err := w.HFTensors(safetensors.F32)
	if err != nil {
		t.Fatal(err)
	}
	good := func(t *testing.T, shards int) string {
		dir := filepath.Join(t.TempDir(), "m")
		writeHFDir(t, dir, w, hf.ArchLlama, safetensors.F32, shards, nil)
		return dir
	}
	for _, tc := range []struct {
		name     string
		breakDir func(t *testing.T) (dir string, mention []string)
	}{
		{"missing tensor", func(t *testing.T) (string, []string) {
			dir := good(t, 1)
			missing := "model.layers.1.mlp.up_proj.weight"
			var kept []safetensors.Tensor
			for _, tt := range tensors {
				if tt.Name != missing {
					kept = append(kept, tt)
				}
			}
			if err := safetensors.Write(filepath.Join(dir, hf.WeightsFile), kept, nil); err != nil {
				t.Fatal(err)
			}
			return dir, []string{dir, missing}
		}},
		{"a weight that is not a number", func(t *testing.T) (string, []string) {
			dir := good(t, 1)
			bad := slices.Clone(tensors)
			name := "model.layers.1.self_attn.k_proj.weight"
			for i, tt := range bad {
				if tt.Name == name {
					x := make([]float32, tt.Shape[0]*tt.Shape[1])
					x[5] = float32(math.NaN())
					bad[i], _ = safetensors.FromFloat32(tt.Name, safetensors.F32, tt.Shape, x)
				}
			}
			if err := safetensors.Write(filepath.Join(dir, hf.WeightsFile), bad, nil); err != nil {
				t.Fatal(err)
			}
			return dir, []string{dir, name, "NaN"}
		}},
		{"an end-of-sequence id that is not one", func(t *testing.T) (string, []string) {
			dir := good(t, 1)
			editConfig(t, dir, func(m map[string]any) { m["eos_token_id"] = "x" })
			return dir, []string{filepath.Join(dir, hf.ConfigFile), "eos_token_id"}
		}},
		{"a beginning-of-sequence id outside the vocabulary", func(t *testing.T) (string, []string) {
			dir := good(t, 1)
			editConfig(t, dir, func(m map[string]any) { m["bos_token_id"] = 20 })
			return dir, []string{filepath.Join(dir, hf.ConfigFile), "bos_token_id", "[0, 20)"}
		}},
		{"unknown architecture", func(t *testing.T) (string, []string) {
			dir := good(t, 1)
			editConfig(t, dir, func(m map[string]any) { m["architectures"] = []string{"GPT2LMHeadModel"} })
			return dir, []string{filepath.Join(dir, hf.ConfigFile), "GPT2LMHeadModel", "architectures"}
		}},
		{"scaled RoPE of an unsupported type", func(t *testing.T) (string, []string) {
			dir := good(t, 1)
			editConfig(t, dir, func(m map[string]any) { m["rope_scaling"] = map[string]any{"rope_type": "yarn", "factor": 4} })
			return dir, []string{filepath.Join(dir, hf.ConfigFile), "rope_scaling", "yarn"}
		}},
		{"llama3 scaling without its band", func(t *testing.T) (string, []string) {
			dir := good(t, 1)
			editConfig(t, dir, func(m map[string]any) { m["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8} })
			return dir, []string{filepath.Join(dir, hf.ConfigFile), "rope_scaling", "llama3", "low_freq_factor"}
		}},
		{"wrong shape", func(t *testing.T) (string, []string) {
			dir := good(t, 1)
			bad := slices.Clone(tensors)
			for i, tt := range bad {
				if tt.Name == "model.layers.0.self_attn.o_proj.weight" {
					bad[i], _ = safetensors.FromFloat32(tt.Name, safetensors.F32, []int{c.Dim, c.Dim - 2}, make([]float32, c.Dim*(c.Dim-2)))
				}
			}
			if err := safetensors.Write(filepath.Join(dir, hf.WeightsFile), bad, nil); err != nil {
				t.Fatal(err)
			}
			return dir, []string{filepath.Join(dir, hf.WeightsFile), "model.layers.0.self_attn.o_proj.weight", "[16 14]"}
		}},
		{"truncated shard", func(t *testing.T) (string, []string) {
			dir := good(t, 2)
			shard := filepath.Join(dir, "model-00002-of-00002.safetensors")
			st, err := os.Stat(shard)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(shard, st.Size()-10); err != nil {
				t.Fatal(err)
			}
			return dir, []string{shard, "model.norm.weight"}
		}},
		{"index names a missing shard", func(t *testing.T) (string, []string) {
			dir := good(t, 2)
			if err := os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors")); err != nil {
				t.Fatal(err)
			}
			return dir, []string{filepath.Join(dir, hf.IndexFile), "model-00002-of-00002.safetensors"}
		}},
		{"index points outside the directory", func(t *testing.T) (string, []string) {
			dir := good(t, 2)
			b, _ := json.Marshal(hf.Index{WeightMap: map[string]string{"model.norm.weight": "../model-00001-of-00002.safetensors"}})
			if err := os.WriteFile(filepath.Join(dir, hf.IndexFile), b, 0o644); err != nil {
				t.Fatal(err)
			}
			return dir, []string{filepath.Join(dir, hf.IndexFile), "model.norm.weight", "../model-00001-of-00002.safetensors"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, mention := tc.breakDir(t)
			_, err := llama.Open(dir)
			if err == nil {
				t.Fatal("opened a broken model directory")
			}
			for _, s := range mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, hf.ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A model with biases or another RoPE base has no llama2.c form: Encode says why.
func TestEncodeRefusesWhatLlama2cCannotHold(t *testing.T) {
	c := llama.Stories260K
	c.AttnBias = true
	if _, err := randomWeights(c, 1).Encode(); err == nil || !strings.Contains(err.Error(), "biases") {
		t.Errorf("Encode of a model with biases: %v", err)
	}
	c = llama.Stories260K
	c.RoPETheta = 1e6
	if _, err := randomWeights(c, 1).Encode(); err == nil || !strings.Contains(err.Error(), "RoPE base") {
		t.Errorf("Encode of a model with RoPE base 1e6: %v", err)
	}
}

// TestHFQuantizedExport writes stories260K quantized (rtn symmetric and asymmetric, per group,
// per row and in flat blocks; nf4) and checks: Open dequantizes every linear weight to exactly
// what package quant's Dequantize gives; numpy, dequantizing the packed codes on its own,
// computes the same logits.
func TestHFQuantizedExport(t *testing.T) {
	w, tok := stories260K(t)
	toks := testTokens(t, w, tok)[:32]
	for _, spec := range []quant.Spec{
		{Method: quant.MethodRTN, Bits: 4, GroupSize: 32, Symmetric: true},
		{Method: quant.MethodRTN, Bits: 3, GroupSize: 0},
		{Method: quant.MethodRTN, Bits: 8, GroupSize: 1024},
		{Method: quant.MethodNF4},
	} {
		t.Run(spec.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "q")
			if err := w.WriteHFQuantized(dir, spec, llama.HFOptions{DType: safetensors.BF16}); err != nil {
				t.Fatal(err)
			}
			m, err := llama.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Weights()
			if err != nil {
				t.Fatal(err)
			}
			for i := range w.Blocks {
				for _, name := range llama.LinearNames {
					o, in := w.LinearShape(name)
					q, err := quant.Quantize(*w.Blocks[i].Linear(name), o, in, spec, nil)
					if err != nil {
						t.Fatal(err)
					}
					// Quantized in Hugging Face's row order: groups lie within rows, so only
					// flat blocks that span rows could see the order; compare those loosely.
					want := q.Dequantize()
					if spec.GroupSize <= in && !slices.Equal(*got.Blocks[i].Linear(name), want) {
						t.Fatalf("block %d %s: dequantized weights differ from quant's", i, name)
					}
				}
			}
			st, err := os.Stat(filepath.Join(dir, hf.WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			logits := fullLogits(t, m.Store, toks)
			needNumpy(t)
			np := numpyForward(t, dir, toks)
			diff, scale := numpyDiff(logits, np.Logits)
			t.Logf("%s: model.safetensors %d bytes; max |logit − numpy's dequantized forward| %.2g (logits up to %.3g)", spec, st.Size(), diff, scale)
			if diff > 1e-4*max(1, scale) {
				t.Errorf("logits differ from numpy's by %.3g", diff)
			}
		})
	}
}

// TestTok512AsTokenizerJSON: tok512 written as tokenizer.json (hf.SentencePieceJSON, through
// WriteHF) and read by formats/hf encodes every line of Shakespeare and llama2.c's story to
// the tokens llama2.c's tokenizer gives, and decodes them back to the same text.
func TestTok512AsTokenizerJSON(t *testing.T) {
	w, tok := stories260K(t)
	dir := filepath.Join(t.TempDir(), "hf")
	if err := w.WriteHF(dir, llama.HFOptions{Llama2CTokenizer: tok}); err != nil {
		t.Fatal(err)
	}
	h, err := hf.ReadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dataDir, "text", "tinyshakespeare.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := append(strings.Split(string(raw[:40000]), "\n"), strings.Split(expected, "\n")...)
	n := 0
	for _, line := range lines {
		if line == "" {
			continue
		}
		want, err := tok.Encode(line, false, false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.Encode(line)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%q: tokenizer.json gives %v, llama2.c %v", line, got, want)
		}
		back, err := h.Decode(append([]int{1}, got...))
		if err != nil || back != "<s>"+line {
			t.Fatalf("%q decoded as %q (%v)", line, back, err)
		}
		n += len(got)
	}
	// The whole text at once: one word of 40,000 characters for the SentencePiece-style merge.
	want, err := tok.Encode(string(raw[:40000]), false, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h.Encode(string(raw[:40000])); err != nil || !slices.Equal(got, want) {
		t.Fatalf("the whole text: tokenizer.json gives %d tokens (%v), llama2.c %d", len(got), err, len(want))
	}
	t.Logf("%d lines, %d tokens, and the whole text (%d tokens): tokenizer.json and llama2.c's tokenizer agree", len(lines), n, len(want))
}

// TestPretrainedFromHF: init_from a Hugging Face directory (Pretrained) fills the store when
// the llama_* keys state its architecture, and names the key that differs otherwise.
func TestPretrainedFromHF(t *testing.T) {
	c := llama.Config{Dim: 16, HiddenDim: 24, Layers: 1, Heads: 2, KVHeads: 1, VocabSize: 20, SeqLen: 32, Shared: true,
		RoPETheta: 1e6, NormEps: 1e-6, AttnBias: true}
	w := randomWeights(c, 5)
	dir := filepath.Join(t.TempDir(), "qwen")
	writeHFDir(t, dir, w, hf.ArchQwen2, safetensors.F32, 1, nil)
	params := map[string]any{llama.ParamDim: 16, llama.ParamHiddenDim: 24, llama.ParamLayers: 1, llama.ParamHeads: 2,
		llama.ParamKVHeads: 1, llama.ParamVocabSize: 20, llama.ParamSeqLen: 32, llama.ParamRoPETheta: 1e6,
		llama.ParamNormEps: 1e-6, llama.ParamAttnBias: true}
	store := model.NewStore()
	if err := llama.Pretrained(store, dir, params); err != nil {
		t.Fatal(err)
	}
	back, err := llama.WeightsFromStore(store, llama.ConfigOfStore(store))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Blocks[0].BQ, w.Blocks[0].BQ) || !slices.Equal(back.Blocks[0].WK, w.Blocks[0].WK) {
		t.Error("the store does not hold the directory's weights")
	}
	params[llama.ParamRoPETheta] = 10000.0
	if err := llama.Pretrained(model.NewStore(), dir, params); err == nil || !strings.Contains(err.Error(), llama.ParamRoPETheta) {
		t.Errorf("a RoPE base that differs: %v", err)
	}
}

// llama32Scaling is Llama-3.2-1B's rope_scaling, as its config.json has it.
const llama32Scaling = `{"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}`

// TestHFLlama3RoPEScaling writes a random model in Llama 3.2's shape (tied embedding,
// grouped-query attention, rope_theta 500000, heads of 16 whose eight rates have wavelengths
// from 2π to 6·10^5: four kept, one blended, three divided by llama3's rule) with
// Llama-3.2-1B's rope_scaling object, and checks: Open reads the scaling into the config and
// the llama_rope_* keys; it generates 125 tokens greedily, every one numpy's argmax (numpy
// scaling the rates on its own); the logits match the float64 reference and numpy's, and
// differ from those of the same weights unscaled; a pre-RoPE cache rotating keys on the host
// (KVShape) gives the same logits; WriteHF writes the same rope_scaling object back, and the
// export reads back to the same model; keys that disagree with the checkpoint, or a factor
// set without its type, are refused by name.
func TestHFLlama3RoPEScaling(t *testing.T) {
	c := llama.Config{Dim: 64, HiddenDim: 96, Layers: 2, Heads: 4, KVHeads: 2, VocabSize: 48, SeqLen: 256, Shared: true,
		RoPETheta: 500000, NormEps: 1e-5}
	w := randomWeights(c, 32)
	dir := filepath.Join(t.TempDir(), "llama3")
	writeHFDir(t, dir, w, hf.ArchLlama, safetensors.BF16, 2, func(h *hf.Config) { h.RoPEScaling = json.RawMessage(llama32Scaling) })
	m, err := llama.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Weights()
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.RoPEScaling = position.RoPEScaling{Type: position.RoPEScalingLlama3, Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}
	if got.Config != want {
		t.Fatalf("config %+v, want %+v", got.Config, want)
	}
	for key, v := range map[string]any{llama.ParamRoPEScaling: "llama3", llama.ParamRoPEFactor: 32.0, llama.ParamRoPELowFreqFactor: 1.0,
		llama.ParamRoPEHighFreqFactor: 4.0, llama.ParamRoPEOriginalSeqLen: 8192} {
		if p, _ := m.Store.GetParam(key); p != v || m.Config.Params[key] != v {
			t.Errorf("key %s: store %v, config %v, want %v", key, p, m.Config.Params[key], v)
		}
	}
	if back := llama.ConfigOfStore(m.Store); back != want {
		t.Errorf("store's config %+v, want %+v", back, want)
	}

	gen, err := llama.NewGenerator(goBackend(t), m.Store, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Finalize()
	greedy, _ := llama.NewSampler(0, 0, 1)
	prompt := []int{1, 7, 3}
	out, err := gen.Generate(prompt, 125, greedy, nil)
	if err != nil {
		t.Fatal(err)
	}
	toks := append(slices.Clone(prompt), out...)
	logits := fullLogits(t, m.Store, toks)
	ref := reference.New(got)
	var refDiff float64
	for p, tok := range toks {
		for i, x := range ref.Forward(tok) {
			refDiff = max(refDiff, math.Abs(float64(logits[p*c.VocabSize+i])-x))
		}
	}
	unscaled := *got
	unscaled.Config.RoPEScaling = position.RoPEScaling{}
	var scalingEffect float64
	for i, x := range fullLogits(t, storeOf(t, &unscaled), toks) {
		scalingEffect = max(scalingEffect, math.Abs(float64(x-logits[i])))
	}
	t.Logf("%d positions: max |logit − float64 reference| %.2g; the scaling moves logits by up to %.3g", len(toks), refDiff, scalingEffect)
	if refDiff > 1e-4 {
		t.Errorf("logits differ from the float64 reference by %.3g", refDiff)
	}
	if scalingEffect < 1e-3 {
		t.Errorf("the scaling moves logits by %.3g only: the test cannot see it", scalingEffect)
	}

	// The host RoPE of a pre-RoPE key cache rotates with the scaled rates.
	for _, tc := range []struct {
		name  string
		shape llama.Config
	}{{"scaled", got.Config}, {"unscaled", unscaled.Config}} {
		q, err := kvcache.New(kvcache.Config{Method: kvcache.MethodFP32, PreRoPE: true}, llama.KVShape(tc.shape))
		if err != nil {
			t.Fatal(err)
		}
		s, err := llama.NewKVStepper(goBackend(t), m.Store, q, 1, len(toks))
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i, x := range stepLogits(t, s, toks) {
			worst = max(worst, math.Abs(float64(x-logits[i])))
		}
		s.Finalize()
		t.Logf("pre-RoPE fp32 cache rotating with the %s rates: max |Δlogit| %.2g", tc.name, worst)
		if tc.name == "scaled" && worst > 1e-4 {
			t.Errorf("pre-RoPE cache: logits differ by %.3g > 1e-4", worst)
		}
		if tc.name == "unscaled" && worst < 1e-3 {
			t.Errorf("a pre-RoPE cache rotating with the unscaled rates differs by %.3g only: the check cannot see the scaling", worst)
		}
	}

	// Exported, the config keeps the rope_scaling object, and the directory reads back the same.
	outDir := filepath.Join(t.TempDir(), "export")
	if err := got.WriteHF(outDir, llama.HFOptions{DType: safetensors.BF16, Source: m.HF}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(outDir, hf.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var written map[string]json.RawMessage
	if err := json.Unmarshal(raw, &written); err != nil {
		t.Fatal(err)
	}
	var a, b strings.Builder
	for dst, src := range map[*strings.Builder]json.RawMessage{&a: written["rope_scaling"], &b: json.RawMessage(llama32Scaling)} {
		var buf bytes.Buffer
		if err := json.Compact(&buf, src); err != nil {
			t.Fatalf("rope_scaling %s: %v", src, err)
		}
		dst.WriteString(buf.String())
	}
	if a.String() != b.String() {
		t.Errorf("exported rope_scaling %s, want %s", a.String(), b.String())
	}
	again, err := llama.Open(outDir)
	if err != nil {
		t.Fatal(err)
	}
	againW, err := again.Weights()
	if err != nil {
		t.Fatal(err)
	}
	if againW.Config != want {
		t.Errorf("export reads back as %+v", againW.Config)
	}
	if diff := fullLogits(t, again.Store, toks); !slices.Equal(diff, logits) {
		t.Error("the exported directory computes other logits")
	}

	// The llama_rope_* keys must state the checkpoint's scaling; a value a type does not use
	// must be at its default.
	params := map[string]any{}
	for k, v := range m.Config.Params {
		params[k] = v
	}
	params[llama.ParamRoPEFactor] = 8.0
	if err := llama.Pretrained(model.NewStore(), dir, params); err == nil || !strings.Contains(err.Error(), llama.ParamRoPEFactor) {
		t.Errorf("a RoPE factor that differs: %v", err)
	}
	for _, tc := range []struct{ set, mention string }{
		{`"llama_rope_factor": 8`, `"llama_rope_factor" is 8 but "llama_rope_scaling" is "none"`},
		{`"llama_rope_scaling": "linear", "llama_rope_original_seq_len": 4096`, `"llama_rope_original_seq_len" is 4096 but "llama_rope_scaling" is "linear"`},
		{`"llama_rope_scaling": "llama3", "llama_rope_low_freq_factor": 4`, `"llama_rope_high_freq_factor" is 4, not above "llama_rope_low_freq_factor" (4)`},
		{`"llama_rope_scaling": "yarn"`, "llama_rope_scaling"},
		{`"llama_rope_scaling": "llama3", "llama_rope_factor": 0.5`, "llama_rope_factor"},
	} {
		_, err := framework.ParseConfig([]byte(`{"model": "llama", "params": {` + tc.set + `}}`))
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: %v, want an error naming %s", tc.set, err, tc.mention)
		}
	}
	if _, err := framework.ParseConfig([]byte(`{"model": "llama", "params": {"llama_rope_scaling": "llama3", "llama_rope_factor": 32}}`)); err != nil {
		t.Errorf("llama3 with factor 32: %v", err)
	}

	needNumpy(t)
	np := numpyForward(t, dir, toks)
	diff, scale := numpyDiff(logits, np.Logits)
	t.Logf("max |logit − numpy's Hugging Face forward| %.2g (logits up to %.3g)", diff, scale)
	if diff > 1e-4*max(1, scale) {
		t.Errorf("logits differ from numpy's Hugging Face forward by %.3g", diff)
	}
	for p := len(prompt); p < len(toks); p++ {
		if best := argmax64(np.Logits[p-1]); best != toks[p] {
			t.Errorf("generated token %d at position %d, numpy's argmax is %d", toks[p], p, best)
		}
	}
}

// TestHFUnscaledConfigUnchanged: a model without RoPE scaling is written exactly as before
// RoPE scaling was supported (config.json byte for byte, no rope_scaling key), reads back
// with no scaling, and its store holds llama_rope_scaling "none" with the other llama_rope_*
// keys at their defaults.
func TestHFUnscaledConfigUnchanged(t *testing.T) {
	c := llama.Config{Dim: 32, HiddenDim: 48, Layers: 2, Heads: 4, KVHeads: 2, VocabSize: 40, SeqLen: 64,
		RoPETheta: 500000, NormEps: 1e-5, Shared: true}
	dir := filepath.Join(t.TempDir(), "m")
	if err := randomWeights(c, 11).WriteHF(dir, llama.HFOptions{DType: safetensors.BF16}); err != nil {
		t.Fatal(err)
	}
	const before = `{
  "architectures": [
    "LlamaForCausalLM"
  ],
  "bos_token_id": 1,
  "eos_token_id": [
    2,
    1
  ],
  "hidden_act": "silu",
  "hidden_size": 32,
  "intermediate_size": 48,
  "max_position_embeddings": 64,
  "model_type": "llama",
  "num_attention_heads": 4,
  "num_hidden_layers": 2,
  "num_key_value_heads": 2,
  "rms_norm_eps": 0.00001,
  "rope_theta": 500000,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "vocab_size": 40
}
`
	b, err := os.ReadFile(filepath.Join(dir, hf.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != before {
		t.Errorf("config.json of an unscaled model changed:\n%s\nwas\n%s", b, before)
	}
	m, err := llama.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := llama.ConfigOfStore(m.Store); got != c {
		t.Errorf("read back as %+v, want %+v", got, c)
	}
	for key, v := range map[string]any{llama.ParamRoPEScaling: "none", llama.ParamRoPEFactor: 1.0, llama.ParamRoPELowFreqFactor: 1.0,
		llama.ParamRoPEHighFreqFactor: 4.0, llama.ParamRoPEOriginalSeqLen: 8192} {
		if p, _ := m.Store.GetParam(key); p != v {
			t.Errorf("key %s: %v, want %v", key, p, v)
		}
	}
}

// tinyLlama3Tokenizer is formats/hf's test tokenizer.json in Llama 3's form (Split with Llama
// 3's pattern, ByteLevel, ignore_merges, <|begin_of_text|> = 267 added by a TemplateProcessing
// post-processor) over a vocabulary of 269: the 256 bytes, ten merges, " world" and two added
// tokens.
var tinyLlama3Tokenizer = filepath.Join("..", "..", "formats", "hf", "testdata", "tiny-llama3")

// TestHFTextPrompt: a Llama 3-style directory is prompted with text. PromptTokens puts the
// post_processor's <|begin_of_text|> before the text's tokens (worked out by hand in
// formats/hf's tests) and the model generates from them; a ByteLevel post-processor (Qwen2's)
// adds nothing, a file without one takes the config's bos_token_id, and a pre-tokenizer the
// package does not know is refused by name.
func TestHFTextPrompt(t *testing.T) {
	c := llama.Config{Dim: 32, HiddenDim: 48, Layers: 1, Heads: 4, KVHeads: 2, VocabSize: 269, SeqLen: 64, Shared: true,
		RoPETheta: 500000, NormEps: 1e-5}
	dir := filepath.Join(t.TempDir(), "llama3")
	if err := randomWeights(c, 3).WriteHF(dir, llama.HFOptions{TokenizerFrom: tinyLlama3Tokenizer}); err != nil {
		t.Fatal(err)
	}
	editConfig(t, dir, func(m map[string]any) { m["bos_token_id"], m["eos_token_id"] = 267, 268 })
	m, err := llama.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.LoadTextTokenizer("")
	if err != nil {
		t.Fatal(err)
	}
	prompt, err := m.PromptTokens(tok, "hello world's 12345")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{267, 259, 266, 265, 32, 264, 52, 53}; !slices.Equal(prompt, want) {
		t.Fatalf("prompt %v, want %v", prompt, want)
	}
	gen, err := llama.NewGenerator(goBackend(t), m.Store, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Finalize()
	greedy, _ := llama.NewSampler(0, 0, 1)
	out, err := gen.Generate(prompt, 6, greedy, nil)
	if err != nil || len(out) != 6 {
		t.Fatalf("generated %v (%v)", out, err)
	}
	text, err := tok.(*hf.Tokenizer).Decode(append(prompt, out...))
	if err != nil || !strings.HasPrefix(text, "<|begin_of_text|>hello world's 12345") {
		t.Errorf("decoded %q (%v)", text, err)
	}

	// The same directory with other post-processors and pre-tokenizers.
	path := filepath.Join(dir, hf.TokenizerFile)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	retokenize := func(key string, value any) *hf.Tokenizer {
		var f map[string]any
		if err := json.Unmarshal(orig, &f); err != nil {
			t.Fatal(err)
		}
		f[key] = value
		b, _ := json.Marshal(f)
		h, err := hf.ParseTokenizer(b)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	byteLevel := retokenize("post_processor", map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false})
	if got, err := m.PromptTokens(byteLevel, "hello"); err != nil || !slices.Equal(got, []int{259}) {
		t.Errorf("ByteLevel post-processor: %v (%v), want [259]", got, err)
	}
	if got, err := m.PromptTokens(byteLevel, ""); err != nil || !slices.Equal(got, []int{267}) {
		t.Errorf("ByteLevel post-processor, empty text: %v (%v), want the config's BOS", got, err)
	}
	editConfig(t, dir, func(m map[string]any) { m["bos_token_id"] = 5 })
	if m, err = llama.Open(dir); err != nil {
		t.Fatal(err)
	}
	if got, err := m.PromptTokens(retokenize("post_processor", nil), "hello"); err != nil || !slices.Equal(got, []int{5, 259}) {
		t.Errorf("no post-processor: %v (%v), want the config's BOS (5) first", got, err)
	}
	split := retokenize("pre_tokenizer", map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\w+`}, "behavior": "Isolated"})
	if _, err := m.PromptTokens(split, "hello"); err == nil || !strings.Contains(err.Error(), `Split of regex "\\w+"`) {
		t.Errorf("an unknown Split pattern: %v", err)
	}
}
