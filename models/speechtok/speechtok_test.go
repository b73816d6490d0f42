package speechtok_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/compressor"
	"github.com/qzoo/qzoo/datasets"
	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/formats/safetensors"
	"github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/internal/datadir"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/audio"
	"github.com/qzoo/qzoo/media"
	"github.com/qzoo/qzoo/models/speechtok"
	"github.com/qzoo/qzoo/models/whisper"
)

// The test teacher: features E(x) = LogMel(x)·W [B, F, 8], W [20, 8] read from a JSON file by
// Pretrained — the teacher contract (waveforms [B, S] in, features [B, F, D] out) at its smallest.
var teacherMel = dsp.Mel{STFT: dsp.STFT{NFFT: 256, Win: 256, Hop: 160, Center: true}, SampleRate: 16000, NMels: 20, FMax: 8000, Scale: dsp.HTK, Floor: 1e-5}

const teacherDim = 8

// crop is the length of the test dataset's examples: 0.8 s, whole frames at every rate.
const crop = 12800

func init() {
	framework.Register(&framework.Model{
		Name: "speechtok_test_teacher", Doc: "log-mel · W, the tokenizer tests' teacher", Dataset: "speechtok_test_clips",
		Build: func(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
			w := scope.In("proj").VariableWithShape("w", shapes.Make(dtypes.Float32, teacherMel.NMels, teacherDim)).NodeValue(inputs[0].Graph())
			return framework.Outputs{Predictions: []*graph.Node{graph.Einsum("bfm,md->bfd", audio.LogMel(inputs[0], teacherMel), w)}}
		},
		Pretrained: func(store *model.Store, path string, _ map[string]any) error {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var w []float32
			if err := json.Unmarshal(data, &w); err != nil || len(w) != teacherMel.NMels*teacherDim {
				return fmt.Errorf("want a JSON list of %d weights", teacherMel.NMels*teacherDim)
			}
			store.RootScope().In("proj").VariableWithValue("w", tensors.FromFlatDataAndDimensions(w, teacherMel.NMels, teacherDim))
			return nil
		},
		NewEvaluator: func(map[string]any) (framework.Evaluator, error) { return nil, errors.New("not evaluated") },
	})
	framework.Register(speechtok.NewModel("speechtok_test", "speechtok_test_teacher"))
	framework.RegisterDataset(&framework.Dataset{Name: "speechtok_test_clips", Doc: "0.8 s crops of the LibriVox clips: clip 4 for evaluation",
		Params: hparams.List{}, Load: loadClips})
}

// librivox lists the real clips (16 kHz mono) of the shared data.
func librivox(dataDir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dataDir, "speech", "librivox", "*.wav"))
	if err == nil && len(paths) < 2 {
		err = fmt.Errorf("want at least 2 LibriVox clips under %s, found %d", dataDir, len(paths))
	}
	return paths, err
}

// crops is a datasets.Source of fixed-length crops of waveforms.
type crops [][]float32

func (c crops) Len() int { return len(c) }
func (c crops) Batch(indices []int) ([]*tensors.Tensor, []*tensors.Tensor, error) {
	x := make([]float32, 0, len(indices)*crop)
	for _, i := range indices {
		x = append(x, c[i]...)
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, len(indices), crop)}, nil, nil
}

func cropsOf(paths []string) (crops, error) {
	var out crops
	for _, p := range paths {
		a, err := wav.Read(p)
		if err != nil {
			return nil, err
		}
		x := a.Mono()
		for s := 0; s+crop <= len(x); s += crop {
			out = append(out, x[s:s+crop])
		}
	}
	return out, nil
}

func loadClips(dataDir string, _ map[string]any) (*framework.Data, error) {
	paths, err := librivox(dataDir)
	if err != nil {
		return nil, err
	}
	trainCrops, err := cropsOf(paths[:len(paths)-1])
	if err != nil {
		return nil, err
	}
	testCrops, err := cropsOf(paths[len(paths)-1:])
	if err != nil {
		return nil, err
	}
	return &framework.Data{
		TrainBatches: func(batchSize int, seed, start int64) train.Dataset {
			return datasets.NewBatches("clips/train", trainCrops, batchSize).Infinite(true).Shuffle(seed).StartAtBatch(start)
		},
		EvalBatches: func(split string, batchSize int) (train.Dataset, error) {
			return datasets.NewBatches("clips/test", testCrops, batchSize), nil
		},
		EvalSplits: []string{framework.SplitTest},
	}, nil
}

// small are the hyperparameters of a tokenizer small enough for tests.
const small = `"speechtok_channels": 8, "speechtok_max_channels": 16, "speechtok_mel_ffts": "256,512", "speechtok_mel_bins": "20,40",
	"sem_vq_codebook_size": 64, "ac_vq_codebook_size": 32, "ac_vq_residual_stages": 2`

func parse(t *testing.T, modelName, extra string) *framework.Config {
	t.Helper()
	cfg, err := framework.ParseConfig([]byte(`{"model": "` + modelName + `", "dataset": "speechtok_test_clips", "batch_size": 4, "eval_batch_size": 4,
		"learning_rate": 0.001, "log_every": 1` + extra + `, "params": {` + small + `}}`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func geometryOf(t *testing.T, settings map[string]any) (speechtok.Geometry, error) {
	t.Helper()
	m, err := framework.LookupModel("speechtok_nodistill")
	if err != nil {
		t.Fatal(err)
	}
	p := m.Params.Defaults()
	for k, v := range settings {
		p[k] = v
	}
	return speechtok.GeometryOf(p)
}

// TestGeometry: the strides give 25, 12.5 and 6.25 Hz; the rate is the frame rate times the
// packed bits of the streams (LM-SPT's 12.5 Hz layout 16384 + 7×4096 is 1225 bit/s, 175 semantic
// only; a 1000-code FSQ packs at 10 bits).
func TestGeometry(t *testing.T) {
	for _, tc := range []struct {
		strides string
		hz      float64
	}{{"4", 25}, {"2,4", 12.5}, {"4,4", 6.25}, {"2,2,2,2", 6.25}} {
		g, err := geometryOf(t, map[string]any{speechtok.ParamStrides: tc.strides})
		if err != nil {
			t.Fatal(err)
		}
		if g.FrameRate() != tc.hz {
			t.Errorf("strides %s: %g Hz, want %g", tc.strides, g.FrameRate(), tc.hz)
		}
	}
	g, err := geometryOf(t, map[string]any{"sem_vq_codebook_size": 16384, "ac_vq_codebook_size": 4096, "ac_vq_residual_stages": 7})
	if err != nil {
		t.Fatal(err)
	}
	if all, sem := g.BitsPerSecond(g.Streams()), g.BitsPerSecond(1); all != 1225 || sem != 175 {
		t.Errorf("LM-SPT's layout: %g and %g bit/s, want 1225 and 175", all, sem)
	}
	g, err = geometryOf(t, map[string]any{"sem_vq_type": "fsq", "sem_vq_fsq_levels": "8,5,5,5"})
	if err != nil {
		t.Fatal(err)
	}
	if bits := g.StageBits(); bits[0] != 10 || len(bits) != 5 {
		t.Errorf("FSQ 8·5·5·5 and 4 acoustic stages: bits %v, want 10 then 4×10", bits)
	}
}

// TestConfigRefusals: an odd stride, unmatched mel lists, an FFT beyond the bound, a weight for a
// teacher the model lacks, and a distilling model without a weight are config errors naming the key.
func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct{ model, params, key string }{
		{"speechtok_nodistill", `"speechtok_strides": "3,2"`, "speechtok_strides"},
		{"speechtok_nodistill", `"speechtok_mel_ffts": "256,512", "speechtok_mel_bins": "32"`, "speechtok_mel_bins"},
		{"speechtok_nodistill", `"speechtok_mel_ffts": "4096", "speechtok_mel_bins": "64"`, "speechtok_mel_ffts"},
		{"speechtok_nodistill", `"speechtok_distill_weight": 2`, "speechtok_distill_weight"},
		{"speechtok_test", `"speechtok_distill_weight": 0`, "speechtok_distill_weight"},
		{"speechtok_nodistill", `"ac_vq_type": "nope"`, "ac_vq_type"},
	} {
		_, err := framework.ParseConfig([]byte(`{"model": "` + tc.model + `", "dataset": "speechtok_test_clips", "teacher_from": "x", "params": {` + tc.params + `}}`))
		if tc.model == "speechtok_nodistill" {
			_, err = framework.ParseConfig([]byte(`{"model": "` + tc.model + `", "dataset": "speechtok_test_clips", "params": {` + tc.params + `}}`))
		}
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s {%s}: %v, want an error naming %s", tc.model, tc.params, err, tc.key)
		}
	}
}

// TestBuild: the predictions have the documented shapes and ranges, and the loss's gradient
// reaches both encoders (through both quantizers) and the decoder.
func TestBuild(t *testing.T) {
	m, err := framework.LookupModel("speechtok_nodistill")
	if err != nil {
		t.Fatal(err)
	}
	params := m.Params.Defaults()
	for k, v := range map[string]any{speechtok.ParamChannels: 8, speechtok.ParamMaxChannels: 16, speechtok.ParamStrides: "4,4"} {
		params[k] = v
	}
	store := model.NewStore()
	store.SetParams(params)
	const batch, samples = 2, 2 * 2560
	vars := []string{"/sem_encoder/in/conv1d/weights", "/ac_encoder/in/conv1d/weights", "/decoder/out/conv1d/weights"}
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		out := speechtok.Build(scope, []*graph.Node{x})
		loss := train.TotalLoss(x.Graph())
		res := append([]*graph.Node{}, out.Predictions...)
		for _, path := range vars {
			v := store.GetVariable(path)
			if v == nil {
				t.Fatalf("no variable %s", path)
			}
			res = append(res, graph.ReduceAllSum(graph.Abs(graph.Gradient(loss, v.NodeValue(x.Graph()))[0])))
		}
		return res
	})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*samples)
	for i := range x {
		x[i] = float32(0.3*math.Sin(float64(i)*0.05) + 0.05*rng.NormFloat64())
	}
	out, err := exec.Call(tensors.FromFlatDataAndDimensions(x, batch, samples))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]int{{batch, samples}, {batch, samples}, {batch, 2, 5}} {
		if got := out[i].Shape().Dimensions; !slices.Equal(got, want) {
			t.Errorf("prediction %d: shape %v, want %v", i, got, want)
		}
	}
	for _, v := range tensors.MustCopyFlatData[float32](out[0]) {
		if !(v > -1 && v < 1) {
			t.Fatalf("reconstruction sample %v outside (−1, 1)", v)
		}
	}
	for i, c := range tensors.MustCopyFlatData[int32](out[2]) {
		if c < 0 || c >= 1024 {
			t.Fatalf("code %d = %d outside [0, 1024)", i, c)
		}
	}
	for i, path := range vars {
		if g := out[3+i].Value().(float32); !(g > 0) {
			t.Errorf("the loss's gradient does not reach %s: Σ|∂L/∂w| = %v", path, g)
		}
	}
}

func finalWeights(t *testing.T, dir, path string) []float32 {
	t.Helper()
	ckpt, _, err := checkpoint.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if _, err := checkpoint.Load(ckpt, store); err != nil {
		t.Fatal(err)
	}
	v := store.GetVariable(path)
	if v == nil {
		t.Fatalf("%s holds no %s", ckpt, path)
	}
	return tensors.MustCopyFlatData[float32](v.MustValue())
}

// TestDistillation trains the distilling tokenizer a few steps on real clips with the test
// teacher: the distillation is logged, the auxiliary decoder learns from it alone (its weights
// move from their initial values), and the teacher is not saved.
func TestDistillation(t *testing.T) {
	backend := testbackend.Go(t)
	w := make([]float32, teacherMel.NMels*teacherDim)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range w {
		w[i] = float32(rng.NormFloat64() / 4)
	}
	data, _ := json.Marshal(w)
	file := filepath.Join(t.TempDir(), "teacher.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	from, _ := json.Marshal(file)
	dirs := map[int]string{}
	var res *framework.Result
	for _, steps := range []int{0, 3} {
		dirs[steps] = t.TempDir()
		var err error
		res, err = framework.Run(parse(t, "speechtok_test", fmt.Sprintf(`, "steps": %d, "eval_examples": 4, "teacher_from": %s`, steps, from)),
			framework.RunOptions{Dir: dirs[steps], Backend: backend, Out: io.Discard, DataDir: datadir.Dir(t)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := res.Train["distill_distance"]; !(d > 0) || math.IsInf(d, 0) {
		t.Errorf("distill_distance %v, want a positive finite value", d)
	}
	const aux = "/aux_decoder/out/conv1d/weights"
	if slices.Equal(finalWeights(t, dirs[0], aux), finalWeights(t, dirs[3], aux)) {
		t.Errorf("the auxiliary decoder did not move in 3 steps: the distillation does not reach it")
	}
	ckpt, _, _ := checkpoint.Latest(dirs[3])
	h, err := checkpoint.ReadHeader(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range h.Variables {
		if strings.HasPrefix(v.Path, "/teacher/") {
			t.Errorf("the checkpoint holds the teacher's %s", v.Path)
		}
	}
}

// TestTrainEvaluateCompress trains the tokenizer without a teacher a few steps on real clips
// (quantizer dropout on), evaluates it, and codes a whole real clip through the compressor: the
// payload has the packed size, the decoded clip the original's length, a damaged payload is
// refused.
func TestTrainEvaluateCompress(t *testing.T) {
	dir := t.TempDir()
	res, err := framework.Run(parse(t, "speechtok_nodistill", `, "steps": 3, "eval_examples": 8`),
		framework.RunOptions{Dir: dir, Backend: testbackend.Go(t), Out: io.Discard, DataDir: datadir.Dir(t)})
	if err != nil {
		t.Fatal(err)
	}
	// 12.5 Hz (default strides "2,4"), ⌈log₂ 64⌉ + 2·⌈log₂ 32⌉ = 16 bits per frame.
	for key, want := range map[string]float64{"frame_rate_hz": 12.5, "bits_per_second": 200, "bits_per_second_semantic": 75} {
		if got := res.Eval[key]; got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if st := res.Eval["stoi"]; res.Eval["stoi_examples"] < 1 || math.IsNaN(st) || st > 1 {
		t.Errorf("stoi %v over %v examples", st, res.Eval["stoi_examples"])
	}
	for _, key := range []string{"mel_distance", "mel_distance_semantic", "log_mel_distance", "utilization_sem", "utilization_ac_01", "code_perplexity"} {
		if v, ok := res.Eval[key]; !ok || !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s = %v (present %v), want a positive value", key, v, ok)
		}
	}

	c, id, err := compressor.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	paths, err := librivox(datadir.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	clip, err := wav.Read(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	x := clip.Mono()
	sig := media.Signal{Kind: qzc.Audio, Channels: c.Channels(), Shape: []int{len(x)}, Data: [][]float32{x}, SampleRate: 16000}
	payload, est, err := c.Encode(sig)
	if err != nil {
		t.Fatal(err)
	}
	frames := (len(x) + 1279) / 1280
	if want := (frames*6+7)/8 + 2*((frames*5+7)/8); len(payload) != want {
		t.Errorf("payload of %d bytes for %d frames, want %d", len(payload), frames, want)
	}
	if est != float64(16*frames) {
		t.Errorf("estimated bits %v, want %d", est, 16*frames)
	}
	back, err := c.Decode(payload, sig.Shape)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Data) != 1 || len(back.Data[0]) != len(x) || back.Kind != qzc.Audio || back.SampleRate != 16000 {
		t.Fatalf("decoded %s signal of %d channels, %d samples; want audio of %d", back.Kind, len(back.Data), len(back.Data[0]), len(x))
	}
	// The semantic stream alone, through the codec's resynthesis: the clip's length, finite,
	// not silence; codes outside the codebook refused.
	cfg, store, _, err := framework.LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := speechtok.NewCodec(testbackend.Go(t), store, cfg.Params)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	streams, err := codec.Tokenize(x)
	if err != nil {
		t.Fatal(err)
	}
	resynth, err := codec.Resynthesize(streams[0], len(x))
	if err != nil {
		t.Fatal(err)
	}
	var energy float64
	for _, v := range resynth {
		energy += float64(v) * float64(v)
	}
	if len(resynth) != len(x) || !(energy > 0) || math.IsInf(energy, 0) {
		t.Errorf("semantic resynthesis: %d samples (want %d), energy %v", len(resynth), len(x), energy)
	}
	sem, err := speechtok.OpenSemantic(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sem.Close()
	coded, err := sem.Code(x, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if len(coded.Audio) != len(x) || coded.PayloadBits != int64(6*frames) || sem.Coding()["frame_rate"] != 12.5 {
		t.Errorf("semantic peer: %d samples (want %d), %d bits (want %d), coding %v", len(coded.Audio), len(x), coded.PayloadBits, 6*frames, sem.Coding())
	}
	streams[0][0] = 1 << 20
	if _, err := codec.Resynthesize(streams[0], len(x)); !errors.Is(err, speechtok.ErrCorrupt) {
		t.Errorf("semantic code out of range: %v, want ErrCorrupt", err)
	}
	if _, err := c.Decode(payload[:len(payload)-1], sig.Shape); !errors.Is(err, speechtok.ErrCorrupt) {
		t.Errorf("truncated payload: %v, want ErrCorrupt", err)
	}
	if _, err := c.Decode(payload, []int{len(x) + 1280}); !errors.Is(err, speechtok.ErrCorrupt) {
		t.Errorf("payload for a longer clip: %v, want ErrCorrupt", err)
	}

	// The codec command's path: WAV → .qzc → WAV of the same duration, the header reporting the
	// coding, the payload's rate the packed rate (200 bit/s plus the last frame's padding).
	qzcPath, back16 := filepath.Join(t.TempDir(), "clip.qzc"), filepath.Join(t.TempDir(), "back.wav")
	rep, err := compressor.CompressFile(c, id, []string{paths[0]}, qzcPath, compressor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if h := rep.Header; h.Coding[qzc.CodingFrameRate] != 12.5 || h.Coding[qzc.CodingStages] != 3 || h.SampleRate != 16000 {
		t.Errorf("header coding %v at %d Hz, want frame rate 12.5, 3 stages, 16000 Hz", h.Coding, h.SampleRate)
	}
	if bps, _ := rep.BitsPerSecond(); math.Abs(bps-200) > 200*1280/float64(len(x))+1e-9 {
		t.Errorf("payload rate %v bit/s, want 200 (within the last frame's padding)", bps)
	}
	if _, err := compressor.DecompressFile(qzcPath, back16, dir); err != nil {
		t.Fatal(err)
	}
	decoded, err := wav.Read(back16)
	if err != nil {
		t.Fatal(err)
	}
	if decoded.SampleRate != 16000 || decoded.Frames() != len(x) {
		t.Errorf("decoded WAV: %d frames at %d Hz, want %d at 16000", decoded.Frames(), decoded.SampleRate, len(x))
	}
}

// writeWhisper writes a randomly initialised Whisper-shaped encoder (Hugging Face's tensor names,
// 40 mels, D = 64 in one 64-dimensional head, 2 layers) as model.safetensors in dir: weights of
// std 1/√fan_in, norms near the identity, Whisper's position table.
func writeWhisper(t *testing.T, dir string) string {
	t.Helper()
	c := whisper.Config{Mels: 40, DModel: 64, Layers: 2, Heads: 1, FFN: 128, MaxPositions: 1500}
	rng := rand.New(rand.NewPCG(8, 9))
	var out []safetensors.Tensor
	for _, tt := range whisper.Tensors(c) {
		n := 1
		for _, d := range tt.Shape {
			n *= d
		}
		v := make([]float32, n)
		switch {
		case strings.HasSuffix(tt.HF, "embed_positions.weight"):
			v = whisper.Sinusoids(c.MaxPositions, c.DModel)
		case len(tt.Shape) == 1:
			base := 0.0
			if strings.Contains(tt.HF, "norm") && strings.HasSuffix(tt.HF, ".weight") {
				base = 1
			}
			for i := range v {
				v[i] = float32(base + 0.1*rng.NormFloat64())
			}
		default:
			for i := range v {
				v[i] = float32(rng.NormFloat64() / math.Sqrt(float64(n/tt.Shape[0])))
			}
		}
		st, err := safetensors.FromFloat32("model.encoder."+tt.HF, safetensors.F32, tt.Shape, v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	path := filepath.Join(dir, "model.safetensors")
	if err := safetensors.Write(path, out, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestWhisperTeacher: the same tokenizer distils from a Whisper-shaped encoder read from a
// safetensors file (teacher_model whisper_encoder), the second teacher of the contract.
func TestWhisperTeacher(t *testing.T) {
	from, _ := json.Marshal(writeWhisper(t, t.TempDir()))
	res, err := framework.Run(parse(t, "speechtok", `, "steps": 2, "eval_examples": 4, "teacher_model": "whisper_encoder", "teacher_from": `+string(from)),
		framework.RunOptions{Dir: t.TempDir(), Backend: testbackend.Go(t), Out: io.Discard, DataDir: datadir.Dir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Train["distill_distance"]; !(d > 0) || math.IsInf(d, 0) {
		t.Errorf("distill_distance %v through the Whisper encoder, want a positive finite value", d)
	}
}

// TestEvaluator on real speech: the original as its own reconstruction scores STOI 1 and
// distances 0, a noisy copy as the semantic resynthesis scores lower; the codes give each
// stream's utilisation.
func TestEvaluator(t *testing.T) {
	m, err := framework.LookupModel("speechtok_nodistill")
	if err != nil {
		t.Fatal(err)
	}
	params := m.Params.Defaults()
	params["sem_vq_codebook_size"], params["ac_vq_codebook_size"], params["ac_vq_residual_stages"] = 4, 8, 1
	ev, err := speechtok.NewEvaluator(params)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := librivox(datadir.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	clip, err := wav.Read(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	const n = 2 * crop
	x := clip.Mono()[:n]
	noisy := make([]float32, n)
	rng := rand.New(rand.NewPCG(4, 4))
	for i, v := range x {
		noisy[i] = v + float32(0.05*rng.NormFloat64())
	}
	codes := []int32{0, 0, 1, 0, 2, 0, 3, 7} // 4 frames × (semantic, acoustic)
	err = ev.Add([]*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, 1, n)}, []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(x, 1, n), tensors.FromFlatDataAndDimensions(noisy, 1, n),
		tensors.FromFlatDataAndDimensions(codes, 1, 4, 2)})
	if err != nil {
		t.Fatal(err)
	}
	got := ev.Metrics()
	if got["stoi_examples"] != 1 || math.Abs(got["stoi"]-1) > 1e-6 || got["mel_distance"] != 0 || got["log_mel_distance"] != 0 {
		t.Errorf("identical reconstruction: %v", got)
	}
	if !(got["stoi_semantic"] < 0.99) || !(got["log_mel_distance_semantic"] > 0) || !(got["mel_distance_semantic"] > 0) {
		t.Errorf("noisy resynthesis: stoi %v, distances %v and %v; want below 1 and above 0", got["stoi_semantic"], got["log_mel_distance_semantic"], got["mel_distance_semantic"])
	}
	if got["utilization_sem"] != 1 || got["utilization_ac_00"] != 0.25 {
		t.Errorf("utilisation: semantic %v (want 1: 4 of 4 codes), acoustic %v (want 0.25: 2 of 8)", got["utilization_sem"], got["utilization_ac_00"])
	}
	if err := ev.Add([]*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, 1, n)}, []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(x, 1, n), tensors.FromFlatDataAndDimensions(x, 1, n),
		tensors.FromFlatDataAndDimensions([]int32{4, 0}, 1, 1, 2)}); err == nil {
		t.Error("a semantic code 4 of a 4-entry codebook was accepted")
	}
}

// TestCropNotWholeFrames: waveforms that are no whole number of frames are refused, naming the
// crop to set (1 s is 12.5 frames at 12.5 Hz).
func TestCropNotWholeFrames(t *testing.T) {
	m, err := framework.LookupModel("speechtok_nodistill")
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	store.SetParams(m.Params.Defaults())
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return speechtok.Build(scope, []*graph.Node{x}).Predictions[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = exec.Call(tensors.FromFlatDataAndDimensions(make([]float32, 16000), 1, 16000))
	if err == nil || !strings.Contains(err.Error(), "speech_crop_seconds") || !strings.Contains(err.Error(), "0.08 s") {
		t.Errorf("1 s at 12.5 Hz: %v, want an error naming speech_crop_seconds and 0.08 s", err)
	}
}

// TestEMAInit: with EMA VQ codebooks the first batch's latents initialise them by k-means
// (Init): after one step each codebook is in use beyond a single code (code perplexity 1
// without it), stage by stage for the residual acoustic stack.
func TestEMAInit(t *testing.T) {
	cfg := parse(t, "speechtok_nodistill", `, "steps": 1, "eval_examples": 8`)
	if err := cfg.Set("sem_vq_type=ema_vq;ac_vq_residual_type=ema_vq"); err != nil {
		t.Fatal(err)
	}
	res, err := framework.Run(cfg, framework.RunOptions{Dir: t.TempDir(), Backend: testbackend.Go(t), Out: io.Discard, DataDir: datadir.Dir(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"code_perplexity_sem", "code_perplexity_ac_00", "code_perplexity_ac_01"} {
		if p := res.Eval[key]; !(p > 1.5) { // 1 without the initialisation: every latent on one code
			t.Errorf("%s = %v after k-means initialisation, want > 1.5", key, p)
		}
	}
}
