package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestStat(t *testing.T) {
	var s Stat
	if s.Measured() {
		t.Error("the zero Stat says it was measured")
	}
	for _, v := range []float64{0.4, 0.2, 0.3} {
		s.Add(v)
	}
	if s.Median != 0.3 || s.Min != 0.2 || s.Max != 0.4 || !slices.Equal(s.Rounds, []float64{0.4, 0.2, 0.3}) {
		t.Errorf("Stat %+v, want median 0.3, min 0.2, max 0.4 and the rounds in their order", s)
	}
	if even := NewStat([]float64{4, 1, 2, 3}); even.Median != 2.5 {
		t.Errorf("median of 4 rounds %g, want the mean of the middle two, 2.5", even.Median)
	}
}

func TestResultRounds(t *testing.T) {
	var r Result
	r.AddRound(10, 1.5)
	r.AddRound(20, 0.5)
	r.AddRatio(2, "pytorch")
	if r.Value.Median != 15 || !slices.Equal(r.LoadAvg, []float64{1.5, 0.5}) || r.Ratio.Median != 2 || r.RatioOf != "pytorch" {
		t.Errorf("result %+v", r)
	}
}

func TestPeerEnviron(t *testing.T) {
	p := Peer{Set: []string{"OMP_NUM_THREADS=2", "MALLOC_TRIM_THRESHOLD_=1"}, Unset: []string{"MALLOC_"}}
	env := []string{"A=1", "OMP_NUM_THREADS=16", "MALLOC_ARENA_MAX=4", "OPENBLAS_CORETYPE=Haswell", "B=2"}
	got := p.Environ(env)
	want := []string{"A=1", "OPENBLAS_CORETYPE=Haswell", "B=2", "OMP_NUM_THREADS=2", "MALLOC_TRIM_THRESHOLD_=1"}
	if !slices.Equal(got, want) {
		t.Errorf("Environ = %v, want %v", got, want)
	}
	if env[1] != "OMP_NUM_THREADS=16" {
		t.Errorf("Environ modified its argument: %v", env)
	}
}

func TestParsePeerJSON(t *testing.T) {
	out := []byte("warning: something\n{\"median_step_seconds\": 0.5}\n{\"median_step_seconds\": 0.07, \"threads\": 2}\n")
	got, err := ParsePeerJSON("p", out, "median_step_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if got["median_step_seconds"] != 0.07 || got["threads"] != 2.0 {
		t.Errorf("got %v, want the last JSON line", got)
	}
	for _, bad := range []string{"", "Traceback ...\n", `{"steps_per_second": 3}`, `{"median_step_seconds": 0}`} {
		if _, err := ParsePeerJSON("p", []byte(bad), "median_step_seconds"); err == nil {
			t.Errorf("output %q accepted", bad)
		}
	}
}

// TestPeerRun runs a program as a peer: its last JSON line comes back, its environment is
// the inherited one with the peer's settings, and a failing peer's error carries its stderr.
func TestPeerRun(t *testing.T) {
	t.Setenv("QZOO_INHERITED", "kept")
	p := Peer{Command: "/bin/sh", Set: []string{"QZOO_SET=2"}}
	got, err := p.Run([]string{"-c", `echo noise; echo "{\"inherited\": \"$QZOO_INHERITED\", \"set\": $QZOO_SET}"`}, "set")
	if err != nil {
		t.Fatal(err)
	}
	if got["inherited"] != "kept" || got["set"] != 2.0 {
		t.Errorf("peer printed %v", got)
	}
	_, err = p.Run([]string{"-c", "echo broken >&2; exit 3"})
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("failing peer: %v, want its stderr", err)
	}
	if _, err := (Peer{Command: "/bin/sh", Script: "no_such_peer.py"}).Run(nil); err == nil || !strings.Contains(err.Error(), "no_such_peer.py") {
		t.Errorf("unknown script: %v", err)
	}
}

func TestHeader(t *testing.T) {
	t.Setenv("OPENBLAS_CORETYPE", "Haswell")
	h := NewHeader(3)
	if h.Build.GoVersion != runtime.Version() || h.Threads != 3 || h.Machine.Cores != runtime.NumCPU() || h.Backend == "" {
		t.Errorf("header %+v", h)
	}
	if h.PeerEnv["OPENBLAS_CORETYPE"] != "Haswell" {
		t.Errorf("the header does not record the peer's OPENBLAS_CORETYPE: %v", h.PeerEnv)
	}
	var b strings.Builder
	h.Print(&b)
	for _, want := range []string{h.Machine.CPU, "GOEXPERIMENT=", h.Build.GoVersion, "default backend " + h.Backend, "OPENBLAS_CORETYPE=Haswell"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("header lacks %q:\n%s", want, b.String())
		}
	}
}

func TestReportWriteJSON(t *testing.T) {
	r := NewReport("kv", 2, 1)
	r.Results = []Result{{Case: "fp32", Side: SideQzoo, Name: "go", Metric: "tokens_per_second", Unit: "tokens/s"}}
	r.Results[0].AddRound(100, 0.5)
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Benchmark string `json:"benchmark"`
		Results   []struct {
			Value Stat `json:"value"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Benchmark != "kv" || back.Results[0].Value.Median != 100 {
		t.Errorf("read back %+v, %v", back, err)
	}
}

func TestFindConfig(t *testing.T) {
	got, err := FindConfig("configs/kv")
	if err != nil || !strings.HasSuffix(got, filepath.Join("configs", "kv")) {
		t.Errorf("FindConfig from bench/harness = %q, %v", got, err)
	}
	t.Chdir(t.TempDir())
	if _, err := FindConfig("configs/kv"); err == nil {
		t.Error("found configs/kv outside the repository")
	}
}
