package llama

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/layers/qat"
	"github.com/qzoo/qzoo/quant"
	"gonum.org/v1/gonum/mat"
)

// Hyperparameters of post-training quantization, applied once by the model's Calibrate hook to
// the base weights of every linear layer of the blocks (package quant does the arithmetic).
const (
	// ParamPTQ is the weight quantizer: "rtn", "nf4", "squeezellm" or "none". Default "none".
	ParamPTQ = "ptq"
	// ParamPTQBits is the code width (rtn, squeezellm: 2..8; nf4: 4). Default 4.
	ParamPTQBits = "ptq_bits"
	// ParamPTQGroupSize is the input columns per scale/LUT (0: a whole row; nf4: block 64).
	ParamPTQGroupSize = "ptq_group_size"
	// ParamPTQSymmetric selects symmetric rtn. Default false.
	ParamPTQSymmetric = "ptq_symmetric"
	// ParamPTQDoubleQuant quantizes nf4's block scales to 8 bits (QLoRA). Default false.
	ParamPTQDoubleQuant = "ptq_double_quant"
	// ParamPTQOutliers is the fraction of weights kept sparse in fp32 (SqueezeLLM's
	// dense-and-sparse). Default 0.
	ParamPTQOutliers = "ptq_outliers"
	// ParamPTQHadamard rotates each weight's input axis with a random Hadamard transform
	// before quantizing (QuaRot). Default false.
	ParamPTQHadamard = "ptq_hadamard"
	// ParamPTQCalibration is the number of training batches whose per-sequence squared
	// gradients estimate the diagonal Fisher information (squeezellm weighting and the
	// sensitivity of bit allocation). Default 4.
	ParamPTQCalibration = "ptq_calibration_batches"
	// ParamPTQBudget is the average bits per linear weight (scales, LUTs and outliers
	// included) that layer-wise mixed precision must meet: each layer's code width is chosen
	// from 2, 3, 4, 6 and 8 to minimise the summed Fisher-weighted error (0: every layer at
	// ptq_bits). Default 0.
	ParamPTQBudget = "ptq_budget_bits"
	// ParamLQLoRAIterations initialises LoRA as LQ-LoRA does (Guo et al. 2024, Algorithm 1):
	// alternately Q = quant(W − L₁L₂) and L₁L₂ = SVD_r(W − Q), at most this many rounds,
	// stopping when ‖W − Q − L₁L₂‖ rises; needs ptq and lora_rank > 0. 0: off. Default 0.
	ParamLQLoRAIterations = "lqlora_iterations"
)

// PTQParams lists the post-training quantization hyperparameters.
var PTQParams = hparams.List{
	{Key: ParamPTQ, Default: "none", Domain: hparams.OneOf("none", quant.MethodRTN, quant.MethodNF4, quant.MethodSqueezeLLM), Doc: "post-training weight quantizer of the linear layers: none, rtn, nf4 or squeezellm"},
	{Key: ParamPTQBits, Default: 4, Domain: hparams.Range(2, 8), Doc: "code bits (nf4: 4)"},
	{Key: ParamPTQGroupSize, Default: 0, Domain: hparams.Range(0, llama2c.MaxDim), Doc: "input columns per scale or lookup table (0: one per output row; nf4: 64)"},
	{Key: ParamPTQSymmetric, Default: false, Doc: "symmetric rtn (no zero point)"},
	{Key: ParamPTQDoubleQuant, Default: false, Doc: "nf4: quantize the block scales to 8 bits (QLoRA's double quantization)"},
	{Key: ParamPTQOutliers, Default: 0.0, Domain: hparams.Range(0.0, quant.MaxOutlierFraction), Doc: "fraction of weights kept exactly in a sparse fp32 matrix (dense-and-sparse)"},
	{Key: ParamPTQHadamard, Default: false, Doc: "rotate each weight's input axis by a random Hadamard transform before quantizing"},
	{Key: ParamPTQCalibration, Default: 4, Domain: hparams.Range(1, 1<<16), Doc: "training batches of per-sequence squared gradients for the Fisher information"},
	{Key: ParamPTQBudget, Default: 0.0, Domain: hparams.Range(0.0, 32.0), Doc: "average bits per linear weight for layer-wise mixed precision over 2/3/4/6/8 bits (0: ptq_bits everywhere)"},
	{Key: ParamLQLoRAIterations, Default: 0, Domain: hparams.Range(0, 100), Doc: "LQ-LoRA initialisation rounds (needs ptq and lora_rank > 0; 0: off)"},
}

// allocationBits are the code widths layer-wise bit allocation chooses from.
var allocationBits = []int{2, 3, 4, 6, 8}

// VarLinearBits is the scalar variable (under scope "quantization") holding the storage bits
// of the quantized linear weights, written by Calibrate and reported by Evaluate.
const VarLinearBits = "linear_bits"

// ptqSpec is the quantizer of params at bits.
func ptqSpec(params map[string]any, bits int) quant.Spec {
	s := quant.Spec{Method: params[ParamPTQ].(string), Bits: bits, GroupSize: params[ParamPTQGroupSize].(int),
		Symmetric: params[ParamPTQSymmetric].(bool), DoubleQuant: params[ParamPTQDoubleQuant].(bool),
		OutlierFraction: params[ParamPTQOutliers].(float64), Hadamard: params[ParamPTQHadamard].(bool), Seed: 1}
	if s.Method == quant.MethodNF4 {
		s.Bits = 0
	}
	return s
}

// validatePTQ checks the combinations a single key's domain cannot.
func validatePTQ(params map[string]any) error {
	if params[ParamQATActivationBits].(int) == 1 {
		return fmt.Errorf("key %q: 1 bit is not a signed LSQ range; use 0 (off) or 2..8", ParamQATActivationBits)
	}
	method := params[ParamPTQ].(string)
	if method == "none" {
		for _, key := range []string{ParamLQLoRAIterations} {
			if params[key].(int) != 0 {
				return fmt.Errorf("key %q needs %s", key, ParamPTQ)
			}
		}
		if params[ParamPTQBudget].(float64) != 0 {
			return fmt.Errorf("key %q needs %s", ParamPTQBudget, ParamPTQ)
		}
		return nil
	}
	if params[ParamLQLoRAIterations].(int) > 0 && params[ParamLoRARank].(int) == 0 {
		return fmt.Errorf("key %q needs %s > 0", ParamLQLoRAIterations, ParamLoRARank)
	}
	if params[ParamPTQBudget].(float64) > 0 && method == quant.MethodNF4 {
		return fmt.Errorf("key %q: nf4 has a single code width; use rtn or squeezellm", ParamPTQBudget)
	}
	if params[ParamQAT].(string) != "none" {
		return fmt.Errorf("keys %q and %q: quantize either after training (ptq) or during it (qat)", ParamPTQ, ParamQAT)
	}
	if err := ptqSpec(params, params[ParamPTQBits].(int)).Validate(); err != nil {
		return fmt.Errorf("keys ptq_*: %w", err)
	}
	return nil
}

// linearPath names the variable of block i's linear layer name.
func linearPath(i int, name string) []string { return []string{fmt.Sprintf(blockScope, i), name} }

// Calibrate quantizes the base weights of every linear layer (ptq), after estimating the
// diagonal Fisher information on training batches when the quantizer or the bit allocation
// needs it, and initialises LQ-LoRA's adapters; it records the quantized weights' storage
// bits in the variable quantization/linear_bits. The dequantized values replace the weights,
// so training (adapters on a frozen quantized base: QLoRA, LQ-LoRA) and evaluation run the
// quantized model.
//
// Then, with kv_quant set, it fits the key/value cache quantizer ([CalibrateKV]) on the
// (quantized) model.
func Calibrate(ctx *framework.EvalContext) error {
	if err := calibratePTQ(ctx); err != nil {
		return err
	}
	return CalibrateKV(ctx)
}

func calibratePTQ(ctx *framework.EvalContext) error {
	params := ctx.Config.Params
	if params[ParamPTQ].(string) == "none" {
		return nil
	}
	cfg := ConfigFromParams(func(key string) int { return params[key].(int) })
	var fisher map[string][]float32
	if params[ParamPTQ] == quant.MethodSqueezeLLM || params[ParamPTQBudget].(float64) > 0 {
		var err error
		if fisher, err = FisherDiagonal(ctx, params[ParamPTQCalibration].(int)); err != nil {
			return err
		}
	}
	type layer struct {
		path   []string
		w      []float32
		out    int
		in     int
		fisher []float32
	}
	var layers []layer
	for i := range cfg.Layers {
		for _, name := range LinearNames {
			path := linearPath(i, name)
			v := scopeAt(ctx.Store, path).GetVariable(VarWeight)
			if v == nil {
				return fmt.Errorf("llama: no variable %v/%s to quantize", path, VarWeight)
			}
			out, in := cfg.LinearShape(name)
			layers = append(layers, layer{path, tensors.MustCopyFlatData[float32](v.MustValue()), out, in, fisher[pathKey(path)]})
		}
	}
	rank, iters := params[ParamLoRARank].(int), params[ParamLQLoRAIterations].(int)
	bits := make([]int, len(layers))
	for i := range bits {
		bits[i] = params[ParamPTQBits].(int)
	}
	if budget := params[ParamPTQBudget].(float64); budget > 0 {
		options := make([][]quant.Choice, len(layers))
		var weights int64
		for i, l := range layers {
			weights += int64(l.out * l.in)
			for _, b := range allocationBits {
				choice, err := allocationChoice(l.w, l.out, l.in, ptqSpec(params, b), l.fisher, rank, iters)
				if err != nil {
					return fmt.Errorf("llama: quantizing %v: %w", l.path, err)
				}
				options[i] = append(options[i], choice)
			}
		}
		picks, total, _, err := quant.Allocate(options, int64(budget*float64(weights)))
		if err != nil {
			return fmt.Errorf("llama: key %q: %w", ParamPTQBudget, err)
		}
		for i, p := range picks {
			bits[i] = allocationBits[p]
		}
		fmt.Fprintf(ctx.Out, "llama: bit allocation under %.3g bits/weight: %v (%.3f bits/weight)\n", budget, bits, float64(total)/float64(weights))
	}
	var total int64
	for i, l := range layers {
		spec := ptqSpec(params, bits[i])
		var deq []float32
		var qbits int64
		if iters > 0 {
			res, err := LQLoRA(l.w, l.out, l.in, spec, l.fisher, rank, iters)
			if err != nil {
				return fmt.Errorf("llama: LQ-LoRA of %v: %w", l.path, err)
			}
			deq, qbits = res.Q.Dequantize(), res.Q.Bits()
			// The forward pass adds (α/r)·B·A: store the factors scaled so that it adds L₁L₂.
			scale := float32(float64(rank) / params[ParamLoRAAlpha].(float64))
			for j := range res.B {
				res.B[j] *= scale
			}
			s := scopeAt(ctx.Store, l.path)
			if err := setVariable(s, qat.LoRAAVar, res.A, rank, l.in); err != nil {
				return err
			}
			if err := setVariable(s, qat.LoRABVar, res.B, l.out, rank); err != nil {
				return err
			}
		} else {
			q, err := quant.Quantize(l.w, l.out, l.in, spec, l.fisher)
			if err != nil {
				return fmt.Errorf("llama: quantizing %v: %w", l.path, err)
			}
			deq, qbits = q.Dequantize(), q.Bits()
		}
		if err := setVariable(scopeAt(ctx.Store, l.path), VarWeight, deq, l.out, l.in); err != nil {
			return err
		}
		total += qbits
	}
	v, err := ctx.Store.RootScope().In("quantization").CreateVariable(VarLinearBits, tensors.FromScalar(float64(total)))
	if err != nil {
		return err
	}
	v.SetTrainable(false)
	label := ptqSpec(params, params[ParamPTQBits].(int)).String()
	if params[ParamPTQBudget].(float64) > 0 {
		label = fmt.Sprintf("%s (mixed widths %v)", ptqSpec(params, 0).Method, bits)
	}
	fmt.Fprintf(ctx.Out, "llama: %s quantized %d linear layers: %d bits (%.3f bits/weight)\n", label, len(layers), total, float64(total)/float64(cfg.LinearParams()))
	return nil
}

// allocationChoice is the storage and the error of one code width for a layer: the
// Fisher-weighted error Σ F·(W − Ŵ)² of the quantized weight (uniform weights when fisher is
// nil), or, for LQ-LoRA, the same error of Q + L₁L₂ after its decomposition (the cost its
// integer linear program minimises, Guo et al. 2024 §3.2); the low-rank factors' storage is
// the same for every width and left out.
func allocationChoice(w []float32, out, in int, spec quant.Spec, fisher []float32, rank, iters int) (quant.Choice, error) {
	if iters > 0 {
		res, err := LQLoRA(w, out, in, spec, fisher, rank, iters)
		if err != nil {
			return quant.Choice{}, err
		}
		approx := res.Q.Dequantize()
		for i := range out {
			for j := range in {
				var s float32
				for k := range rank {
					s += res.B[i*rank+k] * res.A[k*in+j]
				}
				approx[i*in+j] += s
			}
		}
		return quant.Choice{Label: spec.String(), Bits: res.Q.Bits(), Cost: quant.WeightedError(w, approx, fisher)}, nil
	}
	q, err := quant.Quantize(w, out, in, spec, fisher)
	if err != nil {
		return quant.Choice{}, err
	}
	return quant.Choice{Label: spec.String(), Bits: q.Bits(), Cost: quant.WeightedError(w, q.Dequantize(), fisher)}, nil
}

// LinearParams counts the weights of the blocks' linear layers.
func (c Config) LinearParams() int {
	n := 0
	for _, name := range LinearNames {
		o, i := c.LinearShape(name)
		n += o * i
	}
	return n * c.Layers
}

func pathKey(path []string) string { return fmt.Sprint(path) }

// setVariable sets (or creates) scope's variable name to values of the given dimensions.
func setVariable(scope *model.Scope, name string, values []float32, dims ...int) error {
	t := tensors.FromFlatDataAndDimensions(values, dims...)
	if v := scope.GetVariable(name); v != nil {
		return v.SetValue(t)
	}
	_, err := scope.CreateVariable(name, t)
	return err
}

// FisherDiagonal estimates the diagonal Fisher information of every linear layer's base
// weight as SqueezeLLM does (Kim et al. 2024, §3.1): the mean over calibration sequences of
// the squared gradient of the sequence's mean negative log-likelihood, F = (1/N) Σ_n g_n ⊙ g_n.
// The sequences are those of the first batches of the training stream (no held-out text).
// The result maps pathKey(linearPath(i, name)) to [out·in] values.
func FisherDiagonal(ctx *framework.EvalContext, batches int) (map[string][]float32, error) {
	cfg := ConfigFromParams(func(key string) int { return ctx.Config.Params[key].(int) })
	var paths [][]string
	for i := range cfg.Layers {
		for _, name := range LinearNames {
			paths = append(paths, linearPath(i, name))
		}
	}
	exec, err := model.NewExec(ctx.Backend, ctx.Store, func(scope *model.Scope, tokens, labels *graph.Node) []*graph.Node {
		loss := graph.ReduceAllMean(TokenNLL(Forward(scope, tokens, nil, nil), labels))
		var ws []*graph.Node
		for _, p := range paths {
			v := ctx.Store.GetVariable("/" + strings.Join(append(p, VarWeight), "/"))
			if v == nil {
				panic(fmt.Sprintf("llama: no variable %v/%s", p, VarWeight))
			}
			ws = append(ws, v.NodeValue(tokens.Graph()))
		}
		grads := graph.Gradient(loss, ws...)
		for i := range grads {
			grads[i] = graph.Square(grads[i])
		}
		return grads
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	sums := make([][]float64, len(paths))
	n := 0
	for batch, err := range ctx.CalibrationBatches(batches).Iter() {
		if err != nil {
			return nil, err
		}
		if len(batch.Labels) == 0 {
			return nil, errors.New("llama: calibration batches carry no target tokens")
		}
		inputs := tensors.MustCopyFlatData[int32](batch.Inputs[0])
		labels := tensors.MustCopyFlatData[int32](batch.Labels[0])
		dims := batch.Inputs[0].Shape().Dimensions
		b, t := dims[0], dims[1]
		_ = batch.Finalize()
		for row := range b {
			x := tensors.FromFlatDataAndDimensions(inputs[row*t:(row+1)*t], 1, t)
			y := tensors.FromFlatDataAndDimensions(labels[row*t:(row+1)*t], 1, t)
			out, err := exec.Exec(x, y)
			x.FinalizeAll()
			y.FinalizeAll()
			if err != nil {
				return nil, err
			}
			for i, g := range out {
				vals := tensors.MustCopyFlatData[float32](g)
				if sums[i] == nil {
					sums[i] = make([]float64, len(vals))
				}
				for j, v := range vals {
					sums[i][j] += float64(v)
				}
				g.FinalizeAll()
			}
			n++
		}
	}
	if n == 0 {
		return nil, errors.New("llama: no calibration sequence")
	}
	fisher := make(map[string][]float32, len(paths))
	for i, p := range paths {
		f := make([]float32, len(sums[i]))
		for j, s := range sums[i] {
			f[j] = float32(s / float64(n))
		}
		fisher[pathKey(p)] = f
	}
	return fisher, nil
}

// LQLoRAResult is a weight's decomposition W ≈ Q + B·A.
type LQLoRAResult struct {
	Q *quant.Quantized
	A []float32 // [rank, in]
	B []float32 // [out, rank]
	// Errors holds ‖W − Q − B·A‖_F after each round (the kept decomposition is the best).
	Errors []float64
}

// LQLoRA decomposes w [out, in] into a quantized matrix and a rank-r product (Guo et al.
// 2024, "LQ-LoRA", Algorithm 1): starting from L = 0, alternate Q = quant(W − L) and
// L = SVD_r(W − Q), up to iters rounds, stopping as soon as ‖W − Q − L‖_F rises; the best
// round is returned, with L = B·A split as B = U√Σ, A = √Σ Vᵀ.
func LQLoRA(w []float32, out, in int, spec quant.Spec, fisher []float32, rank, iters int) (*LQLoRAResult, error) {
	if rank < 1 || rank > min(out, in) {
		return nil, fmt.Errorf("rank %d out of [1, %d]", rank, min(out, in))
	}
	W := mat.NewDense(out, in, f64s(w))
	L := mat.NewDense(out, in, nil)
	var best *LQLoRAResult
	var errs []float64
	for range iters {
		var R mat.Dense
		R.Sub(W, L)
		q, err := quant.Quantize(f32s(R.RawMatrix().Data), out, in, spec, fisher)
		if err != nil {
			return nil, err
		}
		Q := mat.NewDense(out, in, f64s(q.Dequantize()))
		var resid mat.Dense
		resid.Sub(W, Q)
		var svd mat.SVD
		if !svd.Factorize(&resid, mat.SVDThin) {
			return nil, errors.New("SVD did not converge")
		}
		var u, v mat.Dense
		svd.UTo(&u)
		svd.VTo(&v)
		sv := svd.Values(nil)
		a := make([]float32, rank*in)
		b := make([]float32, out*rank)
		for k := range rank {
			s := math.Sqrt(sv[k])
			for i := range out {
				b[i*rank+k] = float32(u.At(i, k) * s)
			}
			for j := range in {
				a[k*in+j] = float32(v.At(j, k) * s)
			}
		}
		L = mat.NewDense(out, in, nil)
		L.Mul(mat.NewDense(out, rank, f64s(b)), mat.NewDense(rank, in, f64s(a)))
		var e mat.Dense
		e.Sub(&resid, L)
		errNorm := mat.Norm(&e, 2)
		errs = append(errs, errNorm)
		if best != nil && errNorm >= best.Errors[len(best.Errors)-1] {
			break
		}
		best = &LQLoRAResult{Q: q, A: a, B: b, Errors: append([]float64(nil), errs...)}
	}
	best.Errors = errs
	return best, nil
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
