package llama

import (
	"fmt"
	"math"

	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/layers/position"
)

// Config is the architecture of a model: the fields of a llama2.c checkpoint's header
// ([llama2c.Header]; [Config.Header] and [ConfigFromHeader] convert), and those a Hugging Face
// config.json adds (package formats/hf, read by [ReadHF]): RoPE's base and scaling, RMSNorm's ε
// and the query/key/value biases of Qwen2.
type Config struct {
	Dim       int // model width d
	HiddenDim int // SwiGLU hidden width (172 for stories260K: not a multiple of 32)
	Layers    int
	Heads     int // query heads
	KVHeads   int // key/value heads (grouped-query attention when < Heads)
	VocabSize int
	SeqLen    int  // context length (positions RoPE was trained for)
	Shared    bool // the classifier is the token embedding (llama2.c: vocab_size > 0 in the header)
	// RoPETheta is the base b of RoPE's rates θ_i = b^(−2i/HeadDim): 10000 in llama2.c
	// (position.RoPEBase), a config.json's rope_theta otherwise.
	RoPETheta float64
	// RoPEScaling rescales those rates for a context longer than the pretrained one: a
	// config.json's rope_scaling ("llama3": Llama 3.1 and 3.2; "linear"), the zero value (no
	// scaling) otherwise. A value, not a pointer, so that Configs compare with ==.
	RoPEScaling position.RoPEScaling
	// NormEps is RMSNorm's ε: 1e-5 in llama2.c, a config.json's rms_norm_eps otherwise.
	NormEps float64
	// AttnBias says the query, key and value projections add biases (Qwen2).
	AttnBias bool
}

// llama2.c's RoPE base and RMSNorm ε, fixed by its run.c.
const (
	llama2cRoPETheta = position.RoPEBase
	llama2cNormEps   = 1e-5
)

// ConfigFromHeader is the architecture a llama2.c header states, with llama2.c's RoPE base
// and RMSNorm ε and no biases.
func ConfigFromHeader(h llama2c.Header) Config {
	return Config{Dim: h.Dim, HiddenDim: h.HiddenDim, Layers: h.Layers, Heads: h.Heads, KVHeads: h.KVHeads,
		VocabSize: h.VocabSize, SeqLen: h.SeqLen, Shared: h.Shared, RoPETheta: llama2cRoPETheta, NormEps: llama2cNormEps}
}

// Header is the llama2.c header of c (which leaves out RoPETheta, RoPEScaling, NormEps and
// AttnBias; see [Config.Llama2C]).
func (c Config) Header() llama2c.Header {
	return llama2c.Header{Dim: c.Dim, HiddenDim: c.HiddenDim, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads,
		VocabSize: c.VocabSize, SeqLen: c.SeqLen, Shared: c.Shared}
}

// Llama2C returns an error naming the field that llama2.c's format cannot hold: a RoPE base
// other than 10000, a RoPE scaling, an ε other than 1e-5, biases.
func (c Config) Llama2C() error {
	switch {
	case c.RoPETheta != llama2cRoPETheta:
		return fmt.Errorf("RoPE base %g: llama2.c's format has %d only", c.RoPETheta, llama2cRoPETheta)
	case c.RoPEScaling != position.RoPEScaling{}:
		return fmt.Errorf("RoPE scaling %q: llama2.c's format has none", c.RoPEScaling.Type)
	case c.NormEps != llama2cNormEps:
		return fmt.Errorf("RMSNorm epsilon %g: llama2.c's format has %g only", c.NormEps, llama2cNormEps)
	case c.AttnBias:
		return fmt.Errorf("query/key/value biases: llama2.c's format has none")
	}
	return nil
}

// HeadDim is d / Heads.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

// KVDim is KVHeads · HeadDim, the width of the key and value projections.
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim() }

// Validate checks the architecture's consistency and bounds (those of a llama2.c header), and
// that RoPE's base and RMSNorm's ε are positive and finite and RoPE's scaling is valid
// ([position.RoPEScaling.Validate]).
func (c Config) Validate() error {
	if err := c.Header().Validate(); err != nil {
		return err
	}
	if !(c.RoPETheta > 0) || math.IsInf(c.RoPETheta, 0) {
		return fmt.Errorf("RoPE base %g is not a positive number", c.RoPETheta)
	}
	if err := c.RoPEScaling.Validate(); err != nil {
		return err
	}
	if !(c.NormEps > 0) || math.IsInf(c.NormEps, 0) {
		return fmt.Errorf("RMSNorm epsilon %g is not a positive number", c.NormEps)
	}
	return nil
}

// Weights holds a model's parameters as float32 slices, row-major, in llama2.c's (PyTorch's)
// [out, in] layout: every linear layer computes y = W·x with W of shape [out, in].
type Weights struct {
	Config
	Embedding  []float32 // [VocabSize, Dim]; also the classifier when Shared
	Blocks     []Layer   // [Layers]
	NormFinal  []float32 // [Dim]
	Classifier []float32 // [VocabSize, Dim]; nil when Shared
}

// Layer is one transformer block.
type Layer struct {
	AttnNorm []float32 // [Dim] RMSNorm gain before attention
	WQ       []float32 // [Heads·HeadDim, Dim]
	WK       []float32 // [KVDim, Dim]
	WV       []float32 // [KVDim, Dim]
	BQ       []float32 // [Dim] query bias when AttnBias, else nil
	BK       []float32 // [KVDim] key bias when AttnBias, else nil
	BV       []float32 // [KVDim] value bias when AttnBias, else nil
	WO       []float32 // [Dim, Heads·HeadDim]
	FFNNorm  []float32 // [Dim] RMSNorm gain before the feed-forward
	W1       []float32 // [HiddenDim, Dim] gate
	W2       []float32 // [Dim, HiddenDim] down
	W3       []float32 // [HiddenDim, Dim] up
}

// LinearNames names the seven linear layers of a block, in llama2.c's names (also the
// names of their tensors in a llama2.c checkpoint).
var LinearNames = []string{"wq", "wk", "wv", "wo", "w1", "w2", "w3"}

// LinearShape is the [out, in] shape of the block's linear layer name.
func (c Config) LinearShape(name string) (out, in int) {
	switch name {
	case "wq":
		return c.Dim, c.Dim
	case "wk", "wv":
		return c.KVDim(), c.Dim
	case "wo":
		return c.Dim, c.Dim
	case "w1", "w3":
		return c.HiddenDim, c.Dim
	case "w2":
		return c.Dim, c.HiddenDim
	}
	panic(fmt.Sprintf("llama: no linear layer %q", name))
}

// Linear returns the block's linear weight by name (one of [LinearNames]).
func (l *Layer) Linear(name string) *[]float32 {
	switch name {
	case "wq":
		return &l.WQ
	case "wk":
		return &l.WK
	case "wv":
		return &l.WV
	case "wo":
		return &l.WO
	case "w1":
		return &l.W1
	case "w2":
		return &l.W2
	case "w3":
		return &l.W3
	}
	panic(fmt.Sprintf("llama: no linear layer %q", name))
}

// NumParams counts the model's parameters (the tied classifier once).
func (c Config) NumParams() int {
	n := c.VocabSize*c.Dim + c.Dim
	if !c.Shared {
		n += c.VocabSize * c.Dim
	}
	for _, name := range LinearNames {
		o, i := c.LinearShape(name)
		n += c.Layers * o * i
	}
	if c.AttnBias {
		n += c.Layers * (c.Dim + 2*c.KVDim())
	}
	return n + 2*c.Layers*c.Dim
}

// ReadCheckpoint reads a llama2.c legacy checkpoint (see [llama2c.Read]) as the model's
// weights; every error names the file.
func ReadCheckpoint(path string) (*Weights, error) {
	ck, err := llama2c.Read(path)
	if err != nil {
		return nil, err
	}
	w, err := WeightsFromCheckpoint(ck)
	if err != nil {
		return nil, fmt.Errorf("llama: checkpoint %s: %w", path, err)
	}
	return w, nil
}

// blockTensors are the per-layer tensors of a llama2.c checkpoint: the two RMSNorm gains and
// the linear layers, whose file names are [LinearNames].
var blockTensors = append([]string{llama2c.RMSAtt, llama2c.RMSFFN}, LinearNames...)

// blockTensor returns layer l's weight that the checkpoint tensor name stacks.
func blockTensor(l *Layer, name string) *[]float32 {
	switch name {
	case llama2c.RMSAtt:
		return &l.AttnNorm
	case llama2c.RMSFFN:
		return &l.FFNNorm
	}
	return l.Linear(name)
}

// WeightsFromCheckpoint maps a checkpoint's tensors onto the model's weights: the stacked
// per-layer tensors split into blocks (sharing ck's memory), the stored RoPE tables left
// out (the model computes its angles from positions), the classifier kept when stored apart.
func WeightsFromCheckpoint(ck *llama2c.Checkpoint) (*Weights, error) {
	tensor := func(name string) ([]float32, error) {
		t := ck.Tensor(name)
		if t == nil {
			return nil, fmt.Errorf("no tensor %s", name)
		}
		return t.Data, nil
	}
	c := ConfigFromHeader(ck.Header)
	w := &Weights{Config: c, Blocks: make([]Layer, c.Layers)}
	var err error
	if w.Embedding, err = tensor(llama2c.TokenEmbedding); err != nil {
		return nil, err
	}
	if w.NormFinal, err = tensor(llama2c.RMSFinal); err != nil {
		return nil, err
	}
	if !c.Shared {
		if w.Classifier, err = tensor(llama2c.Classifier); err != nil {
			return nil, err
		}
	}
	for _, name := range blockTensors {
		data, err := tensor(name)
		if err != nil {
			return nil, err
		}
		per := len(data) / c.Layers
		for i := range w.Blocks {
			*blockTensor(&w.Blocks[i], name) = data[i*per : (i+1)*per : (i+1)*per]
		}
	}
	return w, nil
}

// Checkpoint returns w as a llama2.c checkpoint, with the RoPE tables llama2.c stores
// computed from [RoPEFrequency]; the error names what the format cannot hold
// ([Config.Llama2C]).
func (w *Weights) Checkpoint() (*llama2c.Checkpoint, error) {
	if err := w.Config.Llama2C(); err != nil {
		return nil, fmt.Errorf("llama: not a llama2.c model: %w", err)
	}
	h := w.Config.Header()
	ck := &llama2c.Checkpoint{Header: h, Tensors: h.Layout()}
	real, imag := ropeTables(w.Config)
	for i := range ck.Tensors {
		t := &ck.Tensors[i]
		switch t.Name {
		case llama2c.TokenEmbedding:
			t.Data = w.Embedding
		case llama2c.RMSFinal:
			t.Data = w.NormFinal
		case llama2c.FreqCisReal:
			t.Data = real
		case llama2c.FreqCisImag:
			t.Data = imag
		case llama2c.Classifier:
			t.Data = w.Classifier
		default: // a per-layer tensor: the blocks' weights stacked
			t.Data = make([]float32, 0, t.Size())
			for li := range w.Blocks {
				t.Data = append(t.Data, *blockTensor(&w.Blocks[li], t.Name)...)
			}
		}
	}
	return ck, nil
}

// Encode returns w in the legacy llama2.c format that [ReadCheckpoint] and llama2.c's run.c
// read (write it with internal/atomicfile); the error says which tensor has the wrong
// size, or what the format cannot hold.
func (w *Weights) Encode() ([]byte, error) {
	ck, err := w.Checkpoint()
	if err != nil {
		return nil, err
	}
	return ck.Encode()
}

// ropeTables returns llama2.c's freq_cis_real and freq_cis_imag, [SeqLen, HeadDim/2] each:
// cos and sin of p·θ_i with θ_i = 10000^(−2i/HeadDim).
func ropeTables(c Config) (real, imag []float32) {
	half := c.HeadDim() / 2
	real = make([]float32, c.SeqLen*half)
	imag = make([]float32, c.SeqLen*half)
	for p := 0; p < c.SeqLen; p++ {
		for i := 0; i < half; i++ {
			angle := float64(p) * RoPEFrequency(i, c.HeadDim())
			real[p*half+i] = float32(math.Cos(angle))
			imag[p*half+i] = float32(math.Sin(angle))
		}
	}
	return real, imag
}

// RoPEFrequency is θ_i = 10000^(−2i/headDim), the rotation rate of pair i (Su et al. 2021,
// RoFormer eq. 15; llama2.c pairs adjacent coordinates 2i, 2i+1): [position.RoPEFrequency], the
// rate the graph's RoPE uses, so that the tables written to llama2.c files match it.
func RoPEFrequency(i, headDim int) float64 { return position.RoPEFrequency(i, headDim) }
