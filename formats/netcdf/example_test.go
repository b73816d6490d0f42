package netcdf_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/qzoo/qzoo/formats/netcdf"
)

// Write a small packed field to netCDF-3 and read it back in physical units.
func ExampleRead() {
	dir, err := os.MkdirTemp("", "netcdf-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	fill := -32767.0
	f := &netcdf.File{
		Time: netcdf.Coord{Name: "time", Type: "int32", Values: []float64{1044552, 1044553, 1044554, 1044555},
			Attrs: []netcdf.Attr{{Name: "units", Value: "hours since 1900-01-01"}}},
		Lat: netcdf.Coord{Name: "latitude", Type: "float32", Values: []float64{60, 0}},
		Lon: netcdf.Coord{Name: "longitude", Type: "float32", Values: []float64{-1, 0, 1}},
		Vars: []*netcdf.Variable{{
			Name: "t2m", Dims: []string{"time", "latitude", "longitude"}, Shape: []int{4, 2, 3},
			Attrs:   []netcdf.Attr{{Name: "units", Value: "K"}},
			Data:    []float32{270, 271, 272, 300, 301, 302, 270, 271, 272, 300, 301, 302, 269, 270, 271, 299, 300, 301, 268, 269, 270, 298, 299, 300},
			Packing: &netcdf.Packing{Type: "int16", ScaleFactor: 0.01, AddOffset: 285, FillValue: &fill},
		}},
	}
	path := filepath.Join(dir, "t2m.nc")
	if err := netcdf.Write(path, f); err != nil {
		fmt.Println(err)
		return
	}
	g, err := netcdf.Read(path, netcdf.ReadOptions{}) // In a child process: a damaged file cannot crash this one.
	if err != nil {
		fmt.Println(err)
		return
	}
	t2m, _ := g.Variable("t2m")
	fmt.Println(g.Format, t2m.Dims, t2m.Shape, t2m.Units(), t2m.Packing.ScaleFactor)
	fmt.Printf("first hour: %.2f\n", t2m.Data[:6])
	fmt.Printf("last hour: %.2f\n", t2m.Data[18:])
	// Output:
	// netCDF-3 [time latitude longitude] [4 2 3] K 0.01
	// first hour: [270.00 271.00 272.00 300.00 301.00 302.00]
	// last hour: [268.00 269.00 270.00 298.00 299.00 300.00]
}

// Read returns a field with missing values (sea-surface temperature over land, say) as NaN,
// counted in Missing; Complete refuses it for consumers that need complete fields.
func ExampleFile_Complete() {
	f := netcdf.Synthetic(2, 0, 2, 2, "sst")
	f.Vars[0].Data[3], f.Vars[0].Missing = float32(math.NaN()), 1
	fmt.Println(f.Complete())
	// Output: netcdf: read synthetic: variable sst: 1 missing values (first at time 0, latitude 1, longitude 1)
}

// Write a file hour by hour with Create: memory holds one hour, however long the file; read
// two of its hours back.
func ExampleCreate() {
	dir, err := os.MkdirTemp("", "netcdf-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	f := netcdf.Synthetic(3, 0, 2, 2, "t2m") // The metadata: 3 hours of a 2×2 grid; Data is ignored.
	path := filepath.Join(dir, "t2m.nc")
	w, err := netcdf.Create(path, f)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Abort() // Removes the temporary file unless Close succeeded.
	for hour := range 3 {
		if err := w.WriteHours([][]float32{{float32(hour), 1, 2, 3}}); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
		return
	}
	g, err := netcdf.Read(path, netcdf.ReadOptions{TimeStart: 1, TimeCount: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.TimeStart, g.TimeTotal, g.Vars[0].Shape, g.Vars[0].Data)
	// Output: 1 3 [2 2 2] [1 1 2 3 2 1 2 3]
}
