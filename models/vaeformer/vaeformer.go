package vaeformer

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/layers/linear"
	"github.com/qzoo/qzoo/layers/norm"
	"github.com/qzoo/qzoo/layers/position"
)

// Hyperparameters of the codec. The window w (hours per token) and the channels are the
// dataset's (era5_window, era5_variables).
const (
	// ParamPatch is p, the side of a token's spatial patch in grid points. Default 4 (int).
	ParamPatch = "vaeformer_patch"
	// ParamDim is D, the transformers' width. Default 64 (int).
	ParamDim = "vaeformer_dim"
	// ParamHeads is the number of attention heads (D must be a multiple). Default 4 (int).
	ParamHeads = "vaeformer_heads"
	// ParamEncoderLayers is L_e, the encoder's transformer blocks. Default 2 (int).
	ParamEncoderLayers = "vaeformer_encoder_layers"
	// ParamDecoderLayers is L_d, the decoder's transformer blocks. Default 2 (int).
	ParamDecoderLayers = "vaeformer_decoder_layers"
	// ParamLatent is c_y, the latent channels per token. Default 16 (int).
	ParamLatent = "vaeformer_latent"
	// ParamHyperLatent is c_z, the hyper-latent channels per 2×2 tokens. Default 8 (int).
	ParamHyperLatent = "vaeformer_hyper_latent"
	// ParamHyperDim is the hidden width of the hyper transforms h_a and h_s. Default 64 (int).
	ParamHyperDim = "vaeformer_hyper_dim"
	// ParamLambda is λ, the weight of the normalised mean squared error against the rate in
	// bits per value: the rate–distortion trade-off. Default 100 (float).
	ParamLambda = "vaeformer_lambda"
	// ParamKLWeight is β, the weight of the posterior's KL term per value; 0 makes the
	// encoder deterministic (y = μ). Default 1e-4 (float).
	ParamKLWeight = "vaeformer_kl_weight"
	// ParamLatWeighted weights the squared error by cos(latitude). Default true (bool).
	ParamLatWeighted = "vaeformer_lat_weighted"
	// ParamDecoderNoise feeds the decoder the noisy ỹ in training instead of the rounded
	// latent with a straight-through gradient. Default false (bool).
	ParamDecoderNoise = "vaeformer_decoder_noise"
)

// Params lists the model's hyperparameters.
var Params = hparams.List{
	{Key: ParamPatch, Default: 4, Domain: hparams.Range(1, 64), Doc: "p: a token's patch is p×p grid points over the whole window"},
	{Key: ParamDim, Default: 64, Domain: hparams.Range(8, 4096), Doc: "D: width of the encoder and decoder transformers"},
	{Key: ParamHeads, Default: 4, Domain: hparams.Range(1, 64), Doc: "attention heads (D must be a multiple)"},
	{Key: ParamEncoderLayers, Default: 2, Domain: hparams.Range(0, 64), Doc: "L_e: encoder transformer blocks"},
	{Key: ParamDecoderLayers, Default: 2, Domain: hparams.Range(0, 64), Doc: "L_d: decoder transformer blocks"},
	{Key: ParamLatent, Default: 16, Domain: hparams.Range(1, 1024), Doc: "c_y: latent channels per token"},
	{Key: ParamHyperLatent, Default: 8, Domain: hparams.Range(1, 1024), Doc: "c_z: hyper-latent channels per 2×2 tokens"},
	{Key: ParamHyperDim, Default: 64, Domain: hparams.Range(1, 4096), Doc: "hidden width of the hyper transforms"},
	{Key: ParamLambda, Default: 100.0, Domain: hparams.Positive(), Doc: "λ: weight of the normalised MSE against bits per value (rate–distortion trade-off)"},
	{Key: ParamKLWeight, Default: 1e-4, Domain: hparams.AtLeast(0), Doc: "β: weight of the posterior's KL term per value (0: deterministic encoder)"},
	{Key: ParamLatWeighted, Default: true, Doc: "weight the squared error by cos(latitude)"},
	{Key: ParamDecoderNoise, Default: false, Doc: "train the decoder on the noisy latent instead of the straight-through rounded one"},
}

// Variable scopes and names shared by the graph and the Go side of the codec.
const (
	scopeNorm      = "normalisation"
	varMean        = "mean"
	varStd         = "std"
	varLatWeights  = "lat_weights"
	scopeHyperSyn  = "hyper_synthesis"
	scopeDensity   = "density"
	varWeights     = linear.VarWeights
	varBiases      = linear.VarBiases
	scaleBound     = 0.11 // lower bound of the Gaussian conditional's scale (CompressAI's)
	likelihoodMin  = 1e-9
	logVarMin      = -12.0
	logVarMax      = 4.0
	densityInitTop = 10.0 // Ballé's init_scale of the factorised density
)

// densityFilters are the widths of the factorised density's per-channel layers (Ballé et al.
// 2018, appendix 6.1): 1 → 3 → 3 → 3 → 1.
var densityFilters = []int{1, 3, 3, 3, 1}

// Scalars are the training statistics Build logs.
var Scalars = []string{"mse", "bits_per_value", "kl"}

func init() {
	framework.Register(&framework.Model{
		Name:      "vaeformer",
		Doc:       "VAEformer climate codec (CRA5): transformer VAE + hyperprior, entropy-coded with rANS",
		Dataset:   "era5",
		Params:    Params,
		Build:     Build,
		Scalars:   Scalars,
		Calibrate: Calibrate,
		Evaluate:  Evaluate,
		Validate:  Validate,
	})
}

// Validate refuses hyperparameters the graph cannot be built from.
func Validate(params map[string]any) error {
	if d, h := params[ParamDim].(int), params[ParamHeads].(int); d%h != 0 {
		return fmt.Errorf("vaeformer: %s=%d is not a multiple of %s=%d", ParamDim, d, ParamHeads, h)
	}
	return nil
}

// Build is the model function for a batch of windows x [B, w, C, H, W] in physical units.
// Its predictions are the reconstruction [B, w, C, H, W] (physical units) and the estimated
// bits of each window [B]; it adds the loss of the package doc and logs "mse" (normalised,
// latitude-weighted when so configured), "bits_per_value" and "kl" (per value).
func Build(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
	x := inputs[0]
	if x.Rank() != 5 {
		panic(fmt.Sprintf("vaeformer: input must be [batch, hours, channels, lat, lon], got %s", x.Shape()))
	}
	g := x.Graph()
	dims := x.Shape().Dimensions
	c, h := dims[2], dims[3]
	training := scope.IsTraining(g)
	mean, std, latW := normalisation(scope, g, c, h)
	xn := normalise(x, mean, std)

	enc := Encode(scope, xn)
	y := enc.Mean
	beta := hparams.Get[float64](scope, Params, ParamKLWeight)
	if training && beta > 0 {
		sigma := graph.Exp(graph.MulScalar(enc.LogVar, 0.5))
		y = graph.Add(y, graph.Mul(sigma, scope.RandomNormal(g, y.Shape())))
	}
	kl := graph.MulScalar(graph.ReduceAllSum(graph.Sub(graph.Add(graph.Square(enc.Mean), graph.Exp(enc.LogVar)),
		graph.AddScalar(enc.LogVar, 1))), 0.5)

	z := HyperAnalysis(scope, enc.Mean)
	var zq *graph.Node
	if training {
		zq = uniformNoise(scope, z)
	} else {
		zq = graph.Round(z)
	}
	zBits := graph.ReduceSum(bitsOf(FactorisedLikelihood(scope, zq)), 1, 2, 3)
	m, s := HyperSynthesis(scope, zq, enc.Mean.Shape().Dimensions[1], enc.Mean.Shape().Dimensions[2])

	var yRate, yDec *graph.Node
	rounded := graph.Add(m, graph.Round(graph.Sub(y, m)))
	if training {
		yRate = uniformNoise(scope, y)
		if hparams.Get[bool](scope, Params, ParamDecoderNoise) {
			yDec = yRate
		} else {
			yDec = graph.Add(y, graph.StopGradient(graph.Sub(rounded, y)))
		}
	} else {
		yRate, yDec = rounded, rounded
	}
	yBits := graph.ReduceSum(bitsOf(GaussianLikelihood(yRate, m, s)), 1, 2, 3)
	recon := Decode(scope, yDec, dims)

	values := float64(x.Shape().Size())
	sq := graph.Square(graph.Sub(recon, xn))
	if hparams.Get[bool](scope, Params, ParamLatWeighted) {
		sq = graph.Mul(sq, graph.Reshape(latW, 1, 1, 1, h, 1))
	}
	mse := graph.ReduceAllMean(sq)
	bitsPerExample := graph.Add(yBits, zBits)
	bpv := graph.DivScalar(graph.ReduceAllSum(bitsPerExample), values)
	klPerValue := graph.DivScalar(kl, values)
	lambda := hparams.Get[float64](scope, Params, ParamLambda)
	train.AddLoss(graph.Add(graph.Add(graph.MulScalar(mse, lambda), bpv), graph.MulScalar(klPerValue, beta)))
	return framework.Outputs{
		Predictions: []*graph.Node{denormalise(recon, mean, std), bitsPerExample},
		Scalars:     map[string]*graph.Node{"mse": mse, "bits_per_value": bpv, "kl": klPerValue},
	}
}

// uniformNoise is x + u with u ~ U(−½, ½) elementwise: the training-time stand-in for rounding.
func uniformNoise(scope *model.Scope, x *graph.Node) *graph.Node {
	return graph.Add(x, graph.AddScalar(scope.RandomUniform(x.Graph(), x.Shape()), -0.5))
}

// normalisation returns the per-channel mean and standard deviation variables [C] and, when
// h > 0, the latitude weights [h] (all non-trainable; [Calibrate] sets them from the training
// split).
func normalisation(scope *model.Scope, g *graph.Graph, c, h int) (mean, std, lat *graph.Node) {
	s := scope.In(scopeNorm)
	mv := s.WithInitializer(initializer.Zero).VariableWithShape(varMean, shapes.Make(dtypes.Float32, c))
	sv := s.WithInitializer(initializer.One).VariableWithShape(varStd, shapes.Make(dtypes.Float32, c))
	mv.SetTrainable(false)
	sv.SetTrainable(false)
	if h > 0 {
		lv := s.WithInitializer(initializer.One).VariableWithShape(varLatWeights, shapes.Make(dtypes.Float32, h))
		lv.SetTrainable(false)
		lat = lv.NodeValue(g)
	}
	return mv.NodeValue(g), sv.NodeValue(g), lat
}

// normalise maps x [B, w, C, H, W] to (x − mean_c)/std_c.
func normalise(x, mean, std *graph.Node) *graph.Node {
	c := x.Shape().Dimensions[2]
	return graph.Div(graph.Sub(x, graph.Reshape(mean, 1, 1, c, 1, 1)), graph.Reshape(std, 1, 1, c, 1, 1))
}

// denormalise is the inverse of normalise.
func denormalise(x, mean, std *graph.Node) *graph.Node {
	c := x.Shape().Dimensions[2]
	return graph.Add(graph.Mul(x, graph.Reshape(std, 1, 1, c, 1, 1)), graph.Reshape(mean, 1, 1, c, 1, 1))
}

// Posterior is the encoder's output: the mean and log-variance of q(y|x), each [B, n_h, n_w, c_y].
type Posterior struct{ Mean, LogVar *graph.Node }

// Grid returns the token grid n_h × n_w of an H×W field cut into p×p patches.
func Grid(h, w, p int) (nh, nw int) { return (h + p - 1) / p, (w + p - 1) / p }

// Encode maps normalised windows [B, w, C, H, W] to the posterior over the token grid.
func Encode(scope *model.Scope, xn *graph.Node) Posterior { return encode(scope, xn, nil) }

// EncodeCore is [Encode] over a tile's span xn [B, w, C, H, W] (a grid of sh×sw tokens) that
// keeps only its core of cq×cw tokens: the posterior's mean [B, cq, cw, c_y] at the span's
// tokens idx [cq·cw] (int32, row-major indices into the span's tokens: [CoreIndices]). Its
// values are Encode's at those tokens; the last block computes queries, attention, MLP and
// head for the core's tokens alone (keys and values still come from every token), a
// (cq·cw)/(sh·sw) share of its work.
func EncodeCore(scope *model.Scope, xn *graph.Node, cq, cw int, idx *graph.Node) *graph.Node {
	dims := xn.Shape().Dimensions
	sh, sw := Grid(dims[3], dims[4], hparams.Get[int](scope, Params, ParamPatch))
	return encode(scope, xn, &coreTokens{sh: sh, sw: sw, cq: cq, cw: cw, idx: idx}).Mean
}

// CoreIndices returns the token indices in a span sw tokens wide of the cq×cw core whose
// first token is at row r, column c: (r+i)·sw + c+j, row-major, for [EncodeCore] and
// [DecodeCore].
func CoreIndices(sw, cq, cw, r, c int) []int32 {
	idx := make([]int32, 0, cq*cw)
	for i := range cq {
		for j := range cw {
			idx = append(idx, int32((r+i)*sw+c+j))
		}
	}
	return idx
}

// encode is [Encode], or [EncodeCore] for a core (then LogVar is nil).
func encode(scope *model.Scope, xn *graph.Node, core *coreTokens) Posterior {
	p := hparams.Get[int](scope, Params, ParamPatch)
	d := hparams.Get[int](scope, Params, ParamDim)
	cy := hparams.Get[int](scope, Params, ParamLatent)
	layers := hparams.Get[int](scope, Params, ParamEncoderLayers)
	dims := xn.Shape().Dimensions
	nh, nw := Grid(dims[3], dims[4], p)
	tokens := patchify(xn, p)
	scope = scope.In("encoder")
	t := graph.Add(linear.New(scope.In("embed"), tokens, d).Done(), position.Sinusoidal2D(xn.Graph(), nh, nw, d))
	t = blocks(scope, t, layers, core)
	t = norm.Layer(scope.In("norm"), t).Done()
	out := linear.New(scope.In("head"), t, 2*cy).Done()
	b := dims[0]
	if core != nil {
		nh, nw = core.cq, core.cw
	}
	out = graph.Reshape(out, b, nh, nw, 2*cy)
	mean := graph.Slice(out, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, cy))
	if core != nil {
		return Posterior{Mean: mean}
	}
	logVar := graph.ClipScalar(graph.Slice(out, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(cy, 2*cy)), logVarMin, logVarMax)
	return Posterior{Mean: mean, LogVar: logVar}
}

// Decode maps latents [B, n_h, n_w, c_y] to normalised windows of the given dims [B, w, C, H, W].
func Decode(scope *model.Scope, y *graph.Node, dims []int) *graph.Node {
	p := hparams.Get[int](scope, Params, ParamPatch)
	b, w, c, h, wd := dims[0], dims[1], dims[2], dims[3], dims[4]
	nh, nw := Grid(h, wd, p)
	y.AssertDims(b, nh, nw, -1)
	return unpatchify(decode(scope, y, w*c*p*p, nil), b, w, c, h, wd, p)
}

// DecodeCore is [Decode] over a tile's span of latents y [B, sh, sw, c_y] that keeps only its
// core of cq×cw tokens (idx, as in [EncodeCore]): the normalised windows [B, w, C, cq·p, cw·p]
// of those tokens, Decode's values there; the last block and the head run for the core's
// tokens alone.
func DecodeCore(scope *model.Scope, y *graph.Node, w, c, cq, cw int, idx *graph.Node) *graph.Node {
	p := hparams.Get[int](scope, Params, ParamPatch)
	dims := y.Shape().Dimensions
	out := decode(scope, y, w*c*p*p, &coreTokens{sh: dims[1], sw: dims[2], cq: cq, cw: cw, idx: idx})
	return unpatchify(out, dims[0], w, c, cq*p, cw*p, p)
}

// decode is the decoder's transformer from latents y [B, n_h, n_w, c_y] to each token's
// outputs [B, n, out] (n: every token, or the core's).
func decode(scope *model.Scope, y *graph.Node, out int, core *coreTokens) *graph.Node {
	d := hparams.Get[int](scope, Params, ParamDim)
	layers := hparams.Get[int](scope, Params, ParamDecoderLayers)
	dims := y.Shape().Dimensions
	b, nh, nw := dims[0], dims[1], dims[2]
	scope = scope.In("decoder")
	t := graph.Reshape(y, b, nh*nw, dims[3])
	t = graph.Add(linear.New(scope.In("embed"), t, d).Done(), position.Sinusoidal2D(y.Graph(), nh, nw, d))
	t = blocks(scope, t, layers, core)
	t = norm.Layer(scope.In("norm"), t).Done()
	return linear.New(scope.In("head"), t, out).Done()
}

// HyperAnalysis is h_a: latents [B, n_h, n_w, c_y] to hyper-latents [B, ⌈n_h/2⌉, ⌈n_w/2⌉, c_z].
func HyperAnalysis(scope *model.Scope, y *graph.Node) *graph.Node {
	hd := hparams.Get[int](scope, Params, ParamHyperDim)
	cz := hparams.Get[int](scope, Params, ParamHyperLatent)
	scope = scope.In("hyper_analysis")
	t := gelu(linear.New(scope.In("in"), y, hd).Done())
	dims := t.Shape().Dimensions
	b, nh, nw := dims[0], dims[1], dims[2]
	t = padEdge(padEdge(t, 1, nh%2), 2, nw%2)
	nh2, nw2 := (nh+1)/2, (nw+1)/2
	// Space to depth: [B, nh2, 2, nw2, 2, hd] → [B, nh2, nw2, 4·hd].
	t = graph.Reshape(t, b, nh2, 2, nw2, 2, hd)
	t = graph.TransposeAllDims(t, 0, 1, 3, 2, 4, 5)
	t = graph.Reshape(t, b, nh2, nw2, 4*hd)
	t = gelu(linear.New(scope.In("merge"), t, hd).Done())
	return linear.New(scope.In("out"), t, cz).Done()
}

// HyperSynthesis is h_s: hyper-latents [B, m_h, m_w, c_z] to the Gaussian conditional's mean
// and scale over the token grid [B, nh, nw, c_y]. [hyperSynthesisGo] computes the same in Go.
func HyperSynthesis(scope *model.Scope, z *graph.Node, nh, nw int) (mean, scale *graph.Node) {
	hd := hparams.Get[int](scope, Params, ParamHyperDim)
	cy := hparams.Get[int](scope, Params, ParamLatent)
	scope = scope.In(scopeHyperSyn)
	dims := z.Shape().Dimensions
	b, mh, mw := dims[0], dims[1], dims[2]
	t := gelu(linear.New(scope.In("in"), z, hd).Done())
	t = linear.New(scope.In("split"), t, 4*hd).Done()
	// Depth to space: [B, mh, mw, 2, 2, hd] → [B, 2mh, 2mw, hd], then crop.
	t = graph.Reshape(t, b, mh, mw, 2, 2, hd)
	t = graph.TransposeAllDims(t, 0, 1, 3, 2, 4, 5)
	t = graph.Reshape(t, b, 2*mh, 2*mw, hd)
	t = graph.Slice(t, graph.AxisRange(), graph.AxisRange(0, nh), graph.AxisRange(0, nw))
	out := linear.New(scope.In("out"), gelu(t), 2*cy).Done()
	mean = graph.Slice(out, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, cy))
	raw := graph.Slice(out, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(cy, 2*cy))
	scale = maxScalar(softplusNode(raw), scaleBound)
	return mean, scale
}

// GaussianLikelihood is p(y | m, s) of the package doc: the mass of N(m, s²) over [y−½, y+½],
// computed on the side of the mean where the normal CDF keeps its precision, floored at 1e-9.
func GaussianLikelihood(y, m, s *graph.Node) *graph.Node {
	v := graph.Abs(graph.Sub(y, m))
	upper := normalCDF(graph.Div(graph.Sub(scalarLike(v, 0.5), v), s))
	lower := normalCDF(graph.Div(graph.Sub(scalarLike(v, -0.5), v), s))
	return maxScalar(graph.Sub(upper, lower), likelihoodMin)
}

func normalCDF(t *graph.Node) *graph.Node {
	return graph.MulScalar(graph.AddScalar(graph.Erf(graph.MulScalar(t, 1/math.Sqrt2)), 1), 0.5)
}

// bitsOf is −log₂ of likelihoods.
func bitsOf(likelihood *graph.Node) *graph.Node {
	return graph.MulScalar(graph.Log(likelihood), -1/math.Ln2)
}

// FactorisedLikelihood is p(z) of the factorised density for z [B, m_h, m_w, c_z]: per channel
// c(z+½) − c(z−½), floored at 1e-9, same shape as z. [densityGo] computes the same in Go.
func FactorisedLikelihood(scope *model.Scope, z *graph.Node) *graph.Node {
	dims := z.Shape().Dimensions
	cz := dims[3]
	n := z.Shape().Size() / cz
	// [B, mh, mw, cz] → [cz, 1, n]
	flat := graph.Reshape(graph.TransposeAllDims(graph.Reshape(z, n, cz), 1, 0), cz, 1, n)
	both := densityLogits(scope, graph.Concatenate([]*graph.Node{graph.AddScalar(flat, -0.5), graph.AddScalar(flat, 0.5)}, 2))
	lower := graph.Slice(both, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, n))
	upper := graph.Slice(both, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(n, 2*n))
	// Evaluate on the side of the median where the sigmoid keeps its precision.
	sign := graph.Where(graph.GreaterThan(graph.Add(lower, upper), scalarLike(lower, 0)),
		graph.OnesLike(lower), graph.MulScalar(graph.OnesLike(lower), -1))
	sign = graph.Neg(sign)
	lik := graph.Abs(graph.Sub(graph.Sigmoid(graph.Mul(sign, upper)), graph.Sigmoid(graph.Mul(sign, lower))))
	lik = maxScalar(lik, likelihoodMin)
	return graph.Reshape(graph.TransposeAllDims(graph.Reshape(lik, cz, n), 1, 0), dims...)
}

// densityLogits is f_K ∘ … ∘ f_1 of the factorised density for x [c_z, 1, n] → [c_z, 1, n].
func densityLogits(scope *model.Scope, x *graph.Node) *graph.Node {
	cz := x.Shape().Dimensions[0]
	scope = scope.In(scopeDensity)
	k := len(densityFilters) - 1
	initScale := math.Pow(densityInitTop, 1/float64(k))
	for i := range k {
		in, out := densityFilters[i], densityFilters[i+1]
		hInit := math.Log(math.Expm1(1 / initScale / float64(out)))
		hv := scope.WithInitializer(constantInit(hInit)).VariableWithShape(fmt.Sprintf("matrix_%d", i), shapes.Make(dtypes.Float32, cz, out, in))
		bv := scope.WithInitializer(initializer.RandomUniformFn(scope, -0.5, 0.5)).VariableWithShape(fmt.Sprintf("bias_%d", i), shapes.Make(dtypes.Float32, cz, out, 1))
		x = graph.Einsum("coi,cin->con", softplusNode(hv.NodeValue(x.Graph())), x)
		x = graph.Add(x, bv.NodeValue(x.Graph()))
		if i < k-1 {
			fv := scope.WithInitializer(initializer.Zero).VariableWithShape(fmt.Sprintf("factor_%d", i), shapes.Make(dtypes.Float32, cz, out, 1))
			x = graph.Add(x, graph.Mul(graph.Tanh(fv.NodeValue(x.Graph())), graph.Tanh(x)))
		}
	}
	return x
}

func constantInit(v float64) initializer.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		return graph.BroadcastToShape(graph.Scalar(g, shape.DType, v), shape)
	}
}

// patchify cuts x [B, w, C, H, W] (edge-padded to multiples of p) into tokens [B, n, w·C·p·p],
// the token index running over the patch grid row-major.
func patchify(x *graph.Node, p int) *graph.Node {
	dims := x.Shape().Dimensions
	b, w, c, h, wd := dims[0], dims[1], dims[2], dims[3], dims[4]
	nh, nw := Grid(h, wd, p)
	x = padEdge(padEdge(x, 3, nh*p-h), 4, nw*p-wd)
	x = graph.Reshape(x, b, w, c, nh, p, nw, p)
	x = graph.TransposeAllDims(x, 0, 3, 5, 1, 2, 4, 6) // [B, nh, nw, w, C, p, p]
	return graph.Reshape(x, b, nh*nw, w*c*p*p)
}

// unpatchify is the inverse of patchify, cropping the padding: tokens [B, n, w·C·p·p] → [B, w, C, H, W].
func unpatchify(t *graph.Node, b, w, c, h, wd, p int) *graph.Node {
	nh, nw := Grid(h, wd, p)
	x := graph.Reshape(t, b, nh, nw, w, c, p, p)
	x = graph.TransposeAllDims(x, 0, 3, 4, 1, 5, 2, 6) // [B, w, C, nh, p, nw, p]
	x = graph.Reshape(x, b, w, c, nh*p, nw*p)
	return graph.Slice(x, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, h), graph.AxisRange(0, wd))
}

// padEdge appends n copies of x's last slice along axis (edge replication).
func padEdge(x *graph.Node, axis, n int) *graph.Node {
	if n == 0 {
		return x
	}
	dims := x.Shape().Dimensions
	specs := make([]graph.SliceAxisSpec, len(dims))
	for i := range specs {
		specs[i] = graph.AxisRange()
	}
	specs[axis] = graph.AxisRange(dims[axis]-1, dims[axis])
	last := graph.Slice(x, specs...)
	target := append([]int(nil), dims...)
	target[axis] = n
	return graph.Concatenate([]*graph.Node{x, graph.BroadcastToDims(last, target...)}, axis)
}

// blocks applies the transformer blocks block_00 … to the tokens x [B, n, D]; with a core,
// the last one keeps only the core's tokens (no blocks: the core of x).
func blocks(scope *model.Scope, x *graph.Node, layers int, core *coreTokens) *graph.Node {
	for i := range layers {
		var keep *coreTokens
		if i == layers-1 {
			keep = core
		}
		x = block(scope.In("block_%02d", i), x, keep)
	}
	if layers == 0 && core != nil {
		x = core.of(x)
	}
	return x
}

// block is a pre-LayerNorm transformer block: x + MHA(LN(x)), then x + MLP(LN(x)) with a
// 2D-wide GELU hidden layer. With a core, only the core's tokens are computed (their
// attention still over every token of x): [B, cq·cw, D].
func block(scope *model.Scope, x *graph.Node, core *coreTokens) *graph.Node {
	heads := hparams.Get[int](scope, Params, ParamHeads)
	att := selfAttention(scope.In("attention"), norm.Layer(scope.In("norm_1"), x).Done(), heads, core)
	x = graph.Add(core.of(x), att)
	d := x.Shape().Dimensions[2]
	hMLP := gelu(linear.New(scope.In("mlp_in"), norm.Layer(scope.In("norm_2"), x).Done(), 2*d).Done())
	return graph.Add(x, linear.New(scope.In("mlp_out"), hMLP, d).Done())
}

// coreTokens selects a tile's core of cq×cw tokens from the tokens of its sh×sw span: idx
// [cq·cw] (int32) holds the core's token indices in the span, row-major ((r+i)·sw + c+j for
// a core at row r, column c), an input so that one graph serves every tile. It gathers rather
// than slices dynamically: the pure-Go backend has Gather and no DynamicSlice. nil selects
// every token.
type coreTokens struct {
	sh, sw, cq, cw int
	idx            *graph.Node
}

// of returns the core's tokens of x [B, sh·sw, D]: [B, cq·cw, D]; x itself for nil.
func (k *coreTokens) of(x *graph.Node) *graph.Node {
	if k == nil {
		return x
	}
	dims := x.Shape().Dimensions
	return k.gather(x, dims[0], dims[2])
}

// queries returns the core's queries of q [B, H, sh·sw, h]: [B, H, cq·cw, h]; q itself for nil.
func (k *coreTokens) queries(q *graph.Node) *graph.Node {
	if k == nil {
		return q
	}
	dims := q.Shape().Dimensions
	return graph.Reshape(k.gather(q, dims[0]*dims[1], dims[3]), dims[0], dims[1], k.cq*k.cw, dims[3])
}

// gather returns the core's rows of x [m, sh·sw, d] (any shape of that size): [m, cq·cw, d].
func (k *coreTokens) gather(x *graph.Node, m, d int) *graph.Node {
	n, nc := k.sh*k.sw, k.cq*k.cw
	rows := graph.MulScalar(graph.Iota(x.Graph(), shapes.Make(k.idx.DType(), m, nc), 0), float64(n))
	flat := graph.Add(rows, graph.Reshape(k.idx, 1, nc)) // [m, nc]: indices into the m·n rows
	out := graph.Gather(graph.Reshape(x, m*n, d), graph.Reshape(flat, m*nc, 1), true)
	return graph.Reshape(out, m, nc, d)
}

// selfAttention is global multi-head self-attention over the tokens of x [B, n, D], with one
// fused projection to queries, keys and values: per head, softmax(q·kᵀ/√h)·v, as
// layers/attention computes it without masks (the tests check the two agree). It is laid out for
// the matrix products of the backends rather than built on layers/attention, whose [B, n, H, h]
// layout makes the pure-Go backend transpose the [B, H, n, n] attention weights or their
// gradient in each of its products but one: that backend's kernels need the left operand's
// contracted axis last, so every product is written here with heads before tokens, and the
// output is computed transposed, oᵀ = vᵀ·pᵀ [B, H, h, n], whose gradients then contract the
// weights p along axes that need no transpose; vᵀ and the way back from oᵀ to tokens go through
// swapLastAxes. Only the keys' gradient, dsᵀ·q, still transposes the scores' gradient
// ds [B, H, n, n] (inside the backend). With a core (tiles' [EncodeCore] and [DecodeCore]),
// only the core's nq tokens query, over all n keys: the output is [B, nq, D].
func selfAttention(scope *model.Scope, x *graph.Node, heads int, core *coreTokens) *graph.Node {
	dims := x.Shape().Dimensions
	b, n, d := dims[0], dims[1], dims[2]
	dh := d / heads
	qkv := graph.Reshape(linear.New(scope.In("qkv"), x, 3*d).Done(), b, n, 3, heads, dh)
	qkv = graph.TransposeAllAxes(qkv, 2, 0, 3, 1, 4) // [3, B, H, n, h]
	part := func(i int) *graph.Node {
		return graph.Reshape(graph.Slice(qkv, graph.AxisRange(i, i+1)), b, heads, n, dh)
	}
	q, k := core.queries(part(0)), part(1) // q [B, H, nq, h]: nq = n, or the core's tokens
	nq := q.Shape().Dimensions[2]
	vT := swapLastAxes(part(2)) // [B, H, h, n]
	// scores [B, H, nq, n] = q·kᵀ/√h; oT [B, H, h, nq] = vᵀ·pᵀ.
	scores := graph.MulScalar(graph.DotGeneral(q, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1}), 1/math.Sqrt(float64(dh)))
	oT := graph.DotGeneral(vT, []int{3}, []int{0, 1}, graph.Softmax(scores, -1), []int{3}, []int{0, 1})
	out := swapLastAxes(graph.Reshape(oT, b, d, nq)) // [B, nq, D]
	return linear.New(scope.In("out"), out, d).Done()
}

// swapLastAxes transposes the last two axes of x [..., a, b] to [..., b, a] as a 2-D transpose
// of [N·a, b] followed by one that keeps the last axis: two permutations the pure-Go backend
// has fast kernels for, where it moves the elements of any other one by one.
func swapLastAxes(x *graph.Node) *graph.Node {
	dims := x.Shape().Dimensions
	r := len(dims)
	a, b := dims[r-2], dims[r-1]
	n := x.Shape().Size() / (a * b)
	t := graph.TransposeAllAxes(graph.Reshape(x, n*a, b), 1, 0)    // [b, N·a]
	t = graph.TransposeAllAxes(graph.Reshape(t, b, n, a), 1, 0, 2) // [N, b, a]
	return graph.Reshape(t, append(append([]int(nil), dims[:r-2]...), b, a)...)
}

// gelu is x·Φ(x) with the exact normal CDF (Hendrycks & Gimpel 2016).
func gelu(x *graph.Node) *graph.Node { return graph.Mul(x, normalCDF(x)) }

// maxScalar is max(x, v) elementwise.
func maxScalar(x *graph.Node, v float64) *graph.Node { return graph.Max(x, scalarLike(x, v)) }

// scalarLike is the scalar v in x's graph and dtype.
func scalarLike(x *graph.Node, v float64) *graph.Node { return graph.Scalar(x.Graph(), x.DType(), v) }

// softplusNode is log(1 + eˣ) = max(x, 0) + log1p(e^−|x|), stable, from ops every backend has
// (GoMLX's Softplus needs IsFinite, which ONNX Runtime lacks).
func softplusNode(x *graph.Node) *graph.Node {
	return graph.Add(maxScalar(x, 0), graph.Log1p(graph.Exp(graph.Neg(graph.Abs(x)))))
}
