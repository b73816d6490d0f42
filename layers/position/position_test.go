package position_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/position"
)

const batch, seq, heads, headDim = 2, 5, 3, 6

// TestRoPEMatchesReference rotates random heads at positions 7…11 and compares with the pairwise
// rotation by p·θ_i computed in float64 (the graph's angles are float32: tolerance 1e-5).
func TestRoPEMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*seq*heads*headDim)
	for i := range x {
		x[i] = float32(2*rng.Float64() - 1)
	}
	const start = 7
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		out, err := graph.CallOnce(backend, func(x *graph.Node) *graph.Node {
			positions := graph.AddScalar(graph.Iota(x.Graph(), shapes.Make(dtypes.Int32, seq), 0), start)
			cos, sin := position.RoPEAngles(positions, headDim)
			return position.RoPE(x, cos, sin)
		}, tensors.FromFlatDataAndDimensions(x, batch, seq, heads, headDim))
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Shape().Dimensions; !slices.Equal(got, []int{batch, seq, heads, headDim}) {
			t.Fatalf("shape %v", got)
		}
		got := tensors.MustCopyFlatData[float32](out)
		for b := range batch {
			for p := range seq {
				for h := range heads {
					base := ((b*seq+p)*heads + h) * headDim
					for i := range headDim / 2 {
						a := float64(start+p) * position.RoPEFrequency(i, headDim)
						x0, x1 := float64(x[base+2*i]), float64(x[base+2*i+1])
						want0, want1 := x0*math.Cos(a)-x1*math.Sin(a), x0*math.Sin(a)+x1*math.Cos(a)
						if math.Abs(float64(got[base+2*i])-want0) > 1e-5 || math.Abs(float64(got[base+2*i+1])-want1) > 1e-5 {
							t.Fatalf("pair %d of head %d at position %d: (%g, %g), want (%g, %g)",
								i, h, start+p, got[base+2*i], got[base+2*i+1], want0, want1)
						}
					}
				}
			}
		}
	})
	if got, want := position.RoPEFrequency(1, 4), 0.01; math.Abs(got-want) > 1e-15 {
		t.Errorf("RoPEFrequency(1, 4) = %g, want 10000^(−1/2) = %g", got, want)
	}
}

// TestRoPEGradient checks RoPE's gradient with respect to x (float64 angles) on every backend.
func TestRoPEGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	values := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = 2*rng.Float64() - 1
		}
		return v
	}
	x := tensors.FromFlatDataAndDimensions(values(1*seq*2*4), 1, seq, 2, 4)
	angles := values(seq * 2)
	r := values(1 * seq * 2 * 4)
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		testbackend.CheckGradient(t, backend, func(_ *model.Scope, in []*graph.Node) *graph.Node {
			a := graph.Reshape(graph.Const(in[0].Graph(), angles), seq, 2)
			y := position.RoPE(in[0], graph.Cos(a), graph.Sin(a))
			return graph.ReduceAllSum(graph.Mul(y, graph.Reshape(graph.Const(y.Graph(), r), y.Shape().Dimensions...)))
		}, x)
	})
}

func TestSinusoidal2D(t *testing.T) {
	const nh, nw, d = 3, 4, 10 // 4 does not divide 10: two channels stay zero
	g := graph.NewGraph(testbackend.Go(t), "sinusoidal")
	e := position.Sinusoidal2D(g, nh, nw, d)
	if got := e.Shape().Dimensions; !slices.Equal(got, []int{1, nh * nw, d}) {
		t.Fatalf("shape %v, want [1 %d %d]", got, nh*nw, d)
	}
	g.Compile(e)
	out := g.Run()[0]
	values := tensors.MustCopyFlatData[float32](out)
	const q = d / 4
	for r := range nh {
		for c := range nw {
			row := values[(r*nw+c)*d : (r*nw+c+1)*d]
			for k := range q {
				omega := math.Pow(10000, -float64(k)/q)
				want := []float64{math.Sin(float64(r) * omega), math.Cos(float64(r) * omega), math.Sin(float64(c) * omega), math.Cos(float64(c) * omega)}
				for part, w := range want {
					if math.Abs(float64(row[part*q+k])-w) > 1e-6 {
						t.Fatalf("token (%d, %d) channel %d = %g, want %g", r, c, part*q+k, row[part*q+k], w)
					}
				}
			}
			if row[d-2] != 0 || row[d-1] != 0 {
				t.Errorf("token (%d, %d): the channels beyond 4·⌊d/4⌋ are %v, want zeros", r, c, row[4*q:])
			}
		}
	}
}

// llama3 is Meta's Llama 3.1 rule with the band set so that a head of size 8 and base 10000
// (rates 1, 0.1, 0.01, 0.001: wavelengths 2π, 20π, 200π, 2000π) has a rate in each band:
// high below 1024/4 = 256, low above 1024/1 = 1024.
var llama3 = position.RoPEScaling{Type: position.RoPEScalingLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 1024}

// TestRoPEScalingBands checks the llama3 rule on values computed by hand: the two fast rates
// (wavelengths 6.28 and 62.8 < 256) are kept, the slow one (6283 > 1024) is divided by 8, and
// the one between (628.3) is blended with s = (1024/628.3 − 1)/(4 − 1) = 0.2099155:
// 0.01·((1 − s)/8 + s) = 0.003086761. linear divides each by its factor; no scaling keeps each,
// bit for bit.
func TestRoPEScalingBands(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scaling position.RoPEScaling
		want    []float64
	}{
		{"llama3", llama3, []float64{1, 0.1, 0.0030867609670112745, 0.001 / 8}},
		{"linear", position.RoPEScaling{Type: position.RoPEScalingLinear, Factor: 4}, []float64{0.25, 0.025, 0.0025, 0.00025}},
		{"none", position.RoPEScaling{}, []float64{1, 0.1, 0.01, 0.001}},
	} {
		got := position.RoPEFrequencies(8, 10000, tc.scaling)
		if len(got) != 4 {
			t.Fatalf("%s: %d rates, want 4", tc.name, len(got))
		}
		for i, w := range tc.want {
			if math.Abs(got[i]-w) > 1e-12*w {
				t.Errorf("%s: θ_%d = %.17g, want %.17g", tc.name, i, got[i], w)
			}
		}
	}
	for _, hd := range []int{2, 8, 64, 128} {
		for _, base := range []float64{10000, 1e5, 5e5, 1e6} {
			for i, f := range position.RoPEFrequencies(hd, base, position.RoPEScaling{}) {
				if old := position.RoPEFrequencyBase(i, hd, base); f != old {
					t.Fatalf("unscaled θ_%d (head %d, base %g) = %v, RoPEFrequencyBase %v", i, hd, base, f, old)
				}
			}
		}
	}
}

// transcribedLlama3 is the llama3 rule as transformers states it, over the whole vector:
// first the slow rates divided, then the blend applied to the middle band of that vector.
func transcribedLlama3(invFreq []float64, factor, low, high float64, orig int) []float64 {
	lowWavelen, highWavelen := float64(orig)/low, float64(orig)/high
	out := make([]float64, len(invFreq))
	for i, f := range invFreq {
		wavelen := 2 * math.Pi / f
		llama := f
		if wavelen > lowWavelen {
			llama = f / factor
		}
		smooth := (float64(orig)/wavelen - low) / (high - low)
		smoothed := (1-smooth)*llama/factor + smooth*llama
		if !(wavelen < highWavelen) && !(wavelen > lowWavelen) {
			llama = smoothed
		}
		out[i] = llama
	}
	return out
}

// TestRoPEFrequenciesMatchTranscription compares RoPEFrequencies with transformers' rule
// transcribed on its own, for Llama 3.1 8B (head 128, base 500000, factor 8), Llama 3.2 1B
// (head 64, factor 32) and random settings; the scaled rates never exceed the unscaled ones
// nor fall below them divided by the factor, and decrease with i.
func TestRoPEFrequenciesMatchTranscription(t *testing.T) {
	type setting struct {
		hd   int
		base float64
		s    position.RoPEScaling
	}
	settings := []setting{
		{128, 500000, position.RoPEScaling{Type: position.RoPEScalingLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}},
		{64, 500000, position.RoPEScaling{Type: position.RoPEScalingLlama3, Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}},
		{8, 10000, llama3},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		low := 0.5 + 2*rng.Float64()
		settings = append(settings, setting{2 * (1 + rng.IntN(64)), math.Pow(10, 3+3*rng.Float64()), position.RoPEScaling{
			Type: position.RoPEScalingLlama3, Factor: 1 + 31*rng.Float64(), LowFreqFactor: low,
			HighFreqFactor: low + 0.1 + 8*rng.Float64(), OriginalMaxPositions: 64 + rng.IntN(32768)}})
	}
	bands := [3]int{}
	for _, st := range settings {
		if err := st.s.Validate(); err != nil {
			t.Fatal(err)
		}
		plain := position.RoPEFrequencies(st.hd, st.base, position.RoPEScaling{})
		want := transcribedLlama3(plain, st.s.Factor, st.s.LowFreqFactor, st.s.HighFreqFactor, st.s.OriginalMaxPositions)
		got := position.RoPEFrequencies(st.hd, st.base, st.s)
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-14*want[i] {
				t.Fatalf("%+v head %d base %g: θ_%d = %.17g, transcription %.17g", st.s, st.hd, st.base, i, got[i], want[i])
			}
			if got[i] > plain[i]*(1+1e-15) || got[i] < plain[i]/st.s.Factor*(1-1e-15) {
				t.Fatalf("%+v: θ_%d = %g outside [%g/factor, %g]", st.s, i, got[i], plain[i], plain[i])
			}
			if i > 0 && got[i] >= got[i-1] {
				t.Fatalf("%+v: θ_%d = %g ≥ θ_%d = %g", st.s, i, got[i], i-1, got[i-1])
			}
			switch {
			case got[i] == plain[i]:
				bands[0]++
			case got[i] == plain[i]/st.s.Factor:
				bands[2]++
			default:
				bands[1]++
			}
		}
	}
	if bands[0] == 0 || bands[1] == 0 || bands[2] == 0 {
		t.Errorf("rates kept, blended, divided: %v; want each band visited", bands)
	}
}

// TestRoPEScalingValidate: the scalings that Validate refuses, and those it takes.
func TestRoPEScalingValidate(t *testing.T) {
	linear := position.RoPEScaling{Type: position.RoPEScalingLinear, Factor: 2}
	for _, ok := range []position.RoPEScaling{{}, linear, llama3} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	bad := func(edit func(*position.RoPEScaling), from position.RoPEScaling) position.RoPEScaling {
		edit(&from)
		return from
	}
	for _, tc := range []struct {
		s       position.RoPEScaling
		mention string
	}{
		{position.RoPEScaling{Type: "yarn", Factor: 4}, `"yarn"`},
		{position.RoPEScaling{Factor: 2}, "without a type"},
		{bad(func(s *position.RoPEScaling) { s.Factor = 0.5 }, linear), "factor 0.5"},
		{bad(func(s *position.RoPEScaling) { s.Factor = math.NaN() }, llama3), "factor NaN"},
		{bad(func(s *position.RoPEScaling) { s.OriginalMaxPositions = 8192 }, linear), "linear"},
		{bad(func(s *position.RoPEScaling) { s.HighFreqFactor = 1 }, llama3), "high_freq_factor 1"},
		{bad(func(s *position.RoPEScaling) { s.LowFreqFactor = 0 }, llama3), "low_freq_factor 0"},
		{bad(func(s *position.RoPEScaling) { s.HighFreqFactor = math.Inf(1) }, llama3), "high_freq_factor +Inf"},
		{bad(func(s *position.RoPEScaling) { s.OriginalMaxPositions = 0 }, llama3), "original context 0"},
	} {
		err := tc.s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%+v: %v, want an error mentioning %q", tc.s, err, tc.mention)
		}
	}
}

// TestRoPEAnglesScaled: the graph's tables are cos and sin of p·float32(θ_i) with the scaled
// rates (float32 angles: tolerance 1e-5 for positions up to 1000).
func TestRoPEAnglesScaled(t *testing.T) {
	const hd, n = 8, 6
	pos := []int32{0, 1, 7, 100, 513, 1000}
	freqs := position.RoPEFrequencies(hd, 10000, llama3)
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		out, err := graph.CallOnceN(backend, func(p *graph.Node) []*graph.Node {
			cos, sin := position.RoPEAnglesScaled(p, hd, 10000, llama3)
			return []*graph.Node{cos, sin}
		}, tensors.FromFlatDataAndDimensions(pos, n))
		if err != nil {
			t.Fatal(err)
		}
		cos, sin := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
		for k, p := range pos {
			for i, f := range freqs {
				a := float64(p) * float64(float32(f))
				if math.Abs(float64(cos[k*hd/2+i])-math.Cos(a)) > 1e-5 || math.Abs(float64(sin[k*hd/2+i])-math.Sin(a)) > 1e-5 {
					t.Fatalf("position %d pair %d: (%g, %g), want cos, sin of %g", p, i, cos[k*hd/2+i], sin[k*hd/2+i], a)
				}
			}
		}
	})
}
