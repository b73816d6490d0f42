package vq

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/quant/scheme"
)

// ParamBeta is β ≥ 0, the weight of the commitment term of the VQ-VAE loss, used by "vq",
// "simvq" and "ema_vq". Default 0.25 (float64), the value of van den Oord et al. (2017).
const ParamBeta = "vq_beta"

func init() {
	RegisterParams(hparams.List{
		{Key: ParamBeta, Default: 0.25, Doc: "β, the weight of the commitment term ‖z − sg(q)‖² of vq, simvq and ema_vq",
			Domain: hparams.AtLeast(0)},
	})
	Register("vq", func() Options { return &VQOptions{} })
}

// VQOptions configures a [VQ]; each field mirrors the hyperparameter of its tag.
type VQOptions struct {
	// CodebookSize is K ≥ 2.
	CodebookSize int `vq:"vq_codebook_size"`
	// Beta is β ≥ 0, the weight of the commitment term.
	Beta float64 `vq:"vq_beta"`
}

// New implements Options.
func (o VQOptions) New() (Quantizer, error) { return asQuantizer(NewVQ(o)) }

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

// NewVQ returns the VQ that o describes, or a [*KeyError] naming the hyperparameter of a value
// outside its domain.
func NewVQ(o VQOptions) (*VQ, error) {
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	return &VQ{k: o.CodebookSize, beta: o.Beta}, nil
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
	codes, index, bits := singleStage(unflattenCodes(idx, leading), k, flat.DType())
	return Output{
		Quantized: graph.Reshape(out, append(append([]int{}, leading...), flat.Shape().Dimensions[1])...),
		Codes:     codes,
		Index:     index,
		Bits:      bits,
		Loss:      loss,
		Stats:     codeUsageStats(idx, k),
	}
}

// Decode implements Decoder: the rows of the codebook.
func (v *VQ) Decode(scope *model.Scope, codes Codes) *graph.Node {
	checkCodes(codes, 1)
	codebook := v.Codebook(scope, codes.Stages[0].Graph())
	return graph.Gather(codebook, graph.InsertAxes(codes.Stages[0], -1))
}

// CodebookSize implements Quantizer.
func (v *VQ) CodebookSize() int { return v.k }

// Stages implements Quantizer.
func (v *VQ) Stages() int { return 1 }

// Name implements Quantizer.
func (v *VQ) Name() string { return fmt.Sprintf("vq(K=%d)", v.k) }

// Scheme implements Quantizer: a learned codebook of K vectors, log₂ K bits.
func (v *VQ) Scheme() scheme.Scheme { return codebookScheme("vq", v.k) }
