package audio_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/audio"
)

func signals(batch, samples int) []float32 {
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, batch*samples)
	for b := range batch {
		for i := range samples {
			t := float64(i) / 16000
			x[b*samples+i] = float32(0.4*math.Sin(2*math.Pi*(300+200*float64(b))*t) + 0.05*rng.NormFloat64())
		}
	}
	return x
}

// TestLogMelMatchesHost holds the graph's spectra to package dsp's, on framings where Hop
// divides NFFT, where it does not (Whisper's 400/160), with and without centring.
func TestLogMelMatchesHost(t *testing.T) {
	const batch, samples = 2, 3000
	x := signals(batch, samples)
	mels := []dsp.Mel{
		{STFT: dsp.STFT{NFFT: 256, Win: 256, Hop: 64, Center: true}, SampleRate: 16000, NMels: 32, FMax: 8000, Scale: dsp.HTK, Floor: 1e-5},
		{STFT: dsp.STFT{NFFT: 400, Win: 400, Hop: 160, Center: true}, SampleRate: 16000, NMels: 80, FMax: 8000, Scale: dsp.Slaney, AreaNorm: true, Floor: 1e-10},
		{STFT: dsp.STFT{NFFT: 512, Win: 300, Hop: 120}, SampleRate: 16000, NMels: 40, FMin: 50, FMax: 7600, Scale: dsp.HTK, Floor: 1e-5},
	}
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		for _, m := range mels {
			exec, err := graph.NewExec(backend, func(x *graph.Node) *graph.Node { return audio.LogMel(x, m) })
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Call(tensors.FromFlatDataAndDimensions(x, batch, samples))
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float32](out[0])
			frames := m.NumFrames(samples)
			if dims := out[0].Shape().Dimensions; dims[0] != batch || dims[1] != frames || dims[2] != m.NMels {
				t.Fatalf("%+v: shape %v, want [%d %d %d]", m.STFT, dims, batch, frames, m.NMels)
			}
			for b := range batch {
				want, _, err := m.LogMel(x[b*samples : (b+1)*samples])
				if err != nil {
					t.Fatal(err)
				}
				var worst float64
				for i, w := range want {
					// Compare where the band holds energy: near the floor, float32 rounding of
					// tiny values moves the log a lot and matters to no loss.
					if w > -6 {
						worst = math.Max(worst, math.Abs(float64(got[b*frames*m.NMels+i]-w)))
					}
				}
				if worst > 2e-3 {
					t.Errorf("%+v batch %d: graph and host log-mel differ by up to %g", m.STFT, b, worst)
				}
			}
			exec.Finalize()
		}
	})
}

func TestMultiScaleMelDistance(t *testing.T) {
	const samples = 4000
	x := signals(1, samples)
	noisy := append([]float32(nil), x...)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range noisy {
		noisy[i] += float32(0.1 * rng.NormFloat64())
	}
	scales := []dsp.Mel{
		{STFT: dsp.STFT{NFFT: 128, Win: 128, Hop: 32, Center: true}, SampleRate: 16000, NMels: 16, FMax: 8000, Floor: 1e-5},
		{STFT: dsp.STFT{NFFT: 512, Win: 512, Hop: 128, Center: true}, SampleRate: 16000, NMels: 64, FMax: 8000, Floor: 1e-5},
	}
	backend := testbackend.Go(t)
	exec, err := graph.NewExec(backend, func(x, y *graph.Node) []*graph.Node {
		d := audio.MultiScaleMelDistance(x, y, scales)
		return []*graph.Node{d, graph.Gradient(d, y)[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	dist := func(y []float32) (float32, []float32) {
		out, err := exec.Call(tensors.FromFlatDataAndDimensions(x, 1, samples), tensors.FromFlatDataAndDimensions(y, 1, samples))
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out[0])[0], tensors.MustCopyFlatData[float32](out[1])
	}
	if d, _ := dist(x); d != 0 {
		t.Errorf("distance of a signal to itself is %g", d)
	}
	d, grad := dist(noisy)
	if !(d > 0.1) {
		t.Errorf("distance to a noisy copy is %g, want > 0.1", d)
	}
	// A small step against the gradient brings the noisy copy closer.
	var norm float64
	for _, v := range grad {
		norm += float64(v) * float64(v)
	}
	step := 0.01 * float32(d) / float32(norm)
	closer := append([]float32(nil), noisy...)
	for i := range closer {
		closer[i] -= step * grad[i]
	}
	if d2, _ := dist(closer); !(d2 < d) {
		t.Errorf("a gradient step moved the distance from %g to %g", d, d2)
	}
}
