package kvcache

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qzoo/qzoo/quant"
)

var vqTestShape = Shape{Layers: 2, KVHeads: 4, HeadDim: 8}

// vqGaussian returns n token vectors [n, W] whose head vectors are correlated Gaussians with
// a per-channel offset and scale (keys have such channels).
func vqGaussian(rng *rand.Rand, n, w int) []float32 {
	mix := make([]float64, w*w)
	for i := range mix {
		mix[i] = rng.NormFloat64() / math.Sqrt(float64(w))
	}
	offset, scale := make([]float64, w), make([]float64, w)
	for c := range w {
		offset[c], scale[c] = rng.NormFloat64(), math.Exp(rng.NormFloat64()/2)
	}
	x := make([]float32, n*w)
	z := make([]float64, w)
	for i := range n {
		for c := range z {
			z[c] = rng.NormFloat64()
		}
		for c := range w {
			s := z[c]
			for t := range w {
				s += 0.5 * mix[c*w+t] * z[t]
			}
			x[i*w+c] = float32(offset[c] + scale[c]*s)
		}
	}
	return x
}

// vqClustered returns n token vectors [n, W] each of whose head vectors is one of clusters
// centres (per head) plus noise of standard deviation noise.
func vqClustered(rng *rand.Rand, n, heads, headDim, clusters int, noise float64) []float32 {
	w := heads * headDim
	centres := make([]float64, heads*clusters*headDim)
	for i := range centres {
		centres[i] = 2 * rng.NormFloat64()
	}
	x := make([]float32, n*w)
	for i := range n {
		for h := range heads {
			k := rng.IntN(clusters)
			for t := range headDim {
				x[i*w+h*headDim+t] = float32(centres[(h*clusters+k)*headDim+t] + noise*rng.NormFloat64())
			}
		}
	}
	return x
}

// vqActivations gives every layer the same keys and values x [n, W].
func vqActivations(shape Shape, x []float32, n int) *Activations {
	act := &Activations{N: n}
	for range shape.Layers {
		act.Layers = append(act.Layers, LayerActivations{Keys: x, KeysPre: x, Values: x})
	}
	return act
}

// vqRoundTrip stores the tokens of x [n, W] in every layer of a new sequence and returns the
// mean squared error of what reads back, and the sequence.
func vqRoundTrip(t *testing.T, q *Quantizer, x []float32, n int) (float64, *Sequence) {
	t.Helper()
	w := q.Shape.Width()
	seq := q.NewSequence()
	k, v := make([]float32, w), make([]float32, w)
	sum := 0.0
	for l := range q.Shape.Layers {
		for i := range n {
			tok := x[i*w : (i+1)*w]
			if from := seq.Append(l, tok, tok, tok); from != i {
				t.Fatalf("Append of token %d returned %d", i, from)
			}
		}
		for i := range n {
			seq.Read(l, i, k, v)
			for c := range w {
				dk, dv := float64(k[c]-x[i*w+c]), float64(v[c]-x[i*w+c])
				sum += dk*dk + dv*dv
			}
		}
	}
	return sum / float64(2*q.Shape.Layers*n*w), seq
}

func vqFitT(t *testing.T, cfg Config, shape Shape, x []float32, n int) *Quantizer {
	t.Helper()
	q, err := Fit(cfg, shape, vqActivations(shape, x, n))
	if err != nil {
		t.Fatalf("Fit %+v: %v", cfg, err)
	}
	return q
}

func TestVQLayout(t *testing.T) {
	type layout struct{ parts, dim, bits int }
	for _, tc := range []struct {
		method   string
		b, cb    int
		headDim  int
		want     layout
		lastBits int
	}{
		{MethodVQ, 1, 8, 8, layout{1, 8, 8}, 8},
		{MethodVQ, 2, 8, 8, layout{2, 4, 8}, 8},
		{MethodVQ, 3, 8, 8, layout{4, 2, 6}, 6},
		{MethodVQ, 4, 8, 8, layout{4, 2, 8}, 8},
		{MethodSimVQ, 5, 8, 8, layout{8, 1, 5}, 5},
		{MethodVQ, 8, 8, 8, layout{8, 1, 8}, 8},
		{MethodVQ, 3, 12, 8, layout{2, 4, 12}, 12},
		{MethodRVQ, 1, 8, 8, layout{1, 8, 8}, 8},
		{MethodRVQ, 4, 8, 8, layout{4, 8, 8}, 8},
		{MethodRVQ, 2, 12, 8, layout{2, 8, 12}, 4},
		{MethodRVQ, 3, 5, 8, layout{5, 8, 5}, 4},
	} {
		cfg := Config{Method: tc.method, KeyBits: tc.b, ValueBits: tc.b, CodebookBits: tc.cb}
		parts, err := vqLayout(tc.method, cfg, tc.headDim, Keys)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		got := layout{len(parts), parts[0].dim, parts[0].bits}
		total := 0
		for _, p := range parts {
			total += p.bits
		}
		if got != tc.want || parts[len(parts)-1].bits != tc.lastBits || total != tc.b*tc.headDim {
			t.Errorf("%s b=%d cb=%d: layout %+v (last %d bits, %d in all), want %+v (last %d bits, %d in all)",
				tc.method, tc.b, tc.cb, got, parts[len(parts)-1].bits, total, tc.want, tc.lastBits, tc.b*tc.headDim)
		}
	}
}

func TestVQErrorFallsWithBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := vqTestShape.Width()
	const n, nTest = 3000, 300
	all := vqGaussian(rng, n+nTest, w)
	train, test := all[:n*w], all[n*w:]
	for _, m := range []string{MethodVQ, MethodRVQ, MethodSimVQ} {
		prev := math.Inf(1)
		for b := 1; b <= 4; b++ {
			q := vqFitT(t, Config{Method: m, KeyBits: b, ValueBits: b, Iterations: 10, Seed: 3}, vqTestShape, train, n)
			mse, _ := vqRoundTrip(t, q, test, nTest)
			t.Logf("%s b=%d: held-out MSE %.4f", m, b, mse)
			if !(mse < prev) {
				t.Errorf("%s: MSE %.4f at %d bits is not below %.4f at %d", m, mse, b, prev, b-1)
			}
			prev = mse
		}
	}
}

func TestRVQErrorFallsWithStages(t *testing.T) {
	// kv_codebook_bits 4: b bits per value on 8-dim heads are 2b stages of 16 codes.
	rng := rand.New(rand.NewPCG(4, 5))
	w := vqTestShape.Width()
	const n = 2000
	x := vqGaussian(rng, n, w)
	prev := math.Inf(1)
	for b := 1; b <= 3; b++ {
		q := vqFitT(t, Config{Method: MethodRVQ, KeyBits: b, ValueBits: b, CodebookBits: 4, Iterations: 10}, vqTestShape, x, n)
		c := q.codecs[0][Keys].(*vqCodec)
		if len(c.parts) != 2*b {
			t.Fatalf("b=%d: %d stages, want %d", b, len(c.parts), 2*b)
		}
		// The error of the first s stages on the calibration data falls with s.
		for s := 1; s <= len(c.parts); s++ {
			sub := &vqCodec{heads: c.heads, headDim: c.headDim, parts: c.parts[:s], tokenBits: s * 4 * c.heads}
			for h := range c.heads {
				sub.books = append(sub.books, c.books[h*len(c.parts):h*len(c.parts)+s]...)
			}
			sub.transpose()
			st := sub.newStream()
			got := make([]float32, w)
			sum := 0.0
			for i := range n {
				st.append(x[i*w:(i+1)*w], i)
				st.read(i, got)
				for k, v := range got {
					d := float64(v - x[i*w+k])
					sum += d * d
				}
			}
			mse := sum / float64(n*w)
			if !(mse < prev) {
				t.Errorf("b=%d, %d stages: MSE %.4f is not below %.4f", b, s, mse, prev)
			}
			prev = mse
		}
		prev = math.Inf(1)
	}
}

func TestVQClusteredExact(t *testing.T) {
	// 100 clusters per head, fewer than the 256 codes of one 8-dim codebook: vq and a
	// one-stage rvq find them. (SimVQ's codebook is a linear image of fixed random points,
	// which cannot land on 100 arbitrary centres.)
	rng := rand.New(rand.NewPCG(6, 7))
	const n, noise = 4000, 1e-3
	x := vqClustered(rng, n, vqTestShape.KVHeads, vqTestShape.HeadDim, 100, noise)
	for _, m := range []string{MethodVQ, MethodRVQ} {
		q := vqFitT(t, Config{Method: m, KeyBits: 1, ValueBits: 1}, vqTestShape, x, n)
		mse, _ := vqRoundTrip(t, q, x, n)
		if mse > 4*noise*noise {
			t.Errorf("%s: MSE %.3g on 100 clusters of noise %.0e, want about %.0e", m, mse, noise, noise*noise)
		}
	}
}

func TestVQBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	w := vqTestShape.Width()
	const n, tokens = 600, 10
	x := vqGaussian(rng, n, w)
	for _, tc := range []struct {
		method         string
		kBits, vBits   int
		cb, sink       int
		perToken       int // bytes per token of keys and values together, one layer
		constsPerLayer int // bytes of the codebooks of one layer
	}{
		// keys 2 bits: 2 sub-vectors of 4, 256 codes; values 3 bits: 4 sub-vectors of 2, 64
		// codes; 4 heads; codebooks at 2 bytes per value.
		{MethodVQ, 2, 3, 0, 0, 2*32/8 + 3*32/8, 2 * 4 * (2*256*4 + 4*64*2)},
		{MethodSimVQ, 1, 1, 0, 3, 32/8 + 32/8, 2 * 2 * 4 * 256 * 8},
		// rvq, kv_codebook_bits 12: 16 bits per head = a stage of 4096 and one of 16 codes.
		{MethodRVQ, 2, 2, 12, 0, 2 * 4 * 16 / 8, 2 * 2 * 4 * (4096 + 16) * 8},
	} {
		cfg := Config{Method: tc.method, KeyBits: tc.kBits, ValueBits: tc.vBits, CodebookBits: tc.cb, Sink: tc.sink, Iterations: 2}
		nFit := n
		if tc.cb == 12 {
			nFit = 4096
		}
		xf := x
		if nFit > n {
			xf = vqGaussian(rng, nFit, w)
		}
		q := vqFitT(t, cfg, vqTestShape, xf, nFit)
		_, seq := vqRoundTrip(t, q, x, tokens)
		want := vqTestShape.Layers * (tc.sink*2*w*2 + (tokens-tc.sink)*tc.perToken)
		if got := seq.Bytes(); got != want {
			t.Errorf("%s: Bytes %d, want %d", tc.method, got, want)
		}
		if got, want := q.ConstantBytes(), vqTestShape.Layers*tc.constsPerLayer; got != want {
			t.Errorf("%s: ConstantBytes %d, want %d", tc.method, got, want)
		}
	}
	// W = 32, HeadDim 8, b = 2 → 8 bytes per token per stream; 2 bits per value.
	q := vqFitT(t, Config{Method: MethodVQ, KeyBits: 2, ValueBits: 2, Iterations: 2}, vqTestShape, x, n)
	_, seq := vqRoundTrip(t, q, x, tokens)
	if got := seq.BitsPerValue(); got != 2 {
		t.Errorf("BitsPerValue %v, want 2", got)
	}
}

func TestVQPackedCodes(t *testing.T) {
	// The stored bytes of a token are its codes packed by quant.Pack: widths 6 (vq, 3 bits)
	// and 8 (vq, 2 bits), and mixed widths 12 and 4 (rvq) read back bit by bit.
	rng := rand.New(rand.NewPCG(10, 11))
	w := vqTestShape.Width()
	for _, cfg := range []Config{
		{Method: MethodVQ, KeyBits: 3, ValueBits: 3},
		{Method: MethodVQ, KeyBits: 2, ValueBits: 2},
		{Method: MethodRVQ, KeyBits: 2, ValueBits: 2, CodebookBits: 12},
	} {
		cfg.Iterations = 1
		parts, err := vqLayout(cfg.Method, cfg, vqTestShape.HeadDim, Keys)
		if err != nil {
			t.Fatal(err)
		}
		n := 1 << parts[0].bits
		q := vqFitT(t, cfg, Shape{Layers: 1, KVHeads: 4, HeadDim: 8}, vqGaussian(rng, n, w), n)
		st := q.codecs[0][Keys].newStream().(*vqStream)
		st.append(vqGaussian(rng, 1, w), 0)
		codes := slices.Clone(st.codes)
		var fromPacked []int
		if cfg.Method == MethodVQ {
			u, err := quant.Unpack(st.packed, parts[0].bits, len(codes))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range u {
				fromPacked = append(fromPacked, int(c))
			}
		} else {
			bits, err := quant.Unpack(st.packed, 1, 4*16)
			if err != nil {
				t.Fatal(err)
			}
			off := 0
			for i := range codes {
				k := 0
				for b := range parts[i%len(parts)].bits {
					k |= int(bits[off+b]) << b
				}
				off += parts[i%len(parts)].bits
				fromPacked = append(fromPacked, k)
			}
		}
		off := 0
		for i, c := range codes {
			bits := parts[i%len(parts)].bits
			if fromPacked[i] != int(c) || bitsAt(st.packed, off, bits) != int(c) {
				t.Errorf("%s cb=%d: code %d is %d, packed %d, bitsAt %d", cfg.Method, cfg.CodebookBits, i, c, fromPacked[i], bitsAt(st.packed, off, bits))
			}
			off += bits
		}
	}
}

func TestVQLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	w := vqTestShape.Width()
	const n = 600
	x := vqGaussian(rng, n, w)
	for _, m := range []string{MethodVQ, MethodRVQ, MethodSimVQ} {
		cfg := Config{Method: m, KeyBits: 2, ValueBits: 1, Iterations: 3, Sink: 1}
		q := vqFitT(t, cfg, vqTestShape, x, n)
		consts := q.Constants()
		for _, c := range consts {
			for _, v := range c.Data {
				if quant.RoundFloat16(v) != v {
					t.Fatalf("%s: constant %q holds %v, not an fp16 value", m, c.Name, v)
				}
			}
		}
		q2, err := Load(cfg, vqTestShape, consts)
		if err != nil {
			t.Fatalf("%s: Load: %v", m, err)
		}
		s1, s2 := q.NewSequence(), q2.NewSequence()
		k1, v1, k2, v2 := make([]float32, w), make([]float32, w), make([]float32, w), make([]float32, w)
		for i := range 20 {
			tok := x[i*w : (i+1)*w]
			s1.Append(1, tok, tok, tok)
			s2.Append(1, tok, tok, tok)
			s1.Read(1, i, k1, v1)
			s2.Read(1, i, k2, v2)
			if !slices.Equal(k1, k2) || !slices.Equal(v1, v2) {
				t.Fatalf("%s: token %d reads differently after Load", m, i)
			}
		}
		if q.ConstantBytes() != q2.ConstantBytes() {
			t.Errorf("%s: ConstantBytes %d after Load, %d before", m, q2.ConstantBytes(), q.ConstantBytes())
		}

		name := "layer_01/values/" + consts[len(consts)-1].Name[len("layer_01/values/"):]
		i := slices.IndexFunc(consts, func(c Constant) bool { return c.Name == name })
		bad := slices.Clone(consts)
		bad[i] = Constant{Name: name, Dims: []int{len(bad[i].Data)}, Data: bad[i].Data}
		if _, err := Load(cfg, vqTestShape, bad); err == nil || !strings.Contains(err.Error(), name[len("layer_01/values/"):]) {
			t.Errorf("%s: Load with %q misshapen: %v", m, name, err)
		}
		missing := slices.Delete(slices.Clone(consts), i, i+1)
		if _, err := Load(cfg, vqTestShape, missing); err == nil || !strings.Contains(err.Error(), name[len("layer_01/values/"):]) || !strings.Contains(err.Error(), "missing") {
			t.Errorf("%s: Load without %q: %v", m, name, err)
		}
		extra := append(slices.Clone(consts), Constant{Name: "layer_00/keys/sub_9/codebook_h0", Dims: []int{1}, Data: []float32{0}})
		if _, err := Load(cfg, vqTestShape, extra); err == nil || !strings.Contains(err.Error(), "sub_9/codebook_h0") {
			t.Errorf("%s: Load with an unexpected constant: %v", m, err)
		}
	}
}

func TestVQInvalid(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{Method: MethodVQ, KeyBits: 5, ValueBits: 2, CodebookBits: 4}, []string{"kv_key_bits=5", "kv_codebook_bits=4"}},
		{Config{Method: MethodSimVQ, KeyBits: 2, ValueBits: 3, CodebookBits: 2}, []string{"kv_value_bits=3", "kv_codebook_bits=2"}},
		{Config{Method: MethodRVQ, KeyBits: 2, ValueBits: 2, CodebookBits: 13}, []string{"kv_codebook_bits=13", "[1, 12]"}},
		{Config{Method: MethodVQ, KeyBits: 2, ValueBits: 2, CodebookBits: -1}, []string{"kv_codebook_bits=-1"}},
		{Config{Method: MethodVQ, KeyBits: 2, ValueBits: 2, Iterations: -1}, []string{"kv_iterations=-1"}},
		{Config{Method: MethodRVQ, KeyBits: 9, ValueBits: 2}, []string{"kv_key_bits=9"}},
	} {
		err := tc.cfg.Validate(vqTestShape)
		for _, s := range tc.want {
			if err == nil || !strings.Contains(err.Error(), s) {
				t.Errorf("%+v: error %v does not name %q", tc.cfg, err, s)
			}
		}
	}
	// Too few calibration vectors for a 256-entry codebook.
	x := vqGaussian(rand.New(rand.NewPCG(14, 15)), 100, vqTestShape.Width())
	_, err := Fit(Config{Method: MethodVQ, KeyBits: 1, ValueBits: 1}, vqTestShape, vqActivations(vqTestShape, x, 100))
	if err == nil || !strings.Contains(err.Error(), "at least 256 calibration vectors") {
		t.Errorf("Fit on 100 vectors: %v", err)
	}
	if _, err := New(Config{Method: MethodVQ, KeyBits: 1, ValueBits: 1}, vqTestShape); err == nil {
		t.Error("New of vq without calibration succeeded")
	}
}

// TestVQFitTime fits the brief's setting: W = 32 (4 heads of 8), 30,000 vectors per layer,
// 5 layers, keys and values, 256-entry codebooks, 25 iterations.
func TestVQFitTime(t *testing.T) {
	if testing.Short() {
		t.Skip("fits 5 layers on 30,000 vectors")
	}
	shape := Shape{Layers: 5, KVHeads: 4, HeadDim: 8}
	const n = 30000
	x := vqGaussian(rand.New(rand.NewPCG(16, 17)), n, shape.Width())
	for _, cfg := range []Config{
		{Method: MethodVQ, KeyBits: 1, ValueBits: 1},
		{Method: MethodVQ, KeyBits: 2, ValueBits: 2},
		{Method: MethodRVQ, KeyBits: 2, ValueBits: 2},
		{Method: MethodSimVQ, KeyBits: 2, ValueBits: 2},
	} {
		start := time.Now()
		if _, err := Fit(cfg, shape, vqActivations(shape, x, n)); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s b=%d: fit in %v", cfg.Method, cfg.KeyBits, time.Since(start))
	}
}

// vqNearestRef is vqNearest before its unrolled, early-exit forms: a full vqSqDist per row.
func vqNearestRef(v, book []float32) int {
	d := len(v)
	best, bestD := 0, float32(math.Inf(1))
	for k := 0; k*d < len(book); k++ {
		if dd := vqSqDist(v, book[k*d:]); dd < bestD {
			best, bestD = k, dd
		}
	}
	return best
}

// TestVQNearestFast checks that vqNearest picks the row the full search picks, on Gaussian
// and on coarse (tie-rich) values with duplicated rows, for every sub-vector size, and on
// the codebooks of fitted vq and rvq codecs.
//
// Where the build has the AVX-512 search (GOEXPERIMENT=simd on amd64 with AVX-512), it is
// checked the same way, and through the codecs' own search (vqCodec.nearest).
func TestVQNearestFast(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 17))
	columns := 0 // searches checked through vqNearestColumns
	for _, d := range []int{1, 2, 3, 4, 5, 8, 16} {
		for _, k := range []int{1, 2, 16, 256} {
			for _, coarse := range []bool{false, true} {
				val := func() float32 {
					if coarse {
						return float32(rng.IntN(3)) // many equal distances
					}
					return float32(rng.NormFloat64())
				}
				book := make([]float32, k*d)
				for i := range book {
					book[i] = val()
				}
				if k > 1 {
					copy(book[(k-1)*d:], book[:d]) // a duplicated row: the first must win
				}
				v := make([]float32, d)
				for range 200 {
					for i := range v {
						v[i] = val()
					}
					want := vqNearestRef(v, book)
					for _, hint := range []int{0, k - 1, rng.IntN(k), want, -1, k} {
						if got := vqNearestFrom(v, book, hint); got != want {
							t.Fatalf("d=%d K=%d coarse=%v: vqNearestFrom(%v, hint %d) = %d, full search %d", d, k, coarse, v, hint, got, want)
						}
					}
					if cols := vqColumns(book, d); cols != nil {
						columns++
						if got := vqNearestColumns(v, cols); got != want {
							t.Fatalf("d=%d K=%d coarse=%v: vqNearestColumns(%v) = %d, full search %d", d, k, coarse, v, got, want)
						}
					}
				}
			}
		}
	}
	for _, d := range []int{4, 8} { // non-finite vectors: the full search's answer (row 0)
		book := make([]float32, 16*d)
		for i := range book {
			book[i] = float32(rng.NormFloat64())
		}
		for _, x := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			v := make([]float32, d)
			v[d-1] = x
			want := vqNearestRef(v, book)
			if got := vqNearestFrom(v, book, 5); got != want {
				t.Fatalf("d=%d, %v: vqNearestFrom = %d, full search %d", d, x, got, want)
			}
			if cols := vqColumns(book, d); cols != nil {
				columns++
				if got := vqNearestColumns(v, cols); got != want {
					t.Fatalf("d=%d, %v: vqNearestColumns = %d, full search %d", d, x, got, want)
				}
			}
		}
	}
	for _, method := range []string{MethodVQ, MethodRVQ} {
		cfg := Config{Method: method, KeyBits: 2, ValueBits: 2}
		x := vqGaussian(rng, 1024, vqTestShape.Width())
		c, err := fitVQ(method, cfg, vqTestShape, Keys, x, 1024)
		if err != nil {
			t.Fatal(err)
		}
		vc := c.(*vqCodec)
		checked := 0
		for i := range 1024 {
			for h := range vc.heads {
				for p, part := range vc.parts {
					v := x[i*vqTestShape.Width()+h*vc.headDim+part.offset:][:part.dim]
					book := vc.books[h*len(vc.parts)+p]
					want := vqNearestRef(v, book)
					if got := vqNearest(v, book); got != want {
						t.Fatalf("%s head %d part %d: vqNearest = %d, full search %d", method, h, p, got, want)
					}
					if got := vqNearestFrom(v, book, (want+i)%(len(book)/part.dim)); got != want {
						t.Fatalf("%s head %d part %d: vqNearestFrom = %d, full search %d", method, h, p, got, want)
					}
					if got := vc.nearest(h*len(vc.parts)+p, v, i%(len(book)/part.dim)); got != want {
						t.Fatalf("%s head %d part %d: the codec's search = %d, full search %d", method, h, p, got, want)
					}
					checked++
				}
			}
		}
		if checked == 0 {
			t.Fatalf("%s: no parts checked", method)
		}
	}
	t.Logf("%d searches checked through the AVX-512 search", columns)
}

// BenchmarkVQNearest times vqNearest against the full search, and the AVX-512 search where
// the build has it, on 256-row codebooks of vq2's and rvq2's sub-vector sizes (4 and 8
// values).
func BenchmarkVQNearest(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, d := range []int{4, 8} {
		book := make([]float32, 256*d)
		for i := range book {
			book[i] = float32(rng.NormFloat64())
		}
		v := make([]float32, 64*d)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		cols := vqColumns(book, d) // nil without the AVX-512 search
		for _, f := range []struct {
			name string
			fn   func(v, book []float32) int
		}{{"fast", vqNearest}, {"full", vqNearestRef}, {"columns", func(v, _ []float32) int { return vqNearestColumns(v, cols) }}} {
			if f.name == "columns" && cols == nil {
				continue
			}
			b.Run(fmt.Sprintf("d=%d/%s", d, f.name), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					j := i % 64
					f.fn(v[j*d:(j+1)*d], book)
				}
			})
		}
	}
}
