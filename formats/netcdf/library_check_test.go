package netcdf

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
)

// TestValuesAgreeWithLibrary reads every variable of every real file (netCDF-3, and
// netCDF-4 stored contiguously, where go-native-netcdf reads correctly) both with this
// package's own value readers (cdfValues, package h5) and with the library, and requires
// the same stored values, element by element.
func TestValuesAgreeWithLibrary(t *testing.T) {
	files, err := filepath.Glob(sharedData + "wam2layers/*.nc")
	if err != nil || len(files) == 0 {
		t.Fatalf("no wam2layers files under %s: %v", sharedData, err)
	}
	files = append(files, ukFile)
	for _, p := range files {
		needFile(t, p)
		f, err := readInProcess(p, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := openReader(p, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		shapes := map[string][]int{f.Time.Name: {f.Hours()}, f.Lat.Name: {len(f.Lat.Values)}, f.Lon.Name: {len(f.Lon.Values)}}
		if f.Level != nil {
			shapes[f.Level.Name] = []int{len(f.Level.Values)}
		}
		for _, v := range f.Vars {
			shapes[v.Name] = v.Shape
		}
		for name, shape := range shapes {
			lib, err := r.g.GetVariable(name)
			if err != nil {
				t.Fatalf("%s: library: %v", name, err)
			}
			var want []float64
			flattenNested(reflect.ValueOf(lib.Values), &want)
			got, _, err := r.raw(name, shape, -1)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s %s: %d values, the library %d", filepath.Base(p), name, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("%s %s: value %d is %v, the library's %v", filepath.Base(p), name, i, got[i], want[i])
				}
			}
		}
		r.close()
	}
}

// flattenNested appends the numbers of nested slices, row-major, to out.
func flattenNested(v reflect.Value, out *[]float64) {
	if v.Kind() == reflect.Slice {
		for i := range v.Len() {
			flattenNested(v.Index(i), out)
		}
		return
	}
	switch {
	case v.CanInt():
		*out = append(*out, float64(v.Int()))
	case v.CanUint():
		*out = append(*out, float64(v.Uint()))
	case v.CanFloat():
		*out = append(*out, v.Float())
	default:
		panic(fmt.Sprintf("element of kind %v", v.Kind()))
	}
}
