package vq

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/hparams"
)

// ParamBeta is β, the weight of the commitment term of the VQ-VAE loss, used by "vq" and
// "simvq". Default 0.25 (float64), the value of van den Oord et al. (2017).
const ParamBeta = "vq_beta"

func init() {
	RegisterParams(hparams.List{
		{Key: ParamBeta, Default: 0.25, Doc: "β, the weight of the commitment term ‖z − sg(q)‖² of vq and simvq"},
	})
	Register("vq", func(scope *model.Scope) Quantizer {
		return NewVQ(scopeParam[int](scope, ParamCodebookSize), scopeParam[float64](scope, ParamBeta))
	})
}

// VQ is the vector quantizer of the VQ-VAE (van den Oord, Vinyals and Kavukcuoglu 2017,
// "Neural Discrete Representation Learning", arXiv:1711.00937), registered as "vq".
//
// A trainable codebook C [K, D] holds the codes; each latent z is replaced by its nearest code
//
//	k = argmin_j ‖z − c_j‖²,  q = c_k,
//
// the output is z + sg(q − z) (straight-through: the decoder's gradient is copied to the
// encoder), and the auxiliary loss (eq. 3 of the paper, means over elements) is
//
//	Loss = ‖sg(z) − q‖² + β‖z − sg(q)‖²,
//
// whose first term trains the codebook and second keeps the encoder committed to its codes.
// Only the selected codes receive a gradient: unused ones never move, the "codebook collapse"
// that SimVQ and EMA VQ address.
//
// The codebook starts uniform(−1/K, 1/K), as in the widely used PyTorch reference
// implementations of the paper: small codes near the origin, so that the first latents pull them
// out. The variable is "codebook" in the quantizer's scope.
type VQ struct {
	k    int
	beta float64
}

// NewVQ returns a VQ with k codes and commitment weight beta; it panics naming the
// hyperparameter when a value is invalid.
func NewVQ(k int, beta float64) *VQ {
	if k < 1 {
		exceptions.Panicf("vq: %s=%d, it must be at least 1", ParamCodebookSize, k)
	}
	if beta < 0 {
		exceptions.Panicf("vq: %s=%g, it must be non-negative", ParamBeta, beta)
	}
	return &VQ{k: k, beta: beta}
}

// Quantize implements Quantizer.
func (v *VQ) Quantize(scope *model.Scope, z *graph.Node) Output {
	flat, leading := flattenLatents(z)
	d := flat.Shape().Dimensions[1]
	init := uniformInitializer(scope, 1/float64(v.k))
	codebook := variable(scope, "codebook", shapes.Make(z.DType(), v.k, d), init).NodeValue(z.Graph())
	return quantizeWithCodebook(flat, leading, codebook, v.beta)
}

// Codebook returns the codebook C [K, D] that Quantize created under scope.
func (v *VQ) Codebook(scope *model.Scope, g *graph.Graph) *graph.Node {
	return existingVariable(scope, v.Name(), "codebook").NodeValue(g)
}

// quantizeWithCodebook is the nearest-neighbour quantization shared by VQ and SimVQ: flat [N, D]
// are the latents, codebook [K, D] the (effective) codebook.
func quantizeWithCodebook(flat *graph.Node, leading []int, codebook *graph.Node, beta float64) Output {
	k := codebook.Shape().Dimensions[0]
	idx := nearestCodes(flat, codebook)
	q := graph.Gather(codebook, graph.InsertAxes(idx, -1)) // [N, D], differentiable w.r.t. the codebook
	loss := codebookLosses(flat, q, beta)
	out := straightThrough(flat, q)
	codes := unflattenCodes(idx, leading)
	return Output{
		Quantized:  graph.Reshape(out, append(append([]int{}, leading...), flat.Shape().Dimensions[1])...),
		Codes:      codes,
		StageCodes: []*graph.Node{codes},
		Loss:       loss,
		Stats:      codeUsageStats(idx, k),
	}
}

// Decode implements Decoder: the rows of the codebook.
func (v *VQ) Decode(scope *model.Scope, stageCodes []*graph.Node) *graph.Node {
	checkCodesShape(stageCodes, 1)
	codebook := v.Codebook(scope, stageCodes[0].Graph())
	return graph.Gather(codebook, graph.InsertAxes(stageCodes[0], -1))
}

// CodebookSize implements Quantizer.
func (v *VQ) CodebookSize() int { return v.k }

// Stages implements Quantizer.
func (v *VQ) Stages() int { return 1 }

// Name implements Quantizer.
func (v *VQ) Name() string { return fmt.Sprintf("vq(K=%d)", v.k) }
