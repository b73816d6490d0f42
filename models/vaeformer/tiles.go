package vaeformer

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/qzoo/qzoo/framework"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Tiled coding: bounded memory and linear cost on grids of any size.
//
// Attention is global over the n_h·n_w tokens of a window, so a whole-grid pass costs memory
// and time in (n_h·n_w)²: a day of a 1° global field (46×90 tokens at p = 4) took 8.5 s and
// 982 MB to compress untiled (vaeformer_quick, ONNX Runtime, 2 loaded cores), and a 0.25°
// field (181×360 tokens) would need some 70 GB per window for its attention weights alone. A
// grid with more than Core + 2·Halo tokens along either axis is coded in tiles instead. Along
// each axis the tokens are cut into cores of Core tokens (the last one shorter); a core is
// coded from the encoder run over a span of Core + 2·Halo tokens around it (shifted inward at
// the grid's edges, so every span has the same shape and every tile the same graph), keeping
// only the core's latent means. The hyper-analysis h_a runs on each core's means; cores
// start at even tokens, so its 2×2 merge covers the same tokens as on the whole grid, and the
// hyper-latent z, the hyperprior and both rANS streams are laid out exactly as untiled (the
// whole grid per window, row-major). The decoder knows every latent before synthesis: each
// core is decoded from the decoder run over its span's latents, keeping only the core's
// points. Positions are the span's own (the sine–cosine embedding of a Core + 2·Halo grid),
// which is a grid like those the model was trained on. Since only the core's outputs are
// kept, the last encoder and decoder block runs for the core's tokens alone ([EncodeCore],
// [DecodeCore]: the same values, a (Core/span)² share of that block's work).
//
// A backend call then holds b ≤ 4 windows of one span, whatever the grid, and one call runs
// per core ([tileWorkers]: the tiles are coded side by side, each writing only its own core's
// latents or points, so the result does not depend on their order); the symbols of the
// whole field (24 bytes per latent element, c_y/(w·C·p²) elements per value: 3 bytes per value
// for vaeformer_quick) and the fields are the only memory that grows with the grid and the
// hours, linearly, as does the time. (Tiled, that 1° day took 0.74 s and 127 MB, with a
// lower error: the spans are grids like those the model was trained on.)
//
// Payload: a tiled payload starts with the byte 0 (an untiled payload starts with the
// uvarint length of its hyper-latent stream, never 0), then uvarint Core and uvarint Halo,
// then the untiled layout. The tiling is therefore recorded in every payload that uses it and
// decoding needs no option; a grid that fits one span is coded exactly as before tiling
// existed (TestCodecMatchesReference).

// Tiling is the tile layout of [Codec]: Core and Halo in tokens (p×p grid points each). Its one
// home is [DefaultTiling]; a payload records the tiling it was coded with.
type Tiling struct {
	// Core is the side of a tile's core in tokens: even (the hyperprior merges 2×2 tokens), ≥ 2.
	Core int
	// Halo is the tokens of context on each side of a core, ≥ 0.
	Halo int
}

// DefaultTiling is the tiling [NewCodec] gives a codec: cores of 12×12 tokens (48×48 grid
// points at p = 4) with a halo of 2 tokens, so spans of 16×16 tokens. A span of at least 13
// keeps the grids the runs were trained on (UK 9×13 tokens, wam2layers 11×11) untiled, so
// their payloads and results are what they were. The halo was chosen by the seam study of
// go run ./bench climatescale (the UK week forced into small tiles, vaeformer_quick,
// 2026-12-07): without a halo tiling costs 10–30% in RMSE; a halo of 2 tokens brings cores of
// 6 and 8 tokens to within 0.2% of the untiled RMSE (0.4947 and 0.4937 K against 0.4936 K)
// and 0.6% of its bits (0.2066 against 0.2054 bits/value), and cores of 12 have fewer seams
// still. Each core token costs (16/12)² ≈ 1.8 tokens of encoder and decoder.
var DefaultTiling = Tiling{Core: 12, Halo: 2}

// Span is the tokens along an axis that one backend call sees: Core + 2·Halo.
func (t Tiling) Span() int { return t.Core + 2*t.Halo }

// Validate refuses a tiling that cannot code: Core odd or < 2, Halo < 0, or a span beyond
// maxSpan tokens.
func (t Tiling) Validate() error {
	if t.Core < 2 || t.Core%2 != 0 || t.Halo < 0 || t.Span() > maxSpan {
		return fmt.Errorf("vaeformer: tiling core %d, halo %d tokens: want an even core ≥ 2, a halo ≥ 0 and core + 2·halo ≤ %d", t.Core, t.Halo, maxSpan)
	}
	return nil
}

// maxSpan bounds a span's side in tokens (a span's attention costs span⁴).
const maxSpan = 256

// tiledMarker starts a tiled payload.
const tiledMarker = 0

// tile is one tile of a grid's token grid: its core rows [r0, r1) and columns [c0, c1) and
// the first row sr and column sc of its span.
type tile struct{ r0, r1, c0, c1, sr, sc int }

// axisTiles cuts n tokens into cores of t.Core (the last shorter) and places each one's span of
// s = min(n, Span) tokens: starting Halo before the core, shifted inward at the ends.
func axisTiles(n int, t Tiling) (cores [][3]int, s int) {
	s = min(n, t.Span())
	for a := 0; a < n; a += t.Core {
		cores = append(cores, [3]int{a, min(a+t.Core, n), max(0, min(a-t.Halo, n-s))})
	}
	return cores, s
}

// tiles returns the tiles of an nh×nw token grid, row-major, and the span's shape.
func (t Tiling) tiles(nh, nw int) (ts []tile, sh, sw int) {
	rows, sh := axisTiles(nh, t)
	cols, sw := axisTiles(nw, t)
	for _, r := range rows {
		for _, c := range cols {
			ts = append(ts, tile{r0: r[0], r1: r[1], c0: c[0], c1: c[1], sr: r[2], sc: c[2]})
		}
	}
	return ts, sh, sw
}

// tiled reports whether c codes g in tiles: whether g's token grid exceeds a span along an axis.
func (c *Codec) tiled(g Geometry) bool {
	nh, nw := Grid(g.H, g.W, c.patch)
	return nh > c.Tiling.Span() || nw > c.Tiling.Span()
}

// tilingHeader is the start of the payload of g: nil untiled, else the marker and c.Tiling.
func (c *Codec) tilingHeader(g Geometry) []byte {
	if !c.tiled(g) {
		return nil
	}
	b := binary.AppendUvarint([]byte{tiledMarker}, uint64(c.Tiling.Core))
	return binary.AppendUvarint(b, uint64(c.Tiling.Halo))
}

// readTiling parses a payload's tiling header: the tiling (nil untiled) and the rest.
func readTiling(payload []byte) (*Tiling, []byte, error) {
	if len(payload) == 0 || payload[0] != tiledMarker {
		return nil, payload, nil
	}
	rest := payload[1:]
	var v [2]uint64
	for i := range v {
		x, k := binary.Uvarint(rest)
		if k <= 0 || x > maxSpan {
			return nil, nil, fmt.Errorf("%w: tiling header invalid", ErrCorrupt)
		}
		v[i], rest = x, rest[k:]
	}
	t := &Tiling{Core: int(v[0]), Halo: int(v[1])}
	if err := t.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return t, rest, nil
}

// tileExecs returns (building once per core size) the graphs of the encoder's latent means
// at a core ([EncodeCore]: span windows [b, w, C, sh·p, sw·p] and the core's token indices in
// the span, [CoreIndices], to means [b, cq, cw, c_y], cq = min(Core, sh) and likewise cw) and
// of the hyper-analysis on its own.
func (c *Codec) tileExecs(t Tiling) (enc, hyper *model.Exec, err error) {
	enc, err = tileGraph(&c.tileEncoder, t.Core, "tile encoder", func() (*model.Exec, error) {
		return model.NewExec(c.backend, c.store, func(scope *model.Scope, x, idx *graph.Node) *graph.Node {
			dims := x.Shape().Dimensions
			sh, sw := Grid(dims[3], dims[4], c.patch)
			mean, std, _ := normalisation(scope, x.Graph(), dims[2], 0)
			return EncodeCore(scope, normalise(x, mean, std), min(t.Core, sh), min(t.Core, sw), idx)
		})
	})
	if err != nil {
		return nil, nil, err
	}
	if c.tileHyper == nil {
		c.tileHyper, err = model.NewExec(c.backend, c.store, func(scope *model.Scope, mu *graph.Node) *graph.Node {
			return HyperAnalysis(scope, mu)
		})
		if err != nil {
			return nil, nil, fmt.Errorf("vaeformer: tile hyper-analysis graph: %w", err)
		}
	}
	return enc, c.tileHyper, nil
}

// tileDecoderExec returns (building once per core size) the graph of the decoder at a core
// ([DecodeCore]: span latents [b, sh, sw, c_y] and the core's token indices in the span to
// the core's windows [b, w, C, cq·p, cw·p] in physical units).
func (c *Codec) tileDecoderExec(t Tiling) (*model.Exec, error) {
	cc, w := len(c.Channels), c.Window
	return tileGraph(&c.tileDecoder, t.Core, "tile decoder", func() (*model.Exec, error) {
		return model.NewExec(c.backend, c.store, func(scope *model.Scope, y, idx *graph.Node) *graph.Node {
			dims := y.Shape().Dimensions
			mean, std, _ := normalisation(scope, y.Graph(), cc, 0)
			return denormalise(DecodeCore(scope, y, w, cc, min(t.Core, dims[1]), min(t.Core, dims[2]), idx), mean, std)
		})
	})
}

// tileGraph returns (*m)[core], building it with build the first time (what names it in the
// error).
func tileGraph(m *map[int]*model.Exec, core int, what string, build func() (*model.Exec, error)) (*model.Exec, error) {
	if e := (*m)[core]; e != nil {
		return e, nil
	}
	e, err := build()
	if err != nil {
		return nil, fmt.Errorf("vaeformer: %s graph: %w", what, err)
	}
	if *m == nil {
		*m = map[int]*model.Exec{}
	}
	(*m)[core] = e
	return e, nil
}

// coreOffset is where the graphs' core of cq tokens starts in a span of s tokens for a tile
// core starting at a (span start sa): at the core, moved back to fit in the span.
func coreOffset(a, sa, cq, s int) int { return min(a-sa, s-cq) }

// analyseTiles is [Codec.analyse] in tiles: the b windows from w0 (of which the first k are
// kept) tile by tile, each core's latent means into mu [k, nh, nw, c_y] and its hyper-latents
// into z [k, mh, mw, c_z]. Tiles run on [eachTile]'s workers; each writes only its own core's
// elements of mu and z, so the result does not depend on their order.
func (c *Codec) analyseTiles(fields [][]float32, g Geometry, w0, b, k int, mu, z []float32) error {
	enc, hyper, err := c.tileExecs(c.Tiling)
	if err != nil {
		return err
	}
	_, nh, nw, mh, mw := c.dims(g)
	cy, cz, p := c.Entropy.cy, c.Entropy.cz, c.patch
	ts, sh, sw := c.Tiling.tiles(nh, nw)
	cq, cqw := min(c.Tiling.Core, sh), min(c.Tiling.Core, sw) // the graph's core
	// One input tensor per worker, filled in place for each of its tiles (a tile copied into a
	// new tensor cost a fifth of a global day's compression in memory moves).
	newScratch := func() *tensors.Tensor {
		return tensors.FromShape(shapes.Make(dtypes.Float32, b, c.Window, len(fields), sh*p, sw*p))
	}
	free := func(x *tensors.Tensor) { x.FinalizeAll() }
	return eachTile(ts, newScratch, free, func(x *tensors.Tensor, t tile) error {
		if err := tensors.MutableFlatData(x, func(flat []float32) {
			c.fillTile(flat, fields, g, w0, b, t.sr*p, t.sc*p, sh*p, sw*p)
		}); err != nil {
			return fmt.Errorf("vaeformer: tile input: %w", err)
		}
		r0, c0 := coreOffset(t.r0, t.sr, cq, sh), coreOffset(t.c0, t.sc, cqw, sw)
		out, err := execRefilled(enc, x, CoreIndices(sw, cq, cqw, r0, c0))
		if err != nil {
			return fmt.Errorf("vaeformer: tile encoder: %w", err)
		}
		ch, cw := t.r1-t.r0, t.c1-t.c0
		// The core's means, handed to the backend below (so not reused).
		core := make([]float32, b*ch*cw*cy)
		err = tensors.ConstFlatData(out[0], func(m []float32) { // [b, cq, cqw, c_y]
			for i := range b {
				for r := range ch {
					src := m[((i*cq+t.r0-t.sr-r0+r)*cqw+t.c0-t.sc-c0)*cy:][:cw*cy]
					copy(core[(i*ch+r)*cw*cy:], src)
					if i < k {
						copy(mu[((i*nh+t.r0+r)*nw+t.c0)*cy:], src)
					}
				}
			}
		})
		out[0].FinalizeAll()
		if err != nil {
			return fmt.Errorf("vaeformer: tile encoder output: %w", err)
		}
		out, err = framework.ExecFreeingInputs(hyper, tensors.FromFlatDataAndDimensions(core, b, ch, cw, cy))
		if err != nil {
			return fmt.Errorf("vaeformer: tile hyper-analysis: %w", err)
		}
		bh, bw := (ch+1)/2, (cw+1)/2
		err = tensors.ConstFlatData(out[0], func(zt []float32) { // [b, bh, bw, c_z]
			for i := range k {
				for r := range bh {
					copy(z[((i*mh+t.r0/2+r)*mw+t.c0/2)*cz:][:bw*cz], zt[(i*bh+r)*bw*cz:])
				}
			}
		})
		out[0].FinalizeAll()
		if err != nil {
			return fmt.Errorf("vaeformer: tile hyper-analysis output: %w", err)
		}
		return nil
	})
}

// execRefilled runs e on x, a worker's host tensor refilled for every tile, and the tile's core
// indices, then drops x's copy on the backend: the next tile's call copies its new contents
// (and, left to the garbage collector, the backend's memory grew by every tile).
func execRefilled(e *model.Exec, x *tensors.Tensor, idx []int32) ([]*tensors.Tensor, error) {
	out, err := e.Exec(x, idx)
	if ierr := x.InvalidateOnDevice(); err == nil && ierr != nil {
		err = ierr
	}
	return out, err
}

// tileWorkers is how many tiles [eachTile] codes at once: one per core the Go scheduler may
// use. A tile's backend call is too small for ONNX Runtime to spread over two cores (a global
// day's compression took the same time with one intra-op thread as with its default), so the
// cores are kept busy by running tiles side by side instead; the backend runs concurrent
// calls of one graph on separate sessions.
func tileWorkers(tiles int) int { return max(1, min(runtime.GOMAXPROCS(0), tiles, maxTileWorkers)) }

// maxTileWorkers bounds the tiles in flight, and so the memory of their backend calls.
const maxTileWorkers = 8

// eachTile calls do for every tile of ts on tileWorkers goroutines, each with its own scratch
// state from newScratch (released by free when the goroutine is done); it returns the first
// error, after which no new tile is started.
func eachTile[S any](ts []tile, newScratch func() S, free func(S), do func(S, tile) error) error {
	var (
		next   atomic.Int64
		failed atomic.Bool
		mu     sync.Mutex
		first  error
		wg     sync.WaitGroup
	)
	for range tileWorkers(len(ts)) {
		wg.Go(func() {
			s := newScratch()
			defer free(s)
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(ts) {
					return
				}
				if err := do(s, ts[i]); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return first
}

// fillTile writes the rows r0.. and columns c0.. (h×w grid points) of the b windows from w0 to
// x [b, w, C, h, w], replicating the last row and column past the grid's edge (as the graph's
// edge padding does), padding time past T with the last hour and the chunk past the last window
// with copies of it.
func (c *Codec) fillTile(x []float32, fields [][]float32, g Geometry, w0, b, r0, c0, h, w int) {
	cc, hw, win := len(fields), g.H*g.W, c.Window
	n, _, _, _, _ := c.dims(g)
	for i := range b {
		wi := min(w0+i, n-1)
		for hr := range win {
			t := min(wi*win+hr, g.T-1)
			for ch := range cc {
				src := fields[ch][t*hw:][:hw]
				dst := x[((i*win+hr)*cc+ch)*h*w:][:h*w]
				for r := range h {
					row := src[min(r0+r, g.H-1)*g.W:][:g.W]
					d := dst[r*w:][:w]
					n := copy(d, row[min(c0, g.W):min(c0+w, g.W)])
					for j := n; j < w; j++ {
						d[j] = row[g.W-1]
					}
				}
			}
		}
	}
}

// synthesiseTiles decodes the windows w0..w0+k−1 of yhat [b, nh, nw, c_y] tile by tile into
// fields [C][T·H·W], each core's points from the decoder run over its span's latents. Tiles
// run on [eachTile]'s workers, each writing only its own core's points.
func (c *Codec) synthesiseTiles(t Tiling, fields [][]float32, g Geometry, yhat []float32, b, w0, k int) error {
	_, nh, nw, _, _ := c.dims(g)
	cy, p, cc, hw := c.Entropy.cy, c.patch, len(c.Channels), g.H*g.W
	ts, sh, sw := t.tiles(nh, nw)
	dec, err := c.tileDecoderExec(t)
	if err != nil {
		return err
	}
	cq, cqw := min(t.Core, sh), min(t.Core, sw) // the graph's core
	qH, qW := cq*p, cqw*p
	newScratch := func() *tensors.Tensor { return tensors.FromShape(shapes.Make(dtypes.Float32, b, sh, sw, cy)) }
	free := func(x *tensors.Tensor) { x.FinalizeAll() }
	return eachTile(ts, newScratch, free, func(x *tensors.Tensor, t tile) error {
		if err := tensors.MutableFlatData(x, func(span []float32) {
			for i := range b {
				for r := range sh {
					copy(span[(i*sh+r)*sw*cy:][:sw*cy], yhat[((i*nh+t.sr+r)*nw+t.sc)*cy:])
				}
			}
		}); err != nil {
			return fmt.Errorf("vaeformer: tile latents: %w", err)
		}
		r0, c0 := coreOffset(t.r0, t.sr, cq, sh), coreOffset(t.c0, t.sc, cqw, sw)
		out, err := execRefilled(dec, x, CoreIndices(sw, cq, cqw, r0, c0))
		if err != nil {
			return fmt.Errorf("vaeformer: tile decoder: %w", err)
		}
		// Keep the core's points inside the grid: rows [r0·p, min(r1·p, H)), likewise columns;
		// the graph's output starts at the span's token sr + r0 (likewise columns).
		gr0, gr1 := t.r0*p, min(t.r1*p, g.H)
		gc0, gc1 := t.c0*p, min(t.c1*p, g.W)
		or, oc := (t.sr+r0)*p, (t.sc+c0)*p
		err = tensors.ConstFlatData(out[0], func(x []float32) { // [b, w, C, qH, qW]
			for i := range k {
				for h := range c.Window {
					tt := (w0+i)*c.Window + h
					if tt >= g.T {
						break
					}
					for ch := range cc {
						src := x[((i*c.Window+h)*cc+ch)*qH*qW:]
						dst := fields[ch][tt*hw:]
						for r := gr0; r < gr1; r++ {
							copy(dst[r*g.W+gc0:r*g.W+gc1], src[(r-or)*qW+gc0-oc:])
						}
					}
				}
			}
		})
		out[0].FinalizeAll()
		if err != nil {
			return fmt.Errorf("vaeformer: tile decoder output: %w", err)
		}
		return nil
	})
}

// MemoryEstimate is the memory, in bytes, that coding g needs beyond the fields given to
// [Codec.Compress] (decompression: the fields it returns are counted): the symbols of the
// whole field, the buffers of the backend calls in flight (one untiled, one per tile worker
// tiled; each its input, activations and attention weights, several times over for the
// backend's intermediates), and a fixed allowance for the model and the backend's runtime. It
// is an estimate, generous by design; checkMemory compares it with what the machine has.
func (c *Codec) MemoryEstimate(g Geometry, decompress bool) int64 {
	return c.memoryEstimate(g, c.Tiling, decompress)
}

// memoryEstimate is [Codec.MemoryEstimate] for coding with tiling t.
func (c *Codec) memoryEstimate(g Geometry, t Tiling, decompress bool) int64 {
	n, nh, nw, mh, mw := c.dims(g)
	cy, cz, cc := int64(c.Entropy.cy), int64(c.Entropy.cz), int64(len(c.Channels))
	d, heads := int64(c.Params[ParamDim].(int)), int64(c.Params[ParamHeads].(int))
	b := int64(chunkSize(n))
	tok := int64(nh * nw)
	h, w := int64(g.H), int64(g.W)
	calls := int64(1) // backend calls in flight
	if nh > t.Span() || nw > t.Span() {
		ts, sh, sw := t.tiles(nh, nw)
		tok = int64(sh * sw)
		h, w = int64(sh*c.patch), int64(sw*c.patch)
		calls = int64(tileWorkers(len(ts)))
	}
	const fixed = 512 << 20 // model, runtime, compiled graphs
	sym := int64(n) * (int64(nh*nw)*cy*24 + int64(mh*mw)*cz*8)
	call := calls * 4 * b * (4*int64(c.Window)*cc*h*w + 16*tok*d + 4*heads*tok*tok)
	est := fixed + sym + call
	if decompress {
		est += 4 * cc * int64(g.T) * int64(g.H) * int64(g.W)
	}
	return est
}

// checkMemory refuses, before anything is allocated, coding g with tiling t (nil: untiled)
// when its estimate ([Codec.MemoryEstimate]) exceeds the memory available (MemAvailable of
// /proc/meminfo, or the cgroup's limit less its usage when that is lower); it checks nothing
// where neither can be read.
func (c *Codec) checkMemory(g Geometry, t *Tiling, decompress bool) error {
	var need int64
	if t != nil {
		need = c.memoryEstimate(g, *t, decompress)
	} else {
		nh, nw := Grid(g.H, g.W, c.patch)
		need = c.memoryEstimate(g, Tiling{Core: max(nh, nw)}, decompress) // one span: the whole grid
	}
	avail, ok := availableMemory()
	if ok && need > avail {
		what := "compressing"
		if decompress {
			what = "decompressing"
		}
		return fmt.Errorf("vaeformer: %s %d hours on a %d×%d grid needs about %.1f GiB, and %.1f GiB is available", what, g.T, g.H, g.W, gib(need), gib(avail))
	}
	return nil
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }

// availableMemory is the memory this process may still allocate, in bytes: MemAvailable of
// /proc/meminfo, lowered to the cgroup (v2) limit less its usage where one is set (a variable
// so that a test can pose as a small machine).
var availableMemory = func() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	avail := int64(-1)
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				avail = kb << 10
			}
		}
	}
	if avail < 0 {
		return 0, false
	}
	limit, err1 := readInt("/sys/fs/cgroup/memory.max")
	used, err2 := readInt("/sys/fs/cgroup/memory.current")
	if err1 == nil && err2 == nil && limit-used < avail {
		avail = limit - used
	}
	return avail, true
}

// readInt reads a file holding one integer ("max" is an error).
func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}
