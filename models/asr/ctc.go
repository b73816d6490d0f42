package asr

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// logZero stands for log 0 in the CTC recursion: finite, so that no gradient meets ∞ − ∞, low
// enough that exp(logZero − m) underflows to 0 for any reachable m, and far from overflow when a
// few log-probabilities are added to it.
const logZero = -1e30

// infeasible is the log-likelihood below which an example has no alignment at all (more labels,
// plus the blanks between repeats, than frames): its loss is set to 0.
const infeasible = logZero / 2

// CTCLoss is the connectionist temporal classification loss (Graves et al. 2006, "Connectionist
// Temporal Classification", §4.1) of each example: −ln p(l | x), the negative log of the total
// probability of every frame-level path that collapses (merge repeats, drop blanks) to the label
// sequence l. Inputs:
//
//   - logProbs [B, T, V]: per-frame log-probabilities (a log-softmax over V classes, of any float
//     dtype);
//   - inputLengths [B] (int32): the valid frames of each example, in [0, T]; frames past it are
//     ignored;
//   - labels [B, L] (int32, L ≥ 1): the label ids, in [0, V) and not blank for the first
//     labelLengths[b]; the rest is padding (any id in [0, V));
//   - labelLengths [B] (int32): the labels of each example, in [0, L];
//   - blank: the id of the blank class.
//
// It returns [B] in logProbs' dtype. With the extended sequence l' = (blank, l₁, blank, l₂, …,
// l_U, blank) of length 2U+1, the forward variables (eq. 6–7, in log space)
//
//	α₀(0) = y₀(blank),  α₀(1) = y₀(l₁),  α₀(s) = log 0 for s > 1,
//	α_t(s) = logsumexp(α_{t−1}(s), α_{t−1}(s−1), [α_{t−1}(s−2) if l'_s ≠ blank and l'_s ≠ l'_{s−2}]) + y_t(l'_s)
//
// are unrolled over the T frames in the graph (GoMLX has no CTC op and no differentiable loop), so
// the gradient is the graph's own, and −ln p(l | x) = −logsumexp(α_{T_b−1}(2U), α_{T_b−1}(2U−1)).
// An example's α stops changing after its T_b frames. Log 0 is a large finite negative number, so
// gradients stay finite; an example with no alignment (T_b smaller than U plus the repeats in l) gets
// loss 0 and no gradient (PyTorch's zero_infinity). A label outside [0, V) makes the example's loss
// NaN, so a wrong inventory size shows in the logged loss instead of training on a silent
// probability of 1.
//
// The recursion stays in log space with a maximum per state rather than in probabilities rescaled
// once per frame (Graves et al. §4.1's other option): a network that emits mostly blanks puts the
// states of later labels hundreds of nats below the blank state's, which a shared rescaling would
// underflow to zero in float32.
//
// Cost: T steps of O(B·(2L+1)) each, and O(T log T · B·(2L+1)) to cut the emissions into frames
// (see unstack); the unrolled graph has about 25 nodes per frame.
func CTCLoss(logProbs, inputLengths, labels, labelLengths *graph.Node, blank int) *graph.Node {
	if logProbs.Rank() != 3 || labels.Rank() != 2 || inputLengths.Rank() != 1 || labelLengths.Rank() != 1 {
		exceptions.Panicf("asr.CTCLoss: want logProbs [B, T, V], inputLengths [B], labels [B, L], labelLengths [B]; got %s, %s, %s, %s",
			logProbs.Shape(), inputLengths.Shape(), labels.Shape(), labelLengths.Shape())
	}
	b, t, v := logProbs.Shape().Dim(0), logProbs.Shape().Dim(1), logProbs.Shape().Dim(2)
	l := labels.Shape().Dim(1)
	if l < 1 {
		exceptions.Panicf("asr.CTCLoss: labels %s must have at least one column (pad with blanks)", labels.Shape())
	}
	if labels.Shape().Dim(0) != b || inputLengths.Shape().Dim(0) != b || labelLengths.Shape().Dim(0) != b {
		exceptions.Panicf("asr.CTCLoss: batch sizes differ: logProbs %s, inputLengths %s, labels %s, labelLengths %s",
			logProbs.Shape(), inputLengths.Shape(), labels.Shape(), labelLengths.Shape())
	}
	if blank < 0 || blank >= v {
		exceptions.Panicf("asr.CTCLoss: blank id %d is not one of the %d classes", blank, v)
	}
	g, dtype := logProbs.Graph(), logProbs.DType()
	labels = graph.ConvertDType(labels, dtypes.Int32)
	inputLengths = graph.ConvertDType(inputLengths, dtypes.Int32)
	labelLengths = graph.ConvertDType(labelLengths, dtypes.Int32)
	s := 2*l + 1

	// The extended sequence l' [B, S]: blank at even s, label (s−1)/2 at odd s.
	blanks := graph.BroadcastToDims(graph.Scalar(g, dtypes.Int32, blank), b, l, 1)
	ext := graph.Concatenate([]*graph.Node{blanks, graph.InsertAxes(labels, -1)}, 2) // [B, L, 2]: (blank, l_i)
	ext = graph.Concatenate([]*graph.Node{graph.Reshape(ext, b, 2*l), graph.BroadcastToDims(graph.Scalar(g, dtypes.Int32, blank), b, 1)}, 1)

	// Emissions y_t(l'_s) [T, B, S] by a one-hot product; ids outside [0, V) give NaN.
	inRange := graph.LogicalAnd(graph.GreaterOrEqual(ext, graph.ScalarZero(g, dtypes.Int32)),
		graph.LessThan(ext, graph.Scalar(g, dtypes.Int32, v)))
	emit := graph.Einsum("btv,bsv->tbs", logProbs, graph.OneHot(ext, v, dtype))
	nan := graph.Scalar(g, dtype, math.NaN())
	emit = graph.Where(graph.BroadcastToDims(graph.InsertAxes(inRange, 0), t, b, s), emit, graph.BroadcastToDims(nan, t, b, s))

	// The skip transition s−2 → s is allowed where l'_s is a label different from l'_{s−2}.
	skip := graph.LogicalAnd(graph.NotEqual(ext, graph.Scalar(g, dtypes.Int32, blank)),
		graph.NotEqual(ext, graph.ShiftWithScalar(ext, 1, graph.ShiftDirRight, 2, float64(blank))))

	zero := graph.BroadcastToDims(graph.Scalar(g, dtype, logZero), b, s)
	// α_{−1}: all mass on a virtual state before s = 0, so that step 0 gives α₀ of eq. 6.
	isFirst := graph.Equal(graph.Iota(g, shapes.Make(dtypes.Int32, b, s), 1), graph.ScalarZero(g, dtypes.Int32))
	alpha := graph.Where(isFirst, graph.ZerosLike(zero), zero)
	emits := unstack(emit)
	for step := range t {
		stay := alpha
		next := graph.ShiftWithScalar(alpha, 1, graph.ShiftDirRight, 1, logZero)
		jump := graph.Where(skip, graph.ShiftWithScalar(alpha, 1, graph.ShiftDirRight, 2, logZero), zero)
		m := graph.StopGradient(graph.Max(stay, graph.Max(next, jump)))
		sum := graph.Add(graph.Exp(graph.Sub(stay, m)), graph.Add(graph.Exp(graph.Sub(next, m)), graph.Exp(graph.Sub(jump, m))))
		updated := graph.Add(graph.Add(m, graph.Log(sum)), emits[step])
		active := graph.GreaterThan(inputLengths, graph.Scalar(g, dtypes.Int32, step)) // [B]
		alpha = graph.Where(graph.BroadcastToDims(graph.InsertAxes(active, -1), b, s), updated, alpha)
	}

	// −ln p = −logsumexp of α at s = 2U and s = 2U − 1.
	pos := graph.Iota(g, shapes.Make(dtypes.Int32, b, s), 1)
	last := graph.InsertAxes(graph.MulScalar(labelLengths, 2), -1)
	final := graph.LogicalOr(graph.Equal(pos, last), graph.Equal(pos, graph.SubScalar(last, 1)))
	ends := graph.Where(final, alpha, zero)
	m := graph.StopGradient(graph.ReduceMax(ends, 1))
	logLikelihood := graph.Add(m, graph.Log(graph.ReduceSum(graph.Exp(graph.Sub(ends, graph.InsertAxes(m, -1))), 1)))
	// NaN (a label out of range) is not below the threshold: it stays NaN.
	noAlignment := graph.LessThan(logLikelihood, graph.Scalar(g, dtype, infeasible))
	return graph.Where(noAlignment, graph.ZerosLike(logLikelihood), graph.Neg(logLikelihood))
}

// unstack splits x [T, ...] into its T slices [...] by halving recursively. The gradient of a slice
// is its adjoint padded to the whole input, so T slices taken directly would cost T full-size pads
// and sums in the backward pass, O(T²); halving costs O(T log T).
func unstack(x *graph.Node) []*graph.Node {
	n := x.Shape().Dim(0)
	if n == 1 {
		return []*graph.Node{graph.Squeeze(x, 0)}
	}
	half := n / 2
	return append(unstack(graph.SliceAxis(x, 0, graph.AxisRange(0, half))), unstack(graph.SliceAxis(x, 0, graph.AxisRange(half, n)))...)
}
