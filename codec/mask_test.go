package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/metrics"
)

// TestMissingValues: the UK 2 m temperature with a land-shaped block missing in every hour (as
// sea-surface temperature is over land) and 60 scattered points missing, written as a packed
// netCDF-3 file with a _FillValue, compresses (the mask in a version 4 .qzc file, counted in
// its bytes) and decompresses with the values missing exactly where they were, the others
// within the error of coding the complete field.
func TestMissingValues(t *testing.T) {
	run := trainTiny(t)
	dir := t.TempDir()
	f, err := netcdf.Read(ukFile, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := f.Vars[0]
	if v.Packing == nil {
		t.Fatalf("%s: t2m is not packed", ukFile)
	}
	if v.Packing.FillValue == nil {
		fill := -32767.0
		v.Packing.FillValue = &fill
	}
	h, w := v.Shape[1], v.Shape[2]
	masked := make([]float32, len(v.Data))
	copy(masked, v.Data)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range masked {
		y, x := (i/w)%h, i%w
		if y >= 8 && y < 20 && x >= 10 && x < 10+2*(y-6) { // land: a triangle of 12 rows
			masked[i] = float32(math.NaN())
		}
	}
	for range 60 {
		masked[rng.IntN(len(masked))] = float32(math.NaN())
	}
	nan := 0
	for _, x := range masked {
		if x != x {
			nan++
		}
	}
	full := *v
	v.Data = masked
	in := filepath.Join(dir, "sst-like.nc")
	if err := netcdf.Write(in, f); err != nil {
		t.Fatal(err)
	}
	if back, err := netcdf.Read(in, netcdf.ReadOptions{}); err != nil {
		t.Fatal(err)
	} else if back.Vars[0].Missing != nan {
		t.Fatalf("the masked file reads back with %d missing values, want %d", back.Vars[0].Missing, nan)
	}
	g, _ := roundTrip(t, run, in, masked, *v.Packing.FillValue)
	// The same field as netCDF-4 (chunked, deflated, unpacked floats with a _FillValue of
	// -9999), written by netCDF-C through netCDF4-python.
	in4 := filepath.Join(dir, "sst-like4.nc")
	script := `import sys, netCDF4
src = netCDF4.Dataset(sys.argv[1]); dst = netCDF4.Dataset(sys.argv[2], "w", format="NETCDF4")
for d in src.dimensions: dst.createDimension(d, len(src.dimensions[d]))
for name, v in src.variables.items():
    fill = -9999.0 if name == "t2m" else None
    o = dst.createVariable(name, "f4" if name == "t2m" else v.dtype, v.dimensions, zlib=True, chunksizes=[(7 if n == "time" else 5) for n in v.dimensions], fill_value=fill)
    o.setncatts({k: v.getncattr(k) for k in v.ncattrs() if k not in ("_FillValue", "scale_factor", "add_offset", "missing_value")})
    o[:] = v[:]
dst.close()`
	if b, err := exec.Command("/usr/bin/python3", "-c", script, in, in4).CombinedOutput(); err != nil {
		t.Fatalf("writing the netCDF-4 file (needs /usr/bin/python3 with python3-netcdf4: scripts/install-deps.sh): %v\n%s", err, b)
	}
	g4, out4 := roundTrip(t, run, in4, masked, -9999)
	// netCDF-C sees the missing values stored as the fill value, not as NaN.
	count := `import sys, netCDF4, numpy
v = netCDF4.Dataset(sys.argv[1]).variables["t2m"]; v.set_auto_mask(False); x = v[:]
print(int((x == -9999).sum()), int(numpy.isnan(x).sum()))`
	if b, err := exec.Command("/usr/bin/python3", "-c", count, out4).CombinedOutput(); err != nil || strings.TrimSpace(string(b)) != fmt.Sprintf("%d 0", nan) {
		t.Errorf("netCDF-C reads the decompressed file's raw values: %s (want %d fill values, no NaN): %v", b, nan, err)
	}
	e4, err := metrics.CompareFields(masked, g4.Data, v.Shape, nil)
	if err != nil || !(e4.RMSE < 2.3) {
		t.Errorf("netCDF-4: present values' RMSE %v K: %v", e4.RMSE, err)
	}
	// The present values, against coding the complete field with the same run.
	completePath, completeOut := filepath.Join(dir, "full.qzc"), filepath.Join(dir, "full.nc")
	if err := runCmd([]string{"compress", "--checkpoint", run, ukFile, completePath}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := runCmd([]string{"decompress", completePath, completeOut}, io.Discard); err != nil {
		t.Fatal(err)
	}
	whole, err := netcdf.Read(completeOut, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	present := func(x []float32) []float32 { // x with the masked values NaN
		out := make([]float32, len(x))
		for i := range x {
			out[i] = x[i]
			if masked[i] != masked[i] {
				out[i] = float32(math.NaN())
			}
		}
		return out
	}
	eMask, err := metrics.CompareFields(masked, g.Data, v.Shape, nil)
	if err != nil {
		t.Fatal(err)
	}
	eFull, err := metrics.CompareFields(present(full.Data), whole.Vars[0].Data, v.Shape, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("present values: RMSE %.4f K, max %.4f K coded with the mask; %.4f K, max %.4f K coded complete", eMask.RMSE, eMask.MaxAbs, eFull.RMSE, eFull.MaxAbs)
	if eMask.N != len(masked)-nan || !(eMask.RMSE < 2.3) || !(eMask.RMSE < 1.25*eFull.RMSE) {
		t.Errorf("present values: %d compared, RMSE %v K with the mask, %v K complete", eMask.N, eMask.RMSE, eFull.RMSE)
	}
}

// roundTrip compresses in with the run and decompresses it, checks that the values of masked
// that are NaN, and only they, are missing in the .qzc file's mask and in the decompressed
// file, whose fill value is fill, and returns the decompressed variable and file.
func roundTrip(t *testing.T, run, in string, masked []float32, fill float64) (*netcdf.Variable, string) {
	t.Helper()
	nan := 0
	for _, x := range masked {
		if x != x {
			nan++
		}
	}
	dir := t.TempDir()
	qzcPath, out := filepath.Join(dir, "sst-like.qzc"), filepath.Join(dir, "back.nc")
	var log bytes.Buffer
	if err := runCmd([]string{"compress", "--checkpoint", run, in, qzcPath}, &log); err != nil {
		t.Fatal(err)
	}
	hd, _, sizes, err := qzc.ReadFile(qzcPath)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := hd.Mask.Missing(hd.Values()); sizes.Version != 4 || err != nil || n != nan || !strings.Contains(log.String(), "+ mask ") {
		t.Fatalf("%s: version %d, mask of %d missing values (want %d): %v\n%s", in, sizes.Version, n, nan, err, log.String())
	}
	var ins bytes.Buffer
	if err := runCmd([]string{"inspect", qzcPath}, &ins); err != nil || !strings.Contains(ins.String(), "qzc version 4") ||
		!strings.Contains(ins.String(), "missing values") {
		t.Errorf("inspect: %v\n%s", err, ins.String())
	}
	t.Logf("%s: %d of %d values missing: mask %d bytes of a %d-byte file\n%s", filepath.Base(in), nan, len(masked), sizes.Mask, sizes.Total, log.String())
	if err := runCmd([]string{"decompress", qzcPath, out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	got, err := netcdf.Read(out, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := got.Vars[0]
	for i, x := range masked {
		if math.IsNaN(float64(x)) != math.IsNaN(float64(g.Data[i])) {
			t.Fatalf("%s: value %d: %v in the source, %v decompressed", in, i, x, g.Data[i])
		}
	}
	fv, hasFill := math.NaN(), false
	if g.Packing != nil && g.Packing.FillValue != nil {
		fv, hasFill = *g.Packing.FillValue, true
	} else if a, ok := g.Attr("_FillValue").(float32); ok {
		fv, hasFill = float64(a), true
	}
	if g.Missing != nan || !hasFill || fv != fill {
		t.Errorf("%s decompressed: %d missing values (want %d), fill value %v, %v (want %v)", in, g.Missing, nan, fv, hasFill, fill)
	}
	return g, out
}
