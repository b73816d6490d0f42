package vq

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
)

// TestBinaryEvaluationThresholds checks the evaluation graph with D = d: bits [z > 0] (ψ > ½),
// the output exactly 0 or 1, codes the bits read as a binary number, the gradient σ'(z)·r of
// the straight-through sigmoid, d bits per vector, no loss, and the stats.
func TestBinaryEvaluationThresholds(t *testing.T) {
	const b, n, d = 2, 6, 4
	q := build(t, "binary", map[string]any{ParamCodebookSize: 1 << d})
	if q.Name() != "binary(K=16,bits=4)" {
		t.Errorf("Name() = %q", q.Name())
	}
	rng := rand.New(rand.NewPCG(9, 9))
	z := gaussianTensor(rng, 2, b, n, d)
	run := runQuantizer(t, seededStore(nil), q, z, true)

	zs, quantized := tensors.MustCopyFlatData[float32](z), tensors.MustCopyFlatData[float32](run.quantized)
	grad, r := tensors.MustCopyFlatData[float32](run.grad), tensors.MustCopyFlatData[float32](run.r)
	entropy := 0.0
	for v, code := range run.stageCodes[0] {
		want := int32(0)
		for i := range d {
			x := float64(zs[v*d+i])
			bit := 0.0
			if x > 0 {
				want |= 1 << i
				bit = 1
			}
			if float64(quantized[v*d+i]) != bit {
				t.Fatalf("latent %d bit %d: z = %g gives %g, want %g", v, i, x, quantized[v*d+i], bit)
			}
			p := 1 / (1 + math.Exp(-x))
			if g, want := float64(grad[v*d+i]), float64(r[v*d+i])*p*(1-p); math.Abs(g-want) > 1e-6 {
				t.Fatalf("gradient[%d][%d] = %g, want r·σ'(z) = %g", v, i, g, want)
			}
			entropy -= (p*math.Log(p) + (1-p)*math.Log(1-p)) / float64(b*n)
		}
		if code != want {
			t.Fatalf("code of latent %d = %d, want %d", v, code, want)
		}
	}
	if bits := scalarF64(t, run.bits); bits != d {
		t.Errorf("bits = %g, want %d", bits, d)
	}
	if loss := scalarF64(t, run.loss); loss != 0 {
		t.Errorf("loss = %g, want 0", loss)
	}
	if got := run.stats[StatSampleEntropy]; math.Abs(got-entropy) > 1e-4 {
		t.Errorf("%s = %g, want %g", StatSampleEntropy, got, entropy)
	}
	wantPerplexity, wantUsed := codeStats(run.stageCodes[0])
	if run.stats[StatUsedCodes] != float64(wantUsed) || math.Abs(run.stats[StatCodePerplexity]-wantPerplexity) > 1e-3*wantPerplexity {
		t.Errorf("stats %v, want %d used codes and code perplexity %g", run.stats, wantUsed, wantPerplexity)
	}
}

// binarySamples runs the training graph of a 2-bit Binary calls times on z [N, 2] with a store
// seeded with seed, returning the codes of each call.
func binarySamples(t *testing.T, seed int64, z *tensors.Tensor, calls int) [][]int32 {
	t.Helper()
	q := build(t, "binary", map[string]any{ParamCodebookSize: 4})
	store := model.NewStore()
	store.RootScope().SetParam(model.ParamInitialSeed, seed)
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) []*graph.Node {
		scope.SetTraining(z.Graph(), true)
		out := q.Quantize(scope.In("binary"), z)
		return []*graph.Node{out.Index, graph.ReduceAllSum(graph.Gradient(graph.ReduceAllSum(out.Quantized), z)[0])}
	})
	if err != nil {
		t.Fatal(err)
	}
	var codes [][]int32
	for range calls {
		res, err := exec.Call(z)
		if err != nil {
			t.Fatal(err)
		}
		if g := scalarF64(t, res[1]); !(g > 0) {
			t.Fatalf("training gradient sum %g, want > 0 (σ' > 0 everywhere)", g)
		}
		codes = append(codes, tensors.MustCopyFlatData[int32](res[0]))
	}
	return codes
}

// TestBinaryTrainingSamplesBernoulli: in training each bit is 1 with probability σ(z) (here
// σ(z) = 0.2 for bit 0 and 0.9 for bit 1, over 20000 latents), the samples depend only on
// the seed (the same in two stores of one seed), and each step draws new ones.
func TestBinaryTrainingSamplesBernoulli(t *testing.T) {
	const n = 20000
	probs := []float64{0.2, 0.9}
	data := make([]float32, 0, 2*n)
	for range n {
		for _, p := range probs {
			data = append(data, float32(math.Log(p/(1-p))))
		}
	}
	z := tensors.FromFlatDataAndDimensions(data, n, 2)
	first := binarySamples(t, 7, z, 2)
	for i, p := range probs {
		ones := 0
		for _, c := range first[0] {
			ones += int(c>>i) & 1
		}
		if sd := math.Sqrt(p * (1 - p) / n); math.Abs(float64(ones)/n-p) > 5*sd {
			t.Errorf("bit %d is 1 in %.4f of the samples, want %.2f ± %.4f", i, float64(ones)/n, p, 5*sd)
		}
	}
	if slices.Equal(first[0], first[1]) {
		t.Errorf("two training steps drew the same samples")
	}
	again := binarySamples(t, 7, z, 1)
	if !slices.Equal(first[0], again[0]) {
		t.Errorf("two stores seeded alike drew different samples")
	}
	other := binarySamples(t, 8, z, 1)
	if slices.Equal(first[0], other[0]) {
		t.Errorf("stores of seeds 7 and 8 drew the same samples")
	}
}

func TestBinaryInvalidCodebookSizeNamed(t *testing.T) {
	for _, k := range []int{3, 1000, 1 << 25} {
		err := Validate(map[string]any{ParamType: "binary", ParamCodebookSize: k}, "")
		if err == nil || !strings.Contains(err.Error(), ParamCodebookSize) || !strings.Contains(err.Error(), "binary") {
			t.Errorf("K=%d: error %v should name %s and binary", k, err, ParamCodebookSize)
		}
	}
}
