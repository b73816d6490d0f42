package conv_test

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/conv"
)

// A Fashion-MNIST-sized convolutional autoencoder: two Conv2d(k=4, s=2, p=1) halve the image twice,
// two ConvTranspose2d(k=4, s=2, p=1) double it back.
func Example() {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		fmt.Println(err)
		return
	}
	exec, err := model.NewExec(backend, model.NewStore(), func(scope *model.Scope, images *graph.Node) []*graph.Node {
		h := activation.Relu(conv.New(scope.In("enc1"), images, 32).KernelSize(4).Stride(2).Padding(1).Done())
		z := conv.New(scope.In("enc2"), h, 64).KernelSize(4).Stride(2).Padding(1).Done()
		h = activation.Relu(conv.Transpose(scope.In("dec1"), z, 32).KernelSize(4).Stride(2).Padding(1).Done())
		h = conv.Transpose(scope.In("dec2"), h, 32).KernelSize(4).Stride(2).Padding(1).Done()
		out := conv.New(scope.In("out"), h, 1).KernelSize(3).Padding(1).Done()
		return []*graph.Node{z, out}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	outputs, err := exec.Call(tensors.FromShape(shapes.Make(dtypes.Float32, 2, 28, 28, 1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("latents:       ", outputs[0].Shape().Dimensions)
	fmt.Println("reconstruction:", outputs[1].Shape().Dimensions)
	// Output:
	// latents:        [2 7 7 64]
	// reconstruction: [2 28 28 1]
}

// SpaceToDepth folds each 2×2 block into channels; DepthToSpace unfolds it.
func ExampleSpaceToDepth() {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		fmt.Println(err)
		return
	}
	// One 4×4 single-channel image holding 0..15.
	x := tensors.FromFlatDataAndDimensions([]float32{
		0, 1, 2, 3,
		4, 5, 6, 7,
		8, 9, 10, 11,
		12, 13, 14, 15,
	}, 1, 4, 4, 1)
	y, err := graph.CallOnce(backend, func(x *graph.Node) *graph.Node { return conv.SpaceToDepth(x, 2) }, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(y.Shape().Dimensions)
	fmt.Println(y.Value())
	// Output:
	// [1 2 2 4]
	// [[[[0 1 4 5] [2 3 6 7]] [[8 9 12 13] [10 11 14 15]]]]
}
