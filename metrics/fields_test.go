package metrics

import (
	"math"
	"strings"
	"testing"
)

func TestCompareFields(t *testing.T) {
	// Two time steps of a 2×2 grid; errors +1, −1, +2, 0 and 0, 0, 0, −2.
	orig := []float32{280, 281, 282, 283, 270, 271, 272, 273}
	recon := []float32{281, 280, 284, 283, 270, 271, 272, 271}
	e, err := CompareFields(orig, recon, []int{2, 2, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Σ err² = 1+1+4+4 = 10 over 8 values.
	if math.Abs(e.RMSE-math.Sqrt(10.0/8)) > 1e-12 || e.LatRMSE != e.RMSE {
		t.Errorf("RMSE %v LatRMSE %v, want both sqrt(10/8)", e.RMSE, e.LatRMSE)
	}
	if e.MaxAbs != 2 || e.MeanAbs != 6.0/8 || e.Bias != 0 || e.N != 8 {
		t.Errorf("got %+v, want MaxAbs 2, MeanAbs 0.75, Bias 0, N 8", e)
	}
	// Row 0 (errors 1, 1, 0, 0: Σ 2) weighs 3, row 1 (errors 4, 0, 0, 4: Σ 8) weighs 1.
	e, err = CompareFields(orig, recon, []int{2, 2, 2}, []float64{3, 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Sqrt((3*2 + 1*8) / (3*4 + 1*4.0)); math.Abs(e.LatRMSE-want) > 1e-12 {
		t.Errorf("LatRMSE %v, want %v", e.LatRMSE, want)
	}
}

func TestCompareFieldsMissingAndLost(t *testing.T) {
	nan := float32(math.NaN())
	e, err := CompareFields([]float32{nan, 1, 2, 3}, []float32{5, 1, 2, 4}, []int{2, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.N != 3 || math.Abs(e.RMSE-math.Sqrt(1.0/3)) > 1e-12 {
		t.Errorf("a NaN original is missing data: got N %d RMSE %v, want 3 and sqrt(1/3)", e.N, e.RMSE)
	}
	e, err = CompareFields([]float32{0, 1, 2, 3}, []float32{0, 1, nan, 3}, []int{2, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(e.RMSE) || !math.IsNaN(e.MaxAbs) {
		t.Errorf("a lost value must poison the errors, got %+v", e)
	}
}

func TestCompareFieldsErrors(t *testing.T) {
	x := make([]float32, 6)
	for _, c := range []struct {
		name    string
		recon   []float32
		shape   []int
		weights []float64
		want    string
	}{
		{"shape", x, []int{4, 2}, nil, "holds 8 values"},
		{"recon length", x[:5], []int{2, 3}, nil, "5 reconstructed"},
		{"rank", x, []int{6}, nil, "want [..., H, W]"},
		{"weights length", x, []int{2, 3}, []float64{1}, "1 latitude weights for 2"},
		{"negative weight", x, []int{2, 3}, []float64{1, -1}, "want finite"},
		{"zero weights", x, []int{2, 3}, []float64{0, 0}, "sum to 0"},
	} {
		if _, err := CompareFields(x, c.recon, c.shape, c.weights); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestLatCosWeights(t *testing.T) {
	w := LatCosWeights([]float64{0, 60})
	// cos 0 = 1, cos 60° = 0.5: mean 0.75.
	if math.Abs(w[0]-4.0/3) > 1e-12 || math.Abs(w[1]-2.0/3) > 1e-12 {
		t.Errorf("got %v, want [4/3 2/3]", w)
	}
	w = LatCosWeights([]float64{60, 0, -60})
	if want := []float64{0.75, 1.5, 0.75}; math.Abs(w[0]-want[0]) > 1e-12 || math.Abs(w[1]-want[1]) > 1e-12 || math.Abs(w[2]-want[2]) > 1e-12 {
		t.Errorf("LatCosWeights(60, 0, −60) = %v, want %v", w, want)
	}
	if w := LatCosWeights([]float64{90, -90}); w[0] != 1 || w[1] != 1 {
		t.Errorf("LatCosWeights at the poles only = %v, want ones", w)
	}
}
