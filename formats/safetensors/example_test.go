package safetensors_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/qzoo/qzoo/formats/safetensors"
)

// Write a BF16 weight and read it back as float32.
func Example() {
	dir, _ := os.MkdirTemp("", "safetensors")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")
	w, _ := safetensors.FromFloat32("linear.weight", safetensors.BF16, []int{2, 2}, []float32{1, 0.5, -3, 1.001})
	if err := safetensors.Write(path, []safetensors.Tensor{w}, map[string]string{"format": "pt"}); err != nil {
		fmt.Println(err)
		return
	}
	f, err := safetensors.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	info, _ := f.Info("linear.weight")
	values, _ := f.Float32("linear.weight")
	fmt.Println(f.Names(), info.DType, info.Shape, values, f.Metadata)
	// Output: [linear.weight] BF16 [2 2] [1 0.5 -3 1] map[format:pt]
}
