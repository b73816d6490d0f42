package llama

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Linear is y = x·Wᵀ for x [..., in] and the scope's variable "weight" W [out, in].
func Linear(scope *model.Scope, x *graph.Node, out int) *graph.Node {
	in := x.Shape().Dimensions[x.Rank()-1]
	w := scope.VariableWithShape(VarWeight, shapes.Make(dtypes.Float32, out, in)).NodeValue(x.Graph())
	dims := x.Shape().Clone().Dimensions
	flat := graph.Reshape(x, -1, in)
	dims[len(dims)-1] = out
	return graph.Reshape(graph.Einsum("ni,oi->no", flat, w), dims...)
}
