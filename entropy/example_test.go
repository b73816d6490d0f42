package entropy_test

import (
	"fmt"

	"github.com/qzoo/qzoo/entropy"
)

// Each element is coded under its own Gaussian conditional; 9 lies outside −4..4 and
// goes through the escape.
func Example() {
	means := []float64{0, 1.5, -2, 0}
	scales := []float64{1, 0.5, 3, 1}
	symbols := []int{0, 2, -5, 9}
	tables := make([]*entropy.Table, len(symbols))
	for i := range tables {
		t, err := entropy.GaussianTable(means[i], scales[i], -4, 4, 16)
		if err != nil {
			panic(err)
		}
		tables[i] = t
	}
	data, err := entropy.Encode(symbols, tables)
	if err != nil {
		panic(err)
	}
	got, err := entropy.Decode(data, tables)
	fmt.Println(got, err, len(data), "bytes")
	// Output: [0 2 -5 9] <nil> 9 bytes
}
