// Package whisper is Whisper's audio encoder (Radford et al. 2022, "Robust Speech Recognition
// via Large-Scale Weak Supervision", §2.2 and Figure 1) as a registered model,
// "whisper_encoder", whose Pretrained hook reads the encoder of a Hugging Face Whisper
// checkpoint (model.safetensors of WhisperForConditionalGeneration or WhisperModel, or a bare
// WhisperEncoder's): a frozen teacher for a student that distils from a recognizer's features
// (the config's teacher_from = that file, teacher_model = "whisper_encoder").
//
// The teacher contract it meets: inputs[0] is the waveform [B, S] float32 at 16 kHz in [−1, 1],
// inputs[1] (optional) the valid lengths [B] int32; Predictions[0] is the encoder's features
// [B, T, D] float32, T = ⌈⌊S/160⌋/2⌉ (50 per second), D = whisper_d_model.
//
// The equations, those of openai/whisper (audio.py, model.py) and of Hugging Face's
// WhisperFeatureExtractor and WhisperEncoder:
//
//	front end:  P = |STFT(x)|², n_fft 400, hop 160, periodic Hann, centred with reflection
//	            padding, the last frame dropped (⌊S/160⌋ frames); M = melbank·P, the Slaney mel
//	            scale with area-normalised filters from 0 to 8 kHz (librosa's, via package dsp
//	            and layers/audio.LogMel); L = log10(max(M, 1e-10)); L = max(L, max(L) − 8)
//	            with the maximum over each example; X = (L + 4)/4
//	stem:       h = GELU(conv1d_k3,p1(X)); h = GELU(conv1d_k3,s2,p1(h)); h += E_pos[0:T]
//	block ×N:   h += Attn(LN₁(h)), q, v and out projections with biases, k without;
//	            h += fc2(GELU(fc1(LN₂(h))))              (pre-LN; GELU the exact erf form)
//	output:     LN(h)                                   (LayerNorm ε = 1e-5, PyTorch's)
//
// Deviations, said plainly: Whisper pads every input to 30 s (3000 frames, 1500 positions);
// here an input of any length up to 30 s is encoded as it is, its T frames taking the first T
// rows of the position table. Features of a short clip therefore differ from Whisper's features
// of the same clip padded to 30 s (there every frame also attends to the padding); they are
// Whisper's equations on the clip alone. Inputs over 30 s (T above the table) are refused.
// Valid lengths zero each example's waveform past its length, as Whisper's zero padding does;
// the encoder itself has no attention mask (neither has Whisper's). The per-example maximum of
// the log-mel clamp is Hugging Face's feature extractor's (openai/whisper takes it over the
// whole batch).
//
// The tests hold the encoder, read through Pretrained from a file they write with random
// weights, to an independent PyTorch transcription of openai/whisper's code
// (testdata/reference.py) on 30 s and 1.3 s inputs: agreement to 1e-5. teacher_from must name
// the model.safetensors file itself (a directory is taken for a qzoo run directory).
//
// Variables (qzoo names ← Hugging Face names, under "model.encoder."):
//
//	conv1/conv1d/weights [3, mels, D], biases       ← conv1.weight [D, mels, 3] (permuted), conv1.bias
//	conv2/conv1d/weights [3, D, D], biases          ← conv2.weight, conv2.bias
//	embed_positions/weight [P, D] (not trained)    ← embed_positions.weight
//	layers/NNN/self_attn/{q,k,v,out}_proj/weights [D, D] (PyTorch's [out, in]), biases
//	layers/NNN/self_attn_layer_norm/{gain,bias}     ← layers.N.self_attn_layer_norm.{weight,bias}
//	layers/NNN/fc1/weights [F, D], biases; fc2/weights [D, F], biases
//	layers/NNN/final_layer_norm/{gain,bias}; layer_norm/{gain,bias}
package whisper

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/layers/attention"
	"github.com/qzoo/qzoo/layers/audio"
	"github.com/qzoo/qzoo/layers/conv"
	"github.com/qzoo/qzoo/layers/linear"
	"github.com/qzoo/qzoo/layers/norm"
)

// Name is the model's registry name.
const Name = "whisper_encoder"

// Whisper's fixed front end: 16 kHz audio, 25 ms windows every 10 ms.
const (
	SampleRate = 16000
	NFFT       = 400
	Hop        = 160
)

// Hyperparameter keys. The defaults are Whisper tiny's encoder; a checkpoint read by Pretrained
// sets all of them from its tensors (and heads from a config.json beside it).
const (
	ParamMels         = "whisper_mels"
	ParamDModel       = "whisper_d_model"
	ParamLayers       = "whisper_layers"
	ParamHeads        = "whisper_heads"
	ParamFFN          = "whisper_ffn_dim"
	ParamMaxPositions = "whisper_max_positions"
)

// Params are the encoder's hyperparameters.
var Params = hparams.List{
	{Key: ParamMels, Default: 80, Domain: hparams.Positive(), Doc: "log-mel bins (80; 128 for large-v3)"},
	{Key: ParamDModel, Default: 384, Domain: hparams.Positive(), Doc: "width D of the encoder"},
	{Key: ParamLayers, Default: 4, Domain: hparams.Positive(), Doc: "transformer blocks"},
	{Key: ParamHeads, Default: 6, Domain: hparams.Positive(), Doc: "attention heads (dividing whisper_d_model)"},
	{Key: ParamFFN, Default: 1536, Domain: hparams.Positive(), Doc: "hidden width of each block's MLP"},
	{Key: ParamMaxPositions, Default: 1500, Domain: hparams.Positive(), Doc: "rows of the position table: the longest input is 2·160·this samples (1500: 30 s)"},
}

// layerNormEpsilon is PyTorch's nn.LayerNorm default, which Whisper uses.
const layerNormEpsilon = 1e-5

// Variable scopes (see the package doc).
const (
	scopeConv1     = "conv1"
	scopeConv2     = "conv2"
	scopePositions = "embed_positions"
	varPositions   = "weight"
	scopeLayers    = "layers"
	layerScope     = "%03d"
	scopeFinalNorm = "layer_norm"
)

func init() {
	framework.Register(&framework.Model{
		Name:       Name,
		Doc:        "Whisper's audio encoder (log-mel, two convolutions, pre-LN transformer): a frozen teacher read from a Hugging Face safetensors file",
		Dataset:    "speech",
		Params:     Params,
		Build:      Build,
		Pretrained: Pretrained,
		Scalars:    []string{},
		NewEvaluator: func(map[string]any) (framework.Evaluator, error) {
			return &featureEvaluator{}, nil
		},
		Validate: func(params map[string]any) error {
			d, h := params[ParamDModel].(int), params[ParamHeads].(int)
			if d%h != 0 {
				return fmt.Errorf("key %q (%d) must divide key %q (%d)", ParamHeads, h, ParamDModel, d)
			}
			if d%2 != 0 || d < 4 {
				return fmt.Errorf("key %q (%d) must be even and at least 4 (the sine and cosine halves of the position table)", ParamDModel, d)
			}
			return nil
		},
	})
}

// Build encodes inputs[0], waveforms [B, S] at 16 kHz, with inputs[1], if given, their valid
// lengths [B] (int32): Predictions[0] is the features [B, T, D].
func Build(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
	var lengths *graph.Node
	if len(inputs) > 1 {
		lengths = inputs[1]
	}
	return framework.Outputs{Predictions: []*graph.Node{Encode(scope, inputs[0], lengths)}}
}

// Encode is the whole encoder: waveforms [B, S] (and valid lengths [B] int32, or nil) to
// features [B, T, D].
func Encode(scope *model.Scope, waveforms, lengths *graph.Node) *graph.Node {
	if waveforms.Rank() != 2 {
		exceptions.Panicf("whisper.Encode: waveforms %s must be [batch, samples]", waveforms.Shape())
	}
	if lengths != nil {
		dims := waveforms.Shape().Dimensions
		valid := graph.LessThan(graph.Iota(waveforms.Graph(), shapes.Make(dtypes.Int32, dims...), 1),
			graph.BroadcastToDims(graph.InsertAxes(graph.ConvertDType(lengths, dtypes.Int32), -1), dims...))
		waveforms = graph.Where(valid, waveforms, graph.ZerosLike(waveforms))
	}
	return EncodeFeatures(scope, LogMel(waveforms, hparams.Get[int](scope, Params, ParamMels)))
}

// LogMel is Whisper's front end: waveforms [B, S] at 16 kHz (S > 200) to normalised log-mel
// features [B, ⌊S/160⌋, mels] (see the package doc).
func LogMel(waveforms *graph.Node, mels int) *graph.Node {
	samples := waveforms.Shape().Dimensions[1]
	if samples <= NFFT/2 {
		exceptions.Panicf("whisper.LogMel: %d samples; Whisper's reflection padding needs more than %d", samples, NFFT/2)
	}
	// torch.stft(center=True) pads by reflection (dsp's Center pads with zeros, hence Center
	// false on the padded signal here).
	pad := NFFT / 2
	left := graph.Reverse(graph.Slice(waveforms, graph.AxisRange(), graph.AxisRange(1, pad+1)), 1)
	right := graph.Reverse(graph.Slice(waveforms, graph.AxisRange(), graph.AxisRange(samples-pad-1, samples-1)), 1)
	padded := graph.Concatenate([]*graph.Node{left, waveforms, right}, 1)
	m := dsp.Mel{STFT: dsp.STFT{NFFT: NFFT, Win: NFFT, Hop: Hop}, SampleRate: SampleRate, NMels: mels,
		FMax: SampleRate / 2, Scale: dsp.Slaney, AreaNorm: true, Floor: 1e-10}
	lnMel := audio.LogMel(padded, m)
	frames := lnMel.Shape().Dimensions[1] - 1 // Whisper drops the last frame
	lnMel = graph.Slice(lnMel, graph.AxisRange(), graph.AxisRange(0, frames), graph.AxisRange())
	logSpec := graph.DivScalar(lnMel, math.Ln10)
	peak := graph.ReduceAndKeep(logSpec, graph.ReduceMax, 1, 2)
	logSpec = graph.Max(logSpec, graph.AddScalar(peak, -8))
	return graph.DivScalar(graph.AddScalar(logSpec, 4), 4)
}

// EncodeFeatures is the encoder after the front end: log-mel features [B, F, mels] to
// [B, ⌈F/2⌉, D].
func EncodeFeatures(scope *model.Scope, features *graph.Node) *graph.Node {
	d := hparams.Get[int](scope, Params, ParamDModel)
	layers := hparams.Get[int](scope, Params, ParamLayers)
	heads := hparams.Get[int](scope, Params, ParamHeads)
	ffn := hparams.Get[int](scope, Params, ParamFFN)
	maxPositions := hparams.Get[int](scope, Params, ParamMaxPositions)
	if mels := hparams.Get[int](scope, Params, ParamMels); features.Rank() != 3 || features.Shape().Dimensions[2] != mels {
		exceptions.Panicf("whisper.EncodeFeatures: features %s must be [batch, frames, %d] (%s)", features.Shape(), mels, ParamMels)
	}
	if d%heads != 0 {
		exceptions.Panicf("whisper: %s = %d must divide %s = %d", ParamHeads, heads, ParamDModel, d)
	}
	h := activation.Gelu(conv.New1D(scope.In(scopeConv1), features, d).KernelSize(3).Padding(1).Done())
	h = activation.Gelu(conv.New1D(scope.In(scopeConv2), h, d).KernelSize(3).Stride(2).Padding(1).Done())
	batch, t := h.Shape().Dimensions[0], h.Shape().Dimensions[1]
	if t > maxPositions {
		exceptions.Panicf("whisper: %d positions (%.1f s of audio), over the table's %d (%s; Whisper takes at most 30 s)",
			t, float64(2*Hop*t)/SampleRate, maxPositions, ParamMaxPositions)
	}
	table := scope.In(scopePositions).VariableWithValue(varPositions,
		tensors.FromFlatDataAndDimensions(Sinusoids(maxPositions, d), maxPositions, d)).SetTrainable(false).NodeValue(h.Graph())
	positions := graph.Slice(table, graph.AxisRange(0, t), graph.AxisRange())
	h = graph.Add(h, graph.ConvertDType(graph.InsertAxes(positions, 0), h.DType()))
	hd := d / heads
	blocks := scope.In(scopeLayers)
	for i := range layers {
		s := blocks.In(layerScope, i)
		x := norm.Layer(s.In("self_attn_layer_norm"), h).Epsilon(layerNormEpsilon).Done()
		a := s.In("self_attn")
		proj := func(name string, bias bool, x *graph.Node) *graph.Node {
			return linear.New(a.In("%s", name), x, d).Layout(linear.OutIn).UseBias(bias).Done()
		}
		q := graph.Reshape(proj("q_proj", true, x), batch, t, heads, hd)
		k := graph.Reshape(proj("k_proj", false, x), batch, t, heads, hd)
		v := graph.Reshape(proj("v_proj", true, x), batch, t, heads, hd)
		out := graph.Reshape(attention.New(q, k, v).Done(), batch, t, d)
		h = graph.Add(h, proj("out_proj", true, out))
		x = norm.Layer(s.In("final_layer_norm"), h).Epsilon(layerNormEpsilon).Done()
		x = activation.Gelu(linear.New(s.In("fc1"), x, ffn).Layout(linear.OutIn).Done())
		h = graph.Add(h, linear.New(s.In("fc2"), x, d).Layout(linear.OutIn).Done())
	}
	return norm.Layer(scope.In(scopeFinalNorm), h).Epsilon(layerNormEpsilon).Done()
}

// Sinusoids is Whisper's position table [length, channels] (row-major float32): row p is
// sin(p·ω_k) for k < c/2 then cos(p·ω_k), ω_k = 10000^(−k/(c/2 − 1)), c = channels (even, ≥ 4).
// Hugging Face's checkpoints store it as embed_positions.weight, which Pretrained reads instead.
func Sinusoids(length, channels int) []float32 {
	if channels%2 != 0 || channels < 4 {
		exceptions.Panicf("whisper.Sinusoids: %d channels; Whisper's table needs an even number ≥ 4", channels)
	}
	half := channels / 2
	step := math.Log(10000) / float64(half-1)
	out := make([]float32, length*channels)
	for p := range length {
		for k := range half {
			angle := float64(p) * math.Exp(-step*float64(k))
			out[p*channels+k] = float32(math.Sin(angle))
			out[p*channels+half+k] = float32(math.Cos(angle))
		}
	}
	return out
}

// featureEvaluator reports the features' root mean square and the number of feature vectors:
// the one statistic an encoder without labels has, to compare one checkpoint's outputs across
// runs.
type featureEvaluator struct {
	sumSquares float64
	values     int
	vectors    int
}

func (e *featureEvaluator) Add(_, predictions []*tensors.Tensor) error {
	f := predictions[0]
	for _, v := range tensors.MustCopyFlatData[float32](f) {
		e.sumSquares += float64(v) * float64(v)
	}
	dims := f.Shape().Dimensions
	e.values += f.Shape().Size()
	e.vectors += dims[0] * dims[1]
	return nil
}

func (e *featureEvaluator) Metrics() map[string]float64 {
	return map[string]float64{"feature_rms": math.Sqrt(e.sumSquares / float64(max(e.values, 1))), "feature_vectors": float64(e.vectors)}
}
