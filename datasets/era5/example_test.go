package era5_test

import (
	"fmt"

	"github.com/qzoo/qzoo/datasets/era5"
	"github.com/qzoo/qzoo/formats/netcdf"
)

// Cut six hours of a field (as netcdf.Read returns it) into windows of consecutive hours:
// the last two hours are the test split, the first four train.
func ExampleNewDataset() {
	f := netcdf.Synthetic(6, 0, 2, 3, "t2m") // Values 100·hour + latitude index + longitude index/10.
	d, err := era5.NewDataset([]*netcdf.File{f}, era5.Config{Channels: []string{"t2m"}, Window: 2, TestHours: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	train, _ := d.Windows("train")
	x, _, _ := train.Batch([]int{0})
	fmt.Println("train hours", d.TrainHours, "windows", train.Starts, "batch", x[0].Shape())
	fmt.Printf("train mean %.2f %s\n", d.Mean[0], d.Units[0])
	// Output:
	// train hours [0 4] windows [0 1 2] batch (Float32)[1, 2, 1, 2, 3]
	// train mean 150.60 ut2m
}
