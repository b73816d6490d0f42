package testbackend

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// CheckGradient compares graph.Gradient of the scalar f with respect to each of its inputs (float64
// tensors) against central finite differences of f itself, (f(x + h·e_j) − f(x − h·e_j))/2h with
// h = 1e-6, on every coordinate j, computed on backend. It fails t where the two differ by more
// than 1e-6·(1 + |∂f/∂x_j| + max_j |∂f/∂x_j|); in float64 the differences are good to about 1e-9.
// f may create variables in scope (a store with a fixed seed, shared by every evaluation).
func CheckGradient(t *testing.T, backend compute.Backend, f func(scope *model.Scope, inputs []*graph.Node) *graph.Node, inputs ...*tensors.Tensor) {
	t.Helper()
	dims := make([][]int, len(inputs))
	values := make([][]float64, len(inputs))
	for i, x := range inputs {
		if x.DType() != dtypes.Float64 {
			t.Fatalf("CheckGradient: input %d is %s, want float64", i, x.Shape())
		}
		dims[i] = x.Shape().Dimensions
		values[i] = tensors.MustCopyFlatData[float64](x)
	}
	args := func(values [][]float64) []any {
		out := make([]any, len(values))
		for i, v := range values {
			out[i] = tensors.FromFlatDataAndDimensions(v, dims[i]...)
		}
		return out
	}
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(42))
	gradExec, err := model.NewExec(backend, store, func(scope *model.Scope, in []*graph.Node) []*graph.Node {
		y := f(scope, in)
		return append([]*graph.Node{y}, graph.Gradient(y, in...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer gradExec.Finalize()
	fExec, err := model.NewExec(backend, store, f)
	if err != nil {
		t.Fatal(err)
	}
	defer fExec.Finalize()
	out, err := gradExec.Call(args(values)...)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Shape().Size() != 1 || out[0].DType() != dtypes.Float64 {
		t.Fatalf("CheckGradient: f must return a float64 scalar, got %s", out[0].Shape())
	}
	evalF := func(values [][]float64) float64 {
		out, err := fExec.Call(args(values)...)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float64](out[0])[0]
	}
	const h = 1e-6
	for i := range values {
		grad := tensors.MustCopyFlatData[float64](out[1+i])
		var scale float64
		for _, g := range grad {
			scale = max(scale, math.Abs(g))
		}
		shifted := append([][]float64(nil), values...)
		for j := range values[i] {
			shifted[i] = append([]float64(nil), values[i]...)
			shifted[i][j] += h
			up := evalF(shifted)
			shifted[i][j] -= 2 * h
			fd := (up - evalF(shifted)) / (2 * h)
			if math.Abs(fd-grad[j]) > 1e-6*(1+math.Abs(grad[j])+scale) {
				t.Errorf("input %d, coordinate %d: gradient %.9g, finite difference %.9g", i, j, grad[j], fd)
				return
			}
		}
	}
}
