// Command quant measures how fast qzoo's quant package quantizes and dequantizes a weight
// matrix, against the same arithmetic vectorized in PyTorch on the same machine, in the same run:
//
//	go run ./bench/quant                                # 4096×4096 and stories260K's w2 (64×172), 3 rounds
//	go run ./bench/quant -shapes 4096x4096 -rounds 5 -cpuprofile /tmp/quant.pprof
//
// For each shape it draws W ~ N(0, 0.02²) from a fixed seed, writes it to a temporary file
// (raw little-endian float32) and, for each spec of [Specs], times quant.Quantize (float32 W
// to the stored form) and Quantized.Dequantize (stored form to float32 W). Then it runs
// torch_quant.py (embedded in the binary) on the same file with the same thread count; the
// peer quantizes to the same stored form (codes packed as quant.Pack, fp16 scales, zero
// points, absmax constants or their double-quantized codes) and dequantizes it back, in two
// precisions: "exact", which computes in float64 where qzoo's float64 rounding can matter and
// so gives a byte-identical stored form, and "fp32", the same steps in float32 as one would
// write them in PyTorch. In the first round the peer also writes its stored forms and
// dequantized matrices, which are compared with qzoo's: the number of stored bytes that
// differ and max |ŵ_go − ŵ_torch| are printed, since a speed ratio between two different
// computations would mean nothing. It prints
//
//	shape | spec | op | Go M/s | Go GB/s | PyTorch M/s | PyTorch GB/s | × PyTorch | fp32 M/s | × fp32 | faults
//
// where M/s is millions of weights per second, GB/s the float32 side's bytes per second (the
// input of quantize, the output of dequantize), and "× PyTorch" PyTorch's (exact) time divided
// by Go's: above 1 Go is faster. Each operation is called repeatedly until -min_time has passed
// and its fastest call is kept; with -rounds R (default 3) everything is repeated R times,
// interleaved, and the fastest round is kept, since other processes only ever slow a run down.
// The report prints the load average before each round and each side's minor page faults per
// call.
//
// Fairness: GOMAXPROCS and torch.set_num_threads are both -threads (default: all cores). Both
// sides get -warmup untimed calls of every spec first. PyTorch runs with glibc's malloc told to
// keep freed memory (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_; -torch_keep_memory=false
// leaves the defaults): by default every buffer above glibc's mmap threshold (at most 32 MiB)
// is a fresh mmap, and on these VMs faulting its pages in costs more than the arithmetic (a
// 64 MiB elementwise op took 220 ms instead of 7 ms), while Go's heap keeps most of its memory
// between calls.
//
// -json FILE writes the whole report; -cpuprofile FILE profiles the Go side (PyTorch runs in a
// child process and is not in the profile): go tool pprof -top FILE.
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/qzoo/qzoo/quant"
)

//go:embed torch_quant.py
var torchScript []byte

// Specs are the benchmarked quantizers: 4-bit RTN in groups of 64 (GPTQ/AWQ's usual baseline),
// 8-bit RTN per output channel, QLoRA's NF4 in blocks of 64, and NF4 double-quantized.
var Specs = []quant.Spec{
	{Method: quant.MethodRTN, Bits: 4, GroupSize: 64},
	{Method: quant.MethodRTN, Bits: 8, GroupSize: 0},
	{Method: quant.MethodNF4},
	{Method: quant.MethodNF4, DoubleQuant: true},
}

// DefaultShapes are a large square layer and stories260K's FFN w2 [64, 172], whose rows end
// with a short group (64+64+44), a case the peer must also get right.
const DefaultShapes = "4096x4096,64x172"

// Precisions of the PyTorch peer: "exact" is qzoo's arithmetic (the ratio's basis), "fp32"
// the same steps in float32.
const (
	PrecisionExact = "exact"
	PrecisionFP32  = "fp32"
)

var precisions = []string{PrecisionExact, PrecisionFP32}

// Layout of quant's MarshalBinary (quant/codec.go): a 41-byte header, the payload, a 4-byte
// CRC. The peer writes the payload.
const (
	marshalHeaderLen   = 41
	marshalChecksumLen = 4
)

// keepMemoryEnv makes glibc's malloc serve large buffers from its heap and keep freed memory,
// as Go's heap does, instead of an mmap and munmap per buffer.
var keepMemoryEnv = []string{"MALLOC_MMAP_THRESHOLD_=4294967296", "MALLOC_TRIM_THRESHOLD_=68719476736"}

// Options are the command's flags.
type Options struct {
	Shapes          string        // comma-separated "ROWSxCOLS"
	Rounds          int           // repetitions of every measurement; the fastest is kept
	Threads         int           // GOMAXPROCS and torch.set_num_threads
	Warmup          int           // untimed quantize+dequantize calls per spec, each side
	MinTime         time.Duration // each timed operation repeats until this much time has passed; the fastest call counts
	Seed            uint64        // of the weights
	Std             float64       // standard deviation of the weights
	Python          string        // interpreter with torch
	TorchKeepMemory bool          // run PyTorch with keepMemoryEnv
	NoTorch         bool          // skip PyTorch
	JSONPath        string        // write the report here
	CPUProfile      string        // CPU profile of the Go side
}

// Timing is one operation of one side: in each round the fastest call's seconds, the number
// of calls and the minor page faults per call; and the fastest round's.
type Timing struct {
	Seconds      float64   `json:"seconds"` // fastest call of all rounds
	Faults       float64   `json:"faults"`  // minor page faults per call in its round
	RoundSeconds []float64 `json:"round_seconds"`
	RoundCalls   []int     `json:"round_calls"`
	RoundFaults  []float64 `json:"round_faults"`
}

func (t *Timing) add(seconds float64, calls int, faults float64) {
	t.RoundSeconds = append(t.RoundSeconds, seconds)
	t.RoundCalls = append(t.RoundCalls, calls)
	t.RoundFaults = append(t.RoundFaults, faults)
	best := slices.Index(t.RoundSeconds, slices.Min(t.RoundSeconds))
	t.Seconds, t.Faults = t.RoundSeconds[best], t.RoundFaults[best]
}

// Op is one operation (quantize or dequantize) of one spec on one shape.
type Op struct {
	Go    Timing            `json:"go"`
	Torch map[string]Timing `json:"pytorch,omitempty"` // by precision
}

// Check compares the peer's output in one precision with qzoo's.
type Check struct {
	Precision     string  `json:"precision"`
	StoredBytes   int     `json:"stored_bytes"`    // payload of MarshalBinary
	BytesDiffer   int     `json:"bytes_differing"` // payload bytes that differ
	MaxAbsDiff    float64 `json:"max_abs_diff"`    // max |ŵ_go − ŵ_torch|
	MaxAbsWeight  float64 `json:"max_abs_weight"`  // max |ŵ_go|, to read MaxAbsDiff against
	WeightsDiffer int     `json:"weights_differing"`
}

// Result is one spec on one shape.
type Result struct {
	Rows       int     `json:"rows"`
	Cols       int     `json:"cols"`
	Spec       string  `json:"spec"`
	Quantize   Op      `json:"quantize"`
	Dequantize Op      `json:"dequantize"`
	Checks     []Check `json:"checks,omitempty"`
}

// Report is everything one run of the command measured.
type Report struct {
	Time            string         `json:"time"`
	CPU             string         `json:"cpu"`
	Cores           int            `json:"cores"`
	GoVersion       string         `json:"go_version"`
	Threads         int            `json:"threads"`
	Rounds          int            `json:"rounds"`
	Warmup          int            `json:"warmup"`
	MinTimeSeconds  float64        `json:"min_time_seconds"`
	Seed            uint64         `json:"seed"`
	Std             float64        `json:"std"`
	TorchKeepMemory bool           `json:"torch_keep_memory"`
	LoadAvg         []string       `json:"load_avg"` // /proc/loadavg's 1, 5, 15 minutes before each round, and at the end
	Peer            map[string]any `json:"peer,omitempty"`
	Results         []Result       `json:"results"`
}

func main() {
	var o Options
	flag.StringVar(&o.Shapes, "shapes", DefaultShapes, `comma-separated matrix shapes "ROWSxCOLS"`)
	flag.IntVar(&o.Rounds, "rounds", 3, "repeat every measurement this many times, interleaved; the fastest round is reported")
	flag.IntVar(&o.Threads, "threads", runtime.NumCPU(), "GOMAXPROCS and PyTorch's torch.set_num_threads")
	flag.IntVar(&o.Warmup, "warmup", 1, "untimed quantize+dequantize calls of every spec before the first round, each side")
	flag.DurationVar(&o.MinTime, "min_time", 500*time.Millisecond, "repeat each timed operation until this much time has passed; its fastest call counts")
	flag.Uint64Var(&o.Seed, "seed", 1, "seed of the weights")
	flag.Float64Var(&o.Std, "std", 0.02, "standard deviation of the weights")
	flag.StringVar(&o.Python, "python", "/usr/bin/python3", "Python interpreter with torch")
	flag.BoolVar(&o.TorchKeepMemory, "torch_keep_memory", true, "run PyTorch with glibc's malloc keeping freed memory, as Go's heap does")
	flag.BoolVar(&o.NoTorch, "no_torch", false, "do not run PyTorch")
	flag.StringVar(&o.JSONPath, "json", "", "write the report as JSON to this file")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the Go side to this file")
	flag.Parse()
	report, err := Run(o, os.Stderr)
	if report != nil {
		PrintReport(os.Stdout, report)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/quant:", err)
		os.Exit(1)
	}
}

// Run performs the benchmark described by o, logging progress to log. It returns the report
// (possibly partial, with the error that stopped it).
func Run(o Options, log io.Writer) (*Report, error) {
	if o.Rounds < 1 || o.Threads < 1 || o.Warmup < 0 || o.MinTime < 0 {
		return nil, fmt.Errorf("-rounds (%d) and -threads (%d) must be ≥ 1, -warmup (%d) and -min_time (%v) ≥ 0",
			o.Rounds, o.Threads, o.Warmup, o.MinTime)
	}
	shapes, err := ParseShapes(o.Shapes)
	if err != nil {
		return nil, err
	}
	runtime.GOMAXPROCS(o.Threads)
	report := &Report{
		Time: time.Now().UTC().Format(time.RFC3339), CPU: cpuName(), Cores: runtime.NumCPU(),
		GoVersion: runtime.Version(), Threads: o.Threads, Rounds: o.Rounds, Warmup: o.Warmup,
		MinTimeSeconds: o.MinTime.Seconds(), Seed: o.Seed, Std: o.Std, TorchKeepMemory: o.TorchKeepMemory,
	}
	fmt.Fprintf(log, "bench/quant: %s, %s; shapes %s; %d rounds; %d threads; load average %s\n",
		report.CPU, report.GoVersion, o.Shapes, o.Rounds, o.Threads, loadAvg())

	dir, err := os.MkdirTemp("", "qzoo-bench-quant-")
	if err != nil {
		return nil, fmt.Errorf("bench/quant: %w", err)
	}
	defer os.RemoveAll(dir)
	matrices := make([]matrix, len(shapes))
	for i, s := range shapes {
		m := matrix{rows: s[0], cols: s[1], w: Weights(s[0]*s[1], o.Std, o.Seed)}
		m.path = filepath.Join(dir, fmt.Sprintf("w%dx%d.f32", m.rows, m.cols))
		if err := writeFloat32(m.path, m.w); err != nil {
			return nil, err
		}
		matrices[i] = m
		for _, spec := range Specs {
			report.Results = append(report.Results, Result{Rows: m.rows, Cols: m.cols, Spec: spec.String()})
		}
	}

	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("bench/quant: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("bench/quant: starting the CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	for _, m := range matrices {
		for _, spec := range Specs {
			for range o.Warmup {
				q, err := quant.Quantize(m.w, m.rows, m.cols, spec, nil)
				if err != nil {
					return report, fmt.Errorf("bench/quant: %s on %d×%d: %w", spec, m.rows, m.cols, err)
				}
				q.Dequantize()
			}
		}
	}

	for round := range o.Rounds {
		report.LoadAvg = append(report.LoadAvg, loadAvg())
		fmt.Fprintf(log, "bench/quant: round %d, load average %s\n", round+1, report.LoadAvg[round])
		k := 0
		for _, m := range matrices {
			results := report.Results[k : k+len(Specs)]
			k += len(Specs)
			stored := make([]*quant.Quantized, len(Specs))
			for i, spec := range Specs {
				r := &results[i]
				q, err := measureGo(m, spec, o.MinTime, r)
				if err != nil {
					return report, err
				}
				stored[i] = q
				fmt.Fprintf(log, "bench/quant: %d×%d %s: go quantize %.2f ms, dequantize %.2f ms\n", m.rows, m.cols,
					r.Spec, 1e3*r.Quantize.Go.RoundSeconds[round], 1e3*r.Dequantize.Go.RoundSeconds[round])
			}
			if o.NoTorch {
				continue
			}
			dump := ""
			if round == 0 {
				dump = filepath.Join(dir, fmt.Sprintf("dump%dx%d", m.rows, m.cols))
				if err := os.Mkdir(dump, 0o755); err != nil {
					return report, fmt.Errorf("bench/quant: %w", err)
				}
			}
			peer, err := MeasurePyTorch(o, m, dump)
			if err != nil {
				return report, err
			}
			if err := addPeerTimings(results, peer); err != nil {
				return report, err
			}
			for i := range results {
				r := &results[i]
				fmt.Fprintf(log, "bench/quant: %d×%d %s: pytorch exact quantize %.2f ms, dequantize %.2f ms\n", m.rows, m.cols,
					r.Spec, 1e3*r.Quantize.Torch[PrecisionExact].RoundSeconds[round], 1e3*r.Dequantize.Torch[PrecisionExact].RoundSeconds[round])
			}
			delete(peer, "results")
			report.Peer = peer
			if dump != "" {
				for i := range results {
					checks, err := Compare(stored[i], filepath.Join(dump, results[i].Spec))
					if err != nil {
						return report, err
					}
					results[i].Checks = checks
				}
				if err := os.RemoveAll(dump); err != nil {
					return report, fmt.Errorf("bench/quant: %w", err)
				}
			}
		}
	}
	report.LoadAvg = append(report.LoadAvg, loadAvg())
	if o.JSONPath != "" {
		js, _ := json.MarshalIndent(report, "", "  ")
		if err := os.WriteFile(o.JSONPath, append(js, '\n'), 0o644); err != nil {
			return report, fmt.Errorf("bench/quant: %w", err)
		}
	}
	return report, nil
}

// matrix is one benchmarked weight matrix and the file the peer reads it from.
type matrix struct {
	rows, cols int
	w          []float32
	path       string
}

// ParseShapes parses "4096x4096,64x172" into {{4096, 4096}, {64, 172}}.
func ParseShapes(s string) ([][2]int, error) {
	var shapes [][2]int
	for field := range strings.SplitSeq(s, ",") {
		r, c, ok := strings.Cut(strings.TrimSpace(field), "x")
		rows, err1 := strconv.Atoi(r)
		cols, err2 := strconv.Atoi(c)
		if !ok || err1 != nil || err2 != nil || rows < 1 || cols < 1 || rows*cols > quant.MaxParams {
			return nil, fmt.Errorf("bench/quant: -shapes %q: %q is not ROWSxCOLS with positive sizes of at most %d weights", s, field, quant.MaxParams)
		}
		shapes = append(shapes, [2]int{rows, cols})
	}
	return shapes, nil
}

// Weights draws n weights from N(0, std²) with a fixed seed.
func Weights(n int, std float64, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(std * rng.NormFloat64())
	}
	return w
}

func writeFloat32(path string, w []float32) error {
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("bench/quant: %w", err)
	}
	return nil
}

func readFloat32(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench/quant: %w", err)
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("bench/quant: %s has %d bytes, not a whole number of float32", path, len(b))
	}
	w := make([]float32, len(b)/4)
	for i := range w {
		w[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return w, nil
}

// measureGo times quantize and dequantize of spec on m for one round, adds them to r and
// returns the stored form.
func measureGo(m matrix, spec quant.Spec, minTime time.Duration, r *Result) (*quant.Quantized, error) {
	var q *quant.Quantized
	var err error
	runtime.GC()
	seconds, calls, faults := timeCalls(minTime, func() bool {
		q, err = quant.Quantize(m.w, m.rows, m.cols, spec, nil)
		return err == nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench/quant: %s on %d×%d: %w", spec, m.rows, m.cols, err)
	}
	r.Quantize.Go.add(seconds, calls, faults)
	runtime.GC()
	seconds, calls, faults = timeCalls(minTime, func() bool {
		q.Dequantize()
		return true
	})
	r.Dequantize.Go.add(seconds, calls, faults)
	return q, nil
}

// timeCalls calls fn until minTime has passed (at least once, and not after fn returns
// false) and returns the fastest call's seconds, the number of calls and the process's minor
// page faults per call.
func timeCalls(minTime time.Duration, fn func() bool) (fastest float64, calls int, faults float64) {
	faults0, start := minorFaults(), time.Now()
	fastest = math.Inf(1)
	for {
		t0 := time.Now()
		ok := fn()
		fastest = min(fastest, time.Since(t0).Seconds())
		calls++
		if !ok || time.Since(start) >= minTime {
			return fastest, calls, float64(minorFaults()-faults0) / float64(calls)
		}
	}
}

// minorFaults is the process's count of minor page faults so far: first touches of memory
// the kernel maps on demand, which on this project's VMs cost more than the arithmetic.
func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}

// PeerSpec is a spec as torch_quant.py reads it.
type PeerSpec struct {
	Name        string `json:"name"`
	Method      string `json:"method"`
	Bits        int    `json:"bits"`
	Group       int    `json:"group"`
	DoubleQuant bool   `json:"double_quant"`
}

// PeerSpecs converts specs for the peer, which implements asymmetric rtn with a width that
// divides 8 and nf4 (optionally double-quantized), without outliers or rotation.
func PeerSpecs(specs []quant.Spec) ([]PeerSpec, error) {
	out := make([]PeerSpec, len(specs))
	for i, s := range specs {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		supported := s.OutlierFraction == 0 && !s.Hadamard &&
			(s.Method == quant.MethodNF4 || s.Method == quant.MethodRTN && !s.Symmetric && 8%s.Bits == 0)
		if !supported {
			return nil, fmt.Errorf("bench/quant: spec %s has no PyTorch peer (it implements rtn-asym with 2, 4 or 8 bits and nf4, without outliers or rotation)", s)
		}
		p := PeerSpec{Name: s.String(), Method: s.Method, Bits: s.Bits, Group: s.GroupSize, DoubleQuant: s.DoubleQuant}
		if s.Method == quant.MethodNF4 {
			p.Bits = quant.NF4Bits
			if p.Group == 0 {
				p.Group = quant.DefaultNF4Block
			}
		}
		out[i] = p
	}
	return out, nil
}

// TorchArgs are the arguments of torch_quant.py that make it measure m (and, if dump is not
// "", write its outputs there) with the options' threads, warm-up and minimum time.
func TorchArgs(o Options, m matrix, dump string) ([]string, error) {
	specs, err := PeerSpecs(Specs)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(specs)
	if err != nil {
		return nil, fmt.Errorf("bench/quant: %w", err)
	}
	levels := quant.NF4Levels()
	text := make([]string, len(levels))
	for i, v := range levels {
		text[i] = strconv.FormatFloat(v, 'g', -1, 64) // shortest form that reads back exactly
	}
	args := []string{
		"--matrix", m.path, "--rows", strconv.Itoa(m.rows), "--cols", strconv.Itoa(m.cols),
		"--specs", string(js), "--levels=" + strings.Join(text, ","), // "=": the first level is negative
		"--precisions", strings.Join(precisions, ","),
		"--threads", strconv.Itoa(o.Threads), "--warmup", strconv.Itoa(o.Warmup),
		"--min-time", strconv.FormatFloat(o.MinTime.Seconds(), 'g', -1, 64),
	}
	if dump != "" {
		args = append(args, "--dump", dump)
	}
	return args, nil
}

// MeasurePyTorch runs the embedded torch_quant.py on m and returns the JSON object it printed.
func MeasurePyTorch(o Options, m matrix, dump string) (map[string]any, error) {
	args, err := TorchArgs(o, m, dump)
	if err != nil {
		return nil, err
	}
	script, err := os.CreateTemp("", "torch_quant-*.py")
	if err != nil {
		return nil, fmt.Errorf("bench/quant: %w", err)
	}
	defer os.Remove(script.Name())
	if _, err := script.Write(torchScript); err != nil {
		script.Close()
		return nil, fmt.Errorf("bench/quant: writing %s: %w", script.Name(), err)
	}
	if err := script.Close(); err != nil {
		return nil, fmt.Errorf("bench/quant: writing %s: %w", script.Name(), err)
	}
	cmd := exec.Command(o.Python, append([]string{script.Name()}, args...)...)
	cmd.Env = torchEnv(os.Environ(), o.Threads, o.TorchKeepMemory)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench/quant: %s torch_quant.py %s: %w\n%s", o.Python, strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	return ParsePeerOutput(stdout.Bytes())
}

// torchEnv is the environment of the PyTorch child: OMP_NUM_THREADS set to threads and, with
// keepMemory, keepMemoryEnv (replacing any MALLOC_ settings of env).
func torchEnv(env []string, threads int, keepMemory bool) []string {
	out := make([]string, 0, len(env)+3)
	for _, kv := range env {
		if strings.HasPrefix(kv, "OMP_NUM_THREADS=") || keepMemory && strings.HasPrefix(kv, "MALLOC_") {
			continue
		}
		out = append(out, kv)
	}
	if keepMemory {
		out = append(out, keepMemoryEnv...)
	}
	return append(out, "OMP_NUM_THREADS="+strconv.Itoa(threads))
}

// ParsePeerOutput returns the last line of out that is a JSON object, which must hold a
// non-empty "results" list.
func ParsePeerOutput(out []byte) (map[string]any, error) {
	var last map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err == nil {
			last = obj
		}
	}
	if last == nil {
		return nil, fmt.Errorf("bench/quant: the PyTorch peer printed no JSON line; its output was:\n%s", tail(string(out), 2000))
	}
	if results, _ := last["results"].([]any); len(results) == 0 {
		return nil, fmt.Errorf("bench/quant: the PyTorch peer's JSON has no results: %v", last)
	}
	return last, nil
}

// addPeerTimings adds one round of the peer's timings to the results of one shape.
func addPeerTimings(results []Result, peer map[string]any) error {
	list, _ := peer["results"].([]any)
	seen := 0
	for _, item := range list {
		row, _ := item.(map[string]any)
		spec, _ := row["spec"].(string)
		precision, _ := row["precision"].(string)
		qs, _ := row["quantize_seconds"].(float64)
		ds, _ := row["dequantize_seconds"].(float64)
		qc, _ := row["quantize_calls"].(float64)
		dc, _ := row["dequantize_calls"].(float64)
		qf, _ := row["quantize_faults"].(float64)
		df, _ := row["dequantize_faults"].(float64)
		i := slices.IndexFunc(results, func(r Result) bool { return r.Spec == spec })
		if i < 0 || !slices.Contains(precisions, precision) || !(qs > 0) || !(ds > 0) {
			return fmt.Errorf("bench/quant: unexpected peer result %v", row)
		}
		for _, op := range []struct {
			op      *Op
			seconds float64
			calls   float64
			faults  float64
		}{{&results[i].Quantize, qs, qc, qf}, {&results[i].Dequantize, ds, dc, df}} {
			if op.op.Torch == nil {
				op.op.Torch = map[string]Timing{}
			}
			t := op.op.Torch[precision]
			t.add(op.seconds, int(op.calls), op.faults)
			op.op.Torch[precision] = t
		}
		seen++
	}
	if seen != len(results)*len(precisions) {
		return fmt.Errorf("bench/quant: the peer reported %d results, want %d specs × %d precisions", seen, len(results), len(precisions))
	}
	return nil
}

// Compare checks the peer's outputs base+".<precision>.payload" and ".dequantized" against q.
func Compare(q *quant.Quantized, base string) ([]Check, error) {
	bin, err := q.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("bench/quant: %w", err)
	}
	payload := bin[marshalHeaderLen : len(bin)-marshalChecksumLen]
	wq := q.Dequantize()
	var checks []Check
	for _, precision := range precisions {
		c := Check{Precision: precision, StoredBytes: len(payload)}
		peerPayload, err := os.ReadFile(base + "." + precision + ".payload")
		if err != nil {
			return nil, fmt.Errorf("bench/quant: %w", err)
		}
		if len(peerPayload) != len(payload) {
			return nil, fmt.Errorf("bench/quant: %s: the peer's %s stored form has %d bytes, qzoo's %d", q.Spec(), precision, len(peerPayload), len(payload))
		}
		for i := range payload {
			if payload[i] != peerPayload[i] {
				c.BytesDiffer++
			}
		}
		peerW, err := readFloat32(base + "." + precision + ".dequantized")
		if err != nil {
			return nil, err
		}
		if len(peerW) != len(wq) {
			return nil, fmt.Errorf("bench/quant: %s: the peer dequantized %d weights, qzoo %d", q.Spec(), len(peerW), len(wq))
		}
		for i, v := range wq {
			c.MaxAbsWeight = max(c.MaxAbsWeight, math.Abs(float64(v)))
			d := math.Abs(float64(v) - float64(peerW[i]))
			if d != 0 || math.IsNaN(d) {
				c.WeightsDiffer++
				c.MaxAbsDiff = max(c.MaxAbsDiff, d)
				if math.IsNaN(d) {
					c.MaxAbsDiff = math.Inf(1)
				}
			}
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// PrintReport writes the results table, the checks and the context needed to read them.
func PrintReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\nquant: quantize / dequantize throughput, W ~ N(0, %g²), %s\n", r.Std, r.CPU)
	fmt.Fprintf(w, "%s; threads %d (GOMAXPROCS and torch); fastest call of %d round(s), each op repeated ≥ %g s\n",
		r.GoVersion, r.Threads, r.Rounds, r.MinTimeSeconds)
	if r.Peer != nil {
		fmt.Fprintf(w, "PyTorch %v, %v threads, glibc malloc keeps freed memory: %v\n", r.Peer["torch_version"], r.Peer["threads"], r.TorchKeepMemory)
	}
	fmt.Fprintf(w, "load average (1, 5, 15 min) before each round, then at the end: %s\n\n", strings.Join(r.LoadAvg, "; "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\tspec\top\tGo M/s\tGo GB/s\tPyTorch M/s\tPyTorch GB/s\t× PyTorch\tfp32 M/s\t× fp32\tfaults Go\tPyTorch\t")
	for _, res := range r.Results {
		n := float64(res.Rows * res.Cols)
		for _, op := range []struct {
			name string
			op   Op
		}{{"quantize", res.Quantize}, {"dequantize", res.Dequantize}} {
			cells := []string{fmt.Sprintf("%d×%d", res.Rows, res.Cols), res.Spec, op.name}
			cells = append(cells, rates(op.op.Go.Seconds, n)...)
			exact, fp32 := op.op.Torch[PrecisionExact], op.op.Torch[PrecisionFP32]
			cells = append(cells, rates(exact.Seconds, n)...)
			cells = append(cells, ratio(exact.Seconds, op.op.Go.Seconds), rates(fp32.Seconds, n)[0], ratio(fp32.Seconds, op.op.Go.Seconds),
				faults(op.op.Go), faults(exact))
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nM/s: million weights per second; GB/s: float32 bytes per second (quantize's input, dequantize's output);")
	fmt.Fprintln(w, "× PyTorch: PyTorch's time / Go's (> 1: Go is faster); PyTorch = the peer computing qzoo's arithmetic exactly, fp32 = in float32;")
	fmt.Fprintln(w, "faults: minor page faults (4 KiB pages mapped on first touch) per call, fastest round, Go and PyTorch (exact)")

	if !slices.ContainsFunc(r.Results, func(res Result) bool { return len(res.Checks) > 0 }) {
		return
	}
	fmt.Fprintln(w, "\nSame output? The peer's stored form (MarshalBinary's payload) and dequantized weights against qzoo's:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\tspec\tpeer\tstored bytes\tbytes differing\tweights differing\tmax |Δŵ|\tmax |ŵ|\t")
	for _, res := range r.Results {
		for _, c := range res.Checks {
			fmt.Fprintf(tw, "%d×%d\t%s\t%s\t%d\t%d\t%d\t%.3g\t%.3g\t\n", res.Rows, res.Cols, res.Spec, c.Precision,
				c.StoredBytes, c.BytesDiffer, c.WeightsDiffer, c.MaxAbsDiff, c.MaxAbsWeight)
		}
	}
	_ = tw.Flush()
}

// rates formats n weights in seconds as million weights per second and float32 GB/s.
func rates(seconds, n float64) []string {
	if !(seconds > 0) {
		return []string{"-", "-"}
	}
	return []string{fmt.Sprintf("%.1f", n/seconds/1e6), fmt.Sprintf("%.3f", 4*n/seconds/1e9)}
}

func faults(t Timing) string {
	if len(t.RoundSeconds) == 0 {
		return "-"
	}
	return strconv.FormatFloat(t.Faults, 'f', 0, 64)
}

func ratio(torch, goSeconds float64) string {
	if !(torch > 0) || !(goSeconds > 0) {
		return "-"
	}
	return fmt.Sprintf("%.2f", torch/goSeconds)
}

func cpuName() string {
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

// loadAvg is /proc/loadavg's 1-, 5- and 15-minute load averages ("?" when unknown).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if fields := strings.Fields(string(b)); err == nil && len(fields) >= 3 {
		return strings.Join(fields[:3], " ")
	}
	return "?"
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
