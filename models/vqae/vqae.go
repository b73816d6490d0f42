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
// An image costs 49 times the bits per latent vector that the quantizer reports (Output.Bits;
// 49 · Stages · log2 K for the fixed-rate quantizers of layers/vq).
package vqae

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/layers/conv"
	"github.com/qzoo/qzoo/layers/vq"
	"github.com/qzoo/qzoo/metrics"
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

// Scalars are the statistics Build may log: the batch's reconstruction error "mse" and the
// quantizer's code usage, vq.StatCodePerplexity and vq.StatUsedCodes. Build returns mse and
// those of the others that the quantizer reports.
var Scalars = []string{"mse", vq.StatCodePerplexity, vq.StatUsedCodes}

func init() {
	framework.Register(&framework.Model{
		Name:    "vqae",
		Doc:     "convolutional VQ autoencoder for 28×28 images with a swappable quantizer (vq_type)",
		Dataset: "fashion-mnist",
		Params:  hparams.Merge(Params, vq.Params()),
		Build:   Build,
		Scalars: Scalars,
		Init:    Init,
		NewEvaluator: func(params map[string]any) (framework.Evaluator, error) {
			ev, err := NewEvaluator(params)
			if err != nil {
				return nil, err
			}
			return ev, nil
		},
		Validate: func(params map[string]any) error { return vq.Validate(params, "") },
	})
}

// Encode maps images [B, 28, 28, 1] to latents [B, 7, 7, D].
func Encode(scope *model.Scope, images *graph.Node) *graph.Node {
	c := hparams.Get[int](scope, Params, ParamChannels)
	d := hparams.Get[int](scope, Params, ParamLatentDim)
	batch := images.Shape().Dimensions[0]
	images.AssertDims(batch, 28, 28, 1)
	scope = scope.In("encoder")
	x := relu(conv.New(scope.In("conv_0"), images, c).KernelSize(4).Stride(2).Padding(1).Done())
	x = relu(conv.New(scope.In("conv_1"), x, 2*c).KernelSize(4).Stride(2).Padding(1).Done())
	z := conv.New(scope.In("conv_2"), x, d).KernelSize(3).Padding(1).Done()
	z.AssertDims(batch, 7, 7, d)
	return z
}

// relu is max(x, 0) with the gradient 1 where x ≥ 0, as GoMLX's activation.Relu, computed as
// x·m with the mask m = [x ≥ 0] (no gradient): its gradient is then the one product v·m, where
// activation.Relu's (through Max) takes five element-wise passes, two Signs among them. The
// values are activation.Relu's, zeros aside (x·0 is −0 for x < 0, which no sum or product
// downstream tells from +0).
func relu(x *graph.Node) *graph.Node {
	mask := graph.StopGradient(graph.ConvertDType(graph.GreaterOrEqual(x, graph.ZerosLike(x)), x.DType()))
	return graph.Mul(x, mask)
}

// Decode maps quantized latents [B, 7, 7, D] back to images [B, 28, 28, 1].
func Decode(scope *model.Scope, q *graph.Node) *graph.Node {
	c := hparams.Get[int](scope, Params, ParamChannels)
	scope = scope.In("decoder")
	x := relu(conv.New(scope.In("conv_0"), q, 2*c).KernelSize(3).Padding(1).Done())
	x = relu(conv.Transpose(scope.In("convt_1"), x, c).KernelSize(4).Stride(2).Padding(1).Done())
	return conv.Transpose(scope.In("convt_2"), x, 1).KernelSize(4).Stride(2).Padding(1).Done()
}

// Build is the model function. Its predictions are the reconstruction [B, 28, 28, 1], the codes
// [B, 7, 7, S] (S the quantizer's number of stages) and the bits of each image [B] (49 times
// the quantizer's reported bits per latent vector); its scalars are "mse" and the code usage
// statistics the quantizer reports (see [Scalars]), none made up for one that does not.
func Build(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
	images := inputs[0]
	batch := images.Shape().Dimensions[0]
	z := Encode(scope, images)
	qScope := scope.In("quantizer")
	out := vq.New(qScope, "").Quantize(qScope, z)
	recon := Decode(scope, out.Quantized)
	mse := graph.ReduceAllMean(graph.Square(graph.Sub(recon, images)))
	train.AddLoss(mse)
	train.AddLoss(out.Loss)
	scalars := map[string]*graph.Node{"mse": mse}
	for _, name := range Scalars[1:] {
		if s, ok := out.Stats[name]; ok {
			scalars[name] = s
		}
	}
	codes := graph.Stack(out.Codes.Stages, -1)
	bitsPerImage := graph.BroadcastToDims(graph.MulScalar(out.Bits, LatentsPerImage), batch)
	return framework.Outputs{Predictions: []*graph.Node{recon, codes, bitsPerImage}, Scalars: scalars}
}

// Init initialises data-dependent quantizers (e.g. EMA VQ's k-means) from the first batch.
func Init(scope *model.Scope, inputs []*graph.Node) {
	qScope := scope.In("quantizer")
	if init, ok := vq.New(qScope, "").(vq.DataInitializer); ok {
		init.InitFromLatents(qScope, Encode(scope, inputs[0]))
	}
}

// NewEvaluator measures reconstruction quality, code usage and the bits per image over a whole
// evaluation set. The quantizer's K and number of stages come from the hyperparameters (FSQ's
// grid may differ from vq_codebook_size), the rate from the predictions. The error is
// vq.FromParams' when params configure no quantizer (which the model's Validate refuses first).
func NewEvaluator(params map[string]any) (*metrics.VQEvaluator, error) {
	q, err := vq.FromParams(params, "")
	if err != nil {
		return nil, fmt.Errorf("vqae: evaluator: %w", err)
	}
	return metrics.NewVQEvaluator(q.CodebookSize(), q.Stages()), nil
}
