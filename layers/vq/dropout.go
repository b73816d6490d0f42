package vq

import (
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// StageDropper is implemented by quantizers whose output can be cut after any stage, per latent
// vector: [Residual] stacks and [FSQ] (residual or not). It is what quantizer dropout needs
// (Zeghidour et al. 2021, "SoundStream", §3.3: during training each example keeps a random number
// of stages, so that one model decodes at every bitrate); see [QuantizeKeeping].
type StageDropper interface {
	// QuantizeKeeping is Quantize with only the first keep stages of each latent vector in
	// Output.Quantized; keep is int32 of z's shape without its last axis, values in [0, Stages()]
	// (nil keeps every stage). Codes, Index, Bits, Loss and Stats are Quantize's: every stage
	// still quantizes its residual and trains on it.
	QuantizeKeeping(scope *model.Scope, z, keep *graph.Node) Output
}

// QuantizeKeeping quantizes z [..., D] with q keeping only the first keep[...] stages of each
// latent vector in the output (keep: int32 of shape [...], values in [0, q.Stages()]; a value
// above Stages() keeps every stage), the rest of the Output being Quantize's. A [StageDropper]
// does it itself; for any other single-stage quantizer the output is m·Quantized with m = [keep
// ≥ 1], so that a vector that keeps no stage outputs 0 with no gradient. It panics (a
// graph-building error) for a multi-stage quantizer that is no StageDropper, and when keep's
// shape is not z's without its last axis.
func QuantizeKeeping(q Quantizer, scope *model.Scope, z, keep *graph.Node) Output {
	if keep == nil {
		return q.Quantize(scope, z)
	}
	if d, ok := q.(StageDropper); ok {
		return d.QuantizeKeeping(scope, z, keep)
	}
	if q.Stages() != 1 {
		exceptions.Panicf("vq: %s has %d stages and cannot drop them (no QuantizeKeeping)", q.Name(), q.Stages())
	}
	out := q.Quantize(scope, z)
	out.Quantized = graph.Mul(out.Quantized, keptMask(keep, z, 0))
	return out
}

// keptMask is [stage < keep] as z's dtype, shaped [..., 1] to multiply latents z [..., D]. It
// panics when keep is not an int32 tensor of z's shape without its last axis.
func keptMask(keep, z *graph.Node, stage int) *graph.Node {
	want := z.Shape().Dimensions[:z.Rank()-1]
	if keep.DType() != dtypes.Int32 || !slices.Equal(keep.Shape().Dimensions, want) {
		exceptions.Panicf("vq: keep must be int32 of the latents' shape without the last axis %v, got %s", want, keep.Shape())
	}
	m := graph.GreaterThan(keep, graph.Scalar(keep.Graph(), dtypes.Int32, stage))
	return graph.InsertAxes(graph.ConvertDType(m, z.DType()), -1)
}
