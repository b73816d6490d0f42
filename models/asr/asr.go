package asr

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
	"github.com/qzoo/qzoo/layers/position"
	"github.com/qzoo/qzoo/metrics"
)

// Hyperparameters of the recognizer.
const (
	// ParamMels is the number of mel bands of the front end. Default 80 (int).
	ParamMels = "asr_mels"
	// ParamConvLayers is the number of stride-2 convolutions after the log-mel: the frame rate is
	// 100/2^n Hz. Default 2 (25 Hz) (int).
	ParamConvLayers = "asr_conv_layers"
	// ParamConvKernel is the kernel size of those convolutions. Default 3 (int).
	ParamConvKernel = "asr_conv_kernel"
	// ParamWidth is D, the width of the convolutions, the encoder and the features. Default 144 (int).
	ParamWidth = "asr_width"
	// ParamLayers is the number of transformer blocks. Default 3 (int).
	ParamLayers = "asr_layers"
	// ParamHeads is the number of attention heads; D/heads must be even (rotary pairs). Default 4 (int).
	ParamHeads = "asr_heads"
	// ParamFFN is the hidden width of each block's feed-forward network. Default 384 (int).
	ParamFFN = "asr_ffn"
	// ParamFreqMasks is the number of SpecAugment frequency masks per training example. Default 2 (int).
	ParamFreqMasks = "asr_freq_masks"
	// ParamFreqMaskWidth is the widest frequency mask, in mel bands. Default 15 (int).
	ParamFreqMaskWidth = "asr_freq_mask_width"
	// ParamTimeMasks is the number of SpecAugment time masks per training example. Default 2 (int).
	ParamTimeMasks = "asr_time_masks"
	// ParamTimeMaskWidth is the widest time mask, in 10 ms frames. Default 20 (int).
	ParamTimeMaskWidth = "asr_time_mask_width"
	// ParamClasses is V, the CTC classes: the blank (id 0) and the phonemes. Default 40, the blank
	// and the 39 ARPAbet phonemes of datasets/speech (int).
	ParamClasses = "asr_classes"
)

// Params lists the recognizer's hyperparameters.
var Params = hparams.List{
	{Key: ParamMels, Default: 80, Doc: "mel bands of the log-mel front end", Domain: hparams.Range(8, 256)},
	{Key: ParamConvLayers, Default: 2, Doc: "stride-2 convolutions after the 100 Hz log-mel: frame rate 100/2^n Hz", Domain: hparams.Range(0, 4)},
	{Key: ParamConvKernel, Default: 3, Doc: "kernel size of the front-end convolutions", Domain: hparams.Range(1, 15)},
	{Key: ParamWidth, Default: 144, Doc: "D: width of the convolutions, the transformer and the features", Domain: hparams.AtLeast(2)},
	{Key: ParamLayers, Default: 3, Doc: "pre-norm transformer blocks of the encoder", Domain: hparams.AtLeast(0)},
	{Key: ParamHeads, Default: 4, Doc: "attention heads (D/heads must be even)", Domain: hparams.AtLeast(1)},
	{Key: ParamFFN, Default: 384, Doc: "hidden width of each block's feed-forward network", Domain: hparams.AtLeast(1)},
	{Key: ParamFreqMasks, Default: 2, Doc: "SpecAugment: frequency masks per training example (0: none)", Domain: hparams.Range(0, 8)},
	{Key: ParamFreqMaskWidth, Default: 15, Doc: "SpecAugment: widest frequency mask, in mel bands", Domain: hparams.AtLeast(0)},
	{Key: ParamTimeMasks, Default: 2, Doc: "SpecAugment: time masks per training example (0: none)", Domain: hparams.Range(0, 8)},
	{Key: ParamTimeMaskWidth, Default: 20, Doc: "SpecAugment: widest time mask, in 10 ms log-mel frames", Domain: hparams.AtLeast(0)},
	{Key: ParamClasses, Default: 40, Doc: "V: CTC classes, the blank (id 0) and the phonemes (datasets/speech: 39)", Domain: hparams.AtLeast(2)},
}

// Indices of Build's predictions (the teacher contract of the package doc).
const (
	PredFeatures = 0 // encoder features [B, F, D] float32
	PredLogProbs = 1 // CTC log-probabilities [B, F, V] float32
	PredFrames   = 2 // valid frames [B] int32
)

// Blank is the class id of the CTC blank (datasets/speech's label 0, also its label padding).
const Blank = 0

// SampleRate is the sample rate of the waveforms, in Hz.
const SampleRate = 16000

// FrontEnd returns the log-mel spectrogram of the front end with nMels bands: 25 ms windows every
// 10 ms (100 Hz), 0–8 kHz on the HTK mel scale.
func FrontEnd(nMels int) dsp.Mel {
	return dsp.Mel{
		STFT:       dsp.STFT{NFFT: 400, Win: 400, Hop: 160, Center: true},
		SampleRate: SampleRate, NMels: nMels, FMin: 0, FMax: SampleRate / 2, Scale: dsp.HTK, Floor: 1e-5,
	}
}

// varianceFloor is added to each band's variance before dividing by its square root, so that the
// bands an 8 kHz source leaves empty (all at the log floor) are not blown up.
const varianceFloor = 1e-2

// FrameRate is the rate of the features and log-probabilities, in Hz, for the hyperparameters
// params (a config's params; missing keys, or nil, take their defaults).
func FrameRate(params map[string]any) float64 {
	return float64(SampleRate) / float64(FrontEnd(1).Hop) / math.Pow(2, float64(hparams.Get[int](paramMap(params), Params, ParamConvLayers)))
}

// FrameCount is the number of frames the model gives a waveform of samples samples (the frames of
// the batch for S, the valid frames of a clip for its length): the log-mel's samples/160 + 1,
// then ⌊(n + 2⌊k/2⌋ − k)/2⌋ + 1 after each stride-2 convolution. Params as for FrameRate.
func FrameCount(params map[string]any, samples int) int {
	n := FrontEnd(1).NumFrames(samples)
	k := hparams.Get[int](paramMap(params), Params, ParamConvKernel)
	for range hparams.Get[int](paramMap(params), Params, ParamConvLayers) {
		n = conv.Conv1DOutputSize(n, k, conv.Options1D{Stride: 2, Padding: k / 2})
	}
	return n
}

func init() {
	framework.Register(&framework.Model{
		Name:     "asr",
		Doc:      "CTC phoneme recognizer (log-mel, strided 1-D convs, transformer): the speech tokenizer's teacher",
		Dataset:  "speech",
		Params:   Params,
		Build:    Build,
		Loss:     Loss,
		Validate: Validate,
		NewEvaluator: func(params map[string]any) (framework.Evaluator, error) {
			return NewEvaluator(params), nil
		},
	})
}

// Validate checks that the width splits into heads of even size (rotary embeddings rotate pairs).
func Validate(params map[string]any) error {
	d, h := hparams.Get[int](paramMap(params), Params, ParamWidth), hparams.Get[int](paramMap(params), Params, ParamHeads)
	if d%h != 0 || (d/h)%2 != 0 {
		return fmt.Errorf("asr: keys %q = %d and %q = %d: the width must split into heads of even size", ParamWidth, d, ParamHeads, h)
	}
	return nil
}

// paramMap reads hyperparameters from a config's params map with hparams.Get.
type paramMap map[string]any

// GetParam implements hparams.Params.
func (m paramMap) GetParam(key string) (any, bool) {
	v, ok := m[key]
	return v, ok
}

// Build is the model function (see the package doc for the inputs and predictions).
func Build(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
	if len(inputs) < 1 || len(inputs) > 2 {
		exceptions.Panicf("asr: want inputs [waveforms [B, S]] or [waveforms, lengths [B]], got %d inputs", len(inputs))
	}
	x := inputs[0]
	if x.Rank() != 2 || x.DType() != dtypes.Float32 {
		exceptions.Panicf("asr: waveforms must be float32 [B, S], got %s", x.Shape())
	}
	g := x.Graph()
	batch, samples := x.Shape().Dim(0), x.Shape().Dim(1)
	var lengths *graph.Node
	if len(inputs) == 2 {
		lengths = graph.ConvertDType(inputs[1], dtypes.Int32)
		lengths.AssertDims(batch)
		lengths = graph.Min(graph.Max(lengths, graph.ScalarZero(g, dtypes.Int32)), graph.Scalar(g, dtypes.Int32, samples))
	} else {
		lengths = graph.BroadcastToDims(graph.Scalar(g, dtypes.Int32, samples), batch)
	}
	x = maskTime(x, lengths)

	mel := FrontEnd(hparams.Get[int](scope, Params, ParamMels))
	h := audio.LogMel(x, mel)
	frames := melFrames(lengths, mel.STFT, h.Shape().Dim(1))
	h = normalise(h, frames)
	if scope.IsTraining(g) {
		h = specAugment(scope, h, frames)
	}

	k := hparams.Get[int](scope, Params, ParamConvKernel)
	d := hparams.Get[int](scope, Params, ParamWidth)
	convLayers := hparams.Get[int](scope, Params, ParamConvLayers)
	for i := range convLayers {
		h = activation.Gelu(conv.New1D(scope.In("conv_%d", i), h, d).KernelSize(k).Stride(2).Padding(k / 2).Done())
		frames = convFrames(frames, k, h.Shape().Dim(1))
		h = maskTime(h, frames)
	}
	if convLayers == 0 { // no convolution: project the mel bands to the width
		h = linear.New(scope.In("embed"), h, d).Done()
	}

	f := h.Shape().Dim(1)
	valid := graph.LessThan(graph.Iota(g, shapes.Make(dtypes.Int32, batch, f), 1), graph.InsertAxes(frames, -1))
	heads := hparams.Get[int](scope, Params, ParamHeads)
	cos, sin := position.RoPEAngles(graph.Iota(g, shapes.Make(dtypes.Int32, f), 0), d/heads)
	for i := range hparams.Get[int](scope, Params, ParamLayers) {
		h = block(scope.In("block_%d", i), h, valid, cos, sin, heads)
	}
	features := maskTime(norm.Layer(scope.In("norm"), h).Done(), frames)
	logits := linear.New(scope.In("head"), features, hparams.Get[int](scope, Params, ParamClasses)).Done()
	predictions := make([]*graph.Node, 3)
	predictions[PredFeatures], predictions[PredLogProbs], predictions[PredFrames] = features, graph.LogSoftmax(logits, -1), frames
	return framework.Outputs{Predictions: predictions}
}

// block is a pre-LayerNorm transformer block: x + MHA(LN(x)), then x + FFN(LN(x)).
func block(scope *model.Scope, x, valid, cos, sin *graph.Node, heads int) *graph.Node {
	dims := x.Shape().Dimensions
	b, n, d := dims[0], dims[1], dims[2]
	hd := d / heads
	qkv := graph.Reshape(linear.New(scope.In("qkv"), norm.Layer(scope.In("norm_1"), x).Done(), 3*d).Done(), b, n, 3, heads, hd)
	part := func(i int) *graph.Node {
		return graph.Reshape(graph.Slice(qkv, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(i, i+1)), b, n, heads, hd)
	}
	q, k := position.RoPE(part(0), cos, sin), position.RoPE(part(1), cos, sin)
	att := graph.Reshape(attention.New(q, k, part(2)).KeyValid(valid).Done(), b, n, d)
	x = graph.Add(x, linear.New(scope.In("out"), att, d).Done())
	hidden := activation.Gelu(linear.New(scope.In("ffn_in"), norm.Layer(scope.In("norm_2"), x).Done(), hparams.Get[int](scope, Params, ParamFFN)).Done())
	return graph.Add(x, linear.New(scope.In("ffn_out"), hidden, d).Done())
}

// maskTime zeroes the positions of x [B, T, ...] at or past each example's length [B].
func maskTime(x, lengths *graph.Node) *graph.Node {
	dims := x.Shape().Dimensions
	valid := graph.LessThan(graph.Iota(x.Graph(), shapes.Make(dtypes.Int32, dims[0], dims[1]), 1), graph.InsertAxes(lengths, -1))
	for valid.Rank() < x.Rank() {
		valid = graph.InsertAxes(valid, -1)
	}
	return graph.Where(graph.BroadcastToDims(valid, dims...), x, graph.ZerosLike(x))
}

// melFrames is the STFT's frame count of each length (NumFrames in the graph), at most f.
func melFrames(lengths *graph.Node, s dsp.STFT, f int) *graph.Node {
	n := graph.DivScalar(graph.AddScalar(lengths, float64(2*s.Pad()-s.NFFT)), float64(s.Hop))
	n = graph.AddScalar(n, 1)
	return graph.Min(graph.Max(n, graph.ScalarZero(lengths.Graph(), dtypes.Int32)), graph.Scalar(lengths.Graph(), dtypes.Int32, f))
}

// convFrames is a stride-2 convolution's output length ⌊(n + 2⌊k/2⌋ − k)/2⌋ + 1 of each input
// length n > 0 (0 for n = 0), at most f.
func convFrames(n *graph.Node, k, f int) *graph.Node {
	g := n.Graph()
	out := graph.AddScalar(graph.DivScalar(graph.AddScalar(n, float64(2*(k/2)-k)), 2), 1)
	out = graph.Where(graph.GreaterThan(n, graph.ScalarZero(g, dtypes.Int32)), out, graph.ZerosLike(out))
	return graph.Min(out, graph.Scalar(g, dtypes.Int32, f))
}

// normalise subtracts each band's mean over the valid frames of its example and divides by its
// standard deviation (plus varianceFloor); padded frames become 0.
func normalise(h, frames *graph.Node) *graph.Node {
	h = maskTime(h, frames)
	count := graph.InsertAxes(graph.ConvertDType(graph.Max(frames, graph.OnesLike(frames)), h.DType()), -1, -1) // [B, 1, 1]
	mean := graph.Div(graph.ReduceAndKeep(h, graph.ReduceSum, 1), count)
	centred := maskTime(graph.Sub(h, mean), frames)
	variance := graph.Div(graph.ReduceAndKeep(graph.Square(centred), graph.ReduceSum, 1), count)
	return graph.Div(centred, graph.Sqrt(graph.AddScalar(variance, varianceFloor)))
}

// specAugment applies SpecAugment's masks (Park et al. 2019, §2, without time warping) to the
// normalised log-mel h [B, F, M] of a training batch: asr_freq_masks bands [f₀, f₀+w) and
// asr_time_masks frame ranges [t₀, t₀+w) per example are set to 0 (each band's mean after the
// normalisation), w uniform in [0, W] and the start uniform where the mask fits (the time masks
// within each example's valid frames).
func specAugment(scope *model.Scope, h, frames *graph.Node) *graph.Node {
	g := h.Graph()
	b, f, m := h.Shape().Dim(0), h.Shape().Dim(1), h.Shape().Dim(2)
	keep := graph.Ones(g, shapes.Make(dtypes.Bool, b, f, m))
	// band returns the mask [B, n] of one random range per example within [0, extent) ([B] float).
	band := func(n int, extent *graph.Node, widest int) *graph.Node {
		u := scope.RandomUniform(g, shapes.Make(h.DType(), 2, b))
		width := graph.Floor(graph.MulScalar(graph.Squeeze(graph.Slice(u, graph.AxisElem(0)), 0), float64(widest+1)))
		width = graph.Min(width, extent)
		start := graph.Floor(graph.Mul(graph.Squeeze(graph.Slice(u, graph.AxisElem(1)), 0), graph.Sub(extent, width)))
		idx := graph.ConvertDType(graph.Iota(g, shapes.Make(dtypes.Int32, b, n), 1), h.DType())
		return graph.LogicalAnd(graph.GreaterOrEqual(idx, graph.InsertAxes(start, -1)),
			graph.LessThan(idx, graph.InsertAxes(graph.Add(start, width), -1)))
	}
	bands := graph.BroadcastToDims(graph.Scalar(g, h.DType(), m), b)
	for range hparams.Get[int](scope, Params, ParamFreqMasks) {
		masked := graph.BroadcastToDims(graph.InsertAxes(band(m, bands, hparams.Get[int](scope, Params, ParamFreqMaskWidth)), 1), b, f, m)
		keep = graph.LogicalAnd(keep, graph.LogicalNot(masked))
	}
	valid := graph.ConvertDType(frames, h.DType())
	for range hparams.Get[int](scope, Params, ParamTimeMasks) {
		masked := graph.BroadcastToDims(graph.InsertAxes(band(f, valid, hparams.Get[int](scope, Params, ParamTimeMaskWidth)), -1), b, f, m)
		keep = graph.LogicalAnd(keep, graph.LogicalNot(masked))
	}
	return graph.Where(keep, h, graph.ZerosLike(h))
}

// Loss is the CTC loss of the batch: labels [phoneme ids [B, L] int32, counts [B] int32], the
// predictions of Build; each example's −ln p(l | x) divided by its label count (at least 1), then
// averaged over the batch.
func Loss(labels, predictions []*graph.Node) *graph.Node {
	if len(labels) != 2 || len(predictions) != 3 {
		exceptions.Panicf("asr: the loss wants labels [ids [B, L], counts [B]] and Build's 3 predictions, got %d and %d", len(labels), len(predictions))
	}
	counts := graph.ConvertDType(labels[1], dtypes.Int32)
	nll := CTCLoss(predictions[PredLogProbs], predictions[PredFrames], labels[0], counts, Blank)
	per := graph.Div(nll, graph.ConvertDType(graph.Max(counts, graph.OnesLike(counts)), nll.DType()))
	return graph.ReduceAllMean(per)
}

// Evaluator decodes each example greedily and accumulates the phoneme error rate.
type Evaluator struct {
	classes    int
	edits      metrics.EditCounts
	utterances int
}

// NewEvaluator returns an evaluator for the resolved hyperparameters.
func NewEvaluator(params map[string]any) *Evaluator {
	return &Evaluator{classes: hparams.Get[int](paramMap(params), Params, ParamClasses)}
}

// Add refuses batches without labels: the phoneme error rate needs the references.
func (e *Evaluator) Add(_, _ []*tensors.Tensor) error {
	return fmt.Errorf("asr: evaluation needs the labels (phoneme ids and counts) of the dataset")
}

// AddLabeled decodes the predictions [features, log-probabilities [B, F, V], frames [B]] and
// scores them against labels [ids [B, L], counts [B]]. A reference id outside [1, V) or a count
// outside [0, L] is an error.
func (e *Evaluator) AddLabeled(_, labels, predictions []*tensors.Tensor) error {
	if len(labels) != 2 || len(predictions) != 3 {
		return fmt.Errorf("asr: evaluation wants labels [ids, counts] and 3 predictions, got %d and %d", len(labels), len(predictions))
	}
	logProbs := tensors.MustCopyFlatData[float32](predictions[PredLogProbs])
	frames := tensors.MustCopyFlatData[int32](predictions[PredFrames])
	ids := tensors.MustCopyFlatData[int32](labels[0])
	counts := tensors.MustCopyFlatData[int32](labels[1])
	dims := predictions[PredLogProbs].Shape().Dimensions
	b, f, v := dims[0], dims[1], dims[2]
	l := labels[0].Shape().Dimensions[1]
	if len(counts) != b || len(ids) != b*l {
		return fmt.Errorf("asr: labels %s and %s do not match %d examples", labels[0].Shape(), labels[1].Shape(), b)
	}
	for i := range b {
		n := int(counts[i])
		if n < 0 || n > l {
			return fmt.Errorf("asr: example %d has %d labels, outside [0, %d]", i, n, l)
		}
		ref := ids[i*l : i*l+n]
		for _, id := range ref {
			if id < 1 || int(id) >= e.classes {
				return fmt.Errorf("asr: label id %d outside the phonemes 1..%d (key %q)", id, e.classes-1, ParamClasses)
			}
		}
		hyp, err := GreedyDecode(logProbs[i*f*v:(i+1)*f*v], min(int(frames[i]), f), v, Blank)
		if err != nil {
			return err
		}
		e.edits = e.edits.Add(metrics.Align(ref, hyp))
		e.utterances++
	}
	return nil
}

// Metrics returns "per", the phoneme error rate (S + D + I)/N pooled over the utterances
// (metrics.EditCounts), its parts "per_substitutions", "per_deletions" and "per_insertions"
// (each over N), and "utterances", the examples scored.
func (e *Evaluator) Metrics() map[string]float64 {
	n := float64(max(e.edits.Reference, 1))
	return map[string]float64{
		"per":               float64(e.edits.Errors()) / n,
		"per_substitutions": float64(e.edits.Substitutions) / n,
		"per_deletions":     float64(e.edits.Deletions) / n,
		"per_insertions":    float64(e.edits.Insertions) / n,
		"utterances":        float64(e.utterances),
	}
}
