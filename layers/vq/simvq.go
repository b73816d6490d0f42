package vq

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/quant/scheme"
)

// ParamSimVQBias adds the bias b of SimVQ's linear layer, C = E·Wᵀ + b. Default true (bool),
// as the reference implementation's nn.Linear.
const ParamSimVQBias = "vq_simvq_bias"

func init() {
	RegisterParams(hparams.List{
		{Key: ParamSimVQBias, Default: true, Doc: "simvq: add the bias b to the codebook projection C = E·Wᵀ + b"},
	})
	Register("simvq", func() Options { return &SimVQOptions{} })
}

// SimVQOptions configures a [SimVQ]; each field mirrors the hyperparameter of its tag.
type SimVQOptions struct {
	// CodebookSize is K ≥ 2.
	CodebookSize int `vq:"vq_codebook_size"`
	// Beta is β ≥ 0, the weight of the commitment term.
	Beta float64 `vq:"vq_beta"`
	// Bias adds the bias b to the codebook projection.
	Bias bool `vq:"vq_simvq_bias"`
}

// New implements Options.
func (o SimVQOptions) New() (Quantizer, error) { return asQuantizer(NewSimVQ(o)) }

// SimVQ is the vector quantizer of Zhu et al. (2024), "Addressing Representation Collapse in
// Vector Quantized Models with One Linear Layer" (arXiv:2411.02038), registered as "simvq".
//
// The codebook is reparameterised by a linear layer over a frozen random basis:
//
//	E [K, D] ~ N(0, 1/D), not trained;   C = E·Wᵀ + b,  W [D, D] and b [D] trained;
//
// and then quantization and loss are exactly those of [VQ] on C:
//
//	k = argmin_j ‖z − c_j‖²,  q = c_k,  output z + sg(q − z),
//	Loss = ‖sg(z) − q‖² + β‖z − sg(q)‖².
//
// The codebook term's gradient reaches W, and every code c_j = W·e_j + b moves when W does:
// the whole codebook follows the latents, not only the selected codes, which is how SimVQ
// avoids the collapse of plain VQ. W and b start like PyTorch's default nn.Linear,
// uniform(−1/√D, 1/√D), as in the paper's reference code. (That code, through taming's
// "legacy" flag, weighs the two loss terms the other way round, β on the codebook term; here
// they are weighed as in the VQ-VAE paper, as for [VQ].)
//
// Variables in the quantizer's scope: "basis" (E, Trainable=false), "weights" (W, [out, in])
// and "bias" (b, when [ParamSimVQBias]).
type SimVQ struct {
	k       int
	beta    float64
	useBias bool
}

// NewSimVQ returns the SimVQ that o describes, or a [*KeyError] naming the hyperparameter of a
// value outside its domain.
func NewSimVQ(o SimVQOptions) (*SimVQ, error) {
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	return &SimVQ{k: o.CodebookSize, beta: o.Beta, useBias: o.Bias}, nil
}

// Quantize implements Quantizer.
func (s *SimVQ) Quantize(scope *model.Scope, z *graph.Node) Output {
	flat, leading := flattenLatents(z)
	d := flat.Shape().Dimensions[1]
	g, dtype := z.Graph(), z.DType()
	basis := variable(scope, "basis", shapes.Make(dtype, s.k, d), normalInitializer(scope, 1/math.Sqrt(float64(d))))
	basis.Trainable = false
	variable(scope, "weights", shapes.Make(dtype, d, d), linearInitializer(scope, d))
	if s.useBias {
		variable(scope, "bias", shapes.Make(dtype, d), linearInitializer(scope, d))
	}
	return quantizeWithCodebook(flat, leading, s.Codebook(scope, g), s.beta)
}

// Codebook returns the effective codebook C = E·Wᵀ + b [K, D] of the variables that Quantize
// created under scope.
func (s *SimVQ) Codebook(scope *model.Scope, g *graph.Graph) *graph.Node {
	basis := existingVariable(scope, s.Name(), "basis").NodeValue(g)
	weights := existingVariable(scope, s.Name(), "weights").NodeValue(g)
	codebook := graph.Einsum("ki,oi->ko", basis, weights)
	if s.useBias {
		bias := existingVariable(scope, s.Name(), "bias").NodeValue(g)
		codebook = graph.Add(codebook, graph.InsertAxes(bias, 0))
	}
	return codebook
}

// Decode implements Decoder: the rows of the effective codebook.
func (s *SimVQ) Decode(scope *model.Scope, codes Codes) *graph.Node {
	checkCodes(codes, 1)
	codebook := s.Codebook(scope, codes.Stages[0].Graph())
	return graph.Gather(codebook, graph.InsertAxes(codes.Stages[0], -1))
}

// CodebookSize implements Quantizer.
func (s *SimVQ) CodebookSize() int { return s.k }

// Stages implements Quantizer.
func (s *SimVQ) Stages() int { return 1 }

// Name implements Quantizer.
func (s *SimVQ) Name() string { return fmt.Sprintf("simvq(K=%d)", s.k) }

// Scheme implements Quantizer: a learned codebook of K vectors (C = Z·Wᵀ + b), log₂ K bits.
func (s *SimVQ) Scheme() scheme.Scheme { return codebookScheme("simvq", s.k) }
