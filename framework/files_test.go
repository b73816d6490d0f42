package framework

import (
	"errors"
	"io/fs"
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

// The samples round-trip with a non-finite value as null; writing none removes an older file.
func TestEvalSamplesFile(t *testing.T) {
	evalPath := filepath.Join(t.TempDir(), EvalFile)
	path := EvalSamplesPath(evalPath)
	if filepath.Base(path) != EvalSamplesFile || filepath.Dir(path) != filepath.Dir(evalPath) {
		t.Fatalf("EvalSamplesPath(%s) = %s", evalPath, path)
	}
	in := map[string][]float64{"nll": {1.5, math.Inf(1), 2}, "tokens": {64, 64, 64}}
	if err := WriteEvalSamples(path, 9, "test", in); err != nil {
		t.Fatal(err)
	}
	step, split, samples, err := ReadEvalSamples(path)
	if err != nil || step != 9 || split != "test" || len(samples) != 2 {
		t.Fatalf("ReadEvalSamples = %d %q %v %v", step, split, samples, err)
	}
	if nll := samples["nll"]; len(nll) != 3 || nll[0] != 1.5 || !math.IsNaN(nll[1]) || nll[2] != 2 || samples["tokens"][2] != 64 {
		t.Errorf("read back %v", samples)
	}
	if err := WriteEvalSamples(path, 10, "test", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := ReadEvalSamples(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after an evaluation without samples: %v, want the file gone", err)
	}
	if err := WriteEvalSamples(path, 10, "test", nil); err != nil {
		t.Errorf("removing a missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"step": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := ReadEvalSamples(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("samples file without samples: %v", err)
	}
}

func TestRecordSamplesRefusesBadInput(t *testing.T) {
	ctx := &EvalContext{}
	if err := ctx.RecordSamples("nll", []float64{1, 2}); err != nil {
		t.Fatal(err)
	}
	for name, values := range map[string][]float64{"": {1}, "nll": {3}, "empty": nil} {
		if err := ctx.RecordSamples(name, values); err == nil {
			t.Errorf("RecordSamples(%q, %v): no error", name, values)
		}
	}
}

// A Hugging Face model directory is identified by all its files: the same files give the same
// sum, a changed shard another; a directory that is neither run nor model is an error.
func TestFileSHA256ModelDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("config.json", `{"architectures": ["LlamaForCausalLM"]}`)
	write("model.safetensors", "weights")
	a, err := FileSHA256(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := FileSHA256(dir); b != a {
		t.Errorf("two sums of the same directory: %s, %s", a, b)
	}
	write("model.safetensors", "weightz")
	if c, _ := FileSHA256(dir); c == a {
		t.Error("a changed shard left the sum as it was")
	}
	if _, err := FileSHA256(t.TempDir()); err == nil {
		t.Error("an empty directory has a sum")
	}
}
