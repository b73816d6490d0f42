package vq

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/internal/testbackend"
)

func TestLFQCodesAreSignBits(t *testing.T) {
	const b, h, w, d = 2, 3, 4, 3
	store := seededStore(nil)
	q := build(t, "lfq", map[string]any{ParamCodebookSize: 1 << d})
	if got := q.Name(); got != "lfq(K=8,bits=3)" {
		t.Errorf("Name() = %q", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	z := gaussianTensor(rng, 1, b, h, w, d)
	run := runQuantizer(t, store, q, z, true)

	if !run.quantized.Shape().Equal(z.Shape()) {
		t.Errorf("Quantized shape %s, want %s", run.quantized.Shape(), z.Shape())
	}
	if got := run.index.Shape().Dimensions; len(got) != 3 || got[0] != b || got[1] != h || got[2] != w {
		t.Errorf("Codes dimensions %v, want [%d %d %d]", got, b, h, w)
	}
	zs := tensors.MustCopyFlatData[float32](z)
	quantized := tensors.MustCopyFlatData[float32](run.quantized)
	for n, c := range run.stageCodes[0] {
		want := int32(0)
		for i := range d {
			sign := float32(-1)
			if zs[n*d+i] > 0 {
				want |= 1 << i
				sign = 1
			}
			if math.Abs(float64(quantized[n*d+i]-sign)) > 1e-6 {
				t.Fatalf("quantized[%d][%d] = %g for z = %g, want %g", n, i, quantized[n*d+i], zs[n*d+i], sign)
			}
		}
		if c != want {
			t.Fatalf("code of latent %d = %d, want the sign bits %d (z = %v)", n, c, want, zs[n*d:(n+1)*d])
		}
	}
	// D = d: no projection, the straight-through gradient is exactly the identity.
	grad, r := tensors.MustCopyFlatData[float32](run.grad), tensors.MustCopyFlatData[float32](run.r)
	for i := range grad {
		if grad[i] != r[i] {
			t.Fatalf("∂Σ(Quantized·r)/∂z[%d] = %g, want r = %g", i, grad[i], r[i])
		}
	}
	wantPerplexity, wantUsed := codeStats(run.stageCodes[0])
	if got := run.stats[StatUsedCodes]; int(got) != wantUsed {
		t.Errorf("%s = %g, want %d", StatUsedCodes, got, wantUsed)
	}
	if got := run.stats[StatCodePerplexity]; math.Abs(got-wantPerplexity) > 1e-3*wantPerplexity {
		t.Errorf("%s = %g, want %g", StatCodePerplexity, got, wantPerplexity)
	}
}

func TestLFQProjectionShapesGradientAndDecode(t *testing.T) {
	const b, n, d = 4, 5, 6 // D = 6 latents, 4 bits.
	store := seededStore(nil)
	q := build(t, "lfq", map[string]any{ParamCodebookSize: 16})
	rng := rand.New(rand.NewPCG(3, 4))
	z := gaussianTensor(rng, 1, b, n, d)
	run := runQuantizer(t, store, q, z, true)
	if !run.quantized.Shape().Equal(z.Shape()) {
		t.Errorf("Quantized shape %s, want %s", run.quantized.Shape(), z.Shape())
	}
	if got := run.index.Shape().Dimensions; len(got) != 2 || got[0] != b || got[1] != n {
		t.Errorf("Codes dimensions %v, want [%d %d]", got, b, n)
	}
	nonZero := 0
	for _, g := range tensors.MustCopyFlatData[float32](run.grad) {
		if g != 0 {
			nonZero++
		}
	}
	if nonZero < b*n*d/2 {
		t.Errorf("only %d of %d gradient entries reach z through the projections", nonZero, b*n*d)
	}
	if loss := scalarF64(t, run.loss); math.IsNaN(loss) || math.IsInf(loss, 0) {
		t.Errorf("Loss = %g, want finite", loss)
	}
}

// lfqLoss returns the loss and stats of lfq on z with only the entropy penalty (weight 1).
func lfqLoss(t *testing.T, k int, temperature float64, z *tensors.Tensor) (loss float64, stats map[string]float64) {
	t.Helper()
	q := build(t, "lfq", map[string]any{ParamCodebookSize: k, ParamLFQCommitment: 0.0,
		ParamLFQEntropyWeight: 1.0, ParamLFQTemperature: temperature})
	run := runQuantizer(t, seededStore(nil), q, z, false)
	return scalarF64(t, run.loss), run.stats
}

func TestLFQEntropyPenaltyFavoursDiverseCodes(t *testing.T) {
	const d = 3
	var diverse, collapsed []float32
	for c := range 1 << d {
		for i := range d {
			v := float32(-0.9)
			if c>>i&1 == 1 {
				v = 0.9
			}
			diverse = append(diverse, v)
			collapsed = append(collapsed, 0.9)
		}
	}
	diverseLoss, diverseStats := lfqLoss(t, 1<<d, 0.01, tensors.FromFlatDataAndDimensions(diverse, 1<<d, d))
	collapsedLoss, collapsedStats := lfqLoss(t, 1<<d, 0.01, tensors.FromFlatDataAndDimensions(collapsed, 1<<d, d))
	// Confident assignments: E H(p(q|z)) ≈ 0; H(p̄) = log 8 for all codes, 0 for one code.
	if want := -math.Log(8); math.Abs(diverseLoss-want) > 1e-3 {
		t.Errorf("entropy penalty of 8 distinct codes = %g, want −log 8 = %g", diverseLoss, want)
	}
	if math.Abs(collapsedLoss) > 1e-3 {
		t.Errorf("entropy penalty of one code = %g, want 0", collapsedLoss)
	}
	if !(diverseLoss < collapsedLoss-1) {
		t.Errorf("entropy penalty diverse %g not below collapsed %g", diverseLoss, collapsedLoss)
	}
	if diverseStats[StatUsedCodes] != 8 || collapsedStats[StatUsedCodes] != 1 {
		t.Errorf("used codes: diverse %g, collapsed %g; want 8 and 1",
			diverseStats[StatUsedCodes], collapsedStats[StatUsedCodes])
	}
}

// TestLFQEntropiesMatchBruteForce compares the entropies against sums over all 2^d codes of
// p(q|z) = softmax_q(−‖z − q‖²/τ) computed directly in float64, for odd and even d.
func TestLFQEntropiesMatchBruteForce(t *testing.T) {
	const n, temperature = 7, 1.0
	for _, d := range []int{1, 4, 5} {
		t.Run(fmt.Sprintf("bits=%d", d), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(d), 11))
			z := gaussianTensor(rng, 0.7, n, d)
			zs := tensors.MustCopyFlatData[float32](z)
			numCodes := 1 << d
			avg := make([]float64, numCodes)
			sampleEntropy := 0.0
			for s := range n {
				logits := make([]float64, numCodes)
				maxLogit := math.Inf(-1)
				for c := range numCodes {
					for i := range d {
						qi := -1.0
						if c>>i&1 == 1 {
							qi = 1
						}
						diff := float64(zs[s*d+i]) - qi
						logits[c] -= diff * diff / temperature
					}
					maxLogit = math.Max(maxLogit, logits[c])
				}
				norm := 0.0
				for c := range logits {
					norm += math.Exp(logits[c] - maxLogit)
				}
				for c := range logits {
					p := math.Exp(logits[c]-maxLogit) / norm
					avg[c] += p / n
					sampleEntropy -= p * math.Log(p) / n
				}
			}
			codebookEntropy := 0.0
			for _, p := range avg {
				codebookEntropy -= p * math.Log(p)
			}

			loss, stats := lfqLoss(t, numCodes, temperature, z)
			if got := stats[StatSampleEntropy]; math.Abs(got-sampleEntropy) > 1e-4 {
				t.Errorf("%s = %g, want %g", StatSampleEntropy, got, sampleEntropy)
			}
			if got := stats[StatCodebookEntropy]; math.Abs(got-codebookEntropy) > 1e-4 {
				t.Errorf("%s = %g, want %g", StatCodebookEntropy, got, codebookEntropy)
			}
			if want := sampleEntropy - codebookEntropy; math.Abs(loss-want) > 1e-4 {
				t.Errorf("loss = %g, want E H − H(p̄) = %g", loss, want)
			}

			// The factorised form used above 14 bits bounds the exact entropy from above.
			bound, err := graph.ExecOnce(testbackend.Go(t), func(x *graph.Node) *graph.Node {
				return lfqCodebookEntropy(graph.MulScalar(x, 4/temperature), false)
			}, z)
			if err != nil {
				t.Fatal(err)
			}
			if got := scalarF64(t, bound); got < codebookEntropy-1e-5 {
				t.Errorf("factorised entropy %g below the exact %g", got, codebookEntropy)
			}
		})
	}
}

func TestLFQInvalidParamsNamed(t *testing.T) {
	for _, tc := range []struct {
		key   string
		value any
	}{
		{ParamCodebookSize, 1000},
		{ParamCodebookSize, 1},
		{ParamCodebookSize, 1 << 25},
		{ParamLFQTemperature, 0.0},
		{ParamLFQDiversity, -1.0},
	} {
		t.Run(fmt.Sprintf("%s=%v", tc.key, tc.value), func(t *testing.T) {
			err := Validate(map[string]any{ParamType: "lfq", tc.key: tc.value}, "")
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %v does not name %s", err, tc.key)
			}
		})
	}
}
