package vaeformer

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/compressor"
	"github.com/qzoo/qzoo/entropy"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/media"
	"github.com/qzoo/qzoo/metrics"
)

// ErrCorrupt is wrapped by every error [Codec.Decompress] returns because of the payload's bytes.
var ErrCorrupt = errors.New("vaeformer: corrupt payload")

// chunkSize is the windows per backend call for a field of n windows: all of them up to 4,
// else 4 or 3, whichever pads the last call less (4 on a tie; 21 windows: 7 calls of 3). The
// last call is padded with copies of the last window, whose outputs are discarded, so that
// every call has the same shape (one compiled graph). Calls this small cost the backend no
// more per window than calls of 8 or 21 (measured with ONNX Runtime on 2 cores), and they let
// Go's share of the work on one call overlap the backend's next call with little left over
// at the start and the end.
func chunkSize(n int) int {
	if n <= 4 {
		return n
	}
	pad := func(b int) int { return (b - n%b) % b }
	if pad(3) < pad(4) {
		return 3
	}
	return 4
}

// Codec compresses fields with a trained VAEformer: the backend runs the encoder, h_a and the
// decoder; [EntropyModel] (Go, float64) runs everything the decoder must reproduce exactly.
type Codec struct {
	// Params are the run's resolved hyperparameters.
	Params map[string]any
	// Channels are the model's channel names, Window its hours per window.
	Channels []string
	Window   int
	// Mean and Std are the per-channel normalisation of the training split, physical units.
	Mean, Std []float64
	// Entropy is the decoder-side entropy model.
	Entropy *EntropyModel
	// Step is the global step of the checkpoint LoadCodec read (0 for a codec from NewCodec).
	Step int64
	// Tiling is the tile layout Compress uses on grids larger than one span (tiles.go);
	// NewCodec sets DefaultTiling. Decompress reads the tiling from the payload.
	Tiling Tiling

	backend  compute.Backend
	store    *model.Store
	patch    int
	analysis *model.Exec
	decoder  map[[2]int]*model.Exec

	// tileEncoder and tileDecoder hold the core-only graphs of tiles, by core size.
	tileEncoder, tileDecoder map[int]*model.Exec
	tileHyper                *model.Exec
}

// Stats are the measured costs of one compression or decompression.
type Stats struct {
	// Values is the number of field values (T·C·H·W).
	Values int
	// PayloadBytes is the entropy-coded payload's size.
	PayloadBytes int
	// EstimatedBits is the model's rate, −Σ log₂ p(ŷ|ẑ) − Σ log₂ p(ẑ), with the exact
	// (unquantised) distributions; YBits and ZBits split it.
	EstimatedBits, YBits, ZBits float64
	// Seconds is the wall time of the whole call.
	Seconds float64
}

// NewCodec prepares a codec from a trained run's store and resolved config.
func NewCodec(backend compute.Backend, store *model.Store, cfg *framework.Config) (*Codec, error) {
	params := cfg.Params
	em, err := NewEntropyModel(store, params)
	if err != nil {
		return nil, err
	}
	channels, window, err := channelsOf(params)
	if err != nil {
		return nil, err
	}
	mean, err := loadFloat64(store, "/"+scopeNorm+"/"+varMean, len(channels))
	if err != nil {
		return nil, err
	}
	std, err := loadFloat64(store, "/"+scopeNorm+"/"+varStd, len(channels))
	if err != nil {
		return nil, err
	}
	c := &Codec{Params: params, Channels: channels, Window: window, Mean: mean, Std: std, Entropy: em,
		backend: backend, store: store, patch: params[ParamPatch].(int), decoder: map[[2]int]*model.Exec{}, Tiling: DefaultTiling}
	c.analysis, err = model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		mean, std, _ := normalisation(scope, x.Graph(), x.Shape().Dimensions[2], 0)
		enc := Encode(scope, normalise(x, mean, std))
		return []*graph.Node{enc.Mean, HyperAnalysis(scope, enc.Mean)}
	})
	if err != nil {
		return nil, fmt.Errorf("vaeformer: analysis graph: %w", err)
	}
	return c, nil
}

// LoadCodec loads the latest checkpoint of the run in dir with a backend chosen by
// framework.NewBackend.
func LoadCodec(dir string) (*Codec, error) {
	cfg, store, step, err := framework.LoadRun(dir)
	if err != nil {
		return nil, err
	}
	if cfg.Model != "vaeformer" {
		return nil, fmt.Errorf("vaeformer: run %s holds model %q, not vaeformer", dir, cfg.Model)
	}
	backend, _, err := framework.NewBackend()
	if err != nil {
		return nil, err
	}
	c, err := NewCodec(backend, store, cfg)
	if err != nil {
		return nil, err
	}
	c.Step = step
	return c, nil
}

// Close releases the backend graphs.
func (c *Codec) Close() {
	if c.analysis != nil {
		c.analysis.Finalize()
	}
	if c.tileHyper != nil {
		c.tileHyper.Finalize()
	}
	for _, m := range []map[int]*model.Exec{c.tileEncoder, c.tileDecoder} {
		for _, e := range m {
			e.Finalize()
		}
	}
	for _, e := range c.decoder {
		e.Finalize()
	}
}

// Geometry is the layout of the fields a payload codes: T hours of len(Channels) channels on
// an H×W grid, cut into N = ⌈T/w⌉ windows (the last padded by repeating its last hour). As a
// gridded signal's shape (qzc.Gridded) it is [T, H, W].
type Geometry struct{ T, H, W int }

func (c *Codec) dims(g Geometry) (n, nh, nw, mh, mw int) {
	n = (g.T + c.Window - 1) / c.Window
	nh, nw = Grid(g.H, g.W, c.patch)
	return n, nh, nw, (nh + 1) / 2, (nw + 1) / 2
}

// Compress codes fields [C][T·H·W] (physical units, channel order c.Channels, row-major
// time, latitude, longitude) into a payload: uvarint(len z-stream), the z-stream, the
// y-stream. It fails on a channel count or length that does not match g, and on a non-finite value.
//
// The backend analyses the windows in chunks ([chunkSize]) on one goroutine while this one
// turns each finished chunk into symbols (rounding, h_s, table choice, estimated bits); the
// two streams are then coded concurrently. The payload is the same whatever the timing.
func (c *Codec) Compress(fields [][]float32, g Geometry) ([]byte, Stats, error) {
	return c.compress(fields, g, true)
}

// CompressPayload is [Codec.Compress] without the model's estimate of the bits: the same
// payload, with Stats' EstimatedBits, YBits and ZBits left zero, and without their cost (two
// erfc and a log per latent element: a sixth of a global day's compression). It is what
// [Codec.MeasureBest] and the benchmarks time, as a peer's encoder produces only its payload.
func (c *Codec) CompressPayload(fields [][]float32, g Geometry) ([]byte, Stats, error) {
	return c.compress(fields, g, false)
}

// compress is [Codec.Compress], or [Codec.CompressPayload] without estimate.
func (c *Codec) compress(fields [][]float32, g Geometry, estimate bool) ([]byte, Stats, error) {
	start := time.Now()
	if err := c.checkFields(fields, g); err != nil {
		return nil, Stats{}, err
	}
	if err := c.Tiling.Validate(); err != nil {
		return nil, Stats{}, err
	}
	tiled := c.tiled(g)
	t := &c.Tiling
	if !tiled {
		t = nil
	}
	if err := c.checkMemory(g, t, false); err != nil {
		return nil, Stats{}, err
	}
	n, nh, nw, mh, mw := c.dims(g)
	cy, cz := c.Entropy.cy, c.Entropy.cz
	ny, nz := nh*nw*cy, mh*mw*cz
	b := chunkSize(n)
	type analysed struct {
		w0, k int
		mu, z []float32 // [k, nh, nw, c_y], [k, mh, mw, c_z]
		err   error
	}
	chunks := make(chan analysed, (n+b-1)/b)
	go func() {
		defer close(chunks)
		// One input tensor for all chunks, in the backend's memory where it can share it with
		// the host (the windows are written there, not copied over); tiles make their own.
		var x *tensors.Tensor
		if !tiled {
			var err error
			x, err = tensors.FromShapeForBackend(c.backend, 0, shapes.Make(dtypes.Float32, b, c.Window, len(fields), g.H, g.W))
			if err != nil {
				chunks <- analysed{err: fmt.Errorf("vaeformer: analysis input: %w", err)}
				return
			}
			defer x.FinalizeAll()
		}
		for w0 := 0; w0 < n; w0 += b {
			k := min(b, n-w0)
			a := analysed{w0: w0, k: k, mu: make([]float32, k*ny), z: make([]float32, k*nz)}
			if tiled {
				a.err = c.analyseTiles(fields, g, w0, b, k, a.mu, a.z)
			} else {
				a.err = c.analyse(x, fields, g, w0, a.mu, a.z)
			}
			chunks <- a
			if a.err != nil {
				return
			}
		}
	}()
	zs, ys := make([]int, n*nz), make([]int, n*ny)
	yTables := make([]*entropy.Table, n*ny)
	var yBits []float64
	if estimate {
		yBits = make([]float64, n*ny)
	}
	zBits := c.Entropy.newZBits()
	var st Stats
	var err error
	for a := range chunks {
		if err != nil || a.err != nil {
			err = cmp.Or(err, a.err)
			continue // drain: the goroutine stops after an error
		}
		z := zs[a.w0*nz:][:a.k*nz]
		for i, v := range a.z {
			z[i] = int(math.Round(float64(v)))
			if estimate {
				st.ZBits += zBits.of(i%cz, z[i])
			}
		}
		mean, raw := c.Entropy.hyperSynthesis(z, a.k, mh, mw, nh, nw)
		off := a.w0 * ny
		parallelFor(len(a.mu), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				r := math.Round(float64(a.mu[i]) - mean[i])
				ys[off+i] = int(r)
				if yBits != nil {
					yBits[off+i] = gaussianBits(r, scaleOf(raw[i]))
				}
				yTables[off+i] = c.Entropy.bank[c.Entropy.lookup.index(raw[i])]
			}
		})
	}
	if err != nil {
		return nil, Stats{}, err
	}
	for _, bits := range yBits { // in element order, as one running sum
		st.YBits += bits
	}
	var zStream []byte
	var zErr error
	var wg sync.WaitGroup
	wg.Go(func() { zStream, zErr = entropy.Encode(zs, c.Entropy.zTablesOf(len(zs))) })
	yStream, yErr := entropy.Encode(ys, yTables)
	wg.Wait()
	if zErr != nil {
		return nil, Stats{}, fmt.Errorf("vaeformer: hyper-latents: %w", zErr)
	}
	if yErr != nil {
		return nil, Stats{}, fmt.Errorf("vaeformer: latents: %w", yErr)
	}
	payload := binary.AppendUvarint(c.tilingHeader(g), uint64(len(zStream)))
	payload = append(append(payload, zStream...), yStream...)
	st.Values = g.T * g.H * g.W * len(c.Channels)
	st.PayloadBytes = len(payload)
	st.EstimatedBits = st.YBits + st.ZBits
	st.Seconds = time.Since(start).Seconds()
	return payload, st, nil
}

// analyse runs the analysis graph on the b windows from w0, written into the input tensor x
// [b, w, C, H, W], and copies the first windows' latent means to mu [k, nh, nw, c_y] and
// hyper-latents to z [k, mh, mw, c_z].
func (c *Codec) analyse(x *tensors.Tensor, fields [][]float32, g Geometry, w0 int, mu, z []float32) error {
	b := x.Shape().Dimensions[0]
	if err := tensors.MutableFlatData(x, func(flat []float32) { c.fillWindows(flat, fields, g, w0, b) }); err != nil {
		return fmt.Errorf("vaeformer: analysis input: %w", err)
	}
	out, err := c.analysis.Exec(x)
	if err != nil {
		return fmt.Errorf("vaeformer: analysis: %w", err)
	}
	defer func() {
		for _, t := range out {
			t.FinalizeAll()
		}
	}()
	if err := tensors.ConstFlatData(out[0], func(flat []float32) { copy(mu, flat) }); err != nil {
		return fmt.Errorf("vaeformer: analysis output: %w", err)
	}
	if err := tensors.ConstFlatData(out[1], func(flat []float32) { copy(z, flat) }); err != nil {
		return fmt.Errorf("vaeformer: analysis output: %w", err)
	}
	return nil
}

// Decompress is the inverse of [Codec.Compress]: it returns the reconstructed fields
// [C][T·H·W] in physical units. Errors caused by the payload's bytes wrap [ErrCorrupt].
//
// This goroutine computes each chunk's h_s and entropy-decodes its latents while another
// runs the backend's decoder on the chunk before.
func (c *Codec) Decompress(payload []byte, g Geometry) ([][]float32, Stats, error) {
	start := time.Now()
	if err := c.checkGeometry(g); err != nil {
		return nil, Stats{}, err
	}
	tiling, payload, err := readTiling(payload)
	if err != nil {
		return nil, Stats{}, err
	}
	if err := c.checkMemory(g, tiling, true); err != nil {
		return nil, Stats{}, err
	}
	n, nh, nw, mh, mw := c.dims(g)
	cy, cz := c.Entropy.cy, c.Entropy.cz
	ny, nz := nh*nw*cy, mh*mw*cz
	zLen, k := binary.Uvarint(payload)
	if k <= 0 || zLen > uint64(len(payload)-k) {
		return nil, Stats{}, fmt.Errorf("%w: hyper-latent stream length header invalid (payload %d bytes)", ErrCorrupt, len(payload))
	}
	zStream, yStream := payload[k:k+int(zLen)], payload[k+int(zLen):]
	zs, err := entropy.Decode(zStream, c.Entropy.zTablesOf(n*nz))
	if err != nil {
		return nil, Stats{}, fmt.Errorf("%w: hyper-latents: %w", ErrCorrupt, err)
	}
	yd, err := entropy.NewDecoder(yStream)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("%w: latents: %w", ErrCorrupt, err)
	}
	var dec *model.Exec
	if tiling == nil {
		if dec, err = c.decoderExec(g); err != nil {
			return nil, Stats{}, err
		}
	}
	cc, hw := len(c.Channels), g.H*g.W
	fields := make([][]float32, cc)
	for ch := range fields {
		fields[ch] = make([]float32, g.T*hw)
	}
	b := chunkSize(n)
	type latents struct {
		w0, k int
		yhat  []float32 // [b, nh, nw, c_y]
	}
	jobs := make(chan latents, (n+b-1)/b)
	decoded := make(chan error, 1)
	go func() {
		var err error
		for j := range jobs {
			if err != nil {
				continue // drain
			}
			if tiling != nil {
				err = c.synthesiseTiles(*tiling, fields, g, j.yhat, b, j.w0, j.k)
				continue
			}
			out, e := framework.ExecFreeingInputs(dec, tensors.FromFlatDataAndDimensions(j.yhat, b, nh, nw, cy))
			if e != nil {
				err = fmt.Errorf("vaeformer: decoder: %w", e)
				continue
			}
			if e := tensors.ConstFlatData(out[0], func(x []float32) { c.scatter(fields, g, x, j.w0, j.k) }); e != nil {
				err = fmt.Errorf("vaeformer: decoder output: %w", e)
			}
			out[0].FinalizeAll()
		}
		decoded <- err
	}()
	for w0 := 0; w0 < n && err == nil; w0 += b {
		k := min(b, n-w0)
		mean, raw := c.Entropy.hyperSynthesis(zs[w0*nz:][:k*nz], k, mh, mw, nh, nw)
		ys := make([]int, k*ny)
		if e := yd.Decode(c.Entropy.yTablesOf(raw), ys); e != nil {
			err = fmt.Errorf("%w: latents: %w", ErrCorrupt, e)
			break
		}
		yhat := make([]float32, b*ny)
		for i := range b {
			src := min(i, k-1) * ny
			for j := range ny {
				yhat[i*ny+j] = float32(float64(ys[src+j]) + mean[src+j])
			}
		}
		jobs <- latents{w0: w0, k: k, yhat: yhat}
	}
	close(jobs)
	execErr := <-decoded
	if err == nil {
		if e := yd.Close(); e != nil {
			err = fmt.Errorf("%w: latents: %w", ErrCorrupt, e)
		}
	}
	if err = cmp.Or(err, execErr); err != nil {
		return nil, Stats{}, err
	}
	st := Stats{Values: g.T * hw * cc, PayloadBytes: len(payload), Seconds: time.Since(start).Seconds()}
	return fields, st, nil
}

// scatter copies the decoded windows w0..w0+k−1 of x [b, w, C, H, W] into fields [C][T·H·W],
// dropping the hours past T.
func (c *Codec) scatter(fields [][]float32, g Geometry, x []float32, w0, k int) {
	cc, hw := len(fields), g.H*g.W
	for i := range k {
		for h := range c.Window {
			t := (w0+i)*c.Window + h
			if t >= g.T {
				break
			}
			for ch := range cc {
				copy(fields[ch][t*hw:(t+1)*hw], x[((i*c.Window+h)*cc+ch)*hw:][:hw])
			}
		}
	}
}

// Measurement is one timed round trip of fields through a codec.
type Measurement struct {
	// Payload is the compressed bitstream, Recon the decoded fields [C][T·H·W].
	Payload []byte
	Recon   [][]float32
	// Encode and Decode are the costs of the fastest timed pass (the first pass compiles the
	// graphs and is not timed).
	Encode, Decode Stats
	// Errors are each channel's reconstruction errors in physical units.
	Errors []metrics.FieldErrors
}

// Measure is [Codec.MeasureBest] with one timed pass.
func (c *Codec) Measure(fields [][]float32, g Geometry, lat []float64) (*Measurement, error) {
	return c.MeasureBest(fields, g, lat, 1)
}

// MeasureBest compresses and decompresses fields 1 + repeats times — the first pass compiles
// the graphs — and returns the costs of the fastest timed encode and decode (as the peers of
// package baselines are timed) with each channel's errors, latitude-weighted by cos(lat)
// (lat: the grid's H latitudes in degrees). repeats < 1 counts as 1. The estimated bits are
// those of the first pass: the timed passes produce only the payload, as a peer's do.
func (c *Codec) MeasureBest(fields [][]float32, g Geometry, lat []float64, repeats int) (*Measurement, error) {
	m := &Measurement{}
	var first Stats
	for pass := range 1 + max(repeats, 1) {
		payload, enc, err := c.compress(fields, g, pass == 0)
		if err != nil {
			return nil, err
		}
		recon, dec, err := c.Decompress(payload, g)
		if err != nil {
			return nil, err
		}
		if pass == 0 {
			m.Payload, m.Recon, first = payload, recon, enc
			continue
		}
		if m.Encode.Seconds == 0 || enc.Seconds < m.Encode.Seconds {
			enc.EstimatedBits, enc.YBits, enc.ZBits = first.EstimatedBits, first.YBits, first.ZBits
			m.Encode = enc
		}
		if m.Decode.Seconds == 0 || dec.Seconds < m.Decode.Seconds {
			m.Decode = dec
		}
	}
	weights := metrics.LatCosWeights(lat)
	for ch := range fields {
		e, err := metrics.CompareFields(fields[ch], m.Recon[ch], []int{g.T, g.H, g.W}, weights)
		if err != nil {
			return nil, fmt.Errorf("vaeformer: channel %s: %w", c.Channels[ch], err)
		}
		m.Errors = append(m.Errors, e)
	}
	return m, nil
}

// decoderExec returns (building once per grid) the decoder for g's grid; it compiles a graph
// per chunk size on first use.
func (c *Codec) decoderExec(g Geometry) (*model.Exec, error) {
	key := [2]int{g.H, g.W}
	if e, ok := c.decoder[key]; ok {
		return e, nil
	}
	cc, w := len(c.Channels), c.Window
	e, err := model.NewExec(c.backend, c.store, func(scope *model.Scope, y *graph.Node) *graph.Node {
		mean, std, _ := normalisation(scope, y.Graph(), cc, 0)
		return denormalise(Decode(scope, y, []int{y.Shape().Dimensions[0], w, cc, g.H, g.W}), mean, std)
	})
	if err != nil {
		return nil, fmt.Errorf("vaeformer: decoder graph: %w", err)
	}
	c.decoder[key] = e
	return e, nil
}

// fillWindows writes the b windows from w0 to x [b, w, C, H, W], padding time past T with the
// last hour and the chunk past the last window with copies of it: the whole grid as one tile.
func (c *Codec) fillWindows(x []float32, fields [][]float32, g Geometry, w0, b int) {
	c.fillTile(x, fields, g, w0, b, 0, 0, g.H, g.W)
}

func (c *Codec) checkGeometry(g Geometry) error {
	if g.T < 1 || g.H < 1 || g.W < 1 || int64(g.T)*int64(g.H)*int64(g.W) > 1<<31 {
		return fmt.Errorf("vaeformer: fields of %d hours on a %d×%d grid: each must be ≥ 1 and the product ≤ 2^31", g.T, g.H, g.W)
	}
	return nil
}

// expBits masks a float32's exponent.
const expBits = 0x7f800000

func (c *Codec) checkFields(fields [][]float32, g Geometry) error {
	if err := c.checkGeometry(g); err != nil {
		return err
	}
	if len(fields) != len(c.Channels) {
		return fmt.Errorf("vaeformer: %d channels given, the model codes %d (%v)", len(fields), len(c.Channels), c.Channels)
	}
	for ch, f := range fields {
		if len(f) != g.T*g.H*g.W {
			return fmt.Errorf("vaeformer: channel %s has %d values, want %d×%d×%d", c.Channels[ch], len(f), g.T, g.H, g.W)
		}
		for i, v := range f {
			if math.Float32bits(v)&expBits == expBits { // NaN or ±Inf: all exponent bits set
				return fmt.Errorf("vaeformer: channel %s: value %d is %v", c.Channels[ch], i, v)
			}
		}
	}
	return nil
}

func init() {
	compressor.Register("vaeformer", func(cfg *framework.Config, store *model.Store) (compressor.Compressor, error) {
		backend, _, err := framework.NewBackend()
		if err != nil {
			return nil, err
		}
		c, err := NewCodec(backend, store, cfg)
		if err != nil {
			return nil, err
		}
		return signalCodec{c}, nil
	})
}

// signalCodec adapts a Codec to compressor.Compressor: it codes gridded signals, whose
// per-channel shape [T, H, W] is a Geometry.
type signalCodec struct{ *Codec }

func (signalCodec) Kind() qzc.Kind                         { return qzc.Gridded }
func (s signalCodec) Channels() []string                   { return s.Codec.Channels }
func (s signalCodec) Normalisation() (mean, std []float64) { return s.Mean, s.Std }

// Alignment is the model's window of hours (compressor.Aligner): a long signal is coded in
// segments of whole windows, the same windows as when coded whole.
func (s signalCodec) Alignment() int { return s.Codec.Window }

func (s signalCodec) Encode(sig media.Signal) ([]byte, float64, error) {
	g, err := geometryOf(sig.Kind, sig.Shape)
	if err != nil {
		return nil, 0, err
	}
	if !slices.Equal(sig.Channels, s.Codec.Channels) {
		return nil, 0, fmt.Errorf("vaeformer: signal of channels %v, the model codes %v", sig.Channels, s.Codec.Channels)
	}
	p, st, err := s.Codec.Compress(sig.Data, g)
	return p, st.EstimatedBits, err
}

func (s signalCodec) Decode(payload []byte, shape []int) (media.Signal, error) {
	g, err := geometryOf(qzc.Gridded, shape)
	if err != nil {
		return media.Signal{}, err
	}
	x, _, err := s.Codec.Decompress(payload, g)
	if err != nil {
		return media.Signal{}, err
	}
	return media.Signal{Kind: qzc.Gridded, Channels: s.Codec.Channels, Shape: shape, Data: x}, nil
}

// geometryOf reads a gridded signal's shape [T, H, W].
func geometryOf(kind qzc.Kind, shape []int) (Geometry, error) {
	if kind != qzc.Gridded || len(shape) != 3 {
		return Geometry{}, fmt.Errorf("vaeformer: codes gridded fields of shape [T, H, W], not a %s signal of shape %v", kind, shape)
	}
	return Geometry{T: shape[0], H: shape[1], W: shape[2]}, nil
}
