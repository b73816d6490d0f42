package framework

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvalFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), EvalFile)
	if err := WriteEval(path, 42, map[string]float64{"psnr": 20.5}); err != nil {
		t.Fatal(err)
	}
	step, metrics, err := ReadEval(path)
	if err != nil || step != 42 || metrics["psnr"] != 20.5 {
		t.Errorf("ReadEval = %d %v %v", step, metrics, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", info.Mode(), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	bad := filepath.Join(t.TempDir(), EvalFile)
	if err := os.WriteFile(bad, []byte(`{"step": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadEval(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("eval file without metrics: %v", err)
	}
}

// A non-finite metric is written as null (JSON has no NaN) and read back as NaN.
func TestEvalFileNonFinite(t *testing.T) {
	path := filepath.Join(t.TempDir(), EvalFile)
	if err := WriteEval(path, 7, map[string]float64{"psnr": math.Inf(1), "mse": math.NaN(), "utilization": 0.5}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Count(string(data), "null") != 2 {
		t.Errorf("eval.json %s: want the two non-finite metrics as null", data)
	}
	step, metrics, err := ReadEval(path)
	if err != nil || step != 7 || !math.IsNaN(metrics["psnr"]) || !math.IsNaN(metrics["mse"]) || metrics["utilization"] != 0.5 {
		t.Errorf("ReadEval = %d %v %v", step, metrics, err)
	}
}
