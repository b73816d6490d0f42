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

// A 1-D encoder and decoder of the shape speech codecs use (SEANet, EnCodec): a k=7 convolution,
// a k=8 stride-4 downsampling, a depthwise dilated residual convolution and a transposed k=8
// stride-4 upsampling back to the input length, on [batch, time, channels] audio.
func ExampleNew1D() {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		fmt.Println(err)
		return
	}
	exec, err := model.NewExec(backend, model.NewStore(), func(scope *model.Scope, audio *graph.Node) []*graph.Node {
		h := activation.Relu(conv.New1D(scope.In("in"), audio, 16).KernelSize(7).Padding(3).Done())
		z := conv.New1D(scope.In("down"), h, 32).KernelSize(8).Stride(4).Padding(2).Done()
		z = graph.Add(z, conv.New1D(scope.In("res"), activation.Relu(z), 32).KernelSize(3).Dilation(3).Padding(3).Groups(32).Done())
		h = activation.Relu(conv.Transpose1D(scope.In("up"), z, 16).KernelSize(8).Stride(4).Padding(2).Done())
		out := conv.New1D(scope.In("out"), h, 1).KernelSize(7).Padding(3).Done()
		return []*graph.Node{z, out}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	outputs, err := exec.Call(tensors.FromShape(shapes.Make(dtypes.Float32, 2, 320, 1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("latents:       ", outputs[0].Shape().Dimensions)
	fmt.Println("reconstruction:", outputs[1].Shape().Dimensions)
	// Output:
	// latents:        [2 80 32]
	// reconstruction: [2 320 1]
}

// A three-tap moving sum with padding, stride and dilation; the transposed convolution with a
// two-tap kernel of ones and stride 2 repeats every sample.
func ExampleConv1D() {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4, 5}, 1, 5, 1)
	sum3 := tensors.FromFlatDataAndDimensions([]float32{1, 1, 1}, 3, 1, 1)
	ones2 := tensors.FromFlatDataAndDimensions([]float32{1, 1}, 2, 1, 1)
	outputs, err := graph.CallOnceN(backend, func(x, sum3, ones2 *graph.Node) []*graph.Node {
		return []*graph.Node{
			conv.Conv1D(x, sum3, conv.Options1D{Padding: 1}),
			conv.Conv1D(x, sum3, conv.Options1D{Padding: 1, Stride: 2}),
			conv.Conv1D(x, sum3, conv.Options1D{Padding: 2, Dilation: 2}),
			conv.ConvTranspose1D(x, ones2, conv.Options1D{Stride: 2}),
		}
	}, x, sum3, ones2)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, name := range []string{"padding 1:          ", "stride 2:           ", "dilation 2:         ", "transposed stride 2:"} {
		fmt.Println(name, tensors.MustCopyFlatData[float32](outputs[i]))
	}
	// Output:
	// padding 1:           [3 6 9 12 9]
	// stride 2:            [3 9 9]
	// dilation 2:          [4 6 9 6 8]
	// transposed stride 2: [1 1 2 2 3 3 4 4 5 5]
}
