package llama

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/qzoo/qzoo/layers/position"
)

// Config is the architecture of a llama2.c model: the 7 int32 of a legacy checkpoint header.
type Config struct {
	Dim       int // model width d
	HiddenDim int // SwiGLU hidden width (172 for stories260K: not a multiple of 32)
	Layers    int
	Heads     int // query heads
	KVHeads   int // key/value heads (grouped-query attention when < Heads)
	VocabSize int
	SeqLen    int  // context length (positions RoPE was trained for)
	Shared    bool // the classifier is the token embedding (llama2.c: vocab_size > 0 in the header)
}

// HeadDim is d / Heads.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

// KVDim is KVHeads · HeadDim, the width of the key and value projections.
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim() }

// Limits on a checkpoint header, checked before anything is allocated: far above any model a
// CPU framework runs, far below what would exhaust memory through a corrupt header.
const (
	maxDim    = 1 << 14
	maxLayers = 256
	maxVocab  = 1 << 18
	maxSeqLen = 1 << 16
	maxParams = 1 << 31 // float32 values in one file
)

// Validate checks the architecture's consistency and bounds.
func (c Config) Validate() error {
	switch {
	case c.Dim <= 0 || c.Dim > maxDim:
		return fmt.Errorf("dim %d out of range [1, %d]", c.Dim, maxDim)
	case c.HiddenDim <= 0 || c.HiddenDim > 8*maxDim:
		return fmt.Errorf("hidden_dim %d out of range [1, %d]", c.HiddenDim, 8*maxDim)
	case c.Layers <= 0 || c.Layers > maxLayers:
		return fmt.Errorf("n_layers %d out of range [1, %d]", c.Layers, maxLayers)
	case c.Heads <= 0 || c.Dim%c.Heads != 0:
		return fmt.Errorf("n_heads %d does not divide dim %d", c.Heads, c.Dim)
	case c.HeadDim()%2 != 0:
		return fmt.Errorf("head size %d is odd: RoPE rotates pairs", c.HeadDim())
	case c.KVHeads <= 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("n_kv_heads %d does not divide n_heads %d", c.KVHeads, c.Heads)
	case c.VocabSize <= 0 || c.VocabSize > maxVocab:
		return fmt.Errorf("vocab_size %d out of range [1, %d]", c.VocabSize, maxVocab)
	case c.SeqLen <= 0 || c.SeqLen > maxSeqLen:
		return fmt.Errorf("seq_len %d out of range [1, %d]", c.SeqLen, maxSeqLen)
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
	WO       []float32 // [Dim, Heads·HeadDim]
	FFNNorm  []float32 // [Dim] RMSNorm gain before the feed-forward
	W1       []float32 // [HiddenDim, Dim] gate
	W2       []float32 // [Dim, HiddenDim] down
	W3       []float32 // [HiddenDim, Dim] up
}

// Linear names the seven linear layers of a block, in llama2.c's names.
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
	return n + 2*c.Layers*c.Dim
}

// headerBytes is the size of the legacy llama2.c header: 7 int32.
const headerBytes = 7 * 4

// fileFloats is the number of float32 values after the header of a legacy checkpoint of c,
// including the RoPE tables llama2.c stores (and this package recomputes).
func (c Config) fileFloats() int64 {
	n := int64(c.NumParams())
	return n + int64(c.SeqLen)*int64(c.HeadDim()) // freq_cis_real and _imag: 2 × SeqLen × HeadDim/2
}

// ReadCheckpoint reads a llama2.c legacy checkpoint (run.c's format: the 7-int32 header dim,
// hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative: separate classifier),
// seq_len, then float32 little-endian tensors). The header is checked against its bounds and
// the file length before any tensor is allocated; every error names the file.
func ReadCheckpoint(path string) (*Weights, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	w, err := ParseCheckpoint(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("llama: checkpoint %s: %w", path, err)
	}
	return w, nil
}

// ParseCheckpoint reads a legacy llama2.c checkpoint of size bytes from r (see
// [ReadCheckpoint]). The file must end exactly after the last tensor.
func ParseCheckpoint(r io.Reader, size int64) (*Weights, error) {
	var h [7]int32
	if size < headerBytes {
		return nil, fmt.Errorf("%d bytes is shorter than the %d-byte header", size, headerBytes)
	}
	if err := binary.Read(r, binary.LittleEndian, &h); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	c := Config{Dim: int(h[0]), HiddenDim: int(h[1]), Layers: int(h[2]), Heads: int(h[3]),
		KVHeads: int(h[4]), VocabSize: int(h[5]), SeqLen: int(h[6]), Shared: h[5] > 0}
	if h[5] < 0 {
		c.VocabSize = -int(h[5])
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("header %v: %w", h, err)
	}
	floats := c.fileFloats()
	if floats > maxParams {
		return nil, fmt.Errorf("header %v describes %d parameters, over the limit %d", h, floats, maxParams)
	}
	if want := headerBytes + 4*floats; size != want {
		return nil, fmt.Errorf("header %v describes a %d-byte file, but it has %d bytes (truncated or not a llama2.c legacy checkpoint)", h, want, size)
	}
	rd := &floatReader{r: r}
	w := &Weights{Config: c}
	w.Embedding = rd.read(c.VocabSize * c.Dim)
	w.Blocks = make([]Layer, c.Layers)
	per := func(n int, get func(*Layer) *[]float32) {
		for i := range w.Blocks {
			*get(&w.Blocks[i]) = rd.read(n)
		}
	}
	per(c.Dim, func(l *Layer) *[]float32 { return &l.AttnNorm })
	for _, name := range []string{"wq", "wk", "wv", "wo"} {
		o, i := c.LinearShape(name)
		per(o*i, func(l *Layer) *[]float32 { return l.Linear(name) })
	}
	per(c.Dim, func(l *Layer) *[]float32 { return &l.FFNNorm })
	for _, name := range []string{"w1", "w2", "w3"} {
		o, i := c.LinearShape(name)
		per(o*i, func(l *Layer) *[]float32 { return l.Linear(name) })
	}
	w.NormFinal = rd.read(c.Dim)
	rd.read(c.SeqLen * c.HeadDim()) // RoPE tables: recomputed from positions
	if !c.Shared {
		w.Classifier = rd.read(c.VocabSize * c.Dim)
	}
	if rd.err != nil {
		return nil, fmt.Errorf("reading tensors: %w", rd.err)
	}
	if err := w.checkFinite(); err != nil {
		return nil, err
	}
	return w, nil
}

type floatReader struct {
	r   io.Reader
	err error
}

func (f *floatReader) read(n int) []float32 {
	if f.err != nil {
		return nil
	}
	buf := make([]byte, 4*n)
	if _, err := io.ReadFull(f.r, buf); err != nil {
		f.err = err
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	return out
}

// checkFinite refuses NaN and ±Inf weights, naming the tensor.
func (w *Weights) checkFinite() error {
	check := func(name string, v []float32) error {
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("tensor %s holds %v at index %d", name, x, i)
			}
		}
		return nil
	}
	errs := []error{check("token_embedding", w.Embedding), check("rms_final", w.NormFinal), check("classifier", w.Classifier)}
	for li := range w.Blocks {
		l := &w.Blocks[li]
		errs = append(errs, check(fmt.Sprintf("layer %d rms_att", li), l.AttnNorm), check(fmt.Sprintf("layer %d rms_ffn", li), l.FFNNorm))
		for _, name := range LinearNames {
			errs = append(errs, check(fmt.Sprintf("layer %d %s", li, name), *l.Linear(name)))
		}
	}
	return errors.Join(errs...)
}

// Encode returns w in the legacy llama2.c format that [ReadCheckpoint] and llama2.c's run.c
// read (write it with framework.WriteFileAtomic).
func (w *Weights) Encode() []byte {
	c := w.Config
	vocab := int32(c.VocabSize)
	if !c.Shared {
		vocab = -vocab
	}
	buf := make([]byte, 0, headerBytes+4*c.fileFloats())
	for _, v := range []int32{int32(c.Dim), int32(c.HiddenDim), int32(c.Layers), int32(c.Heads), int32(c.KVHeads), vocab, int32(c.SeqLen)} {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
	}
	put := func(v []float32) {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	put(w.Embedding)
	for i := range w.Blocks {
		put(w.Blocks[i].AttnNorm)
	}
	for _, name := range []string{"wq", "wk", "wv", "wo"} {
		for i := range w.Blocks {
			put(*w.Blocks[i].Linear(name))
		}
	}
	for i := range w.Blocks {
		put(w.Blocks[i].FFNNorm)
	}
	for _, name := range []string{"w1", "w2", "w3"} {
		for i := range w.Blocks {
			put(*w.Blocks[i].Linear(name))
		}
	}
	put(w.NormFinal)
	real, imag := ropeTables(c)
	put(real)
	put(imag)
	if !c.Shared {
		put(w.Classifier)
	}
	return buf
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
