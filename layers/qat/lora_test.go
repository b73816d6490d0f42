package qat

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
)

func dot(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// TestLoRA checks that the update starts at zero with A drawn from N(0, 1/in), a zero
// gradient for A and a non-zero one for B; that once B is non-zero it is (alpha/rank)·B·A
// and both get a gradient (checked by Euler's identity for the bilinear f = Σ ΔW·r:
// ⟨∂f/∂A, A⟩ = ⟨∂f/∂B, B⟩ = f).
func TestLoRA(t *testing.T) {
	const in, out, rank, alpha = 64, 5, 4, 8.0
	rng := rand.New(rand.NewPCG(9, 10))
	r := gaussian(rng, out*in, 1)
	store := seededStore()
	scope := store.Scope("/adapter")
	exec, err := model.NewExec(testbackend.Go(t), store, func(root *model.Scope, r *graph.Node) []*graph.Node {
		adapter := root.In("adapter")
		g := r.Graph()
		delta := LoRA(adapter, g, out, in, rank, alpha)
		delta.AssertDims(out, in)
		a, b := adapter.GetVariable(LoRAAVar).NodeValue(g), adapter.GetVariable(LoRABVar).NodeValue(g)
		a.AssertDims(rank, in)
		b.AssertDims(out, rank)
		f := graph.ReduceAllSum(graph.Mul(delta, r))
		grads := graph.Gradient(f, a, b)
		return []*graph.Node{delta, f, grads[0], grads[1]}
	})
	if err != nil {
		t.Fatal(err)
	}
	rt := tensors.FromFlatDataAndDimensions(r, out, in)
	res, err := exec.Call(rt)
	if err != nil {
		t.Fatal(err)
	}
	a := variableValues(t, scope, LoRAAVar)
	if std := math.Sqrt(dot(a, a) / float64(len(a))); math.Abs(std-1/math.Sqrt(in)) > 0.03 {
		t.Errorf("A's standard deviation %.3f, want ≈ 1/√in = %.3f", std, 1/math.Sqrt(in))
	}
	assertClose(t, "initial ΔW", flat(t, res[0]), make([]float64, out*in), 0)
	assertClose(t, "initial ∂f/∂A", flat(t, res[2]), make([]float64, rank*in), 0)
	// ∂f/∂B[o, k] = (alpha/rank)·Σ_i r[o, i]·A[k, i].
	wantGradB := make([]float64, out*rank)
	for o := range out {
		for k := range rank {
			wantGradB[o*rank+k] = alpha / rank * dot(r[o*in:(o+1)*in], a[k*in:(k+1)*in])
		}
	}
	assertClose(t, "initial ∂f/∂B", flat(t, res[3]), wantGradB, 1e-5)

	b := gaussian(rng, out*rank, 0.5)
	scope.GetVariable(LoRABVar).MustSetValue(tensors.FromFlatDataAndDimensions(b, out, rank))
	if res, err = exec.Call(rt); err != nil {
		t.Fatal(err)
	}
	delta, f := flat(t, res[0]), float64(flat(t, res[1])[0])
	want := make([]float64, out*in)
	for o := range out {
		for i := range in {
			for k := range rank {
				want[o*in+i] += alpha / rank * float64(b[o*rank+k]) * float64(a[k*in+i])
			}
		}
	}
	assertClose(t, "ΔW vs (alpha/rank)·B·A", delta, want, 1e-5)
	gradA, gradB := flat(t, res[2]), flat(t, res[3])
	if dot(gradA, gradA) == 0 {
		t.Fatal("∂f/∂A = 0 with B ≠ 0")
	}
	assertClose(t, "⟨∂f/∂A, A⟩", []float32{float32(dot(gradA, a))}, []float64{f}, 1e-4)
	assertClose(t, "⟨∂f/∂B, B⟩", []float32{float32(dot(gradB, b))}, []float64{f}, 1e-4)
}
