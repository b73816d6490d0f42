package vaeformer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gomlx/compute"
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

// chunkWindows is the number of windows each backend call processes (the last chunk is padded
// with copies, whose outputs are discarded, so every call has the same shape).
const chunkWindows = 8

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

	backend  compute.Backend
	store    *model.Store
	patch    int
	analysis *model.Exec
	decoder  map[[2]int]*model.Exec
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
		backend: backend, store: store, patch: params[ParamPatch].(int), decoder: map[[2]int]*model.Exec{}}
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
func (c *Codec) Compress(fields [][]float32, g Geometry) ([]byte, Stats, error) {
	start := time.Now()
	if err := c.checkFields(fields, g); err != nil {
		return nil, Stats{}, err
	}
	n, nh, nw, mh, mw := c.dims(g)
	cy, cz := c.Entropy.cy, c.Entropy.cz
	ny, nz := nh*nw*cy, mh*mw*cz
	mu := make([]float32, 0, n*ny)
	zc := make([]float32, 0, n*nz)
	for w0 := 0; w0 < n; w0 += chunkWindows {
		x := c.windows(fields, g, w0)
		out, err := c.analysis.Exec(x)
		if err != nil {
			return nil, Stats{}, fmt.Errorf("vaeformer: analysis: %w", err)
		}
		m := tensors.MustCopyFlatData[float32](out[0])
		z := tensors.MustCopyFlatData[float32](out[1])
		k := min(chunkWindows, n-w0)
		mu = append(mu, m[:k*ny]...)
		zc = append(zc, z[:k*nz]...)
		for _, t := range out {
			t.FinalizeAll()
		}
	}
	zs := make([]int, len(zc))
	var st Stats
	for i, v := range zc {
		zs[i] = int(math.Round(float64(v)))
		st.ZBits -= math.Log2(c.Entropy.zLikelihood(i%cz, zs[i]))
	}
	mean, scale := c.Entropy.HyperSynthesis(zs, n, mh, mw, nh, nw)
	ys := make([]int, len(mu))
	for i, v := range mu {
		r := math.Round(float64(v) - mean[i])
		ys[i] = int(r)
		st.YBits += gaussianBits(r, scale[i])
	}
	zStream, err := entropy.Encode(zs, c.Entropy.zTablesOf(len(zs)))
	if err != nil {
		return nil, Stats{}, fmt.Errorf("vaeformer: hyper-latents: %w", err)
	}
	yStream, err := entropy.Encode(ys, c.Entropy.yTablesOf(scale))
	if err != nil {
		return nil, Stats{}, fmt.Errorf("vaeformer: latents: %w", err)
	}
	payload := binary.AppendUvarint(nil, uint64(len(zStream)))
	payload = append(append(payload, zStream...), yStream...)
	st.Values = g.T * g.H * g.W * len(c.Channels)
	st.PayloadBytes = len(payload)
	st.EstimatedBits = st.YBits + st.ZBits
	st.Seconds = time.Since(start).Seconds()
	return payload, st, nil
}

// Decompress is the inverse of [Codec.Compress]: it returns the reconstructed fields
// [C][T·H·W] in physical units. Errors caused by the payload's bytes wrap [ErrCorrupt].
func (c *Codec) Decompress(payload []byte, g Geometry) ([][]float32, Stats, error) {
	start := time.Now()
	if err := c.checkGeometry(g); err != nil {
		return nil, Stats{}, err
	}
	n, nh, nw, mh, mw := c.dims(g)
	cy, cz := c.Entropy.cy, c.Entropy.cz
	zLen, k := binary.Uvarint(payload)
	if k <= 0 || zLen > uint64(len(payload)-k) {
		return nil, Stats{}, fmt.Errorf("%w: hyper-latent stream length header invalid (payload %d bytes)", ErrCorrupt, len(payload))
	}
	zStream, yStream := payload[k:k+int(zLen)], payload[k+int(zLen):]
	zs, err := entropy.Decode(zStream, c.Entropy.zTablesOf(n*mh*mw*cz))
	if err != nil {
		return nil, Stats{}, fmt.Errorf("%w: hyper-latents: %w", ErrCorrupt, err)
	}
	mean, scale := c.Entropy.HyperSynthesis(zs, n, mh, mw, nh, nw)
	ys, err := entropy.Decode(yStream, c.Entropy.yTablesOf(scale))
	if err != nil {
		return nil, Stats{}, fmt.Errorf("%w: latents: %w", ErrCorrupt, err)
	}
	dec, err := c.decoderExec(g)
	if err != nil {
		return nil, Stats{}, err
	}
	ny := nh * nw * cy
	cc := len(c.Channels)
	hw := g.H * g.W
	fields := make([][]float32, cc)
	for ch := range fields {
		fields[ch] = make([]float32, g.T*hw)
	}
	yhat := make([]float32, chunkWindows*ny)
	for w0 := 0; w0 < n; w0 += chunkWindows {
		k := min(chunkWindows, n-w0)
		for i := range chunkWindows {
			src := w0 + min(i, k-1)
			for j := range ny {
				e := src*ny + j
				yhat[i*ny+j] = float32(float64(ys[e]) + mean[e])
			}
		}
		out, err := dec.Exec(tensors.FromFlatDataAndDimensions(yhat, chunkWindows, nh, nw, cy))
		if err != nil {
			return nil, Stats{}, fmt.Errorf("vaeformer: decoder: %w", err)
		}
		x := tensors.MustCopyFlatData[float32](out[0])
		out[0].FinalizeAll()
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
	st := Stats{Values: g.T * hw * cc, PayloadBytes: len(payload), Seconds: time.Since(start).Seconds()}
	return fields, st, nil
}

// Measurement is one timed round trip of fields through a codec.
type Measurement struct {
	// Payload is the compressed bitstream, Recon the decoded fields [C][T·H·W].
	Payload []byte
	Recon   [][]float32
	// Encode and Decode are the costs of the second pass (the first compiles the graphs).
	Encode, Decode Stats
	// Errors are each channel's reconstruction errors in physical units.
	Errors []metrics.FieldErrors
}

// Measure compresses and decompresses fields twice — the first pass compiles the graphs —
// and returns the second pass's costs with each channel's errors, latitude-weighted by
// cos(lat) (lat: the grid's H latitudes in degrees).
func (c *Codec) Measure(fields [][]float32, g Geometry, lat []float64) (*Measurement, error) {
	m := &Measurement{}
	for range 2 {
		var err error
		if m.Payload, m.Encode, err = c.Compress(fields, g); err != nil {
			return nil, err
		}
		if m.Recon, m.Decode, err = c.Decompress(m.Payload, g); err != nil {
			return nil, err
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

// decoderExec returns (building once per grid) the decoder graph for g's grid.
func (c *Codec) decoderExec(g Geometry) (*model.Exec, error) {
	key := [2]int{g.H, g.W}
	if e, ok := c.decoder[key]; ok {
		return e, nil
	}
	cc, w := len(c.Channels), c.Window
	e, err := model.NewExec(c.backend, c.store, func(scope *model.Scope, y *graph.Node) *graph.Node {
		mean, std, _ := normalisation(scope, y.Graph(), cc, 0)
		return denormalise(Decode(scope, y, []int{chunkWindows, w, cc, g.H, g.W}), mean, std)
	})
	if err != nil {
		return nil, fmt.Errorf("vaeformer: decoder graph: %w", err)
	}
	c.decoder[key] = e
	return e, nil
}

// windows returns chunk w0's windows [chunkWindows, w, C, H, W], padding time past T with the
// last hour and the chunk past the last window with copies of it.
func (c *Codec) windows(fields [][]float32, g Geometry, w0 int) *tensors.Tensor {
	cc, hw, w := len(fields), g.H*g.W, c.Window
	n, _, _, _, _ := c.dims(g)
	x := make([]float32, chunkWindows*w*cc*hw)
	for i := range chunkWindows {
		win := min(w0+i, n-1)
		for h := range w {
			t := min(win*w+h, g.T-1)
			for ch := range cc {
				copy(x[((i*w+h)*cc+ch)*hw:][:hw], fields[ch][t*hw:(t+1)*hw])
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(x, chunkWindows, w, cc, g.H, g.W)
}

func (c *Codec) checkGeometry(g Geometry) error {
	if g.T < 1 || g.H < 1 || g.W < 1 || int64(g.T)*int64(g.H)*int64(g.W) > 1<<31 {
		return fmt.Errorf("vaeformer: fields of %d hours on a %d×%d grid: each must be ≥ 1 and the product ≤ 2^31", g.T, g.H, g.W)
	}
	return nil
}

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
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
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
