package llama

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/qat"
	"github.com/qzoo/qzoo/quant"
)

// VarLinearBits is the scalar variable (under scope "quantization") holding the storage bits
// of the quantized linear weights, written by Calibrate and reported by Evaluate.
const VarLinearBits = "linear_bits"

// VarLinearCodeBits is the int32 vector (under scope "quantization") of the code width
// Calibrate gave each linear layer, blocks in order and [LinearNames] within a block: what
// [Size] needs to break linear_bits down by [quant.Spec.Storage] under a bit budget.
const VarLinearCodeBits = "linear_code_bits"

// validatePTQ checks the combinations of the ptq_*, qat_* and LoRA keys a single key's domain
// cannot (the ptq_* keys among themselves: [quant.ValidateParams]).
func validatePTQ(params map[string]any) error {
	if params[ParamQATActivationBits].(int) == 1 {
		return fmt.Errorf("key %q: 1 bit is not a signed LSQ range; use 0 (off) or 2..8", ParamQATActivationBits)
	}
	if params[quant.ParamPTQ].(string) == "none" {
		if params[ParamLQLoRAIterations].(int) != 0 {
			return fmt.Errorf("key %q needs %s", ParamLQLoRAIterations, quant.ParamPTQ)
		}
		return quant.ValidateParams(params)
	}
	if params[ParamLQLoRAIterations].(int) > 0 && params[ParamLoRARank].(int) == 0 {
		return fmt.Errorf("key %q needs %s > 0", ParamLQLoRAIterations, ParamLoRARank)
	}
	if err := quant.ValidateParams(params); err != nil {
		return err
	}
	if params[ParamQAT].(string) != "none" {
		return fmt.Errorf("keys %q and %q: quantize either after training (ptq) or during it (qat)", quant.ParamPTQ, ParamQAT)
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
	if params[quant.ParamPTQ].(string) == "none" {
		return nil
	}
	cfg := ConfigFromParams(params)
	var fisher map[string][]float32
	if params[quant.ParamPTQ] == quant.MethodSqueezeLLM || params[quant.ParamPTQBudget].(float64) > 0 {
		var err error
		if fisher, err = FisherDiagonal(ctx, params[quant.ParamPTQCalibration].(int)); err != nil {
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
		bits[i] = params[quant.ParamPTQBits].(int)
	}
	if budget := params[quant.ParamPTQBudget].(float64); budget > 0 {
		options := make([][]quant.Choice, len(layers))
		var weights int64
		for i, l := range layers {
			weights += int64(l.out * l.in)
			for _, b := range quant.AllocationBits {
				choice, err := quant.AllocationChoice(l.w, l.out, l.in, quant.SpecFromParams(params, b), l.fisher, rank, iters)
				if err != nil {
					return fmt.Errorf("llama: quantizing %v: %w", l.path, err)
				}
				options[i] = append(options[i], choice)
			}
		}
		picks, total, _, err := quant.Allocate(options, int64(budget*float64(weights)))
		if err != nil {
			return fmt.Errorf("llama: key %q: %w", quant.ParamPTQBudget, err)
		}
		for i, p := range picks {
			bits[i] = quant.AllocationBits[p]
		}
		fmt.Fprintf(ctx.Out, "llama: bit allocation under %.3g bits/weight: %v (%.3f bits/weight)\n", budget, bits, float64(total)/float64(weights))
	}
	var total int64
	for i, l := range layers {
		spec := quant.SpecFromParams(params, bits[i])
		var deq []float32
		var qbits int64
		if iters > 0 {
			res, err := quant.LQLoRA(l.w, l.out, l.in, spec, l.fisher, rank, iters)
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
	widths := make([]int32, len(bits))
	for i, b := range bits {
		widths[i] = int32(b)
	}
	for _, nv := range []struct {
		name  string
		value *tensors.Tensor
	}{{VarLinearBits, tensors.FromScalar(float64(total))}, {VarLinearCodeBits, tensors.FromValue(widths)}} {
		v, err := ctx.Store.RootScope().In("quantization").CreateVariable(nv.name, nv.value)
		if err != nil {
			return err
		}
		v.SetTrainable(false)
	}
	label := quant.SpecFromParams(params, params[quant.ParamPTQBits].(int)).String()
	if params[quant.ParamPTQBudget].(float64) > 0 {
		label = fmt.Sprintf("%s (mixed widths %v)", quant.SpecFromParams(params, 0).Method, bits)
	}
	fmt.Fprintf(ctx.Out, "llama: %s quantized %d linear layers: %d bits (%.3f bits/weight)\n", label, len(layers), total, float64(total)/float64(cfg.LinearParams()))
	return nil
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
	cfg := ConfigFromParams(ctx.Config.Params)
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
