package kvcache

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/qzoo/qzoo/quant"
	"github.com/qzoo/qzoo/quant/scheme"
	"gonum.org/v1/gonum/mat"
)

// Vector-quantized caches: vq, rvq and simvq code each head vector (HeadDim values of one
// key/value head of one token) with codebooks fitted per layer, side and head on calibration
// activations, at exactly b bits per value (b = kv_key_bits for keys, kv_value_bits for
// values; bit budget b·HeadDim per head vector). A codebook has at most 2^kv_codebook_bits
// entries (default 8 → 256). Terms follow layers/vq, whose graph-side VQ, RVQ and SimVQ these
// mirror on the host.
//
// A head vector's codes are its "parts": part p has a codebook of 2^bits_p rows over channels
// [offset_p, offset_p+dim_p) of the head; encoding walks the parts in order, each taking the
// nearest row to what the parts before it left (the residual), and decoding sums the chosen
// rows:
//
//	r ← x_head;  for p: k_p = argmin_j ‖r[offset_p:+dim_p] − C_p[j]‖²,  r[offset_p:+dim_p] −= C_p[k_p];
//	x̂_head = Σ_p C_p[k_p] placed at offset_p.
//
//   - vq: product VQ (Jégou et al. 2011, "Product Quantization for Nearest Neighbor Search";
//     the zoo's plain VQ per sub-vector). The head vector splits into HeadDim/d sub-vectors
//     of dimension d, the largest divisor of HeadDim with b·d ≤ kv_codebook_bits; each
//     sub-vector position has its own codebook of 2^(b·d) rows [2^(b·d), d] (positions are not
//     shared: channels of a head differ in scale, e.g. keys' outlier channels), fitted by
//     k-means (k-means++ seeding, Arthur & Vassilvitskii 2007, then Lloyd iterations). The
//     parts are disjoint, so the residual walk is plain nearest-neighbour search per part.
//     HeadDim 8, kv_codebook_bits 8: b=1 → one 256×8 codebook; b=2 → 2 sub-vectors of 4,
//     256×4 each; b=3 → 4 of 2, 64×2; b=4 → 4 of 2, 256×2; b=5..8 → 8 scalars, 2^b×1.
//   - rvq: residual VQ (Zeghidour et al. 2021, "SoundStream"; Défossez et al. 2022,
//     "EnCodec"): S = ⌈b·HeadDim / kv_codebook_bits⌉ stages over the whole head vector, stage
//     s a codebook of 2^kv_codebook_bits rows [K, HeadDim] except a last stage of the
//     remaining b·HeadDim mod kv_codebook_bits bits when that is not 0; stage s is fitted by
//     k-means on the residual the fitted (fp16-rounded) stages before it leave, and encoding
//     is greedy, stage by stage. HeadDim 8, kv_codebook_bits 8: b stages of 256×8 (each stage
//     1 bit per value).
//   - simvq: SimVQ (Zhu et al. 2024, "Addressing Representation Collapse in Vector Quantized
//     Models with One Linear Layer", arXiv:2411.02038): the layout of vq, each codebook
//     reparameterised as C = Z·Wᵀ + b, Z [K, d] ~ N(0, 1/d) frozen (drawn from kv_seed),
//     W [d, d] and b [d] fitted (the bias as layers/vq's vq_simvq_bias default and the
//     reference nn.Linear). The paper trains W by gradient descent inside an autoencoder;
//     with fixed data the same objective Σ‖x − c_a(x)‖² is minimised here by alternation:
//     assign each vector to its nearest row of C, then solve the least-squares problem
//     [Z_a 1]·[W b]ᵀ ≈ x in closed form (the (d+1)×(d+1) normal equations, by Cholesky with
//     a 1e-6 relative ridge). W starts as the Cholesky factor of the data covariance and b
//     as the mean, so the initial codebook is distributed as the data's Gaussian fit.
//
// All three run kv_iterations rounds (default 25), stopping early once no assignment
// changes; the assignment uses Yinyang k-means' bounds (Ding et al. 2015) so that vectors
// whose nearest row provably did not change are not searched again. An empty
// k-means cluster is moved onto the vector farthest from its centroid. The Fisher
// information is not used. Heads are fitted in parallel.
//
// # Storage
//
// Per token, the codes of all heads (head-major, parts in order) form one LSB-first bit
// stream (the format of [quant.Pack]) padded to whole bytes: ⌈KVHeads·Σ_p bits_p / 8⌉ =
// ⌈b·W/8⌉ bytes, e.g. W = 32, b = 2 → 8 bytes per token per stream. The first kv_sink tokens
// are kept in fp16 instead (2·W bytes each). The constants are the codebooks, rounded to fp16
// (the rounded rows are the ones used to encode and decode) and counted at 2 bytes per value,
// named "sub_P/codebook_hH" [2^(b·d), d] (vq, simvq: SimVQ's effective codebook C, not Z and
// W) and "stage_S/codebook_hH" [K_S, HeadDim] (rvq), for sub-vector P or stage S of head H.

const (
	vqDefaultCodebookBits = 8
	vqMaxCodebookBits     = 12
	vqDefaultIterations   = 25
)

func init() {
	for _, name := range []string{MethodVQ, MethodRVQ, MethodSimVQ} {
		register(name, method{
			calibrated: func(Config) bool { return true },
			fit: func(cfg Config, shape Shape, side Side, x, _ []float32, n int) (codec, error) {
				return fitVQ(name, cfg, shape, side, x, n)
			},
			load: func(cfg Config, shape Shape, side Side, consts map[string]Constant) (codec, error) {
				return loadVQ(name, cfg, shape, side, consts)
			},
			validate: func(cfg Config, shape Shape) error {
				if _, err := vqCodebookBits(cfg); err != nil {
					return err
				}
				if cfg.Iterations < 0 {
					return fmt.Errorf("kvcache: kv_iterations=%d must be ≥ 0 (0: the default %d)", cfg.Iterations, vqDefaultIterations)
				}
				for _, side := range []Side{Keys, Values} {
					if _, err := vqLayout(name, cfg, shape.HeadDim, side); err != nil {
						return err
					}
				}
				return nil
			},
		})
	}
}

// vqCodebookBits is kv_codebook_bits with its default applied.
func vqCodebookBits(cfg Config) (int, error) {
	cb := cfg.CodebookBits
	if cb == 0 {
		cb = vqDefaultCodebookBits
	}
	if cb < 1 || cb > vqMaxCodebookBits {
		return 0, fmt.Errorf("kvcache: kv_codebook_bits=%d must be in [1, %d] (0: the default %d)", cfg.CodebookBits, vqMaxCodebookBits, vqDefaultCodebookBits)
	}
	return cb, nil
}

// vqPart is one code of a head vector: a codebook of 2^bits rows over the head's channels
// [offset, offset+dim).
type vqPart struct {
	name              string // "sub_P" or "stage_S"
	offset, dim, bits int
}

// vqLayout returns the parts of a head vector of headDim values for method on side (see
// the layout rules above), or an error naming the kv_* key when b bits per value cannot be
// met exactly.
func vqLayout(method string, cfg Config, headDim int, side Side) ([]vqPart, error) {
	cb, err := vqCodebookBits(cfg)
	if err != nil {
		return nil, err
	}
	b, key := cfg.KeyBits, "kv_key_bits"
	if side == Values {
		b, key = cfg.ValueBits, "kv_value_bits"
	}
	var parts []vqPart
	if method == MethodRVQ {
		for s, left := 0, b*headDim; left > 0; s++ {
			w := min(cb, left)
			parts = append(parts, vqPart{name: fmt.Sprintf("stage_%d", s), dim: headDim, bits: w})
			left -= w
		}
		return parts, nil
	}
	d := 0
	for c := headDim; c >= 1; c-- {
		if headDim%c == 0 && b*c <= cb {
			d = c
			break
		}
	}
	if d == 0 {
		return nil, fmt.Errorf("kvcache: kv_quant=%s: %s=%d needs codebooks of at least 2^%d entries (one value per code), more than kv_codebook_bits=%d allows", method, key, b, b, cb)
	}
	for p := range headDim / d {
		parts = append(parts, vqPart{name: fmt.Sprintf("sub_%d", p), offset: p * d, dim: d, bits: b * d})
	}
	return parts, nil
}

// vqCodec holds the fp16-rounded codebooks of every head and part.
type vqCodec struct {
	heads, headDim int
	parts          []vqPart
	books          [][]float32 // [head·len(parts)+p]: [2^bits_p, dim_p], row-major
	cols           [][]float32 // the same books transposed by vqColumns (nil: search books)
	sink           int         // kv_sink: first tokens kept in fp16
	tokenBits      int         // Σ over heads and parts of bits_p
}

func newVQCodec(cfg Config, shape Shape, parts []vqPart) *vqCodec {
	c := &vqCodec{heads: shape.KVHeads, headDim: shape.HeadDim, parts: parts, sink: cfg.Sink,
		books: make([][]float32, shape.KVHeads*len(parts))}
	for _, p := range parts {
		c.tokenBits += shape.KVHeads * p.bits
	}
	return c
}

func (c *vqCodec) constName(head, p int) string {
	return fmt.Sprintf("%s/codebook_h%d", c.parts[p].name, head)
}

func (c *vqCodec) constants() []Constant {
	var out []Constant
	for h := range c.heads {
		for p, part := range c.parts {
			out = append(out, Constant{Name: c.constName(h, p), Dims: []int{1 << part.bits, part.dim},
				Data: slices.Clone(c.books[h*len(c.parts)+p])})
		}
	}
	return out
}

func (c *vqCodec) constantBytes() int {
	n := 0
	for _, b := range c.books {
		n += 2 * len(b)
	}
	return n
}

// loadVQ rebuilds a vq, rvq or simvq codec from its codebooks (rounded to fp16 again, which
// leaves stored ones unchanged).
func loadVQ(method string, cfg Config, shape Shape, side Side, consts map[string]Constant) (codec, error) {
	parts, err := vqLayout(method, cfg, shape.HeadDim, side)
	if err != nil {
		return nil, err
	}
	c := newVQCodec(cfg, shape, parts)
	var wants []want
	for h := range c.heads {
		for p, part := range parts {
			wants = append(wants, want{c.constName(h, p), []int{1 << part.bits, part.dim}})
		}
	}
	if err := expectConstants(consts, wants...); err != nil {
		return nil, err
	}
	for h := range c.heads {
		for p := range parts {
			book := slices.Clone(consts[c.constName(h, p)].Data)
			vqRoundFloat16(book)
			c.books[h*len(parts)+p] = book
		}
	}
	c.transpose()
	return c, nil
}

// transpose fills c.cols from c.books once they are final.
func (c *vqCodec) transpose() {
	c.cols = make([][]float32, len(c.books))
	for i, book := range c.books {
		c.cols[i] = vqColumns(book, c.parts[i%len(c.parts)].dim)
	}
}

// nearest is the code of book i nearest to v (vqNearest's), hint the stream's previous one.
func (c *vqCodec) nearest(i int, v []float32, hint int) int {
	if cols := c.cols[i]; cols != nil {
		return vqNearestColumns(v, cols)
	}
	return vqNearestFrom(v, c.books[i], hint)
}

// fitVQ fits the codebooks of every head on calibration vectors x [n, W].
func fitVQ(method string, cfg Config, shape Shape, side Side, x []float32, n int) (codec, error) {
	parts, err := vqLayout(method, cfg, shape.HeadDim, side)
	if err != nil {
		return nil, err
	}
	maxBits := 0
	for _, p := range parts {
		maxBits = max(maxBits, p.bits)
	}
	if n < 1<<maxBits {
		return nil, fmt.Errorf("kv_quant=%s needs at least %d calibration vectors (codebooks of %d entries), got %d", method, 1<<maxBits, 1<<maxBits, n)
	}
	iters := cfg.Iterations
	if iters == 0 {
		iters = vqDefaultIterations
	}
	c := newVQCodec(cfg, shape, parts)
	hd, w := shape.HeadDim, shape.Width()
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for h := range c.heads {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			resid := make([]float32, n*hd) // the head's vectors less the parts fitted so far
			for i := range n {
				copy(resid[i*hd:(i+1)*hd], x[i*w+h*hd:])
			}
			for p, part := range parts {
				sub := make([]float32, n*part.dim)
				for i := range n {
					copy(sub[i*part.dim:(i+1)*part.dim], resid[i*hd+part.offset:])
				}
				rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(side)<<48|uint64(h)<<24|uint64(p)))
				var book []float32
				if method == MethodSimVQ {
					book = vqFitSimVQ(sub, part.dim, 1<<part.bits, iters, rng)
				} else {
					book = vqKMeans(sub, part.dim, 1<<part.bits, iters, rng)
				}
				vqRoundFloat16(book)
				c.books[h*len(parts)+p] = book
				if method == MethodRVQ && p+1 < len(parts) {
					for i := range n {
						v := sub[i*part.dim : (i+1)*part.dim]
						k := vqNearest(v, book)
						r := resid[i*hd+part.offset : i*hd+part.offset+part.dim]
						for j := range r {
							r[j] -= book[k*part.dim+j]
						}
					}
				}
			}
		})
	}
	wg.Wait()
	c.transpose()
	return c, nil
}

func (c *vqCodec) newStream() stream {
	return &vqStream{c: c, codes: make([]uint32, c.heads*len(c.parts)), resid: make([]float32, c.headDim)}
}

// vqStream stores the sink tokens in fp16 and every later token as its packed codes.
type vqStream struct {
	c      *vqCodec
	sink   []uint16 // [tokens < kv_sink, W] fp16
	packed []byte   // [tokens, ⌈tokenBits/8⌉]
	codes  []uint32 // scratch: one token's codes
	resid  []float32
}

func (s *vqStream) append(x []float32, pos int) int {
	c := s.c
	if pos < c.sink {
		s.sink = appendFloat16(s.sink, x)
		return pos
	}
	np := len(c.parts)
	for h := range c.heads {
		copy(s.resid, x[h*c.headDim:(h+1)*c.headDim])
		for p, part := range c.parts {
			book := c.books[h*np+p]
			r := s.resid[part.offset : part.offset+part.dim]
			k := c.nearest(h*np+p, r, int(s.codes[h*np+p])) // hint: the previous token's code
			s.codes[h*np+p] = uint32(k)
			for j := range r {
				r[j] -= book[k*part.dim+j]
			}
		}
	}
	s.packed = append(s.packed, vqPack(s.codes, c.parts)...)
	return pos
}

func (s *vqStream) read(j int, dst []float32) {
	c := s.c
	w := c.heads * c.headDim
	nSink := len(s.sink) / w
	if j < nSink {
		readFloat16(s.sink[j*w:(j+1)*w], dst[:w])
		return
	}
	j -= nSink
	tb := (c.tokenBits + 7) / 8
	b := s.packed[j*tb : (j+1)*tb]
	clear(dst[:w])
	off := 0
	for h := range c.heads {
		for p, part := range c.parts {
			k := bitsAt(b, off, part.bits)
			off += part.bits
			row := c.books[h*len(c.parts)+p][k*part.dim : (k+1)*part.dim]
			out := dst[h*c.headDim+part.offset : h*c.headDim+part.offset+part.dim]
			for i, v := range row {
				out[i] += v
			}
		}
	}
}

func (s *vqStream) storage() scheme.Storage {
	return scheme.Storage{Codes: 8 * float64(len(s.packed)), FullPrecision: 16 * float64(len(s.sink))}
}

// vqPack packs one token's codes, code i of width parts[i mod len(parts)].bits, into one
// LSB-first bit stream with [quant.Pack]: directly when every width is the same and at most
// 8, else bit by bit (width 1), which gives the same stream for any widths.
func vqPack(codes []uint32, parts []vqPart) []byte {
	uniform := parts[0].bits <= 8 && !slices.ContainsFunc(parts, func(p vqPart) bool { return p.bits != parts[0].bits })
	if uniform {
		b := make([]uint8, len(codes))
		for i, k := range codes {
			b[i] = uint8(k)
		}
		return quant.Pack(b, parts[0].bits)
	}
	var bits []uint8
	for i, k := range codes {
		for t := range parts[i%len(parts)].bits {
			bits = append(bits, uint8(k>>t&1))
		}
	}
	return quant.Pack(bits, 1)
}

// vqRoundFloat16 rounds every value to the nearest binary16 in place.
func vqRoundFloat16(x []float32) {
	for i, v := range x {
		x[i] = quant.RoundFloat16(v)
	}
}

// vqSqDist is ‖a − b‖² over len(a) values.
func vqSqDist(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i, v := range a {
		d := v - b[i]
		s += d * d
	}
	return s
}

// vqNearest returns the row of book [K, len(v)] nearest to v: the first of the rows at the
// least vqSqDist.
func vqNearest(v, book []float32) int { return vqNearestFrom(v, book, 0) }

// vqNearestFrom is vqNearest starting from a guess, row hint (a stream's previous code: the
// nearest row of a close vector). Sub-vectors of 4 and 8 values (vq's and rvq's at
// HeadDim 8) take unrolled loops that sum the squares in vqSqDist's order and drop a row once
// its first half's sum exceeds the best distance so far (partial sums of squares only grow);
// a row as near as the best replaces it when it comes first. The result is vqNearest's
// exactly, for any hint (TestVQNearestFast).
func vqNearestFrom(v, book []float32, hint int) int {
	d := len(v)
	if hint < 0 || (hint+1)*d > len(book) {
		hint = 0
	}
	if bestD := vqSqDist(v, book[hint*d:]); bestD < float32(math.Inf(1)) {
		switch d {
		case 4:
			return vqNearest4(v, book, hint, bestD)
		case 8:
			return vqNearest8(v, book, hint, bestD)
		}
	}
	best, bestD := 0, float32(math.Inf(1))
	for k := 0; k*d < len(book); k++ {
		if dd := vqSqDist(v, book[k*d:]); dd < bestD {
			best, bestD = k, dd
		}
	}
	return best
}

// vqNearest4 is vqNearestFrom for len(v) = 4 from row best at distance bestD (finite).
func vqNearest4(v, book []float32, best int, bestD float32) int {
	v0, v1, v2, v3 := v[0], v[1], v[2], v[3]
	for k := 0; 4*k+4 <= len(book); k++ {
		r := book[4*k : 4*k+4 : 4*k+4]
		var s float32
		d := v0 - r[0]
		s += d * d
		d = v1 - r[1]
		s += d * d
		if s > bestD {
			continue
		}
		d = v2 - r[2]
		s += d * d
		d = v3 - r[3]
		s += d * d
		if s < bestD || s == bestD && k < best {
			best, bestD = k, s
		}
	}
	return best
}

// vqNearest8 is vqNearestFrom for len(v) = 8 from row best at distance bestD (finite).
func vqNearest8(v, book []float32, best int, bestD float32) int {
	v = v[:8:8]
	for k := 0; 8*k+8 <= len(book); k++ {
		r := book[8*k : 8*k+8 : 8*k+8]
		var s float32
		d := v[0] - r[0]
		s += d * d
		d = v[1] - r[1]
		s += d * d
		d = v[2] - r[2]
		s += d * d
		d = v[3] - r[3]
		s += d * d
		if s > bestD {
			continue
		}
		d = v[4] - r[4]
		s += d * d
		d = v[5] - r[5]
		s += d * d
		d = v[6] - r[6]
		s += d * d
		d = v[7] - r[7]
		s += d * d
		if s < bestD || s == bestD && k < best {
			best, bestD = k, s
		}
	}
	return best
}

// vqLloyd alternates assignment of the rows of x [n, d] to their nearest centre of c [K, d]
// and update(assign, c), which moves the centres in place, for at most iters updates,
// stopping early when no assignment changes. The assignment is Yinyang k-means' (Ding et al.
// 2015, "Yinyang K-Means: A Drop-In Replacement of the Classic K-Means with Consistent
// Speedup"), exact like a full search: the centres are split once into ⌈K/10⌉ groups of
// nearby ones; row i keeps an upper bound u_i ≥ ‖x_i − c_{a_i}‖ and, per group g, a lower
// bound l_ig ≤ min_{j∈g, j≠a_i} ‖x_i − c_j‖, loosened after each update by how far the
// centres (of g) moved, and searches only the groups with l_ig < u_i.
func vqLloyd(x []float32, d int, c []float32, iters int, update func(assign []int32, c []float32)) {
	n, k := len(x)/d, len(c)/d
	group, members := vqGroups(c, d, (k+9)/10)
	ng := len(members)
	inf := float32(math.Inf(1))
	assign, u, lb := make([]int32, n), make([]float32, n), make([]float32, n*ng)
	sq := func(v float32) float32 { return float32(math.Sqrt(float64(v))) }
	dist := make([]float32, k)
	for i := range n {
		xi, l := x[i*d:(i+1)*d], lb[i*ng:(i+1)*ng]
		a := 0
		for j := range k {
			dist[j] = vqSqDist(xi, c[j*d:])
			if dist[j] < dist[a] {
				a = j
			}
		}
		for g := range l {
			l[g] = inf
		}
		for j, dj := range dist {
			if g := group[j]; j != a && dj < l[g] {
				l[g] = dj
			}
		}
		for g := range l {
			l[g] = sq(l[g])
		}
		assign[i], u[i] = int32(a), sq(dist[a])
	}
	old := make([]float32, len(c))
	moved, groupMoved := make([]float32, k), make([]float32, ng)
	scanned := make([]bool, ng)
	m1, m2, m1j := make([]float32, ng), make([]float32, ng), make([]int, ng) // per searched group: two nearest
	for it := 0; ; it++ {
		copy(old, c)
		update(assign, c)
		if it+1 >= iters {
			return
		}
		clear(groupMoved)
		anyMoved := false
		for j := range k {
			moved[j] = sq(vqSqDist(old[j*d:(j+1)*d], c[j*d:]))
			groupMoved[group[j]] = max(groupMoved[group[j]], moved[j])
			anyMoved = anyMoved || moved[j] > 0
		}
		if !anyMoved {
			return
		}
		changed := 0
		for i := range n {
			a := int(assign[i])
			l := lb[i*ng : (i+1)*ng]
			u[i] += moved[a]
			low := inf
			for g := range l {
				l[g] -= groupMoved[g]
				if l[g] < low {
					low = l[g]
				}
			}
			if u[i] <= low {
				continue
			}
			xi := x[i*d : (i+1)*d]
			u[i] = sq(vqSqDist(xi, c[a*d:]))
			if u[i] <= low {
				continue
			}
			b, bestD := a, u[i]
			for g := range ng {
				scanned[g] = l[g] < bestD
				if !scanned[g] {
					continue
				}
				d1, d2, j1 := inf, inf, -1
				for _, j := range members[g] {
					if dd := vqSqDist(xi, c[j*d:]); dd < d2 {
						if dd < d1 {
							d1, d2, j1 = dd, d1, j
						} else {
							d2 = dd
						}
					}
				}
				m1[g], m2[g], m1j[g] = d1, d2, j1
				if r := sq(d1); r < bestD {
					b, bestD = j1, r
				}
			}
			for g := range ng {
				if scanned[g] {
					if m1j[g] == b {
						l[g] = sq(m2[g])
					} else {
						l[g] = sq(m1[g])
					}
				}
			}
			if b != a {
				if ga := group[a]; !scanned[ga] {
					l[ga] = min(l[ga], u[i])
				}
				assign[i], u[i] = int32(b), bestD
				changed++
			}
		}
		if changed == 0 {
			return
		}
	}
}

// vqGroups splits the centres c [K, d] into at most groups groups of nearby ones by a few
// Lloyd iterations on the centres (started from evenly spaced ones) and returns each centre's
// group and each non-empty group's centres.
func vqGroups(c []float32, d, groups int) ([]int, [][]int) {
	k := len(c) / d
	g := make([]float32, groups*d)
	for t := range groups {
		j := t * k / groups
		copy(g[t*d:(t+1)*d], c[j*d:])
	}
	group := make([]int, k)
	sums, counts := make([]float64, groups*d), make([]int, groups)
	for range 5 {
		clear(sums)
		clear(counts)
		for j := range k {
			group[j] = vqNearest(c[j*d:(j+1)*d], g)
			counts[group[j]]++
			for t, v := range c[j*d : (j+1)*d] {
				sums[group[j]*d+t] += float64(v)
			}
		}
		for t, cnt := range counts {
			for e := range d {
				if cnt > 0 {
					g[t*d+e] = float32(sums[t*d+e] / float64(cnt))
				}
			}
		}
	}
	var members [][]int
	index := make([]int, groups)
	for t := range groups {
		index[t] = len(members)
		if counts[t] > 0 {
			members = append(members, nil)
		}
	}
	for j := range k {
		group[j] = index[group[j]]
		members[group[j]] = append(members[group[j]], j)
	}
	return group, members
}

// vqKMeans fits k centroids [k, d] to the rows of x [n ≥ k, d]: k-means++ seeding, then
// Lloyd iterations (see [vqLloyd]); a centroid left without rows moves onto the row
// farthest from its own centroid.
func vqKMeans(x []float32, d, k, iters int, rng *rand.Rand) []float32 {
	n := len(x) / d
	c := make([]float32, k*d)
	// k-means++: each next centre is row i with probability ∝ its squared distance to the
	// nearest centre so far.
	first := rng.IntN(n)
	copy(c[:d], x[first*d:])
	dist := make([]float64, n)
	for i := range n {
		dist[i] = float64(vqSqDist(x[i*d:(i+1)*d], c[:d]))
	}
	for j := 1; j < k; j++ {
		total := 0.0
		for _, v := range dist {
			total += v
		}
		pick := rng.IntN(n)
		if total > 0 {
			r := rng.Float64() * total
			for i, v := range dist {
				if r -= v; r < 0 || (i == n-1) {
					pick = i
					break
				}
			}
		}
		cj := c[j*d : (j+1)*d]
		copy(cj, x[pick*d:])
		for i := range n {
			dist[i] = min(dist[i], float64(vqSqDist(x[i*d:(i+1)*d], cj)))
		}
	}
	sums, counts := make([]float64, k*d), make([]float64, k)
	vqLloyd(x, d, c, iters, func(assign []int32, c []float32) {
		vqClusterSums(x, d, assign, sums, counts)
		var empty []int
		for j, cnt := range counts {
			if cnt == 0 {
				empty = append(empty, j)
				continue
			}
			for t := range d {
				c[j*d+t] = float32(sums[j*d+t] / cnt)
			}
		}
		if len(empty) == 0 {
			return
		}
		order := make([]int, n)
		for i := range n {
			order[i] = i
			dist[i] = float64(vqSqDist(x[i*d:(i+1)*d], c[int(assign[i])*d:]))
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(dist[b], dist[a]) })
		for e, j := range empty {
			copy(c[j*d:(j+1)*d], x[order[e%n]*d:])
		}
	})
	return c
}

// vqClusterSums writes the number of rows of x [n, d] assigned to each centre into counts
// [K] and their sums into sums [K, d].
func vqClusterSums(x []float32, d int, assign []int32, sums, counts []float64) {
	clear(sums)
	clear(counts)
	for i, a := range assign {
		counts[a]++
		for t, v := range x[i*d : (i+1)*d] {
			sums[int(a)*d+t] += float64(v)
		}
	}
}

// vqFitSimVQ fits SimVQ's effective codebook C = Z·Wᵀ + b [k, d] to the rows of x [n ≥ k, d]
// by alternating nearest-row assignment and the least-squares fit of W and b (see the
// method's description above).
func vqFitSimVQ(x []float32, d, k, iters int, rng *rand.Rand) []float32 {
	n, m := len(x)/d, d+1
	// zt [k, d+1]: the rows of the frozen basis Z, each extended by 1 for the bias.
	zt := make([]float64, k*m)
	sd := 1 / math.Sqrt(float64(d))
	for j := range k {
		for t := range d {
			zt[j*m+t] = rng.NormFloat64() * sd
		}
		zt[j*m+d] = 1
	}
	// beta [d+1, d] = [Wᵀ; b], so that C = zt·beta. Start: W = L/sd with Σ = L·Lᵀ the data
	// covariance and b the mean, so that the rows of C are distributed as N(mean, Σ).
	mean := make([]float64, d)
	for i := range n {
		for t, v := range x[i*d : (i+1)*d] {
			mean[t] += float64(v) / float64(n)
		}
	}
	cov := make([]float64, d*d)
	for i := range n {
		xi := x[i*d : (i+1)*d]
		for a := range d {
			for b := range d {
				cov[a*d+b] += (float64(xi[a]) - mean[a]) * (float64(xi[b]) - mean[b]) / float64(n)
			}
		}
	}
	vqRidge(cov, d)
	var chol mat.Cholesky
	chol.Factorize(mat.NewSymDense(d, cov)) // positive definite after the ridge
	var l mat.TriDense
	chol.LTo(&l)
	beta := make([]float64, m*d)
	for t := range d {
		for o := range d {
			beta[t*d+o] = l.At(o, t) / sd
		}
		beta[d*d+t] = mean[t]
	}
	c := make([]float32, k*d)
	project := func() {
		for j := range k {
			for o := range d {
				s := 0.0
				for t := range m {
					s += zt[j*m+t] * beta[t*d+o]
				}
				c[j*d+o] = float32(s)
			}
		}
	}
	project()
	counts, sums := make([]float64, k), make([]float64, k*d)
	a, rhs := make([]float64, m*m), make([]float64, m*d)
	vqLloyd(x, d, c, iters, func(assign []int32, _ []float32) {
		vqClusterSums(x, d, assign, sums, counts)
		// Normal equations: (Σ_j n_j z̃_j z̃_jᵀ)·beta = Σ_j z̃_j (Σ_{a(i)=j} x_i)ᵀ.
		clear(a)
		clear(rhs)
		for j := range k {
			z := zt[j*m : (j+1)*m]
			for p := range m {
				for q := range m {
					a[p*m+q] += counts[j] * z[p] * z[q]
				}
				for o := range d {
					rhs[p*d+o] += z[p] * sums[j*d+o]
				}
			}
		}
		vqRidge(a, m)
		var chol mat.Cholesky
		if !chol.Factorize(mat.NewSymDense(m, a)) {
			return
		}
		if err := chol.SolveTo(mat.NewDense(m, d, beta), mat.NewDense(m, d, rhs)); err != nil {
			return
		}
		project()
	})
	return c
}

// vqRidge adds 1e-6 of the mean diagonal (and a floor of 1e-12) to the diagonal of the
// symmetric m×m matrix a, making a positive semi-definite one definite.
func vqRidge(a []float64, m int) {
	tr := 0.0
	for i := range m {
		tr += a[i*m+i]
	}
	for i := range m {
		a[i*m+i] += 1e-6*tr/float64(m) + 1e-12
	}
}
