package qat

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/qzoo/qzoo/internal/testbackend"
)

// lsqReference holds, for values v and their steps s (one per value), LSQ's forward value
// round(clip(v/s, −Q_N, Q_P))·s and its derivatives: ∂v̂/∂v (the STE: 1 inside the clip
// range, 0 outside) and ∂v̂/∂s before the gradient scale (the paper's eq. 3).
type lsqReference struct {
	value, dv, ds []float64
	below, above  int // values clipped to −Q_N and to Q_P
}

func newLSQReference(v, s []float32, qn, qp float64) lsqReference {
	ref := lsqReference{value: make([]float64, len(v)), dv: make([]float64, len(v)), ds: make([]float64, len(v))}
	for i, x := range v {
		ratio := x / s[i] // float32, as in the graph
		switch {
		case float64(ratio) <= -qn:
			ref.value[i], ref.ds[i] = float64(float32(-qn)*s[i]), -qn
			ref.below++
		case float64(ratio) >= qp:
			ref.value[i], ref.ds[i] = float64(float32(qp)*s[i]), qp
			ref.above++
		default:
			rounded := math.RoundToEven(float64(ratio))
			ref.value[i] = float64(float32(rounded) * s[i])
			ref.dv[i] = 1
			ref.ds[i] = rounded - float64(x)/float64(s[i])
		}
	}
	return ref
}

// groupOf returns, for w [out, in] in groups of size columns, the group index o·n + j of
// each weight and the number of groups per row n.
func groupOf(out, in, size int) (group []int, n int) {
	n = (in + size - 1) / size
	group = make([]int, out*in)
	for o := range out {
		for i := range in {
			group[o*in+i] = o*n + i/size
		}
	}
	return group, n
}

// lsqInitReference is the paper's initial step 2·mean|v|/√Q_P of each group.
func lsqInitReference(w []float32, group []int, numGroups int, qp float64) []float64 {
	sum, count := make([]float64, numGroups), make([]float64, numGroups)
	for i, x := range w {
		sum[group[i]] += math.Abs(float64(x))
		count[group[i]]++
	}
	init := make([]float64, numGroups)
	for j := range init {
		init[j] = 2 * sum[j] / count[j] / math.Sqrt(qp)
	}
	return init
}

// TestLSQ checks, on rows of 172 weights in groups of 64, 64 and 44: the initial steps; the
// forward value; the STE gradient w.r.t. w; the gradient w.r.t. s against the paper's formula
// times g = 1/√(N·Q_P), N the size of the group; and that a set step is used, not refitted.
func TestLSQ(t *testing.T) {
	const out, in, groupSize = 3, 172, 64
	rng := rand.New(rand.NewPCG(3, 4))
	normal := gaussian(rng, out*in, 0.5)
	positive := make([]float32, len(normal))
	for i, x := range normal {
		positive[i] = float32(math.Abs(float64(x)))
	}
	r := gaussian(rng, out*in, 1)
	for _, c := range []struct {
		name   string
		w      []float32
		bits   int
		signed bool
	}{
		{"signed3", normal, 3, true},
		{"unsigned2", positive, 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			qn, qp := lsqRange("test", c.bits, c.signed)
			group, n := groupOf(out, in, groupSize)
			store := seededStore()
			scope := store.Scope("/layer")
			exec, err := model.NewExec(testbackend.Go(t), store, func(root *model.Scope, w, r *graph.Node) []*graph.Node {
				layer := root.In("layer")
				y := LSQ(layer, w, c.bits, groupSize, c.signed)
				y.AssertDims(out, in)
				step := layer.GetVariable(LSQStepVar).NodeValue(w.Graph())
				step.AssertDims(out, n)
				grads := graph.Gradient(graph.ReduceAllSum(graph.Mul(y, r)), w, step)
				return []*graph.Node{y, grads[0], grads[1]}
			})
			if err != nil {
				t.Fatal(err)
			}
			wt, rt := tensors.FromFlatDataAndDimensions(c.w, out, in), tensors.FromFlatDataAndDimensions(r, out, in)

			// First execution: the steps are initialised from w.
			res, err := exec.Call(wt, rt)
			if err != nil {
				t.Fatal(err)
			}
			steps := variableValues(t, scope, LSQStepVar)
			assertClose(t, "initial step", steps, lsqInitReference(c.w, group, n*out, qp), 1e-6)
			if flag := variableValues(t, scope, lsqInitializedVar); flag[0] != 1 {
				t.Fatalf("lsq_initialized = %v after the first execution, want 1", flag[0])
			}
			perWeight := make([]float32, len(c.w))
			for i := range perWeight {
				perWeight[i] = steps[group[i]]
			}
			assertClose(t, "LSQ(w) at the initial steps", flat(t, res[0]), newLSQReference(c.w, perWeight, qn, qp).value, 1e-6)

			// Steps set to a third of their initial values, so that many weights are clipped.
			set := make([]float32, len(steps))
			for j := range set {
				set[j] = steps[j] / 3
			}
			scope.GetVariable(LSQStepVar).MustSetValue(tensors.FromFlatDataAndDimensions(set, out, n))
			if res, err = exec.Call(wt, rt); err != nil {
				t.Fatal(err)
			}
			assertClose(t, "step after an execution", variableValues(t, scope, LSQStepVar), float64s(set), 0)
			for i := range perWeight {
				perWeight[i] = set[group[i]]
			}
			ref := newLSQReference(c.w, perWeight, qn, qp)
			if ref.above == 0 || (c.signed && ref.below == 0) {
				t.Fatalf("test values: %d weights clipped below, %d above; want some on each side", ref.below, ref.above)
			}
			assertClose(t, "LSQ(w)", flat(t, res[0]), ref.value, 1e-6)
			wantGradW := make([]float64, len(r))
			wantGradS := make([]float64, out*n)
			for i := range r {
				wantGradW[i] = float64(r[i]) * ref.dv[i]
				size := float64(min(groupSize, in-(i%in)/groupSize*groupSize))
				wantGradS[group[i]] += float64(r[i]) * ref.ds[i] / math.Sqrt(size*qp)
			}
			assertClose(t, "∂Σ LSQ(w)·r/∂w", flat(t, res[1]), wantGradW, 1e-6) // r·s·(1/s)
			assertClose(t, "∂Σ LSQ(w)·r/∂s", flat(t, res[2]), wantGradS, 1e-5)
		})
	}
}

// TestLSQWithOptimizer checks that an optimizer trains the step from the first step on: the
// first execution initialises the steps and applies the first update to them, the second
// updates the stored steps.
func TestLSQWithOptimizer(t *testing.T) {
	const out, in, groupSize, bits, learningRate = 2, 10, 4, 3, 0.1
	rng := rand.New(rand.NewPCG(7, 8))
	w, r := gaussian(rng, out*in, 1), gaussian(rng, out*in, 1)
	qn, qp := lsqRange("test", bits, true)
	group, n := groupOf(out, in, groupSize)
	store := seededStore()
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, w, r *graph.Node) *graph.Node {
		g := w.Graph()
		store.SetTraining(g, true)
		loss := graph.ReduceAllSum(graph.Mul(LSQ(scope.In("layer"), w, bits, groupSize, true), r))
		optimizer.StochasticGradientDescent().WithDecay(false).WithLearningRate(learningRate).Done().UpdateGraph(scope, g, loss)
		return loss
	})
	if err != nil {
		t.Fatal(err)
	}
	// sgdStep returns the steps after one SGD step from steps, with the gradient of eq. 3.
	sgdStep := func(steps []float64) []float64 {
		perWeight := make([]float32, len(w))
		for i := range w {
			perWeight[i] = float32(steps[group[i]])
		}
		ref := newLSQReference(w, perWeight, qn, qp)
		next := slices.Clone(steps)
		for i := range w {
			size := float64(min(groupSize, in-(i%in)/groupSize*groupSize))
			next[group[i]] -= learningRate * float64(r[i]) * ref.ds[i] / math.Sqrt(size*qp)
		}
		return next
	}
	steps := lsqInitReference(w, group, out*n, qp)
	for step := range 2 {
		if _, err := exec.Call(tensors.FromFlatDataAndDimensions(w, out, in), tensors.FromFlatDataAndDimensions(r, out, in)); err != nil {
			t.Fatal(err)
		}
		steps = sgdStep(steps)
		got := variableValues(t, store.Scope("/layer"), LSQStepVar)
		assertClose(t, fmt.Sprintf("steps after SGD step %d", step+1), got, steps, 1e-5)
		steps = float64s(got)
	}
}

// TestLSQConstantVariables checks that a store embedding its variables as constants, which
// forbids setting them, uses the stored steps.
func TestLSQConstantVariables(t *testing.T) {
	store := seededStore()
	quantize := func(scope *model.Scope, w *graph.Node) *graph.Node { return LSQ(scope.In("layer"), w, 3, 2, true) }
	w := tensors.FromValue([][]float32{{1, 2, 3, 4}})
	if _, err := model.CallOnce(testbackend.Go(t), store, quantize, w); err != nil {
		t.Fatal(err)
	}
	store.Scope("/layer").GetVariable(LSQStepVar).MustSetValue(tensors.FromValue([][]float32{{0.5, 0.25}}))
	got, err := model.CallOnce(testbackend.Go(t), store.WithVariableAsConst(true), quantize, w)
	if err != nil {
		t.Fatal(err)
	}
	// 1/0.5 = 2, 2/0.5 = 4 → Q_P = 3, 3/0.25 = 12 → 3, 4/0.25 = 16 → 3.
	assertClose(t, "LSQ(w) with constant variables", flat(t, got), []float64{1, 1.5, 0.75, 0.75}, 0)
}

// TestLSQActivation checks the per-tensor step's initialisation from the first batch, the
// forward value and both gradients, with g = 1/√(N·Q_P) for N = 6·5 features per example.
func TestLSQActivation(t *testing.T) {
	const bits = 2
	dims := []int{4, 6, 5}
	rng := rand.New(rand.NewPCG(5, 6))
	x, r := gaussian(rng, 120, 1), gaussian(rng, 120, 1)
	qn, qp := lsqRange("test", bits, true)
	store := seededStore()
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, x, r *graph.Node) []*graph.Node {
		y := LSQActivation(scope, x, bits)
		step := scope.GetVariable(LSQActivationStepVar).NodeValue(x.Graph())
		grads := graph.Gradient(graph.ReduceAllSum(graph.Mul(y, r)), x, step)
		return []*graph.Node{y, grads[0], grads[1]}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Call(tensors.FromFlatDataAndDimensions(x, dims...), tensors.FromFlatDataAndDimensions(r, dims...))
	if err != nil {
		t.Fatal(err)
	}
	step := variableValues(t, store.RootScope(), LSQActivationStepVar)
	assertClose(t, "initial step", step, lsqInitReference(x, make([]int, len(x)), 1, qp), 1e-6)
	ref := newLSQReference(x, repeat(step[0], len(x)), qn, qp)
	if ref.above == 0 {
		t.Fatal("test values: none clipped to Q_P")
	}
	assertClose(t, "LSQActivation(x)", flat(t, res[0]), ref.value, 1e-6)
	wantGradX, wantGradS := make([]float64, len(x)), 0.0
	for i := range x {
		wantGradX[i] = float64(r[i]) * ref.dv[i]
		wantGradS += float64(r[i]) * ref.ds[i] / math.Sqrt(30*qp)
	}
	assertClose(t, "∂Σ LSQActivation(x)·r/∂x", flat(t, res[1]), wantGradX, 1e-6)
	assertClose(t, "∂Σ LSQActivation(x)·r/∂s", flat(t, res[2]), []float64{wantGradS}, 1e-5)
}

func float64s(values []float32) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = float64(v)
	}
	return out
}

func repeat(value float32, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = value
	}
	return out
}
