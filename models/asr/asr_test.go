package asr_test

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/baselines/speech"
	"github.com/qzoo/qzoo/datasets"
	"github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/internal/datadir"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/metrics"
	"github.com/qzoo/qzoo/models/asr"
)

// tinyParams is a small recognizer for the tests: the graph of the default one, narrower.
var tinyParams = map[string]any{
	asr.ParamMels: 16, asr.ParamWidth: 16, asr.ParamHeads: 2, asr.ParamLayers: 1, asr.ParamFFN: 32, asr.ParamClasses: toneClasses,
}

// toneSource is synthetic "speech" for shape and plumbing tests: each example is one to
// maxLabels() tones (one of three pitches each, the "phonemes" 1..3) of 0.15 s after 0.05 s of
// silence each, with a little noise, padded to samples (default toneSamples).
type toneSource struct{ n, samples int }

const (
	toneClasses = 4
	toneSamples = 10400 // three tones
	toneSpan    = 3200  // samples of one tone and the silence before it
)

func (s toneSource) length() int {
	if s.samples == 0 {
		return toneSamples
	}
	return s.samples
}

func (s toneSource) maxLabels() int { return s.length() / toneSpan }

var tonePitches = []float64{0, 300, 700, 1500} // Hz, by label

func (s toneSource) Len() int { return s.n }

func (s toneSource) example(i int) (wave []float32, labels []int32) {
	rng := rand.New(rand.NewPCG(uint64(i), 11))
	for range 1 + rng.IntN(s.maxLabels()) {
		id := int32(1 + rng.IntN(3))
		labels = append(labels, id)
		wave = append(wave, make([]float32, 800)...)
		for j := range 2400 {
			wave = append(wave, float32(0.3*math.Sin(2*math.Pi*tonePitches[id]*float64(j)/asr.SampleRate)))
		}
	}
	for j := range wave {
		wave[j] += float32(0.003 * rng.NormFloat64())
	}
	return wave, labels
}

func (s toneSource) Batch(indices []int) (inputs, labels []*tensors.Tensor, err error) {
	b, n, l := len(indices), s.length(), s.maxLabels()
	audio, lengths := make([]float32, b*n), make([]int32, b)
	ids, counts := make([]int32, b*l), make([]int32, b)
	for k, i := range indices {
		wave, lab := s.example(i)
		copy(audio[k*n:], wave)
		copy(ids[k*l:], lab)
		lengths[k], counts[k] = int32(len(wave)), int32(len(lab))
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(audio, b, n), tensors.FromFlatDataAndDimensions(lengths, b)},
		[]*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, b, l), tensors.FromFlatDataAndDimensions(counts, b)}, nil
}

// paramToneSamples is the tone dataset's example length in samples.
const paramToneSamples = "asr_test_tones_samples"

// toneStudentShape is the shape of the teacher's features the test student last saw, and
// toneStudentInput that of its waveforms.
var toneStudentShape, toneStudentInput shapes.Shape

func init() {
	framework.RegisterDataset(&framework.Dataset{
		Name: "asr_test_tones", Doc: "synthetic tone sequences, for the asr tests",
		Params: hparams.List{{Key: paramToneSamples, Default: toneSamples, Doc: "samples of each (padded) example", Domain: hparams.AtLeast(toneSpan)}},
		Load: func(_ string, params map[string]any) (*framework.Data, error) {
			n := params[paramToneSamples].(int)
			trainSrc, testSrc := toneSource{n: 64, samples: n}, toneSource{n: 16, samples: n}
			return &framework.Data{
				TrainBatches: func(batchSize int, seed, start int64) train.Dataset {
					return datasets.NewBatches("tones/train", trainSrc, batchSize).Infinite(true).Shuffle(seed).StartAtBatch(start)
				},
				EvalBatches: func(split string, batchSize int) (train.Dataset, error) {
					if split != framework.SplitTest {
						return nil, fmt.Errorf("tones: no split %q", split)
					}
					return datasets.NewBatches("tones/test", testSrc, batchSize), nil
				},
				EvalSplits: []string{framework.SplitTest},
			}, nil
		},
	})
	// A student that reads the frozen recognizer's features from the waveform alone, as the
	// speech tokenizer does, and learns a linear map of them.
	framework.Register(&framework.Model{
		Name: "asr_test_student", Doc: "learns a linear map of the asr teacher's features", Dataset: "asr_test_tones", Teacher: "asr",
		Build: func(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
			features := framework.BuildTeacher(scope, inputs[:1]).Predictions[0]
			toneStudentShape, toneStudentInput = features.Shape(), inputs[0].Shape()
			d := features.Shape().Dim(2)
			w := scope.In("student").VariableWithShape("w", shapes.Make(dtypes.Float32, d, 1)).NodeValue(features.Graph())
			mse := graph.ReduceAllMean(graph.Square(graph.Sub(graph.Einsum("bfd,de->bfe", features, w), graph.OnesLike(features))))
			train.AddLoss(mse)
			return framework.Outputs{Predictions: []*graph.Node{mse}}
		},
		NewEvaluator: func(map[string]any) (framework.Evaluator, error) { return &countEvaluator{}, nil },
	})
}

type countEvaluator struct{ n int }

func (e *countEvaluator) Add(_, _ []*tensors.Tensor) error { e.n++; return nil }
func (e *countEvaluator) Metrics() map[string]float64 {
	return map[string]float64{"batches": float64(e.n)}
}

// buildExec returns an Exec of the recognizer with params over a fresh store, and the store.
func buildExec(t *testing.T, params map[string]any, withLengths bool) (*model.Exec, *model.Store) {
	t.Helper()
	store := model.NewStore()
	store.SetParams(params)
	store.SetParam(model.ParamInitialSeed, int64(3))
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, in []*graph.Node) []*graph.Node {
		if !withLengths {
			in = in[:1]
		}
		return asr.Build(scope, in).Predictions
	})
	if err != nil {
		t.Fatal(err)
	}
	return exec, store
}

// TestShapesAndFrames: features [B, F, D], log-probabilities [B, F, V] that are distributions, and
// valid frames that FrameCount predicts, with and without lengths; padded frames' features are 0.
func TestShapesAndFrames(t *testing.T) {
	inputs, _, _ := toneSource{n: 2}.Batch([]int{0, 1})
	exec, _ := buildExec(t, tinyParams, true)
	out, err := exec.Call(inputs[0], inputs[1])
	if err != nil {
		t.Fatal(err)
	}
	f := asr.FrameCount(nil, toneSamples)
	if want := fmt.Sprint([]int{2, f, 16}); fmt.Sprint(out[0].Shape().Dimensions) != want {
		t.Errorf("features %s, want %s", out[0].Shape(), want)
	}
	if want := fmt.Sprint([]int{2, f, toneClasses}); fmt.Sprint(out[1].Shape().Dimensions) != want {
		t.Errorf("log-probabilities %s, want %s", out[1].Shape(), want)
	}
	lengths := tensors.MustCopyFlatData[int32](inputs[1])
	frames := tensors.MustCopyFlatData[int32](out[2])
	features := tensors.MustCopyFlatData[float32](out[0])
	for b := range 2 {
		if want := asr.FrameCount(nil, int(lengths[b])); int(frames[b]) != want || want >= f {
			t.Errorf("example %d (%d samples): %d valid frames, want FrameCount %d (< %d)", b, lengths[b], frames[b], want, f)
		}
		for i := int(frames[b]) * 16; i < f*16; i++ {
			if features[b*f*16+i] != 0 {
				t.Fatalf("example %d: feature %d past the valid frames is %v, want 0", b, i, features[b*f*16+i])
			}
		}
	}
	logProbs := tensors.MustCopyFlatData[float32](out[1])
	for r := 0; r < len(logProbs); r += toneClasses {
		sum := 0.0
		for _, lp := range logProbs[r : r+toneClasses] {
			sum += math.Exp(float64(lp))
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("frame %d: probabilities sum to %v", r/toneClasses, sum)
		}
	}
	if rate := asr.FrameRate(nil); rate != 25 {
		t.Errorf("default frame rate %v Hz, want 25", rate)
	}

	noLengths, _ := buildExec(t, tinyParams, false)
	out, err = noLengths.Call(inputs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[int32](out[2]); got[0] != int32(f) || got[1] != int32(f) {
		t.Errorf("without lengths: valid frames %v, want all %d", got, f)
	}
}

// TestPaddingInvariance: a clip's features and log-probabilities at its valid frames are the same
// alone as padded in a batch beside a longer clip, with garbage in its padding.
func TestPaddingInvariance(t *testing.T) {
	long, _ := toneSource{}.example(0)
	short, _ := toneSource{}.example(5)
	if len(short) >= len(long) {
		short, long = long, short
	}
	s := len(long)
	batch := make([]float32, 2*s)
	copy(batch, long)
	copy(batch[s:], short)
	for j := s + len(short); j < 2*s; j++ {
		batch[j] = 0.5 // garbage past the short clip's length
	}
	exec, _ := buildExec(t, tinyParams, true)
	out, err := exec.Call(tensors.FromFlatDataAndDimensions(batch, 2, s), tensors.FromFlatDataAndDimensions([]int32{int32(s), int32(len(short))}, 2))
	if err != nil {
		t.Fatal(err)
	}
	alone, _ := buildExec(t, tinyParams, false)
	ref, err := alone.Call(tensors.FromFlatDataAndDimensions(short, 1, len(short)))
	if err != nil {
		t.Fatal(err)
	}
	f := out[0].Shape().Dim(1)
	fs := ref[0].Shape().Dim(1)
	if got := tensors.MustCopyFlatData[int32](out[2])[1]; int(got) != fs {
		t.Fatalf("the short clip has %d valid frames in the batch, %d alone", got, fs)
	}
	for k, width := range []int{16, toneClasses} {
		padded := tensors.MustCopyFlatData[float32](out[k])[f*width:]
		own := tensors.MustCopyFlatData[float32](ref[k])
		for i := range fs * width {
			if math.Abs(float64(padded[i]-own[i])) > 1e-4*(1+math.Abs(float64(own[i]))) {
				t.Fatalf("prediction %d, frame %d: %v in the batch, %v alone", k, i/width, padded[i], own[i])
			}
		}
	}
}

// TestWaveformGradient: the features are differentiable with respect to the waveform (a student
// back-propagates a feature loss through the frozen teacher), with a finite, non-zero gradient
// only at the valid samples.
func TestWaveformGradient(t *testing.T) {
	inputs, _, _ := toneSource{n: 2}.Batch([]int{0, 1})
	store := model.NewStore()
	store.SetParams(tinyParams)
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, x, n *graph.Node) *graph.Node {
		features := asr.Build(scope, []*graph.Node{x, n}).Predictions[0]
		return graph.Gradient(graph.ReduceAllSum(graph.Square(features)), x)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Call(inputs[0], inputs[1])
	if err != nil {
		t.Fatal(err)
	}
	grad := tensors.MustCopyFlatData[float32](out[0])
	lengths := tensors.MustCopyFlatData[int32](inputs[1])
	for b := range 2 {
		var inside float64
		for j := range toneSamples {
			g := float64(grad[b*toneSamples+j])
			switch {
			case math.IsNaN(g) || math.IsInf(g, 0):
				t.Fatalf("example %d, sample %d: gradient %v", b, j, g)
			case j >= int(lengths[b]) && g != 0:
				t.Fatalf("example %d, padded sample %d: gradient %v, want 0", b, j, g)
			}
			inside += math.Abs(g)
		}
		if !(inside > 0) {
			t.Errorf("example %d: no gradient reaches the waveform", b)
		}
	}
}

// TestTeacherForAStudent trains the recognizer for a few steps, evaluates its phoneme error rate,
// then trains a student that builds it as its frozen teacher from the waveform alone: the student
// sees features [B, FrameCount(S), D].
func TestTeacherForAStudent(t *testing.T) {
	backend := testbackend.Go(t)
	teacherDir := t.TempDir()
	cfg, err := framework.ParseConfig([]byte(`{"model": "asr", "dataset": "asr_test_tones", "steps": 3, "batch_size": 4,
		"eval_batch_size": 8, "learning_rate": 0.003, "params": {"asr_mels": 16, "asr_width": 16, "asr_heads": 2,
		"asr_layers": 1, "asr_ffn": 32, "asr_classes": 4}}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := framework.Run(cfg, framework.RunOptions{Dir: teacherDir, Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if per := res.Eval["per"]; !(per >= 0) || res.Eval["utterances"] != 16 {
		t.Errorf("evaluation %v: want a phoneme error rate over the 16 test utterances", res.Eval)
	}
	if loss := res.Train["loss"]; !(loss > 0) || math.IsInf(loss, 0) {
		t.Errorf("training loss %v", loss)
	}

	scfg, err := framework.ParseConfig([]byte(`{"model": "asr_test_student", "steps": 2, "batch_size": 4, "eval_batch_size": 8,
		"teacher_from": "` + teacherDir + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := framework.Run(scfg, framework.RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]int{toneStudentInput.Dim(0), asr.FrameCount(res.Config.Params, toneSamples), 16})
	if got := fmt.Sprint(toneStudentShape.Dimensions); got != want || toneStudentShape.DType != dtypes.Float32 {
		t.Errorf("the student saw teacher features %s, want float32 %s", toneStudentShape, want)
	}
}

// TestStepTime measures training steps of the default recognizer on batches of 16 clips of 6 s
// (150 frames at 25 Hz, up to 30 labels: the unrolled CTC recursion at the length of the
// corpus's longest clips) on the backend NewBackend chooses, and logs the compile and step times
// that size configs/speech/teacher.json. Not under -short.
func TestStepTime(t *testing.T) {
	if testing.Short() {
		t.Skip("long: trains the full-size recognizer")
	}
	backend, line, err := framework.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(line)
	cfg, err := framework.ParseConfig([]byte(`{"model": "asr", "dataset": "asr_test_tones", "steps": 20, "batch_size": 16,
		"eval_batch_size": 16, "eval_examples": 16, "params": {"asr_test_tones_samples": 96000, "asr_classes": 4}}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := framework.Run(cfg, framework.RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("20 steps: median step %.3f s, %.3f steps/s including compilation", res.MedianStepSeconds, res.StepsPerSecond)
}

// TestLearnsTones: trained for 80 steps with CTC, a small recognizer transcribes the
// held-out tone sequences almost perfectly (the loss, the decoder and the evaluator work together;
// the real corpus's result is configs/speech/teacher.json's).
func TestLearnsTones(t *testing.T) {
	cfg, err := framework.ParseConfig([]byte(`{"model": "asr", "dataset": "asr_test_tones", "steps": 80, "batch_size": 8,
		"eval_batch_size": 16, "learning_rate": 0.003, "warmup_steps": 10, "lr_schedule": "cosine", "seed": 1,
		"params": {"asr_mels": 16, "asr_width": 32, "asr_heads": 2, "asr_layers": 1, "asr_ffn": 64, "asr_classes": 4,
		"asr_freq_masks": 0, "asr_time_masks": 0}}`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := framework.Run(cfg, framework.RunOptions{Dir: dir, Backend: testbackend.Go(t), Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after %d steps: loss %.3f, %v (%.1f steps/s)", res.Step, res.Train["loss"], res.Eval, res.StepsPerSecond)
	if per := res.Eval["per"]; !(per < 0.1) {
		t.Errorf("phoneme error rate %v on the held-out tones, want < 0.1", per)
	}

	// The trained run outside the loop: the Recognizer transcribes each held-out clip, unpadded,
	// as well as the evaluator did on the padded batch.
	loaded, store, _, err := framework.LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := asr.NewRecognizer(testbackend.Go(t), store, loaded.Params)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var counts metrics.EditCounts
	for i := range 16 {
		wave, labels := toneSource{n: 16}.example(i)
		hyp, err := r.Recognize(wave)
		if err != nil {
			t.Fatal(err)
		}
		counts = counts.Add(metrics.Align(labels, hyp))
	}
	if per := counts.Rate(); math.Abs(per-res.Eval["per"]) > 0.05 {
		t.Errorf("Recognizer's phoneme error rate %v on the held-out tones, the evaluator's %v", per, res.Eval["per"])
	}
	// The run as a study's phoneme scorer: a clip without a transcript is not scored; one with
	// a transcript is scored against espeak-ng's phonemes of its words.
	scorer, err := asr.OpenScorer(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer scorer.Close()
	wave, _ := toneSource{n: 16}.example(0)
	if _, ok, err := scorer.PhonemeErrors(speech.Clip{Name: "tones", Audio: wave, Rate: 16000}, wave); ok || err != nil {
		t.Errorf("a clip without transcript: scored %v, %v", ok, err)
	}
	counts, ok, err := scorer.PhonemeErrors(speech.Clip{Name: "tones", Audio: wave, Rate: 16000, Transcript: "go forward ten meters"}, wave)
	if err != nil || !ok || counts.Reference != 16 {
		t.Errorf("'go forward ten meters': %+v, %v, %v; want its 16 phonemes (G OW F AO R W ER D T EH N M IY T ER Z)", counts, ok, err)
	}
	if _, err := r.Recognize([]float32{0, float32(math.NaN())}); err == nil {
		t.Error("a NaN sample was recognized")
	}
}

// librivoxClips reads the shared LibriVox clips (16 kHz, one reader) and their transcripts,
// phonemised by espeak-ng's en-us voice (`-q -x --sep=|`, stress and pause marks dropped) into ids
// of a test-only inventory numbered by first appearance (1..n; datasets/speech maps the same
// output to its ARPAbet inventory). It returns the waveforms, the labels and the class count n+1.
func librivoxClips(t *testing.T) (waves [][]float32, labels [][]int32, classes int) {
	t.Helper()
	dir := filepath.Join(datadir.Dir(t), "speech", "librivox")
	text, err := os.ReadFile(filepath.Join(dir, "transcription"))
	if err != nil {
		t.Fatal(err)
	}
	espeak, err := exec.LookPath("espeak-ng")
	if err != nil {
		t.Fatalf("espeak-ng (Debian package espeak-ng) phonemises the transcripts: %v", err)
	}
	ids := map[string]int32{}
	for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		open, close := strings.LastIndex(line, "("), strings.LastIndex(line, ")")
		words := strings.TrimSpace(strings.NewReplacer("<s>", "", "</s>", "").Replace(line[:open]))
		audio, err := wav.Read(filepath.Join(dir, line[open+1:close]+".wav"))
		if err != nil {
			t.Fatal(err)
		}
		if audio.SampleRate != asr.SampleRate {
			t.Fatalf("%s: %d Hz, want %d", line[open+1:close], audio.SampleRate, asr.SampleRate)
		}
		out, err := exec.Command(espeak, "-q", "-x", "--sep=|", "-v", "en-us", words).Output()
		if err != nil {
			t.Fatalf("espeak-ng on %q: %v", words, err)
		}
		var lab []int32
		for _, p := range strings.FieldsFunc(string(out), func(r rune) bool { return strings.ContainsRune(" |\n'%,=_:!", r) }) {
			if _, ok := ids[p]; !ok {
				ids[p] = int32(len(ids) + 1)
			}
			lab = append(lab, ids[p])
		}
		waves, labels = append(waves, audio.Mono()), append(labels, lab)
	}
	return waves, labels, len(ids) + 1
}

// clipSource serves fixed clips with their labels as recognizer batches: audio [B, S] zero-padded
// to the longest clip, lengths [B], labels [B, L] padded with the blank, counts [B].
type clipSource struct {
	waves  [][]float32
	labels [][]int32
}

func (c clipSource) Len() int { return len(c.waves) }

func (c clipSource) Batch(indices []int) (inputs, labels []*tensors.Tensor, err error) {
	s, l := 0, 0
	for i := range c.waves {
		s, l = max(s, len(c.waves[i])), max(l, len(c.labels[i]))
	}
	b := len(indices)
	audio, lengths, ids, counts := make([]float32, b*s), make([]int32, b), make([]int32, b*l), make([]int32, b)
	for k, i := range indices {
		copy(audio[k*s:], c.waves[i])
		copy(ids[k*l:], c.labels[i])
		lengths[k], counts[k] = int32(len(c.waves[i])), int32(len(c.labels[i]))
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(audio, b, s), tensors.FromFlatDataAndDimensions(lengths, b)},
		[]*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, b, l), tensors.FromFlatDataAndDimensions(counts, b)}, nil
}

// librivox holds the clips the dataset "asr_test_librivox" serves, set by the test that uses it.
var librivox clipSource

func init() {
	framework.RegisterDataset(&framework.Dataset{
		Name: "asr_test_librivox", Doc: "the five shared LibriVox clips, as both splits, for the asr overfitting test",
		Load: func(string, map[string]any) (*framework.Data, error) {
			if librivox.Len() == 0 {
				return nil, fmt.Errorf("asr_test_librivox: no clips loaded")
			}
			return &framework.Data{
				TrainBatches: func(batchSize int, seed, start int64) train.Dataset {
					return datasets.NewBatches("librivox/train", librivox, batchSize).Infinite(true).Shuffle(seed).StartAtBatch(start)
				},
				EvalBatches: func(_ string, batchSize int) (train.Dataset, error) {
					return datasets.NewBatches("librivox/test", librivox, batchSize), nil
				},
				EvalSplits: []string{framework.SplitTest},
			}, nil
		},
	})
}

// TestRealClipsOverfit trains a small recognizer on the five shared LibriVox clips (up to 7.1 s,
// 178 frames, up to 79 phonemes, padded in one batch) until it transcribes them: the unrolled CTC
// recursion learns real utterances at their real lengths. The PER on the same clips falls from
// ≥ 0.9 untrained to below 0.3 (measured: 1.05, then 0.000). Not under -short: about 2.5 min on the
// pure-Go backend of a shared 2-core machine.
func TestRealClipsOverfit(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 150 training steps on real clips")
	}
	waves, labels, classes := librivoxClips(t)
	librivox = clipSource{waves: waves, labels: labels}
	cfg, err := framework.ParseConfig([]byte(fmt.Sprintf(`{"model": "asr", "dataset": "asr_test_librivox", "steps": 150,
		"batch_size": 5, "eval_batch_size": 5, "learning_rate": 0.003, "warmup_steps": 10, "seed": 1, "eval_every": 150,
		"params": {"asr_width": 64, "asr_heads": 4, "asr_layers": 2, "asr_ffn": 128, "asr_classes": %d,
		"asr_freq_masks": 0, "asr_time_masks": 0}}`, classes)))
	if err != nil {
		t.Fatal(err)
	}
	backend := testbackend.Go(t)
	untrained := *cfg
	untrained.Steps = 0
	start, err := framework.Run(&untrained, framework.RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	res, err := framework.Run(cfg, framework.RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	before, after := start.Eval["per"], res.Eval["per"]
	t.Logf("%d clips, %d classes: PER %.3f untrained, %.3f after %d steps (loss %.3f, %.2f steps/s)",
		len(waves), classes, before, after, res.Step, res.Train["loss"], res.StepsPerSecond)
	if !(before >= 0.9) || !(after < 0.3) {
		t.Errorf("PER %.3f untrained, %.3f after training on the same clips; want ≥ 0.9, then < 0.3", before, after)
	}
}

// TestValidate: a width that does not split into heads of even size is a config error naming both
// keys, and so is the speech corpus in its tokenizer mode, before any data is loaded.
func TestValidate(t *testing.T) {
	for _, params := range []string{`"asr_width": 144, "asr_heads": 5`, `"asr_width": 36, "asr_heads": 4`} {
		_, err := framework.ParseConfig([]byte(`{"model": "asr", "dataset": "asr_test_tones", "params": {` + params + `}}`))
		if err == nil || !strings.Contains(err.Error(), asr.ParamWidth) || !strings.Contains(err.Error(), asr.ParamHeads) {
			t.Errorf("{%s}: %v, want an error naming %s and %s", params, err, asr.ParamWidth, asr.ParamHeads)
		}
	}
	if _, err := framework.ParseConfig([]byte(`{"model": "asr", "dataset": "asr_test_tones"}`)); err != nil {
		t.Errorf("defaults: %v", err)
	}
	// The speech corpus's default mode serves tokenizer crops without labels.
	if _, err := framework.ParseConfig([]byte(`{"model": "asr"}`)); err == nil || !strings.Contains(err.Error(), "speech_mode") {
		t.Errorf("asr on the speech corpus in tokenizer mode: %v, want an error naming speech_mode", err)
	}
	if _, err := framework.ParseConfig([]byte(`{"model": "asr", "params": {"speech_mode": "recognizer"}}`)); err != nil {
		t.Errorf("recognizer mode: %v", err)
	}
}

// TestNoConvolution: with asr_conv_layers 0 the model runs at the log-mel's 100 Hz, the bands
// projected to the width, and FrameCount says so.
func TestNoConvolution(t *testing.T) {
	params := map[string]any{asr.ParamMels: 16, asr.ParamWidth: 16, asr.ParamHeads: 2, asr.ParamLayers: 1, asr.ParamFFN: 32,
		asr.ParamClasses: toneClasses, asr.ParamConvLayers: 0}
	inputs, _, _ := toneSource{n: 1}.Batch([]int{0})
	exec, _ := buildExec(t, params, false)
	out, err := exec.Call(inputs[0])
	if err != nil {
		t.Fatal(err)
	}
	if f := asr.FrameCount(params, toneSamples); out[asr.PredFeatures].Shape().Dim(1) != f || f != toneSamples/160+1 || asr.FrameRate(params) != 100 {
		t.Errorf("features %s, FrameCount %d, FrameRate %v; want %d frames at 100 Hz", out[0].Shape(), f, asr.FrameRate(params), toneSamples/160+1)
	}
}
