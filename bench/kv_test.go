package main

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/kvcache"
	"github.com/qzoo/qzoo/models/llama"
)

// TestKVCases: the default cases are the reference then DefaultKVCases read from configs/kv,
// named by method and bits, each valid for stories260K and holding its config's settings.
func TestKVCases(t *testing.T) {
	cases, err := selectKVCases("")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 1+len(DefaultKVCases) || !cases[0].Peer() || cases[0].Name != KVPeerCase {
		t.Fatalf("cases %+v, want the reference %q then the %d default configs", cases, KVPeerCase, len(DefaultKVCases))
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.Name)
	}
	if want := []string{KVPeerCase, "fp32", "kivi4", "kivi4-strict", "kvquant3", "rotation3", "vq2", "rvq2"}; !slices.Equal(names, want) {
		t.Errorf("case names %v, want %v (BENCHMARKS.md's rows)", names, want)
	}
	shape := llama.KVShape(llama.Stories260K)
	for _, c := range cases[1:] {
		if err := c.Config.Validate(shape); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
		if !strings.HasPrefix(c.Description(), KVConfigDir+"/") {
			t.Errorf("%s: description %q does not name its config", c.Name, c.Description())
		}
	}
	byName := func(name string) kvcache.Config {
		i := slices.IndexFunc(cases, func(c KVCase) bool { return c.Name == name })
		if i < 0 {
			t.Fatalf("no case %q", name)
		}
		return cases[i].Config
	}
	if c := byName("kivi4"); c.Method != kvcache.MethodKIVI || c.KeyBits != 4 || c.ValueBits != 4 || c.Residual != 32 || c.KeyGroup != 32 || c.Group != 32 {
		t.Errorf("kivi4 = %+v", c)
	}
	if c := byName("kivi4-strict"); c.Residual != 0 || c.KeyBits != 4 {
		t.Errorf("kivi4-strict = %+v", c)
	}
	if c := byName("kvquant3"); !c.KeyPerChannel || !c.PreRoPE || !c.NonUniform || c.Outliers != 0.01 || c.Sink != 1 || !c.QNorm || c.KeyBits != 3 {
		t.Errorf("kvquant3 = %+v", c)
	}
	if c := byName("rvq2"); c.Method != kvcache.MethodRVQ || c.KeyBits != 2 || c.CodebookBits != 8 {
		t.Errorf("rvq2 = %+v", c)
	}
}

func TestSelectKVCases(t *testing.T) {
	got, err := selectKVCases("rvq2, fp32, simvq, rvq")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
	}
	if want := []string{KVPeerCase, "rvq2", "fp32", "simvq2"}; !slices.Equal(names, want) {
		t.Errorf("cases %v, want %v (the reference first, then the list's, a config file name read, a case named twice once)", names, want)
	}
	if _, err := selectKVCases("fp32,nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("an unknown case: %v", err)
	}
}

// TestKVRatios: each round's ratio is against the reference of the same backend in the same
// round, and the statistic is their median.
func TestKVRatios(t *testing.T) {
	rows := []harness.Result{
		{Case: KVPeerCase, Spec: "go"}, {Case: "fp32", Spec: "go"},
		{Case: KVPeerCase, Spec: "onnx"}, {Case: "fp32", Spec: "onnx"},
	}
	rates := [][]float64{{100, 200, 400}, {50, 300, 200}, {1000, 1000, 500}, {500, 700, 100}}
	for round := range 3 {
		for i := range rows {
			rows[i].AddRound(rates[i][round], 0)
		}
		kvRatios(rows, round)
	}
	for i, want := range []struct{ rate, ratio float64 }{{200, 1}, {200, 0.5}, {1000, 1}, {500, 0.5}} {
		if m := rows[i]; !near(m.Value.Median, want.rate) || m.Ratio == nil || !near(m.Ratio.Median, want.ratio) {
			t.Errorf("%s on %s: %+v, want %g tokens/s and ratio %g", m.Case, m.Spec, m, want.rate, want.ratio)
		}
	}
	if got := rows[1].Ratio.Rounds; !slices.Equal(got, []float64{0.5, 1.5, 0.5}) {
		t.Errorf("round ratios %v, want [0.5 1.5 0.5] (each round against the reference's same round)", got)
	}
}

// TestKVEndToEnd runs the cache benchmark at a small size on the Go backend: the fp32 host
// cache must generate the generator's greedy tokens, and the caches' sizes must be theirs.
func TestKVEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs stories260K with three caches, one calibrated (~15 s on 2 cores)")
	}
	o := Options{Rounds: 2, Threads: runtime.NumCPU(), Backends: framework.GoBackend, DataDir: sharedDataDir,
		GenTokens: 40, KVCases: "fp32,kivi4-strict,rotation3", KVCalibrationWindows: 1, JSONPath: t.TempDir() + "/kv.json"}
	report, err := RunKV(o, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Results) != 4 {
		t.Fatalf("%d rows, want 4", len(report.Results))
	}
	values := KVCapacity * llama.Stories260K.Layers * 2 * llama.Stories260K.KVDim()
	for _, m := range report.Results {
		d := m.Details.(*KVDetails)
		if len(m.Value.Rounds) != 2 || !(m.Value.Median > 0) || m.Ratio == nil || !(m.Ratio.Median > 0) || !(d.CPUMsPerToken.Median > 0) {
			t.Errorf("%s: %+v, want 2 rounds with positive speeds and ratios", m.Case, m)
		}
		if len(d.Tokens) != o.GenTokens {
			t.Errorf("%s: %d tokens, want %d", m.Case, len(d.Tokens), o.GenTokens)
		}
		switch m.Case {
		case KVPeerCase, "fp32":
			if d.Bytes != 4*values || d.BitsPerValue != 32 {
				t.Errorf("%s: %d bytes, %g bits per value, want %d and 32", m.Case, d.Bytes, d.BitsPerValue, 4*values)
			}
			if d.Agree != o.GenTokens {
				t.Errorf("%s: agrees with the generator on %d tokens of %d", m.Case, d.Agree, o.GenTokens)
			}
		default:
			if !(d.BitsPerValue > 3 && d.BitsPerValue < 6) {
				t.Errorf("%s: %g bits per value", m.Case, d.BitsPerValue)
			}
		}
	}
	var b strings.Builder
	PrintKVReport(&b, report)
	if !strings.Contains(b.String(), "× generator") {
		t.Errorf("report lacks its table:\n%s", b.String())
	}
}
