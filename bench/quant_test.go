package main

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/quant"
)

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
		{Name: "float-w4-e2m1-g64", Method: "float", Bits: 4, Group: 64, Exponent: 2},
		{Name: "float-w8-e4m3-g64", Method: "float", Bits: 8, Group: 64, Exponent: 4},
		{Name: "nf-w3-g64", Method: "nf", Bits: 3, Group: 64, Levels: quant.NFLevels(3)},
		{Name: "squeezellm-w4-row", Method: "squeezellm", Bits: 4},
	}
	if !slices.EqualFunc(got, want, func(a, b PeerSpec) bool {
		return slices.Equal(a.Levels, b.Levels) && a.Name == b.Name && a.Method == b.Method && a.Bits == b.Bits &&
			a.Group == b.Group && a.DoubleQuant == b.DoubleQuant && a.Exponent == b.Exponent && a.Rows == b.Rows
	}) {
		t.Errorf("PeerSpecs = %+v, want %+v", got, want)
	}
	for _, s := range []quant.Spec{
		{Method: "rtn", Bits: 3}, {Method: "rtn", Bits: 4, Symmetric: true}, {Method: "squeezellm", Bits: 3}, {Method: "float", Bits: 16},
		{Method: "nf4", Hadamard: true}, {Method: "rtn", Bits: 4, OutlierFraction: 0.01},
	} {
		if _, err := PeerSpecs([]quant.Spec{s}); err == nil {
			t.Errorf("spec %s has no peer but was accepted", s)
		}
	}
}

// TestQuantPeerEnv: the quant peer runs with OMP_NUM_THREADS set to -threads and, keeping
// memory, every inherited MALLOC_ variable replaced by keepMemoryEnv; the rest is inherited.
func TestQuantPeerEnv(t *testing.T) {
	inherited := []string{"PATH=/bin", "OMP_NUM_THREADS=16", "MALLOC_ARENA_MAX=2", "OPENBLAS_CORETYPE=Haswell"}
	env := quantPeer(QuantOptions{Python: python, Threads: 2, TorchKeepMemory: true}).Environ(inherited)
	want := append([]string{"PATH=/bin", "OPENBLAS_CORETYPE=Haswell", "OMP_NUM_THREADS=2"}, keepMemoryEnv...)
	if !slices.Equal(env, want) {
		t.Errorf("environment %v, want %v", env, want)
	}
	env = quantPeer(QuantOptions{Python: python, Threads: 1}).Environ([]string{"PATH=/bin", "MALLOC_ARENA_MAX=2"})
	if want := []string{"PATH=/bin", "MALLOC_ARENA_MAX=2", "OMP_NUM_THREADS=1"}; !slices.Equal(env, want) {
		t.Errorf("without keeping memory: environment %v, want %v", env, want)
	}
}

// TestAddPeerTimings: the peer's timings land on the rows of their spec, operation and
// precision; a result of no spec, or a missing one, is an error.
func TestAddPeerTimings(t *testing.T) {
	rows := map[string]*harness.Result{}
	row := func(spec string, op, side int) *harness.Result {
		key := fmt.Sprint(spec, op, side)
		if rows[key] == nil {
			rows[key] = &harness.Result{Details: &QuantDetails{}}
		}
		return rows[key]
	}
	var results []any
	for _, s := range Specs {
		for _, p := range precisions {
			results = append(results, map[string]any{"spec": s.String(), "precision": p, "quantize_seconds": 0.5,
				"quantize_calls": 3.0, "quantize_faults": 7.0, "dequantize_seconds": 0.25, "dequantize_calls": 4.0})
		}
	}
	if err := addPeerTimings(map[string]any{"results": results}, 1.5, row); err != nil {
		t.Fatal(err)
	}
	exactQ := row(Specs[0].String(), 0, 1)
	if d := exactQ.Details.(*QuantDetails); exactQ.Value.Median != 0.5 || exactQ.LoadAvg[0] != 1.5 || d.Calls[0] != 3 || d.Faults.Median != 7 {
		t.Errorf("exact quantize row %+v %+v", exactQ, d)
	}
	if fp32D := row(Specs[1].String(), 1, 2); fp32D.Value.Median != 0.25 {
		t.Errorf("fp32 dequantize row %+v", fp32D)
	}
	if err := addPeerTimings(map[string]any{"results": results[1:]}, 0, row); err == nil {
		t.Error("a missing timing was accepted")
	}
	bad := map[string]any{"results": []any{map[string]any{"spec": "nope", "precision": PrecisionExact, "quantize_seconds": 1.0, "dequantize_seconds": 1.0}}}
	if err := addPeerTimings(bad, 0, func(string, int, int) *harness.Result { return nil }); err == nil {
		t.Error("a result of an unknown spec was accepted")
	}
}

// TestTinyRun runs the whole command on small matrices (a ragged last group, an odd number of
// 4-bit codes) for one short round; with the peer, its exact precision must reproduce qzoo's
// stored form byte for byte and its dequantized weights bit for bit.
func TestTinyRun(t *testing.T) {
	noTorch := peerMissing(t)
	o := QuantOptions{Shapes: "48x100,7x9", Rounds: 1, Threads: runtime.NumCPU(), Warmup: 0,
		MinTime: time.Millisecond, Seed: 1, Std: 0.02, Python: python, TorchKeepMemory: true, GoReuseOutput: true,
		NoTorch: noTorch, JSONPath: filepath.Join(t.TempDir(), "report.json")}
	report, err := RunQuant(o, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	PrintQuantReport(&out, report)
	t.Log(out.String())
	if want := 2 * len(Specs) * len(quantOps) * quantSides; len(report.Results) != want {
		t.Fatalf("%d results, want %d", len(report.Results), want)
	}
	if !strings.Contains(out.String(), "rtn-w4-g64-asym") || !strings.Contains(out.String(), "dequantize") {
		t.Errorf("the table lacks the first row:\n%s", out.String())
	}
	for _, r := range report.Results {
		d := r.Details.(*QuantDetails)
		if r.Side == harness.SideQzoo && !(r.Value.Median > 0) {
			t.Errorf("%s: Go timings %+v, want positive", r.Case, r.Value)
		}
		if r.Side == harness.SidePeer && !noTorch && !(r.Value.Median > 0) {
			t.Errorf("%s: PyTorch %s timings missing", r.Case, d.Precision)
		}
	}
	if noTorch {
		return
	}
	checks := report.Details.(*QuantSummary).Checks
	if len(checks) != 2*len(Specs)*len(precisions) {
		t.Fatalf("%d checks, want %d", len(checks), 2*len(Specs)*len(precisions))
	}
	for _, c := range checks {
		exact := c.Precision == PrecisionExact && !strings.HasPrefix(c.Spec, quant.MethodSqueezeLLM+"-") // byteIdentical
		if exact && (c.BytesDiffer != 0 || c.MaxAbsDiff != 0) || !(c.MaxAbsDiff <= 1e-3*c.MaxAbsWeight) {
			t.Errorf("%d×%d %s: the %s peer differs: %+v", c.Rows, c.Cols, c.Spec, c.Precision, c)
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
	o := QuantOptions{Threads: 1, MinTime: 0, Python: python, TorchKeepMemory: true}
	if _, err := MeasureQuantPyTorch(o, m, dump); err != nil {
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
		if c := checks[0]; byteIdentical(spec) && (c.BytesDiffer != 0 || c.WeightsDiffer != 0) ||
			!(c.MaxAbsDiff <= 1e-3*c.MaxAbsWeight) {
			t.Errorf("%s: the exact peer differs from qzoo: %+v", spec, c)
		}
	}
}
