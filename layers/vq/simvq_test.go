package vq

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

// TestSimVQEveryCodeMoves is SimVQ's point (Zhu et al. 2024, §4): one gradient step on the loss
// moves every code of C = E·Wᵀ + b, including the many that no latent selected, while the frozen
// basis E stays put.
func TestSimVQEveryCodeMoves(t *testing.T) {
	const k, d = 64, 4
	for _, useBias := range []bool{true, false} {
		store := seededStore(nil)
		q := build(t, "simvq", map[string]any{ParamCodebookSize: k, ParamSimVQBias: useBias}).(*SimVQ)
		rng := rand.New(rand.NewPCG(8, 9))
		z := gaussianTensor(rng, 1, 10, d) // at most 10 of the 64 codes can be selected
		before, after, codes := codebookAfterSGDStep(t, store, q, z, q.Codebook)
		selected := map[int32]bool{}
		for _, c := range codes {
			selected[c] = true
		}
		if len(selected) > 10 {
			t.Fatalf("%d codes selected by 10 latents", len(selected))
		}
		for i, m := range movedRows(before, after) {
			if !m {
				t.Errorf("bias=%v: code %d (selected=%v) did not move", useBias, i, selected[int32(i)])
			}
		}
		basis := store.GetVariable("/quantizer/basis")
		if basis == nil || basis.Trainable {
			t.Fatalf("bias=%v: /quantizer/basis must exist and be non-trainable, got %v", useBias, basis)
		}
		if got := store.GetVariable("/quantizer/bias") != nil; got != useBias {
			t.Errorf("%s=%v but bias variable present=%v", ParamSimVQBias, useBias, got)
		}
	}
}

// TestSimVQInitialisation checks the paper's initialisation: E ~ N(0, 1/D), and W, b
// uniform(−1/√D, 1/√D) (PyTorch's nn.Linear).
func TestSimVQInitialisation(t *testing.T) {
	const k, d = 512, 16
	store := seededStore(nil)
	q := build(t, "simvq", map[string]any{ParamCodebookSize: k})
	rng := rand.New(rand.NewPCG(1, 1))
	runQuantizer(t, store, q, gaussianTensor(rng, 1, 3, d), false)

	basis := tensors.MustCopyFlatData[float32](store.GetVariable("/quantizer/basis").MustValue())
	sum, sumSq := 0.0, 0.0
	for _, v := range basis {
		sum += float64(v)
		sumSq += float64(v) * float64(v)
	}
	n := float64(len(basis))
	mean, std := sum/n, math.Sqrt(sumSq/n-(sum/n)*(sum/n))
	wantStd := 1 / math.Sqrt(d)
	// 8192 samples: the standard errors of the mean and std are ~0.3% and ~0.8% of wantStd.
	if math.Abs(mean) > 0.03*wantStd || math.Abs(std-wantStd) > 0.05*wantStd {
		t.Errorf("basis mean %g std %g, want N(0, %g²)", mean, std, wantStd)
	}
	for _, name := range []string{"weights", "bias"} {
		values := tensors.MustCopyFlatData[float32](store.GetVariable("/quantizer/" + name).MustValue())
		maxAbs := 0.0
		for _, v := range values {
			maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
		}
		if bound := 1 / math.Sqrt(d); maxAbs > bound || maxAbs < 0.5*bound {
			t.Errorf("%s: max |value| %g, want uniform(−%g, %g)", name, maxAbs, bound, bound)
		}
	}
}
