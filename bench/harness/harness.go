// Package harness is what every benchmark of the bench command shares: the header that says
// where and how it ran (machine, load, backend, Go build, the peer's inherited environment),
// running a peer process (a Python script of package bench/peers, or any program) and parsing
// the JSON line it prints, the one statistic of every benchmark, and the one JSON schema of a
// report. (The climate benchmark's peers — ZFP through python3-zfpy, the zstd binary — are
// codecs of package baselines, which sweeps and notebooks use too, and run there.)
//
// The statistic: a benchmark repeats its measurement in R rounds, interleaving the qzoo side
// and the peer side in every round so that both see the same moments of the machine's load;
// each round gives one number per side (what that number is — a median train step, the
// fastest of a few calls, tokens/s of a loop — is the benchmark's to say, in its file), and
// the report gives the median over the rounds with the min and the max ([Stat]). Ratios
// between the sides are taken round by round, then summarized the same way.
package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/atomicfile"
)

// Sides of a result.
const (
	SideQzoo = "qzoo" // measured in this process
	SidePeer = "peer" // measured in a peer process (PyTorch, ...)
)

// BuildFlags describe how the Go side was compiled.
type BuildFlags struct {
	GoVersion    string `json:"go_version"`
	GOEXPERIMENT string `json:"goexperiment"` // "" = none
	Tags         string `json:"tags"`
	CGO          string `json:"cgo_enabled"`
	GOAMD64      string `json:"goamd64,omitempty"`
}

// String is a one-line summary, e.g. "go1.27.3, GOEXPERIMENT=simd, -tags (none), CGO_ENABLED=1".
func (f BuildFlags) String() string {
	exp := cmpOr(f.GOEXPERIMENT, "(none)")
	s := fmt.Sprintf("%s, GOEXPERIMENT=%s, -tags %s, CGO_ENABLED=%s", f.GoVersion, exp, cmpOr(f.Tags, "(none)"), f.CGO)
	if f.GOAMD64 != "" {
		s += ", GOAMD64=" + f.GOAMD64
	}
	return s
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ReadBuildFlags reads GOEXPERIMENT, build tags, cgo and GOAMD64 from the binary's build info.
func ReadBuildFlags() BuildFlags {
	f := BuildFlags{GoVersion: runtime.Version(), CGO: "?"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return f
	}
	f.GoVersion = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "GOEXPERIMENT":
			f.GOEXPERIMENT = s.Value
		case "-tags":
			f.Tags = s.Value
		case "CGO_ENABLED":
			f.CGO = s.Value
		case "GOAMD64":
			f.GOAMD64 = s.Value
		}
	}
	return f
}

// Machine describes where a benchmark ran.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	Kernel string `json:"kernel,omitempty"`
}

// ReadMachine reads the CPU model from /proc/cpuinfo and the kernel release ("unknown CPU"
// and "" where /proc has neither).
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPU: "unknown CPU"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// LoadAvg is the 1-minute load average (-1 when unknown).
func LoadAvg() float64 {
	if l := LoadAvgs(); l != nil {
		return l[0]
	}
	return -1
}

// LoadAvgs are /proc/loadavg's 1-, 5- and 15-minute load averages (nil when unknown).
func LoadAvgs() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	fields := strings.Fields(string(b))
	if err != nil || len(fields) < 3 {
		return nil
	}
	out := make([]float64, 3)
	for i := range out {
		if out[i], err = strconv.ParseFloat(fields[i], 64); err != nil {
			return nil
		}
	}
	return out
}

// PeerEnvKeys are the inherited variables that change how a peer computes or how fast, recorded
// in the header as the peer found them. The harness passes the environment on as it is: a
// benchmark that changes one for its peer (OMP_NUM_THREADS to its thread count, ...) says so in
// its file. In particular OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, set on some machines because
// older OpenBLAS builds compute wrong results on their processors, are left alone.
var PeerEnvKeys = []string{"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
	"OMP_WAIT_POLICY", "LD_LIBRARY_PATH", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"}

// Header says where and how a benchmark ran.
type Header struct {
	Time    string     `json:"time"` // UTC, RFC 3339
	Machine Machine    `json:"machine"`
	Build   BuildFlags `json:"build"`
	// Backend is the backend the zoo's commands would choose here (framework.BackendChoice),
	// and why; a benchmark may measure others too (its results name theirs).
	Backend       string `json:"backend"`
	BackendReason string `json:"backend_reason,omitempty"`
	Threads       int    `json:"threads"` // GOMAXPROCS, and the peer's thread count
	// LoadAvg is /proc/loadavg's 1-, 5- and 15-minute averages when the benchmark started.
	LoadAvg []float64 `json:"load_avg"`
	// PeerEnv are the PeerEnvKeys set in the environment the peers inherit.
	PeerEnv map[string]string `json:"peer_env,omitempty"`
}

// NewHeader reads the header now, for a benchmark that runs on threads threads.
func NewHeader(threads int) Header {
	spec, reason := framework.BackendChoice()
	h := Header{
		Time: time.Now().UTC().Format(time.RFC3339), Machine: ReadMachine(), Build: ReadBuildFlags(),
		Backend: spec, BackendReason: reason, Threads: threads, LoadAvg: LoadAvgs(),
	}
	for _, k := range PeerEnvKeys {
		if v, ok := os.LookupEnv(k); ok {
			if h.PeerEnv == nil {
				h.PeerEnv = map[string]string{}
			}
			h.PeerEnv[k] = v
		}
	}
	return h
}

// Print writes the header as the lines that open every benchmark's output.
func (h Header) Print(w io.Writer) {
	fmt.Fprintf(w, "machine: %s, %d cores, %s/%s %s; load average %s at %s\n", h.Machine.CPU, h.Machine.Cores,
		h.Machine.OS, h.Machine.Arch, h.Machine.Kernel, formatLoad(h.LoadAvg), h.Time)
	fmt.Fprintf(w, "Go build: %s; default backend %s; threads %d\n", h.Build, h.Backend, h.Threads)
	if len(h.PeerEnv) > 0 {
		keys := make([]string, 0, len(h.PeerEnv))
		for k := range h.PeerEnv {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			keys[i] = k + "=" + h.PeerEnv[k]
		}
		fmt.Fprintf(w, "peers inherit: %s\n", strings.Join(keys, " "))
	}
}

func formatLoad(l []float64) string {
	if l == nil {
		return "?"
	}
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strings.Join(s, " ")
}

// Result is one thing measured on one side: a row of every benchmark's table.
type Result struct {
	// Case is what is measured, in the benchmark's words: a task ("train", "generate"), a
	// cache ("kivi4"), a quantizer operation ("64x172 rtn4-g64 quantize"), ...
	Case string `json:"case"`
	Side string `json:"side"` // SideQzoo or SidePeer
	// Name is the backend ("go", "onnx", ...) or the peer ("pytorch", ...); Spec the backend
	// spec given to framework.NewBackendFromSpec (qzoo side); Description what it ran on.
	Name        string `json:"name"`
	Spec        string `json:"spec,omitempty"`
	Description string `json:"description,omitempty"`
	// Metric names the per-round number (e.g. "step_seconds", "tokens_per_second") in Unit;
	// Value is its Stat over the rounds.
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	Value  Stat   `json:"value"`
	// Ratio is the Stat of the per-round ratios to the benchmark's reference in the same round
	// (> 1: faster than the reference; see the benchmark's RatioOf), absent when none was
	// measured.
	Ratio   *Stat  `json:"ratio,omitempty"`
	RatioOf string `json:"ratio_of,omitempty"`
	// LoadAvg is the 1-minute load average before each round.
	LoadAvg []float64 `json:"load_avg_1min"`
	// Details are the benchmark's own per-row fields (bytes of a cache, final losses, ...).
	Details any `json:"details,omitempty"`
}

// AddRound appends one round's number and the load average before it.
func (r *Result) AddRound(value, load float64) {
	r.Value.Add(value)
	r.LoadAvg = append(r.LoadAvg, load)
}

// AddRatio appends one round's ratio to the reference named of.
func (r *Result) AddRatio(ratio float64, of string) {
	if r.Ratio == nil {
		r.Ratio = &Stat{}
	}
	r.Ratio.Add(ratio)
	r.RatioOf = of
}

// Report is the one JSON schema of every benchmark's output.
type Report struct {
	Benchmark string `json:"benchmark"` // the bench subcommand: vqae, llama, kv, quant, climate
	Header    Header `json:"header"`
	Rounds    int    `json:"rounds"`
	// Settings are the benchmark's options; Config the zoo config it measured, if any, and
	// ConfigSource where that came from.
	Settings     any             `json:"settings,omitempty"`
	Config       json.RawMessage `json:"config,omitempty"`
	ConfigSource string          `json:"config_source,omitempty"`
	Results      []Result        `json:"results"`
	// Peer is the last JSON object a peer printed (its version, threads, BLAS, ...).
	Peer map[string]any `json:"peer,omitempty"`
	// Details are what the benchmark reports beyond its rows (checks, a study's points, ...).
	Details any `json:"details,omitempty"`
}

// NewReport starts the report of benchmark on threads threads.
func NewReport(benchmark string, threads, rounds int) *Report {
	return &Report{Benchmark: benchmark, Header: NewHeader(threads), Rounds: rounds}
}

// WriteJSON writes r, indented, to path atomically ("" writes nothing).
func (r *Report) WriteJSON(path string) error {
	if path == "" {
		return nil
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encoding the %s report: %w", r.Benchmark, err)
	}
	if err := atomicfile.WriteFile(path, append(js, '\n')); err != nil {
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	return nil
}

// FindConfig resolves rel (a path relative to the repository root, e.g. "configs/kv") against
// the working directory or its nearest parent holding it, so that the bench command works from
// the repository root and its tests from bench/. An absolute or existing rel is returned as is.
func FindConfig(rel string) (string, error) {
	if _, err := os.Stat(rel); err == nil || filepath.IsAbs(rel) {
		return rel, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("bench: %s not found in the working directory or above it (run from the repository)", rel)
		}
		dir = parent
	}
}
