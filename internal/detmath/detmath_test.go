package detmath

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"testing"
)

// funcs are the package's functions with math's.
var funcs = []struct {
	name       string
	det, float func(float64) float64
}{
	{"Exp", Exp, math.Exp},
	{"Log", Log, math.Log},
	{"Log1p", Log1p, math.Log1p},
	{"Tanh", Tanh, math.Tanh},
	{"Erf", Erf, math.Erf},
	{"Erfc", Erfc, math.Erfc},
}

// arguments are the values the tests evaluate every function at: each function's branch
// boundaries and their neighbours, special values, subnormals, values spread uniformly over
// each function's useful range and in log scale over all magnitudes, and random bit patterns.
func arguments() []float64 {
	var v []float64
	edges := []float64{
		0, 1, 2, 0.5, 0.25, 0.625, 0.84375, 1.25, 1 / 0.35, 6, 28, 1.0 / (1 << 28), 1.0 / (1 << 29),
		1.0 / (1 << 54), 1.0 / (1 << 56), 1 << 53, 2.848094538889218e-306, 4.142135623730950488017e-01,
		2.928932188134524755992e-01, 8.8029691931113054295988e+01 / 2, 7.09782712893384e+02,
		709.78, 708, 745.13321910194110842, 744.44, 1000, 1e10, 1e300, math.MaxFloat64,
		math.SmallestNonzeroFloat64, 0x1p-1022, 0x1p-1030, math.Sqrt2 / 2, math.Sqrt2, math.Ln2, 0.11, 256,
	}
	for _, e := range edges {
		for _, s := range []float64{1, -1} {
			x := s * e
			v = append(v, x, math.Nextafter(x, math.Inf(1)), math.Nextafter(x, math.Inf(-1)), x-1, x+1)
		}
	}
	for j := -1074; j <= 1023; j++ { // powers of two and √2/2 times them: Log's reduction
		p := math.Ldexp(1, j)
		v = append(v, p, math.Ldexp(math.Sqrt2/2, j), math.Nextafter(math.Ldexp(math.Sqrt2/2, j), 2))
	}
	v = append(v, math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1))
	rng := rand.New(rand.NewPCG(1, 2))
	// Products rounded explicitly: fused, the arguments themselves would differ by machine.
	for range 300_000 {
		v = append(v,
			float64(rng.Float64()*1500)-750,                 // Exp's range
			float64(rng.Float64()*60)-30,                    // Erf, Erfc, Tanh
			float64(rng.Float64()*3)-1.5,                    // the small and near-one terms
			float64(rng.Float64()*300)-1,                    // Log1p
			math.Ldexp(rng.Float64(), rng.IntN(2100)-1075),  // every magnitude
			-math.Ldexp(rng.Float64(), rng.IntN(2100)-1075), //
			math.Float64frombits(rng.Uint64()),              // any bits
		)
	}
	return v
}

func same(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (a != a && b != b)
}

// pinnedResults is TestResultsPinned's hash, taken on amd64 with FMA where every function
// equals math's (TestMatchesMath).
const pinnedResults = "024918b49f6ca5bedc3f52e334890d4d3e6ff96e92288c51509589ee2b49b9fa"

// TestResultsPinned: the functions' results at arguments() hash to the pinned value, on every
// GOARCH and CPU (NaNs hash as one value: their payload bits are the hardware's).
func TestResultsPinned(t *testing.T) {
	h := sha256.New()
	args := arguments()
	for _, f := range funcs {
		for _, x := range args {
			y := f.det(x)
			if y != y {
				y = math.NaN()
			}
			h.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(y)))
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != pinnedResults {
		t.Fatalf("results over %d arguments hash to %s, pinned %s", len(args), got, pinnedResults)
	}
}

// BenchmarkFunctions: each function against math's, over 1024 arguments in its useful range.
func BenchmarkFunctions(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, 1024)
	for i := range x {
		x[i] = float64(rng.Float64()*8) - 4
	}
	for _, f := range funcs {
		for _, impl := range []struct {
			name string
			fn   func(float64) float64
		}{{"detmath", f.det}, {"math", f.float}} {
			args := x
			if f.name == "Log" || f.name == "Log1p" {
				args = make([]float64, len(x))
				for i, v := range x {
					args[i] = math.Abs(v) * 10
				}
			}
			b.Run(f.name+"/"+impl.name, func(b *testing.B) {
				s := 0.0
				for b.Loop() {
					for _, v := range args {
						s += impl.fn(v)
					}
				}
				if s == 1 {
					b.Log(s)
				}
			})
		}
	}
}
