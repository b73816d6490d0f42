package kvcache

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/qzoo/qzoo/quant"
	"github.com/qzoo/qzoo/quant/scheme"
)

// Rotation: a random orthogonal rotation per key/value head, then a Lloyd-Max scalar
// quantizer of the rotated coordinates, the TurboQuant / PolarQuant family (Zandieh et al.
// 2025, "TurboQuant: Online Vector Quantization with Near-optimal Distortion Rate", arXiv
// 2504.19874: a random rotation makes every coordinate of a unit vector follow the same concentrated
// distribution, so one scalar codebook fitted to it serves every coordinate).
//
//   - Centering: the per-channel mean μ of the calibration vectors is subtracted first
//     (constant "mean" [W]; keys have large per-channel offsets, which a rotation would
//     spread over every coordinate of the head and one scalar codebook cannot follow; the
//     same shift SmoothQuant-style methods remove), and added back after dequantizing.
//   - Rotation: each head's centred vector x [HeadDim] becomes y = H·D·x, H the normalised
//     Sylvester–Hadamard matrix of order HeadDim (a power of two) and D = diag(±1) random
//     signs, one per channel of every head, drawn from Config.Seed and the side (all layers
//     share them: the codec is not told its layer). H·D is orthogonal, so x = D·H·y.
//   - Scale: per token, per group of Group consecutive rotated coordinates, the fp16 RMS
//     r = √(Σ y²/Group) (TurboQuant normalises by the vector's norm; a group of HeadDim is
//     that norm up to √HeadDim).
//   - Lloyd-Max quantizer: z = y/r is coded as the nearest of 2^b levels fitted on the
//     calibration coordinates z by 1-D k-means (Lloyd's algorithm, unweighted, at most
//     Iterations steps per start, 30 when 0), rounded to fp16; constant "levels" [2^b].
//   - Dequantize: ŷ = ℓ_q·r, x̂ = D·H·ŷ + μ.
//
// It needs calibration. Storage per token (bytes, W = KVHeads·HeadDim, b the bits):
// ⌈W·b/8⌉ codes + 2·W/Group scales; a sink token (Sink) 2·W.

// rotationIterations is the default of Config.Iterations for the Lloyd-Max levels.
const rotationIterations = 30

// signStream is the PCG stream of the sign generator; the side is added to it.
const signStream = 0x7f4a7c159e3779b9

func init() {
	register(MethodRotation, method{
		calibrated: func(Config) bool { return true },
		fit:        fitRotation,
		load: func(cfg Config, shape Shape, side Side, consts map[string]Constant) (codec, error) {
			c := newRotationCodec(cfg, shape, side)
			if err := expectConstants(consts, want{"levels", []int{1 << c.bits}}, want{"mean", []int{c.w}}); err != nil {
				return nil, err
			}
			c.mean = slices.Clone(consts["mean"].Data)
			levels := slices.Clone(consts["levels"].Data)
			if !slices.IsSorted(levels) {
				return nil, fmt.Errorf("constant %q is not ascending", "levels")
			}
			c.levels = newLevelTable(levels)
			return c, nil
		},
		validate: func(cfg Config, shape Shape) error {
			if h := shape.HeadDim; h&(h-1) != 0 {
				return fmt.Errorf("kvcache: kv_quant=rotation needs a power of two head dimension for its Hadamard rotation, got %d", h)
			}
			return checkGroup(cfg, shape)
		},
	})
}

// rotationCodec is one layer's keys or values under the rotation method.
type rotationCodec struct {
	w, headDim, bits, group, sink int
	signs                         []float32 // [W] the diagonal of D for every head
	mean                          []float32 // [W] the calibration vectors' per-channel mean, fp16-rounded
	levels                        levelTable
}

// newRotationCodec is the codec of cfg and side before its levels are fitted. Sign j is
// negative when bit j mod 64 of the (j div 64)-th Uint64 of math/rand/v2's PCG seeded with
// (Seed, signStream + side) is set.
func newRotationCodec(cfg Config, shape Shape, side Side) *rotationCodec {
	c := &rotationCodec{w: shape.Width(), headDim: shape.HeadDim, bits: cfg.ValueBits, group: cfg.Group, sink: cfg.Sink}
	if side == Keys {
		c.bits = cfg.KeyBits
	}
	rng := rand.NewPCG(uint64(cfg.Seed), signStream+uint64(side))
	c.signs = make([]float32, c.w)
	var word uint64
	for j := range c.signs {
		if j%64 == 0 {
			word = rng.Uint64()
		}
		c.signs[j] = 1 - 2*float32(word>>(j%64)&1)
	}
	return c
}

func fitRotation(cfg Config, shape Shape, side Side, x, _ []float32, n int) (codec, error) {
	c := newRotationCodec(cfg, shape, side)
	w := c.w
	sum := make([]float64, w)
	for i, v := range x[:n*w] {
		sum[i%w] += float64(v)
	}
	c.mean = make([]float32, w)
	for i := range c.mean {
		c.mean[i] = roundHalf(float32(sum[i] / float64(n)))
	}
	y := make([]float32, w)
	scales := make([]uint16, w/c.group)
	values := make([]float64, 0, n*w)
	for t := range n {
		c.normalize(x[t*w:(t+1)*w], y, scales)
		for _, v := range y {
			values = append(values, float64(v))
		}
	}
	iterations := cfg.Iterations
	if iterations == 0 {
		iterations = rotationIterations
	}
	c.levels = newLevelTable(fitLevels(values, nil, c.bits, iterations))
	return c, nil
}

// hadamard applies the normalised Walsh–Hadamard transform H/√m to v [m] in place (m a power
// of two); it is its own inverse.
func hadamard(v []float32) {
	m := len(v)
	for h := 1; h < m; h *= 2 {
		for i := 0; i < m; i += 2 * h {
			for j := i; j < i+h; j++ {
				a, b := v[j], v[j+h]
				v[j], v[j+h] = a+b, a-b
			}
		}
	}
	norm := float32(1 / math.Sqrt(float64(m)))
	for i := range v {
		v[i] *= norm
	}
}

// normalize writes the rotated token x [W] divided by its fp16 group RMS into z [W], and
// the RMS into scales [W/Group].
func (c *rotationCodec) normalize(x, z []float32, scales []uint16) {
	for i, v := range x {
		z[i] = (v - c.mean[i]) * c.signs[i]
	}
	for h := 0; h < c.w; h += c.headDim {
		hadamard(z[h : h+c.headDim])
	}
	for k := range scales {
		grp := z[k*c.group : (k+1)*c.group]
		var sum float64
		for _, v := range grp {
			sum += float64(v) * float64(v)
		}
		scales[k] = toHalf(float32(math.Sqrt(sum / float64(c.group))))
		r := quant.FromFloat16(scales[k])
		for i := range grp {
			grp[i] = divide(grp[i], r)
		}
	}
}

func (c *rotationCodec) constants() []Constant {
	return []Constant{{Name: "levels", Dims: []int{len(c.levels.levels)}, Data: slices.Clone(c.levels.levels)},
		{Name: "mean", Dims: []int{c.w}, Data: slices.Clone(c.mean)}}
}

func (c *rotationCodec) constantBytes() int { return 2 * (len(c.levels.levels) + c.w) }

func (c *rotationCodec) newStream() stream {
	return withSink(c.sink, c.w, &rotationStream{c: c, z: make([]float32, c.w), codes: make([]uint8, c.w)})
}

// rotationToken is one token's stored form: codes [W] packed at b bits and the fp16 RMS of
// each group [W/Group].
type rotationToken struct {
	codes  []byte
	scales []uint16
}

// rotationStream holds the stored form of every token.
type rotationStream struct {
	c      *rotationCodec
	tokens []rotationToken
	z      []float32 // [W] scratch
	codes  []uint8   // [W] scratch
}

func (s *rotationStream) append(x []float32, pos int) int {
	c := s.c
	t := rotationToken{scales: make([]uint16, c.w/c.group)}
	c.normalize(x, s.z, t.scales)
	for i, v := range s.z {
		s.codes[i] = c.levels.nearest(v)
	}
	t.codes = quant.Pack(s.codes, c.bits)
	s.tokens = append(s.tokens, t)
	return pos
}

func (s *rotationStream) read(j int, dst []float32) {
	c, t := s.c, s.tokens[j]
	for i := range dst {
		dst[i] = c.levels.levels[codeAt(t.codes, c.bits, i)] * quant.FromFloat16(t.scales[i/c.group])
	}
	for h := 0; h < c.w; h += c.headDim {
		hadamard(dst[h : h+c.headDim])
	}
	for i := range dst {
		dst[i] = dst[i]*c.signs[i] + c.mean[i]
	}
}

func (s *rotationStream) storage() scheme.Storage {
	var st scheme.Storage
	for _, t := range s.tokens {
		st = st.Add(codesStorage(t.codes, t.scales, nil))
	}
	return st
}
