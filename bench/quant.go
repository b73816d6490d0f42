package main

// The quant benchmark (go run ./bench quant): how fast qzoo's quant package quantizes and
// dequantizes a weight matrix, against the same arithmetic vectorized in PyTorch
// (bench/peers/torch_quant.py) on the same machine, in the same run:
//
//	go run ./bench quant                                # 4096×4096 and stories260K's w2 (64×172), 3 rounds
//	go run ./bench quant -shapes 4096x4096 -rounds 5 -cpuprofile /tmp/quant.pprof
//
// For each shape it draws W ~ N(0, 0.02²) from a fixed seed and writes it to a temporary file
// (raw little-endian float32). What each side measures: for each spec of [Specs], qzoo times
// quant.Quantize (float32 W to the stored form) and Quantized.Dequantize (stored form to
// float32 W); the peer quantizes the same file to the same stored form (codes packed as
// quant.Pack, fp16 scales, zero points, absmax constants or their double-quantized codes) and
// dequantizes it back, in two precisions: "exact", which computes in float64 where qzoo's
// float64 rounding can matter and so gives a byte-identical stored form, and "fp32", the same
// steps in float32 as one would write them in PyTorch. On both sides each operation is called
// repeatedly until -min_time has passed and a round's number is its fastest call. In the first
// round the peer also writes its stored forms and dequantized matrices, which are compared
// with qzoo's: the number of stored bytes that differ and max |ŵ_go − ŵ_torch| are printed,
// since a speed ratio between two different computations would mean nothing. SqueezeLLM is
// the exception to byte identity (see [byteIdentical]): its batched k-means sums clusters as
// differences of prefix sums, so its check is the agreement (weights differing, max |Δŵ|), and it
// quantizes only the first -squeezellm_rows rows (256 by default; the shape is in its rows),
// its per-row k-means taking about a millisecond a row of 4096 in Go. It prints
//
//	shape | spec | op | Go M/s | Go GB/s | PyTorch M/s | PyTorch GB/s | × PyTorch | fp32 M/s | × fp32 | faults
//
// where M/s is millions of weights per second (the median over -rounds interleaved rounds),
// GB/s the float32 side's bytes per second (the input of quantize, the output of dequantize),
// and "× PyTorch" PyTorch's (exact) time divided by Go's in the same round (their median):
// above 1 Go is faster. The rows of the JSON report hold every round, min and max, and each
// side's minor page faults per call.
//
// The specs are the quantizers of the zoo's PTQ studies (configs/llm/ptq*.json) and data types
// (quant's float and nf) that the peer implements, at the block size QLoRA and GPTQ/AWQ
// publish (64), so they are listed here, not read from one config.
//
// Fairness: GOMAXPROCS and torch.set_num_threads are both -threads (default: all cores), and
// the peer runs with OMP_NUM_THREADS=-threads. Both sides get -warmup untimed calls of every
// spec first. PyTorch runs with glibc's malloc told to keep freed memory (its MALLOC_
// variables replaced by keepMemoryEnv; -torch_keep_memory=false leaves them as inherited): by
// default every buffer above glibc's mmap threshold (at most 32 MiB) is a fresh mmap, and on
// these VMs faulting its pages in costs more than the arithmetic (a 64 MiB elementwise op took
// 220 ms instead of 7 ms), while Go's heap keeps most of its memory between calls.
//
// Go's side of the same: Dequantize returns a fresh []float32, which Go's allocator zeroes and
// which, for a 64 MiB result, the runtime often maps anew (tens of thousands of page faults a
// call were measured), while the peer's glibc hands back memory it kept, neither zeroed nor
// faulted; Quantize likewise allocates its packed codes (16 MiB at 8 bits). By default
// (-go_reuse_output) the Go side therefore times quant.QuantizeInto into one Quantized and
// Quantized.DequantizeInto into one buffer per spec, the same kernels writing into memory
// already mapped; -go_reuse_output=false times Quantize and Dequantize with their allocations.
//
// -json FILE writes the whole report; -cpuprofile FILE profiles the Go side (PyTorch runs in a
// child process and is not in the profile): go tool pprof -top FILE.

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/quant"
)

// Specs are the benchmarked quantizers: 4-bit RTN in groups of 64 (GPTQ/AWQ's usual baseline),
// 8-bit RTN per output channel, QLoRA's NF4 in blocks of 64, NF4 double-quantized, the float
// types FP4 E2M1 and FP8 E4M3 in blocks of 64, NormalFloat-3 in blocks of 64, and SqueezeLLM's
// 4-bit lookup tables per row (without Fisher weights: uniform k-means).
var Specs = []quant.Spec{
	{Method: quant.MethodRTN, Bits: 4, GroupSize: 64},
	{Method: quant.MethodRTN, Bits: 8, GroupSize: 0},
	{Method: quant.MethodNF4},
	{Method: quant.MethodNF4, DoubleQuant: true},
	{Method: quant.MethodFloat, Bits: 4, GroupSize: 64},
	{Method: quant.MethodFloat, Bits: 8, GroupSize: 64},
	{Method: quant.MethodNF, Bits: 3, GroupSize: 64},
	{Method: quant.MethodSqueezeLLM, Bits: 4},
}

// DefaultSqueezeLLMRows is how many rows of each matrix SqueezeLLM quantizes by default: its
// per-row k-means costs about 1 ms a row of 4096 in Go and more in PyTorch, so a whole
// 4096×4096 matrix would take seconds per call on each side.
const DefaultSqueezeLLMRows = 256

// byteIdentical reports whether the peer's exact precision reproduces qzoo's stored form of
// spec byte for byte. SqueezeLLM's does not: its k-means sums each cluster (a run of the sorted
// row) as a difference of the row's prefix sums, which rounds otherwise than qzoo's sequential
// sum, so a centroid may differ by an ulp and move an fp16 table entry or a code near a
// midpoint; its check reports the agreement (weights differing, max |Δŵ|).
func byteIdentical(spec quant.Spec) bool { return spec.Method != quant.MethodSqueezeLLM }

// specRows is the number of rows of a rows-row matrix that spec quantizes in the benchmark:
// at most squeezeLLMRows (if > 0) for SqueezeLLM, all otherwise.
func specRows(spec quant.Spec, rows, squeezeLLMRows int) int {
	if spec.Method == quant.MethodSqueezeLLM && squeezeLLMRows > 0 {
		return min(rows, squeezeLLMRows)
	}
	return rows
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

// Operations of the quant benchmark and its per-round number.
const (
	OpQuantize        = "quantize"
	OpDequantize      = "dequantize"
	MetricCallSeconds = "fastest_call_seconds"
)

var quantOps = []string{OpQuantize, OpDequantize}

// QuantOptions are the quant benchmark's flags.
type QuantOptions struct {
	Shapes          string        // comma-separated "ROWSxCOLS"
	Rounds          int           // interleaved repetitions of every measurement
	Threads         int           // GOMAXPROCS and torch.set_num_threads
	Warmup          int           // untimed quantize+dequantize calls per spec, each side
	MinTime         time.Duration // each timed operation repeats until this much time has passed; the fastest call counts
	Seed            uint64        // of the weights
	Std             float64       // standard deviation of the weights
	Python          string        // interpreter with torch
	TorchKeepMemory bool          // run PyTorch with keepMemoryEnv
	GoReuseOutput   bool          // time QuantizeInto and DequantizeInto into one Quantized and buffer instead of Quantize and Dequantize
	SqueezeLLMRows  int           // SqueezeLLM quantizes at most this many rows of a matrix (0: all)
	NoTorch         bool          // skip PyTorch
	JSONPath        string        // write the report here
	CPUProfile      string        // CPU profile of the Go side
}

// QuantDetails are a quant row's own fields.
type QuantDetails struct {
	Rows      int    `json:"rows"`
	Cols      int    `json:"cols"`
	Spec      string `json:"spec"`
	Op        string `json:"op"`                  // OpQuantize or OpDequantize
	Precision string `json:"precision,omitempty"` // the peer's: PrecisionExact or PrecisionFP32
	// Calls are the calls timed in each round; Faults the minor page faults per call.
	Calls  []int        `json:"calls"`
	Faults harness.Stat `json:"faults_per_call"`
	// RatioFP32 is, for a Go row, the fp32 peer's time over Go's in each round (the row's
	// Ratio is the exact peer's).
	RatioFP32 *harness.Stat `json:"ratio_fp32,omitempty"`
}

// addCalls adds one round's fastest call, calls and faults per call to m.
func addCalls(m *harness.Result, seconds float64, calls int, faults, load float64) {
	d := m.Details.(*QuantDetails)
	m.AddRound(seconds, load)
	d.Calls = append(d.Calls, calls)
	d.Faults.Add(faults)
}

// Check compares the peer's output in one precision with qzoo's.
type Check struct {
	Rows          int     `json:"rows"`
	Cols          int     `json:"cols"`
	Spec          string  `json:"spec"`
	Precision     string  `json:"precision"`
	StoredBytes   int     `json:"stored_bytes"`    // payload of MarshalBinary
	BytesDiffer   int     `json:"bytes_differing"` // payload bytes that differ
	MaxAbsDiff    float64 `json:"max_abs_diff"`    // max |ŵ_go − ŵ_torch|
	MaxAbsWeight  float64 `json:"max_abs_weight"`  // max |ŵ_go|, to read MaxAbsDiff against
	WeightsDiffer int     `json:"weights_differing"`
}

// QuantSummary is what the quant report holds beyond its rows (Report.Details).
type QuantSummary struct {
	Std     float64 `json:"std"`
	Seed    uint64  `json:"seed"`
	MinTime float64 `json:"min_time_seconds"`
	Checks  []Check `json:"checks,omitempty"`
}

// runQuantCommand parses the quant benchmark's flags and runs it.
func runQuantCommand(args []string, stdout, log io.Writer) error {
	var o QuantOptions
	fs := flag.NewFlagSet("bench "+BenchQuant, flag.ContinueOnError)
	fs.StringVar(&o.Shapes, "shapes", DefaultShapes, `comma-separated matrix shapes "ROWSxCOLS"`)
	fs.IntVar(&o.Rounds, "rounds", 3, "repeat every measurement this many times, interleaved; the table holds the median")
	fs.IntVar(&o.Threads, "threads", runtime.NumCPU(), "GOMAXPROCS and PyTorch's torch.set_num_threads")
	fs.IntVar(&o.Warmup, "warmup", 1, "untimed quantize+dequantize calls of every spec before the first round, each side")
	fs.DurationVar(&o.MinTime, "min_time", 500*time.Millisecond, "repeat each timed operation until this much time has passed; its fastest call counts")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the weights")
	fs.Float64Var(&o.Std, "std", 0.02, "standard deviation of the weights")
	fs.StringVar(&o.Python, "python", harness.DefaultPython, "Python interpreter with torch")
	fs.BoolVar(&o.TorchKeepMemory, "torch_keep_memory", true, "run PyTorch with glibc's malloc keeping freed memory, as Go's heap does")
	fs.BoolVar(&o.GoReuseOutput, "go_reuse_output", true, "time Go's QuantizeInto and DequantizeInto into one Quantized and one buffer per spec (memory already mapped, as the peer's kept memory) instead of Quantize and Dequantize, which allocate")
	fs.IntVar(&o.SqueezeLLMRows, "squeezellm_rows", DefaultSqueezeLLMRows, "SqueezeLLM quantizes only the first this many rows of each matrix (its per-row k-means is slow on both sides; 0: all)")
	fs.BoolVar(&o.NoTorch, "no_torch", false, "do not run PyTorch")
	fs.StringVar(&o.JSONPath, "json", "", "write the report as JSON to this file")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the Go side to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	report, err := RunQuant(o, log)
	if report != nil {
		report.Header.Print(stdout)
		PrintQuantReport(stdout, report)
	}
	return err
}

// quantSides are the rows of one operation: Go, then the peer in each of precisions.
var quantSides = 1 + len(precisions)

// RunQuant performs the quant benchmark described by o, logging progress to log. It returns
// the report (possibly partial, with the error that stopped it), written to o.JSONPath
// when that is set: per shape, spec and
// operation, a Go row and a row per peer precision (Details *QuantDetails); its Details are a
// *QuantSummary.
func RunQuant(o QuantOptions, log io.Writer) (*harness.Report, error) {
	if o.Rounds < 1 || o.Threads < 1 || o.Warmup < 0 || o.MinTime < 0 || o.SqueezeLLMRows < 0 {
		return nil, fmt.Errorf("-rounds (%d) and -threads (%d) must be ≥ 1, -warmup (%d), -min_time (%v) and -squeezellm_rows (%d) ≥ 0",
			o.Rounds, o.Threads, o.Warmup, o.MinTime, o.SqueezeLLMRows)
	}
	shapes, err := ParseShapes(o.Shapes)
	if err != nil {
		return nil, err
	}
	runtime.GOMAXPROCS(o.Threads)
	report := harness.NewReport(BenchQuant, o.Threads, o.Rounds)
	summary := &QuantSummary{Std: o.Std, Seed: o.Seed, MinTime: o.MinTime.Seconds()}
	report.Settings, report.Details = o, summary
	fmt.Fprintf(log, "bench quant: %s, %s; shapes %s; %d rounds; %d threads\n",
		report.Header.Machine.CPU, report.Header.Build.GoVersion, o.Shapes, o.Rounds, o.Threads)

	dir, err := os.MkdirTemp("", "qzoo-bench-quant-")
	if err != nil {
		return nil, fmt.Errorf("bench quant: %w", err)
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
			rows := specRows(spec, m.rows, o.SqueezeLLMRows)
			for _, op := range quantOps {
				c := fmt.Sprintf("%dx%d %s %s", rows, m.cols, spec, op)
				d := QuantDetails{Rows: rows, Cols: m.cols, Spec: spec.String(), Op: op}
				goDetails := d
				report.Results = append(report.Results, harness.Result{Case: c, Side: harness.SideQzoo, Name: "go",
					Metric: MetricCallSeconds, Unit: "s", Details: &goDetails})
				for _, p := range precisions {
					pd := d
					pd.Precision = p
					report.Results = append(report.Results, harness.Result{Case: c, Side: harness.SidePeer, Name: peerName(p),
						Metric: MetricCallSeconds, Unit: "s", Details: &pd})
				}
			}
		}
	}
	// row is the result of spec j's operation op (0 quantize, 1 dequantize) on matrix i, side k.
	row := func(i, j, op, k int) *harness.Result {
		return &report.Results[((i*len(Specs)+j)*len(quantOps)+op)*quantSides+k]
	}

	stop, err := startProfile(o.CPUProfile)
	if err != nil {
		return nil, err
	}
	defer stop()
	for _, m := range matrices {
		for _, spec := range Specs {
			m := m.firstRows(specRows(spec, m.rows, o.SqueezeLLMRows))
			for range o.Warmup {
				q, err := quant.Quantize(m.w, m.rows, m.cols, spec, nil)
				if err != nil {
					return report, fmt.Errorf("bench quant: %s on %d×%d: %w", spec, m.rows, m.cols, err)
				}
				q.Dequantize()
			}
		}
	}

	for round := range o.Rounds {
		load := harness.LoadAvg()
		fmt.Fprintf(log, "bench quant: round %d, load average %.2f\n", round+1, load)
		for i, m := range matrices {
			stored := make([]*quant.Quantized, len(Specs))
			for j, spec := range Specs {
				m := m.firstRows(specRows(spec, m.rows, o.SqueezeLLMRows))
				q, err := measureGo(m, spec, o.MinTime, o.GoReuseOutput, [2]*harness.Result{row(i, j, 0, 0), row(i, j, 1, 0)}, load)
				if err != nil {
					return report, err
				}
				stored[j] = q
				fmt.Fprintf(log, "bench quant: %d×%d %s: go quantize %.2f ms, dequantize %.2f ms\n", m.rows, m.cols,
					spec, 1e3*row(i, j, 0, 0).Value.Rounds[round], 1e3*row(i, j, 1, 0).Value.Rounds[round])
			}
			if o.NoTorch {
				continue
			}
			dump := ""
			if round == 0 {
				dump = filepath.Join(dir, fmt.Sprintf("dump%dx%d", m.rows, m.cols))
				if err := os.Mkdir(dump, 0o755); err != nil {
					return report, fmt.Errorf("bench quant: %w", err)
				}
			}
			peer, err := MeasureQuantPyTorch(o, m, dump)
			if err != nil {
				return report, err
			}
			if err := addPeerTimings(peer, load, func(spec string, op, k int) *harness.Result {
				j := slices.IndexFunc(Specs, func(s quant.Spec) bool { return s.String() == spec })
				if j < 0 {
					return nil
				}
				return row(i, j, op, k)
			}); err != nil {
				return report, err
			}
			for j, spec := range Specs {
				for op := range quantOps {
					g := row(i, j, op, 0)
					g.AddRatio(row(i, j, op, 1).Value.Rounds[round]/g.Value.Rounds[round], PyTorchName)
					d := g.Details.(*QuantDetails)
					if d.RatioFP32 == nil {
						d.RatioFP32 = &harness.Stat{}
					}
					d.RatioFP32.Add(row(i, j, op, 2).Value.Rounds[round] / g.Value.Rounds[round])
				}
				fmt.Fprintf(log, "bench quant: %d×%d %s: pytorch exact quantize %.2f ms, dequantize %.2f ms\n", specRows(spec, m.rows, o.SqueezeLLMRows), m.cols,
					spec, 1e3*row(i, j, 0, 1).Value.Rounds[round], 1e3*row(i, j, 1, 1).Value.Rounds[round])
			}
			delete(peer, "results")
			report.Peer = peer
			if dump != "" {
				for j, spec := range Specs {
					checks, err := Compare(stored[j], filepath.Join(dump, spec.String()))
					if err != nil {
						return report, err
					}
					summary.Checks = append(summary.Checks, checks...)
				}
				if err := os.RemoveAll(dump); err != nil {
					return report, fmt.Errorf("bench quant: %w", err)
				}
			}
		}
	}
	return report, report.WriteJSON(o.JSONPath)
}

// peerName is the name of the peer's rows in precision p.
func peerName(p string) string {
	if p == PrecisionExact {
		return PyTorchName
	}
	return PyTorchName + "-" + p
}

type matrix struct {
	rows, cols int
	w          []float32
	path       string // the whole matrix's file: a matrix of firstRows has its first rows
}

// firstRows is m's first rows rows.
func (m matrix) firstRows(rows int) matrix {
	m.rows, m.w = rows, m.w[:rows*m.cols]
	return m
}

// ParseShapes parses "4096x4096,64x172" into {{4096, 4096}, {64, 172}}.
func ParseShapes(s string) ([][2]int, error) {
	var shapes [][2]int
	for field := range strings.SplitSeq(s, ",") {
		r, c, ok := strings.Cut(strings.TrimSpace(field), "x")
		rows, err1 := strconv.Atoi(r)
		cols, err2 := strconv.Atoi(c)
		if !ok || err1 != nil || err2 != nil || rows < 1 || cols < 1 || rows*cols > quant.MaxParams {
			return nil, fmt.Errorf("bench quant: -shapes %q: %q is not ROWSxCOLS with positive sizes of at most %d weights", s, field, quant.MaxParams)
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
		return fmt.Errorf("bench quant: %w", err)
	}
	return nil
}

func readFloat32(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench quant: %w", err)
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("bench quant: %s has %d bytes, not a whole number of float32", path, len(b))
	}
	w := make([]float32, len(b)/4)
	for i := range w {
		w[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return w, nil
}

// measureGo times quantize and dequantize (with reuseOutput, into one reused Quantized and buffer) of spec on
// m for one round, adds them to the two go rows (quantize, dequantize) with the load before
// the round, and returns the stored form.
func measureGo(m matrix, spec quant.Spec, minTime time.Duration, reuseOutput bool, rows [2]*harness.Result, load float64) (*quant.Quantized, error) {
	var q *quant.Quantized
	var err error
	quantize := func() { q, err = quant.Quantize(m.w, m.rows, m.cols, spec, nil) }
	if reuseOutput {
		q = &quant.Quantized{}
		if err = quant.QuantizeInto(q, m.w, m.rows, m.cols, spec, nil); err == nil { // maps the codes' pages
			quantize = func() { err = quant.QuantizeInto(q, m.w, m.rows, m.cols, spec, nil) }
		}
	}
	runtime.GC()
	seconds, calls, faults := timeCalls(minTime, func() bool {
		quantize()
		return err == nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench quant: %s on %d×%d: %w", spec, m.rows, m.cols, err)
	}
	addCalls(rows[0], seconds, calls, faults, load)
	runtime.GC()
	dequantize := func() { q.Dequantize() }
	if reuseOutput {
		out := make([]float32, m.rows*m.cols)
		q.DequantizeInto(out) // maps the buffer's pages
		dequantize = func() { q.DequantizeInto(out) }
	}
	seconds, calls, faults = timeCalls(minTime, func() bool {
		dequantize()
		return true
	})
	addCalls(rows[1], seconds, calls, faults, load)
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
	Name        string    `json:"name"`
	Method      string    `json:"method"`
	Bits        int       `json:"bits"`
	Group       int       `json:"group"`
	DoubleQuant bool      `json:"double_quant"`
	Exponent    int       `json:"exponent,omitempty"` // float's exponent bits
	Levels      []float64 `json:"levels,omitempty"`   // nf's NormalFloat-k levels (quant.NFLevels)
	Rows        int       `json:"rows,omitempty"`     // squeezellm: quantize only the first rows (0: all)
}

// PeerSpecs converts specs for the peer, which implements asymmetric rtn with a width that
// divides 8, nf4 (optionally double-quantized), nf, float up to 8 bits and squeezellm with a
// width that divides 8 (uniform k-means), without outliers or rotation.
func PeerSpecs(specs []quant.Spec) ([]PeerSpec, error) {
	out := make([]PeerSpec, len(specs))
	for i, s := range specs {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		supported := s.OutlierFraction == 0 && !s.Hadamard &&
			(s.Method == quant.MethodNF4 || s.Method == quant.MethodNF || s.Method == quant.MethodFloat && s.Bits <= quant.MaxBits ||
				(s.Method == quant.MethodRTN && !s.Symmetric || s.Method == quant.MethodSqueezeLLM) && 8%s.Bits == 0)
		if !supported {
			return nil, fmt.Errorf("bench quant: spec %s has no PyTorch peer (it implements rtn-asym and squeezellm with 2, 4 or 8 bits, nf4, nf and float up to 8 bits, without outliers or rotation)", s)
		}
		p := PeerSpec{Name: s.String(), Method: s.Method, Bits: s.Bits, Group: s.GroupSize, DoubleQuant: s.DoubleQuant}
		switch s.Method {
		case quant.MethodNF4:
			p.Bits = quant.NF4Bits
			if p.Group == 0 {
				p.Group = quant.DefaultNF4Block
			}
		case quant.MethodNF:
			p.Levels = quant.NFLevels(s.Bits)
		case quant.MethodFloat:
			if _, err := fmt.Sscanf(s.FloatFormat(), "e%dm", &p.Exponent); err != nil {
				return nil, fmt.Errorf("bench quant: spec %s: float format %q: %w", s, s.FloatFormat(), err)
			}
		}
		out[i] = p
	}
	return out, nil
}

// QuantTorchArgs are the arguments of torch_quant.py that make it measure m (and, if dump is not
// "", write its outputs there) with the options' threads, warm-up and minimum time.
func QuantTorchArgs(o QuantOptions, m matrix, dump string) ([]string, error) {
	specs, err := PeerSpecs(Specs)
	if err != nil {
		return nil, err
	}
	for i, s := range Specs {
		if r := specRows(s, m.rows, o.SqueezeLLMRows); r < m.rows {
			specs[i].Rows = r
		}
	}
	js, err := json.Marshal(specs)
	if err != nil {
		return nil, fmt.Errorf("bench quant: %w", err)
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

// MeasureQuantPyTorch runs torch_quant.py on m (OMP_NUM_THREADS set to o.Threads and, with
// o.TorchKeepMemory, glibc's MALLOC_ variables replaced by keepMemoryEnv) and returns the JSON
// object it printed, which must hold a non-empty "results" list.
func MeasureQuantPyTorch(o QuantOptions, m matrix, dump string) (map[string]any, error) {
	args, err := QuantTorchArgs(o, m, dump)
	if err != nil {
		return nil, err
	}
	peer := quantPeer(o)
	out, err := peer.Run(args)
	if err != nil {
		return nil, err
	}
	if results, _ := out["results"].([]any); len(results) == 0 {
		return nil, fmt.Errorf("bench quant: the peer %s's JSON has no results: %v", peer.Name(), out)
	}
	return out, nil
}

// quantPeer is the quant benchmark's PyTorch peer.
func quantPeer(o QuantOptions) harness.Peer {
	p := harness.Peer{Command: o.Python, Script: "torch_quant.py", Set: []string{"OMP_NUM_THREADS=" + strconv.Itoa(o.Threads)}}
	if o.TorchKeepMemory {
		p.Unset = []string{"MALLOC_"}
		p.Set = append(p.Set, keepMemoryEnv...)
	}
	return p
}

// addPeerTimings adds one round of the peer's timings to the rows that row finds by spec,
// operation (0 quantize, 1 dequantize) and side (1 + the precision's index); load is the load
// average before the round.
func addPeerTimings(peer map[string]any, load float64, row func(spec string, op, side int) *harness.Result) error {
	list, _ := peer["results"].([]any)
	seen := map[*harness.Result]bool{}
	for _, item := range list {
		r, _ := item.(map[string]any)
		spec, _ := r["spec"].(string)
		precision, _ := r["precision"].(string)
		k := slices.Index(precisions, precision)
		for op, name := range quantOps {
			seconds, _ := r[name+"_seconds"].(float64)
			calls, _ := r[name+"_calls"].(float64)
			faults, _ := r[name+"_faults"].(float64)
			var m *harness.Result
			if k >= 0 {
				m = row(spec, op, 1+k)
			}
			if m == nil || !(seconds > 0) || seen[m] {
				return fmt.Errorf("bench quant: unexpected peer result %v", r)
			}
			seen[m] = true
			addCalls(m, seconds, int(calls), faults, load)
		}
	}
	if want := len(Specs) * len(precisions) * len(quantOps); len(seen) != want {
		return fmt.Errorf("bench quant: the peer reported %d timings, want %d specs × %d precisions × %d operations",
			len(seen), len(Specs), len(precisions), len(quantOps))
	}
	return nil
}

// Compare checks the peer's outputs base+".<precision>.payload" and ".dequantized" against q.
func Compare(q *quant.Quantized, base string) ([]Check, error) {
	bin, err := q.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("bench quant: %w", err)
	}
	payload := bin[marshalHeaderLen : len(bin)-marshalChecksumLen]
	wq := q.Dequantize()
	var checks []Check
	for _, precision := range precisions {
		c := Check{Rows: q.Rows(), Cols: q.Cols(), Spec: q.Spec().String(), Precision: precision, StoredBytes: len(payload)}
		peerPayload, err := os.ReadFile(base + "." + precision + ".payload")
		if err != nil {
			return nil, fmt.Errorf("bench quant: %w", err)
		}
		if len(peerPayload) != len(payload) {
			return nil, fmt.Errorf("bench quant: %s: the peer's %s stored form has %d bytes, qzoo's %d", q.Spec(), precision, len(peerPayload), len(payload))
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
			return nil, fmt.Errorf("bench quant: %s: the peer dequantized %d weights, qzoo %d", q.Spec(), len(peerW), len(wq))
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

// PrintQuantReport writes the results table, the checks and the context needed to read them.
func PrintQuantReport(w io.Writer, r *harness.Report) {
	sum := r.Details.(*QuantSummary)
	fmt.Fprintf(w, "\nquant: quantize / dequantize throughput, W ~ N(0, %g²)\n", sum.Std)
	fmt.Fprintf(w, "fastest call of each op repeated ≥ %g s; median of %d round(s)\n", sum.MinTime, r.Rounds)
	if r.Peer != nil {
		o, _ := r.Settings.(QuantOptions)
		fmt.Fprintf(w, "PyTorch %v, %v threads, glibc malloc keeps freed memory: %v\n", r.Peer["torch_version"], r.Peer["threads"], o.TorchKeepMemory)
	}
	if o, ok := r.Settings.(QuantOptions); ok {
		fmt.Fprintf(w, "Go %d threads, quantizes and dequantizes into reused memory (QuantizeInto, DequantizeInto): %v\n", o.Threads, o.GoReuseOutput)
		if o.SqueezeLLMRows > 0 {
			fmt.Fprintf(w, "SqueezeLLM quantizes the first %d rows of each matrix (-squeezellm_rows)\n", o.SqueezeLLMRows)
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\tspec\top\tGo M/s\tGo GB/s\tPyTorch M/s\tPyTorch GB/s\t× PyTorch\tfp32 M/s\t× fp32\tfaults Go\tPyTorch\tload avg\t")
	for k := 0; k+quantSides <= len(r.Results); k += quantSides {
		g, exact, fp32 := r.Results[k], r.Results[k+1], r.Results[k+2]
		d := g.Details.(*QuantDetails)
		n := float64(d.Rows * d.Cols)
		cells := []string{fmt.Sprintf("%d×%d", d.Rows, d.Cols), d.Spec, d.Op}
		cells = append(cells, rates(g.Value.Median, n)...)
		cells = append(cells, rates(exact.Value.Median, n)...)
		cells = append(cells, ratio(g.Ratio), rates(fp32.Value.Median, n)[0], ratio(d.RatioFP32), faults(g), faults(exact), loadRange(g.LoadAvg))
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nM/s: million weights per second; GB/s: float32 bytes per second (quantize's input, dequantize's output);")
	fmt.Fprintln(w, "× PyTorch: PyTorch's time / Go's in the same round (> 1: Go is faster); PyTorch = the peer computing qzoo's arithmetic exactly, fp32 = in float32;")
	fmt.Fprintln(w, "faults: minor page faults (4 KiB pages mapped on first touch) per call, median over rounds, Go and PyTorch (exact)")

	if len(sum.Checks) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSame output? The peer's stored form (MarshalBinary's payload) and dequantized weights against qzoo's:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\tspec\tpeer\tstored bytes\tbytes differing\tweights differing\tmax |Δŵ|\tmax |ŵ|\t")
	for _, c := range sum.Checks {
		fmt.Fprintf(tw, "%d×%d\t%s\t%s\t%d\t%d\t%d\t%.3g\t%.3g\t\n", c.Rows, c.Cols, c.Spec, c.Precision,
			c.StoredBytes, c.BytesDiffer, c.WeightsDiffer, c.MaxAbsDiff, c.MaxAbsWeight)
	}
	_ = tw.Flush()
}
func rates(seconds, n float64) []string {
	if !(seconds > 0) {
		return []string{"-", "-"}
	}
	return []string{fmt.Sprintf("%.1f", n/seconds/1e6), fmt.Sprintf("%.3f", 4*n/seconds/1e9)}
}

func faults(m harness.Result) string {
	d := m.Details.(*QuantDetails)
	if !d.Faults.Measured() {
		return "-"
	}
	return strconv.FormatFloat(d.Faults.Median, 'f', 0, 64)
}
