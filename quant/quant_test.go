package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// normal returns n samples of N(mean, std²).
func normal(rng *rand.Rand, n int, mean, std float64) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(mean + std*rng.NormFloat64())
	}
	return w
}

// studentT returns n samples of a Student-t with 2 degrees of freedom times scale: heavy
// tails like the outliers of LLM weights.
func studentT(rng *rand.Rand, n int, scale float64) []float32 {
	w := make([]float32, n)
	for i := range w {
		chi2 := 0.0
		for range 2 {
			z := rng.NormFloat64()
			chi2 += z * z
		}
		w[i] = float32(scale * rng.NormFloat64() / math.Sqrt(chi2/2))
	}
	return w
}

// roundTrip quantizes and dequantizes, failing the test on error.
func roundTrip(t *testing.T, w []float32, rows, cols int, spec Spec, fisher []float32) (*Quantized, []float32) {
	t.Helper()
	q, err := Quantize(w, rows, cols, spec, fisher)
	if err != nil {
		t.Fatalf("Quantize(%s): %v", spec, err)
	}
	wq := q.Dequantize()
	if len(wq) != rows*cols {
		t.Fatalf("%s: Dequantize has %d values, want %d", spec, len(wq), rows*cols)
	}
	return q, wq
}

func relErr(t *testing.T, w []float32, rows, cols int, spec Spec) float64 {
	t.Helper()
	_, wq := roundTrip(t, w, rows, cols, spec, nil)
	return RelativeError(w, wq)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string // "" for valid
	}{
		{Spec{Method: "rtn", Bits: 4}, ""},
		{Spec{Method: "nf4"}, ""},
		{Spec{Method: "nf4", Bits: 4, GroupSize: 32, DoubleQuant: true}, ""},
		{Spec{Method: "squeezellm", Bits: 3, OutlierFraction: 0.1, Hadamard: true}, ""},
		{Spec{Method: "gptq", Bits: 4}, `unknown Method "gptq", valid methods are rtn, nf4, squeezellm, float, nf`},
		{Spec{Method: "rtn", Bits: 1}, "Bits 1 out of range [2, 16]"},
		{Spec{Method: "rtn", Bits: 16, Symmetric: true}, ""},
		{Spec{Method: "rtn", Bits: 17}, "Bits 17 out of range [2, 16]"},
		{Spec{Method: "float", Bits: 4}, ""},
		{Spec{Method: "float", Bits: 8, Exponent: 5, GroupSize: 4096}, ""},
		{Spec{Method: "float", Bits: 16}, ""},
		{Spec{Method: "float", Bits: 2}, "Bits 2 for method float: widths are 3..8 and 16"},
		{Spec{Method: "float", Bits: 12}, "Bits 12 for method float"},
		{Spec{Method: "float", Bits: 4, Exponent: 4}, "Exponent 4 for a 4-bit float: want 1..3"},
		{Spec{Method: "float", Bits: 16, Exponent: 9}, "Exponent 9 for a 16-bit float: want 1..8"},
		{Spec{Method: "float", Bits: 4, Exponent: -1}, "Exponent -1"},
		{Spec{Method: "float", Bits: 4, Symmetric: true}, "Symmetric applies to method rtn only"},
		{Spec{Method: "nf", Bits: 2}, ""},
		{Spec{Method: "nf", Bits: 9}, "Bits 9 out of range [2, 8] for method nf"},
		{Spec{Method: "nf", Bits: 4, DoubleQuant: true}, "DoubleQuant applies to method nf4 only"},
		{Spec{Method: "nf", Bits: 4, Exponent: 2}, "Exponent applies to method float only, not nf"},
		{Spec{Method: "rtn", Bits: 4, Exponent: 2}, "Exponent applies to method float only, not rtn"},
		{Spec{Method: "squeezellm", Bits: 9}, "Bits 9 out of range [2, 8]"},
		{Spec{Method: "rtn"}, "Bits 0 out of range"},
		{Spec{Method: "nf4", Bits: 3}, "Bits 3 with method nf4"},
		{Spec{Method: "rtn", Bits: 4, GroupSize: -1}, "GroupSize -1 out of range"},
		{Spec{Method: "nf4", Symmetric: true}, "Symmetric applies to method rtn only"},
		{Spec{Method: "rtn", Bits: 4, DoubleQuant: true}, "DoubleQuant applies to method nf4 only"},
		{Spec{Method: "rtn", Bits: 4, OutlierFraction: 0.2}, "OutlierFraction 0.2 out of range [0, 0.1]"},
		{Spec{Method: "rtn", Bits: 4, OutlierFraction: -0.01}, "OutlierFraction -0.01"},
		{Spec{Method: "rtn", Bits: 4, OutlierFraction: math.NaN()}, "OutlierFraction NaN"},
	} {
		err := tc.spec.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.spec, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func TestSpecString(t *testing.T) {
	for spec, want := range map[Spec]string{
		{Method: "rtn", Bits: 4, GroupSize: 64, Hadamard: true}:                          "rtn-w4-g64-asym+had",
		{Method: "rtn", Bits: 3, Symmetric: true}:                                        "rtn-w3-row-sym",
		{Method: "nf4", DoubleQuant: true}:                                               "nf4-w4-g64+dq",
		{Method: "squeezellm", Bits: 3, OutlierFraction: 0.005, Hadamard: true, Seed: 7}: "squeezellm-w3-row+sp0.5%+had/s7",
		{Method: "float", Bits: 4, GroupSize: 64}:                                        "float-w4-e2m1-g64",
		{Method: "float", Bits: 8, Exponent: 5, GroupSize: 4096}:                         "float-w8-e5m2-g4096",
		{Method: "float", Bits: 16, Hadamard: true}:                                      "float-w16-e5m10-row+had",
		{Method: "nf", Bits: 3}:                                                          "nf-w3-row",
		{Method: "rtn", Bits: 16, GroupSize: 128, Symmetric: true}:                       "rtn-w16-g128-sym",
	} {
		if got := spec.String(); got != want {
			t.Errorf("%+v: %q, want %q", spec, got, want)
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	w := make([]float32, 6)
	rtn := Spec{Method: "rtn", Bits: 4}
	nan := float32(math.NaN())
	for _, tc := range []struct {
		w          []float32
		rows, cols int
		spec       Spec
		fisher     []float32
		want       string
	}{
		{w, 2, 3, Spec{Method: "rtn"}, nil, "Bits 0"},
		{w, 0, 6, rtn, nil, "rows and cols must be in"},
		{w, 2, 4, rtn, nil, "len(w) = 6, want rows·cols = 2·4 = 8"},
		{w, 2, 3, rtn, make([]float32, 5), "len(fisher) = 5"},
		{[]float32{0, 0, 0, 0, nan, 0}, 2, 3, rtn, nil, "w[4] (row 1, col 1) = NaN is not finite"},
		{[]float32{0, float32(math.Inf(1)), 0, 0, 0, 0}, 2, 3, rtn, nil, "w[1] (row 0, col 1) = +Inf"},
		{w, 2, 3, rtn, []float32{0, 0, 0, -1, 0, 0}, "fisher[3] (row 1, col 0) = -1"},
		{w, 2, 3, rtn, []float32{0, 0, 0, 0, 0, nan}, "fisher[5]"},
		{[]float32{1e9, 0, 0, 0, 0, 0}, 2, 3, rtn, nil, "beyond fp16's largest"},
		{[]float32{1e9, 0, 0, 0, 0, 0}, 2, 3, Spec{Method: "squeezellm", Bits: 2}, nil, "beyond fp16's largest"},
	} {
		if _, err := Quantize(tc.w, tc.rows, tc.cols, tc.spec, tc.fisher); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %d×%d: err = %v, want %q", tc.spec, tc.rows, tc.cols, err, tc.want)
		}
	}
}

// everySpec is one spec of each method and option, for tests that run over all of them.
func everySpec() []Spec {
	return []Spec{
		{Method: "rtn", Bits: 4},
		{Method: "rtn", Bits: 3, GroupSize: 32, Symmetric: true},
		{Method: "rtn", Bits: 4, GroupSize: 64, Hadamard: true, Seed: 3},
		{Method: "rtn", Bits: 2, GroupSize: 16, OutlierFraction: 0.02},
		{Method: "nf4"},
		{Method: "nf4", GroupSize: 32, DoubleQuant: true},
		{Method: "nf4", OutlierFraction: 0.01, Hadamard: true},
		{Method: "squeezellm", Bits: 3},
		{Method: "squeezellm", Bits: 4, GroupSize: 64, OutlierFraction: 0.005},
		{Method: "squeezellm", Bits: 2, OutlierFraction: 0.05, Hadamard: true, Seed: -5},
		{Method: "float", Bits: 4, GroupSize: 32},
		{Method: "float", Bits: 8, Exponent: 5, OutlierFraction: 0.02, Hadamard: true, Seed: 2},
		{Method: "float", Bits: 16, GroupSize: 100},
		{Method: "float", Bits: 6, Exponent: 2},
		{Method: "nf", Bits: 3},
		{Method: "nf", Bits: 8, GroupSize: 40, Hadamard: true},
		{Method: "rtn", Bits: 16, GroupSize: 50, Symmetric: true},
		{Method: "rtn", Bits: 12, GroupSize: 1000, OutlierFraction: 0.01},
	}
}

func TestErrorDecreasesWithBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const rows, cols = 64, 172
	w := normal(rng, rows*cols, 0, 0.05)
	for _, base := range []Spec{
		{Method: "rtn"},
		{Method: "rtn", Symmetric: true, GroupSize: 64},
		{Method: "rtn", GroupSize: 32, Hadamard: true},
		{Method: "squeezellm"},
	} {
		prev := math.Inf(1)
		for bits := MinBits; bits <= MaxBits; bits++ {
			spec := base
			spec.Bits = bits
			e := relErr(t, w, rows, cols, spec)
			if e >= prev {
				t.Errorf("%s: relative error %.4g not below %.4g at one bit fewer", spec, e, prev)
			}
			prev = e
		}
	}
}

func TestRTN8BitsTiny(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := normal(rng, 64*172, 0, 0.05)
	// A step of (max−min)/255 ≈ 5.5σ/255 has a uniform rounding error of step/√12 ≈ 0.006σ.
	if e := relErr(t, w, 64, 172, Spec{Method: "rtn", Bits: 8}); e > 0.008 {
		t.Errorf("8-bit per-row RTN relative error %.4g, want ≤ 0.008", e)
	}
}

func TestRTNExact(t *testing.T) {
	// Integers in [−3, 4] are exact with 3 asymmetric bits: lo = −3, hi = 4, scale 1, zero 3.
	w := []float32{-3, -1, 0, 2, 4, 1, 1, 1}
	q, wq := roundTrip(t, w, 1, 8, Spec{Method: "rtn", Bits: 3}, nil)
	if MSE(w, wq) != 0 {
		t.Errorf("dequantized %v, want %v", wq, w)
	}
	if q.zeros[0] != 3 || float16ToFloat32(q.scales[0]) != 1 {
		t.Errorf("zero %d scale %v, want 3 and 1", q.zeros[0], float16ToFloat32(q.scales[0]))
	}
	// All-zero groups store scale 0 and dequantize to zeros; the other group is exact:
	// asymmetric levels −0.25 + k/4 (k = 0..7), symmetric levels k/4 (k = −3..3).
	for _, tc := range []struct {
		sym bool
		w   []float32
	}{{false, []float32{0, 0, 0, 0, 1.5, -0.25, 0.25, 0}}, {true, []float32{0, 0, 0, 0, 0.75, -0.25, -0.5, 0}}} {
		q, wq := roundTrip(t, tc.w, 1, 8, Spec{Method: "rtn", Bits: 3, GroupSize: 4, Symmetric: tc.sym}, nil)
		if MSE(tc.w, wq) != 0 || q.scales[0] != 0 {
			t.Errorf("symmetric %v: %v (scales %v), want %v", tc.sym, wq, q.scales, tc.w)
		}
	}
}

func TestRTNAsymmetricBeatsSymmetricOnShiftedWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	w := normal(rng, 64*64, 0.1, 0.02) // mean five std away from 0
	asym := relErr(t, w, 64, 64, Spec{Method: "rtn", Bits: 4})
	sym := relErr(t, w, 64, 64, Spec{Method: "rtn", Bits: 4, Symmetric: true})
	if asym >= sym {
		t.Errorf("asymmetric %.4g ≥ symmetric %.4g on shifted weights", asym, sym)
	}
}

func TestGroupsBeatPerChannel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 4))
	const rows, cols = 32, 172
	w := normal(rng, rows*cols, 0, 1)
	for c := range cols { // input channels of very different scales, as in LLMs
		s := float32(math.Exp(2 * rng.NormFloat64()))
		for r := range rows {
			w[r*cols+c] *= s
		}
	}
	for _, method := range []string{"rtn", "squeezellm"} {
		row := relErr(t, w, rows, cols, Spec{Method: method, Bits: 3})
		group := relErr(t, w, rows, cols, Spec{Method: method, Bits: 3, GroupSize: 16})
		if group >= row {
			t.Errorf("%s: groups of 16 %.4g ≥ per row %.4g", method, group, row)
		}
	}
}

func TestNF4Levels(t *testing.T) {
	// QLoRA Appendix E / bitsandbytes' NF4 table (float32).
	want := [16]float64{-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
		-0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
		0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
		0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0}
	got := NF4Levels()
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-6 {
			t.Errorf("level %d = %.9f, want %.9f", i, got[i], want[i])
		}
	}
	if got[nf4Zero] != 0 {
		t.Errorf("level %d = %v, want exactly 0", nf4Zero, got[nf4Zero])
	}
}

func TestNF4BeatsUniformAbsmaxOnGaussian(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 5))
	w := normal(rng, 64*172, 0, 0.05)
	nf4 := relErr(t, w, 64, 172, Spec{Method: "nf4"})
	// 4-bit absmax-uniform: symmetric RTN (15 levels, scale max|w|/7) in the same blocks.
	uniform := relErr(t, w, 64, 172, Spec{Method: "rtn", Bits: 4, GroupSize: 64, Symmetric: true})
	t.Logf("relative error: nf4 %.4f, uniform absmax %.4f", nf4, uniform)
	if nf4 >= 0.95*uniform {
		t.Errorf("nf4 %.4g not 5%% below 4-bit absmax-uniform %.4g", nf4, uniform)
	}
}

func TestNF4DoubleQuant(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 6))
	w := normal(rng, 172*64, 0, 0.05)
	q, wq := roundTrip(t, w, 172, 64, Spec{Method: "nf4", GroupSize: 16}, nil)
	qd, wqd := roundTrip(t, w, 172, 64, Spec{Method: "nf4", GroupSize: 16, DoubleQuant: true}, nil)
	e, ed := RelativeError(w, wq), RelativeError(w, wqd)
	if ed > 1.02*e {
		t.Errorf("double quantization raises the error from %.4g to %.4g, more than 2%%", e, ed)
	}
	// 688 blocks: 688·32 bits, or 688·8 + ⌈688/256⌉·32 + 32.
	if saved := q.Bits() - qd.Bits(); saved != 688*32-(688*8+3*32+32) {
		t.Errorf("double quantization saves %d bits", saved)
	}
}

func TestSqueezeLLMBeatsRTNOnWeightedError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 7))
	const rows, cols = 64, 172
	w := normal(rng, rows*cols, 0, 0.05)
	fisher := make([]float32, len(w)) // squared gradients: heavy tailed
	for i := range fisher {
		g := rng.NormFloat64() * math.Exp(1.5*rng.NormFloat64())
		fisher[i] = float32(g * g)
	}
	for bits := 2; bits <= 4; bits++ {
		_, wqS := roundTrip(t, w, rows, cols, Spec{Method: "squeezellm", Bits: bits}, fisher)
		_, wqU := roundTrip(t, w, rows, cols, Spec{Method: "squeezellm", Bits: bits}, nil)
		_, wqR := roundTrip(t, w, rows, cols, Spec{Method: "rtn", Bits: bits}, nil)
		s, u, r := WeightedError(w, wqS, fisher), WeightedError(w, wqU, fisher), WeightedError(w, wqR, fisher)
		t.Logf("%d bits, weighted error: squeezellm %.4g, unweighted k-means %.4g, rtn %.4g", bits, s, u, r)
		if s >= u || u >= r {
			t.Errorf("%d bits: want squeezellm %.4g < unweighted k-means %.4g < rtn %.4g", bits, s, u, r)
		}
	}
}

func TestWeightedKMeans(t *testing.T) {
	// At most 2^b distinct values are stored exactly.
	points := []weightedPoint{{3, 1}, {1, 2}, {3, 0}, {-2, 5}}
	if got := weightedKMeans(points, 4, kmeansMaxIter); got[0] != -2 || got[1] != 1 || got[2] != 3 || got[3] != 3 {
		t.Errorf("centroids %v, want [-2 1 3 3]", got)
	}
	// Two clusters; the heavy point pulls its centroid: (0·1 + 1·3)/4 = 0.75.
	points = []weightedPoint{{0, 1}, {1, 3}, {10, 1}, {11, 1}}
	if got := weightedKMeans(points, 2, kmeansMaxIter); got[0] != 0.75 || got[1] != 10.5 {
		t.Errorf("centroids %v, want [0.75 10.5]", got)
	}
	// A heavy point makes the quantiles coincide; the empty centroid moves to the worst point.
	points = []weightedPoint{{0, 100}, {1, 1}, {2, 1}, {3, 1}}
	got := weightedKMeans(points, 3, kmeansMaxIter)
	if got[0] != 0 || got[1] == got[2] {
		t.Errorf("centroids %v: want 0 kept and no duplicate", got)
	}
}

// TestWeightedKMeans1D: the exported wrapper takes nil weights as 1 and honours the weights.
func TestWeightedKMeans1D(t *testing.T) {
	values := []float64{0, 1, 10, 11}
	if got := WeightedKMeans1D(values, nil, 2, 0); got[0] != 0.5 || got[1] != 10.5 {
		t.Errorf("unweighted centroids %v, want [0.5 10.5]", got)
	}
	if got := WeightedKMeans1D(values, []float64{1, 3, 1, 1}, 2, 0); got[0] != 0.75 || got[1] != 10.5 {
		t.Errorf("weighted centroids %v, want [0.75 10.5]", got)
	}
}

// TestKMeansNeverWorseThanGrid: Lloyd only lowers its objective, and one of its starts is the
// uniform grid over the range, so the table is never worse than that grid.
func TestKMeansNeverWorseThanGrid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 12))
	sse := func(points []weightedPoint, centroids []float64) float64 {
		var s float64
		for _, p := range points {
			best := math.Inf(1)
			for _, c := range centroids {
				best = min(best, p.weight*(p.value-c)*(p.value-c))
			}
			s += best
		}
		return s
	}
	for trial := range 200 {
		k := 1 << (2 + trial%3)
		w := studentT(rng, 20+rng.IntN(200), 1)
		points := make([]weightedPoint, len(w))
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, v := range w {
			points[i] = weightedPoint{float64(v), rng.ExpFloat64()}
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
		}
		grid := make([]float64, k)
		for j := range grid {
			grid[j] = lo + (hi-lo)*float64(j)/float64(k-1)
		}
		if got, want := sse(points, weightedKMeans(points, k, kmeansMaxIter)), sse(points, grid); got > want*(1+1e-12) {
			t.Fatalf("trial %d: k-means error %v above the uniform grid's %v", trial, got, want)
		}
	}
}

func TestOutliersReduceErrorOnHeavyTails(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 8))
	const rows, cols = 64, 172
	w := studentT(rng, rows*cols, 0.02)
	// k-means already spends levels on the tails, so taking the outliers out gains it less
	// (13% over six seeds) than it gains the uniform and NF4 grids (30–50%).
	for _, tc := range []struct {
		spec     Spec
		maxRatio float64
	}{{Spec{Method: "squeezellm", Bits: 3}, 0.92}, {Spec{Method: "rtn", Bits: 3}, 0.8}, {Spec{Method: "nf4"}, 0.8}} {
		spec := tc.spec
		dense := relErr(t, w, rows, cols, spec)
		spec.OutlierFraction = 0.005
		q, wq := roundTrip(t, w, rows, cols, spec, nil)
		withSparse := RelativeError(w, wq)
		t.Logf("%s: relative error %.4f dense, %.4f with 0.5%% outliers", spec, dense, withSparse)
		if withSparse >= tc.maxRatio*dense {
			t.Errorf("%s: outliers bring the error from %.4g only to %.4g", spec, dense, withSparse)
		}
		// The outliers are exact and are the largest magnitudes.
		if len(q.outliers.values) != 55 { // ⌊0.005·11008⌋
			t.Errorf("%d outliers, want 55", len(q.outliers.values))
		}
		start := uint32(0)
		for r, end := range q.outliers.rowEnds {
			for k := start; k < end; k++ {
				i := r*cols + int(q.outliers.cols[k])
				if wq[i] != w[i] {
					t.Fatalf("outlier (%d, %d) dequantized to %v, want %v", r, q.outliers.cols[k], wq[i], w[i])
				}
			}
			start = end
		}
	}
}

func TestHadamardIsOrthogonal(t *testing.T) {
	for _, tc := range []struct {
		n      int
		blocks []int
	}{{64, []int{64}}, {172, []int{128, 32, 8, 4}}, {7, []int{4, 2, 1}}} {
		r := newRotation(tc.n, 42)
		if len(r.blocks) != len(tc.blocks) {
			t.Fatalf("width %d: blocks %v, want %v", tc.n, r.blocks, tc.blocks)
		}
		for i := range tc.blocks {
			if r.blocks[i] != tc.blocks[i] {
				t.Fatalf("width %d: blocks %v, want %v", tc.n, r.blocks, tc.blocks)
			}
		}
		// Rows of m are R·e_j for the basis vectors e_j: m = Rᵀ; check m·mᵀ = I.
		m := make([]float64, tc.n*tc.n)
		for j := range tc.n {
			m[j*tc.n+j] = 1
		}
		r.forward(m)
		for i := range tc.n {
			for j := range tc.n {
				var dot float64
				for k := range tc.n {
					dot += m[i*tc.n+k] * m[j*tc.n+k]
				}
				want := 0.0
				if i == j {
					want = 1
				}
				if math.Abs(dot-want) > 1e-6 {
					t.Fatalf("width %d: (R Rᵀ)[%d][%d] = %v", tc.n, i, j, dot)
				}
			}
		}
		// inverse undoes forward.
		x := make([]float64, tc.n)
		for i := range x {
			x[i] = float64(i) - 3.5
		}
		y := append([]float64(nil), x...)
		r.forward(y)
		r.inverse(y)
		for i := range x {
			if math.Abs(x[i]-y[i]) > 1e-12 {
				t.Fatalf("width %d: inverse(forward(x))[%d] = %v, want %v", tc.n, i, y[i], x[i])
			}
		}
	}
	a, b := newRotation(64, 1), newRotation(64, 2)
	same := 0
	for i := range a.signs {
		if a.signs[i] == b.signs[i] {
			same++
		}
	}
	if same == 64 {
		t.Error("seeds 1 and 2 draw the same signs")
	}
}

func TestHadamardRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 9))
	for _, cols := range []int{64, 172} {
		const rows = 32
		w := normal(rng, rows*cols, 0, 0.05)
		for _, spec := range []Spec{{Method: "rtn", Bits: 8}, {Method: "rtn", Bits: 4, GroupSize: 32}, {Method: "nf4"}, {Method: "squeezellm", Bits: 4}} {
			plain := relErr(t, w, rows, cols, spec)
			spec.Hadamard, spec.Seed = true, 11
			rotated := relErr(t, w, rows, cols, spec)
			if rotated > 1.25*plain {
				t.Errorf("width %d %s: relative error %.4g with rotation vs %.4g without", cols, spec, rotated, plain)
			}
		}
	}
	// QuaRot's point: a few input channels of huge magnitude (activation-outlier channels
	// folded into the weights) ruin per-row scales; the rotation spreads them over the row.
	w := normal(rng, 64*172, 0, 0.05)
	for _, c := range []int{5, 77, 150} {
		for r := range 64 {
			w[r*172+c] *= 30
		}
	}
	plain := relErr(t, w, 64, 172, Spec{Method: "rtn", Bits: 4})
	rotated := relErr(t, w, 64, 172, Spec{Method: "rtn", Bits: 4, Hadamard: true})
	t.Logf("outlier channels, 4-bit per-row RTN: relative error %.4f plain, %.4f rotated", plain, rotated)
	if rotated >= 0.7*plain {
		t.Errorf("rotation brings the error only from %.4g to %.4g", plain, rotated)
	}
}

func TestHadamardSpreadsFisher(t *testing.T) {
	// Width 6 = blocks 4 + 2: each entry becomes its block's mean, the diagonal of R·diag(f)·Rᵀ.
	f := []float64{1, 2, 3, 6, 5, 7}
	newRotation(6, 1).spread(f)
	if want := []float64{3, 3, 3, 3, 6, 6}; !slices.Equal(f, want) {
		t.Errorf("spread Fisher %v, want %v", f, want)
	}
	r := newRotation(6, 1)
	m := make([]float64, 36) // rows R·e_j: m = Rᵀ, so m[k][j]² = R_jk²
	for j := range 6 {
		m[j*6+j] = 1
	}
	r.forward(m)
	in := []float64{1, 2, 3, 6, 5, 7}
	for j := range 6 {
		var d float64
		for k := range 6 {
			d += m[k*6+j] * m[k*6+j] * in[k]
		}
		if math.Abs(d-f[j]) > 1e-12 {
			t.Errorf("Σ_k R_%dk²·f_k = %v, spread gives %v", j, d, f[j])
		}
	}
}

// TestBitsHandCount counts by hand a 3×10 matrix in groups of 4 (per row: 4, 4, 2 columns,
// so 9 groups).
func TestBitsHandCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 10))
	w := normal(rng, 30, 0, 1)
	for _, tc := range []struct {
		spec Spec
		want int64
	}{
		// 30 codes·3 bits + 9 fp16 scales + 9 zero points·3 bits.
		{Spec{Method: "rtn", Bits: 3, GroupSize: 4}, 30*3 + 9*16 + 9*3},
		// No zero points.
		{Spec{Method: "rtn", Bits: 3, GroupSize: 4, Symmetric: true}, 30*3 + 9*16},
		// One group per row: 3 scales and zero points; + the 64-bit seed.
		{Spec{Method: "rtn", Bits: 2, Hadamard: true}, 30*2 + 3*16 + 3*2 + 64},
		// 30 codes·4 bits + 9 fp32 absmax.
		{Spec{Method: "nf4", GroupSize: 4}, 30*4 + 9*32},
		// 9 int8 absmax codes + 1 fp32 second-level scale (9 ≤ 256 blocks) + the fp32 mean.
		{Spec{Method: "nf4", GroupSize: 4, DoubleQuant: true}, 30*4 + 9*8 + 32 + 32},
		// Default block 64 > 10 columns: blocks of the flattened matrix, one of 30 weights.
		{Spec{Method: "nf4"}, 30*4 + 32},
		// Blocks of 16 > 10 columns run over the flattened matrix: 16 and 14 weights, two fp16
		// absmax constants.
		{Spec{Method: "float", Bits: 4, GroupSize: 16}, 30*4 + 2*16},
		{Spec{Method: "nf", Bits: 3, GroupSize: 4}, 30*3 + 9*16},
		// 16-bit codes, one fp16 scale and 16-bit zero point per row.
		{Spec{Method: "rtn", Bits: 16}, 30*16 + 3*16 + 3*16},
		{Spec{Method: "float", Bits: 16, GroupSize: 64}, 30*16 + 16},
		// 30 codes·2 bits + 3 rows·4 fp16 LUT entries.
		{Spec{Method: "squeezellm", Bits: 2}, 30*2 + 3*4*16},
		// 9 groups·8 entries.
		{Spec{Method: "squeezellm", Bits: 3, GroupSize: 4}, 30*3 + 9*8*16},
		// ⌊0.1·30⌋ = 3 outliers: fp32 value + ⌈log₂ 10⌉ = 4-bit column each, and 3 row
		// ends of ⌈log₂ 4⌉ = 2 bits.
		{Spec{Method: "squeezellm", Bits: 2, OutlierFraction: 0.1}, 30*2 + 3*4*16 + 3*(32+4) + 3*2},
		{Spec{Method: "rtn", Bits: 4, GroupSize: 4, OutlierFraction: 0.1, Hadamard: true}, 30*4 + 9*16 + 9*4 + 3*(32+4) + 3*2 + 64},
	} {
		q, err := Quantize(w, 3, 10, tc.spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Bits(); got != tc.want {
			t.Errorf("%s: Bits() = %d, hand count %d", tc.spec, got, tc.want)
		}
		if got, want := q.BitsPerParam(), float64(tc.want)/30; got != want {
			t.Errorf("%s: BitsPerParam() = %v, want %v", tc.spec, got, want)
		}
		// What is counted is what is stored: the serialized size is the header, the checksum,
		// the counted bits and less than a byte of padding per bit-packed stream (at most 4).
		b, _ := q.MarshalBinary()
		payload := int64(len(b)-headerLen-checksumLen) * 8
		if tc.spec.Hadamard {
			payload += seedBits // the seed is in the header
		}
		if payload < tc.want || payload > tc.want+4*7 {
			t.Errorf("%s: %d payload bits serialized for %d counted", tc.spec, payload, tc.want)
		}
	}
}

// TestShapes runs every spec on the stories260K shapes, including the 172-wide w2 with
// groups that do not divide it.
func TestShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 11))
	shapes := [][2]int{{64, 64}, {32, 64}, {172, 64}, {64, 172}}
	for _, shape := range shapes {
		rows, cols := shape[0], shape[1]
		w := normal(rng, rows*cols, 0, 0.05)
		for _, spec := range everySpec() {
			for _, g := range []int{0, 32, 64, 128} {
				spec.GroupSize = g
				_, wq := roundTrip(t, w, rows, cols, spec, nil)
				if e := RelativeError(w, wq); e > 0.7 || math.IsNaN(e) {
					t.Errorf("%d×%d %s: relative error %.3g", rows, cols, spec, e)
				}
			}
		}
	}
	// 172 in groups of 64 has groups 64, 64, 44: 3 scales per row.
	q, _ := roundTrip(t, normal(rng, 64*172, 0, 1), 64, 172, Spec{Method: "rtn", Bits: 4, GroupSize: 64}, nil)
	if len(q.scales) != 64*3 {
		t.Errorf("%d scales, want 64·3", len(q.scales))
	}
}

func TestMetrics(t *testing.T) {
	a, b := []float32{1, 2, 3}, []float32{1, 0, 4}
	if got := MSE(a, b); got != 5.0/3 {
		t.Errorf("MSE = %v, want 5/3", got)
	}
	if got := WeightedError(a, b, []float32{9, 2, 3}); got != 2*4+3*1 {
		t.Errorf("WeightedError = %v, want 11", got)
	}
	if got := WeightedError(a, b, nil); got != 5 {
		t.Errorf("WeightedError without Fisher = %v, want 5", got)
	}
	if got := RelativeError(a, b); math.Abs(got-math.Sqrt(5.0/14)) > 1e-15 {
		t.Errorf("RelativeError = %v, want √(5/14)", got)
	}
}
