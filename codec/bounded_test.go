package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/formats/qzc"
)

// maxAbsDiff is the largest |a−b| over the values present in both (NaN where missing, which
// must match), and how many were compared.
func maxAbsDiff(t *testing.T, a, b []float32) (float64, int) {
	t.Helper()
	worst, n := 0.0, 0
	for i := range a {
		if (a[i] != a[i]) != (b[i] != b[i]) {
			t.Fatalf("value %d: %v in the source, %v decompressed", i, a[i], b[i])
		}
		if a[i] == a[i] {
			worst, n = math.Max(worst, math.Abs(float64(a[i])-float64(b[i]))), n+1
		}
	}
	return worst, n
}

// boundedRoundTrip compresses in with --max_abs_error bound, decompresses it, and returns the
// source's and the decompressed file's first variable as netCDF reads them, the .qzc file's
// sizes and what compress printed.
func boundedRoundTrip(t *testing.T, run, in, bound string) (src, got *netcdf.Variable, sizes qzc.Sizes, log string) {
	t.Helper()
	dir := t.TempDir()
	qzcPath, back := filepath.Join(dir, "b.qzc"), filepath.Join(dir, "back.nc")
	var out bytes.Buffer
	if err := runCmd([]string{"compress", "--checkpoint", run, "--max_abs_error", bound, in, qzcPath}, &out); err != nil {
		t.Fatalf("%s: %v\n%s", bound, err, out.String())
	}
	_, _, sizes, err := qzc.ReadFile(qzcPath)
	if err != nil {
		t.Fatal(err)
	}
	var ins bytes.Buffer
	if err := runCmd([]string{"inspect", qzcPath}, &ins); err != nil || !strings.Contains(ins.String(), "error-bounded: every value written back t2m within") {
		t.Errorf("inspect: %v\n%s", err, ins.String())
	}
	if err := runCmd([]string{"decompress", qzcPath, back}, io.Discard); err != nil {
		t.Fatal(err)
	}
	s, err := netcdf.Read(in, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := netcdf.Read(back, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Vars[0], g.Vars[0], sizes, out.String()
}

// TestErrorBounded: with --max_abs_error, every value of the decompressed file — as netCDF
// reads it back, int16 packing included — lies within the bound of the source's: on the packed
// UK month, on the same field unpacked (float32) with a block missing, and for a bound below
// the packing step (lossless on the packing's lattice). The residuals are counted in the file's
// bytes and cost more for a tighter bound; damaged residual bytes are refused.
func TestErrorBounded(t *testing.T) {
	run := trainTiny(t)
	var plain bytes.Buffer
	plainPath := filepath.Join(t.TempDir(), "plain.qzc")
	if err := runCmd([]string{"compress", "--checkpoint", run, ukFile, plainPath}, &plain); err != nil {
		t.Fatal(err)
	}
	_, _, plainSizes, err := qzc.ReadFile(plainPath)
	if err != nil {
		t.Fatal(err)
	}
	prev := 0
	for _, bound := range []float64{2, 0.5, 0.1} {
		src, got, sizes, log := boundedRoundTrip(t, run, ukFile, strconv.FormatFloat(bound, 'g', -1, 64))
		worst, n := maxAbsDiff(t, src.Data, got.Data)
		t.Logf("bound %g K: max error %.5f K over %d values; %d bytes (residuals %d; the codec alone %d)", bound, worst, n, sizes.Total, sizes.Residuals, plainSizes.Total)
		if worst > bound || n != len(src.Data) {
			t.Errorf("bound %g K: max error %g K over %d of %d values", bound, worst, n, len(src.Data))
		}
		if sizes.Version != 5 || sizes.Residuals == 0 || sizes.Payload != plainSizes.Payload || sizes.Total != sizes.Header+sizes.Mask+sizes.Residuals+sizes.Payload+sizes.Framing || sizes.Residuals <= prev ||
			!strings.Contains(log, "+ residuals ") || !strings.Contains(log, "(checked, packing included)") {
			t.Errorf("bound %g K: version %d, %d residual bytes (tighter bound before: %d), %d in all (codec alone %d)\n%s",
				bound, sizes.Version, sizes.Residuals, prev, sizes.Total, plainSizes.Total, log)
		}
		prev = sizes.Residuals
	}
	// Below half the packing step: the file holds exactly the source's packed values.
	src, got, _, _ := boundedRoundTrip(t, run, ukFile, "t2m=1e-5")
	if worst, _ := maxAbsDiff(t, src.Data, got.Data); worst != 0 {
		t.Errorf("a bound of 1e-5 K below the packing step %g K: max error %g K, want lossless", src.Packing.ScaleFactor, worst)
	}

	// The same field unpacked, float32 values, with a block missing in every hour.
	f, err := netcdf.Read(ukFile, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := f.Vars[0]
	v.Packing = nil
	h, w := v.Shape[1], v.Shape[2]
	for i := range v.Data {
		if y, x := (i/w)%h, i%w; y >= 5 && y < 12 && x >= 20 && x < 30 {
			v.Data[i] = float32(math.NaN())
		}
	}
	v.Attrs = append(slices.DeleteFunc(v.Attrs, func(a netcdf.Attr) bool { return a.Name == "_FillValue" || a.Name == "missing_value" }),
		netcdf.Attr{Name: "_FillValue", Value: float32(-9999)})
	floatIn := filepath.Join(t.TempDir(), "float.nc")
	if err := netcdf.Write(floatIn, f); err != nil {
		t.Fatal(err)
	}
	src, got, sizes, _ := boundedRoundTrip(t, run, floatIn, "0.25")
	worst, n := maxAbsDiff(t, src.Data, got.Data)
	if worst > 0.25 || n == len(src.Data) || got.Packing != nil || sizes.Mask == 0 {
		t.Errorf("float32 with missing values: max error %g K over %d of %d values (packing %v, mask %d bytes)", worst, n, len(src.Data), got.Packing, sizes.Mask)
	}

	// A damaged residual byte (checksum recomputed, so only the residuals' own checks see it).
	dir := t.TempDir()
	good := filepath.Join(dir, "good.qzc")
	if err := runCmd([]string{"compress", "--checkpoint", run, "--max_abs_error", "0.3", ukFile, good}, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	_, _, sz, err := qzc.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	start := 14 + sz.Header + 8 + sz.Mask + 8 // the residual bytes
	b[start+sz.Residuals-3] ^= 0x5a
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crc32.MakeTable(crc32.Castagnoli)))
	bad, back := filepath.Join(dir, "bad.qzc"), filepath.Join(dir, "bad.nc")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = runCmd([]string{"decompress", bad, back}, io.Discard)
	if !errors.Is(err, qzc.ErrCorrupt) || !strings.Contains(err.Error(), "residuals") || !strings.Contains(err.Error(), bad) {
		t.Errorf("damaged residuals: %v", err)
	}
	if _, err := os.Stat(back); !os.IsNotExist(err) {
		t.Errorf("damaged residuals: %s written", back)
	}
	// Bad values of the flag.
	for _, flag := range []string{"0", "-1", "nan", "q=0.1", "t2m=0.1,t2m=0.2", "x"} {
		err := runCmd([]string{"compress", "--checkpoint", run, "--max_abs_error", flag, ukFile, filepath.Join(dir, "no.qzc")}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "max absolute error") {
			t.Errorf("--max_abs_error %s: %v", flag, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "no.qzc")); !os.IsNotExist(err) {
		t.Errorf("a refused bound left a file behind")
	}
}
