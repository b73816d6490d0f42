package llama_test

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/models/llama"
)

// randomLogits are n rows of v logits, Gaussian with standard deviation scale.
func randomLogits(seed uint64, n, v int, scale float64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, v)
		for j := range out[i] {
			out[i][j] = float32(rng.NormFloat64() * scale)
		}
	}
	return out
}

// klOnHost is KL_k of the package doc computed in float64 on the host: the teacher's top k
// (k ≥ len: all) and the rest as one bucket, at temperature temp.
func klOnHost(t, s []float32, temp float64, k int) float64 {
	softmax := func(x []float32) []float64 {
		mx := math.Inf(-1)
		for _, v := range x {
			mx = max(mx, float64(v)/temp)
		}
		var z float64
		p := make([]float64, len(x))
		for i, v := range x {
			p[i] = math.Exp(float64(v)/temp - mx)
			z += p[i]
		}
		for i := range p {
			p[i] /= z
		}
		return p
	}
	p, q := softmax(t), softmax(s)
	// The k-th largest teacher logit (distinct values: random logits do not tie).
	sorted := append([]float32(nil), t...)
	for i := range sorted {
		for j := i + 1; j < len(sorted); j++ {
			if sorted[j] > sorted[i] {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
	}
	threshold := sorted[min(k, len(t))-1]
	var kl, pTail, qTail float64
	for i := range t {
		if t[i] >= threshold {
			kl += p[i] * math.Log(p[i]/q[i])
		} else {
			pTail += p[i]
			qTail += q[i]
		}
	}
	if pTail > 0 {
		kl += pTail * math.Log(pTail/qTail)
	}
	return kl
}

// klOnGraph runs llama.KLDivergence on the pure-Go backend: one value per row.
func klOnGraph(t *testing.T, teacher, student [][]float32, temp float64, k int) []float32 {
	t.Helper()
	exec, err := graph.NewExec(goBackend(t), func(tl, sl *graph.Node) *graph.Node {
		return llama.KLDivergence(tl, sl, temp, k)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(teacher, student)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

// The KL term against plain float64 loops: zero when the student is the teacher, the top-k
// form equal to the full divergence for k = V and k = V−1 (one token in the bucket is the full
// distribution), never above it, and equal to the host's KL_k for every k.
func TestKLDivergence(t *testing.T) {
	const rows, vocab = 6, 12
	teacher := randomLogits(1, rows, vocab, 2)
	student := randomLogits(2, rows, vocab, 2)
	for _, temp := range []float64{1, 2.5} {
		for _, k := range []int{0, 1, 3, vocab - 1, vocab} {
			if same := klOnGraph(t, teacher, teacher, temp, k); maxAbs(same) > 1e-6 {
				t.Errorf("T=%g k=%d: KL of the teacher against itself %v, want 0", temp, k, same)
			}
			got := klOnGraph(t, teacher, student, temp, k)
			full := klOnGraph(t, teacher, student, temp, 0)
			for i := range rows {
				hostK := k
				if k == 0 {
					hostK = vocab
				}
				want := klOnHost(teacher[i], student[i], temp, hostK)
				if math.Abs(float64(got[i])-want) > 1e-5*max(1, want) {
					t.Errorf("T=%g k=%d row %d: KL %g, host %g", temp, k, i, got[i], want)
				}
				if got[i] > full[i]+1e-6 {
					t.Errorf("T=%g k=%d row %d: top-k KL %g above the full KL %g", temp, k, i, got[i], full[i])
				}
				if (k == vocab || k == vocab-1) && math.Abs(float64(got[i]-full[i])) > 1e-6 {
					t.Errorf("T=%g k=%d row %d: top-k KL %g differs from the full KL %g", temp, k, i, got[i], full[i])
				}
			}
		}
	}
	// Ties at the k-th value keep every tied token: logits 3, 2, 2, 1 with k = 2 keep three.
	tied := [][]float32{{3, 2, 2, 1}}
	other := [][]float32{{0, 1, -1, 2}}
	if got, want := klOnGraph(t, tied, other, 1, 2)[0], klOnHost(tied[0], other[0], 1, 2); math.Abs(float64(got)-want) > 1e-6 {
		t.Errorf("tied logits: KL_2 %g, host (ties kept) %g", got, want)
	}
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// The gradient of L with respect to the student's logits is the textbook one,
// ((1−w)·(softmax(s) − onehot(y)) + w·T·(softmax(s/T) − softmax(t/T))) / N, and the teacher's
// logits get none; with top-k, a finite difference agrees with the graph's gradient.
func TestDistillationLossGradient(t *testing.T) {
	const n, vocab = 3, 10
	const w, temp = 0.3, 2.0
	teacher := randomLogits(3, n, vocab, 1.5)
	student := randomLogits(4, n, vocab, 1.5)
	labels := [][]int32{{1, 4, 7}}
	lossAndGrads := func(mode string, k int, s [][]float32) (float64, []float32, []float32) {
		exec, err := graph.NewExec(goBackend(t), func(tl, sl, y *graph.Node) []*graph.Node {
			tl3, sl3 := graph.InsertAxes(tl, 0), graph.InsertAxes(sl, 0)
			loss := llama.DistillationLoss(sl3, tl3, y, llama.Distillation{Mode: mode, Weight: w, Temperature: temp, TopK: k})
			grads := graph.Gradient(loss, sl, tl)
			return []*graph.Node{loss, grads[0], grads[1]}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(teacher, s, labels)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tensors.ToScalar[float32](out[0])), tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
	}
	_, gs, gt := lossAndGrads(llama.DistillKL, 0, student)
	if maxAbs(gt) != 0 {
		t.Errorf("the teacher's logits got a gradient %v", gt)
	}
	softmax := func(x []float32, temp float64) []float64 {
		var z float64
		p := make([]float64, len(x))
		for i, v := range x {
			p[i] = math.Exp(float64(v) / temp)
			z += p[i]
		}
		for i := range p {
			p[i] /= z
		}
		return p
	}
	for i := range n {
		q1, qT, pT := softmax(student[i], 1), softmax(student[i], temp), softmax(teacher[i], temp)
		for v := range vocab {
			hard := q1[v]
			if int32(v) == labels[0][i] {
				hard--
			}
			want := ((1-w)*hard + w*temp*(qT[v]-pT[v])) / n
			if got := float64(gs[i*vocab+v]); math.Abs(got-want) > 1e-6 {
				t.Errorf("∂L/∂s[%d,%d] = %g, want %g", i, v, got, want)
			}
		}
	}
	// Top-k: central differences in float32 at h = 1e-2.
	_, gk, _ := lossAndGrads(llama.DistillTopKKL, 3, student)
	const h = 1e-2
	for _, at := range [][2]int{{0, 0}, {1, 5}, {2, 9}} {
		plus, minus := clone2(student), clone2(student)
		plus[at[0]][at[1]] += h
		minus[at[0]][at[1]] -= h
		lp, _, _ := lossAndGrads(llama.DistillTopKKL, 3, plus)
		lm, _, _ := lossAndGrads(llama.DistillTopKKL, 3, minus)
		fd, got := (lp-lm)/(2*h), float64(gk[at[0]*vocab+at[1]])
		if math.Abs(fd-got) > 2e-3*max(1, math.Abs(fd)) {
			t.Errorf("top-k ∂L/∂s%v: graph %g, finite difference %g", at, got, fd)
		}
	}
}

func clone2(x [][]float32) [][]float32 {
	out := make([][]float32, len(x))
	for i := range x {
		out[i] = append([]float32(nil), x[i]...)
	}
	return out
}

func TestDistillConfigErrors(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{`"params": {"qat_distill": "kl"}`, `key "qat_distill"=kl needs quantization-aware training: set "qat" to ste or lsq`},
		{`"params": {"qat_distill": "mse", "qat": "lsq"}`, `key qat_distill: "mse" is not one of none, kl, topk_kl`},
		{`"params": {"qat_distill": "kl", "qat": "lsq", "qat_distill_weight": 1.5}`, "qat_distill_weight"},
		{`"params": {"qat_distill": "kl", "qat": "lsq", "qat_distill_temperature": 0}`, "qat_distill_temperature"},
		{`"params": {"qat_distill": "topk_kl", "qat": "lsq", "qat_distill_topk": 0}`, "qat_distill_topk"},
		{`"params": {"qat_distill": "topk_kl", "qat": "lsq", "qat_distill_topk": 600}, "teacher_from": "x"`, `key "qat_distill_topk": k=600 exceeds the vocabulary "llama_vocab_size"=512`},
		{`"params": {"qat_distill": "kl", "qat": "lsq"}`, `key "teacher_from" is required: model "llama" distils from a trained "llama"`},
		{`"params": {"qat": "lsq"}, "teacher_from": "weights/stories260K.bin"`, `key "teacher_from": model "llama" distils from no teacher with these params`},
	} {
		_, err := framework.ParseConfig([]byte(`{"model": "llama", ` + c.cfg + `}`))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.cfg, err, c.want)
		}
	}
}

// distillConfig is a short 3-bit LSQ run of stories260K on Shakespeare, its own teacher.
const distillConfig = `{"model": "llama", "init_from": "weights/stories260K.bin", "steps": %d, "batch_size": 4,
	"eval_batch_size": 8, "eval_examples": 8, "optimizer": "adamw", "learning_rate": 0.002, "log_every": 5, %s
	"params": {"text_seq_len": 64, "qat": "lsq", "qat_bits": 3 %s}}`

// Quantized distillation on real text: the student (3-bit LSQ stories260K on Shakespeare)
// lowers its distillation loss against its frozen full-precision self on held-out windows in
// 30 steps; the teacher is neither saved nor counted in the model's bits or trainable
// parameters; and a distilled run opens as a plain llama.
func TestDistillationTrains(t *testing.T) {
	const steps = 30
	// Absolute: framework.LoadRun finds the teacher again without a data directory.
	teacherFrom := fmt.Sprintf(`"teacher_from": %q,`, filepath.Join(dataDir, "weights", "stories260K.bin"))
	distil := `, "qat_distill": "kl", "qat_distill_weight": 0.7, "qat_distill_temperature": 2`
	parse := func(steps int, top, params string) *framework.Config {
		cfg, err := framework.ParseConfig(fmt.Appendf(nil, distillConfig, steps, top, params))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	run := func(cfg *framework.Config, dir string) *framework.Result {
		res, err := framework.Run(cfg, framework.RunOptions{Dir: dir, DataDir: dataDir, Backend: goBackend(t), Out: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	dir := t.TempDir()
	run(parse(0, teacherFrom, distil), dir)
	before := heldOutDistillLoss(t, dir)
	res := run(parse(steps, teacherFrom, distil), dir)
	after := heldOutDistillLoss(t, dir)
	t.Logf("held-out distillation loss (w=0.7, T=2): %.4f before, %.4f after %d steps; perplexity %.2f", before, after, steps, res.Eval[llama.MetricPerplexity])
	if !(after < before) {
		t.Errorf("held-out distillation loss %.4f after %d steps, not below %.4f before", after, steps, before)
	}

	plain := run(parse(0, "", ""), t.TempDir())
	for _, m := range []string{llama.MetricModelBits, llama.MetricTrainableParams} {
		if res.Eval[m] != plain.Eval[m] {
			t.Errorf("%s: %v distilled, %v without a teacher (the teacher was counted?)", m, res.Eval[m], plain.Eval[m])
		}
	}
	latest, _, err := checkpoint.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := checkpoint.ReadHeader(latest)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range h.Variables {
		if strings.HasPrefix(v.Path, "/"+framework.TeacherScope+"/") {
			t.Errorf("the student's checkpoint holds the teacher's %s", v.Path)
		}
	}
	if m, err := llama.Open(dir); err != nil {
		t.Errorf("opening the distilled run: %v", err)
	} else if m.Store.GetVariable("/"+framework.TeacherScope+"/embedding/weight") != nil {
		t.Error("llama.Open loaded the teacher of a distilled run")
	}
}

// heldOutDistillLoss is the distillation loss of the run in dir (its latest checkpoint and
// teacher, its qat_distill setting) on the first 4 windows of 64 tokens of the held-out end
// of Shakespeare.
func heldOutDistillLoss(t *testing.T, dir string) float64 {
	t.Helper()
	cfg, store, _, err := framework.LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, tok := stories260K(t)
	data, err := os.ReadFile(filepath.Join(dataDir, "text", "tinyshakespeare.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode(string(data[len(data)-4000:]), false, false)
	if err != nil {
		t.Fatal(err)
	}
	const windows, seq = 4, 64
	tokens, labels := make([][]int32, windows), make([][]int32, windows)
	for i := range windows {
		for j := range seq {
			tokens[i] = append(tokens[i], int32(ids[i*seq+j]))
			labels[i] = append(labels[i], int32(ids[i*seq+j+1]))
		}
	}
	d := llama.DistillationFromParams(cfg.Params)
	exec, err := model.NewExec(goBackend(t), store, func(scope *model.Scope, x, y *graph.Node) *graph.Node {
		teacher := framework.BuildTeacher(scope, []*graph.Node{x}).Predictions[0]
		return llama.DistillationLoss(llama.Forward(scope, x, nil, nil), teacher, y, d)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(tokens, labels)
	if err != nil {
		t.Fatal(err)
	}
	return float64(tensors.ToScalar[float32](out[0]))
}
