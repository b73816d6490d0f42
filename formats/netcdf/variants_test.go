package netcdf

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/batchatco/go-native-netcdf/netcdf/api"
	"github.com/batchatco/go-native-netcdf/netcdf/cdf"
	"github.com/batchatco/go-native-netcdf/netcdf/util"
)

// python is Debian's interpreter, with python3-netcdf4 (netCDF-C) and python3-h5py (HDF5)
// installed by scripts/install-deps.sh: the independent writers of the test files.
const python = "/usr/bin/python3"

// writeVariants runs testdata/variants.py with args into a new directory and returns it. A
// missing writer fails the test: the files it writes are what the tests check.
func writeVariants(t testing.TB, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(python, append([]string{"testdata/variants.py"}, append(args, dir)...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testdata/variants.py %v (needs %s with python3-netcdf4 and python3-h5py: scripts/install-deps.sh): %v\n%s",
			args, python, err, out)
	}
	return dir
}

// variantsRoot holds the directories of sharedVariants, removed by TestMain.
var (
	variantsMu   sync.Mutex
	variantsRoot string
	variantsDirs = map[string]string{}
)

// sharedVariants is writeVariants run once per test binary for each args: the tests that
// read the same files share them (they may add files of their own names, not change these).
func sharedVariants(t testing.TB, args ...string) string {
	t.Helper()
	variantsMu.Lock()
	defer variantsMu.Unlock()
	key := strings.Join(args, "\x00")
	if dir, ok := variantsDirs[key]; ok {
		return dir
	}
	if variantsRoot == "" {
		root, err := os.MkdirTemp("", "netcdf-variants-")
		if err != nil {
			t.Fatal(err)
		}
		variantsRoot = root
	}
	dir, err := os.MkdirTemp(variantsRoot, "")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, append([]string{"testdata/variants.py"}, append(args, dir)...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testdata/variants.py %v (needs %s with python3-netcdf4 and python3-h5py: scripts/install-deps.sh): %v\n%s",
			args, python, err, out)
	}
	variantsDirs[key] = dir
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if variantsRoot != "" {
		os.RemoveAll(variantsRoot)
	}
	os.Exit(code)
}

// expectedValues reads what netCDF4-python decoded for variable name of the file path.
func expectedValues(t *testing.T, path, name string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path + "." + name + ".f32")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// sameValues fails unless got and want are equal value by value (NaN matching NaN),
// reporting the first difference and the count.
func sameValues(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	diff, first := 0, -1
	for i := range got {
		g, w := got[i], want[i]
		if g != w && !(g != g && w != w) {
			if diff++; first < 0 {
				first = i
			}
		}
	}
	if diff > 0 {
		t.Errorf("%s: %d of %d values differ; first at %d: %v, want %v", what, diff, len(got), first, got[first], want[first])
	}
}

// TestReadChunked reads ERA5 fields rewritten by netCDF-C in chunked netCDF-4 layouts whose
// chunks split every axis unevenly (partial edge chunks): deflate with shuffle, big-endian,
// big-endian deflated with an unlimited time axis, Fletcher-32 with tiny chunks. Every value
// must equal the original's, as this package reads it and as netCDF4-python reads the copy.
func TestReadChunked(t *testing.T) {
	for _, src := range []string{ukFile, sharedData + "wam2layers/era5_pl__ERA5_2020-01-01_pl_q.nc"} {
		needFile(t, src)
		orig, err := Read(src, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dir := sharedVariants(t, "chunked", src)
		for _, layout := range []string{"deflate_shuffle", "bigendian", "big_deflate_unlimited", "fletcher_tiny"} {
			p := filepath.Join(dir, layout+".nc")
			got, err := Read(p, ReadOptions{})
			if err != nil {
				t.Errorf("%s: %v", layout, err)
				continue
			}
			for i, v := range orig.Vars {
				w := got.Vars[i]
				what := filepath.Base(src) + " as " + layout + ": " + v.Name
				if w.Name != v.Name || !slices.Equal(w.Shape, v.Shape) || !slices.Equal(w.Dims, v.Dims) {
					t.Errorf("%s: %s %v %v, want %v %v", what, w.Name, w.Dims, w.Shape, v.Dims, v.Shape)
					continue
				}
				sameValues(t, what, w.Data, v.Data)
				sameValues(t, what+" (netCDF4-python)", w.Data, expectedValues(t, p, v.Name))
				if *w.Packing != *v.Packing && !(w.Packing.FillValue != nil && *w.Packing.FillValue == *v.Packing.FillValue) {
					t.Errorf("%s: packing %+v, want %+v", what, *w.Packing, *v.Packing)
				}
			}
			for _, c := range [][2]*Coord{{&got.Time, &orig.Time}, {&got.Lat, &orig.Lat}, {&got.Lon, &orig.Lon}} {
				if !slices.Equal(c[0].Values, c[1].Values) {
					t.Errorf("%s: coordinate %s differs", layout, c[0].Name)
				}
			}
		}
	}
}

// TestReadCF reads small files exercising CF decoding, written by netCDF-C as netCDF-4 and
// as netCDF-3 (64-bit data, which has unsigned and 64-bit types), and compares every value
// with what netCDF4-python decodes: every integer type, _Unsigned, valid_range, valid_min
// and valid_max in the packed domain, vector missing_value, float fill values and NaN.
func TestReadCF(t *testing.T) {
	dir := sharedVariants(t, "cf")
	for _, name := range []string{"types_NETCDF4.nc", "types_NETCDF3_64BIT_DATA.nc"} {
		p := filepath.Join(dir, name)
		f, err := Read(p, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Vars) != 12 {
			t.Errorf("%s: read %v, want 12 variables", name, f.VariableNames())
		}
		missing := map[string]int{}
		for _, v := range f.Vars {
			sameValues(t, name+": "+v.Name, v.Data, expectedValues(t, p, v.Name))
			missing[v.Name] = v.Missing
		}
		// sst: 6 land fills, 3 of the second missing value, one above and one below the range;
		// ub: one value below valid_min 5 and two above valid_max 250 (as unsigned).
		if missing["sst"] != 11 || missing["ub"] < 3 || missing["ci"] != 4 || missing["v_i2"] != 0 {
			t.Errorf("%s: missing values %v, want sst 11, ub ≥ 3, ci 4, v_i2 0", name, missing)
		}
		if err := f.Complete(); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: Complete returned %v, want an error naming the file", name, err)
		}
		ub, _ := f.Variable("ub")
		if ub.Packing == nil || ub.Packing.Type != "uint8" {
			t.Errorf("%s: ub packing %+v, want uint8 (_Unsigned)", name, ub.Packing)
		}
		// Written back (as netCDF-3, the variables of other types than short as floats) and
		// read again, the values and missing values stay.
		out := filepath.Join(dir, "back_"+name)
		if err := Write(out, f); err != nil {
			t.Fatal(err)
		}
		back, err := Read(out, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range back.Vars {
			want := f.Vars[i].Data
			if v.Packing != nil && v.Packing.Type == "int16" && f.Vars[i].Packing.ScaleFactor != 1 {
				continue // re-packed: equal within half a step, checked by TestWriteRoundTrip
			}
			sameValues(t, "written back: "+v.Name, v.Data, want)
		}
	}
}

// TestReadDataStoreLayout reads the current Copernicus data store's layout: an int64
// valid_time in seconds, a scalar number and an expver string variable (and a variable whose
// chunks were partly never written, missing there); a variable with a
// number dimension of size 1 is read as a field, one with an expver dimension of size 2 is
// refused naming the variable and the dimension.
func TestReadDataStoreLayout(t *testing.T) {
	dir := sharedVariants(t, "cf")
	p := filepath.Join(dir, "cds.nc")
	f, err := Read(p, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.Variable("t2m")
	if err != nil {
		t.Fatal(err)
	}
	if f.Time.Name != "valid_time" || f.Time.Type != "int64" || f.Time.Values[1] != 1_700_003_600 || !slices.Equal(f.VariableNames(), []string{"t2m", "sparse"}) {
		t.Errorf("time %s %s %v, variables %v", f.Time.Name, f.Time.Type, f.Time.Values, f.VariableNames())
	}
	sameValues(t, "cds t2m", v.Data, expectedValues(t, p, "t2m"))
	// A variable whose chunks after the first hour were never written: missing there.
	sparse, _ := f.Variable("sparse")
	sameValues(t, "cds sparse", sparse.Data, expectedValues(t, p, "sparse"))
	if sparse.Missing != 2*4*5 {
		t.Errorf("sparse: %d missing values, want the 40 of the hours never written", sparse.Missing)
	}
	// Written back as netCDF-3, the int64 time becomes a double, exactly.
	out := filepath.Join(dir, "cds3.nc")
	if err := Write(out, f); err != nil {
		t.Fatal(err)
	}
	back, err := Read(out, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Time.Values, f.Time.Values) || back.Time.Type != "float64" {
		t.Errorf("written back: time %s %v, want float64 %v", back.Time.Type, back.Time.Values, f.Time.Values)
	}

	p = filepath.Join(dir, "cds_dims.nc")
	f, err = Read(p, ReadOptions{Variables: []string{"ens"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Vars[0]; !slices.Equal(v.Dims, []string{"valid_time", "latitude", "longitude"}) || !slices.Equal(v.Shape, []int{3, 4, 5}) {
		t.Errorf("ens: dims %v shape %v, want the number dimension dropped", v.Dims, v.Shape)
	}
	sameValues(t, "cds ens", f.Vars[0].Data, expectedValues(t, p, "ens"))
	_, err = Read(p, ReadOptions{Variables: []string{"mixed"}})
	wantError(t, err, ErrNotField, p, "variable mixed has dimension expver of size 2")
	_, err = Read(p, ReadOptions{})
	wantError(t, err, ErrNotField, p, "variable mixed has dimension expver of size 2")
}

// TestReadHDF5Layouts reads files written by HDF5 directly: _FillValue attributes of another
// type than their short variable's (converted when the value is a short, refused naming the
// attribute when not), the lzf filter (refused by name), and HDF5 1.10's file format, whose
// superblock version 3 the library refuses (package h5's test reads its chunk indexes).
// Nothing is returned wrong.
func TestReadHDF5Layouts(t *testing.T) {
	dir := writeVariants(t, "hdf5")
	for _, c := range []struct {
		name    string
		missing int
		refusal string // "" when read
	}{
		{"fill_f32", 1, ""},
		{"fill_i32", 1, ""},
		{"fill_half", 0, "variable t2m: attribute _FillValue = 0.5 (float64): not a value of the variable's type int16"},
		{"single", 0, "hdf5 version not supported"},
		{"extensible", 0, "hdf5 version not supported; variable t2m: h5: unsupported: dataset t2m: extensible-array chunk index"},
		{"lzf", 0, "unsupported filter found; variable t2m: h5: unsupported: the lzf (filter 32000) filter"},
	} {
		p := filepath.Join(dir, "h5_"+c.name+".nc")
		f, err := Read(p, ReadOptions{})
		if c.refusal != "" {
			kind := ErrNotNetCDF
			if strings.Contains(c.refusal, "_FillValue") {
				kind = ErrNotField
			}
			wantError(t, err, kind, p, c.refusal)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		v := f.Vars[0]
		sameValues(t, c.name, v.Data, expectedValues(t, p, "t2m"))
		if v.Missing != c.missing {
			t.Errorf("%s: %d missing values, want %d", c.name, v.Missing, c.missing)
		}
	}
}

// TestReadClassicFillType reads a netCDF-3 file whose short variable has a float
// _FillValue (the library panics on it): converted to a short, it marks the missing value;
// a _FillValue that is no short is refused naming the file, the variable and the attribute.
func TestReadClassicFillType(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		fill    any
		refusal string
	}{{float32(-32767), ""}, {float64(1e6), "variable t2m: attribute _FillValue = 1e+06 (float64): not a value of the variable's type int16"}} {
		p := filepath.Join(dir, "fill.nc")
		raw := []int16{1, 2, 3, 4, 5, -32767, 7, 8, 9, 10, 11, 12}
		writeShortWithFill(t, p, raw, c.fill)
		got, err := Read(p, ReadOptions{})
		if c.refusal != "" {
			wantError(t, err, ErrNotField, p, c.refusal)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if g := got.Vars[0]; g.Missing != 1 || !math.IsNaN(float64(g.Data[5])) || g.Data[4] != 102.5 {
			t.Errorf("_FillValue %T: %d missing, values %v", c.fill, g.Missing, g.Data[:6])
		}
	}
}

// writeShortWithFill writes raw as a short variable t2m(time 1, latitude 3, longitude 4)
// packed with scale 0.5 and offset 100, whose _FillValue attribute is fill (of any type),
// with go-native-netcdf's writer.
func writeShortWithFill(t *testing.T, path string, raw []int16, fill any) {
	t.Helper()
	f := Synthetic(1, 0, 3, 4)
	cw, err := cdf.OpenWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Coord{&f.Time, &f.Lat, &f.Lon} {
		if err := libAddCoord(cw, c); err != nil {
			t.Fatal(err)
		}
	}
	attrs, err := util.NewOrderedMap([]string{"scale_factor", "add_offset", "_FillValue"},
		map[string]any{"scale_factor": 0.5, "add_offset": 100.0, "_FillValue": fill})
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.AddVar("t2m", api.Variable{Values: nest(raw, []int{1, 3, 4}), Dimensions: []string{"time", "latitude", "longitude"},
		Attributes: attrs}); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
}
