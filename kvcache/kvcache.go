// Package kvcache quantizes the key/value cache of a decoder-only transformer, host side, in
// pure Go: a stream of per-token key and value vectors goes in, a packed stored form (codes,
// scales, zero points, sparse outliers, full-precision tokens) is kept, and the dequantized
// vectors come out for attention. models/llama drives it during generation and perplexity
// evaluation; this package builds no graphs. Its hyperparameters, the kv_* keys ([Params],
// read by [ConfigFromParams]), are declared here so that any transformer of the zoo can
// offer them.
//
// # Layout
//
// One cache holds, per sequence, per layer, two streams (keys and values) of vectors of
// W = KVHeads·HeadDim values per token, heads contiguous: value c of a token belongs to
// key/value head c / HeadDim, channel c mod HeadDim. Grouped-query attention needs nothing more
// (the query heads that share a key/value head read the same dequantized vector). Keys are
// given both before and after the rotary embedding; a method that quantizes pre-RoPE keys
// applies RoPE (Shape.RoPE) after dequantizing.
//
// # Methods (Config.Method, key kv_quant)
//
//   - fp32: the uncompressed cache (32 bits per value), the reference every delta is
//     measured against; fp16: every value rounded to binary16.
//   - kivi: KIVI (Liu et al. 2024, "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV
//     Cache"): see kivi.go.
//   - kvquant: KVQuant (Hooper et al. 2024, "KVQuant: Towards 10 Million Context Length LLM
//     Inference with KV Cache Quantization"): see kvquant.go.
//   - rotation: a random orthogonal (Hadamard) rotation per head then a Lloyd-Max scalar
//     quantizer (the TurboQuant / PolarQuant family): see rotation.go.
//   - vq, rvq, simvq: vector quantization of per-head vectors with codebooks fitted on
//     calibration activations: see vq.go.
//
// Two options wrap any method: Config.Sink keeps the first tokens in fp16 (the attention
// sink; kivi, kvquant, rotation and the vq family), Config.Residual the most recent ones
// (KIVI's window, aligned to its key groups; any other method keeps exactly the last
// Residual tokens and quantizes a token as it leaves, [withResidual]). Config.PreRoPE makes
// the key stream the keys before RoPE ([Sequence.Read] rotates them after dequantizing).
//
// # Storage
//
// [Sequence.Storage] counts what a sequence's cache holds, from the stored arrays themselves,
// in the zoo's vocabulary (package quant/scheme, in bits): packed codes, fp16 scales and
// zero points, sparse outliers (values, and indices with their counts), full-precision (fp16)
// window and sink tokens; [Sequence.Bytes] is its total in bytes. Constants shared by every
// sequence (calibrated ranges, lookup tables, codebooks, channel means) are counted apart by
// [Quantizer.ConstantStorage] ([Quantizer.ConstantBytes]). [Config.Scheme] describes each
// side's quantizer in the same vocabulary, and [CommonKeys] names kv_bits and kv_group. Per token
// of one layer and side (W = KVHeads·HeadDim values, b bits, g = Group, G = KeyGroup):
//
//	method     stored per token (bytes)                            constants
//	fp32/fp16  4·W / 2·W                                           —
//	kivi       keys ⌈W·b/8⌉ + 4·W/G (per-channel fp16 scale and     —
//	           zero per group of G tokens), values ⌈W·b/8⌉ + 4·W/g;
//	           window tokens 2·W
//	kvquant    ⌈W·b/8⌉, + 4·W/g when scaled per token, + 1 count   ranges, LUT, outlier
//	           byte and 3 bytes per sparse outlier                  thresholds, Q-Norm [W]
//	rotation   ⌈W·b/8⌉ + 2·W/g (fp16 RMS per group)                 levels [2^b], means [W]
//	vq, simvq  ⌈W·b/8⌉ packed codeword indices                      codebooks per head
//	rvq        ⌈W·b/8⌉ (b stages of 2^CodebookBits codewords)       codebooks per head and stage
//
// For stories260K (W = 32, g = 32, G = 32) at b = 4: kivi 4 + 1 + 1 = 6 bits per value plus
// its window, kvquant 4 + 0.5 + outliers, rotation 4.5, vq 4.
package kvcache

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/internal/registry"
	"github.com/qzoo/qzoo/quant/scheme"
)

// Side is one of a layer's two streams.
type Side int

const (
	Keys Side = iota
	Values
)

func (s Side) String() string {
	if s == Keys {
		return "keys"
	}
	return "values"
}

// Shape is the geometry of a model's cache.
type Shape struct {
	Layers, KVHeads, HeadDim int
	// RoPE rotates the key vector x [W] (all heads) of the token at position pos in place,
	// as the model does after the key projection; used by methods that quantize pre-RoPE keys.
	RoPE func(x []float32, pos int)
}

// Width is W = KVHeads·HeadDim, the values per token per layer and side.
func (s Shape) Width() int { return s.KVHeads * s.HeadDim }

// Methods.
const (
	MethodFP32     = "fp32"
	MethodFP16     = "fp16"
	MethodKIVI     = "kivi"
	MethodKVQuant  = "kvquant"
	MethodRotation = "rotation"
	MethodVQ       = "vq"
	MethodRVQ      = "rvq"
	MethodSimVQ    = "simvq"
)

// Methods lists the values of Config.Method.
var Methods = []string{MethodFP32, MethodFP16, MethodKIVI, MethodKVQuant, MethodRotation, MethodVQ, MethodRVQ, MethodSimVQ}

// Config holds a cache quantizer's hyperparameters. Each field's key (the kv_* hyperparameter
// of [Params], read by [ConfigFromParams]) is given in its comment; errors name that key.
type Config struct {
	Method    string // kv_quant
	KeyBits   int    // kv_key_bits (ConfigFromParams: kv_bits unless set): bits per key value
	ValueBits int    // kv_value_bits (kv_bits unless set)
	// Group (kv_group) is the number of consecutive channels of a token that share a scale and
	// zero point (per-token quantization: values, and keys when not per channel): a divisor of
	// HeadDim, or a multiple of HeadDim that divides W (several heads of a token together).
	Group int
	// KeyGroup (kv_key_group) is the number of consecutive tokens that share a per-channel
	// key scale and zero point (KIVI's grouping along tokens).
	KeyGroup int
	// Residual (kv_residual) is the window of most recent tokens kept in fp16 (0: every
	// token quantized). KIVI aligns it to its key groups (see kivi.go); every other method
	// keeps exactly the last Residual tokens in fp16 and quantizes a token when it leaves the
	// window (see [withResidual]).
	Residual int
	// KVQuant's steps, each switchable for the ablation:
	KeyPerChannel bool    // kv_key_per_channel: keys scaled per channel (calibrated), not per token
	PreRoPE       bool    // kv_pre_rope: keys quantized before RoPE, RoPE applied after dequantizing
	NonUniform    bool    // kv_nonuniform: Fisher-weighted k-means datatype instead of a uniform grid
	Outliers      float64 // kv_outliers: fraction of values kept sparse in full precision
	Sink          int     // kv_sink: first tokens kept in fp16 (attention sink)
	QNorm         bool    // kv_qnorm: per-channel affine correction matching mean and std after quantization
	// CodebookBits (kv_codebook_bits) caps a vq/rvq/simvq codebook at 2^CodebookBits entries.
	CodebookBits int
	// Iterations (kv_iterations) of k-means / Lloyd-Max / SimVQ fitting.
	Iterations int
	Seed       int64 // kv_seed: rotations, codebook initialisation
}

// Constant is a fitted constant of a quantizer, shared by every sequence: a float32 array
// with its dimensions, named like "layer_02/keys/lut" so that it can be stored in a
// checkpoint and checked when loaded back.
type Constant struct {
	Name string
	Dims []int
	Data []float32
}

// Activations are the calibration data of [Fit]: per layer, N token vectors [N, W] of keys
// before and after RoPE and of values, row-major, and the diagonal Fisher information of
// each (the squared gradient of the sequence's log-likelihood with respect to that
// activation, same layout; nil when not computed).
type Activations struct {
	N      int
	Layers []LayerActivations
}

// LayerActivations is one layer's calibration data (see [Activations]).
type LayerActivations struct {
	KeysPre, Keys, Values                   []float32
	KeysPreFisher, KeysFisher, ValuesFisher []float32
}

// codec quantizes one layer's keys or values (W values per token) for any number of
// sequences; its constants are fitted once.
type codec interface {
	newStream() stream
	constants() []Constant // names relative to the codec (e.g. "lut"), prefixed by the quantizer
	constantBytes() int    // the constants as stored (fp16 tables count 2 bytes per entry)
}

// stream is one sequence's stored keys or values of one layer.
type stream interface {
	// append stores the next token's vector x [W] at position pos (= the number of tokens
	// stored before it) and returns the first token whose dequantized vector changed: pos
	// itself, or earlier when storing it re-quantized older tokens (KIVI's groups).
	append(x []float32, pos int) (from int)
	// read writes the dequantized vector [W] of token j < stored count into dst.
	read(j int, dst []float32)
	// storage is the storage held now, in bits (Values left to the [Sequence]).
	storage() scheme.Storage
}

// method is a registered quantization method.
type method struct {
	// calibrated says whether fit needs activations (else fit gets nil ones).
	calibrated func(Config) bool
	// fit builds the codec of one layer and side from calibration vectors x [n, W] and
	// their Fisher information (nil when not computed).
	fit func(cfg Config, shape Shape, side Side, x, fisher []float32, n int) (codec, error)
	// load rebuilds a codec from its constants (names without the quantizer's prefix),
	// checking every name and dimension.
	load func(cfg Config, shape Shape, side Side, consts map[string]Constant) (codec, error)
	// validate checks the method's own fields.
	validate func(cfg Config, shape Shape) error
}

var methods = registry.New[method]("kv_quant method")

func register(name string, m method) { methods.Register(name, m) }

// Validate checks the config against the cache's shape; errors name the kv_* key.
func (c Config) Validate(shape Shape) error {
	m, err := methods.Lookup(c.Method)
	if err != nil {
		return fmt.Errorf("kvcache: kv_quant %q is not one of %s", c.Method, strings.Join(Methods, ", "))
	}
	if shape.Layers < 1 || shape.KVHeads < 1 || shape.HeadDim < 1 {
		return fmt.Errorf("kvcache: invalid cache shape %+v", shape)
	}
	if c.Method != MethodFP32 && c.Method != MethodFP16 {
		for _, b := range []struct {
			key string
			v   int
		}{{"kv_key_bits", c.KeyBits}, {"kv_value_bits", c.ValueBits}} {
			if b.v < 1 || b.v > 8 {
				return fmt.Errorf("kvcache: %s=%d: bits per value must be in [1, 8]", b.key, b.v)
			}
		}
	}
	if !(c.Outliers >= 0 && c.Outliers < 0.5) {
		return fmt.Errorf("kvcache: kv_outliers=%v must be in [0, 0.5)", c.Outliers)
	}
	if c.Sink < 0 || c.Residual < 0 || c.KeyGroup < 0 {
		return fmt.Errorf("kvcache: kv_sink, kv_residual and kv_key_group must be ≥ 0 (got %d, %d, %d)", c.Sink, c.Residual, c.KeyGroup)
	}
	if m.validate != nil {
		return m.validate(c, shape)
	}
	return nil
}

// checkGroup checks that Group splits a token's W channels into whole groups that never
// straddle a head boundary partially: a divisor of HeadDim, or a multiple of HeadDim
// dividing W.
func checkGroup(c Config, shape Shape) error {
	g, h, w := c.Group, shape.HeadDim, shape.Width()
	if g >= 1 && (h%g == 0 || (g%h == 0 && w%g == 0)) {
		return nil
	}
	return fmt.Errorf("kvcache: kv_group=%d must divide the head dimension %d, or be a multiple of it that divides the %d channels of a token", g, h, w)
}

// Quantizer is a cache quantizer with its constants fitted: one codec per layer and side.
type Quantizer struct {
	Config Config
	Shape  Shape
	codecs [][2]codec
}

// NeedsCalibration says whether the method fits constants on activations ([Fit]); otherwise
// [New] builds it.
func (c Config) NeedsCalibration() bool {
	m, err := methods.Lookup(c.Method)
	return err == nil && m.calibrated != nil && m.calibrated(c)
}

// New builds a quantizer that needs no calibration.
func New(cfg Config, shape Shape) (*Quantizer, error) {
	if cfg.NeedsCalibration() {
		return nil, fmt.Errorf("kvcache: kv_quant=%s needs calibration activations (Fit)", cfg.Method)
	}
	return Fit(cfg, shape, nil)
}

// Fit fits the quantizer's constants on calibration activations (nil for methods that need
// none).
func Fit(cfg Config, shape Shape, act *Activations) (*Quantizer, error) {
	if err := cfg.Validate(shape); err != nil {
		return nil, err
	}
	m, _ := methods.Lookup(cfg.Method) // Validate checked it
	w := shape.Width()
	if cfg.NeedsCalibration() {
		if act == nil || act.N < 1 {
			return nil, fmt.Errorf("kvcache: kv_quant=%s needs calibration activations", cfg.Method)
		}
		if len(act.Layers) != shape.Layers {
			return nil, fmt.Errorf("kvcache: calibration activations hold %d layers, the model %d", len(act.Layers), shape.Layers)
		}
	}
	q := &Quantizer{Config: cfg, Shape: shape, codecs: make([][2]codec, shape.Layers)}
	for l := range shape.Layers {
		for _, side := range []Side{Keys, Values} {
			var x, f []float32
			n := 0
			if act != nil && len(act.Layers) == shape.Layers {
				n = act.N
				la := act.Layers[l]
				switch {
				case side == Values:
					x, f = la.Values, la.ValuesFisher
				case cfg.PreRoPE:
					x, f = la.KeysPre, la.KeysPreFisher
				default:
					x, f = la.Keys, la.KeysFisher
				}
				if cfg.NeedsCalibration() && len(x) != n*w {
					return nil, fmt.Errorf("kvcache: layer %d %s: calibration activations hold %d values, want %d×%d", l, side, len(x), n, w)
				}
				if f != nil && len(f) != len(x) {
					return nil, fmt.Errorf("kvcache: layer %d %s: Fisher information holds %d values, activations %d", l, side, len(f), len(x))
				}
			}
			c, err := m.fit(cfg, shape, side, x, f, n)
			if err != nil {
				return nil, fmt.Errorf("kvcache: fitting layer %d %s: %w", l, side, err)
			}
			q.codecs[l][side] = c
		}
	}
	return q, nil
}

func prefix(layer int, side Side) string { return fmt.Sprintf("layer_%02d/%s/", layer, side) }

// Constants returns the fitted constants of every layer and side, named
// "layer_LL/<keys|values>/<name>".
func (q *Quantizer) Constants() []Constant {
	var out []Constant
	for l, cs := range q.codecs {
		for side, c := range cs {
			for _, k := range c.constants() {
				k.Name = prefix(l, Side(side)) + k.Name
				out = append(out, k)
			}
		}
	}
	return out
}

// Load rebuilds a quantizer from the constants [Quantizer.Constants] returned; a missing or
// unexpected constant, or one of the wrong dimensions, is an error naming it.
func Load(cfg Config, shape Shape, consts []Constant) (*Quantizer, error) {
	if err := cfg.Validate(shape); err != nil {
		return nil, err
	}
	m, _ := methods.Lookup(cfg.Method) // Validate checked it
	byName := map[string]Constant{}
	for _, c := range consts {
		if _, dup := byName[c.Name]; dup {
			return nil, fmt.Errorf("kvcache: constant %q given twice", c.Name)
		}
		size := 1
		for _, d := range c.Dims {
			if d < 0 {
				return nil, fmt.Errorf("kvcache: constant %q has negative dimensions %v", c.Name, c.Dims)
			}
			size *= d
		}
		if size != len(c.Data) {
			return nil, fmt.Errorf("kvcache: constant %q: dimensions %v hold %d values, data %d", c.Name, c.Dims, size, len(c.Data))
		}
		for i, v := range c.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("kvcache: constant %q holds %v at %d", c.Name, v, i)
			}
		}
		byName[c.Name] = c
	}
	q := &Quantizer{Config: cfg, Shape: shape, codecs: make([][2]codec, shape.Layers)}
	used := 0
	for l := range shape.Layers {
		for _, side := range []Side{Keys, Values} {
			p := prefix(l, side)
			mine := map[string]Constant{}
			for name, c := range byName {
				if rest, ok := strings.CutPrefix(name, p); ok {
					mine[rest] = c
				}
			}
			used += len(mine)
			c, err := m.load(cfg, shape, side, mine)
			if err != nil {
				return nil, fmt.Errorf("kvcache: loading layer %d %s: %w", l, side, err)
			}
			q.codecs[l][side] = c
		}
	}
	if used != len(byName) {
		var extra []string
		for name := range byName {
			var l int
			if _, err := fmt.Sscanf(name, "layer_%02d/", &l); err != nil || l < 0 || l >= shape.Layers ||
				!(strings.HasPrefix(name, prefix(l, Keys)) || strings.HasPrefix(name, prefix(l, Values))) {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		return nil, fmt.Errorf("kvcache: constants %v belong to no layer and side of this %d-layer cache", extra, shape.Layers)
	}
	return q, nil
}

// ConstantStorage is the constants shared by every sequence, as Shared bits.
func (q *Quantizer) ConstantStorage() scheme.Storage {
	return scheme.Storage{Shared: 8 * float64(q.ConstantBytes())}
}

// ConstantBytes is the storage of the constants shared by every sequence.
func (q *Quantizer) ConstantBytes() int {
	n := 0
	for _, cs := range q.codecs {
		for _, c := range cs {
			n += c.constantBytes()
		}
	}
	return n
}

// Sequence is one sequence's quantized cache.
type Sequence struct {
	q       *Quantizer
	streams [][2]stream
	n       []int // tokens stored per layer
}

// NewSequence returns an empty cache for one sequence.
func (q *Quantizer) NewSequence() *Sequence {
	s := &Sequence{q: q, streams: make([][2]stream, q.Shape.Layers), n: make([]int, q.Shape.Layers)}
	for l, cs := range q.codecs {
		s.streams[l] = [2]stream{cs[Keys].newStream(), cs[Values].newStream()}
		if q.Config.Method != MethodKIVI && q.Config.Residual > 0 {
			for i := range s.streams[l] {
				s.streams[l][i] = withResidual(q.Config.Residual, q.Shape.Width(), s.streams[l][i])
			}
		}
	}
	return s
}

// residualStream keeps the most recent r tokens in fp16 in front of another stream, which
// gets each token (its fp16-rounded values) when it leaves the window: KIVI's full-precision
// window for any quantizer. Storage: the inner stream's plus 2·W bytes per window token.
type residualStream struct {
	r, w   int
	recent []uint16 // [≤ r, W] fp16, oldest first
	inner  stream
	n      int // tokens handed to inner
	buf    []float32
}

// withResidual wraps inner with a window of the r most recent tokens in fp16 (inner itself
// when r is 0).
func withResidual(r, w int, inner stream) stream {
	if r == 0 {
		return inner
	}
	return &residualStream{r: r, w: w, inner: inner, buf: make([]float32, w)}
}

func (s *residualStream) append(x []float32, pos int) int {
	s.recent = appendFloat16(s.recent, x)
	if len(s.recent) <= s.r*s.w {
		return pos
	}
	readFloat16(s.recent[:s.w], s.buf)
	s.recent = append(s.recent[:0], s.recent[s.w:]...)
	from := s.inner.append(s.buf, s.n)
	s.n++
	return min(from, pos)
}

func (s *residualStream) read(j int, dst []float32) {
	if j < s.n {
		s.inner.read(j, dst)
		return
	}
	readFloat16(s.recent[(j-s.n)*s.w:(j-s.n+1)*s.w], dst)
}

func (s *residualStream) storage() scheme.Storage {
	return s.inner.storage().Add(scheme.Storage{FullPrecision: 16 * float64(len(s.recent))})
}

// Len is the number of tokens stored in layer.
func (s *Sequence) Len(layer int) int { return s.n[layer] }

// Append stores the next token of layer: its keys before RoPE (keysPre) and after (keys),
// and its values, [W] each. It returns the first token whose stored keys or values changed
// (the new token's position, or earlier when older tokens were re-quantized); tokens from
// there on must be read again.
func (s *Sequence) Append(layer int, keysPre, keys, values []float32) (from int) {
	kf, vf := s.AppendSides(layer, keysPre, keys, values)
	return min(kf, vf)
}

// AppendSides is Append returning the first token whose stored keys changed and the first
// whose stored values changed, each the new token's position or earlier: a reader need read
// again only the keys from keysFrom ([Sequence.ReadKeys]) and the values from valuesFrom.
func (s *Sequence) AppendSides(layer int, keysPre, keys, values []float32) (keysFrom, valuesFrom int) {
	pos := s.n[layer]
	k := keys
	if s.q.Config.PreRoPE {
		k = keysPre
	}
	keysFrom = s.streams[layer][Keys].append(k, pos)
	valuesFrom = s.streams[layer][Values].append(values, pos)
	s.n[layer]++
	return keysFrom, valuesFrom
}

// Read writes the dequantized keys (after RoPE) and values [W] of token j of layer into k
// and v.
func (s *Sequence) Read(layer, j int, k, v []float32) {
	s.ReadKeys(layer, j, k)
	s.ReadValues(layer, j, v)
}

// ReadKeys writes the dequantized keys (after RoPE) [W] of token j of layer into k.
func (s *Sequence) ReadKeys(layer, j int, k []float32) {
	s.check(layer, j)
	s.streams[layer][Keys].read(j, k)
	if s.q.Config.PreRoPE {
		s.q.Shape.RoPE(k, j)
	}
}

// ReadValues writes the dequantized values [W] of token j of layer into v.
func (s *Sequence) ReadValues(layer, j int, v []float32) {
	s.check(layer, j)
	s.streams[layer][Values].read(j, v)
}

// check panics unless token j of layer is stored.
func (s *Sequence) check(layer, j int) {
	if j < 0 || j >= s.n[layer] {
		panic(fmt.Sprintf("kvcache: Read token %d of layer %d holding %d", j, layer, s.n[layer]))
	}
}

// Storage is what the sequence's cache holds now (every layer, keys and values), in bits:
// Codes, the packed codes (fp32 and fp16: the values themselves); Scales and ZeroPoints, the
// fp16 scales and zero points or offsets; OutlierValues and OutlierIndices, kvquant's fp16
// sparse values and their channel indices and per-token counts; FullPrecision, the fp16
// window and attention-sink tokens. Values is the values stored (tokens · layers · 2 · W).
// The constants shared by every sequence are [Quantizer.ConstantStorage].
func (s *Sequence) Storage() scheme.Storage {
	var st scheme.Storage
	for l, streams := range s.streams {
		st = st.Add(streams[Keys].storage()).Add(streams[Values].storage())
		st.Values += int64(2 * s.n[l] * s.q.Shape.Width())
	}
	return st
}

// Bytes is the storage the sequence's cache holds now, Storage's total in bytes (every term
// is a whole number of bytes).
func (s *Sequence) Bytes() int { return int(s.Storage().Total()) / 8 }

// BitsPerValue is Storage's bits per value stored (0 before the first token).
func (s *Sequence) BitsPerValue() float64 { return s.Storage().BitsPerValue() }

// ----- fp32 and fp16 -----

func init() {
	for _, name := range []string{MethodFP32, MethodFP16} {
		half := name == MethodFP16
		register(name, method{
			fit: func(cfg Config, shape Shape, side Side, _, _ []float32, _ int) (codec, error) {
				return floatCodec{w: shape.Width(), half: half}, nil
			},
			load: func(cfg Config, shape Shape, side Side, consts map[string]Constant) (codec, error) {
				if err := expectConstants(consts); err != nil {
					return nil, err
				}
				return floatCodec{w: shape.Width(), half: half}, nil
			},
		})
	}
}

// want names a constant a codec expects and its dimensions.
type want struct {
	name string
	dims []int
}

// expectConstants checks that consts holds exactly the wanted constants with their
// dimensions; the error names the first one missing, misshapen or unexpected.
func expectConstants(consts map[string]Constant, wants ...want) error {
	for _, w := range wants {
		c, ok := consts[w.name]
		if !ok {
			return fmt.Errorf("constant %q missing", w.name)
		}
		if !slices.Equal(c.Dims, w.dims) {
			return fmt.Errorf("constant %q has dimensions %v, want %v", w.name, c.Dims, w.dims)
		}
	}
	if len(consts) != len(wants) {
		var extra []string
		for name := range consts {
			if !slices.ContainsFunc(wants, func(w want) bool { return w.name == name }) {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		return fmt.Errorf("unexpected constants %v", extra)
	}
	return nil
}

// floatCodec stores every value as fp32 or fp16.
type floatCodec struct {
	w    int
	half bool
}

func (c floatCodec) newStream() stream     { return &floatStream{c: c} }
func (c floatCodec) constants() []Constant { return nil }
func (c floatCodec) constantBytes() int    { return 0 }

type floatStream struct {
	c   floatCodec
	f32 []float32
	f16 []uint16
}

func (s *floatStream) append(x []float32, pos int) int {
	if s.c.half {
		s.f16 = appendFloat16(s.f16, x)
	} else {
		s.f32 = append(s.f32, x...)
	}
	return pos
}

func (s *floatStream) read(j int, dst []float32) {
	w := s.c.w
	if s.c.half {
		readFloat16(s.f16[j*w:(j+1)*w], dst)
	} else {
		copy(dst, s.f32[j*w:(j+1)*w])
	}
}

func (s *floatStream) storage() scheme.Storage {
	return scheme.Storage{Codes: 32*float64(len(s.f32)) + 16*float64(len(s.f16))}
}

// MaxSpan is the most tokens one [Sequence.Append] can change (the new token and the older
// ones it re-quantizes): KIVI's flush of a group of KeyGroup tokens behind a Residual window
// changes up to Residual+KeyGroup tokens; another method's window Residual+1 (the new token
// and the one leaving the window); without a window, only the new one.
func (q *Quantizer) MaxSpan() int {
	if q.Config.Method == MethodKIVI {
		return max(1, q.Config.Residual+q.Config.KeyGroup)
	}
	return q.Config.Residual + 1
}
