package kvcache

import (
	"fmt"
	"slices"

	"github.com/qzoo/qzoo/quant"
	"github.com/qzoo/qzoo/quant/scheme"
)

// KIVI (Liu et al. 2024, "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache",
// arXiv 2402.02750): asymmetric min/max uniform quantization at b bits (KeyBits for keys,
// ValueBits for values),
//
//	s = (max−min)/(2^b−1),  z = min,  q = clamp(round((x−z)/s), 0, 2^b−1),  x̂ = q·s + z,
//
// s and z stored in fp16 and the codes computed with the fp16 values. Keys are quantized per
// channel (§3.2: each of the W channels gets its own s, z over a group of G = KeyGroup
// consecutive tokens), values per token (s, z per group of Group consecutive channels). It
// needs no calibration.
//
// Streaming (Algorithm 1), the same for keys and values so that both sides agree: with m
// tokens stored (after the Sink first tokens, kept in fp16 and outside every group), tokens
// [0, Q) are quantized and [Q, m) are held in fp16, Q the largest multiple of G with
// m − Q ≥ R (R = Residual, a multiple of G): between R and R+G−1 recent tokens are fp16.
// When an append makes Q grow by G, the oldest G fp16 tokens are quantized from their fp16
// values (keys per channel over the G tokens, values per token), their fp16 copies are
// dropped, and append returns the first of them.
//
// Strict variant (R = 0: every token quantized, nothing held in full precision): values are
// quantized per token on arrival. The keys of the incomplete newest group are stored per
// channel like a complete group's, with the statistics of the tokens it holds so far: each new
// key re-quantizes the group from its members' dequantized values and the new key, over the
// range widened to hold it (re-quantizing onto an unchanged grid changes nothing; each
// widening adds at most half a step of error to the older members), and append returns the
// group's first token.
//
// Storage (bytes, W = KVHeads·HeadDim, b_k/b_v the bits): a quantized key group of G tokens
// ⌈G·W·b_k/8⌉ + 4·W (in the strict variant the incomplete group of n < G tokens too:
// ⌈n·W·b_k/8⌉ + 4·W); a quantized value token ⌈W·b_v/8⌉ + 4·W/Group; a fp16 token (residual
// window or sink) 2·W.

func init() {
	register(MethodKIVI, method{
		fit: func(cfg Config, shape Shape, side Side, _, _ []float32, _ int) (codec, error) {
			return newKIVICodec(cfg, shape, side), nil
		},
		load: func(cfg Config, shape Shape, side Side, consts map[string]Constant) (codec, error) {
			if err := expectConstants(consts); err != nil {
				return nil, err
			}
			return newKIVICodec(cfg, shape, side), nil
		},
		validate: func(cfg Config, shape Shape) error {
			if err := checkGroup(cfg, shape); err != nil {
				return err
			}
			if cfg.KeyGroup < 1 {
				return fmt.Errorf("kvcache: kv_key_group=%d: kivi groups keys along tokens, it needs at least 1", cfg.KeyGroup)
			}
			if cfg.Residual%cfg.KeyGroup != 0 {
				return fmt.Errorf("kvcache: kv_residual=%d must be 0 or a multiple of kv_key_group=%d", cfg.Residual, cfg.KeyGroup)
			}
			return nil
		},
	})
}

// kiviCodec is one layer's keys or values under KIVI; it has no constants.
type kiviCodec struct {
	w, bits, group, keyGroup, residual, sink int
	perChannel                               bool // keys
}

func newKIVICodec(cfg Config, shape Shape, side Side) kiviCodec {
	c := kiviCodec{w: shape.Width(), bits: cfg.ValueBits, group: cfg.Group, keyGroup: cfg.KeyGroup, residual: cfg.Residual, sink: cfg.Sink}
	if side == Keys {
		c.bits, c.perChannel = cfg.KeyBits, true
	}
	return c
}

func (c kiviCodec) newStream() stream {
	s := &kiviStream{c: c, buf: make([]float32, c.keyGroup*c.w)}
	if c.residual == 0 && c.perChannel {
		s.tailCodes, s.tailScale, s.tailZero = make([]uint8, c.keyGroup*c.w), make([]uint16, c.w), make([]uint16, c.w)
	}
	return withSink(c.sink, c.w, s)
}
func (c kiviCodec) constants() []Constant { return nil }
func (c kiviCodec) constantBytes() int    { return 0 }

// kiviStream holds tokens [0, q) quantized (keys: groups[t/G], values: tokens[t]) and [q, m)
// as fp16 rows of recent, or in the strict variant as the incomplete key group tail (values
// stay in tokens, which then holds all m).
type kiviStream struct {
	c      kiviCodec
	groups []channelCodes // keys: the quantized groups of G tokens
	tokens []tokenCodes   // values: the quantized tokens
	// Strict keys: the incomplete newest group of tailN tokens, per channel: its codes
	// [tailN, W] unpacked (packed when the group closes) and fp16 scales and zero points [W].
	tailCodes           []uint8
	tailScale, tailZero []uint16
	tailN               int
	recent              []uint16 // [m−q, W] fp16: the residual window
	q, m                int
	// buf [G, W] is scratch, except for strict keys: there its first tailN rows are the tail
	// dequantized (what its codes read), kept to re-quantize it and to read it.
	buf []float32
}

func (s *kiviStream) append(x []float32, pos int) int {
	c := s.c
	g, w := c.keyGroup, c.w
	s.m++
	if c.residual == 0 { // strict
		if !c.perChannel {
			s.tokens = append(s.tokens, quantizeToken(x, c.group, c.bits))
			s.q = s.m
			return pos
		}
		// buf holds the tail's members dequantized (quantizeChannelsInto wrote them last time).
		copy(s.buf[s.tailN*w:], x)
		s.tailN++
		n := s.tailN * w
		quantizeChannelsInto(s.buf[:n], w, c.bits, s.buf, s.tailCodes[:n], s.tailScale, s.tailZero)
		from := s.q
		if s.tailN == g {
			s.groups = append(s.groups, channelCodes{codes: quant.Pack(s.tailCodes[:n], c.bits),
				scale: slices.Clone(s.tailScale), zero: slices.Clone(s.tailZero)})
			s.tailN = 0
			s.q += g
		}
		return from
	}
	s.recent = appendFloat16(s.recent, x)
	if s.m-(s.q+g) < c.residual {
		return pos
	}
	readFloat16(s.recent[:g*w], s.buf)
	if c.perChannel {
		s.groups = append(s.groups, quantizeChannels(s.buf, w, c.bits, nil))
	} else {
		for i := range g {
			s.tokens = append(s.tokens, quantizeToken(s.buf[i*w:(i+1)*w], c.group, c.bits))
		}
	}
	s.recent = append(s.recent[:0], s.recent[g*w:]...)
	from := s.q
	s.q += g
	return from
}

func (s *kiviStream) read(j int, dst []float32) {
	c := s.c
	switch {
	case j < s.q && c.perChannel:
		s.groups[j/c.keyGroup].read(j%c.keyGroup, dst, c.bits)
	case j < len(s.tokens):
		s.tokens[j].read(dst, c.group, c.bits)
	case c.residual == 0: // the tail, as its codes read (see append)
		copy(dst[:c.w], s.buf[(j-s.q)*c.w:])
	default:
		readFloat16(s.recent[(j-s.q)*c.w:(j-s.q+1)*c.w], dst)
	}
}

func (s *kiviStream) storage() scheme.Storage {
	st := scheme.Storage{FullPrecision: 16 * float64(len(s.recent))}
	for _, g := range s.groups {
		st = st.Add(g.storage())
	}
	for _, t := range s.tokens {
		st = st.Add(t.storage())
	}
	if s.tailN > 0 { // as packed
		st = st.Add(scheme.Storage{Codes: 8 * float64((s.tailN*s.c.w*s.c.bits+7)/8), Scales: 16 * float64(s.c.w), ZeroPoints: 16 * float64(s.c.w)})
	}
	return st
}
