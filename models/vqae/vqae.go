// Package vqae is a convolutional vector-quantised autoencoder for 28×28 grey images
// (Fashion-MNIST) with a swappable quantizer: the test bed of the zoo's quantizers.
//
// Architecture (NHWC; every conv has PyTorch semantics, so the PyTorch peer of the benchmark
// is the same network):
//
//	encoder: Conv(1→C, k4 s2 p1) ReLU → Conv(C→2C, k4 s2 p1) ReLU → Conv(2C→D, k3 p1)   28² → 7²·D
//	quantizer: any of layers/vq, chosen by vq_type, one code per 7×7 position
//	decoder: Conv(D→2C, k3 p1) ReLU → ConvT(2C→C, k4 s2 p1) ReLU → ConvT(C→1, k4 s2 p1)  7²·D → 28²
//
// with C = vqae_channels and D = vqae_latent_dim. The loss is the mean squared error of the
// reconstruction, x̂ = decoder(q(encoder(x))), plus the quantizer's auxiliary loss:
//
//	L = ‖x − x̂‖² / N + L_q
//
// An image costs 49 · Stages · log2(K) bits.
package vqae

import (
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/eval/metrics"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/layers/conv"
	"github.com/qzoo/qzoo/layers/vq"
)

// Hyperparameters of the autoencoder (the quantizer's are the vq_* keys of layers/vq).
const (
	// ParamChannels is C, the channels of the first conv (the second has 2C). Default 32 (int).
	ParamChannels = "vqae_channels"
	// ParamLatentDim is D, the dimension of each latent vector before quantization. Default 16 (int).
	ParamLatentDim = "vqae_latent_dim"
)

// Params lists the model's own hyperparameters.
var Params = hparams.List{
	{Key: ParamChannels, Default: 32, Doc: "C: channels of the first conv layer (the second has 2C)"},
	{Key: ParamLatentDim, Default: 16, Doc: "D: dimension of each latent vector fed to the quantizer"},
}

// LatentsPerImage is the number of latent vectors (and codes) per 28×28 image.
const LatentsPerImage = 7 * 7

func init() {
	framework.Register(&framework.Model{
		Name:    "vqae",
		Doc:     "convolutional VQ autoencoder for 28×28 images with a swappable quantizer (vq_type)",
		Dataset: "fashion-mnist",
		Params:  hparams.Merge(Params, vq.Params()),
		Build:   Build,
		Scalars: []string{"mse", "perplexity", "used_codes"},
		Init:    Init,
		NewEvaluator: func(params map[string]any) framework.Evaluator {
			return NewEvaluator(params)
		},
	})
}

// Encode maps images [B, 28, 28, 1] to latents [B, 7, 7, D].
func Encode(scope *model.Scope, images *graph.Node) *graph.Node {
	c := model.GetParamOr(scope, ParamChannels, 32)
	d := model.GetParamOr(scope, ParamLatentDim, 16)
	batch := images.Shape().Dimensions[0]
	images.AssertDims(batch, 28, 28, 1)
	scope = scope.In("encoder")
	x := activation.Relu(conv.New(scope.In("conv_0"), images, c).KernelSize(4).Stride(2).Padding(1).Done())
	x = activation.Relu(conv.New(scope.In("conv_1"), x, 2*c).KernelSize(4).Stride(2).Padding(1).Done())
	z := conv.New(scope.In("conv_2"), x, d).KernelSize(3).Padding(1).Done()
	z.AssertDims(batch, 7, 7, d)
	return z
}

// Decode maps quantized latents [B, 7, 7, D] back to images [B, 28, 28, 1].
func Decode(scope *model.Scope, q *graph.Node) *graph.Node {
	c := model.GetParamOr(scope, ParamChannels, 32)
	scope = scope.In("decoder")
	x := activation.Relu(conv.New(scope.In("conv_0"), q, 2*c).KernelSize(3).Padding(1).Done())
	x = activation.Relu(conv.Transpose(scope.In("convt_1"), x, c).KernelSize(4).Stride(2).Padding(1).Done())
	return conv.Transpose(scope.In("convt_2"), x, 1).KernelSize(4).Stride(2).Padding(1).Done()
}

// Build is the model function: predictions are [reconstruction [B,28,28,1], codes [B,7,7,S]]
// with S the quantizer's number of stages.
func Build(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
	images := inputs[0]
	z := Encode(scope, images)
	qScope := scope.In("quantizer")
	out := vq.New(qScope).Quantize(qScope, z)
	recon := Decode(scope, out.Quantized)
	mse := graph.ReduceAllMean(graph.Square(graph.Sub(recon, images)))
	train.AddLoss(mse)
	train.AddLoss(out.Loss)
	scalars := map[string]*graph.Node{"mse": mse}
	for _, name := range []string{"perplexity", "used_codes"} {
		if s, ok := out.Stats[name]; ok {
			scalars[name] = s
		} else {
			scalars[name] = graph.Scalar(images.Graph(), images.DType(), math.NaN())
		}
	}
	codes := graph.Stack(out.StageCodes, -1)
	return framework.Outputs{Predictions: []*graph.Node{recon, codes}, Scalars: scalars}
}

// Init initialises data-dependent quantizers (e.g. EMA VQ's k-means) from the first batch.
func Init(scope *model.Scope, inputs []*graph.Node) {
	qScope := scope.In("quantizer")
	if init, ok := vq.New(qScope).(vq.DataInitializer); ok {
		init.InitFromLatents(qScope, Encode(scope, inputs[0]))
	}
}

// NewEvaluator measures reconstruction quality and code usage over a whole evaluation set.
func NewEvaluator(params map[string]any) *metrics.VQEvaluator {
	// Quantizers report their true K (FSQ's grid may differ from vq_codebook_size).
	store := model.NewStore()
	store.SetParams(params)
	q := vq.New(store.RootScope().In("quantizer"))
	return metrics.NewVQEvaluator(q.CodebookSize(), q.Stages(), LatentsPerImage)
}
