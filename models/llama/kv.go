package llama

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/kvcache"
	"github.com/qzoo/qzoo/layers/position"
)

// The model's key/value cache quantization: the kv_* keys and the quantizers are package
// kvcache's; here the model computes what they are fitted on, stores their constants and
// evaluates through them.

// KVShape is the cache geometry of c, with the model's RoPE (interleaved pairs, θ_i =
// b^(−2i/h) with b = c.RoPETheta, rescaled by c.RoPEScaling: [position.RoPEFrequencies],
// computed in float32 as the graph does) for pre-RoPE key quantizers.
func KVShape(c Config) kvcache.Shape {
	hd := c.HeadDim()
	freqs := make([]float32, hd/2)
	for i, f := range position.RoPEFrequencies(hd, c.RoPETheta, c.RoPEScaling) {
		freqs[i] = float32(f)
	}
	return kvcache.Shape{Layers: c.Layers, KVHeads: c.KVHeads, HeadDim: hd, RoPE: func(x []float32, pos int) {
		for i, f := range freqs {
			a := float64(float32(pos) * f)
			cos, sin := float32(math.Cos(a)), float32(math.Sin(a))
			for h := 0; h < len(x); h += hd {
				x0, x1 := x[h+2*i], x[h+2*i+1]
				x[h+2*i], x[h+2*i+1] = x0*cos-x1*sin, x0*sin+x1*cos
			}
		}
	}}
}

// validateKV checks the kv_* keys against the architecture (errors name the key).
func validateKV(params map[string]any) error {
	cfg, ok := kvcache.ConfigFromParams(params)
	if !ok {
		return nil
	}
	c := ConfigFromParams(params)
	return cfg.Validate(KVShape(c))
}

// kvScope is the scope of the cache quantizer's fitted constants in the store (and so in
// checkpoints): variable kv_cache/layer_LL/<keys|values>/<name>.
const kvScope = "kv_cache"

// CalibrateKV fits the cache quantizer on kv_calibration_batches training batches (their
// keys before and after RoPE, values, and the Fisher information of each), or reads the
// constants of the run kv_calibration_from names ([CacheQuantizer]), and stores its constants
// under kv_cache/ in the store. Methods that need no calibration store nothing.
func CalibrateKV(ctx *framework.EvalContext) error {
	cfg, ok := kvcache.ConfigFromParams(ctx.Config.Params)
	if !ok || !cfg.NeedsCalibration() {
		return nil
	}
	q, err := CacheQuantizer(ctx.Backend, ctx.Store, cfg, CacheCalibration{
		From:  ctx.Config.Params[kvcache.ParamKVCalibrationFrom].(string),
		Batch: ctx.Config.BatchSize,
		Out:   ctx.Out,
		Windows: func() ([][]int32, error) {
			var windows [][]int32
			for batch, err := range ctx.CalibrationBatches(ctx.Config.Params[kvcache.ParamKVCalibration].(int)).Iter() {
				if err != nil {
					return nil, err
				}
				dims := batch.Inputs[0].Shape().Dimensions
				flat := tensors.MustCopyFlatData[int32](batch.Inputs[0])
				_ = batch.Finalize()
				for r := range dims[0] {
					windows = append(windows, flat[r*dims[1]:(r+1)*dims[1]])
				}
			}
			return windows, nil
		},
	})
	if err != nil {
		return err
	}
	return SaveKV(ctx.Store, q)
}

// CacheCalibration says where [CacheQuantizer] finds a calibrated quantizer's constants, in
// this order, and what it fits one on when none is at hand.
type CacheCalibration struct {
	// From is a run directory whose kv_cache/ constants, calibrated for the same config, are
	// used (the key kv_calibration_from); "" for none.
	From string
	// Stored uses the store's own kv_cache/ constants (a run calibrated for the same
	// config); Source names the store in errors.
	Stored bool
	Source string
	// Windows returns the token windows (equal lengths, each from position 0) to fit on,
	// Batch at a time; it is called only when the quantizer is fitted.
	Windows func() ([][]int32, error)
	Batch   int
	// Out, if set, is told where the constants came from.
	Out io.Writer
}

// CacheQuantizer returns the cache quantizer of cfg for the model of store: built as is when
// cfg needs no calibration, else with the constants of cal.From, else of the store itself
// (cal.Stored), else fitted on cal.Windows. Errors name the key or the run the constants come
// from.
func CacheQuantizer(backend compute.Backend, store *model.Store, cfg kvcache.Config, cal CacheCalibration) (*kvcache.Quantizer, error) {
	shape := KVShape(ConfigOfStore(store))
	out := cal.Out
	if out == nil {
		out = io.Discard
	}
	switch {
	case !cfg.NeedsCalibration():
		return kvcache.New(cfg, shape)
	case cal.From != "":
		source := fmt.Sprintf("%s=%s", kvcache.ParamKVCalibrationFrom, cal.From)
		_, from, _, err := framework.LoadRun(cal.From)
		if err != nil {
			return nil, fmt.Errorf("llama: %s: %w", source, err)
		}
		q, err := loadKV(from, cfg, shape, source)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "llama: %s cache constants read from %s\n", cfg.Method, cal.From)
		return q, nil
	case cal.Stored:
		return loadKV(store, cfg, shape, cal.Source)
	}
	if cal.Windows == nil {
		return nil, fmt.Errorf("llama: %s=%s needs calibration, and no windows were given to fit it on", kvcache.ParamKVQuant, cfg.Method)
	}
	windows, err := cal.Windows()
	if err != nil {
		return nil, err
	}
	q, err := fitKV(backend, store, cfg, windows, cal.Batch)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "llama: %s cache quantizer fitted on %d windows (%d bytes of constants)\n", cfg.Method, len(windows), q.ConstantBytes())
	return q, nil
}

// fitKV fits cfg's cache quantizer on the keys and values the store's model computes for
// windows (token sequences of equal length, each starting at position 0), batch at a time,
// with the diagonal Fisher information of each activation: the squared gradient of its
// sequence's summed negative log-likelihood of next tokens (the last token has no target).
func fitKV(backend compute.Backend, store *model.Store, cfg kvcache.Config, windows [][]int32, batch int) (*kvcache.Quantizer, error) {
	c := ConfigOfStore(store)
	shape := KVShape(c)
	if !cfg.NeedsCalibration() {
		return kvcache.New(cfg, shape)
	}
	if len(windows) == 0 {
		return nil, errors.New("llama: no calibration windows for the cache quantizer")
	}
	t := len(windows[0])
	if t < 2 {
		return nil, fmt.Errorf("llama: calibration windows of %d tokens (need ≥ 2)", t)
	}
	for i, w := range windows {
		if len(w) != t {
			return nil, fmt.Errorf("llama: calibration window %d has %d tokens, the first %d", i, len(w), t)
		}
	}
	batch = max(1, min(batch, len(windows)))
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, tokens *graph.Node) []*graph.Node {
		layers := make([][3]*graph.Node, c.Layers)
		cache := NewProbe(c.Layers, func(l int, kPre, k, v *graph.Node) { layers[l] = [3]*graph.Node{kPre, k, v} })
		logits := Forward(scope, tokens, nil, cache)
		b, n := tokens.Shape().Dimensions[0], tokens.Shape().Dimensions[1]
		inputs := graph.Slice(logits, graph.AxisRange(), graph.AxisRange(0, n-1))
		targets := graph.Slice(tokens, graph.AxisRange(), graph.AxisRange(1, n))
		loss := graph.ReduceAllSum(TokenNLL(inputs, targets))
		var acts []*graph.Node
		for _, l := range layers {
			acts = append(acts, l[:]...)
		}
		grads := graph.Gradient(loss, acts...)
		out := make([]*graph.Node, 0, 2*len(acts))
		for i, a := range acts {
			out = append(out, graph.Reshape(a, b*n, c.KVDim()), graph.Reshape(graph.Square(grads[i]), b*n, c.KVDim()))
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	act := &kvcache.Activations{Layers: make([]kvcache.LayerActivations, c.Layers)}
	for lo := 0; lo < len(windows); lo += batch {
		hi := min(lo+batch, len(windows))
		flat := slices.Concat(windows[lo:hi]...)
		out, err := framework.ExecFreeingInputs(exec, tensors.FromFlatDataAndDimensions(flat, hi-lo, t))
		if err != nil {
			return nil, err
		}
		for l := range c.Layers {
			la := &act.Layers[l]
			dst := []*[]float32{&la.KeysPre, &la.KeysPreFisher, &la.Keys, &la.KeysFisher, &la.Values, &la.ValuesFisher}
			for i, d := range dst {
				*d = append(*d, tensors.MustCopyFlatData[float32](out[6*l+i])...)
			}
		}
		for _, o := range out {
			o.FinalizeAll()
		}
		act.N += (hi - lo) * t
	}
	return kvcache.Fit(cfg, shape, act)
}

// SaveKV stores q's constants under kv_cache/ (replacing any there).
func SaveKV(store *model.Store, q *kvcache.Quantizer) error {
	if err := store.DeleteVariablesInScope("/" + kvScope); err != nil {
		return err
	}
	for _, k := range q.Constants() {
		path := "/" + kvScope + "/" + k.Name
		if _, err := store.CreateVariable(path, tensors.FromFlatDataAndDimensions(slices.Clone(k.Data), k.Dims...)); err != nil {
			return fmt.Errorf("llama: storing cache constant %s: %w", k.Name, err)
		}
	}
	return nil
}

// LoadKV builds the cache quantizer of the kv_* hyperparameters params, its constants (when
// calibrated) read from the store's kv_cache/ variables; source names the store's origin in
// errors. A missing, unexpected or misshapen constant is an error naming it.
func LoadKV(store *model.Store, params map[string]any, source string) (*kvcache.Quantizer, error) {
	cfg, ok := kvcache.ConfigFromParams(params)
	if !ok {
		return nil, fmt.Errorf("llama: %s is none", kvcache.ParamKVQuant)
	}
	return loadKV(store, cfg, KVShape(ConfigFromParams(params)), source)
}

// loadKV is LoadKV for a config and shape.
func loadKV(store *model.Store, cfg kvcache.Config, shape kvcache.Shape, source string) (*kvcache.Quantizer, error) {
	prefix := "/" + kvScope + "/"
	var consts []kvcache.Constant
	for v := range store.IterVariables() {
		name, ok := strings.CutPrefix(v.Path(), prefix)
		if !ok {
			continue
		}
		t := v.MustValue()
		if t.DType() != dtypes.Float32 {
			return nil, fmt.Errorf("llama: %s: cache constant %s is %s, want float32", source, v.Path(), t.DType())
		}
		consts = append(consts, kvcache.Constant{Name: name, Dims: t.Shape().Dimensions, Data: tensors.MustCopyFlatData[float32](t)})
	}
	if cfg.NeedsCalibration() && len(consts) == 0 {
		return nil, fmt.Errorf("llama: %s: %s=%s needs calibration, but %s holds no %s/ constants (calibrate it in a fresh run, e.g. a configs/kv config)", source, kvcache.ParamKVQuant, cfg.Method, source, kvScope)
	}
	q, err := kvcache.Load(cfg, shape, consts)
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", source, err)
	}
	return q, nil
}

// Metrics of the cache evaluation (with kv_quant set).
const (
	MetricKVBitsPerValue  = "kv_bits_per_value"  // packed cache storage per cached value, metadata included
	MetricKVBytesPerToken = "kv_bytes_per_token" // cache storage per token of a sequence (all layers, keys and values)
	MetricKVConstantBytes = "kv_constant_bytes"  // calibrated constants shared by every sequence
	MetricKVWindowTokens  = "kv_window_tokens"   // tokens per evaluation window (the cache length reached)
)

// evaluateKV scores the evaluation windows token by token through the quantized cache.
func evaluateKV(ctx *framework.EvalContext) (map[string]float64, error) {
	q, err := LoadKV(ctx.Store, ctx.Config.Params, "run")
	if err != nil {
		return nil, err
	}
	batches, err := ctx.Batches()
	if err != nil {
		return nil, err
	}
	var inputs, targets []int32
	n, t := 0, 0
	for batch, err := range batches.Iter() {
		if err != nil {
			return nil, err
		}
		if len(batch.Labels) == 0 {
			return nil, fmt.Errorf("llama: evaluation batches carry no target tokens (dataset %q)", ctx.Config.Dataset)
		}
		dims := batch.Inputs[0].Shape().Dimensions
		if t != 0 && dims[1] != t {
			return nil, fmt.Errorf("llama: evaluation windows of %d and %d tokens", t, dims[1])
		}
		t = dims[1]
		n += dims[0]
		inputs = append(inputs, tensors.MustCopyFlatData[int32](batch.Inputs[0])...)
		targets = append(targets, tensors.MustCopyFlatData[int32](batch.Labels[0])...)
		_ = batch.Finalize()
	}
	if n == 0 {
		return nil, fmt.Errorf("llama: evaluation split %q holds no tokens", ctx.Split)
	}
	stepper, err := NewKVStepper(ctx.Backend, ctx.Store, q, min(n, ctx.Config.EvalBatchSize), t)
	if err != nil {
		return nil, err
	}
	defer stepper.Finalize()
	r, err := KVPerplexity(stepper, inputs, targets, n, t)
	if err != nil {
		return nil, err
	}
	if math.IsNaN(r.NLL) || math.IsInf(r.NLL, 0) {
		return nil, fmt.Errorf("llama: %s cache gave a non-finite log-likelihood", q.Config.Method)
	}
	m := nllMetrics(r.NLL, r.Tokens)
	m[MetricKVBitsPerValue] = r.Storage.BitsPerValue()
	m[MetricKVBytesPerToken] = r.Storage.Total() / 8 / float64(r.Tokens)
	m[MetricKVConstantBytes] = q.ConstantStorage().Total() / 8
	m[MetricKVWindowTokens] = float64(t)
	return m, nil
}
