package vq

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qzoo/qzoo/internal/testbackend"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/quant/scheme"
)

// seededStore returns a store with a fixed random seed and the given hyperparameters.
func seededStore(params map[string]any) *model.Store {
	store := model.NewStore()
	store.RootScope().SetParam(model.ParamInitialSeed, int64(42))
	store.RootScope().SetParams(params)
	return store
}

// gaussianTensor returns a float32 tensor of the given dimensions with N(0, std²) entries.
func gaussianTensor(rng *rand.Rand, std float64, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64() * std)
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// scalarF64 reads a scalar tensor of any float dtype as float64.
func scalarF64(t *testing.T, x *tensors.Tensor) float64 {
	t.Helper()
	switch v := x.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	t.Fatalf("expected a float scalar, got %s", x.Shape())
	return 0
}

// build returns the quantizer of type typ configured by params (under no prefix), failing the
// test on a configuration error.
func build(t testing.TB, typ string, params map[string]any) Quantizer {
	t.Helper()
	withType := map[string]any{ParamType: typ}
	for k, v := range params {
		withType[k] = v
	}
	q, err := FromParams(withType, "")
	if err != nil {
		t.Fatalf("building %s from %v: %v", typ, params, err)
	}
	return q
}

// codeStats is the reference code perplexity and number of used codes of a code list.
func codeStats(codes []int32) (perplexity float64, used int) {
	counts := map[int32]int{}
	for _, c := range codes {
		counts[c]++
	}
	entropy := 0.0
	for _, n := range counts {
		p := float64(n) / float64(len(codes))
		entropy -= p * math.Log(p)
	}
	return math.Exp(entropy), len(counts)
}

// quantizerRun holds what runQuantizer got from q on z: Quantized, Index, Bits, Loss,
// ∂Σ(Quantized·r)/∂z for a random r, the stats and the stage codes.
type quantizerRun struct {
	quantized, index, bits, loss, grad, r *tensors.Tensor
	stats                                 map[string]float64
	stageCodes                            [][]int32
	sideNames                             []string
}

func runQuantizer(t *testing.T, store *model.Store, q Quantizer, z *tensors.Tensor, withGrad bool) quantizerRun {
	t.Helper()
	var statNames, sideNames []string
	var numStages int
	rng := rand.New(rand.NewPCG(7, 7))
	r := gaussianTensor(rng, 1, z.Shape().Dimensions...)
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z, r *graph.Node) []*graph.Node {
		out := q.Quantize(scope.In("quantizer"), z)
		outputs := []*graph.Node{out.Quantized, out.Index, out.Bits, out.Loss}
		if withGrad {
			f := graph.ReduceAllSum(graph.Mul(out.Quantized, r))
			outputs = append(outputs, graph.Gradient(f, z)[0])
		} else {
			outputs = append(outputs, graph.ZerosLike(z))
		}
		statNames = statNames[:0]
		for name, v := range out.Stats {
			statNames = append(statNames, name)
			outputs = append(outputs, v)
		}
		numStages = len(out.Codes.Stages)
		outputs = append(outputs, out.Codes.Stages...)
		sideNames = sideNames[:0]
		for name := range out.Codes.Side {
			sideNames = append(sideNames, name)
		}
		return outputs
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	res, err := exec.Call(z, r)
	if err != nil {
		t.Fatalf("running %s: %v", q.Name(), err)
	}
	run := quantizerRun{quantized: res[0], index: res[1], bits: res[2], loss: res[3], grad: res[4], r: r,
		stats: map[string]float64{}, sideNames: sideNames}
	const first = 5 // index of the first stat in res
	for i, name := range statNames {
		run.stats[name] = scalarF64(t, res[first+i])
	}
	for _, c := range res[first+len(statNames) : first+len(statNames)+numStages] {
		run.stageCodes = append(run.stageCodes, tensors.MustCopyFlatData[int32](c))
	}
	return run
}

// TestQuantizersContract checks, for every quantizer whose loss is non-negative (LFQ's entropy
// penalty may be negative: see lfq_test.go), the contract of
// Quantizer on [B, H, W, D] latents: shapes, codes in [0, K), no side information, a rate of
// Stages·log2 K bits, a finite non-negative loss, the straight-through gradient, and the code
// usage statistics.
func TestQuantizersContract(t *testing.T) {
	const b, h, w, d = 2, 3, 4, 3
	cases := []struct {
		name   string
		params map[string]any
		// exactGrad: the gradient of Σ(Quantized·r) w.r.t. z must be exactly r.
		exactGrad bool
	}{
		{"vq", map[string]any{ParamCodebookSize: 16}, true},
		{"ema_vq", map[string]any{ParamCodebookSize: 16}, true},
		{"simvq", map[string]any{ParamCodebookSize: 16}, true},
		{"fsq", map[string]any{ParamFSQLevels: "5,4,3"}, false},
		{"fsq", map[string]any{ParamFSQLevels: "4,3"}, false}, // D ≠ len(levels): projections
		{"rvq", map[string]any{ParamCodebookSize: 8, ParamResidualStages: 3}, true},
		{"rvq", map[string]any{ParamResidualType: "simvq", ParamCodebookSize: 8, ParamResidualStages: 2}, true},
		{"rvq", map[string]any{ParamResidualType: "fsq", ParamFSQLevels: "4,2,3", ParamResidualStages: 2}, false},
		{"qlae", map[string]any{ParamQLAEDims: 3, ParamQLAEValues: 5}, true},
		{"qlae", map[string]any{ParamQLAEDims: 2, ParamQLAEValues: 4}, false}, // D ≠ d: projections
		{"binary", map[string]any{ParamCodebookSize: 8}, false},
		{"binary", map[string]any{ParamCodebookSize: 32}, false}, // D ≠ d: projections
	}
	for _, tc := range cases {
		store := seededStore(tc.params)
		q := build(t, tc.name, tc.params)
		t.Run(q.Name(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			z := gaussianTensor(rng, 1, b, h, w, d)
			run := runQuantizer(t, store, q, z, true)
			t.Logf("loss=%g stats=%v codes=%v", scalarF64(t, run.loss), run.stats, run.stageCodes)

			if got := run.quantized.Shape().Dimensions; len(got) != 4 || got[0] != b || got[1] != h || got[2] != w || got[3] != d {
				t.Errorf("Quantized shape %v, want [%d %d %d %d]", got, b, h, w, d)
			}
			if got := run.index.Shape(); got.DType != dtypes.Int32 || len(got.Dimensions) != 3 ||
				got.Dimensions[0] != b || got.Dimensions[1] != h || got.Dimensions[2] != w {
				t.Errorf("Index shape %s, want (Int32)[%d %d %d]", got, b, h, w)
			}
			if len(run.stageCodes) != q.Stages() {
				t.Errorf("%d stage code tensors, want Stages()=%d", len(run.stageCodes), q.Stages())
			}
			if len(run.sideNames) != 0 {
				t.Errorf("side information %v, want none", run.sideNames)
			}
			if bits, want := scalarF64(t, run.bits), float64(q.Stages())*math.Log2(float64(q.CodebookSize())); !run.bits.Shape().IsScalar() || math.Abs(bits-want) > 1e-5 {
				t.Errorf("Bits = %v (%s), want the scalar Stages·log2 K = %g", bits, run.bits.Shape(), want)
			}
			if sc := q.Scheme(); math.Abs(sc.Bits-scalarF64(t, run.bits)) > 1e-5 || sc.Kind != scheme.Latents || sc.Method != tc.name {
				t.Errorf("Scheme %s: %v bits, want the rate %v, kind latents, method %s", sc, sc.Bits, scalarF64(t, run.bits), tc.name)
			}
			for s, codes := range run.stageCodes {
				for _, c := range codes {
					if c < 0 || int(c) >= q.CodebookSize() {
						t.Fatalf("stage %d code %d outside [0, %d)", s, c, q.CodebookSize())
					}
				}
			}
			if !run.loss.Shape().IsScalar() {
				t.Errorf("Loss shape %s, want a scalar", run.loss.Shape())
			}
			if loss := scalarF64(t, run.loss); !(loss >= 0) || math.IsInf(loss, 0) {
				t.Errorf("Loss = %g, want finite and ≥ 0", loss)
			}

			grad := tensors.MustCopyFlatData[float32](run.grad)
			r := tensors.MustCopyFlatData[float32](run.r)
			nonZero := 0
			for i := range grad {
				if tc.exactGrad && grad[i] != r[i] {
					t.Fatalf("∂Σ(Quantized·r)/∂z[%d] = %g, want exactly r = %g", i, grad[i], r[i])
				}
				if grad[i] != 0 {
					nonZero++
				}
			}
			if nonZero < len(grad)/2 {
				t.Errorf("only %d of %d gradient entries reach z", nonZero, len(grad))
			}

			wantPerplexity, wantUsed := codeStats(run.stageCodes[0])
			if got, ok := run.stats[StatUsedCodes]; q.Stages() == 1 && (!ok || int(got) != wantUsed) {
				t.Errorf("stat %s = %v (present %v), want %d", StatUsedCodes, got, ok, wantUsed)
			}
			if got, ok := run.stats[StatCodePerplexity]; q.Stages() == 1 && (!ok || math.Abs(got-wantPerplexity) > 1e-3*wantPerplexity) {
				t.Errorf("stat %s = %v (present %v), want %g", StatCodePerplexity, got, ok, wantPerplexity)
			}
		})
	}
}

func TestQuantizersDecodeMatchesQuantize(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]any
	}{
		{"vq", map[string]any{ParamCodebookSize: 8}},
		{"simvq", map[string]any{ParamCodebookSize: 8}},
		{"fsq", map[string]any{ParamFSQLevels: "3,4"}},
		{"fsq", map[string]any{ParamFSQLevels: "3,4,2"}},
		{"rvq", map[string]any{ParamCodebookSize: 8, ParamResidualStages: 3}},
		{"rvq", map[string]any{ParamResidualType: "fsq", ParamFSQLevels: "3,4", ParamResidualStages: 3}}, // scaled stages
		{"rvq", map[string]any{ParamResidualType: "lfq", ParamCodebookSize: 4, ParamResidualStages: 3}},
		{"ema_vq", map[string]any{ParamCodebookSize: 8}},
		{"lfq", map[string]any{ParamCodebookSize: 4}},  // 2 bits = D: no projection
		{"lfq", map[string]any{ParamCodebookSize: 64}}, // 6 bits ≠ D: projections
		{"qlae", map[string]any{ParamQLAEDims: 2, ParamQLAEValues: 5}},
		{"qlae", map[string]any{ParamQLAEDims: 3, ParamQLAEValues: 4}}, // projections
		{"binary", map[string]any{ParamCodebookSize: 4}},
		{"binary", map[string]any{ParamCodebookSize: 32}}, // projections
	} {
		store := seededStore(tc.params)
		q := build(t, tc.name, tc.params)
		t.Run(q.Name(), func(t *testing.T) {
			dec, ok := q.(Decoder)
			if !ok {
				t.Fatalf("%s does not implement Decoder", q.Name())
			}
			rng := rand.New(rand.NewPCG(3, 4))
			z := gaussianTensor(rng, 1, 5, 7, 2)
			exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) (*graph.Node, *graph.Node) {
				out := q.Quantize(scope.In("quantizer"), z)
				return out.Quantized, dec.Decode(scope.At("quantizer"), out.Codes)
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := exec.Call(z)
			if err != nil {
				t.Fatal(err)
			}
			quantized, decoded := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
			if !res[0].Shape().Equal(res[1].Shape()) {
				t.Fatalf("decoded shape %s, quantized %s", res[1].Shape(), res[0].Shape())
			}
			for i := range quantized {
				// Quantized is z + sg(q − z): equal to q up to one rounding of z.
				if math.Abs(float64(quantized[i]-decoded[i])) > 1e-5 {
					t.Fatalf("decoded[%d] = %g, quantized %g", i, decoded[i], quantized[i])
				}
			}
		})
	}
}
