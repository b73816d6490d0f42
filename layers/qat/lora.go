package qat

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Names of the variables that [LoRA] creates in its scope.
const (
	LoRAAVar = "lora_a" // A [rank, in]
	LoRABVar = "lora_b" // B [out, rank]
)

// LoRA returns the update a low-rank adapter (Hu et al. 2021, "LoRA: Low-Rank Adaptation of
// Large Language Models", arXiv:2106.09685) adds to the float32 weight [out, in] of a linear
// layer y = x·Wᵀ:
//
//	ΔW = (alpha/rank)·B·A,  shape [out, in],
//
// with the variables A = [LoRAAVar] [rank, in] and B = [LoRABVar] [out, rank] of scope. The
// adapted layer computes with W + ΔW, W frozen; the sum is also the merged weight to save
// after training.
//
// A starts from N(0, 1/in) (the paper's random Gaussian, §4.1) and B from zeros, so that the
// adapted layer starts equal to the base layer; B's gradient is non-zero from the first step,
// A's once B is. (These are the initialisation and the order of operations of the published
// configs/llm LoRA, QLoRA, QA-LoRA and LQ-LoRA runs.)
//
// LoRA panics if out, in or rank is below 1.
func LoRA(scope *model.Scope, g *graph.Graph, out, in, rank int, alpha float64) *graph.Node {
	if out < 1 || in < 1 || rank < 1 {
		exceptions.Panicf("qat: LoRA out, in and rank must be ≥ 1, got out=%d, in=%d, rank=%d", out, in, rank)
	}
	a := scope.WithInitializer(initializer.RandomNormalFn(scope, 1/math.Sqrt(float64(in)))).
		VariableWithShape(LoRAAVar, shapes.Make(dtypes.Float32, rank, in)).NodeValue(g)
	b := scope.WithInitializer(initializer.Zero).
		VariableWithShape(LoRABVar, shapes.Make(dtypes.Float32, out, rank)).NodeValue(g)
	return graph.MulScalar(graph.MatMul(b, a), alpha/float64(rank))
}
