package framework

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

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
		return 0, nil, fmt.Errorf("framework: %s: %w", path, err)
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

// FileSHA256 returns the hex SHA-256 of the file at path; for a run directory, of its latest
// checkpoint. It identifies pretrained files and trained weights (e.g. in a compressed
// file's header).
func FileSHA256(path string) (string, error) {
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
