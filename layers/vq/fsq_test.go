package vq

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

func TestFSQLevelsFromCodebookSize(t *testing.T) {
	for _, tc := range []struct {
		k      int
		levels []int
		size   int
	}{
		{256, []int{8, 6, 5}, 240},
		{1024, []int{8, 5, 5, 5}, 1000},
		{4096, []int{7, 5, 5, 5, 5}, 4375},
		{16384, []int{8, 8, 8, 6, 5}, 15360},
		{65536, []int{8, 8, 8, 5, 5, 5}, 64000},
	} {
		q := build(t, "fsq", map[string]any{ParamCodebookSize: tc.k}).(*FSQ)
		if !slices.Equal(q.Levels(), tc.levels) || q.CodebookSize() != tc.size {
			t.Errorf("K=%d: levels %v and size %d, want %v and %d", tc.k, q.Levels(), q.CodebookSize(), tc.levels, tc.size)
		}
	}
	err := Validate(map[string]any{ParamType: "fsq", ParamCodebookSize: 512}, "")
	if err == nil || !strings.Contains(err.Error(), ParamFSQLevels) || !strings.Contains(err.Error(), ParamCodebookSize) {
		t.Errorf("K=512 without levels: error %v should name %s and %s", err, ParamCodebookSize, ParamFSQLevels)
	}
	// Explicit levels override the codebook size.
	q := build(t, "fsq", map[string]any{ParamCodebookSize: 512, ParamFSQLevels: " 3, 4"})
	if q.Name() != "fsq(L=3,4)" || q.CodebookSize() != 12 {
		t.Errorf("levels \" 3, 4\": %s with K=%d", q.Name(), q.CodebookSize())
	}
	for _, bad := range []string{"8,x", "8,1", ",", "65536,65536"} {
		err := Validate(map[string]any{"k_" + ParamType: "fsq", "k_" + ParamFSQLevels: bad}, "k")
		if err == nil || !strings.Contains(err.Error(), "k_"+ParamFSQLevels) {
			t.Errorf("levels %q under prefix k: error %v should name k_%s", bad, err, ParamFSQLevels)
		}
		if _, err := NewFSQ(FSQOptions{Levels: []int{8, 1}}); err == nil || !strings.Contains(err.Error(), ParamFSQLevels) {
			t.Errorf("NewFSQ(levels 8,1): error %v should name %s", err, ParamFSQLevels)
		}
	}
}

// mustFSQ returns the FSQ with the given levels.
func mustFSQ(t testing.TB, levels ...int) *FSQ {
	t.Helper()
	q, err := NewFSQ(FSQOptions{Levels: levels})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// fsqGrid returns, for levels, the normalised grid coordinates of every code 0…K−1 computed
// independently of the implementation: digit_i = (code / ∏_{j<i} L_j) mod L_i, value
// (digit − (L−1)/2)/((L−1)/2), L evenly spaced values from −1 to 1.
func fsqGrid(levels []int) [][]float32 {
	k := 1
	for _, l := range levels {
		k *= l
	}
	grid := make([][]float32, k)
	for code := range grid {
		rest := code
		for _, l := range levels {
			digit := rest % l
			rest /= l
			half := float64(l-1) / 2
			grid[code] = append(grid[code], float32((float64(digit)-half)/half))
		}
	}
	return grid
}

// fsqRun quantizes z [N, d] and decodes its codes, returning quantized, decoded and codes.
func fsqRun(t *testing.T, q *FSQ, z *tensors.Tensor) (quantized, decoded [][]float32, codes []int32) {
	t.Helper()
	store := seededStore(nil)
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
		out := q.Quantize(scope.In("fsq"), z)
		return out.Quantized, out.Index, q.Decode(scope.At("fsq"), out.Codes)
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Call(z)
	if err != nil {
		t.Fatal(err)
	}
	d := len(q.Levels())
	return rowsOf(tensors.MustCopyFlatData[float32](res[0]), d), rowsOf(tensors.MustCopyFlatData[float32](res[2]), d),
		tensors.MustCopyFlatData[int32](res[1])
}

// TestFSQGridIsExactAndBijective enumerates the whole grid of small level sets: latents aimed
// at each grid point must land exactly on it, with code = its index, and the codes of the K
// points must be K distinct values in [0, K) that Decode maps back to the same points. Random
// latents of any size must land exactly on grid points, with the code of the point.
func TestFSQGridIsExactAndBijective(t *testing.T) {
	for _, levels := range [][]int{{3, 4}, {5, 2, 3}, {8, 6, 5}} {
		q := mustFSQ(t, levels...)
		grid := fsqGrid(levels)
		k, d := len(grid), len(levels)
		if k != q.CodebookSize() {
			t.Fatalf("%s: CodebookSize %d, grid has %d points", q.Name(), q.CodebookSize(), k)
		}

		// Latents whose bounded value f(z) = h·tanh(z) is the middle of the part of the grid
		// value's rounding cell [v − ½, v + ½] that f reaches, (−h, h).
		aimed := make([]float32, 0, k*d)
		for _, point := range grid {
			for i, l := range levels {
				halfL := float64(l-1) * (1 - 1e-3) / 2
				v := float64(point[i]) * float64(l-1) / 2
				target := (math.Max(v-0.5, -halfL) + math.Min(v+0.5, halfL)) / 2
				aimed = append(aimed, float32(math.Atanh(target/halfL)))
			}
		}
		quantized, decoded, codes := fsqRun(t, q, tensors.FromFlatDataAndDimensions(aimed, k, d))
		seen := map[int32]bool{}
		for code, point := range grid {
			if codes[code] != int32(code) {
				t.Fatalf("%s: latent aimed at grid point %v (index %d) got code %d", q.Name(), point, code, codes[code])
			}
			seen[codes[code]] = true
			if !slices.Equal(quantized[code], point) || !slices.Equal(decoded[code], point) {
				t.Fatalf("%s: code %d: quantized %v, decoded %v, want exactly %v", q.Name(), code, quantized[code], decoded[code], point)
			}
		}
		if len(seen) != k {
			t.Fatalf("%s: %d distinct codes for %d grid points", q.Name(), len(seen), k)
		}

		rng := rand.New(rand.NewPCG(uint64(k), 3))
		const n = 500
		quantized, decoded, codes = fsqRun(t, q, gaussianTensor(rng, 3, n, d))
		for i := range n {
			if codes[i] < 0 || int(codes[i]) >= k {
				t.Fatalf("%s: code %d outside [0, %d)", q.Name(), codes[i], k)
			}
			if !slices.Equal(quantized[i], grid[codes[i]]) || !slices.Equal(decoded[i], grid[codes[i]]) {
				t.Fatalf("%s: random latent %d: quantized %v, decoded %v, want grid point %d = %v",
					q.Name(), i, quantized[i], decoded[i], codes[i], grid[codes[i]])
			}
		}
	}
}

// TestFSQGradientIsTheBoundsDerivative checks the straight-through rounding: the gradient of
// Σ(Quantized·r) w.r.t. z is r·h·(1 − tanh²(z))/((L−1)/2), the derivative of the bound alone,
// for a single FSQ and for a residual FSQ, whose later stages carry no gradient.
func TestFSQGradientIsTheBoundsDerivative(t *testing.T) {
	levels := []int{7, 4}
	for _, q := range []Quantizer{mustFSQ(t, levels...), mustFSQ(t, levels...).residualStack(3)} {
		rng := rand.New(rand.NewPCG(11, 12))
		const n = 50
		z := gaussianTensor(rng, 1.5, n, len(levels))
		run := runQuantizer(t, seededStore(nil), q, z, true)
		zs, r, grad := tensors.MustCopyFlatData[float32](z), tensors.MustCopyFlatData[float32](run.r), tensors.MustCopyFlatData[float32](run.grad)
		for i := range zs {
			l := levels[i%len(levels)]
			halfL := float64(l-1) * (1 - 1e-3) / 2
			th := math.Tanh(float64(zs[i]))
			want := float64(r[i]) * halfL * (1 - th*th) / (float64(l-1) / 2)
			if math.Abs(float64(grad[i])-want) > 1e-5+1e-4*math.Abs(want) {
				t.Fatalf("%s: gradient[%d] = %g, want %g", q.Name(), i, grad[i], want)
			}
		}
	}
}

// TestFSQProjections checks that with D ≠ len(levels) the quantizer projects D→d→D with
// trainable variables that receive gradients, and that its loss is zero.
func TestFSQProjections(t *testing.T) {
	q := mustFSQ(t, 5, 5)
	store := seededStore(nil)
	rng := rand.New(rand.NewPCG(2, 2))
	z := gaussianTensor(rng, 1, 4, 6, 3) // D = 3 ≠ d = 2
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) []*graph.Node {
		out := q.Quantize(scope.In("fsq"), z)
		var params []*graph.Node
		for _, name := range []string{"project_in_weights", "project_in_bias", "project_out_weights", "project_out_bias"} {
			params = append(params, scope.At("fsq").GetVariable(name).NodeValue(z.Graph()))
		}
		grads := graph.Gradient(graph.ReduceAllSum(graph.Square(out.Quantized)), params...)
		outs := []*graph.Node{out.Quantized, out.Loss}
		for _, g := range grads {
			outs = append(outs, graph.ReduceAllSum(graph.Abs(g)))
		}
		return outs
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Call(z)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Shape().Equal(shapes.Make(dtypes.Float32, 4, 6, 3)) {
		t.Errorf("Quantized shape %s, want [4 6 3]", res[0].Shape())
	}
	if loss := scalarF64(t, res[1]); loss != 0 {
		t.Errorf("FSQ loss = %g, want 0", loss)
	}
	for i, name := range []string{"project_in_weights", "project_in_bias", "project_out_weights", "project_out_bias"} {
		if g := scalarF64(t, res[2+i]); !(g > 0) {
			t.Errorf("gradient of %s is %g, want non-zero", name, g)
		}
	}
}

// TestFSQLevelsAreSymmetric is fault 10: the paper's bound put the decision boundary of L = 2 at
// z ≈ −1.56, so that N(0, 1) latents picked one level 94% of the time (1194 and 18806 of
// 20000), and left every even L asymmetric (L = 4: 2504, 4714, 6385, 6397). Now f(−z) = −f(z)
// maps a latent and its mirror image to mirror levels, digit(−z) = L − 1 − digit(z), and
// N(0, 1) latents use level j and level L − 1 − j equally often, both levels of L = 2 half the
// time.
func TestFSQLevelsAreSymmetric(t *testing.T) {
	levels := []int{2, 3, 4, 5, 6, 8}
	q := mustFSQ(t, levels...)
	const n = 40000
	d := len(levels)
	rng := rand.New(rand.NewPCG(10, 10))
	z := tensors.MustCopyFlatData[float32](gaussianTensor(rng, 1, n, d))
	for i := range n * d {
		z = append(z, -z[i]) // rows n…2n−1 mirror rows 0…n−1
	}
	quantized, _, codes := fsqRun(t, q, tensors.FromFlatDataAndDimensions(z, 2*n, d))
	digit := func(code int32, dim int) int {
		radix := 1
		for _, l := range levels[:dim] {
			radix *= l
		}
		return int(code) / radix % levels[dim]
	}
	for dim, l := range levels {
		counts := make([]float64, l)
		for i := range n {
			a, b := digit(codes[i], dim), digit(codes[n+i], dim)
			if a+b != l-1 || quantized[i][dim] != -quantized[n+i][dim] {
				t.Fatalf("L=%d: z=%g has digit %d and value %g, −z digit %d and value %g; want mirror images",
					l, z[i*d+dim], a, quantized[i][dim], b, quantized[n+i][dim])
			}
			counts[a]++
		}
		t.Logf("L=%d: level counts of %d N(0, 1) latents %v", l, n, counts)
		for j := range l / 2 {
			mirror := counts[l-1-j]
			// Under symmetry counts[j] − mirror has variance ≈ counts[j] + mirror.
			if math.Abs(counts[j]-mirror) > 5*math.Sqrt(counts[j]+mirror) {
				t.Errorf("L=%d: level %d used %g times, its mirror level %d %g times", l, j, counts[j], l-1-j, mirror)
			}
		}
		if l == 2 && math.Abs(counts[0]/n-0.5) > 0.015 {
			t.Errorf("L=2: level 0 takes %.3f of the latents, want 0.5", counts[0]/n)
		}
	}
}
