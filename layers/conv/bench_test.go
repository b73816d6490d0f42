package conv_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/conv"
)

// The layers of a Fashion-MNIST convolutional autoencoder at batch 128.
var benchCases = []struct {
	name string
	c    convCase
}{
	{"enc1_conv4s2_28x28x1to32", convCase{kernel: 4, stride: 2, pad: 1, batch: 128, h: 28, w: 28, cin: 1, cout: 32}},
	{"enc2_conv4s2_14x14x32to64", convCase{kernel: 4, stride: 2, pad: 1, batch: 128, h: 14, w: 14, cin: 32, cout: 64}},
	{"mid_conv3s1_14x14x32to32", convCase{kernel: 3, stride: 1, pad: 1, batch: 128, h: 14, w: 14, cin: 32, cout: 32}},
	{"dec1_transpose4s2_7x7x64to32", convCase{transpose: true, kernel: 4, stride: 2, pad: 1, batch: 128, h: 7, w: 7, cin: 64, cout: 32}},
	{"dec2_transpose4s2_14x14x32to1", convCase{transpose: true, kernel: 4, stride: 2, pad: 1, batch: 128, h: 14, w: 14, cin: 32, cout: 1}},
}

// BenchmarkForwardBackward times one forward and backward pass (output, input gradient and weight
// gradient) of each autoencoder layer on every available backend:
//
//	go test ./layers/conv -run '^$' -bench . -benchtime 5x
//	GOEXPERIMENT=simd go test ./layers/conv -run '^$' -bench . -benchtime 5x   (SIMD matmul of the Go backend)
//	go test ./layers/conv -run '^$' -bench . -benchtime 5x
func BenchmarkForwardBackward(b *testing.B) {
	specs, bySpec := testbackend.All(b)
	for _, spec := range specs {
		backend := bySpec[spec]
		backendName, _, _ := strings.Cut(spec, ":")
		for _, bc := range benchCases {
			b.Run(backendName+"/"+bc.name, func(b *testing.B) {
				c := bc.c
				x, k := c.data(1)
				var yDims []int
				if c.transpose {
					yDims = []int{c.batch, conv.TransposeOutputSize(c.h, c.kernel, c.stride, c.pad), conv.TransposeOutputSize(c.w, c.kernel, c.stride, c.pad), c.cout}
				} else {
					yDims = []int{c.batch, conv.OutputSize(c.h, c.kernel, c.stride, c.pad), conv.OutputSize(c.w, c.kernel, c.stride, c.pad), c.cout}
				}
				r := randomArray(rand.New(rand.NewPCG(2, 3)), yDims...)
				exec, err := graph.NewExec(backend, func(in []*graph.Node) []*graph.Node {
					y := c.apply(in[0], in[1])
					return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, in[2])), in[0], in[1])
				})
				if err != nil {
					b.Fatal(err)
				}
				defer exec.Finalize()
				xt, kt, rt := x.tensor(), k.tensor(), r.tensor()
				step := func() {
					out, err := exec.Call(xt, kt, rt)
					if err != nil {
						b.Fatal(err)
					}
					for _, o := range out {
						if err := o.FinalizeAll(); err != nil {
							b.Fatal(err)
						}
					}
				}
				step() // compile outside the timing
				b.ResetTimer()
				for range b.N {
					step()
				}
			})
		}
	}
}
