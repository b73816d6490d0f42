package qat

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
)

// linearReference returns x·Wᵀ for x [n, in] and w [out, in], in float64.
func linearReference(x, w []float32, n, out, in int) []float64 {
	y := make([]float64, n*out)
	for i := range n {
		for o := range out {
			for k := range in {
				y[i*out+o] += float64(x[i*in+k]) * float64(w[o*in+k])
			}
		}
	}
	return y
}

func dot(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// TestLoRA checks that the adapter starts at zero with a zero gradient for A and a non-zero
// one for B; that once B is non-zero both get a gradient (checked by Euler's identity for the
// bilinear f = Σ ΔY·r: ⟨∂f/∂A, A⟩ = ⟨∂f/∂B, B⟩ = f); and that x·Wᵀ + LoRA(x) = x·Merge(W, A, B)ᵀ.
func TestLoRA(t *testing.T) {
	const batch, seq, in, out, rank, alpha = 2, 3, 8, 5, 4, 8.0
	const n = batch * seq
	rng := rand.New(rand.NewPCG(9, 10))
	x, r, w := gaussian(rng, n*in, 1), gaussian(rng, n*out, 1), gaussian(rng, out*in, 0.3)
	store := seededStore()
	scope := store.Scope("/adapter")
	exec, err := model.NewExec(testbackend.Go(t), store, func(root *model.Scope, x, r *graph.Node) []*graph.Node {
		adapter := root.In("adapter")
		delta := LoRA(adapter, x, out, rank, alpha)
		delta.AssertDims(batch, seq, out)
		g := x.Graph()
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
	xt, rt := tensors.FromFlatDataAndDimensions(x, batch, seq, in), tensors.FromFlatDataAndDimensions(r, batch, seq, out)

	res, err := exec.Call(xt, rt)
	if err != nil {
		t.Fatal(err)
	}
	a := variableValues(t, scope, LoRAAVar)
	bound := 1 / math.Sqrt(in)
	for i, v := range a {
		if math.Abs(float64(v)) > bound || (i > 0 && v == a[0]) {
			t.Fatalf("A = %v: want distinct values in (−%.3f, %.3f)", a, bound, bound)
		}
	}
	assertClose(t, "initial ΔY", flat(t, res[0]), make([]float64, n*out), 0)
	assertClose(t, "initial ∂f/∂A", flat(t, res[2]), make([]float64, rank*in), 0)
	// ∂f/∂B[o, k] = (alpha/rank)·Σ_n r[n, o]·(x·Aᵀ)[n, k].
	down := linearReference(x, a, n, rank, in)
	wantGradB := make([]float64, out*rank)
	for o := range out {
		for k := range rank {
			for i := range n {
				wantGradB[o*rank+k] += alpha / rank * float64(r[i*out+o]) * down[i*rank+k]
			}
		}
	}
	assertClose(t, "initial ∂f/∂B", flat(t, res[3]), wantGradB, 1e-5)

	b := gaussian(rng, out*rank, 0.5)
	scope.GetVariable(LoRABVar).MustSetValue(tensors.FromFlatDataAndDimensions(b, out, rank))
	if res, err = exec.Call(xt, rt); err != nil {
		t.Fatal(err)
	}
	delta, f := flat(t, res[0]), float64(flat(t, res[1])[0])
	gradA, gradB := flat(t, res[2]), flat(t, res[3])
	if dot(gradA, gradA) == 0 {
		t.Fatal("∂f/∂A = 0 with B ≠ 0")
	}
	assertClose(t, "⟨∂f/∂A, A⟩", []float32{float32(dot(gradA, a))}, []float64{f}, 1e-5)
	assertClose(t, "⟨∂f/∂B, B⟩", []float32{float32(dot(gradB, b))}, []float64{f}, 1e-5)

	base := linearReference(x, w, n, out, in)
	adapted := make([]float32, len(base))
	for i := range base {
		adapted[i] = float32(base[i] + float64(delta[i]))
	}
	assertClose(t, "x·Wᵀ + LoRA(x) vs x·Merge(W, A, B)ᵀ", adapted, linearReference(x, Merge(w, a, b, out, in, rank, alpha), n, out, in), 1e-5)
}

func TestMerge(t *testing.T) {
	// W + (alpha/rank)·B·A with W [2, 3], A [1, 3], B [2, 1], alpha/rank = 2.
	got := Merge([]float32{1, 2, 3, 4, 5, 6}, []float32{1, 0, -1}, []float32{0.5, 2}, 2, 3, 1, 2)
	assertClose(t, "Merge", got, []float64{2, 2, 2, 8, 5, 2}, 0)
	if text := recoveredText(func() { Merge(make([]float32, 6), make([]float32, 4), make([]float32, 2), 2, 3, 1, 1) }); !strings.Contains(text, "len(a) = 4, want 3") {
		t.Errorf("Merge with a too long: panic %q", text)
	}
}
