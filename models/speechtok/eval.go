package speechtok

import (
	"errors"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/metrics"
)

// Evaluator measures a tokenizer over an evaluation split (framework.Evaluator): the rates of
// its packed token streams, the use of every codebook, and the log-mel distance of its
// reconstructions. Metrics:
//
//	frame_rate_hz              token frames per second, 16000/hop
//	bits_per_second            frame rate · Σ_streams ⌈log₂ K⌉ (every stream, as packed)
//	bits_per_second_semantic   frame rate · ⌈log₂ K_sem⌉ (the semantic stream alone)
//	mel_distance               mean |log-mel(x) − log-mel(x̂)| over the loss's scales, host-computed
//	                           (package dsp), averaged over the examples: the reconstruction
//	                           from every token
//	mel_distance_semantic      the same for the resynthesis from the semantic tokens alone
//	log_mel_distance, log_mel_distance_semantic  metrics.LogMelDistance (1024/256, 80 Slaney
//	                           mels), the definition the codec peers' tables use
//	stoi, stoi_semantic        metrics.STOI (Taal et al. 2011) of each reconstruction, averaged
//	                           over the examples with enough speech for it (30 frames after
//	                           silence removal; stoi_examples counts them)
//	utilization_sem, code_perplexity_sem         the semantic codebook's share of codes used and
//	                                             exp(entropy) of its code histogram (metrics.Usage)
//	utilization_ac_00, code_perplexity_ac_00, …  the same for each acoustic stage
//	utilization, code_perplexity                 their means over all streams
//
// The reconstructions themselves are the model's Predictions[0] and [1] (framework's
// EvalContext.NewPredictExec gives them), for metrics computed elsewhere (STOI, recognizers).
type Evaluator struct {
	geom       Geometry
	histograms [][]int64 // [stream][code]
	// Sums over the examples, [0] of the reconstruction from every token, [1] of the semantic
	// resynthesis.
	sumMel, sumLogMel, sumSTOI [2]float64
	examples, stoiExamples     int
}

// NewEvaluator returns an evaluator for resolved hyperparameters; the error names a key that
// configures no tokenizer.
func NewEvaluator(params map[string]any) (*Evaluator, error) {
	g, err := GeometryOf(params)
	if err != nil {
		return nil, err
	}
	e := &Evaluator{geom: g}
	sizes := []int{g.Semantic.CodebookSize()}
	for range g.Acoustic.Stages() {
		sizes = append(sizes, g.Acoustic.CodebookSize())
	}
	for _, k := range sizes {
		e.histograms = append(e.histograms, make([]int64, k))
	}
	return e, nil
}

// Add accumulates one batch: inputs [waveforms [B, S]], predictions [reconstruction [B, S],
// semantic resynthesis [B, S], codes [B, T, 1+N]].
func (e *Evaluator) Add(inputs, predictions []*tensors.Tensor) error {
	if len(inputs) < 1 || len(predictions) != 3 {
		return fmt.Errorf("speechtok: evaluator wants inputs [waveforms] and predictions [reconstruction, semantic resynthesis, codes], got %d and %d", len(inputs), len(predictions))
	}
	dims := inputs[0].Shape().Dimensions
	if len(dims) != 2 {
		return fmt.Errorf("speechtok: evaluator: waveforms of shape %v, want [batch, samples]", dims)
	}
	batch, samples := dims[0], dims[1]
	x := tensors.MustCopyFlatData[float32](inputs[0])
	for i, p := range predictions[:2] {
		y := tensors.MustCopyFlatData[float32](p)
		if len(y) != len(x) {
			return fmt.Errorf("speechtok: evaluator: prediction %d has %d samples, the waveforms %d", i, len(y), len(x))
		}
		for b := range batch {
			xb, yb := x[b*samples:(b+1)*samples], y[b*samples:(b+1)*samples]
			d, err := MelDistance(xb, yb, e.geom.Mels)
			if err != nil {
				return fmt.Errorf("speechtok: evaluator: %w", err)
			}
			e.sumMel[i] += d
			if d, err = metrics.LogMelDistance(xb, yb, SampleRate); err != nil {
				return fmt.Errorf("speechtok: evaluator: %w", err)
			}
			e.sumLogMel[i] += d
			switch st, err := metrics.STOI(xb, yb, SampleRate); {
			case errors.Is(err, metrics.ErrTooShort):
				// Too little speech in this crop for STOI's 30-frame segments.
			case err != nil:
				return fmt.Errorf("speechtok: evaluator: %w", err)
			default:
				e.sumSTOI[i] += st
				if i == 0 {
					e.stoiExamples++
				}
			}
		}
	}
	codes := tensors.MustCopyFlatData[int32](predictions[2])
	streams := len(e.histograms)
	if len(codes)%streams != 0 {
		return fmt.Errorf("speechtok: evaluator: %d codes are not a multiple of %d streams", len(codes), streams)
	}
	for i, c := range codes {
		h := e.histograms[i%streams]
		if c < 0 || int(c) >= len(h) {
			return fmt.Errorf("speechtok: evaluator: code %d of stream %d out of range [0, %d)", c, i%streams, len(h))
		}
		h[c]++
	}
	e.examples += batch
	return nil
}

// Metrics returns the metrics listed in the type's doc.
func (e *Evaluator) Metrics() map[string]float64 {
	n := float64(max(e.examples, 1))
	m := map[string]float64{
		"frame_rate_hz":             e.geom.FrameRate(),
		"bits_per_second":           e.geom.BitsPerSecond(e.geom.Streams()),
		"bits_per_second_semantic":  e.geom.BitsPerSecond(1),
		"mel_distance":              e.sumMel[0] / n,
		"mel_distance_semantic":     e.sumMel[1] / n,
		"log_mel_distance":          e.sumLogMel[0] / n,
		"log_mel_distance_semantic": e.sumLogMel[1] / n,
		"stoi_examples":             float64(e.stoiExamples),
	}
	if e.stoiExamples > 0 {
		m["stoi"] = e.sumSTOI[0] / float64(e.stoiExamples)
		m["stoi_semantic"] = e.sumSTOI[1] / float64(e.stoiExamples)
	}
	var sumU, sumP float64
	for i, h := range e.histograms {
		u, p := metrics.Usage(h)
		name := "sem"
		if i > 0 {
			name = fmt.Sprintf("ac_%02d", i-1)
		}
		m["utilization_"+name], m["code_perplexity_"+name] = u, p
		sumU, sumP = sumU+u, sumP+p
	}
	m["utilization"] = sumU / float64(len(e.histograms))
	m["code_perplexity"] = sumP / float64(len(e.histograms))
	return m
}

// MelDistance is the multi-scale log-mel distance of two waveforms of equal length on the host:
// (1/|scales|) Σ_s mean |LogMel_s(x) − LogMel_s(y)|, the value layers/audio's
// MultiScaleMelDistance computes in the graph for a batch of one.
func MelDistance(x, y []float32, scales []dsp.Mel) (float64, error) {
	if len(x) != len(y) {
		return 0, fmt.Errorf("mel distance: %d and %d samples", len(x), len(y))
	}
	var total float64
	for _, m := range scales {
		a, _, err := m.LogMel(x)
		if err != nil {
			return 0, err
		}
		b, _, err := m.LogMel(y)
		if err != nil {
			return 0, err
		}
		var sum float64
		for i := range a {
			sum += math.Abs(float64(a[i] - b[i]))
		}
		total += sum / float64(max(len(a), 1))
	}
	return total / float64(len(scales)), nil
}
