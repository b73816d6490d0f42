package asr

import (
	"context"
	"fmt"

	"github.com/qzoo/qzoo/baselines/speech"
	corpus "github.com/qzoo/qzoo/datasets/speech"
	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/metrics"
)

// Scorer is a trained recognizer as a phoneme scorer of baselines/speech's studies (the speech
// tokenizer's teacher scoring every reconstruction): its greedy
// transcription of a clip against espeak-ng's phonemes of the clip's words (datasets/speech's
// G2P, the inventory the teacher was trained on).
type Scorer struct {
	r        *Recognizer
	phonemes map[string][]int32 // by transcript
}

// OpenScorer opens the recognizer run in dir (its latest checkpoint). Close it when done.
func OpenScorer(dir string) (*Scorer, error) {
	cfg, store, _, err := framework.LoadRun(dir)
	if err != nil {
		return nil, err
	}
	if cfg.Model != "asr" {
		return nil, fmt.Errorf("%s: a run of %q, not of the recognizer asr", dir, cfg.Model)
	}
	backend, _, err := framework.NewBackend()
	if err != nil {
		return nil, err
	}
	r, err := NewRecognizer(backend, store, cfg.Params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &Scorer{r: r, phonemes: map[string][]int32{}}, nil
}

// Close releases the recognizer's graph.
func (t *Scorer) Close() { t.r.Close() }

// PhonemeErrors implements speech.PhonemeScorer: the recognizer's errors on audio (at the clip's
// rate) against espeak-ng's phonemes of the clip's transcript; false for a clip without one.
func (t *Scorer) PhonemeErrors(clip speech.Clip, audio []float32) (metrics.EditCounts, bool, error) {
	if clip.Transcript == "" {
		return metrics.EditCounts{}, false, nil
	}
	ref, ok := t.phonemes[clip.Transcript]
	if !ok {
		p, err := corpus.G2P(context.Background(), clip.Transcript)
		if err != nil {
			return metrics.EditCounts{}, false, err
		}
		if ref, err = corpus.LabelIDs(p); err != nil {
			return metrics.EditCounts{}, false, err
		}
		t.phonemes[clip.Transcript] = ref
	}
	if clip.Rate != SampleRate {
		var err error
		if audio, err = dsp.Resample(audio, clip.Rate, SampleRate); err != nil {
			return metrics.EditCounts{}, false, err
		}
	}
	hyp, err := t.r.Recognize(audio)
	if err != nil {
		return metrics.EditCounts{}, false, err
	}
	return metrics.Align(ref, hyp), true, nil
}
