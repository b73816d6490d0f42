package kvcache

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/qzoo/qzoo/quant"
	"github.com/qzoo/qzoo/quant/scheme"
)

// KVQuant (Hooper et al. 2024, "KVQuant: Towards 10 Million Context Length LLM Inference with
// KV Cache Quantization", arXiv 2401.18079), each step switchable by a Config flag for the
// ablation (b = KeyBits or ValueBits):
//
//   - Normalisation. A value x of channel c becomes u = 2(x−lo)/(hi−lo) − 1 = (x−o)/s, with
//     o = (hi+lo)/2, s = (hi−lo)/2. Keys with KeyPerChannel (§3.1, per-channel key
//     quantization): lo_c, hi_c calibrated offline per channel (the Outliers/2 and
//     1−Outliers/2 quantiles of channel c's calibration values; min and max without
//     outliers); constants "lo", "hi" [W]. Values, and keys without KeyPerChannel: per token,
//     per group of Group channels, lo and hi the min and max of the token's non-outlier values
//     in the group, stored as fp16 s and o (4 bytes per group per token).
//   - PreRoPE (§3.2): keys are quantized before the rotary embedding; Sequence applies RoPE
//     after dequantizing and Fit calibrates on pre-RoPE keys, so the stream has nothing to do.
//   - Datatype. Uniform: 2^b levels evenly spaced on [−1, 1]. NonUniform (§3.3, nuq): 2^b
//     levels per layer and side, the 1-D k-means of the normalised non-outlier calibration
//     values weighted by their diagonal Fisher information (weights 1 without it),
//     minimising Σ F·(u − ℓ)² in normalised units, rounded to fp16; constant "lut"
//     [2^b]. Each u is coded as its nearest level ℓ_q, x̂ = ℓ_q·s + o.
//   - Outliers (§3.4, dense-and-sparse): a value outside its channel's thresholds
//     [t_lo_c, t_hi_c] is kept exact in fp16 in a per-token sparse list of (channel, value)
//     entries, after a count. Keys per channel use lo_c, hi_c as thresholds; values and
//     per-token keys use per-channel thresholds calibrated the same way (constants
//     "outlier_lo", "outlier_hi" [W]), where the paper computes per-token thresholds online
//     (a deviation: offline thresholds need no top-k per token). The dense code of an outlier
//     is stored too (the nearest level of its clamped u) and overwritten when read.
//   - Sink (attention-sink-aware quantization): the first Sink tokens are kept in fp16.
//   - QNorm (Q-Norm): a per-channel affine correction x̂' = a_c·x̂ + b_c of the
//     dense part, a_c = σ_c/σ̂_c, b_c = μ_c − a_c·μ̂_c, μ and σ the mean and deviation of
//     channel c's non-outlier calibration values and μ̂, σ̂ those of their dequantized
//     values, so that the dequantized calibration values match the originals' first two
//     moments (the paper corrects the centroids' mean and deviation; the affine form per
//     channel is the same idea at one scale and shift per channel); constants "qnorm_scale",
//     "qnorm_shift" [W].
//
// Every constant is rounded to fp16 when fitted and counted as 2 bytes per entry. It needs
// calibration when any of KeyPerChannel, NonUniform, Outliers or QNorm is set.
//
// Storage per token (bytes, W = KVHeads·HeadDim): ⌈W·b/8⌉ codes, plus 4·W/Group for the
// per-token scales and offsets (values; keys without KeyPerChannel), plus with Outliers a
// count (1 byte, 2 when W > 255) and 2 + (1 or 2) bytes per outlier (fp16 value, channel
// index as uint8 when W ≤ 256 else uint16); a sink token 2·W.

func init() {
	register(MethodKVQuant, method{
		calibrated: func(cfg Config) bool {
			return cfg.KeyPerChannel || cfg.NonUniform || cfg.Outliers > 0 || cfg.QNorm
		},
		fit:  fitKVQuant,
		load: loadKVQuant,
		validate: func(cfg Config, shape Shape) error {
			return checkGroup(cfg, shape)
		},
	})
}

// kvquantCodec is one layer's keys or values under KVQuant.
type kvquantCodec struct {
	w, bits, group, sink int
	perChannel           bool      // keys scaled by the calibrated per-channel range
	lo, hi               []float32 // [W] per-channel range (perChannel)
	offset, scale        []float32 // [W] (hi+lo)/2 and (hi−lo)/2 (perChannel)
	outLo, outHi         []float32 // [W] outlier thresholds (Outliers > 0), else nil
	nonUniform           bool
	levels               levelTable
	qnormScale           []float32 // [W] a_c (QNorm), else nil
	qnormShift           []float32 // [W] b_c
}

// newKVQuantCodec is the codec of cfg and side before its constants are set.
func newKVQuantCodec(cfg Config, shape Shape, side Side) *kvquantCodec {
	c := &kvquantCodec{w: shape.Width(), bits: cfg.ValueBits, group: cfg.Group, sink: cfg.Sink, nonUniform: cfg.NonUniform}
	if side == Keys {
		c.bits, c.perChannel = cfg.KeyBits, cfg.KeyPerChannel
	}
	c.levels = newLevelTable(uniformLevels(c.bits))
	return c
}

// setRange sets the per-channel range and the offset and scale derived from it.
func (c *kvquantCodec) setRange(lo, hi []float32) {
	c.lo, c.hi = lo, hi
	c.offset, c.scale = make([]float32, c.w), make([]float32, c.w)
	for i := range lo {
		c.offset[i], c.scale[i] = (hi[i]+lo[i])/2, (hi[i]-lo[i])/2
	}
}

func (c *kvquantCodec) indexBytes() int {
	if c.w <= 256 {
		return 1
	}
	return 2
}

func (c *kvquantCodec) countBytes() int {
	if c.w <= 255 {
		return 1
	}
	return 2
}

// fitKVQuant calibrates the constants of one layer and side on x [n, W] with Fisher
// information fisher [n, W] (nil: weights 1), in the order the steps depend on each other:
// ranges and thresholds, then the datatype, then QNorm on the quantized calibration values.
func fitKVQuant(cfg Config, shape Shape, side Side, x, fisher []float32, n int) (codec, error) {
	c := newKVQuantCodec(cfg, shape, side)
	if !cfg.NeedsCalibration() {
		return c, nil
	}
	w := c.w
	if c.perChannel || cfg.Outliers > 0 {
		lo, hi := make([]float32, w), make([]float32, w)
		var col []float32
		for ch := range w {
			col = channelColumn(x, n, w, ch, col)
			lo[ch], hi[ch] = quantile(col, cfg.Outliers/2), quantile(col, 1-cfg.Outliers/2)
		}
		halfConstant(lo)
		halfConstant(hi)
		if c.perChannel {
			c.setRange(lo, hi)
		}
		if cfg.Outliers > 0 {
			c.outLo, c.outHi = lo, hi
		}
	}
	tok := c.newToken()
	if c.nonUniform {
		var values, weights []float64
		u := make([]float32, w)
		for t := range n {
			c.normalize(x[t*w:(t+1)*w], &tok, u)
			for ch, v := range u {
				if c.isOutlier(x[t*w+ch], ch) {
					continue
				}
				values = append(values, float64(v))
				if fisher != nil {
					weights = append(weights, float64(fisher[t*w+ch]))
				}
			}
		}
		if len(values) == 0 {
			return nil, fmt.Errorf("kvquant: no non-outlier calibration values to fit the %d-level datatype", 1<<c.bits)
		}
		c.levels = newLevelTable(fitLevels(values, weights, c.bits, cfg.Iterations))
	}
	if cfg.QNorm {
		c.qnormScale, c.qnormShift = c.fitQNorm(x, n)
	}
	return c, nil
}

// fitQNorm returns a_c, b_c [W] matching the mean and deviation of each channel's
// non-outlier dequantized calibration values to the originals'.
func (c *kvquantCodec) fitQNorm(x []float32, n int) (scale, shift []float32) {
	w := c.w
	var sum, sumSq, sumQ, sumQSq, count = make([]float64, w), make([]float64, w), make([]float64, w), make([]float64, w), make([]float64, w)
	tok := c.newToken()
	xq := make([]float32, w)
	for t := range n {
		row := x[t*w : (t+1)*w]
		c.encode(row, &tok)
		c.decode(&tok, xq)
		for ch, v := range row {
			if c.isOutlier(v, ch) {
				continue
			}
			a, b := float64(v), float64(xq[ch])
			sum[ch] += a
			sumSq[ch] += a * a
			sumQ[ch] += b
			sumQSq[ch] += b * b
			count[ch]++
		}
	}
	scale, shift = make([]float32, w), make([]float32, w)
	for ch := range w {
		a := 1.0
		if count[ch] == 0 {
			scale[ch] = 1
			continue
		}
		mu, muQ := sum[ch]/count[ch], sumQ[ch]/count[ch]
		sigma := math.Sqrt(max(sumSq[ch]/count[ch]-mu*mu, 0))
		sigmaQ := math.Sqrt(max(sumQSq[ch]/count[ch]-muQ*muQ, 0))
		if sigmaQ > 1e-12 {
			a = sigma / sigmaQ
		}
		scale[ch], shift[ch] = float32(a), float32(mu-a*muQ)
	}
	return halfConstant(scale), halfConstant(shift)
}

// wants are the constants of the codec's config, with their dimensions.
func (c *kvquantCodec) wants(cfg Config) []want {
	var ws []want
	w := []int{c.w}
	if c.perChannel {
		ws = append(ws, want{"lo", w}, want{"hi", w})
	} else if cfg.Outliers > 0 {
		ws = append(ws, want{"outlier_lo", w}, want{"outlier_hi", w})
	}
	if cfg.NonUniform {
		ws = append(ws, want{"lut", []int{1 << c.bits}})
	}
	if cfg.QNorm {
		ws = append(ws, want{"qnorm_scale", w}, want{"qnorm_shift", w})
	}
	return ws
}

func loadKVQuant(cfg Config, shape Shape, side Side, consts map[string]Constant) (codec, error) {
	c := newKVQuantCodec(cfg, shape, side)
	if err := expectConstants(consts, c.wants(cfg)...); err != nil {
		return nil, err
	}
	data := func(name string) []float32 { return slices.Clone(consts[name].Data) }
	if c.perChannel {
		c.setRange(data("lo"), data("hi"))
		if cfg.Outliers > 0 {
			c.outLo, c.outHi = c.lo, c.hi
		}
	} else if cfg.Outliers > 0 {
		c.outLo, c.outHi = data("outlier_lo"), data("outlier_hi")
	}
	if cfg.NonUniform {
		lut := data("lut")
		if !slices.IsSorted(lut) {
			return nil, fmt.Errorf("constant %q is not ascending", "lut")
		}
		c.levels = newLevelTable(lut)
	}
	if cfg.QNorm {
		c.qnormScale, c.qnormShift = data("qnorm_scale"), data("qnorm_shift")
	}
	return c, nil
}

func (c *kvquantCodec) constants() []Constant {
	var out []Constant
	add := func(name string, v []float32) {
		out = append(out, Constant{Name: name, Dims: []int{len(v)}, Data: slices.Clone(v)})
	}
	if c.perChannel {
		add("lo", c.lo)
		add("hi", c.hi)
	} else if c.outLo != nil {
		add("outlier_lo", c.outLo)
		add("outlier_hi", c.outHi)
	}
	if c.nonUniform {
		add("lut", c.levels.levels)
	}
	if c.qnormScale != nil {
		add("qnorm_scale", c.qnormScale)
		add("qnorm_shift", c.qnormShift)
	}
	return out
}

func (c *kvquantCodec) constantBytes() int {
	n := 0
	for _, k := range c.constants() {
		n += 2 * len(k.Data)
	}
	return n
}

func (c *kvquantCodec) newStream() stream {
	return withSink(c.sink, c.w, &kvquantStream{c: c})
}

// kvquantToken is one token's stored form: codes [W] packed at b bits; per-token fp16 scale
// and offset per group (nil when per channel); sparse outliers: a count (countBytes, little
// endian) then per outlier the channel (indexBytes, little endian) and the fp16 value.
type kvquantToken struct {
	codes         []byte
	scale, offset []uint16
	sparse        []byte
}

// storage is t's storage; the sparse list's count and indices are OutlierIndices, its
// fp16 values OutlierValues.
func (c *kvquantCodec) storage(t kvquantToken) scheme.Storage {
	st := codesStorage(t.codes, t.scale, t.offset)
	if len(t.sparse) > 0 {
		n := (len(t.sparse) - c.countBytes()) / (c.indexBytes() + 2)
		st.OutlierValues = 16 * float64(n)
		st.OutlierIndices = 8 * float64(c.countBytes()+n*c.indexBytes())
	}
	return st
}

// newToken returns a token whose scale and offset slices are allocated when per token.
func (c *kvquantCodec) newToken() kvquantToken {
	if c.perChannel {
		return kvquantToken{}
	}
	return kvquantToken{scale: make([]uint16, c.w/c.group), offset: make([]uint16, c.w/c.group)}
}

func (c *kvquantCodec) isOutlier(v float32, ch int) bool {
	return c.outLo != nil && (v < c.outLo[ch] || v > c.outHi[ch])
}

// normalize writes u = (x−o)/s [W] of token x into u, storing the per-token fp16 scales and
// offsets in t first (per-token normalisation) from the non-outlier values of each group.
func (c *kvquantCodec) normalize(x []float32, t *kvquantToken, u []float32) {
	if c.perChannel {
		for ch, v := range x {
			u[ch] = divide(v-c.offset[ch], c.scale[ch])
		}
		return
	}
	for k := range t.scale {
		lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
		for ch := k * c.group; ch < (k+1)*c.group; ch++ {
			if !c.isOutlier(x[ch], ch) {
				lo, hi = min(lo, x[ch]), max(hi, x[ch])
			}
		}
		if lo > hi { // every value an outlier
			lo, hi = 0, 0
		}
		t.scale[k], t.offset[k] = toHalf((hi-lo)/2), toHalf((hi+lo)/2)
		s, o := quant.FromFloat16(t.scale[k]), quant.FromFloat16(t.offset[k])
		for ch := k * c.group; ch < (k+1)*c.group; ch++ {
			u[ch] = divide(x[ch]-o, s)
		}
	}
}

// divide is a/b, or 0 when b is 0 (a constant range).
func divide(a, b float32) float32 {
	if b == 0 {
		return 0
	}
	return a / b
}

// encode stores token x [W] in t (reusing t's slices where it can).
func (c *kvquantCodec) encode(x []float32, t *kvquantToken) {
	u := make([]float32, c.w)
	c.normalize(x, t, u)
	codes := make([]uint8, c.w)
	for ch, v := range u {
		codes[ch] = c.levels.nearest(v)
	}
	t.codes = quant.Pack(codes, c.bits)
	t.sparse = t.sparse[:0]
	if c.outLo == nil {
		return
	}
	ib, cb := c.indexBytes(), c.countBytes()
	t.sparse = append(t.sparse, make([]byte, cb)...)
	count := 0
	for ch, v := range x {
		if !c.isOutlier(v, ch) {
			continue
		}
		count++
		if ib == 1 {
			t.sparse = append(t.sparse, byte(ch))
		} else {
			t.sparse = binary.LittleEndian.AppendUint16(t.sparse, uint16(ch))
		}
		t.sparse = binary.LittleEndian.AppendUint16(t.sparse, quant.ToFloat16(v))
	}
	if cb == 1 {
		t.sparse[0] = byte(count)
	} else {
		binary.LittleEndian.PutUint16(t.sparse, uint16(count))
	}
}

// decode writes the dequantized token [W] of t into dst: levels scaled back, QNorm's affine
// correction, then the sparse outliers.
func (c *kvquantCodec) decode(t *kvquantToken, dst []float32) {
	for ch := range dst {
		level := c.levels.levels[codeAt(t.codes, c.bits, ch)]
		if c.perChannel {
			dst[ch] = level*c.scale[ch] + c.offset[ch]
		} else {
			k := ch / c.group
			dst[ch] = level*quant.FromFloat16(t.scale[k]) + quant.FromFloat16(t.offset[k])
		}
		if c.qnormScale != nil {
			dst[ch] = c.qnormScale[ch]*dst[ch] + c.qnormShift[ch]
		}
	}
	if c.outLo == nil {
		return
	}
	ib, cb := c.indexBytes(), c.countBytes()
	count := int(t.sparse[0])
	if cb == 2 {
		count = int(binary.LittleEndian.Uint16(t.sparse))
	}
	for i, p := 0, cb; i < count; i, p = i+1, p+ib+2 {
		ch := int(t.sparse[p])
		if ib == 2 {
			ch = int(binary.LittleEndian.Uint16(t.sparse[p:]))
		}
		dst[ch] = quant.FromFloat16(binary.LittleEndian.Uint16(t.sparse[p+ib:]))
	}
}

// kvquantStream holds the stored form of every token.
type kvquantStream struct {
	c      *kvquantCodec
	tokens []kvquantToken
}

func (s *kvquantStream) append(x []float32, pos int) int {
	t := s.c.newToken()
	s.c.encode(x, &t)
	s.tokens = append(s.tokens, t)
	return pos
}

func (s *kvquantStream) read(j int, dst []float32) { s.c.decode(&s.tokens[j], dst) }

func (s *kvquantStream) storage() scheme.Storage {
	var st scheme.Storage
	for _, t := range s.tokens {
		st = st.Add(s.c.storage(t))
	}
	return st
}
