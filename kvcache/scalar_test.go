package kvcache

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/quant"
)

// testShape is a small cache: 2 layers, 4 key/value heads of 8 channels (W = 32), with a
// RoPE that rotates channel pairs (2i, 2i+1) of each head by pos·(i+1)/10 radians.
var testShape = Shape{Layers: 2, KVHeads: 4, HeadDim: 8, RoPE: testRoPE}

func testRoPE(x []float32, pos int) {
	for h := 0; h < len(x); h += 8 {
		for i := 0; i < 8; i += 2 {
			a := float64(pos) * float64(i/2+1) / 10
			c, s := float32(math.Cos(a)), float32(math.Sin(a))
			x[h+i], x[h+i+1] = c*x[h+i]-s*x[h+i+1], s*x[h+i]+c*x[h+i+1]
		}
	}
}

// tokens is synthetic cache content of one layer: n tokens of W values per side.
type tokens struct {
	n                  int
	keysPre, keys, val []float32 // [n, W]
}

// syntheticTokens draws pre-RoPE keys whose channels have their own mean and spread (channel
// 3 of every head is an outlier channel of mean 6 and deviation 2, the fixed-channel key
// outliers KIVI and KVQuant observe; the others have mean 0.5·(c mod 5) − 1 and deviation
// 1), standard normal values, and the keys after testRoPE.
func syntheticTokens(rng *rand.Rand, n, w int) tokens {
	t := tokens{n: n, keysPre: make([]float32, n*w), keys: make([]float32, n*w), val: make([]float32, n*w)}
	for i := range n {
		for c := range w {
			mean, scale := 0.5*float64(c%5)-1, 1.0
			if c%8 == 3 {
				mean, scale = 6, 2
			}
			t.keysPre[i*w+c] = float32(mean + scale*rng.NormFloat64())
			t.val[i*w+c] = float32(rng.NormFloat64())
		}
		copy(t.keys[i*w:(i+1)*w], t.keysPre[i*w:(i+1)*w])
		testRoPE(t.keys[i*w:(i+1)*w], i)
	}
	return t
}

// activations builds calibration activations of every layer from fresh synthetic tokens.
func activations(rng *rand.Rand, shape Shape, n int) *Activations {
	a := &Activations{N: n}
	for range shape.Layers {
		t := syntheticTokens(rng, n, shape.Width())
		a.Layers = append(a.Layers, LayerActivations{KeysPre: t.keysPre, Keys: t.keys, Values: t.val})
	}
	return a
}

// build fits (or builds) a quantizer on 256 calibration tokens of seed 1.
func build(t testing.TB, cfg Config, shape Shape) *Quantizer {
	t.Helper()
	var act *Activations
	if cfg.NeedsCalibration() {
		act = activations(rand.New(rand.NewPCG(1, 1)), shape, 256)
	}
	q, err := Fit(cfg, shape, act)
	if err != nil {
		t.Fatalf("%+v: %v", cfg, err)
	}
	return q
}

// fill appends the same tokens to every layer of a new sequence, checking the append
// contract: a copy kept up to date by re-reading tokens [from, pos] after each append equals
// a fresh read of every token at the end. It returns the final reads [n, W] of layer 0.
func fill(t *testing.T, q *Quantizer, tok tokens) (keys, values []float32) {
	t.Helper()
	w := q.Shape.Width()
	s := q.NewSequence()
	for l := range q.Shape.Layers {
		kept := make([]float32, 2*tok.n*w)
		for i := range tok.n {
			from := s.Append(l, tok.keysPre[i*w:(i+1)*w], tok.keys[i*w:(i+1)*w], tok.val[i*w:(i+1)*w])
			if from < 0 || from > i {
				t.Fatalf("layer %d: append %d returned %d", l, i, from)
			}
			for j := from; j <= i; j++ {
				s.Read(l, j, kept[j*w:(j+1)*w], kept[(tok.n+j)*w:(tok.n+j+1)*w])
			}
		}
		fresh := make([]float32, 2*tok.n*w)
		for j := range tok.n {
			s.Read(l, j, fresh[j*w:(j+1)*w], fresh[(tok.n+j)*w:(tok.n+j+1)*w])
		}
		if i := slices.IndexFunc(fresh, func(v float32) bool { return math.IsNaN(float64(v)) }); i >= 0 {
			t.Fatalf("layer %d: NaN read at %d", l, i)
		}
		if !slices.Equal(kept, fresh) {
			t.Fatalf("layer %d: reads after the returned positions differ from a final read", l)
		}
		if l == 0 {
			keys, values = fresh[:tok.n*w], fresh[tok.n*w:]
		}
	}
	return keys, values
}

// relErr is ‖x − y‖² / ‖x‖².
func relErr(x, y []float32) float64 {
	var num, den float64
	for i := range x {
		d := float64(x[i]) - float64(y[i])
		num += d * d
		den += float64(x[i]) * float64(x[i])
	}
	return num / den
}

// scalarConfigs are one config per scalar method and variant, at bits b.
func scalarConfigs(b int) map[string]Config {
	return map[string]Config{
		"kivi strict":      {Method: MethodKIVI, KeyBits: b, ValueBits: b, Group: 8, KeyGroup: 4},
		"kivi residual":    {Method: MethodKIVI, KeyBits: b, ValueBits: b, Group: 8, KeyGroup: 4, Residual: 8},
		"kivi sink":        {Method: MethodKIVI, KeyBits: b, ValueBits: b, Group: 4, KeyGroup: 8, Sink: 3},
		"kvquant plain":    {Method: MethodKVQuant, KeyBits: b, ValueBits: b, Group: 8},
		"kvquant full":     {Method: MethodKVQuant, KeyBits: b, ValueBits: b, Group: 8, KeyPerChannel: true, PreRoPE: true, NonUniform: true, Outliers: 0.01, Sink: 2, QNorm: true},
		"kvquant tokens":   {Method: MethodKVQuant, KeyBits: b, ValueBits: b, Group: 16, NonUniform: true, Outliers: 0.02, QNorm: true},
		"rotation":         {Method: MethodRotation, KeyBits: b, ValueBits: b, Group: 8},
		"rotation grouped": {Method: MethodRotation, KeyBits: b, ValueBits: b, Group: 16, Sink: 1, Iterations: 10},
	}
}

// TestScalarErrorFallsWithBits: every scalar method's round-trip error of keys and values
// falls from 2 to 3 to 4 bits, and the append contract holds.
func TestScalarErrorFallsWithBits(t *testing.T) {
	tok := syntheticTokens(rand.New(rand.NewPCG(2, 2)), 61, testShape.Width())
	errs := map[string][]float64{}
	for _, b := range []int{2, 3, 4} {
		for name, cfg := range scalarConfigs(b) {
			k, v := fill(t, build(t, cfg, testShape), tok)
			errs[name+" keys"] = append(errs[name+" keys"], relErr(tok.keys, k))
			errs[name+" values"] = append(errs[name+" values"], relErr(tok.val, v))
		}
	}
	for name, e := range errs {
		t.Logf("%-24s %.4g", name, e)
		if !(e[0] > e[1] && e[1] > e[2]) || e[0] > 0.5 {
			t.Errorf("%s: relative errors at 2, 3, 4 bits %.4g: want falling, below 0.5", name, e)
		}
	}
}

// TestScalarConstantsRoundTrip: Load(Constants()) of every scalar method reads back the same
// values; a constant of the wrong shape is an error naming it.
func TestScalarConstantsRoundTrip(t *testing.T) {
	tok := syntheticTokens(rand.New(rand.NewPCG(3, 3)), 20, testShape.Width())
	for name, cfg := range scalarConfigs(3) {
		q := build(t, cfg, testShape)
		k, v := fill(t, q, tok)
		consts := q.Constants()
		r, err := Load(cfg, testShape, consts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.ConstantBytes() != q.ConstantBytes() {
			t.Errorf("%s: constant bytes %d after Load, %d before", name, r.ConstantBytes(), q.ConstantBytes())
		}
		k2, v2 := fill(t, r, tok)
		if !slices.Equal(k, k2) || !slices.Equal(v, v2) {
			t.Errorf("%s: reads differ after Load(Constants())", name)
		}
		if len(consts) == 0 {
			continue
		}
		bad := slices.Clone(consts)
		bad[0].Dims = []int{len(bad[0].Data), 1}
		short := fmt.Sprintf("%q", bad[0].Name[len("layer_00/keys/"):])
		if _, err := Load(cfg, testShape, bad); err == nil || !strings.Contains(err.Error(), short) {
			t.Errorf("%s: Load of %s with dimensions %v: error %v, want one naming it", name, bad[0].Name, bad[0].Dims, err)
		}
	}
}

// TestScalarValidate: the configs the scalar methods reject, each error naming its key.
func TestScalarValidate(t *testing.T) {
	base := Config{Method: MethodKIVI, KeyBits: 2, ValueBits: 2, Group: 8, KeyGroup: 4}
	odd := Shape{Layers: 1, KVHeads: 2, HeadDim: 12}
	for _, c := range []struct {
		name   string
		edit   func(*Config)
		shape  Shape
		substr string
	}{
		{"group not dividing head", func(c *Config) { c.Group = 3 }, testShape, "kv_group=3"},
		{"group spanning heads unevenly", func(c *Config) { c.Group = 24 }, testShape, "kv_group=24"},
		{"zero bits", func(c *Config) { c.KeyBits = 0 }, testShape, "kv_key_bits=0"},
		{"nine bits", func(c *Config) { c.ValueBits = 9 }, testShape, "kv_value_bits=9"},
		{"residual not multiple", func(c *Config) { c.Residual = 6 }, testShape, "kv_residual=6"},
		{"no key group", func(c *Config) { c.KeyGroup = 0 }, testShape, "kv_key_group=0"},
		{"kvquant outliers", func(c *Config) { c.Method, c.Outliers = MethodKVQuant, 0.5 }, testShape, "kv_outliers"},
		{"kvquant group", func(c *Config) { c.Method, c.Group = MethodKVQuant, 5 }, testShape, "kv_group=5"},
		{"rotation head", func(c *Config) { c.Method, c.Group = MethodRotation, 4 }, odd, "power of two"},
		{"rotation group", func(c *Config) { c.Method, c.Group = MethodRotation, 0 }, testShape, "kv_group=0"},
	} {
		cfg := base
		c.edit(&cfg)
		if err := cfg.Validate(c.shape); err == nil || !strings.Contains(err.Error(), c.substr) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.substr)
		}
	}
	for name, cfg := range scalarConfigs(2) {
		if err := cfg.Validate(testShape); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCodeAtMatchesPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for bits := 1; bits <= 8; bits++ {
		codes := make([]uint8, 37)
		for i := range codes {
			codes[i] = uint8(rng.IntN(1 << bits))
		}
		packed := quant.Pack(codes, bits)
		for i, c := range codes {
			if got := codeAt(packed, bits, i); got != c || int(got) != bitsAt(packed, i*bits, bits) {
				t.Fatalf("%d bits: code %d read %d, bitsAt %d, packed %d", bits, i, got, bitsAt(packed, i*bits, bits), c)
			}
		}
	}
}

func TestNearestLevelAndQuantile(t *testing.T) {
	table := newLevelTable([]float32{-1, 0, 0.5, 2})
	for _, c := range []struct {
		v    float32
		want uint8
	}{{-5, 0}, {-0.5, 0}, {-0.49, 1}, {0.25, 1}, {0.3, 2}, {1.25, 2}, {1.3, 3}, {9, 3}} {
		if got := table.nearest(c.v); got != c.want {
			t.Errorf("nearest(%v) = %d, want %d", c.v, got, c.want)
		}
	}
	sorted := []float32{0, 1, 2, 3, 4}
	for _, c := range []struct{ q, want float64 }{{0, 0}, {1, 4}, {0.5, 2}, {0.1, 0.4}, {0.875, 3.5}} {
		if got := quantile(sorted, c.q); math.Abs(float64(got)-c.want) > 1e-6 {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}

// TestChannelCodesReadTokens checks readTokens against the token-by-token dequantization it
// replaced (each value from its channel's fp16 scale and zero point), at every width.
func TestChannelCodesReadTokens(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const w, tokens = 12, 7
	x := make([]float32, w*tokens)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * float32(1+i%w)
	}
	for bits := 1; bits <= 8; bits++ {
		c := quantizeChannels(x, w, bits, nil)
		got := make([]float32, (tokens-2)*w)
		c.readTokens(2, tokens, got, bits)
		// The dequantized values quantizeChannels writes, into a copy of x in place, are
		// readTokens' (and the codes the same as without them).
		deq := slices.Clone(x)
		if c2 := quantizeChannels(deq, w, bits, deq); !slices.Equal(c2.codes, c.codes) {
			t.Fatalf("%d bits: codes differ with deq", bits)
		}
		all := make([]float32, tokens*w)
		c.readTokens(0, tokens, all, bits)
		if !slices.Equal(deq, all) {
			t.Fatalf("%d bits: quantizeChannels' dequantized values differ from readTokens'", bits)
		}
		for tok := 2; tok < tokens; tok++ {
			for ch := range w {
				want := halfAsymmetric(c.scale[ch], c.zero[ch]).value(codeAt(c.codes, bits, tok*w+ch))
				if g := got[(tok-2)*w+ch]; g != want {
					t.Fatalf("%d bits: token %d channel %d: readTokens %v, per value %v", bits, tok, ch, g, want)
				}
			}
		}
	}
}

// TestQuantizeChannelsSIMD checks the AVX-512 ranges and codes of per-channel quantization
// against the scalar ones (ranges to the bit, signed zeros included), code for code and dequantized value for value (to the bit), on grids of random
// fp16 scales and zero points and values on them, halfway between levels (round half away
// from zero), beyond the range (clamped), infinite, signed zeros and tiny ones; and that it
// declines grids with a zero or NaN scale and values with a NaN. Skipped where the build has
// no AVX-512 form.
func TestQuantizeChannelsSIMD(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	inf := float32(math.Inf(1))
	checked, ranges := 0, 0
	for _, w := range []int{16, 32, 48} {
		for _, tokens := range []int{1, 2, 7, 33} {
			for bits := 1; bits <= 8; bits++ {
				grid := make([]asymmetric, w)
				for ch := range grid {
					grid[ch], _, _ = newAsymmetric(float32(rng.NormFloat64()*3), float32(3+rng.ExpFloat64()*5), bits)
				}
				x := make([]float32, tokens*w)
				for i := range x {
					a := grid[i%w]
					level := float32(rng.IntN(1<<bits+2) - 1)
					switch rng.IntN(8) {
					case 0:
						x[i] = (level+0.5)*a.scale + a.zero // halfway
					case 1:
						x[i] = []float32{inf, -inf, float32(math.Copysign(0, -1)), 0, 1e-30, -1e-30}[rng.IntN(6)]
					case 2:
						x[i] = float32(rng.NormFloat64() * 1e4)
					default:
						x[i] = level*a.scale + a.zero + float32(rng.NormFloat64())*a.scale/4
					}
				}
				lo, hi := make([]float32, w), make([]float32, w)
				if channelRangeSIMD(x, w, lo, hi) {
					for ch := range w {
						wl, wh := channelRange(x, w, ch)
						if math.Float32bits(lo[ch]) != math.Float32bits(wl) || math.Float32bits(hi[ch]) != math.Float32bits(wh) {
							t.Fatalf("W=%d, %d tokens: channel %d's range [%v, %v], scalar [%v, %v]", w, tokens, ch, lo[ch], hi[ch], wl, wh)
						}
					}
					ranges++
				}
				want, wantDeq := make([]uint8, len(x)), make([]float32, len(x))
				channelCodesScalar(x, w, bits, grid, want, wantDeq)
				got, gotDeq := make([]uint8, len(x)), slices.Clone(x) // dequantized in place
				if !channelCodesSIMD(x, w, bits, grid, got, gotDeq) {
					t.Skip("no AVX-512 form of the per-channel codes in this build")
				}
				for i := range x {
					if got[i] != want[i] || math.Float32bits(gotDeq[i]) != math.Float32bits(wantDeq[i]) {
						t.Fatalf("W=%d, %d tokens, %d bits, value %d (%v, channel scale %v zero %v): code %d → %v, scalar %d → %v",
							w, tokens, bits, i, x[i], grid[i%w].scale, grid[i%w].zero, got[i], gotDeq[i], want[i], wantDeq[i])
					}
				}
				checked++
			}
		}
	}
	x := make([]float32, 16)
	for _, bad := range []asymmetric{{scale: 0, zero: 1}, {scale: float32(math.NaN()), zero: 1}, {scale: 1, zero: float32(math.NaN())}} {
		grid := make([]asymmetric, 16)
		for ch := range grid {
			grid[ch] = asymmetric{scale: 0.5, zero: -1}
		}
		grid[5] = bad
		if channelCodesSIMD(x, 16, 4, grid, make([]uint8, 16), nil) {
			t.Errorf("channelCodesSIMD took a grid with %+v", bad)
		}
	}
	// Zeros of both signs as a channel's least or greatest value, in either order.
	negZero := float32(math.Copysign(0, -1))
	for _, col := range [][]float32{{0, negZero, 1, 2}, {negZero, 0, 1, 2}, {-1, 0, negZero}, {-1, negZero, 0}, {0, 0, 3}} {
		zx := make([]float32, len(col)*16)
		for i, v := range col {
			for ch := range 16 {
				zx[i*16+ch] = v * float32(1+ch%2) // odd channels scaled: the same zeros
			}
		}
		lo, hi := make([]float32, 16), make([]float32, 16)
		if !channelRangeSIMD(zx, 16, lo, hi) {
			break // no AVX-512 form
		}
		for ch := range 16 {
			if wl, wh := channelRange(zx, 16, ch); math.Float32bits(lo[ch]) != math.Float32bits(wl) || math.Float32bits(hi[ch]) != math.Float32bits(wh) {
				t.Fatalf("channel %v: range [%v, %v], scalar [%v, %v]", col, lo[ch], hi[ch], wl, wh)
			}
		}
	}
	x[3] = float32(math.NaN())
	if channelRangeSIMD(x, 16, make([]float32, 16), make([]float32, 16)) {
		t.Errorf("channelRangeSIMD took a NaN")
	}
	if ranges == 0 {
		t.Errorf("no channel range checked")
	}
	t.Logf("%d grids and %d ranges checked", checked, ranges)
}
