// Package audio builds spectra of audio inside the graph: the log-mel spectrogram of a batch
// of waveforms (a recognizer's front end, a codec's reconstruction loss) and the multi-scale
// mel distance between two batches (the reconstruction loss of neural codecs: DAC, EnCodec,
// LM-SPT's multi-scale mel loss).
//
// GoMLX's pure-Go backend has no FFT op (and no complex dtype), so the DFT is a fixed matrix
// product: the frames [B, F, NFFT] times a constant [NFFT, 2·bins] kernel holding the window
// times cos and sin of 2πki/NFFT. That costs O(NFFT) per bin rather than O(log NFFT), but runs
// on every backend with exact gradients, and on two cores it stays below the convolutions of
// a codec for the FFT sizes a 16 kHz codec uses (≤ 1024). The definitions (framing, window,
// mel filterbank, log floor) are package dsp's, which computes the same spectra on the host;
// the tests hold the two to agreement.
//
// Framing uses no strided op (the ONNX backend cannot differentiate strided slices): the
// padded signal is reshaped into rows of Hop samples, and frame f is rows f..f+⌈NFFT/Hop⌉−1
// concatenated and cut to NFFT samples.
package audio

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/dsp"
)

// Frames cuts x [B, S] into the STFT's frames [B, F, NFFT], F = s.NumFrames(S), with the
// padding of s (dsp.STFT). It panics (a graph-building error) if s is invalid or S is shorter
// than one frame.
func Frames(x *graph.Node, s dsp.STFT) *graph.Node {
	if err := s.Validate(); err != nil {
		exceptions.Panicf("audio.Frames: %v", err)
	}
	if x.Rank() != 2 {
		exceptions.Panicf("audio.Frames: x must be [batch, samples], got %s", x.Shape())
	}
	batch, samples := x.Shape().Dim(0), x.Shape().Dim(1)
	frames := s.NumFrames(samples)
	if frames < 1 {
		exceptions.Panicf("audio.Frames: %d samples make no whole frame of %d (pad %d)", samples, s.NFFT, s.Pad())
	}
	per := (s.NFFT + s.Hop - 1) / s.Hop // rows of Hop samples each frame spans
	need := (frames - 1 + per) * s.Hop  // samples the rows must hold
	pad := s.Pad()
	g := x.Graph()
	zeros := func(n int) *graph.Node { return graph.Zeros(g, shapes.Make(x.DType(), batch, n)) }
	parts := []*graph.Node{}
	if pad > 0 {
		parts = append(parts, zeros(pad))
	}
	parts = append(parts, x)
	if tail := need - pad - samples; tail > 0 {
		parts = append(parts, zeros(tail))
	}
	padded := x
	if len(parts) > 1 {
		padded = graph.Concatenate(parts, 1)
	}
	if padded.Shape().Dim(1) > need {
		padded = graph.Slice(padded, graph.AxisRange(), graph.AxisRange(0, need))
	}
	rows := graph.Reshape(padded, batch, need/s.Hop, s.Hop)
	shifted := make([]*graph.Node, per)
	for j := range shifted {
		shifted[j] = graph.Slice(rows, graph.AxisRange(), graph.AxisRange(j, j+frames), graph.AxisRange())
	}
	out := rows
	if per > 1 || frames != need/s.Hop {
		out = graph.Concatenate(shifted, 2)
	}
	if out.Shape().Dim(2) != s.NFFT {
		out = graph.Slice(out, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, s.NFFT))
	}
	return out
}

// dftKernel is the [NFFT, 2·bins] matrix whose first bins columns give Re X[k] and the last
// bins give Im X[k] of a windowed frame: window[i]·cos(2πki/NFFT) and −window[i]·sin(…).
func dftKernel(s dsp.STFT) []float32 {
	bins, win := s.Bins(), s.Window()
	k := make([]float32, s.NFFT*2*bins)
	for i := 0; i < s.NFFT; i++ {
		for b := 0; b < bins; b++ {
			phase := 2 * math.Pi * float64((i*b)%s.NFFT) / float64(s.NFFT)
			k[i*2*bins+b] = float32(float64(win[i]) * math.Cos(phase))
			k[i*2*bins+bins+b] = float32(-float64(win[i]) * math.Sin(phase))
		}
	}
	return k
}

// Power is the power spectrogram |X|² of x [B, S]: [B, F, NFFT/2+1], as dsp.STFT.Power.
func Power(x *graph.Node, s dsp.STFT) *graph.Node {
	frames := Frames(x, s)
	g, bins := x.Graph(), s.Bins()
	kernel := graph.ConvertDType(graph.Reshape(graph.Const(g, dftKernel(s)), s.NFFT, 2*bins), x.DType())
	spec := graph.Einsum("bfn,nk->bfk", frames, kernel)
	re := graph.Slice(spec, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, bins))
	im := graph.Slice(spec, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(bins, 2*bins))
	return graph.Add(graph.Square(re), graph.Square(im))
}

// LogMel is the log-mel spectrogram of x [B, S]: [B, F, m.NMels], ln(max(mel, m.Floor)), as
// dsp.Mel.LogMel computes on the host. It panics (a graph-building error) on invalid fields.
func LogMel(x *graph.Node, m dsp.Mel) *graph.Node {
	fb, err := m.Filterbank()
	if err == nil && !(m.Floor > 0) {
		err = fmt.Errorf("floor must be > 0, got %g", m.Floor)
	}
	if err != nil {
		exceptions.Panicf("audio.LogMel: %v", err)
	}
	g := x.Graph()
	bank := graph.ConvertDType(graph.Reshape(graph.Const(g, fb), m.Bins(), m.NMels), x.DType())
	mel := graph.Einsum("bfk,km->bfm", Power(x, m.STFT), bank)
	return graph.Log(graph.Max(mel, graph.Scalar(g, x.DType(), m.Floor)))
}

// MultiScaleMelDistance is the mean absolute difference of the log-mel spectrograms of x and y
// (both [B, S]) averaged over the given scales: (1/|scales|) Σ_s mean |LogMel_s(x) − LogMel_s(y)|,
// the multi-scale mel reconstruction loss of DAC (Kumar et al. 2023, §3.3) and LM-SPT. A scalar.
func MultiScaleMelDistance(x, y *graph.Node, scales []dsp.Mel) *graph.Node {
	if len(scales) == 0 {
		exceptions.Panicf("audio.MultiScaleMelDistance: no scales")
	}
	var total *graph.Node
	for _, m := range scales {
		d := graph.ReduceAllMean(graph.Abs(graph.Sub(LogMel(x, m), LogMel(y, m))))
		if total == nil {
			total = d
		} else {
			total = graph.Add(total, d)
		}
	}
	return graph.DivScalar(total, float64(len(scales)))
}
