package qat

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
)

// roundEven rounds to the nearest integer, ties to even, as graph.Round does.
func roundEven(x float32) float32 { return float32(math.RoundToEven(float64(x))) }

// quantizeGroupReference is FakeQuant's forward value for one group, computed on the host in
// float32 with the graph's operations in the graph's order.
func quantizeGroupReference(v []float32, bits int, symmetric bool) []float32 {
	q := make([]float32, len(v))
	if symmetric {
		qp := float32(math.Exp2(float64(bits-1)) - 1)
		var absMax float32
		for _, x := range v {
			absMax = max(absMax, float32(math.Abs(float64(x))))
		}
		scale := max(absMax, minRange) / qp
		for i, x := range v {
			q[i] = min(max(roundEven(x/scale), -qp-1), qp) * scale
		}
		return q
	}
	top := float32(math.Exp2(float64(bits)) - 1)
	lo, hi := slices.Min(v), slices.Max(v)
	scale := max(hi-lo, minRange) / top
	zero := roundEven(-lo / scale)
	for i, x := range v {
		q[i] = (min(max(roundEven(x/scale)+zero, 0), top) - zero) * scale
	}
	return q
}

// fakeQuantReference is FakeQuant's forward value for w [out, in], group by group.
func fakeQuantReference(w []float32, out, in, bits, groupSize int, symmetric bool) []float64 {
	size := groupSize
	if size == 0 || size > in {
		size = in
	}
	ref := make([]float64, len(w))
	for o := range out {
		for start := 0; start < in; start += size {
			end := min(start+size, in)
			for i, q := range quantizeGroupReference(w[o*in+start:o*in+end], bits, symmetric) {
				ref[o*in+start+i] = float64(q)
			}
		}
	}
	return ref
}

// runFakeQuant returns FakeQuant(w) and ∂Σ(FakeQuant(w)·r)/∂w for w [out, in].
func runFakeQuant(t *testing.T, w, r []float32, out, in, bits, groupSize int, symmetric bool) (quantized, grad []float32) {
	t.Helper()
	exec, err := graph.NewExec(testbackend.Go(t), func(w, r *graph.Node) []*graph.Node {
		q := FakeQuant(w, bits, groupSize, symmetric)
		q.AssertDims(out, in)
		return []*graph.Node{q, graph.Gradient(graph.ReduceAllSum(graph.Mul(q, r)), w)[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Call(tensors.FromFlatDataAndDimensions(w, out, in), tensors.FromFlatDataAndDimensions(r, out, in))
	if err != nil {
		t.Fatal(err)
	}
	return flat(t, res[0]), flat(t, res[1])
}

// TestFakeQuantMatchesReference checks the forward value against the host reference on rows
// of 172 inputs in groups of 64, 64 and 44, and that the gradient is the identity (∂Σ q·r/∂w = r).
func TestFakeQuantMatchesReference(t *testing.T) {
	const out, in = 5, 172
	rng := rand.New(rand.NewPCG(1, 2))
	normal := gaussian(rng, out*in, 0.5)
	positive := make([]float32, len(normal)) // min > 0: zero padding must not become the minimum
	for i, x := range normal {
		positive[i] = float32(math.Abs(float64(x))) + 0.5
	}
	constant := slices.Repeat([]float32{0.3}, out*in)
	r := gaussian(rng, out*in, 1)
	for _, c := range []struct {
		name      string
		w         []float32
		bits      int
		groupSize int
		symmetric bool
	}{
		{"sym4_group64", normal, 4, 64, true},
		{"asym4_group64", normal, 4, 64, false},
		{"asym3_group64_positive", positive, 3, 64, false},
		{"sym3_group64_positive", positive, 3, 64, true},
		{"sym8_row", normal, 8, 0, true},
		{"asym2_group_wider_than_row", normal, 2, 1000, false},
		{"asym4_constant", constant, 4, 64, false},
		{"sym4_constant", constant, 4, 64, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, grad := runFakeQuant(t, c.w, r, out, in, c.bits, c.groupSize, c.symmetric)
			assertClose(t, "FakeQuant", q, fakeQuantReference(c.w, out, in, c.bits, c.groupSize, c.symmetric), 1e-6)
			if !slices.Equal(grad, r) {
				t.Errorf("gradient is not the identity: ∂Σ q·r/∂w = %v..., r = %v...", grad[:4], r[:4])
			}
		})
	}
	// The reference's last group has its own scale: with a row scale the 44 small weights of
	// the last group would all round to zero.
	small := slices.Clone(normal)
	for o := range out {
		for i := 128; i < in; i++ {
			small[o*in+i] *= 1e-3
		}
	}
	q, _ := runFakeQuant(t, small, r, out, in, 4, 64, true)
	nonZero := 0
	for o := range out {
		for i := 128; i < in; i++ {
			if q[o*in+i] != 0 {
				nonZero++
			}
		}
	}
	if nonZero < out*(in-128)/2 {
		t.Errorf("only %d of the %d weights of the scaled-down last groups survive quantization", nonZero, out*(in-128))
	}
}

// TestPanics checks that caller bugs panic with a message naming the argument to fix.
func TestPanics(t *testing.T) {
	g := graph.NewGraph(testbackend.Go(t), "panics")
	w := graph.Parameter(g, "w", shapes.Make(dtypes.Float32, 4, 8))
	scope := model.NewStore().RootScope()
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"signed 1 bit", "bits must be in [2, 16]", func() { FakeQuant(w, 1, 0, true) }},
		{"17 bits", "bits must be in [1, 16]", func() { FakeQuant(w, 17, 0, false) }},
		{"negative group", "groupSize must be ≥ 0", func() { FakeQuant(w, 4, -1, true) }},
		{"rank 1", "shape [out, in]", func() { FakeQuant(graph.Reshape(w, 32), 4, 0, true) }},
		{"unsigned 0 bits", "LSQ bits must be in [1, 16]", func() { LSQ(scope, w, 0, 4, false) }},
		{"integer weights", "LSQ needs a float weight", func() { LSQ(scope, graph.ConvertDType(w, dtypes.Int32), 4, 4, true) }},
		{"integer activations", "LSQActivation needs float", func() { LSQActivation(scope, graph.ConvertDType(w, dtypes.Int32), 4) }},
		{"rank 0", "LoRA out, in and rank must be ≥ 1", func() { LoRA(scope, g, 3, 8, 0, 1) }},
	} {
		if got := recoveredText(c.f); !strings.Contains(got, c.want) {
			t.Errorf("%s: panic %q, want it to contain %q", c.name, got, c.want)
		}
	}
}
