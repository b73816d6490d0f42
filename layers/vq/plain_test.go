package vq

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

// rowsOf splits a flat [n, d] slice into rows.
func rowsOf(flat []float32, d int) [][]float32 {
	rows := make([][]float32, len(flat)/d)
	for i := range rows {
		rows[i] = flat[i*d : (i+1)*d]
	}
	return rows
}

// nearestRow is the reference nearest-neighbour search, in float64.
func nearestRow(x []float32, rows [][]float32) (best int, dist float64) {
	dist = math.Inf(1)
	for j, c := range rows {
		s := 0.0
		for i := range x {
			diff := float64(x[i]) - float64(c[i])
			s += diff * diff
		}
		if s < dist {
			best, dist = j, s
		}
	}
	return best, dist
}

func TestVQNearestCodeLossAndOutput(t *testing.T) {
	const k, d, n, beta = 12, 5, 200, 0.4
	store := seededStore(nil)
	q := build(t, "vq", map[string]any{ParamCodebookSize: k, ParamBeta: beta})
	if q.Name() != "vq(K=12)" || q.CodebookSize() != k || q.Stages() != 1 {
		t.Fatalf("New built %s with K=%d, %d stages", q.Name(), q.CodebookSize(), q.Stages())
	}
	rng := rand.New(rand.NewPCG(5, 6))
	z := gaussianTensor(rng, 1, n, d)
	// A first run creates the codebook; replace its tiny initial values by a spread-out
	// codebook, so that the nearest-code search has real choices to make.
	runQuantizer(t, store, q, z, false)
	codebookVar := store.GetVariable("/quantizer/codebook")
	if codebookVar == nil || !codebookVar.Trainable {
		t.Fatalf("no trainable /quantizer/codebook variable: %v", codebookVar)
	}
	initial := tensors.MustCopyFlatData[float32](codebookVar.MustValue())
	for i, v := range initial {
		if math.Abs(float64(v)) > 1.0/k {
			t.Fatalf("initial codebook entry %d = %g outside uniform(−1/K, 1/K)", i, v)
		}
	}
	codebookVar.MustSetValue(gaussianTensor(rng, 1, k, d))
	codebook := rowsOf(tensors.MustCopyFlatData[float32](codebookVar.MustValue()), d)

	run := runQuantizer(t, store, q, z, false)
	zRows := rowsOf(tensors.MustCopyFlatData[float32](z), d)
	quantized := rowsOf(tensors.MustCopyFlatData[float32](run.quantized), d)
	codes := tensors.MustCopyFlatData[int32](run.index)
	sumSq := 0.0
	for i, x := range zRows {
		want, dist := nearestRow(x, codebook)
		if int(codes[i]) != want {
			_, gotDist := nearestRow(x, codebook[codes[i]:codes[i]+1])
			if gotDist-dist > 1e-5 { // a tie within float32 rounding is not an error
				t.Fatalf("latent %d: code %d at distance %g, nearest is %d at %g", i, codes[i], gotDist, want, dist)
			}
		}
		for j := range x {
			if math.Abs(float64(quantized[i][j]-codebook[codes[i]][j])) > 1e-5 {
				t.Fatalf("latent %d: quantized %v, want code %d = %v", i, quantized[i], codes[i], codebook[codes[i]])
			}
		}
		sumSq += dist
	}
	// Both loss terms have the value mean‖z − q‖².
	want := (1 + beta) * sumSq / (n * d)
	if got := scalarF64(t, run.loss); math.Abs(got-want) > 1e-5*want {
		t.Errorf("loss = %g, want (1+β)·mean‖z−q‖² = %g", got, want)
	}
}

// codebookAfterSGDStep runs q on z, takes one SGD step on q's loss over every trainable variable
// (as an optimizer would) and returns the codebook before and after the step, from codebookFn,
// and the codes of z.
func codebookAfterSGDStep(t *testing.T, store *model.Store, q Quantizer, z *tensors.Tensor,
	codebookFn func(scope *model.Scope, g *graph.Graph) *graph.Node) (before, after [][]float32, codes []int32) {
	t.Helper()
	const learningRate = 0.5
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) []*graph.Node {
		g := z.Graph()
		qScope := scope.In("quantizer")
		out := q.Quantize(qScope, z)
		before := codebookFn(qScope, g)
		sgdUpdate(scope, out.Loss, learningRate)
		return []*graph.Node{before, codebookFn(qScope, g), out.Index}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Call(z)
	if err != nil {
		t.Fatal(err)
	}
	d := res[0].Shape().Dimensions[1]
	return rowsOf(tensors.MustCopyFlatData[float32](res[0]), d), rowsOf(tensors.MustCopyFlatData[float32](res[1]), d),
		tensors.MustCopyFlatData[int32](res[2])
}

// movedRows returns which rows differ between before and after.
func movedRows(before, after [][]float32) []bool {
	moved := make([]bool, len(before))
	for i := range before {
		for j := range before[i] {
			if before[i][j] != after[i][j] {
				moved[i] = true
			}
		}
	}
	return moved
}

// TestVQOnlySelectedCodesMove is the behaviour SimVQ fixes: one gradient step on the VQ loss
// moves exactly the codes that some latent selected.
func TestVQOnlySelectedCodesMove(t *testing.T) {
	const k, d = 64, 4
	store := seededStore(nil)
	q := build(t, "vq", map[string]any{ParamCodebookSize: k}).(*VQ)
	rng := rand.New(rand.NewPCG(8, 9))
	z := gaussianTensor(rng, 1, 10, d) // at most 10 of the 64 codes can be selected
	before, after, codes := codebookAfterSGDStep(t, store, q, z, q.Codebook)
	selected := map[int32]bool{}
	for _, c := range codes {
		selected[c] = true
	}
	for i, m := range movedRows(before, after) {
		if m != selected[int32(i)] {
			t.Errorf("code %d: moved=%v, selected=%v", i, m, selected[int32(i)])
		}
	}
}

func TestVQInvalidParamsNamed(t *testing.T) {
	for _, tc := range []struct {
		key   string
		value any
	}{{ParamCodebookSize, 0}, {ParamCodebookSize, 1}, {ParamBeta, -1.0}} {
		err := Validate(map[string]any{tc.key: tc.value}, "")
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%v: error %v does not name the parameter", tc.key, tc.value, err)
		}
		if _, err := NewVQ(VQOptions{CodebookSize: 8, Beta: -1}); err == nil || !strings.Contains(err.Error(), ParamBeta) {
			t.Errorf("NewVQ with β = −1: error %v does not name %s", err, ParamBeta)
		}
	}
}
