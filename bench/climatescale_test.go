package main

import (
	"path/filepath"
	"testing"

	"github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/internal/datadir"
)

// TestGlobalField: the synthetic global field holds the UK field at the origin, mirrored at
// its edges (row 33 is UK row 32, column 49 UK column 48, row 66 UK row 0 again), hour by
// hour, and its latitudes run from 90 to −90.
func TestGlobalField(t *testing.T) {
	const globalH, globalW = 721, 1440
	uk := filepath.Join(datadir.Root(), ukRelPath)
	f, err := netcdf.Read(uk, netcdf.ReadOptions{Variables: []string{"t2m"}})
	if err != nil {
		t.Fatal(err)
	}
	h, w := len(f.Lat.Values), len(f.Lon.Values)
	src := f.Vars[0].Data
	field, lat, err := globalField(uk, 2, globalH, globalW)
	if err != nil {
		t.Fatal(err)
	}
	if len(field) != 2*globalH*globalW || lat[0] != 90 || lat[globalH-1] != -90 {
		t.Fatalf("%d values, latitudes %v … %v", len(field), lat[0], lat[globalH-1])
	}
	at := func(tt, i, j int) float32 { return field[(tt*globalH+i)*globalW+j] }
	uk1 := func(tt, i, j int) float32 { return src[(tt*h+i)*w+j] }
	for _, c := range [][5]int{{0, 0, 0, 0, 0}, {1, 5, 7, 5, 7}, {1, h, 3, h - 1, 3}, {0, 4, w, 4, w - 1}, {1, 2 * h, 2 * w, 0, 0}, {0, 2*h + 1, 2*w - 1, 1, 0}} {
		if got, want := at(c[0], c[1], c[2]), uk1(c[0], c[3], c[4]); got != want {
			t.Errorf("hour %d point (%d, %d) = %v, want UK (%d, %d) = %v", c[0], c[1], c[2], got, c[3], c[4], want)
		}
	}
	if _, _, err := globalField(uk, 10000, globalH, globalW); err == nil {
		t.Error("more hours than the file holds accepted")
	}
}
