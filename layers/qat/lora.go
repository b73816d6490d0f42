package qat

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Names of the variables that [LoRA] creates in its scope.
const (
	LoRAAVar = "lora_a"
	LoRABVar = "lora_b"
)

// LoRA returns the contribution of a low-rank adapter (Hu et al. 2021, "LoRA: Low-Rank
// Adaptation of Large Language Models", arXiv:2106.09685) to a linear layer y = x·Wᵀ of
// outDim outputs, for inputs x [..., in]:
//
//	ΔY = (alpha/rank)·(x·Aᵀ)·Bᵀ,  shape [..., outDim],
//
// with the variables A = [LoRAAVar] [rank, in] and B = [LoRABVar] [outDim, rank] of scope. The
// adapted layer is x·Wᵀ + LoRA(scope, x, out, rank, alpha) with W frozen; [Merge] folds the
// adapter into W after training.
//
// A starts from U(−1/√in, 1/√in), the Kaiming-uniform (a = √5) initialisation of PyTorch's
// nn.Linear that Hugging Face PEFT uses (the paper draws A from a Gaussian), and B from zeros,
// so that the adapted layer starts equal to the base layer; B's gradient is non-zero from the
// first step, A's once B is.
//
// LoRA panics if x is not a float tensor of rank ≥ 1, or outDim or rank is below 1.
func LoRA(scope *model.Scope, x *graph.Node, outDim, rank int, alpha float64) *graph.Node {
	if x.Rank() < 1 || !x.DType().IsFloat() {
		exceptions.Panicf("qat: LoRA needs float inputs [..., in], got %s", x.Shape())
	}
	if outDim < 1 || rank < 1 {
		exceptions.Panicf("qat: LoRA outDim and rank must be ≥ 1, got outDim=%d, rank=%d", outDim, rank)
	}
	g := x.Graph()
	in := x.Shape().Dim(-1)
	bound := 1 / math.Sqrt(float64(in))
	a := scope.WithInitializer(initializer.RandomUniformFn(scope, -bound, bound)).
		VariableWithShape(LoRAAVar, shapes.Make(x.DType(), rank, in))
	b := scope.WithInitializer(graph.Zeros).VariableWithShape(LoRABVar, shapes.Make(x.DType(), outDim, rank))

	rows := graph.Reshape(x, -1, in)
	down := graph.Einsum("ni,ri->nr", rows, a.NodeValue(g))
	up := graph.MulScalar(graph.Einsum("nr,or->no", down, b.NodeValue(g)), alpha/float64(rank))
	dims := slices.Clone(x.Shape().Dimensions)
	dims[len(dims)-1] = outDim
	return graph.Reshape(up, dims...)
}

// Merge returns W + (alpha/rank)·B·A, the weight [out, in] (row-major, PyTorch's layout) of the
// linear layer that computes what the base weight w plus the [LoRA] adapter with a [rank, in]
// and b [out, rank] compute. The products are accumulated in float64. Merge panics if a slice
// has the wrong length.
func Merge(w []float32, a, b []float32, out, in, rank int, alpha float64) []float32 {
	for _, c := range []struct {
		name      string
		got, want int
	}{{"w", len(w), out * in}, {"a", len(a), rank * in}, {"b", len(b), out * rank}} {
		if c.got != c.want {
			panic(fmt.Sprintf("qat: Merge: len(%s) = %d, want %d (out=%d, in=%d, rank=%d)", c.name, c.got, c.want, out, in, rank))
		}
	}
	scale := alpha / float64(rank)
	merged := make([]float32, len(w))
	for o := range out {
		for i := range in {
			var delta float64
			for r := range rank {
				delta += float64(b[o*rank+r]) * float64(a[r*in+i])
			}
			merged[o*in+i] = float32(float64(w[o*in+i]) + scale*delta)
		}
	}
	return merged
}
