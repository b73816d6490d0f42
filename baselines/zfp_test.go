package baselines

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ZFP's tests run wherever the package's tests run: CI installs python3-zfpy through
// scripts/install-deps.sh, and a machine without it fails with the install hint.

func TestZFPToleranceBound(t *testing.T) {
	shape := []int{6, 20, 30}
	x := smoothField(shape[0], shape[1], shape[2])
	tolerances := []float64{0.01, 0.1, 1}
	for _, perSlice := range []bool{false, true} {
		results, err := ZFPCompress(x, shape, tolerances, perSlice)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != len(tolerances) {
			t.Fatalf("%d results for %d tolerances", len(results), len(tolerances))
		}
		for i, r := range results {
			if r.Tolerance != tolerances[i] || len(r.Recon) != len(x) {
				t.Fatalf("result %d: tolerance %v, %d values", i, r.Tolerance, len(r.Recon))
			}
			maxErr := 0.0
			for j, v := range x {
				maxErr = max(maxErr, math.Abs(float64(r.Recon[j])-float64(v)))
			}
			if maxErr > r.Tolerance || maxErr == 0 {
				t.Errorf("per slice %v, tolerance %v: max error %g, want in (0, tolerance]", perSlice, r.Tolerance, maxErr)
			}
			if i > 0 && r.Bytes >= results[i-1].Bytes {
				t.Errorf("per slice %v: tolerance %v takes %d bytes, %v took %d: want fewer", perSlice, r.Tolerance, r.Bytes, results[i-1].Tolerance, results[i-1].Bytes)
			}
			if r.EncodeSeconds <= 0 || r.DecodeSeconds <= 0 {
				t.Errorf("times %v %v", r.EncodeSeconds, r.DecodeSeconds)
			}
		}
	}
	points, err := ZFP(x, shape, tolerances[1:2])
	if err != nil {
		t.Fatal(err)
	}
	if p := points[0]; p.Method != MethodZFP || p.Setting != "tolerance=0.1" || p.Errors.MaxAbs > 0.1 || p.Errors.LatRMSE != p.Errors.RMSE || p.Errors.N != len(x) {
		t.Errorf("ZFP point %+v", p)
	}
}

func TestZFPRefuses(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6}
	for _, c := range []struct {
		name       string
		x          []float32
		shape      []int
		tolerances []float64
		perSlice   bool
	}{
		{"shape", x, []int{2, 2}, []float64{1}, false},
		{"rank 5", x, []int{1, 1, 1, 2, 3}, []float64{1}, false},
		{"1-D per slice", x, []int{6}, []float64{1}, true},
		{"zero tolerance", x, []int{2, 3}, []float64{0}, false},
		{"NaN", []float32{1, float32(math.NaN())}, []int{2}, []float64{1}, false},
	} {
		if _, err := ZFPCompress(c.x, c.shape, c.tolerances, c.perSlice); err == nil {
			t.Errorf("%s accepted", c.name)
		}
	}
}

func TestZFPMissingSaysHowToInstall(t *testing.T) {
	saved := Python
	defer func() { Python = saved }()
	// A Python that is not there, and one that cannot import zfpy (zfp.py's exit status 3).
	noZFPy := filepath.Join(t.TempDir(), "python3")
	if err := os.WriteFile(noZFPy, []byte("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'zfpy'\" >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, python := range []string{filepath.Join(t.TempDir(), "missing"), noZFPy} {
		Python = python
		_, err := ZFP([]float32{1, 2, 3, 4}, []int{2, 2}, []float64{0.5})
		if err == nil || !strings.Contains(err.Error(), "apt-get install python3-zfpy") {
			t.Errorf("Python %s: error %v, want the install hint", python, err)
		}
		if err := ZFPAvailable(); err == nil || !strings.Contains(err.Error(), "apt-get install python3-zfpy") {
			t.Errorf("ZFPAvailable with %s: %v", python, err)
		}
	}
	Python = saved
	if err := ZFPAvailable(); err != nil {
		t.Errorf("ZFPAvailable: %v", err)
	}
}
