package main

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
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
	nt, h, w := v.Shape[0], v.Shape[1], v.Shape[2]
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
	if back, err := netcdf.Read(in, netcdf.ReadOptions{}); err != nil || back.Vars[0].Missing != nan {
		t.Fatalf("the masked file reads back with %v missing values (want %d): %v", back.Vars[0].Missing, nan, err)
	}
	qzcPath, out := filepath.Join(dir, "sst-like.qzc"), filepath.Join(dir, "back.nc")
	var log bytes.Buffer
	if err := runCmd([]string{"compress", "--checkpoint", run, in, qzcPath}, &log); err != nil {
		t.Fatal(err)
	}
	hd, _, sizes, err := qzc.ReadFile(qzcPath)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := hd.Mask.Missing(hd.Values()); sizes.Version != 4 || err != nil || n != nan || !strings.Contains(log.String(), "missing values") {
		t.Fatalf("version %d, mask of %d missing values (want %d): %v\n%s", sizes.Version, n, nan, err, log.String())
	}
	var ins bytes.Buffer
	if err := runCmd([]string{"inspect", qzcPath}, &ins); err != nil || !strings.Contains(ins.String(), "qzc version 4") ||
		!strings.Contains(ins.String(), "missing values") || !strings.Contains(log.String(), "+ mask ") {
		t.Errorf("inspect: %v\n%s", err, ins.String())
	}
	t.Logf("%d of %d values missing (%d hours × %d×%d): mask %d bytes of a %d-byte file\n%s", nan, len(masked), nt, h, w, sizes.Mask, sizes.Total, log.String())
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
			t.Fatalf("value %d: %v in the source, %v decompressed", i, x, g.Data[i])
		}
	}
	if g.Missing != nan || g.Packing == nil || g.Packing.FillValue == nil || *g.Packing.FillValue != *v.Packing.FillValue {
		t.Errorf("decompressed: %d missing values (want %d), packing %+v", g.Missing, nan, g.Packing)
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
