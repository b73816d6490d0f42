package main

// The mfu benchmark (go run ./bench mfu): the training throughput and model FLOPs utilization
// of a Llama run that the train command wrote, read from its run directory:
//
//	go run ./train --config configs/scaling/family_2m53.json --set "..." --checkpoint DIR
//	go run ./bench mfu --run DIR --card "$(nvidia-smi --query-gpu=name --format=csv,noheader)"
//
// What it measures. The run's metrics.jsonl logs the wall time since the loop started at
// every log_every-th step; each interval between two consecutive logged steps gives one time
// per step (the time up to the first logged step holds the compilation and is left out; periodic
// evaluations and checkpoints inside an interval count in it, so a run measured for speed
// sets eval_every=0 and checkpoint_every=0). The table holds the median over the intervals
// (harness's statistic, one interval a round) of
//
//	tokens/s = batch_size · text_seq_len / step seconds
//	model FLOPs per token = 6·N + 12·L·d·T
//	MFU = tokens/s · model FLOPs per token / the card's peak FLOP/s
//
// with N the model's parameters (the tied embedding once, as the classifier's matrix
// product), L its blocks, d its width and T the sequence length: PaLM's count (Chowdhery et al.
// 2022, "PaLM: Scaling Language Modeling with Pathways", appendix B): forward and backward
// through every weight, 2 + 4 FLOPs per parameter per token, and attention's two T-long
// products (scores and values), without discount for the causal mask; rematerialization does
// not count. The peak is the card's dense rate for -dtype from PeakTFLOPS (the vendor's
// datasheets; the card named as nvidia-smi names it), or -peak_tflops. The zoo's Llama trains
// in float32: its MFU is against the float32 peak, and the report adds it against the TF32
// tensor-core peak too, since XLA runs float32 matrix products on TF32 tensor cores where
// the card has them.

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/datasets/text"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/models/llama"
)

// BenchMFU is the name of the mfu benchmark.
const BenchMFU = "mfu"

// Data types of the peak rates (-dtype).
const (
	DTypeFloat32 = "float32" // plain fp32 on CUDA cores
	DTypeTF32    = "tf32"    // fp32 inputs on tensor cores (10-bit mantissa products)
	DTypeBF16    = "bfloat16"
)

// Peak is a card's dense peak rates in TFLOP/s, by data type.
type Peak struct {
	Card  string             `json:"card"`  // the datasheet's name of the card
	TFLOP map[string]float64 `json:"tflop"` // DTypeFloat32, DTypeTF32, DTypeBF16 → TFLOP/s, dense
}

// Dense peak rates from NVIDIA's datasheets (the tensor-core rates without structured
// sparsity, i.e. half the datasheet's "with sparsity" figures).
var (
	peakH100SXM  = Peak{"H100 SXM", map[string]float64{DTypeFloat32: 67, DTypeTF32: 494.7, DTypeBF16: 989.4}}
	peakH100PCIe = Peak{"H100 PCIe", map[string]float64{DTypeFloat32: 51, DTypeTF32: 378, DTypeBF16: 756}}
	peakH100NVL  = Peak{"H100 NVL", map[string]float64{DTypeFloat32: 60, DTypeTF32: 417.5, DTypeBF16: 835}}
	peakH200SXM  = Peak{"H200 SXM", map[string]float64{DTypeFloat32: 67, DTypeTF32: 494.7, DTypeBF16: 989.4}}
	peakH200NVL  = Peak{"H200 NVL", map[string]float64{DTypeFloat32: 60, DTypeTF32: 417.5, DTypeBF16: 835}}
)

// PeakTFLOPS returns the dense peak rates of the card nvidia-smi names (e.g. "NVIDIA H100 80GB
// HBM3", the SXM part; "NVIDIA H200"), and whether the card is known.
func PeakTFLOPS(card string) (Peak, bool) {
	c := strings.ToUpper(card)
	switch {
	case strings.Contains(c, "H200") && strings.Contains(c, "NVL"):
		return peakH200NVL, true
	case strings.Contains(c, "H200"):
		return peakH200SXM, true
	case strings.Contains(c, "H100") && strings.Contains(c, "NVL"):
		return peakH100NVL, true
	case strings.Contains(c, "H100") && strings.Contains(c, "PCIE"):
		return peakH100PCIe, true
	case strings.Contains(c, "H100"):
		return peakH100SXM, true
	}
	return Peak{}, false
}

// ModelFLOPsPerToken is PaLM's training FLOPs per token of a Llama of architecture c on
// sequences of seqLen tokens: 6·N + 12·L·d·T (see the file's doc).
func ModelFLOPsPerToken(c llama.Config, seqLen int) float64 {
	return 6*float64(c.NumParams()) + 12*float64(c.Layers)*float64(c.Dim)*float64(seqLen)
}

// MFUSummary is what the mfu report holds beyond its row (Report.Details).
type MFUSummary struct {
	Run            string  `json:"run"`
	Params         int     `json:"params"`
	Layers         int     `json:"layers"`
	Dim            int     `json:"dim"`
	SeqLen         int     `json:"seq_len"`
	BatchSize      int     `json:"batch_size"`
	DataParallel   string  `json:"data_parallel"`
	FLOPsPerToken  float64 `json:"model_flops_per_token"`
	TokensPerStep  int     `json:"tokens_per_step"`
	StepSeconds    float64 `json:"step_seconds"` // the median interval's time per step
	StepsPerSecond float64 `json:"steps_per_second"`
	// TokensPerSecond and AchievedTFLOPS are at the median step.
	TokensPerSecond float64 `json:"tokens_per_second"`
	AchievedTFLOPS  float64 `json:"achieved_tflops"`
	// Card is the name given (-card); Peak its rates; DType the data type MFU is taken for,
	// PeakTFLOPS that peak (-peak_tflops or Peak's), MFU the ratio (0 when no peak is known).
	Card       string  `json:"card,omitempty"`
	Peak       *Peak   `json:"peak,omitempty"`
	DType      string  `json:"dtype"`
	PeakTFLOPS float64 `json:"peak_tflops,omitempty"`
	MFU        float64 `json:"mfu,omitempty"`
	// MFUTF32 is the same throughput against the card's TF32 tensor-core peak (float32 runs).
	MFUTF32 float64 `json:"mfu_tf32,omitempty"`
}

// MFUOptions are the flags of the mfu benchmark.
type MFUOptions struct {
	Run        string  // run directory of the train command
	Card       string  // the GPU's name, as nvidia-smi prints it
	DType      string  // data type whose peak MFU is taken against
	PeakTFLOPS float64 // overrides the card's peak (0: from Card)
	JSONPath   string
}

func runMFUCommand(args []string, stdout, log io.Writer) error {
	var o MFUOptions
	fs := flag.NewFlagSet("bench mfu", flag.ContinueOnError)
	fs.StringVar(&o.Run, "run", "", "run directory of a Llama trained by the train command (required)")
	fs.StringVar(&o.Card, "card", "", `the GPU's name as nvidia-smi prints it, e.g. "NVIDIA H100 80GB HBM3" (H100 SXM, PCIe, NVL and H200 are known)`)
	fs.StringVar(&o.DType, "dtype", DTypeFloat32, "data type of the peak MFU is taken against: "+DTypeFloat32+", "+DTypeTF32+" or "+DTypeBF16)
	fs.Float64Var(&o.PeakTFLOPS, "peak_tflops", 0, "peak TFLOP/s to take MFU against (default: the card's for -dtype)")
	fs.StringVar(&o.JSONPath, "json", "", "write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	report, err := RunMFU(o)
	if report != nil {
		report.Header.Print(stdout)
		PrintMFUReport(stdout, report)
	}
	return err
}

// RunMFU reads the run directory of o.Run and returns the mfu report, written to o.JSONPath
// when that is set; its Details are a *MFUSummary.
func RunMFU(o MFUOptions) (*harness.Report, error) {
	if o.Run == "" {
		return nil, errors.New("-run is required")
	}
	switch o.DType {
	case DTypeFloat32, DTypeTF32, DTypeBF16:
	default:
		return nil, fmt.Errorf("-dtype %q: want %s, %s or %s", o.DType, DTypeFloat32, DTypeTF32, DTypeBF16)
	}
	cfg, err := framework.LoadConfig(filepath.Join(o.Run, framework.ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("bench: run %s: %w", o.Run, err)
	}
	if cfg.Model != ModelLlama {
		return nil, fmt.Errorf("bench: run %s trains model %q; the FLOP count is a %s's", o.Run, cfg.Model, ModelLlama)
	}
	steps, err := loggedStepSeconds(filepath.Join(o.Run, framework.MetricsFile))
	if err != nil {
		return nil, err
	}
	arch := llama.ConfigFromParams(cfg.Params)
	seqLen := cfg.Params[text.ParamSeqLen].(int)
	sum := &MFUSummary{Run: o.Run, Params: arch.NumParams(), Layers: arch.Layers, Dim: arch.Dim, SeqLen: seqLen,
		BatchSize: cfg.BatchSize, FLOPsPerToken: ModelFLOPsPerToken(arch, seqLen), TokensPerStep: cfg.BatchSize * seqLen,
		Card: o.Card, DType: o.DType, PeakTFLOPS: o.PeakTFLOPS}
	sum.DataParallel, _ = cfg.Params[framework.ParamDataParallel].(string)
	if peak, ok := PeakTFLOPS(o.Card); ok {
		sum.Peak = &peak
		if sum.PeakTFLOPS == 0 {
			sum.PeakTFLOPS = peak.TFLOP[o.DType]
		}
	}
	row := harness.Result{Case: "train", Side: harness.SideQzoo, Name: ModelLlama, Metric: MetricTokensPerSecond, Unit: "tokens/s"}
	for _, s := range steps {
		row.AddRound(float64(sum.TokensPerStep)/s, -1) // logged by the run, not timed here: no load read
	}
	sum.TokensPerSecond = row.Value.Median
	sum.StepSeconds = float64(sum.TokensPerStep) / sum.TokensPerSecond
	sum.StepsPerSecond = 1 / sum.StepSeconds
	sum.AchievedTFLOPS = sum.TokensPerSecond * sum.FLOPsPerToken / 1e12
	if sum.PeakTFLOPS > 0 {
		sum.MFU = sum.AchievedTFLOPS / sum.PeakTFLOPS
	}
	if sum.Peak != nil && o.DType == DTypeFloat32 {
		sum.MFUTF32 = sum.AchievedTFLOPS / sum.Peak.TFLOP[DTypeTF32]
	}
	report := harness.NewReport(BenchMFU, runtime.GOMAXPROCS(0), len(steps))
	report.Settings, report.Config, report.ConfigSource = o, cfg.JSON(), filepath.Join(o.Run, framework.ConfigFile)
	report.Results = []harness.Result{row}
	report.Details = sum
	return report, report.WriteJSON(o.JSONPath)
}

// loggedStepSeconds reads the training records of a metrics.jsonl (those with "step" and
// "time", no "eval") and returns the time per step of each interval between consecutive ones
// (the time up to the first holds the compilation). It needs at least two records.
func loggedStepSeconds(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	type record struct {
		Step *int64          `json:"step"`
		Time *float64        `json:"time"`
		Eval json.RawMessage `json:"eval"`
	}
	var logged []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", path, err)
		}
		if r.Step != nil && r.Time != nil && r.Eval == nil {
			logged = append(logged, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	if len(logged) < 2 {
		return nil, fmt.Errorf("bench: %s logs %d training step(s); the speed needs 2 or more (steps ≥ 2·log_every)", path, len(logged))
	}
	var out []float64
	for i := 1; i < len(logged); i++ {
		a, b := logged[i-1], logged[i]
		if *b.Step <= *a.Step || *b.Time <= *a.Time {
			return nil, fmt.Errorf("bench: %s: step %d at %.3f s follows step %d at %.3f s (a resumed run? measure a fresh one)",
				path, *b.Step, *b.Time, *a.Step, *a.Time)
		}
		out = append(out, (*b.Time-*a.Time)/float64(*b.Step-*a.Step))
	}
	return out, nil
}

// PrintMFUReport writes the mfu table and the context needed to read it.
func PrintMFUReport(w io.Writer, r *harness.Report) {
	s := r.Details.(*MFUSummary)
	fmt.Fprintf(w, "\nmfu (%s): Llama of %d parameters (%d blocks, width %d), batch %d × %d tokens, data_parallel=%s; %d logged interval(s)\n",
		s.Run, s.Params, s.Layers, s.Dim, s.BatchSize, s.SeqLen, s.DataParallel, r.Rounds)
	fmt.Fprintf(w, "model FLOPs per token 6·N + 12·L·d·T = %.4g (PaLM, appendix B)\n\n", s.FLOPsPerToken)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "steps/s\ttokens/s\t[min–max]\tachieved TFLOP/s\tpeak TFLOP/s\tMFU\t")
	v := r.Results[0].Value
	peak, mfu := "-", "-"
	if s.PeakTFLOPS > 0 {
		peak, mfu = fmt.Sprintf("%.1f (%s)", s.PeakTFLOPS, s.DType), fmt.Sprintf("%.1f%%", 100*s.MFU)
	}
	fmt.Fprintf(tw, "%.3f\t%.0f\t%.0f–%.0f\t%.3g\t%s\t%s\t\n", s.StepsPerSecond, v.Median, v.Min, v.Max, s.AchievedTFLOPS, peak, mfu)
	_ = tw.Flush()
	switch {
	case s.Peak != nil:
		fmt.Fprintf(w, "\ncard: %s (%s: dense float32 %.1f, TF32 %.1f, bfloat16 %.1f TFLOP/s)\n", s.Card, s.Peak.Card,
			s.Peak.TFLOP[DTypeFloat32], s.Peak.TFLOP[DTypeTF32], s.Peak.TFLOP[DTypeBF16])
		if s.MFUTF32 > 0 {
			fmt.Fprintf(w, "MFU against the TF32 tensor-core peak (XLA's float32 matrix products): %.1f%%\n", 100*s.MFUTF32)
		}
	case s.Card != "":
		fmt.Fprintf(w, "\ncard: %s (no peak known: give -peak_tflops)\n", s.Card)
	}
}
