package era5_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/qzoo/qzoo/datasets/era5"
	"github.com/qzoo/qzoo/metrics"
)

// Write a small packed field to netCDF-3, read it back in physical units, then cut it into
// windows of consecutive hours.
func ExampleRead() {
	dir, err := os.MkdirTemp("", "era5-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	fill := -32767.0
	f := &era5.File{
		Time: era5.Coord{Name: "time", Type: "int32", Values: []float64{1044552, 1044553, 1044554, 1044555},
			Attrs: []era5.Attr{{Name: "units", Value: "hours since 1900-01-01"}}},
		Lat: era5.Coord{Name: "latitude", Type: "float32", Values: []float64{60, 0}},
		Lon: era5.Coord{Name: "longitude", Type: "float32", Values: []float64{-1, 0, 1}},
		Vars: []*era5.Variable{{
			Name: "t2m", Dims: []string{"time", "latitude", "longitude"}, Shape: []int{4, 2, 3},
			Attrs:   []era5.Attr{{Name: "units", Value: "K"}},
			Data:    []float32{270, 271, 272, 300, 301, 302, 270, 271, 272, 300, 301, 302, 269, 270, 271, 299, 300, 301, 268, 269, 270, 298, 299, 300},
			Packing: &era5.Packing{Type: "int16", ScaleFactor: 0.01, AddOffset: 285, FillValue: &fill},
		}},
	}
	path := filepath.Join(dir, "t2m.nc")
	if err := era5.Write(path, f); err != nil {
		fmt.Println(err)
		return
	}
	g, err := era5.Read(path, era5.ReadOptions{}) // In a child process: a damaged file cannot crash this one.
	if err != nil {
		fmt.Println(err)
		return
	}
	t2m, _ := g.Variable("t2m")
	fmt.Println(g.Format, t2m.Dims, t2m.Shape, t2m.Units(), t2m.Packing.ScaleFactor)
	fmt.Printf("first hour: %.2f\n", t2m.Data[:6])
	fmt.Printf("area weights: %.3f\n", metrics.LatCosWeights(g.Lat.Values))

	d, err := era5.NewDataset([]*era5.File{g}, era5.Config{Channels: []string{"t2m"}, Window: 2, TestHours: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	train, _ := d.Windows("train")
	x, _, _ := train.Batch([]int{0})
	fmt.Println("train hours", d.TrainHours, "windows", train.Starts, "batch", x[0].Shape())
	fmt.Printf("train mean %.2f K\n", d.Mean[0])
	// Output:
	// netCDF-3 [time latitude longitude] [4 2 3] K 0.01
	// first hour: [270.00 271.00 272.00 300.00 301.00 302.00]
	// area weights: [0.667 1.333]
	// train hours [0 2] windows [0] batch (Float32)[1, 2, 1, 2, 3]
	// train mean 286.00 K
}
