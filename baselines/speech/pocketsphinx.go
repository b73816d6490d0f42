package speech

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/wav"
)

// RecognizerRate is the sample rate (Hz) of pocketsphinx's en-us acoustic model; [Transcribe]
// resamples to it.
const RecognizerRate = 16000

// Transcribe returns pocketsphinx's hypothesis for x (mono, rate Hz): the words, lower case,
// separated by single spaces (the hypotheses of the utterances its voice activity detector
// finds, joined). It runs Debian's pocketsphinx_continuous (CMU Sphinx 5prealpha) with its
// default en-us acoustic model, dictionary and trigram language model
// (/usr/share/pocketsphinx/model/en-us, package pocketsphinx-en-us) on a 16 kHz 16-bit WAV
// file. Decoding is deterministic: equal inputs give equal hypotheses. Score it with
// metrics.WordErrors. Errors: a missing tool (apt-get install pocketsphinx
// pocketsphinx-en-us) or its failure.
func Transcribe(x []float32, rate int) (string, error) {
	tool, err := lookTool("pocketsphinx_continuous", "pocketsphinx pocketsphinx-en-us")
	if err != nil {
		return "", err
	}
	x16, err := dsp.Resample(x, rate, RecognizerRate)
	if err != nil {
		return "", fmt.Errorf("speech: transcribe: %w", err)
	}
	dir, err := os.MkdirTemp("", "qzoo-sphinx-")
	if err != nil {
		return "", fmt.Errorf("speech: transcribe: %w", err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "in.wav")
	if err := wav.Write(in, &wav.Audio{SampleRate: RecognizerRate, Samples: [][]float32{x16}}); err != nil {
		return "", fmt.Errorf("speech: transcribe: %w", err)
	}
	out, _, err := runTool(tool, "-infile", in, "-logfn", os.DevNull)
	if err != nil {
		return "", err
	}
	return strings.Join(strings.Fields(string(out)), " "), nil
}
