package vq

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
)

// TestQLAENearestValuePerDimension checks, for D = d (no projection), that every element is
// replaced by the nearest of its dimension's initial values −1, −1/3, 1/3, 1 (n_v = 4), that
// the d code tensors are those values' indices, the index combines them in mixed radix, the
// gradient is exactly the identity, the rate is d·log₂ n_v, and the stats are the means over
// the dimensions of each dimension's code usage.
func TestQLAENearestValuePerDimension(t *testing.T) {
	const b, n, d, nv = 3, 5, 3, 4
	params := map[string]any{ParamQLAEDims: d, ParamQLAEValues: nv}
	q := build(t, "qlae", params)
	if q.Name() != "qlae(d=3,n_v=4)" || q.Stages() != d || q.CodebookSize() != nv {
		t.Fatalf("%s: %d stages of %d codes, want %d of %d", q.Name(), q.Stages(), q.CodebookSize(), d, nv)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	z := gaussianTensor(rng, 0.8, b, n, d)
	run := runQuantizer(t, seededStore(params), q, z, true)

	values := []float64{-1, -1.0 / 3, 1.0 / 3, 1}
	zs, quantized := tensors.MustCopyFlatData[float32](z), tensors.MustCopyFlatData[float32](run.quantized)
	index := tensors.MustCopyFlatData[int32](run.index)
	for v := range b * n {
		combined := int32(0)
		for j := d - 1; j >= 0; j-- {
			x := float64(zs[v*d+j])
			best := 0
			for k := range values {
				if math.Abs(x-values[k]) < math.Abs(x-values[best]) {
					best = k
				}
			}
			if got := run.stageCodes[j][v]; got != int32(best) {
				t.Fatalf("latent %d dimension %d: z = %g has code %d, want %d (value %g)", v, j, x, got, best, values[best])
			}
			if math.Abs(float64(quantized[v*d+j])-values[best]) > 1e-6 {
				t.Fatalf("latent %d dimension %d: quantized %g, want %g", v, j, quantized[v*d+j], values[best])
			}
			combined = combined*nv + int32(best)
		}
		if index[v] != combined {
			t.Fatalf("latent %d: index %d, want the mixed-radix %d", v, index[v], combined)
		}
	}
	grad, r := tensors.MustCopyFlatData[float32](run.grad), tensors.MustCopyFlatData[float32](run.r)
	for i := range grad {
		if grad[i] != r[i] {
			t.Fatalf("∂Σ(Quantized·r)/∂z[%d] = %g, want r = %g", i, grad[i], r[i])
		}
	}
	if bits := scalarF64(t, run.bits); math.Abs(bits-d*2) > 1e-6 {
		t.Errorf("bits = %g, want d·log₂ n_v = %d", bits, d*2)
	}
	var wantPerplexity, wantUsed float64
	for j := range d {
		p, u := codeStats(run.stageCodes[j])
		wantPerplexity += p / d
		wantUsed += float64(u) / d
	}
	if got := run.stats[StatCodePerplexity]; math.Abs(got-wantPerplexity) > 1e-3*wantPerplexity {
		t.Errorf("%s = %g, want the mean over dimensions %g", StatCodePerplexity, got, wantPerplexity)
	}
	if got := run.stats[StatUsedCodes]; math.Abs(got-wantUsed) > 1e-5 {
		t.Errorf("%s = %g, want the mean over dimensions %g", StatUsedCodes, got, wantUsed)
	}
}

// TestQLAELoss checks the loss against its formula computed here: β_Q and β_C times the mean
// squared quantization error, plus λ times the mean square of the initial values.
func TestQLAELoss(t *testing.T) {
	const n, d, nv = 40, 2, 3 // values −1, 0, 1: mean square 2/3
	rng := rand.New(rand.NewPCG(8, 9))
	z := gaussianTensor(rng, 1, n, d)
	zs := tensors.MustCopyFlatData[float32](z)
	sq := 0.0
	for _, x := range zs {
		e := math.Abs(float64(x)) // distance to the nearest of −1, 0, 1
		e = math.Min(e, math.Abs(e-1))
		sq += e * e / float64(len(zs))
	}
	for _, w := range [][3]float64{{1, 0, 0}, {0.01, 0.25, 0}, {0, 0, 0.5}, {0.01, 0.01, 0.1}} {
		params := map[string]any{ParamQLAEDims: d, ParamQLAEValues: nv,
			ParamQLAEQuantizeWeight: w[0], ParamQLAECommitWeight: w[1], ParamQLAEWeightDecay: w[2]}
		run := runQuantizer(t, seededStore(params), build(t, "qlae", params), z, false)
		want := (w[0]+w[1])*sq + w[2]*2.0/3
		if got := scalarF64(t, run.loss); math.Abs(got-want) > 1e-5*(1+want) {
			t.Errorf("weights %v: loss %g, want %g", w, got, want)
		}
	}
}

// TestQLAEValuesLearn: one gradient step on the loss moves each used value towards the mean
// of its latents (quantization term) and every value towards 0 (weight decay); an unused
// value moves by the decay alone.
func TestQLAEValuesLearn(t *testing.T) {
	const nv = 3
	params := map[string]any{ParamQLAEDims: 1, ParamQLAEValues: nv, ParamQLAEQuantizeWeight: 1.0,
		ParamQLAECommitWeight: 0.0, ParamQLAEWeightDecay: 0.3}
	q := build(t, "qlae", params)
	// Latents 0.7 and 0.9 pick the value 1 (mean 0.8); −0.2 picks 0; nothing picks −1.
	z := tensors.FromFlatDataAndDimensions([]float32{0.7, 0.9, -0.2}, 3, 1)
	store := seededStore(params)
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) *graph.Node {
		qs := scope.In("qlae")
		out := q.Quantize(qs, z)
		return graph.Gradient(out.Loss, qs.GetVariable("values").NodeValue(z.Graph()))[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Call(z)
	if err != nil {
		t.Fatal(err)
	}
	grad := tensors.MustCopyFlatData[float32](res[0])
	// ∂/∂v_k of mean_n (z_n − q_n)² + λ·mean_k v_k²: −2/N·Σ_{n→k}(z_n − v_k) + 2λ·v_k/n_v.
	want := []float64{2 * 0.3 * -1 / nv, -2.0 / 3 * -0.2, -2.0/3*((0.7-1)+(0.9-1)) + 2*0.3*1/nv}
	for k := range want {
		if math.Abs(float64(grad[k])-want[k]) > 1e-5 {
			t.Errorf("∂Loss/∂v_%d = %g, want %g", k, grad[k], want[k])
		}
	}
}

// TestQLAEProjectionsAndDecode: with D ≠ d the projections receive gradients, and Decode
// rebuilds Quantized from the d code tensors.
func TestQLAEProjectionsAndDecode(t *testing.T) {
	params := map[string]any{ParamQLAEDims: 5, ParamQLAEValues: 6}
	q := build(t, "qlae", params).(*QLAE)
	rng := rand.New(rand.NewPCG(1, 3))
	z := gaussianTensor(rng, 1, 4, 7, 3) // D = 3 ≠ d = 5
	exec, err := model.NewExec(testbackend.Go(t), seededStore(params), func(scope *model.Scope, z *graph.Node) []*graph.Node {
		qs := scope.In("qlae")
		out := q.Quantize(qs, z)
		w := qs.At("project_in").At("dense").GetVariable("weights").NodeValue(z.Graph())
		grad := graph.Gradient(graph.ReduceAllSum(graph.Square(out.Quantized)), w)[0]
		return []*graph.Node{out.Quantized, q.Decode(scope.At("qlae"), out.Codes), graph.ReduceAllSum(graph.Abs(grad))}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Call(z)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Shape().Equal(z.Shape()) || !res[1].Shape().Equal(z.Shape()) {
		t.Fatalf("quantized %s and decoded %s, want %s", res[0].Shape(), res[1].Shape(), z.Shape())
	}
	quantized, decoded := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
	for i := range quantized {
		if math.Abs(float64(quantized[i]-decoded[i])) > 1e-5 {
			t.Fatalf("decoded[%d] = %g, quantized %g", i, decoded[i], quantized[i])
		}
	}
	if g := scalarF64(t, res[2]); !(g > 0) {
		t.Errorf("gradient of project_in's weights is %g, want non-zero", g)
	}
}

func TestQLAEInvalidParamsNamed(t *testing.T) {
	for _, tc := range []struct {
		key   string
		value any
	}{
		{ParamQLAEDims, 0},
		{ParamQLAEValues, 1},
		{ParamQLAEWeightDecay, -0.1},
		{ParamQLAEQuantizeWeight, math.Inf(1)},
	} {
		t.Run(fmt.Sprintf("%s=%v", tc.key, tc.value), func(t *testing.T) {
			err := Validate(map[string]any{ParamType: "qlae", tc.key: tc.value}, "")
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %v does not name %s", err, tc.key)
			}
		})
	}
	err := Validate(map[string]any{ParamType: "rvq", ParamResidualType: "qlae"}, "")
	if err == nil || !strings.Contains(err.Error(), ParamResidualType) {
		t.Errorf("a residual stack of qlae: error %v should name %s", err, ParamResidualType)
	}
}

// TestLatentQuantizersOnEveryBackend runs qlae, binary and lfq (training and evaluation graphs)
// on every backend found. Without projections their outputs, codes, rate and loss must be the
// Go backend's, except binary's training samples, which come from the backend's random
// generator: those must be bits spelling the codes. With projections, whose initial weights
// come from that generator too, the rate, codes in range and a finite loss are checked.
func TestLatentQuantizersOnEveryBackend(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const b, h, w, dim = 2, 7, 7, 4
	data := tensors.MustCopyFlatData[float32](gaussianTensor(rng, 1, b, h, w, dim))
	cases := []struct {
		params  map[string]any
		project bool
	}{
		{map[string]any{ParamType: "qlae", ParamQLAEDims: 4, ParamQLAEValues: 5}, false},
		{map[string]any{ParamType: "qlae", ParamQLAEDims: 6, ParamQLAEValues: 4}, true},
		{map[string]any{ParamType: "binary", ParamCodebookSize: 16}, false},
		{map[string]any{ParamType: "binary", ParamCodebookSize: 64}, true},
		{map[string]any{ParamType: "lfq", ParamCodebookSize: 16}, false},
	}
	type result struct {
		quantized, loss, bits float64
		values                []float32
		codes                 [][]int32
	}
	run := func(t *testing.T, backend compute.Backend, params map[string]any, training bool) result {
		q, err := FromParams(params, "")
		if err != nil {
			t.Fatal(err)
		}
		exec, err := model.NewExec(backend, seededStore(params), func(scope *model.Scope, z *graph.Node) []*graph.Node {
			scope.SetTraining(z.Graph(), training)
			out := q.Quantize(scope.In("q"), z)
			return append([]*graph.Node{out.Quantized, out.Bits, out.Loss}, out.Codes.Stages...)
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := exec.Call(tensors.FromFlatDataAndDimensions(data, b, h, w, dim))
		if err != nil {
			t.Fatalf("%s on %s: %v", q.Name(), backend.Name(), err)
		}
		r := result{values: tensors.MustCopyFlatData[float32](res[0]), bits: scalarF64(t, res[1]), loss: scalarF64(t, res[2])}
		for _, c := range res[3:] {
			codes := tensors.MustCopyFlatData[int32](c)
			for _, code := range codes {
				if code < 0 || int(code) >= q.CodebookSize() {
					t.Fatalf("%s on %s: code %d outside [0, %d)", q.Name(), backend.Name(), code, q.CodebookSize())
				}
			}
			r.codes = append(r.codes, codes)
		}
		if len(r.codes) != q.Stages() || math.Abs(r.bits-q.Scheme().Bits) > 1e-5 || math.IsNaN(r.loss) || math.IsInf(r.loss, 0) {
			t.Fatalf("%s on %s: %d code tensors, %g bits, loss %g; want %d, %g, finite", q.Name(), backend.Name(),
				len(r.codes), r.bits, r.loss, q.Stages(), q.Scheme().Bits)
		}
		return r
	}
	for _, tc := range cases {
		for _, training := range []bool{false, true} {
			want := run(t, testbackend.Go(t), tc.params, training)
			testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
				got := run(t, backend, tc.params, training)
				sampled := tc.params[ParamType] == "binary" && training
				if tc.project {
					return
				}
				if sampled {
					for i, v := range got.values {
						if bit := got.codes[0][i/dim] >> (i % dim) & 1; float32(bit) != v {
							t.Fatalf("%v on %s: output %d is %g, its code's bit %d", tc.params, backend.Name(), i, v, bit)
						}
					}
					return
				}
				if math.Abs(got.loss-want.loss) > 1e-5*(1+math.Abs(want.loss)) {
					t.Errorf("%v training=%v on %s: loss %g, the go backend's %g", tc.params, training, backend.Name(), got.loss, want.loss)
				}
				for i := range want.values {
					if math.Abs(float64(got.values[i]-want.values[i])) > 1e-5 {
						t.Fatalf("%v training=%v on %s: output %d is %g, the go backend's %g", tc.params, training, backend.Name(), i, got.values[i], want.values[i])
					}
				}
				for s := range want.codes {
					if !slices.Equal(got.codes[s], want.codes[s]) {
						t.Fatalf("%v training=%v on %s: codes of stage %d differ from the go backend's", tc.params, training, backend.Name(), s)
					}
				}
			})
		}
	}
}
