package main

import (
	"math"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qzoo/qzoo/quant"
)

const python = "/usr/bin/python3"

// peerMissing reports whether /usr/bin/python3 lacks torch, in which case the tests measure
// the Go side only.
func peerMissing(t *testing.T) bool {
	if exec.Command(python, "-c", "import torch").Run() != nil {
		t.Logf("%s has no torch: PyTorch peer not checked", python)
		return true
	}
	return false
}

func TestParseShapes(t *testing.T) {
	got, err := ParseShapes("4096x4096, 64x172")
	if err != nil || !slices.Equal(got, [][2]int{{4096, 4096}, {64, 172}}) {
		t.Errorf("ParseShapes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "64", "64x", "0x3", "3x-1", "64x172,", "1073741824x2"} {
		if _, err := ParseShapes(bad); err == nil {
			t.Errorf("-shapes %q accepted", bad)
		}
	}
}

func TestPeerSpecs(t *testing.T) {
	got, err := PeerSpecs(Specs)
	if err != nil {
		t.Fatal(err)
	}
	want := []PeerSpec{
		{Name: "rtn-w4-g64-asym", Method: "rtn", Bits: 4, Group: 64},
		{Name: "rtn-w8-row-asym", Method: "rtn", Bits: 8, Group: 0},
		{Name: "nf4-w4-g64", Method: "nf4", Bits: 4, Group: 64},
		{Name: "nf4-w4-g64+dq", Method: "nf4", Bits: 4, Group: 64, DoubleQuant: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("PeerSpecs = %+v, want %+v", got, want)
	}
	for _, s := range []quant.Spec{
		{Method: "rtn", Bits: 3}, {Method: "rtn", Bits: 4, Symmetric: true}, {Method: "squeezellm", Bits: 4},
		{Method: "nf4", Hadamard: true}, {Method: "rtn", Bits: 4, OutlierFraction: 0.01},
	} {
		if _, err := PeerSpecs([]quant.Spec{s}); err == nil {
			t.Errorf("spec %s has no peer but was accepted", s)
		}
	}
}

func TestParsePeerOutput(t *testing.T) {
	out := []byte("warning: x\n{\"results\": [{\"spec\": \"a\"}]}\n{\"results\": [{\"spec\": \"b\"}], \"threads\": 2}\n")
	got, err := ParsePeerOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	if got["threads"] != 2.0 {
		t.Errorf("got %v, want the last JSON line", got)
	}
	for _, bad := range []string{"", "Traceback ...\n", `{"results": []}`, `{"threads": 2}`} {
		if _, err := ParsePeerOutput([]byte(bad)); err == nil {
			t.Errorf("output %q accepted", bad)
		}
	}
}

func TestTorchEnv(t *testing.T) {
	env := torchEnv([]string{"PATH=/bin", "OMP_NUM_THREADS=16", "MALLOC_ARENA_MAX=2"}, 2, true)
	want := append([]string{"PATH=/bin"}, keepMemoryEnv...)
	if want = append(want, "OMP_NUM_THREADS=2"); !slices.Equal(env, want) {
		t.Errorf("torchEnv = %v, want %v", env, want)
	}
	env = torchEnv([]string{"PATH=/bin", "MALLOC_ARENA_MAX=2"}, 1, false)
	if want := []string{"PATH=/bin", "MALLOC_ARENA_MAX=2", "OMP_NUM_THREADS=1"}; !slices.Equal(env, want) {
		t.Errorf("without keepMemory torchEnv = %v, want %v", env, want)
	}
}

// TestTinyRun runs the whole command on small matrices (a ragged last group, an odd number of
// 4-bit codes) for one short round; with the peer, its exact precision must reproduce qzoo's
// stored form byte for byte and its dequantized weights bit for bit.
func TestTinyRun(t *testing.T) {
	noTorch := peerMissing(t)
	o := Options{Shapes: "48x100,7x9", Rounds: 1, Threads: runtime.NumCPU(), Warmup: 0,
		MinTime: time.Millisecond, Seed: 1, Std: 0.02, Python: python, TorchKeepMemory: true,
		NoTorch: noTorch, JSONPath: filepath.Join(t.TempDir(), "report.json")}
	report, err := Run(o, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	PrintReport(&out, report)
	t.Log(out.String())
	if len(report.Results) != 2*len(Specs) {
		t.Fatalf("%d results, want %d", len(report.Results), 2*len(Specs))
	}
	for _, r := range report.Results {
		if !(r.Quantize.Go.Seconds > 0) || !(r.Dequantize.Go.Seconds > 0) {
			t.Errorf("%d×%d %s: Go timings %+v %+v, want positive", r.Rows, r.Cols, r.Spec, r.Quantize.Go, r.Dequantize.Go)
		}
		if noTorch {
			continue
		}
		for _, p := range precisions {
			if !(r.Quantize.Torch[p].Seconds > 0) || !(r.Dequantize.Torch[p].Seconds > 0) {
				t.Errorf("%d×%d %s: PyTorch %s timings missing", r.Rows, r.Cols, r.Spec, p)
			}
		}
		if len(r.Checks) != len(precisions) {
			t.Fatalf("%d×%d %s: %d checks, want %d", r.Rows, r.Cols, r.Spec, len(r.Checks), len(precisions))
		}
		for _, c := range r.Checks {
			exact := c.Precision == PrecisionExact
			if exact && (c.BytesDiffer != 0 || c.MaxAbsDiff != 0) || !(c.MaxAbsDiff <= 1e-3*c.MaxAbsWeight) {
				t.Errorf("%d×%d %s: the %s peer differs: %+v", r.Rows, r.Cols, r.Spec, c.Precision, c)
			}
		}
	}
}

// TestPeerEdgeCases checks the peer on the groups that take special paths in quant: all zero,
// all positive, all negative, below fp16's smallest scale, and rows with a short last group.
func TestPeerEdgeCases(t *testing.T) {
	if peerMissing(t) {
		return
	}
	const rows, cols = 6, 130
	w := Weights(rows*cols, 0.02, 7)
	for j := range cols {
		w[0*cols+j] = 0
		w[1*cols+j] = float32(math.Abs(float64(w[1*cols+j])))
		w[2*cols+j] = -float32(math.Abs(float64(w[2*cols+j])))
		w[3*cols+j] *= 1e-7
	}
	m := matrix{rows: rows, cols: cols, w: w, path: filepath.Join(t.TempDir(), "w.f32")}
	if err := writeFloat32(m.path, w); err != nil {
		t.Fatal(err)
	}
	dump := t.TempDir()
	o := Options{Threads: 1, MinTime: 0, Python: python, TorchKeepMemory: true}
	if _, err := MeasurePyTorch(o, m, dump); err != nil {
		t.Fatal(err)
	}
	for _, spec := range Specs {
		q, err := quant.Quantize(w, rows, cols, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		checks, err := Compare(q, filepath.Join(dump, spec.String()))
		if err != nil {
			t.Fatal(err)
		}
		if c := checks[0]; c.BytesDiffer != 0 || c.WeightsDiffer != 0 {
			t.Errorf("%s: the exact peer differs from qzoo: %+v", spec, c)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
