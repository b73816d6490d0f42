package qat

import (
	"math"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Names of the variables that [LSQ] and [LSQActivation] create in their scope. Each also keeps
// a non-trainable scalar flag, "lsq_initialized" and "lsq_activation_initialized", that turns 1
// once the step has been initialised from the data; a weight and the activation feeding it can
// share one scope.
const (
	LSQStepVar           = "lsq_step"
	LSQActivationStepVar = "lsq_activation_step"

	lsqInitializedVar           = "lsq_initialized"
	lsqActivationInitializedVar = "lsq_activation_initialized"
)

// LSQ returns w [out, in], a linear weight in PyTorch's layout (y = x·Wᵀ), fake-quantized with
// Learned Step Size Quantization (Esser, McKinstry, Bablani, Appuswamy and Modha 2020, ICLR,
// arXiv:1902.08153): one learned step s per group of groupSize consecutive input columns of
// each row (groupSize 0 or ≥ in: one per row; a narrower last group as in [FakeQuant]),
//
//	v̂ = round(clip(v/s, −Q_N, Q_P))·s,
//
// signed: Q_N = 2^(b−1), Q_P = 2^(b−1) − 1 (2 ≤ bits ≤ [MaxBits]); unsigned, for non-negative
// values such as activations after a ReLU: Q_N = 0, Q_P = 2^b − 1 (1 ≤ bits ≤ [MaxBits]).
//
// Gradients (the paper's eqs. 3 and 5): straight through round, so ∂v̂/∂v = 1 inside the clip
// range (−Q_N < v/s < Q_P) and 0 outside; ∂v̂/∂s = round(v/s) − v/s inside, −Q_N below and Q_P
// above, times the gradient scale g = 1/√(N·Q_P), N the number of weights of the group (44,
// not groupSize, for a last group of 44 columns). The scale is a custom gradient of the
// identity, the same gradient as the paper's s·g + StopGradient(s − s·g) but with a forward
// value of exactly s. As in the paper, nothing keeps s positive during training.
//
// The step is the variable [LSQStepVar] [out, nGroups] of scope (nGroups = ⌈in/groupSize⌉).
// It is initialised from the weights themselves, as the paper does: s = 2·mean|v|/√Q_P over
// each group (1 for an all-zero group). GoMLX creates variables before it has any weight
// values, so the initialisation happens in the graph, on its first execution: while the flag
// "lsq_initialized" is 0, the graph uses the computed initial step instead of the variable,
// and stores it and flag = 1 as the variables' new values, as an optimizer stores its update.
// Every later execution, of this graph or any other built with scope, uses the stored step.
// So a model whose weights are loaded (or trained in full precision) before its first LSQ
// execution starts from steps fitted to those weights; to refit them, reset the flag to 0. An
// optimizer in the same graph differentiates with respect to the initial step, so the first
// training step already updates it. A store that embeds variables as constants
// (Store.WithVariableAsConst, e.g. for export) needs them initialised, as GoMLX does for any
// variable; LSQ then reads the step and writes nothing.
//
// LSQ panics if w is not a float matrix, groupSize < 0 or bits is out of range.
func LSQ(scope *model.Scope, w *graph.Node, bits, groupSize int, signed bool) *graph.Node {
	gr := newGrouping(w, groupSize, "LSQ")
	qn, qp := lsqRange("LSQ", bits, signed)
	v := gr.split(w)

	counts := gr.counts()
	absMean := graph.Div(graph.ReduceSum(graph.Abs(graph.StopGradient(v)), -1), perGroup(w, counts))
	step := learnedStep(scope, LSQStepVar, lsqInitializedVar, initialStep(absMean, qp))

	gradScale := make([]float64, gr.n)
	for j, n := range counts {
		gradScale[j] = 1 / math.Sqrt(n*qp)
	}
	scaled := scaleGradient(step, perGroup(w, gradScale))
	return gr.merge(lsqQuantize(v, graph.InsertAxes(scaled, -1), qn, qp))
}

// LSQActivation returns the activations x (any shape, the first axis the batch) fake-quantized
// by LSQ with one learned step s for the whole tensor and a signed range (Q_N = 2^(b−1),
// Q_P = 2^(b−1) − 1, 2 ≤ bits ≤ [MaxBits]); see [LSQ] for the quantizer and its gradients. The
// gradient scale is g = 1/√(N·Q_P) with N the number of features of one example, the product
// of x's dimensions after the first (x's size for a scalar or a vector).
//
// The step is the scalar variable [LSQActivationStepVar] of scope, initialised on the first
// execution from the first batch, s = 2·mean|x|/√Q_P, as the paper does (with the flag
// "lsq_activation_initialized", as [LSQ] does from the weights).
func LSQActivation(scope *model.Scope, x *graph.Node, bits int) *graph.Node {
	if !x.DType().IsFloat() {
		exceptions.Panicf("qat: LSQActivation needs float activations, got %s", x.Shape())
	}
	qn, qp := lsqRange("LSQActivation", bits, true)
	features := x.Shape().Size()
	if x.Rank() >= 2 {
		features /= x.Shape().Dimensions[0]
	}
	absMean := graph.ReduceAllMean(graph.Abs(graph.StopGradient(x)))
	step := learnedStep(scope, LSQActivationStepVar, lsqActivationInitializedVar, initialStep(absMean, qp))
	scaled := scaleGradient(step, graph.Scalar(x.Graph(), x.DType(), 1/math.Sqrt(float64(features)*qp)))
	return lsqQuantize(x, scaled, qn, qp)
}

// lsqRange returns LSQ's Q_N and Q_P for bits, signed or not, and panics on a bit width out of
// range; fn names the caller.
func lsqRange(fn string, bits int, signed bool) (qn, qp float64) {
	checkBits(fn, bits, signed)
	if signed {
		return math.Exp2(float64(bits - 1)), math.Exp2(float64(bits-1)) - 1
	}
	return 0, math.Exp2(float64(bits)) - 1
}

// initialStep is LSQ's initial step 2·mean|v|/√Q_P from mean|v| (any shape), with 1 where
// mean|v| = 0, for which any positive step quantizes exactly.
func initialStep(absMean *graph.Node, qp float64) *graph.Node {
	step := graph.MulScalar(absMean, 2/math.Sqrt(qp))
	return graph.Where(graph.GreaterThan(step, graph.ZerosLike(step)), step, graph.OnesLike(step))
}

// learnedStep returns the value of the trainable variable stepName of scope, of init's shape:
// init, which is also stored in the variable, on the first execution (while the scalar
// non-trainable flag flagName is 0), the stored value afterwards. The flag is set to 1.
//
// The returned node is also the variable's value in the graph (Variable.NodeValue), the node
// an optimizer differentiates the loss with respect to and updates. When the store embeds
// variables as constants, which forbids setting them, nothing is stored.
func learnedStep(scope *model.Scope, stepName, flagName string, init *graph.Node) *graph.Node {
	g := init.Graph()
	dtype := init.DType()
	step := scope.WithInitializer(graph.Ones).VariableWithShape(stepName, init.Shape())
	flag := scope.WithInitializer(graph.Zeros).VariableWithShape(flagName, shapes.Make(dtype)).SetTrainable(false)
	initialized := graph.GreaterThan(flag.NodeValue(g), graph.ScalarZero(g, dtype))
	value := graph.Where(initialized, step.NodeValue(g), graph.StopGradient(init))
	if !scope.Store().VariablesAsConst() {
		step.SetNodeValue(value)
		flag.SetNodeValue(graph.ScalarOne(g, dtype))
	}
	return value
}

// scaleGradient returns s unchanged with its gradient multiplied by g (broadcast to s). It is
// the paper's gradscale, s·g + StopGradient(s − s·g), as a custom gradient, so that the
// forward value is exactly s rather than s up to the rounding of s·g + (s − s·g).
func scaleGradient(s, g *graph.Node) *graph.Node {
	return graph.IdentityWithCustomGradient(s, func(_, v *graph.Node) *graph.Node {
		return graph.Mul(v, g)
	})
}

// lsqQuantize returns round(clip(v/s, −qn, qp))·s, the gradient straight through round:
// c + StopGradient(round(c) − c) equals round(c) exactly and has c's gradient.
func lsqQuantize(v, s *graph.Node, qn, qp float64) *graph.Node {
	c := graph.ClipScalar(graph.Div(v, s), -qn, qp)
	levels := graph.Add(c, graph.StopGradient(graph.Sub(graph.Round(c), c)))
	return graph.Mul(levels, s)
}
