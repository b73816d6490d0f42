package whisper

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/formats/safetensors"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/linear"
)

// python is Debian's interpreter, which python3-torch installs into (a pyenv python3 earlier on
// PATH usually lacks it).
const python = "/usr/bin/python3"

// small is the Whisper-shaped encoder the tests write: 4 heads of 16, not Whisper's 64, so the
// heads must come from the config.json written beside it.
var small = Config{Mels: 80, DModel: 64, Layers: 2, Heads: 4, FFN: 128, MaxPositions: 1500}

// writeEncoder writes a randomly initialised encoder of architecture c with Hugging Face's names
// (and a decoder tensor, which the reader must ignore) to dir/model.safetensors, and, if heads,
// a Hugging Face config.json beside it. Weights are drawn at the scale that keeps activations of
// order one (std 1/√fan_in), norms near the identity, biases small, positions Whisper's table.
func writeEncoder(t *testing.T, dir string, c Config, seed uint64, heads bool) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []safetensors.Tensor
	for _, tt := range Tensors(c) {
		n := 1
		for _, d := range tt.Shape {
			n *= d
		}
		v := make([]float32, n)
		switch {
		case strings.HasSuffix(tt.HF, "embed_positions.weight"):
			v = Sinusoids(c.MaxPositions, c.DModel)
		case len(tt.Shape) == 1:
			base := 0.0
			if strings.Contains(tt.HF, "norm") && strings.HasSuffix(tt.HF, ".weight") {
				base = 1
			}
			for i := range v {
				v[i] = float32(base + 0.1*rng.NormFloat64())
			}
		default:
			fanIn := n / tt.Shape[0]
			for i := range v {
				v[i] = float32(rng.NormFloat64() / math.Sqrt(float64(fanIn)))
			}
		}
		st, err := safetensors.FromFloat32("model.encoder."+tt.HF, safetensors.F32, tt.Shape, v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	dec, _ := safetensors.FromFloat32("model.decoder.embed_tokens.weight", safetensors.F32, []int{3, 2}, make([]float32, 6))
	path := filepath.Join(dir, "model.safetensors")
	if err := safetensors.Write(path, append(out, dec), map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if heads {
		cfg, _ := json.Marshal(map[string]any{"model_type": "whisper", "d_model": c.DModel, "encoder_layers": c.Layers,
			"encoder_attention_heads": c.Heads, "encoder_ffn_dim": c.FFN, "num_mel_bins": c.Mels,
			"max_source_positions": c.MaxPositions, "decoder_layers": 2, "vocab_size": 51865})
		if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// speechLike is a test signal with energy in every mel band: two gliding harmonic tones,
// syllable-like amplitude bursts and a little noise, in [−1, 1].
func speechLike(rng *rand.Rand, samples int) []float32 {
	x := make([]float32, samples)
	f0 := 110 + 60*rng.Float64()
	for i := range x {
		s := float64(i) / SampleRate
		f := f0 * (1 + 0.2*math.Sin(2*math.Pi*0.7*s))
		v := 0.0
		for h := 1.0; h <= 12; h++ {
			v += math.Sin(2*math.Pi*f*h*s) / h
		}
		env := 0.5 + 0.5*math.Sin(2*math.Pi*3*s)
		x[i] = float32(0.3*env*v + 0.02*rng.NormFloat64())
	}
	return x
}

// encode loads path through Pretrained and runs the encoder on waves [B, S] with lengths.
func encode(t *testing.T, path string, waves []float32, batch int, lengths []int32) (*tensors.Tensor, *model.Store) {
	t.Helper()
	store := model.NewStore()
	store.SetParams(Params.Defaults())
	if err := Pretrained(store, path, Params.Defaults()); err != nil {
		t.Fatal(err)
	}
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, x, l *graph.Node) *graph.Node {
		return Build(scope, []*graph.Node{x, l}).Predictions[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Call(tensors.FromFlatDataAndDimensions(waves, batch, len(waves)/batch), tensors.FromFlatDataAndDimensions(lengths, batch))
	if err != nil {
		t.Fatal(err)
	}
	return out[0], store
}

// reference runs testdata/reference.py (PyTorch, written from openai/whisper) on waves.
func reference(t *testing.T, path string, heads int, waves []float32, batch int) []float32 {
	t.Helper()
	if err := exec.Command(python, "-c", "import torch, numpy").Run(); err != nil {
		t.Skipf("the reference needs %s with torch and numpy (apt-get install python3-torch): %v", python, err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "wave.f32"), filepath.Join(dir, "features.f32")
	raw := make([]byte, 4*len(waves))
	for i, v := range waves {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "reference.py"), path, fmt.Sprint(heads), fmt.Sprint(batch), fmt.Sprint(len(waves)/batch), in, out)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reference.py: %v\n%s", err, msg)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(raw)/4)
	for i := range got {
		got[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return got
}

// The encoder read from a Hugging Face-named file computes what PyTorch computes from the same
// file by Whisper's own equations: on Whisper's 30 s window (1500 positions, the whole table),
// and on a short clip (the table sliced), with a second example shorter than the batch whose
// tail holds noise the valid length must remove (the reference gets zeros there).
func TestMatchesPyTorchReference(t *testing.T) {
	path := writeEncoder(t, t.TempDir(), small, 7, true)
	for _, seconds := range []float64{30, 1.3} {
		t.Run(fmt.Sprintf("%gs", seconds), func(t *testing.T) {
			if seconds == 30 && testing.Short() {
				t.Skip("30 s of audio through the Go backend and PyTorch (~20 s on 2 cores)")
			}
			samples := int(seconds * SampleRate)
			rng := rand.New(rand.NewPCG(1, uint64(samples)))
			short := samples * 2 / 5
			waves := append(speechLike(rng, samples), speechLike(rng, samples)...)
			zeroed := append([]float32(nil), waves...)
			clear(zeroed[samples+short:])
			got, store := encode(t, path, waves, 2, []int32{int32(samples), int32(short)})
			want := reference(t, path, small.Heads, zeroed, 2)
			frames := samples / Hop
			if dims := got.Shape().Dimensions; dims[0] != 2 || dims[1] != (frames+1)/2 || dims[2] != small.DModel || len(want) != got.Shape().Size() {
				t.Fatalf("features %v (reference %d values), want [2 %d %d]", dims, len(want), (frames+1)/2, small.DModel)
			}
			var worst, scale float64
			for i, v := range tensors.MustCopyFlatData[float32](got) {
				worst = max(worst, math.Abs(float64(v-want[i])))
				scale = max(scale, math.Abs(float64(want[i])))
			}
			t.Logf("%g s: max |Go − PyTorch| = %.2g over features of max |%.2g|", seconds, worst, scale)
			if worst > 1e-4 || scale < 0.5 {
				t.Errorf("max |Go − PyTorch| = %g (features up to %g)", worst, scale)
			}
			if heads, _ := store.RootScope().GetParam(ParamHeads); heads != small.Heads {
				t.Errorf("whisper_heads = %v, want the config.json's %d", heads, small.Heads)
			}
		})
	}
}

// The front end's shape and normalisation: ⌊S/160⌋ frames, and values spanning exactly
// 8 decades / 4 on a clip with silence (max − 8 decades, then (x + 4)/4).
func TestLogMelRange(t *testing.T) {
	samples := 8000
	x := speechLike(rand.New(rand.NewPCG(2, 2)), samples)
	clear(x[samples/2:]) // silence: far below the clamp
	exec, err := graph.NewExec(testbackend.Go(t), func(x *graph.Node) *graph.Node { return LogMel(x, 80) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Call(tensors.FromFlatDataAndDimensions(x, 1, samples))
	if err != nil {
		t.Fatal(err)
	}
	if dims := out[0].Shape().Dimensions; dims[1] != samples/Hop || dims[2] != 80 {
		t.Fatalf("log-mel %v, want [1 %d 80]", dims, samples/Hop)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range tensors.MustCopyFlatData[float32](out[0]) {
		lo, hi = min(lo, float64(v)), max(hi, float64(v))
	}
	if math.Abs(hi-lo-2) > 1e-5 {
		t.Errorf("log-mel spans [%g, %g]: Whisper's clamp makes the span exactly 8/4 = 2 on a clip with silent bands", lo, hi)
	}
}

func TestPretrainedRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		config string // config.json beside the file, if not empty
		params map[string]any
		want   string
	}{
		{"config mismatch", `{"model_type": "whisper", "d_model": 64, "encoder_layers": 3, "encoder_attention_heads": 4, "encoder_ffn_dim": 128, "num_mel_bins": 80, "max_source_positions": 1500}`,
			nil, "has encoder_layers 3, the tensors 2"},
		{"not whisper", `{"model_type": "llama"}`, nil, `describes a "llama" model`},
		{"param mismatch", "", map[string]any{ParamDModel: 512}, `key "whisper_d_model" is 512 but the file's encoder has 64`},
		{"heads not dividing", "", map[string]any{ParamHeads: 5}, "5 heads do not divide d_model 64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeEncoder(t, dir, small, 1, false)
			if c.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(c.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			params := Params.Defaults()
			for k, v := range c.params {
				params[k] = v
			}
			err := Pretrained(model.NewStore(), path, params)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("%v, want an error naming %s and containing %q", err, path, c.want)
			}
		})
	}
	// Without config.json, heads are whisper_heads when a config sets it, else Whisper's rule
	// of 64-dimensional heads (one head here).
	path := writeEncoder(t, t.TempDir(), small, 1, false)
	for set, want := range map[int]int{0: 1, 4: 4} {
		params := Params.Defaults()
		if set > 0 {
			params[ParamHeads] = set
		}
		store := model.NewStore()
		if err := Pretrained(store, path, params); err != nil {
			t.Fatal(err)
		}
		if got, _ := store.RootScope().GetParam(ParamHeads); got != want {
			t.Errorf("whisper_heads set to %d: the store has %v heads, want %d", set, got, want)
		}
	}
	// A missing tensor and a tensor of another shape are named.
	dir := t.TempDir()
	var tensorsOut []safetensors.Tensor
	for _, tt := range Tensors(small) {
		if tt.HF == "layers.1.fc2.bias" {
			continue
		}
		shape := tt.Shape
		if tt.HF == "layers.0.self_attn.k_proj.weight" {
			shape = []int{64, 32}
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		st, _ := safetensors.FromFloat32("encoder."+tt.HF, safetensors.BF16, shape, make([]float32, n))
		tensorsOut = append(tensorsOut, st)
	}
	path = filepath.Join(dir, "m.safetensors")
	if err := safetensors.Write(path, tensorsOut, nil); err != nil {
		t.Fatal(err)
	}
	err := Pretrained(model.NewStore(), path, map[string]any{ParamHeads: 4})
	if err == nil || !strings.Contains(err.Error(), `tensor "encoder.layers.0.self_attn.k_proj.weight" has shape [64 32], want [64 64]`) {
		t.Errorf("a tensor of another shape: %v", err)
	}
	if err := Pretrained(model.NewStore(), filepath.Join(dir, "none.safetensors"), nil); err == nil || !strings.Contains(err.Error(), "none.safetensors") {
		t.Errorf("a missing file: %v", err)
	}
	other := filepath.Join(dir, "other.safetensors")
	w, _ := safetensors.FromFloat32("model.layers.0.mlp.up_proj.weight", safetensors.F16, []int{2}, []float32{1, 2})
	safetensors.Write(other, []safetensors.Tensor{w}, nil)
	if err := Pretrained(model.NewStore(), other, nil); err == nil || !strings.Contains(err.Error(), "no Whisper encoder") {
		t.Errorf("a file of another model: %v", err)
	}
}

// Student for the teacher test: a linear map of each 20 ms of waveform onto the teacher's
// features, learnt from the frozen Whisper encoder.
const studentName = "whisper_test_student"

func init() {
	framework.RegisterDataset(&framework.Dataset{Name: "whisper_test_waves", Doc: "speech-like test signals, 0.2 s at 16 kHz",
		Load: func(string, map[string]any) (*framework.Data, error) {
			return &framework.Data{
				TrainBatches: func(batchSize int, seed, start int64) train.Dataset {
					return &waveBatches{batch: batchSize, seed: seed, start: start, count: -1}
				},
				EvalBatches: func(_ string, batchSize int) (train.Dataset, error) {
					return &waveBatches{batch: batchSize, seed: 99, count: 2}, nil
				},
				EvalSplits: []string{framework.SplitTest},
			}, nil
		}})
	framework.Register(&framework.Model{
		Name: studentName, Doc: "a linear student of the Whisper encoder, for the teacher test", Dataset: "whisper_test_waves",
		Teacher: Name,
		Build: func(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
			target := framework.BuildTeacher(scope, inputs).Predictions[0] // [B, T, D]
			dims := target.Shape().Dimensions
			x := inputs[0]
			frames := graph.Reshape(graph.Slice(x, graph.AxisRange(), graph.AxisRange(0, dims[1]*2*Hop)), dims[0], dims[1], 2*Hop)
			y := linear.New(scope.In("student"), frames, dims[2]).Done()
			mse := graph.ReduceAllMean(graph.Square(graph.Sub(y, target)))
			train.AddLoss(mse)
			return framework.Outputs{Predictions: []*graph.Node{y}, Scalars: map[string]*graph.Node{"mse": mse}}
		},
		Scalars: []string{"mse"},
		NewEvaluator: func(map[string]any) (framework.Evaluator, error) {
			return &featureEvaluator{}, nil
		},
	})
}

// waveBatches yields batch k of speech-like signals as a pure function of (seed, k).
type waveBatches struct {
	batch              int
	seed, start, count int64
}

func (w *waveBatches) Name() string { return "whisper_test_waves" }
func (w *waveBatches) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		const samples = 3200
		for k := w.start; w.count < 0 || k < w.start+w.count; k++ {
			rng := rand.New(rand.NewPCG(uint64(w.seed), uint64(k)))
			var x []float32
			for range w.batch {
				x = append(x, speechLike(rng, samples)...)
			}
			if !yield(train.Batch{Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, w.batch, samples)}}, nil) {
				return
			}
		}
	}
}

// A student distils from the Whisper encoder read from the safetensors file by teacher_from
// (and named by teacher_model): it trains, its loss falls, the teacher's weights are the file's
// and stay so, and its checkpoints hold no teacher variable.
func TestFrozenTeacherFromSafetensors(t *testing.T) {
	path := writeEncoder(t, t.TempDir(), small, 3, true)
	cfg, err := framework.ParseConfig([]byte(fmt.Sprintf(`{"model": %q, "teacher_from": %q, "teacher_model": %q,
		"steps": 30, "batch_size": 2, "eval_batch_size": 2, "learning_rate": 0.01, "checkpoint_every": 30, "log_every": 1}`, studentName, path, Name)))
	if err != nil {
		t.Fatal(err)
	}
	var first, last float64
	dir := t.TempDir()
	res, err := framework.Run(cfg, framework.RunOptions{Dir: dir, Backend: testbackend.Go(t), Out: io.Discard,
		Hooks: []framework.Hooks{{OnStep: func(step int64, m map[string]float64) error {
			if step == 1 {
				first = m["mse"]
			}
			last = m["mse"]
			return nil
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !(last < first) {
		t.Errorf("the student's mse went from %g to %g", first, last)
	}
	_, store, _, err := framework.LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, _ := f.Float32("model.encoder.layers.1.fc2.weight")
	v := store.GetVariable("/" + framework.TeacherScope + "/layers/001/fc2/weights")
	if v == nil {
		t.Fatal("no teacher variable layers/001/fc2/weights in the student's store")
	}
	got := tensors.MustCopyFlatData[float32](v.MustValue())
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("teacher fc2 weight %d is %v, the file's %v", i, got[i], want[i])
		}
	}
	latest, _, err := checkpoint.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	header, err := checkpoint.ReadHeader(latest)
	if err != nil {
		t.Fatal(err)
	}
	for _, hv := range header.Variables {
		if strings.HasPrefix(hv.Path, "/"+framework.TeacherScope+"/") {
			t.Errorf("the checkpoint holds the teacher's %s", hv.Path)
		}
	}
	if res.Eval["feature_vectors"] != 2*2*10 {
		t.Errorf("evaluation saw %v feature vectors, want 2 batches × 2 clips × 10", res.Eval["feature_vectors"])
	}
}

// The distillation loss of a speech tokenizer reaches its decoder through the frozen encoder:
// the encoder's gradient with respect to the waveform (front end, convolutions, attention,
// norms) matches finite differences.
func TestGradientWithRespectToWaveform(t *testing.T) {
	const samples = 800 // 5 frames, 3 positions
	rng := rand.New(rand.NewPCG(5, 5))
	x := make([]float64, samples)
	for i, v := range speechLike(rng, samples) {
		x[i] = float64(v)
	}
	weights := make([]float64, 3*8)
	for i := range weights {
		weights[i] = rng.NormFloat64()
	}
	testbackend.CheckGradient(t, testbackend.Go(t), func(scope *model.Scope, inputs []*graph.Node) *graph.Node {
		scope.SetParams(Config{Mels: 16, DModel: 8, Layers: 1, Heads: 2, FFN: 16, MaxPositions: 4}.params())
		features := Encode(scope, inputs[0], nil) // [1, 3, 8]
		r := graph.Const(inputs[0].Graph(), tensors.FromFlatDataAndDimensions(weights, 1, 3, 8))
		return graph.ReduceAllSum(graph.Mul(features, r))
	}, tensors.FromFlatDataAndDimensions(x, 1, samples))
}
