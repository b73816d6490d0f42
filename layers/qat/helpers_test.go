package qat

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// seededStore returns an empty store with a fixed random seed.
func seededStore() *model.Store {
	store := model.NewStore()
	store.RootScope().SetParam(model.ParamInitialSeed, int64(42))
	return store
}

// gaussian returns n float32 values drawn from N(0, std²).
func gaussian(rng *rand.Rand, n int, std float64) []float32 {
	values := make([]float32, n)
	for i := range values {
		values[i] = float32(rng.NormFloat64() * std)
	}
	return values
}

// flat returns the float32 values of t.
func flat(t *testing.T, x *tensors.Tensor) []float32 {
	t.Helper()
	values, err := tensors.CopyFlatData[float32](x)
	if err != nil {
		t.Fatalf("reading %s: %v", x.Shape(), err)
	}
	return values
}

// variableValues returns the float32 values of the variable name of scope.
func variableValues(t *testing.T, scope *model.Scope, name string) []float32 {
	t.Helper()
	v := scope.GetVariable(name)
	if v == nil {
		t.Fatalf("no variable %q in scope %q", name, scope.Scope())
	}
	return flat(t, v.MustValue())
}

// assertClose fails the test at the first index where got and want differ by more than
// tol·max(1, |want|).
func assertClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if diff := math.Abs(float64(got[i]) - want[i]); diff > tol*math.Max(1, math.Abs(want[i])) || math.IsNaN(diff) {
			t.Fatalf("%s[%d] = %g, want %g (diff %g)", what, i, got[i], want[i], diff)
		}
	}
}

// recoveredText runs f and returns the text of its panic, or "" if it did not panic.
func recoveredText(f func()) (text string) {
	defer func() {
		if r := recover(); r != nil {
			switch v := r.(type) {
			case error:
				text = v.Error()
			case string:
				text = v
			default:
				text = "panic"
			}
		}
	}()
	f()
	return ""
}
