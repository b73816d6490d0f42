package asr_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/models/asr"
)

// ctcCase is one example of a batch: its valid frames and its labels (the rest is padding).
type ctcCase struct {
	frames int
	labels []int32
}

// ctcBatch holds tiny examples of every kind the recursion must get right: repeats (which need a
// blank between them), an empty label sequence, padded frames and labels, an example with no
// alignment (two equal labels in two frames) and one with no frames.
var ctcBatch = []ctcCase{
	{frames: 5, labels: []int32{1, 2}},
	{frames: 4, labels: []int32{1, 1}},
	{frames: 3, labels: []int32{2}},
	{frames: 5, labels: nil},
	{frames: 5, labels: []int32{2, 1, 2}},
	{frames: 2, labels: []int32{1, 1}},
	{frames: 0, labels: nil},
	{frames: 5, labels: []int32{2, 2, 1}},
}

const ctcT, ctcV, ctcL = 5, 3, 3

// bruteForceNLL is −ln Σ over every path of V^frames classes that collapses (merge repeats, drop
// the blank 0) to labels, of the product of the path's probabilities; +Inf when none does.
func bruteForceNLL(logProbs []float64, frames int, labels []int32) float64 {
	total := 0.0
	path := make([]int, frames)
	for code := 0; code < int(math.Pow(ctcV, float64(frames))); code++ {
		c, logP := code, 0.0
		for t := range frames {
			path[t] = c % ctcV
			c /= ctcV
			logP += logProbs[t*ctcV+path[t]]
		}
		var collapsed []int32
		for t, p := range path {
			if p != asr.Blank && (t == 0 || p != path[t-1]) {
				collapsed = append(collapsed, int32(p))
			}
		}
		if slices.Equal(collapsed, labels) {
			total += math.Exp(logP)
		}
	}
	return -math.Log(total)
}

// ctcInputs returns random logits [B, T, V] (float64) and the batch's lengths, labels (padded
// with padding) and label counts.
func ctcInputs(seed uint64, padding int32) (logits *tensors.Tensor, frames, labels, counts *tensors.Tensor) {
	rng := rand.New(rand.NewPCG(seed, 5))
	b := len(ctcBatch)
	x := make([]float64, b*ctcT*ctcV)
	for i := range x {
		x[i] = 2 * rng.NormFloat64()
	}
	f, lab, n := make([]int32, b), make([]int32, b*ctcL), make([]int32, b)
	for i, c := range ctcBatch {
		f[i], n[i] = int32(c.frames), int32(len(c.labels))
		for j := range ctcL {
			lab[i*ctcL+j] = padding
			if j < len(c.labels) {
				lab[i*ctcL+j] = c.labels[j]
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(x, b, ctcT, ctcV), tensors.FromFlatDataAndDimensions(f, b),
		tensors.FromFlatDataAndDimensions(lab, b, ctcL), tensors.FromFlatDataAndDimensions(n, b)
}

// logSoftmax is the host log-softmax of each row of v classes.
func logSoftmax(x []float64, v int) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x); r += v {
		top := slices.Max(x[r : r+v])
		sum := 0.0
		for _, y := range x[r : r+v] {
			sum += math.Exp(y - top)
		}
		for j := range v {
			out[r+j] = x[r+j] - top - math.Log(sum)
		}
	}
	return out
}

func ctcExec(t *testing.T) *model.Exec {
	exec, err := model.NewExec(testbackend.Go(t), model.NewStore(), func(_ *model.Scope, logits, frames, labels, counts *graph.Node) *graph.Node {
		return asr.CTCLoss(graph.LogSoftmax(logits, -1), frames, labels, counts, asr.Blank)
	})
	if err != nil {
		t.Fatal(err)
	}
	return exec
}

// TestCTCLossMatchesBruteForce: every example's loss is the brute-force sum over all V^T
// alignments (0 where there is none), whatever the padding holds.
func TestCTCLossMatchesBruteForce(t *testing.T) {
	exec := ctcExec(t)
	for _, padding := range []int32{0, 2} {
		logits, frames, labels, counts := ctcInputs(uint64(padding)+1, padding)
		out, err := exec.Call(logits, frames, labels, counts)
		if err != nil {
			t.Fatal(err)
		}
		got := tensors.MustCopyFlatData[float64](out[0])
		lp := logSoftmax(tensors.MustCopyFlatData[float64](logits), ctcV)
		for i, c := range ctcBatch {
			want := bruteForceNLL(lp[i*ctcT*ctcV:], c.frames, c.labels)
			if math.IsInf(want, 1) {
				want = 0 // no alignment: zero_infinity
			}
			if math.Abs(got[i]-want) > 1e-9*(1+math.Abs(want)) {
				t.Errorf("padding %d, example %d (%d frames, labels %v): loss %.12g, brute force %.12g", padding, i, c.frames, c.labels, got[i], want)
			}
		}
	}
}

// TestCTCGradient checks the gradient of Σ_b w_b·loss_b with respect to the logits against finite
// differences; the frames past each example's length get exactly zero gradient.
func TestCTCGradient(t *testing.T) {
	logits, frames, labels, counts := ctcInputs(7, 0)
	w := []float64{1, 0.5, -0.7, 0.3, 1.2, 0.9, 2, -1}
	loss := func(_ *model.Scope, in []*graph.Node) *graph.Node {
		g := in[0].Graph()
		nll := asr.CTCLoss(graph.LogSoftmax(in[0], -1), graph.Const(g, frames), graph.Const(g, labels), graph.Const(g, counts), asr.Blank)
		return graph.ReduceAllSum(graph.Mul(nll, graph.Const(g, w)))
	}
	testbackend.CheckGradient(t, testbackend.Go(t), loss, logits)

	exec, err := model.NewExec(testbackend.Go(t), model.NewStore(), func(_ *model.Scope, x *graph.Node) *graph.Node {
		return graph.Gradient(loss(nil, []*graph.Node{x}), x)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Call(logits)
	if err != nil {
		t.Fatal(err)
	}
	grad := tensors.MustCopyFlatData[float64](out[0])
	for i, c := range ctcBatch {
		for f := range ctcT {
			for v := range ctcV {
				g := grad[(i*ctcT+f)*ctcV+v]
				switch {
				case (f >= c.frames || i == 5) && g != 0: // padding, or no alignment
					t.Errorf("example %d, frame %d (of %d valid): gradient %g, want 0", i, f, c.frames, g)
				case f < c.frames && i != 5 && i != 6 && math.IsNaN(g):
					t.Errorf("example %d, frame %d: NaN gradient", i, f)
				}
			}
		}
	}
}

// TestCTCLabelOutOfRange: a label id ≥ V makes that example's loss NaN (loud), not a silent
// probability of 1, and leaves the others alone.
func TestCTCLabelOutOfRange(t *testing.T) {
	logits, frames, labels, counts := ctcInputs(3, 0)
	ids := tensors.MustCopyFlatData[int32](labels)
	ids[0] = ctcV // example 0's first label
	out, err := ctcExec(t).Call(logits, frames, tensors.FromFlatDataAndDimensions(ids, len(ctcBatch), ctcL), counts)
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float64](out[0])
	if !math.IsNaN(got[0]) {
		t.Errorf("loss with label %d among %d classes: %v, want NaN", ctcV, ctcV, got[0])
	}
	if math.IsNaN(got[1]) || got[1] <= 0 {
		t.Errorf("the other examples' losses changed: %v", got[1:])
	}
}

func TestGreedyDecode(t *testing.T) {
	// Arg max per frame: 1 1 0 1 2 2 0 0 → 1 1 2 (repeats merged, a blank separates the two 1s).
	best := []int{1, 1, 0, 1, 2, 2, 0, 0}
	lp := make([]float32, len(best)*3)
	for f, c := range best {
		for v := range 3 {
			lp[f*3+v] = -5
		}
		lp[f*3+c] = -0.1
	}
	got, err := asr.GreedyDecode(lp, len(best), 3, asr.Blank)
	if err != nil || !slices.Equal(got, []int32{1, 1, 2}) {
		t.Errorf("GreedyDecode = %v, %v; want [1 1 2]", got, err)
	}
	if got, _ := asr.GreedyDecode(lp, 3, 3, asr.Blank); !slices.Equal(got, []int32{1}) {
		t.Errorf("first 3 frames: %v, want [1]", got)
	}
	if _, err := asr.GreedyDecode(lp, 9, 3, asr.Blank); err == nil {
		t.Error("9 frames of a buffer of 8: no error")
	}
}

// BenchmarkCTC times the loss and its gradient at the recognizer's working size: 16 utterances of
// 150 frames (6 s at 25 Hz), 40 classes, up to 30 or 96 labels, on every backend.
func BenchmarkCTC(b *testing.B) {
	const batch, frames, classes = 16, 150, 40
	specs, backends := testbackend.All(b)
	for _, labels := range []int{30, 96} {
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float32, batch*frames*classes)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		lengths, ids, counts := make([]int32, batch), make([]int32, batch*labels), make([]int32, batch)
		for i := range batch {
			lengths[i], counts[i] = int32(frames-5*i), int32(labels*2/3+i%(labels/3))
			for j := range int(counts[i]) {
				ids[i*labels+j] = int32(1 + rng.IntN(classes-1))
			}
		}
		for _, spec := range specs {
			b.Run(fmt.Sprintf("%s/labels=%d", strings.SplitN(spec, ":", 2)[0], labels), func(b *testing.B) {
				args := []any{tensors.FromFlatDataAndDimensions(x, batch, frames, classes), tensors.FromFlatDataAndDimensions(lengths, batch),
					tensors.FromFlatDataAndDimensions(ids, batch, labels), tensors.FromFlatDataAndDimensions(counts, batch)}
				exec, err := model.NewExec(backends[spec], model.NewStore(), func(_ *model.Scope, logits, n, l, c *graph.Node) *graph.Node {
					loss := graph.ReduceAllSum(asr.CTCLoss(graph.LogSoftmax(logits, -1), n, l, c, asr.Blank))
					return graph.Gradient(loss, logits)[0]
				})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := exec.Call(args...); err != nil { // compiles
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					if _, err := exec.Call(args...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestEvaluator: the phoneme error rate is pooled over utterances ((S + D + I)/N, not a mean of
// rates), decoding stops at each example's valid frames, and a reference id outside the phonemes
// is an error naming the key.
func TestEvaluator(t *testing.T) {
	// Two examples of 4 frames over 3 classes; arg max 1 2 2 0 and 2 0 0 1 (its last frame past its
	// 3 valid frames).
	best := [][]int{{1, 2, 2, 0}, {2, 0, 0, 1}}
	lp := make([]float32, 2*4*3)
	for b, row := range best {
		for f, c := range row {
			for v := range 3 {
				lp[(b*4+f)*3+v] = -4
			}
			lp[(b*4+f)*3+c] = -0.1
		}
	}
	predictions := []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(make([]float32, 2*4), 2, 4, 1),
		tensors.FromFlatDataAndDimensions(lp, 2, 4, 3),
		tensors.FromFlatDataAndDimensions([]int32{4, 3}, 2),
	}
	// References: 1 2 1 (decoded 1 2: one deletion) and 2 2 2 1 (decoded 2: three deletions).
	labels := []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions([]int32{1, 2, 1, 0, 2, 2, 2, 1}, 2, 4),
		tensors.FromFlatDataAndDimensions([]int32{3, 4}, 2),
	}
	ev := asr.NewEvaluator(map[string]any{asr.ParamClasses: 3})
	if err := ev.AddLabeled(nil, labels, predictions); err != nil {
		t.Fatal(err)
	}
	m := ev.Metrics()
	if m["per"] != 4.0/7 || m["per_deletions"] != 4.0/7 || m["per_insertions"] != 0 || m["utterances"] != 2 {
		t.Errorf("metrics %v, want per = per_deletions = 4/7 over 2 utterances", m)
	}
	labels[0] = tensors.FromFlatDataAndDimensions([]int32{1, 3, 1, 0, 2, 2, 2, 1}, 2, 4)
	if err := asr.NewEvaluator(map[string]any{asr.ParamClasses: 3}).AddLabeled(nil, labels, predictions); err == nil ||
		!strings.Contains(err.Error(), asr.ParamClasses) {
		t.Errorf("label 3 among 3 classes: %v, want an error naming %s", err, asr.ParamClasses)
	}
}
