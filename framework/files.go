package framework

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/qzoo/qzoo/internal/strictjson"

	"github.com/qzoo/qzoo/formats/hf"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/internal/atomicfile"
)

// evalRecord is the content of an eval.json file.
type evalRecord struct {
	Step    int64               `json:"step"`
	Metrics map[string]*float64 `json:"metrics"`
}

// WriteEval writes the evaluation of a checkpoint at step as JSON to path, atomically.
func WriteEval(path string, step int64, metrics map[string]float64) error {
	// JSON has no NaN: a non-finite metric is written as null (as in metrics.jsonl), and
	// ReadEval reads it back as NaN.
	rec, _ := finiteRecord(map[string]any{"step": step, "metrics": metrics})
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("framework: evaluation for %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("framework: write %s: %w", path, err)
	}
	return nil
}

// ReadEval reads an evaluation written by WriteEval.
func ReadEval(path string) (step int64, metrics map[string]float64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, fmt.Errorf("framework: %w", err)
	}
	var rec evalRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return 0, nil, fmt.Errorf("framework: %s: %w", path, strictjson.Describe(data, err))
	}
	if rec.Metrics == nil {
		return 0, nil, fmt.Errorf("framework: %s: no \"metrics\"", path)
	}
	metrics = make(map[string]float64, len(rec.Metrics))
	for k, v := range rec.Metrics {
		metrics[k] = math.NaN()
		if v != nil {
			metrics[k] = *v
		}
	}
	return rec.Step, metrics, nil
}

// samplesRecord is the content of an eval_samples.json file.
type samplesRecord struct {
	Step    int64                 `json:"step"`
	Split   string                `json:"split"`
	Samples map[string][]*float64 `json:"samples"`
}

// EvalSamplesPath is where the per-example samples of the evaluation written at evalPath go:
// beside it, "_samples" before its extension (eval.json → eval_samples.json, [EvalSamplesFile]).
func EvalSamplesPath(evalPath string) string {
	ext := filepath.Ext(evalPath)
	return strings.TrimSuffix(evalPath, ext) + "_samples" + ext
}

// WriteEvalSamples writes the per-example samples of the evaluation of a checkpoint at step on
// split as JSON to path, atomically (a non-finite value as null, read back as NaN). With no
// samples it removes the file at path, so that an evaluation that records none never leaves an
// older evaluation's samples beside its eval.json.
func WriteEvalSamples(path string, step int64, split string, samples map[string][]float64) error {
	if len(samples) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("framework: remove stale %s: %w", path, err)
		}
		return nil
	}
	rec := samplesRecord{Step: step, Split: split, Samples: map[string][]*float64{}}
	for name, values := range samples {
		out := make([]*float64, len(values))
		for i := range values {
			if !math.IsNaN(values[i]) && !math.IsInf(values[i], 0) {
				out[i] = &values[i]
			}
		}
		rec.Samples[name] = out
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("framework: samples for %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("framework: write %s: %w", path, err)
	}
	return nil
}

// ReadEvalSamples reads samples written by WriteEvalSamples: the step and split they were
// evaluated at, and the values by name. A missing file is an error wrapping fs.ErrNotExist.
func ReadEvalSamples(path string) (step int64, split string, samples map[string][]float64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, "", nil, fmt.Errorf("framework: %w", err)
	}
	var rec samplesRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return 0, "", nil, fmt.Errorf("framework: %s: %w", path, strictjson.Describe(data, err))
	}
	if rec.Samples == nil {
		return 0, "", nil, fmt.Errorf("framework: %s: no \"samples\"", path)
	}
	samples = make(map[string][]float64, len(rec.Samples))
	for name, values := range rec.Samples {
		out := make([]float64, len(values))
		for i, v := range values {
			out[i] = math.NaN()
			if v != nil {
				out[i] = *v
			}
		}
		samples[name] = out
	}
	return rec.Step, rec.Split, samples, nil
}

// FileSHA256 returns the hex SHA-256 of the file at path; for a run directory, of its latest
// checkpoint; for a Hugging Face model directory (formats/hf), of its files in name order
// (each name, a NUL byte, then its content). It identifies pretrained files and trained
// weights (e.g. in a compressed file's header).
func FileSHA256(path string) (string, error) {
	if hf.IsModelDir(path) {
		return dirSHA256(path)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		// A run directory: its latest checkpoint stands for it.
		latest, _, err := checkpoint.Latest(path)
		if err != nil {
			return "", fmt.Errorf("%s is neither a file nor a run directory: %w", path, err)
		}
		path = latest
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// dirSHA256 hashes the regular files of dir, in name order: name, NUL, content.
func dirSHA256(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, e := range entries { // ReadDir sorts by name
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		h.Write(append([]byte(e.Name()), 0))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", filepath.Join(dir, e.Name()), err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
