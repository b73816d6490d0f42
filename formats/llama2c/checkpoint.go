package llama2c

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/qzoo/qzoo/internal/sniff"
)

// Header is the architecture a legacy checkpoint's 7-int32 header states: dim, hidden_dim,
// n_layers, n_heads, n_kv_heads, vocab_size, seq_len. A negative vocab_size in the file
// marks a classifier stored apart from the token embedding (Shared false).
type Header struct {
	Dim       int // model width d
	HiddenDim int // feed-forward hidden width
	Layers    int
	Heads     int // query heads
	KVHeads   int // key/value heads
	VocabSize int
	SeqLen    int  // context length: the rows of the stored RoPE tables
	Shared    bool // the classifier is the token embedding (vocab_size > 0 in the file)
}

// HeadDim is Dim / Heads.
func (h Header) HeadDim() int { return h.Dim / h.Heads }

// KVDim is KVHeads · HeadDim, the output width of wk and wv.
func (h Header) KVDim() int { return h.KVHeads * h.HeadDim() }

// Bounds on a header, checked before anything is allocated: far above any model a CPU
// framework runs, far below what would exhaust memory through a corrupt header.
const (
	MaxDim    = 1 << 14
	MaxLayers = 256
	MaxVocab  = 1 << 18
	MaxSeqLen = 1 << 16
	maxFloats = 1 << 31 // float32 values in one file
)

// Validate checks the header's bounds and the divisibility its tensor shapes need.
func (h Header) Validate() error {
	switch {
	case h.Dim <= 0 || h.Dim > MaxDim:
		return fmt.Errorf("dim %d out of range [1, %d]", h.Dim, MaxDim)
	case h.HiddenDim <= 0 || h.HiddenDim > 8*MaxDim:
		return fmt.Errorf("hidden_dim %d out of range [1, %d]", h.HiddenDim, 8*MaxDim)
	case h.Layers <= 0 || h.Layers > MaxLayers:
		return fmt.Errorf("n_layers %d out of range [1, %d]", h.Layers, MaxLayers)
	case h.Heads <= 0 || h.Dim%h.Heads != 0:
		return fmt.Errorf("n_heads %d does not divide dim %d", h.Heads, h.Dim)
	case h.HeadDim()%2 != 0:
		return fmt.Errorf("head size %d is odd: RoPE rotates pairs", h.HeadDim())
	case h.KVHeads <= 0 || h.Heads%h.KVHeads != 0:
		return fmt.Errorf("n_kv_heads %d does not divide n_heads %d", h.KVHeads, h.Heads)
	case h.VocabSize <= 0 || h.VocabSize > MaxVocab:
		return fmt.Errorf("vocab_size %d out of range [1, %d]", h.VocabSize, MaxVocab)
	case h.SeqLen <= 0 || h.SeqLen > MaxSeqLen:
		return fmt.Errorf("seq_len %d out of range [1, %d]", h.SeqLen, MaxSeqLen)
	}
	return nil
}

// Tensor is one array of a checkpoint: its run.c name, its dimensions (row-major, PyTorch's
// [out, in] for a linear weight; the per-layer tensors stacked on a leading Layers axis) and
// its values.
type Tensor struct {
	Name string
	Dims []int
	Data []float32
}

// Size is the number of values the dimensions hold.
func (t Tensor) Size() int {
	n := 1
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Names of a legacy checkpoint's tensors, as run.c's TransformerWeights calls them.
const (
	TokenEmbedding = "token_embedding_table" // [VocabSize, Dim]
	RMSAtt         = "rms_att_weight"        // [Layers, Dim]
	WQ             = "wq"                    // [Layers, Dim, Dim]
	WK             = "wk"                    // [Layers, KVDim, Dim]
	WV             = "wv"                    // [Layers, KVDim, Dim]
	WO             = "wo"                    // [Layers, Dim, Dim]
	RMSFFN         = "rms_ffn_weight"        // [Layers, Dim]
	W1             = "w1"                    // [Layers, HiddenDim, Dim]
	W2             = "w2"                    // [Layers, Dim, HiddenDim]
	W3             = "w3"                    // [Layers, HiddenDim, Dim]
	RMSFinal       = "rms_final_weight"      // [Dim]
	FreqCisReal    = "freq_cis_real"         // [SeqLen, HeadDim/2]: cos of the RoPE angles
	FreqCisImag    = "freq_cis_imag"         // [SeqLen, HeadDim/2]: sin of the RoPE angles
	Classifier     = "wcls"                  // [VocabSize, Dim], only when !Shared
)

// Layout returns the tensors of a legacy checkpoint with header h, in file order, with
// their dimensions and no data.
func (h Header) Layout() []Tensor {
	d, l, kv, hid := h.Dim, h.Layers, h.KVDim(), h.HiddenDim
	ts := []Tensor{
		{Name: TokenEmbedding, Dims: []int{h.VocabSize, d}},
		{Name: RMSAtt, Dims: []int{l, d}},
		{Name: WQ, Dims: []int{l, d, d}},
		{Name: WK, Dims: []int{l, kv, d}},
		{Name: WV, Dims: []int{l, kv, d}},
		{Name: WO, Dims: []int{l, d, d}},
		{Name: RMSFFN, Dims: []int{l, d}},
		{Name: W1, Dims: []int{l, hid, d}},
		{Name: W2, Dims: []int{l, d, hid}},
		{Name: W3, Dims: []int{l, hid, d}},
		{Name: RMSFinal, Dims: []int{d}},
		{Name: FreqCisReal, Dims: []int{h.SeqLen, h.HeadDim() / 2}},
		{Name: FreqCisImag, Dims: []int{h.SeqLen, h.HeadDim() / 2}},
	}
	if !h.Shared {
		ts = append(ts, Tensor{Name: Classifier, Dims: []int{h.VocabSize, d}})
	}
	return ts
}

// floats is the number of float32 values after the header of a file with header h.
func (h Header) floats() int64 {
	var n int64
	for _, t := range h.Layout() {
		p := int64(1)
		for _, d := range t.Dims {
			p *= int64(d)
		}
		n += p
	}
	return n
}

// headerBytes is the size of the legacy header: 7 int32.
const headerBytes = 7 * 4

// Checkpoint is a legacy llama2.c checkpoint: its header and its tensors in file order
// (those of [Header.Layout]).
type Checkpoint struct {
	Header
	Tensors []Tensor
}

// Tensor returns the tensor called name, or nil.
func (c *Checkpoint) Tensor(name string) *Tensor {
	for i := range c.Tensors {
		if c.Tensors[i].Name == name {
			return &c.Tensors[i]
		}
	}
	return nil
}

// Read reads the legacy llama2.c checkpoint at path (see [Parse]); every error names the
// file.
func Read(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	c, err := Parse(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("llama2c: checkpoint %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a legacy llama2.c checkpoint of size bytes from r: the header, checked against
// its bounds and the file's length before any tensor is allocated, then the tensors of
// [Header.Layout], which must end the file. NaN and ±Inf values are refused, naming the
// tensor. A file that is something else (a Git LFS pointer, an HTML page, a llama2.c export
// of version 1 or 2, GGUF) is refused with an error saying so.
func Parse(r io.Reader, size int64) (*Checkpoint, error) {
	head := make([]byte, min(size, headerBytes))
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	if what := identify(head); what != "" {
		return nil, fmt.Errorf("this is %s, not a llama2.c legacy checkpoint", what)
	}
	if size < headerBytes {
		return nil, fmt.Errorf("%d bytes is shorter than the %d-byte header", size, headerBytes)
	}
	var raw [7]int32
	for i := range raw {
		raw[i] = int32(binary.LittleEndian.Uint32(head[4*i:]))
	}
	h := Header{Dim: int(raw[0]), HiddenDim: int(raw[1]), Layers: int(raw[2]), Heads: int(raw[3]),
		KVHeads: int(raw[4]), VocabSize: int(raw[5]), SeqLen: int(raw[6]), Shared: raw[5] > 0}
	if raw[5] < 0 {
		h.VocabSize = -int(raw[5])
	}
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("header %v: %w", raw, err)
	}
	floats := h.floats()
	if floats > maxFloats {
		return nil, fmt.Errorf("header %v describes %d values, over the limit %d", raw, floats, maxFloats)
	}
	if want := headerBytes + 4*floats; size != want {
		return nil, fmt.Errorf("header %v describes a %d-byte file, but it has %d bytes (truncated or not a llama2.c legacy checkpoint)", raw, want, size)
	}
	c := &Checkpoint{Header: h, Tensors: h.Layout()}
	for i := range c.Tensors {
		t := &c.Tensors[i]
		n := t.Size()
		buf := make([]byte, 4*n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("reading tensor %s: %w", t.Name, err)
		}
		t.Data = make([]float32, n)
		for j := range t.Data {
			x := math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("tensor %s holds %v at index %d", t.Name, x, j)
			}
			t.Data[j] = x
		}
	}
	return c, nil
}

// Encode returns c in the legacy format that [Parse] and llama2.c's run.c read (write it
// atomically, e.g. with internal/atomicfile). The tensors must be those of
// [Header.Layout], in its order and with its sizes; the error names the first that is not.
func (c *Checkpoint) Encode() ([]byte, error) {
	if err := c.Header.Validate(); err != nil {
		return nil, fmt.Errorf("llama2c: encoding a checkpoint: %w", err)
	}
	layout := c.Header.Layout()
	if len(c.Tensors) != len(layout) {
		return nil, fmt.Errorf("llama2c: encoding a checkpoint: %d tensors, its header needs %d", len(c.Tensors), len(layout))
	}
	for i, want := range layout {
		if got := c.Tensors[i]; got.Name != want.Name || len(got.Data) != want.Size() {
			return nil, fmt.Errorf("llama2c: encoding a checkpoint: tensor %d is %s of %d values, want %s %v (%d values)",
				i, got.Name, len(got.Data), want.Name, want.Dims, want.Size())
		}
	}
	vocab := int32(c.VocabSize)
	if !c.Shared {
		vocab = -vocab
	}
	buf := make([]byte, 0, headerBytes+4*c.Header.floats())
	for _, v := range []int32{int32(c.Dim), int32(c.HiddenDim), int32(c.Layers), int32(c.Heads), int32(c.KVHeads), vocab, int32(c.SeqLen)} {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
	}
	for _, t := range c.Tensors {
		for _, x := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	return buf, nil
}

// exportMagic is the uint32 that starts llama2.c's export.py files of version 1 and later
// ("ak42" in ASCII, written little-endian).
const exportMagic = 0x616b3432

// identify says what the start of a file looks like when it is recognisably not a llama2.c
// legacy checkpoint or tokenizer ("" otherwise): a Git LFS pointer (the repository was
// cloned without git-lfs), an HTML page (a download that returned a web page), a newer
// llama2.c export (export.py --version 1 or 2, which run.c's legacy reader cannot read) or a
// GGUF file (llama.cpp).
func identify(b []byte) string {
	if what := sniff.StandIn(b); what != "" {
		return what
	}
	switch {
	case bytes.HasPrefix(b, []byte("GGUF")):
		return "a GGUF file (llama.cpp's format)"
	case len(b) >= 8 && binary.LittleEndian.Uint32(b) == exportMagic:
		v := int32(binary.LittleEndian.Uint32(b[4:]))
		return fmt.Sprintf("a llama2.c export of version %d (magic \"ak42\"; export.py --version %d), which this reader does not read: export it with --version 0 (the legacy format)", v, v)
	}
	return ""
}
