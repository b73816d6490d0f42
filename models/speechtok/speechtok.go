package speechtok

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/layers/audio"
	"github.com/qzoo/qzoo/layers/conv"
	"github.com/qzoo/qzoo/layers/vq"
)

// SampleRate is the rate of every waveform the tokenizer reads and writes, in Hz.
const SampleRate = 16000

// Prefixes of the two quantizers' vq_* keys: "sem_vq_type", "ac_vq_residual_stages", ...
const (
	SemanticPrefix = "sem"
	AcousticPrefix = "ac"
)

// Hyperparameters of the tokenizer (the quantizers' are the vq_* keys of layers/vq under
// [SemanticPrefix] and [AcousticPrefix]).
const (
	// ParamPatch is P, the samples of one patch: the waveform [B, S] is framed by a reshape to
	// [B, S/P, P] before the first convolution. Default 160 (10 ms) (int).
	ParamPatch = "speechtok_patch"
	// ParamStrides are the strides of the encoders' downsampling convolutions (comma-separated,
	// each even); the hop is P·Πstrides samples and the frame rate 16000/hop Hz: "4" gives
	// 25 Hz, "2,4" 12.5 Hz, "4,4" 6.25 Hz with P = 160. Default "2,4" (string).
	ParamStrides = "speechtok_strides"
	// ParamChannels is C, the channels at the patch rate; each downsampling doubles them up to
	// ParamMaxChannels, and the decoders mirror the encoders. Default 64 (int).
	ParamChannels = "speechtok_channels"
	// ParamMaxChannels caps the channels. Default 256 (int).
	ParamMaxChannels = "speechtok_max_channels"
	// ParamResBlocks is the number of residual units (kernel 3, then kernel 1) at each
	// resolution of the encoders and decoders. Default 1 (int).
	ParamResBlocks = "speechtok_res_blocks"
	// ParamLatentDim is D, the dimension of each token's latent vector (LM-SPT: 8). Default 8 (int).
	ParamLatentDim = "speechtok_latent_dim"
	// ParamMelFFTs are the FFT sizes of the multi-scale mel loss (comma-separated; hop NFFT/4,
	// Hann window of NFFT). Default "256,512,1024" (string).
	ParamMelFFTs = "speechtok_mel_ffts"
	// ParamMelBins are the mel bands of each scale, one per FFT size. Default "32,64,128" (string).
	ParamMelBins = "speechtok_mel_bins"
	// ParamMelWeight weighs the multi-scale mel distance (LM-SPT: 15). Default 1 (float64).
	ParamMelWeight = "speechtok_mel_weight"
	// ParamVQWeight weighs the quantizers' own losses (their codebook and β-weighted
	// commitment terms, LM-SPT 1 and 0.25 relative to mel 15). Default 1 (float64).
	ParamVQWeight = "speechtok_vq_weight"
	// ParamDistillWeight weighs the distillation by resynthesis (LM-SPT: 500 against mel 15),
	// on the relative squared distance of the teacher's features (see the package doc).
	// Default 1 for "speechtok", 0 (and only 0) for "speechtok_nodistill" (float64).
	ParamDistillWeight = "speechtok_distill_weight"
	// ParamQuantizerDropout is the probability that a training example keeps a random number
	// of acoustic stages, uniform in 0..N, instead of all N (SoundStream's quantizer dropout).
	// Default 0.5 (float64).
	ParamQuantizerDropout = "speechtok_quantizer_dropout"
)

// ownParams are the tokenizer's own hyperparameters, with the distillation weight's default
// set per registered model.
func ownParams(distillDefault float64) hparams.List {
	return hparams.List{
		{Key: ParamPatch, Default: 160, Doc: "P: samples per patch (the waveform is framed by reshape)", Domain: hparams.AtLeast(1)},
		{Key: ParamStrides, Default: "2,4", Doc: "strides of the encoders' downsampling convolutions (each even); hop = P·Π strides", Domain: stridesDomain},
		{Key: ParamChannels, Default: 64, Doc: "C: channels at the patch rate, doubled per downsampling", Domain: hparams.AtLeast(1)},
		{Key: ParamMaxChannels, Default: 256, Doc: "cap of the channels", Domain: hparams.AtLeast(1)},
		{Key: ParamResBlocks, Default: 1, Doc: "residual units per resolution", Domain: hparams.AtLeast(0)},
		{Key: ParamLatentDim, Default: 8, Doc: "D: dimension of each token's latent vector", Domain: hparams.AtLeast(1)},
		{Key: ParamMelFFTs, Default: "256,512,1024", Doc: "FFT sizes of the multi-scale mel loss (hop NFFT/4)", Domain: intListDomain},
		{Key: ParamMelBins, Default: "32,64,128", Doc: "mel bands of each scale of the mel loss", Domain: intListDomain},
		{Key: ParamMelWeight, Default: 1.0, Doc: "weight of the multi-scale mel distance", Domain: hparams.AtLeast(0)},
		{Key: ParamVQWeight, Default: 1.0, Doc: "weight of the quantizers' codebook and commitment losses", Domain: hparams.AtLeast(0)},
		{Key: ParamDistillWeight, Default: distillDefault, Doc: "weight of the distillation by resynthesis through the teacher", Domain: hparams.AtLeast(0)},
		{Key: ParamQuantizerDropout, Default: 0.5, Doc: "probability that a training example keeps a random number 0..N of acoustic stages", Domain: hparams.Probability()},
	}
}

// quantizerDefaults are the tokenizer's defaults of the two quantizers' keys (the others keep
// layers/vq's): a 1024-entry SimVQ for the semantic tokens, 4 residual SimVQ stages of 1024 for
// the acoustic ones (LM-SPT: 16384×8 and 7×4096×8).
var quantizerDefaults = map[string]any{
	vq.PrefixedKey(SemanticPrefix, vq.ParamType):           "simvq",
	vq.PrefixedKey(SemanticPrefix, vq.ParamCodebookSize):   1024,
	vq.PrefixedKey(AcousticPrefix, vq.ParamType):           "rvq",
	vq.PrefixedKey(AcousticPrefix, vq.ParamResidualType):   "simvq",
	vq.PrefixedKey(AcousticPrefix, vq.ParamResidualStages): 4,
	vq.PrefixedKey(AcousticPrefix, vq.ParamCodebookSize):   1024,
}

// Params returns every hyperparameter of the tokenizer with the given default distillation
// weight: its own, and the vq_* keys of both quantizers under their prefixes.
func Params(distillDefault float64) hparams.List {
	var qs hparams.List
	for _, prefix := range []string{SemanticPrefix, AcousticPrefix} {
		for _, p := range vq.ParamsWithPrefix(prefix) {
			if d, ok := quantizerDefaults[p.Key]; ok {
				p.Default = d
			}
			qs = append(qs, p)
		}
	}
	return hparams.Merge(ownParams(distillDefault), qs)
}

// Scalars are the statistics Build logs: the multi-scale mel distance, the distillation's
// relative distance (absent without a teacher), and the code perplexity of each quantizer.
var Scalars = []string{"mel_distance", "distill_distance", "sem_code_perplexity", "ac_code_perplexity"}

// NewModel returns the tokenizer as a framework model called name that distils from the
// registered model teacher ("" for none: the distillation weight must then be 0). The package
// registers "speechtok" (teacher "asr", or any model of the contract of the package doc named
// by the config's teacher_model) and "speechtok_nodistill".
func NewModel(name, teacher string) *framework.Model {
	distillDefault := 1.0
	if teacher == "" {
		distillDefault = 0
	}
	params := Params(distillDefault)
	return &framework.Model{
		Name:    name,
		Doc:     "LM-SPT-style speech tokenizer: semantic and acoustic tokens of 16 kHz speech at 25, 12.5 or 6.25 Hz",
		Dataset: "speech",
		Params:  params,
		Teacher: teacher,
		Build:   Build,
		Init:    Init,
		Scalars: Scalars,
		NewEvaluator: func(p map[string]any) (framework.Evaluator, error) {
			ev, err := NewEvaluator(p)
			if err != nil {
				return nil, err
			}
			return ev, nil
		},
		Validate: func(p map[string]any) error {
			if teacher == "" && p[ParamDistillWeight].(float64) != 0 {
				return fmt.Errorf("speechtok: key %s: model %s has no teacher, the weight must be 0 (model speechtok distils)", ParamDistillWeight, name)
			}
			if teacher != "" && p[ParamDistillWeight].(float64) == 0 {
				return fmt.Errorf("speechtok: key %s is 0: model %s would load its teacher for nothing; use speechtok_nodistill", ParamDistillWeight, name)
			}
			_, err := GeometryOf(p)
			return err
		},
	}
}

func init() {
	framework.Register(NewModel("speechtok", "asr"))
	framework.Register(NewModel("speechtok_nodistill", ""))
}

// Geometry is the tokenizer's layout derived from its hyperparameters.
type Geometry struct {
	// Patch is P, Strides the downsampling strides, Hop = P·Π Strides samples per token frame.
	Patch   int
	Strides []int
	Hop     int
	// Mels are the scales of the mel loss and of the evaluator's mel distance.
	Mels []dsp.Mel
	// Semantic and Acoustic are the two quantizers.
	Semantic, Acoustic vq.Quantizer
}

// FrameRate is the token frames per second, SampleRate/Hop.
func (g Geometry) FrameRate() float64 { return float64(SampleRate) / float64(g.Hop) }

// StageBits are the bits of one code of each stream, semantic first, as packed: ⌈log₂ K⌉.
func (g Geometry) StageBits() []int {
	bits := []int{codeBits(g.Semantic.CodebookSize())}
	for range g.Acoustic.Stages() {
		bits = append(bits, codeBits(g.Acoustic.CodebookSize()))
	}
	return bits
}

// BitsPerSecond is the packed rate of the first n streams (1: semantic only; 1+N: all):
// FrameRate·Σ_{i<n} StageBits[i].
func (g Geometry) BitsPerSecond(n int) float64 {
	sum := 0
	for _, b := range g.StageBits()[:n] {
		sum += b
	}
	return g.FrameRate() * float64(sum)
}

// Streams is 1 + N, the semantic stream and the acoustic stages.
func (g Geometry) Streams() int { return 1 + g.Acoustic.Stages() }

// codeBits is ⌈log₂ k⌉, the packed width of a code of a codebook of k entries.
func codeBits(k int) int { return int(math.Ceil(math.Log2(float64(k)) - 1e-12)) }

// GeometryOf derives the geometry from resolved hyperparameters; the error names the key.
func GeometryOf(p map[string]any) (Geometry, error) {
	var g Geometry
	g.Patch = p[ParamPatch].(int)
	strides, err := parseInts(p[ParamStrides].(string))
	if err != nil {
		return g, fmt.Errorf("speechtok: key %s: %w", ParamStrides, err)
	}
	g.Strides, g.Hop = strides, g.Patch
	for _, s := range strides {
		g.Hop *= s
	}
	if g.Mels, err = melScales(p[ParamMelFFTs].(string), p[ParamMelBins].(string)); err != nil {
		return g, err
	}
	if g.Semantic, err = vq.FromParams(p, SemanticPrefix); err != nil {
		return g, fmt.Errorf("speechtok: %w", err)
	}
	if g.Acoustic, err = vq.FromParams(p, AcousticPrefix); err != nil {
		return g, fmt.Errorf("speechtok: %w", err)
	}
	for _, q := range []vq.Quantizer{g.Semantic, g.Acoustic} {
		if _, ok := q.(vq.Decoder); !ok {
			return g, fmt.Errorf("speechtok: quantizer %s cannot decode its codes (no Decode)", q.Name())
		}
	}
	return g, nil
}

// melScales builds the mel loss's scales: NFFT n, Hann window n, hop n/4, centred, the given
// mel bands (Slaney scale, 0-8 kHz), log floor 1e-5.
func melScales(ffts, bins string) ([]dsp.Mel, error) {
	n, err := parseInts(ffts)
	if err != nil {
		return nil, fmt.Errorf("speechtok: key %s: %w", ParamMelFFTs, err)
	}
	b, err := parseInts(bins)
	if err != nil {
		return nil, fmt.Errorf("speechtok: key %s: %w", ParamMelBins, err)
	}
	if len(n) != len(b) || len(n) == 0 {
		return nil, fmt.Errorf("speechtok: keys %s and %s: %d FFT sizes and %d band counts, want as many, at least one", ParamMelFFTs, ParamMelBins, len(n), len(b))
	}
	var scales []dsp.Mel
	for i := range n {
		if n[i] < 16 || n[i] > 2048 {
			return nil, fmt.Errorf("speechtok: key %s: FFT size %d outside [16, 2048] (the DFT is a matrix product: cost ∝ NFFT²)", ParamMelFFTs, n[i])
		}
		m := dsp.Mel{STFT: dsp.STFT{NFFT: n[i], Win: n[i], Hop: n[i] / 4, Center: true}, SampleRate: SampleRate,
			NMels: b[i], FMax: SampleRate / 2, Scale: dsp.Slaney, Floor: 1e-5}
		if _, err := m.Filterbank(); err != nil {
			return nil, fmt.Errorf("speechtok: keys %s/%s, scale %d: %w", ParamMelFFTs, ParamMelBins, i, err)
		}
		scales = append(scales, m)
	}
	return scales, nil
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a comma-separated list of positive integers", s)
		}
		out = append(out, v)
	}
	return out, nil
}

func intListDomain(v any) error {
	_, err := parseInts(v.(string))
	return err
}

func stridesDomain(v any) error {
	strides, err := parseInts(v.(string))
	if err != nil {
		return err
	}
	for _, s := range strides {
		if s%2 != 0 {
			return fmt.Errorf("stride %d is odd: each downsampling is a convolution of kernel 2s and padding s/2, exact for even s", s)
		}
	}
	return nil
}

// geometry reads the geometry from the scope's hyperparameters (graph-building: panics).
func geometry(scope *model.Scope) Geometry {
	p := map[string]any{}
	for _, param := range Params(0) {
		if v, ok := scope.GetParam(param.Key); ok {
			p[param.Key] = v
		} else {
			p[param.Key] = param.Default
		}
	}
	g, err := GeometryOf(p)
	if err != nil {
		exceptions.Panicf("%v", err)
	}
	return g
}

// act is the nonlinearity of every block: LeakyReLU(0.1), as HiFi-GAN's and cheap on two cores.
func act(x *graph.Node) *graph.Node { return activation.LeakyReluWith(x, 0.1) }

// channels returns the channels at the patch rate and after each downsampling.
func channels(scope *model.Scope, strides []int) []int {
	c := hparams.Get[int](scope, ownParams(0), ParamChannels)
	cmax := hparams.Get[int](scope, ownParams(0), ParamMaxChannels)
	out := []int{min(c, cmax)}
	for range strides {
		out = append(out, min(2*out[len(out)-1], cmax))
	}
	return out
}

// resUnits applies the residual units x + conv₁(act(conv₃(act(x)))) of one resolution.
func resUnits(scope *model.Scope, x *graph.Node) *graph.Node {
	c := x.Shape().Dim(2)
	for i := range hparams.Get[int](scope, ownParams(0), ParamResBlocks) {
		s := scope.In("res_%02d", i)
		h := conv.New1D(s.In("conv3"), act(x), c).KernelSize(3).Padding(1).Done()
		h = conv.New1D(s.In("conv1"), act(h), c).KernelSize(1).Done()
		x = graph.Add(x, h)
	}
	return x
}

// Encode maps waveforms [B, S] (S a multiple of the hop) to latents [B, S/hop, D]: patches by
// reshape, a kernel-7 convolution to C channels, then per stride s residual units and a
// convolution of kernel 2s, stride s, padding s/2, and a kernel-3 convolution to D.
func Encode(scope *model.Scope, x *graph.Node) *graph.Node {
	g := geometry(scope)
	d := hparams.Get[int](scope, ownParams(0), ParamLatentDim)
	batch, samples := x.Shape().Dim(0), x.Shape().Dim(1)
	if samples%g.Hop != 0 {
		exceptions.Panicf("speechtok: %d samples are not a multiple of the hop %d (%s·Π %s): crop the waveforms to a multiple of %g s (the speech dataset's speech_crop_seconds, e.g. 1.28)",
			samples, g.Hop, ParamPatch, ParamStrides, float64(g.Hop)/SampleRate)
	}
	ch := channels(scope, g.Strides)
	h := graph.Reshape(x, batch, samples/g.Patch, g.Patch)
	h = conv.New1D(scope.In("in"), h, ch[0]).KernelSize(7).Padding(3).Done()
	for i, s := range g.Strides {
		h = resUnits(scope.In("block_%02d", i), h)
		h = conv.New1D(scope.In("down_%02d", i), act(h), ch[i+1]).KernelSize(2 * s).Stride(s).Padding(s / 2).Done()
	}
	z := conv.New1D(scope.In("out"), act(h), d).KernelSize(3).Padding(1).Done()
	z.AssertDims(batch, samples/g.Hop, d)
	return z
}

// Decode maps latents [B, T, Din] to waveforms [B, T·hop] in (−1, 1): a kernel-7 convolution to
// the deepest channels, then per stride (in reverse) a transposed convolution of kernel 2s,
// stride s, padding s/2 and residual units, a kernel-7 convolution to P samples per patch,
// unpatched by reshape, and tanh.
func Decode(scope *model.Scope, q *graph.Node) *graph.Node {
	g := geometry(scope)
	batch, frames := q.Shape().Dim(0), q.Shape().Dim(1)
	ch := channels(scope, g.Strides)
	h := conv.New1D(scope.In("in"), q, ch[len(ch)-1]).KernelSize(7).Padding(3).Done()
	for i := len(g.Strides) - 1; i >= 0; i-- {
		s := g.Strides[i]
		h = conv.Transpose1D(scope.In("up_%02d", i), act(h), ch[i]).KernelSize(2 * s).Stride(s).Padding(s / 2).Done()
		h = resUnits(scope.In("block_%02d", i), h)
	}
	y := conv.New1D(scope.In("out"), act(h), g.Patch).KernelSize(7).Padding(3).Done()
	return graph.Tanh(graph.Reshape(y, batch, frames*g.Hop))
}

// Scopes of the tokenizer's parts.
const (
	scopeSemEncoder  = "sem_encoder"
	scopeAcEncoder   = "ac_encoder"
	scopeSemQuantize = "sem_quantizer"
	scopeAcQuantize  = "ac_quantizer"
	scopeDecoder     = "decoder"
	scopeAuxDecoder  = "aux_decoder"
)

// Tokens are the quantized latents of a batch.
type Tokens struct {
	// Semantic and Acoustic are the quantizers' outputs on the two encoders' latents [B, T, D].
	Semantic, Acoustic vq.Output
}

// Tokenize encodes waveforms [B, S] with both encoders and quantizes them, keeping keep[b]
// acoustic stages of example b in Acoustic.Quantized (keep: int32 [B], nil for all).
func Tokenize(scope *model.Scope, x, keep *graph.Node) Tokens {
	g := geometry(scope)
	zs := Encode(scope.In(scopeSemEncoder), x)
	za := Encode(scope.In(scopeAcEncoder), x)
	var keepFrames *graph.Node
	if keep != nil {
		keepFrames = graph.BroadcastToDims(graph.InsertAxes(keep, -1), za.Shape().Dim(0), za.Shape().Dim(1))
	}
	return Tokens{
		Semantic: g.Semantic.Quantize(scope.In(scopeSemQuantize), zs),
		Acoustic: vq.QuantizeKeeping(g.Acoustic, scope.In(scopeAcQuantize), za, keepFrames),
	}
}

// Codes stacks the token codes [B, T, 1+N]: the semantic code, then the acoustic stages.
func (t Tokens) Codes() *graph.Node {
	return graph.Stack(append(append([]*graph.Node{}, t.Semantic.Codes.Stages...), t.Acoustic.Codes.Stages...), -1)
}

// Detokenize decodes codes [B, T, 1+N] to waveforms [B, T·hop] with the main decoder, through
// the quantizers' Decode (which must have been built in this or an earlier graph).
func Detokenize(scope *model.Scope, codes *graph.Node) *graph.Node {
	g := geometry(scope)
	if codes.Rank() != 3 || codes.Shape().Dim(2) != g.Streams() {
		exceptions.Panicf("speechtok: codes must be [batch, frames, %d], got %s", g.Streams(), codes.Shape())
	}
	stream := func(i int) *graph.Node {
		return graph.Squeeze(graph.Slice(codes, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(i, i+1)), -1)
	}
	sem := vq.Codes{Stages: []*graph.Node{stream(0)}}
	ac := vq.Codes{}
	for i := 1; i < g.Streams(); i++ {
		ac.Stages = append(ac.Stages, stream(i))
	}
	qs := g.Semantic.(vq.Decoder).Decode(scope.At(scopeSemQuantize), sem)
	qa := g.Acoustic.(vq.Decoder).Decode(scope.At(scopeAcQuantize), ac)
	return Decode(scope.At(scopeDecoder), graph.Concatenate([]*graph.Node{qs, qa}, -1))
}

// Init initialises data-dependent quantizers (EMA VQ's k-means, stage by stage for a residual
// stack) from the two encoders' latents of the first batch of a fresh run.
func Init(scope *model.Scope, inputs []*graph.Node) {
	g := geometry(scope)
	x := graph.ConvertDType(inputs[0], dtypes.Float32)
	if init, ok := g.Semantic.(vq.DataInitializer); ok {
		init.InitFromLatents(scope.In(scopeSemQuantize), Encode(scope.In(scopeSemEncoder), x))
	}
	if init, ok := g.Acoustic.(vq.DataInitializer); ok {
		init.InitFromLatents(scope.In(scopeAcQuantize), Encode(scope.In(scopeAcEncoder), x))
	}
}

// Resynthesize decodes semantic codes [B, T] alone to waveforms [B, T·hop]: with the auxiliary
// decoder when the tokenizer was distilled (speechtok_distill_weight > 0: it holds
// aux_decoder), else with the main decoder and no acoustic stage, as Build's second
// prediction. The semantic quantizer's Decode must have been built in this or an earlier graph.
func Resynthesize(scope *model.Scope, semantic *graph.Node) *graph.Node {
	g := geometry(scope)
	qs := g.Semantic.(vq.Decoder).Decode(scope.At(scopeSemQuantize), vq.Codes{Stages: []*graph.Node{semantic}})
	if hparams.Get[float64](scope, ownParams(0), ParamDistillWeight) > 0 {
		return Decode(scope.At(scopeAuxDecoder), qs)
	}
	batch, frames := qs.Shape().Dim(0), qs.Shape().Dim(1)
	silent := graph.Zeros(qs.Graph(), shapes.Make(qs.DType(), batch, frames, hparams.Get[int](scope, ownParams(0), ParamLatentDim)))
	return Decode(scope.At(scopeDecoder), graph.Concatenate([]*graph.Node{qs, silent}, -1))
}

// Build is the model function. inputs[0] is a batch of waveforms [B, S] at 16 kHz, S a multiple
// of the hop. Predictions: the reconstruction from all tokens [B, S]; the resynthesis from the
// semantic tokens alone [B, S] (the auxiliary decoder's when distilling, else the main decoder's
// with no acoustic stage); the codes [B, S/hop, 1+N] int32 (semantic, then the acoustic stages).
// The losses (package doc) are added with train.AddLoss.
func Build(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
	x := inputs[0]
	if x.Rank() != 2 {
		exceptions.Panicf("speechtok: inputs[0] must be waveforms [batch, samples], got %s", x.Shape())
	}
	x = graph.ConvertDType(x, dtypes.Float32)
	g := geometry(scope)
	batch := x.Shape().Dim(0)
	training := scope.IsTraining(x.Graph())

	var keep *graph.Node
	if p := hparams.Get[float64](scope, ownParams(0), ParamQuantizerDropout); training && p > 0 {
		n := g.Acoustic.Stages()
		drop := graph.LessThan(scope.RandomUniform(x.Graph(), shapes.Make(dtypes.Float32, batch)), graph.Scalar(x.Graph(), dtypes.Float32, p))
		stages := scope.RandomIntN(x.Graph(), int32(n+1), shapes.Make(dtypes.Int32, batch))
		keep = graph.Where(drop, stages, graph.BroadcastToDims(graph.Scalar(x.Graph(), dtypes.Int32, n), batch))
	}
	tok := Tokenize(scope, x, keep)
	qs, qa := tok.Semantic.Quantized, tok.Acoustic.Quantized
	recon := Decode(scope.In(scopeDecoder), graph.Concatenate([]*graph.Node{qs, qa}, -1))

	melWeight := hparams.Get[float64](scope, ownParams(0), ParamMelWeight)
	mel := audio.MultiScaleMelDistance(x, recon, g.Mels)
	train.AddLoss(graph.MulScalar(mel, melWeight))
	train.AddLoss(graph.MulScalar(graph.Add(tok.Semantic.Loss, tok.Acoustic.Loss), hparams.Get[float64](scope, ownParams(0), ParamVQWeight)))
	scalars := map[string]*graph.Node{"mel_distance": mel}

	var semantic *graph.Node
	if w := hparams.Get[float64](scope, ownParams(0), ParamDistillWeight); w > 0 {
		semantic = Decode(scope.In(scopeAuxDecoder), qs)
		d := DistillDistance(scope, x, semantic)
		train.AddLoss(graph.MulScalar(d, w))
		scalars["distill_distance"] = d
	} else {
		semantic = Decode(scope.At(scopeDecoder), graph.Concatenate([]*graph.Node{qs, graph.ZerosLike(qa)}, -1))
	}
	for prefix, out := range map[string]vq.Output{SemanticPrefix: tok.Semantic, AcousticPrefix: tok.Acoustic} {
		if p, ok := out.Stats[vq.StatCodePerplexity]; ok {
			scalars[prefix+"_code_perplexity"] = p
		}
	}
	return framework.Outputs{Predictions: []*graph.Node{recon, semantic, tok.Codes()}, Scalars: scalars}
}

// DistillDistance is the distillation by resynthesis: the teacher's features E(·) [B, F, D] of
// the original x and of the resynthesis y (both [B, S]), computed in one teacher pass over the
// batch [x; y], and their relative squared distance
//
//	mean (E(x) − E(y))² / mean E(x)²,
//
// with a gradient to y only (the teacher is frozen; E(x) is a constant target).
func DistillDistance(scope *model.Scope, x, y *graph.Node) *graph.Node {
	batch := x.Shape().Dim(0)
	feats := framework.BuildTeacher(scope, []*graph.Node{graph.Concatenate([]*graph.Node{x, y}, 0)}).Predictions[0]
	if feats.Rank() < 2 || feats.Shape().Dim(0) != 2*batch {
		exceptions.Panicf("speechtok: the teacher's Predictions[0] must be features [batch, frames, dim], got %s for %d waveforms", feats.Shape(), 2*batch)
	}
	feats = graph.ConvertDType(feats, dtypes.Float32)
	target := graph.StopGradient(graph.Slice(feats, graph.AxisRange(0, batch)))
	got := graph.Slice(feats, graph.AxisRange(batch, 2*batch))
	num := graph.ReduceAllMean(graph.Square(graph.Sub(got, target)))
	den := graph.AddScalar(graph.ReduceAllMean(graph.Square(target)), 1e-8)
	return graph.Div(num, den)
}
