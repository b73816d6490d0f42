package main

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/kvcache"
	"github.com/qzoo/qzoo/models/llama"
)

func TestKVCases(t *testing.T) {
	cases := KVCases()
	if len(cases) == 0 || !cases[0].Peer() || cases[0].Name != KVPeerCase {
		t.Fatalf("the first case must be the peer %q: %+v", KVPeerCase, cases)
	}
	shape := llama.KVShape(llama.Stories260K)
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.Name] {
			t.Errorf("case %q listed twice", c.Name)
		}
		seen[c.Name] = true
		if c.Peer() {
			continue
		}
		if err := c.Config.Validate(shape); err != nil {
			t.Errorf("%s: %v", c.Name, err)
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
	got, err := selectKVCases("rvq2, fp32")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
	}
	if want := []string{KVPeerCase, "fp32", "rvq2"}; !slices.Equal(names, want) {
		t.Errorf("cases %v, want %v (the peer first, in KVCases' order)", names, want)
	}
	if all, _ := selectKVCases(""); len(all) != len(KVCases()) {
		t.Errorf("\"\" selected %d cases, want all %d", len(all), len(KVCases()))
	}
	if _, err := selectKVCases("fp32,nope"); err == nil {
		t.Error("an unknown case was accepted")
	}
}

func TestSummarizeKV(t *testing.T) {
	rows := []KVRow{
		{Case: KVPeerCase, Spec: "go", RoundTokensPerSecond: []float64{100, 200, 400}, RoundCPUMsPerToken: []float64{3, 1, 2}},
		{Case: "fp32", Spec: "go", RoundTokensPerSecond: []float64{50, 300, 200}},
		{Case: KVPeerCase, Spec: "onnx", RoundTokensPerSecond: []float64{1000, 1000}},
		{Case: "fp32", Spec: "onnx", RoundTokensPerSecond: []float64{500, 700}},
	}
	summarizeKV(rows)
	for i, want := range []struct{ rate, ratio float64 }{{200, 1}, {200, 0.5}, {1000, 1}, {600, 0.6}} {
		if m := rows[i]; !near(m.TokensPerSecond, want.rate) || !near(m.RatioVsPeer, want.ratio) {
			t.Errorf("%s on %s: %g tokens/s, ratio %g, want %g and %g", m.Case, m.Spec, m.TokensPerSecond, m.RatioVsPeer, want.rate, want.ratio)
		}
	}
	if rows[0].CPUMsPerToken != 2 {
		t.Errorf("median CPU ms/token %g, want 2", rows[0].CPUMsPerToken)
	}
	if got := rows[1].RoundRatios; !slices.Equal(got, []float64{0.5, 1.5, 0.5}) {
		t.Errorf("round ratios %v, want [0.5 1.5 0.5] (each round against the peer's same round)", got)
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
		if len(m.RoundTokensPerSecond) != 2 || !(m.TokensPerSecond > 0) || !(m.RatioVsPeer > 0) || !(m.CPUMsPerToken > 0) {
			t.Errorf("%s: %+v, want 2 rounds with positive speeds and ratios", m.Case, m)
		}
		if len(m.Tokens) != o.GenTokens {
			t.Errorf("%s: %d tokens, want %d", m.Case, len(m.Tokens), o.GenTokens)
		}
		switch m.Case {
		case KVPeerCase, "fp32":
			if m.Bytes != 4*values || m.BitsPerValue != 32 {
				t.Errorf("%s: %d bytes, %g bits per value, want %d and 32", m.Case, m.Bytes, m.BitsPerValue, 4*values)
			}
			if m.Agree != o.GenTokens {
				t.Errorf("%s: agrees with the generator on %d tokens of %d", m.Case, m.Agree, o.GenTokens)
			}
		default:
			if !(m.BitsPerValue > 3 && m.BitsPerValue < 6) {
				t.Errorf("%s: %g bits per value", m.Case, m.BitsPerValue)
			}
		}
	}
	var b strings.Builder
	PrintKVReport(&b, report)
	if !strings.Contains(b.String(), "× generator") {
		t.Errorf("report lacks its table:\n%s", b.String())
	}
}
