package main

import (
	"bytes"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/compressor"
	"github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/formats/qzc"
)

// TestSegmented: the UK month coded in segments of 96 hours (--segment 96: 8 segments, the last
// of 72 hours; .qzc version 6) decodes to exactly the values of the month coded whole — the
// segments are cut at the model's windows, which are coded alone either way — so the merged
// checks equal the whole file's, and the segments' framing and entropy-coder tables cost
// little. With a block missing and an error bound, every segment keeps its mask and every value
// is written within the bound. A segment length that cuts a window is refused.
func TestSegmented(t *testing.T) {
	run := trainTiny(t)
	c, id, err := compressor.Open(run)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	code := func(in, name string, opts compressor.Options) (compressor.Report, *netcdf.Variable) {
		t.Helper()
		q, back := filepath.Join(dir, name+".qzc"), filepath.Join(dir, name+".nc")
		rep, err := compressor.CompressFile(c, id, []string{in}, q, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := compressor.DecompressFile(q, back, ""); err != nil {
			t.Fatalf("%s: decompress: %v", name, err)
		}
		f, err := netcdf.Read(back, netcdf.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return rep, f.Vars[0]
	}
	whole, wv := code(ukFile, "whole", compressor.Options{})
	seg, sv := code(ukFile, "seg", compressor.Options{SegmentLength: 96})
	if whole.Sizes.Version == 6 || seg.Sizes.Version != 6 || !slices.Equal(seg.Header.Segments, []int{96, 96, 96, 96, 96, 96, 96, 72}) {
		t.Fatalf("versions %d and %d, segments %v", whole.Sizes.Version, seg.Sizes.Version, seg.Header.Segments)
	}
	if !slices.Equal(wv.Data, sv.Data) {
		t.Fatal("the month coded in segments decodes to other values than coded whole")
	}
	w, s := whole.Checks[0], seg.Checks[0]
	for _, p := range [][2]float64{{w.Errors.RMSE, s.Errors.RMSE}, {w.Errors.MaxAbs, s.Errors.MaxAbs}, {w.Mean, s.Mean}, {w.Std, s.Std}, {w.Min, s.Min}, {w.Max, s.Max}} {
		if math.Abs(p[0]-p[1]) > 1e-9*math.Max(1, math.Abs(p[0])) {
			t.Errorf("merged checks %+v, whole %+v", s, w)
			break
		}
	}
	if extra := float64(seg.Sizes.Total)/float64(whole.Sizes.Total) - 1; !(extra > 0 && extra < 0.05) {
		t.Errorf("segmented file %d bytes, whole %d: %.1f%% more (want 0–5%%)", seg.Sizes.Total, whole.Sizes.Total, 100*extra)
	}
	t.Logf("whole %d bytes, 8 segments %d bytes; RMSE %.4f K both", whole.Sizes.Total, seg.Sizes.Total, w.Errors.RMSE)
	var ins bytes.Buffer
	if err := runCmd([]string{"inspect", filepath.Join(dir, "seg.qzc")}, &ins); err != nil || !strings.Contains(ins.String(), "8 segments of 96 steps") {
		t.Errorf("inspect: %v\n%s", err, ins.String())
	}

	// A block missing in every hour, an error bound of 0.5 K: masks and residuals per segment.
	f, err := netcdf.Read(ukFile, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := f.Vars[0]
	h, wd := v.Shape[1], v.Shape[2]
	for i := range v.Data {
		if y, x := (i/wd)%h, i%wd; y >= 8 && y < 20 && x >= 10 && x < 20 {
			v.Data[i] = float32(math.NaN())
		}
	}
	masked := filepath.Join(dir, "masked.nc")
	if err := netcdf.Write(masked, f); err != nil {
		t.Fatal(err)
	}
	src, err := netcdf.Read(masked, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bounded, bv := code(masked, "bounded", compressor.Options{SegmentLength: 128, MaxAbsError: compressor.Bounds{"": 0.5}})
	if bounded.Sizes.Version != 6 || len(bounded.Header.Segments) != 6 || bounded.Sizes.Mask == 0 || bounded.Sizes.Residuals == 0 {
		t.Fatalf("version %d, segments %v, mask %d bytes, residuals %d bytes", bounded.Sizes.Version, bounded.Header.Segments, bounded.Sizes.Mask, bounded.Sizes.Residuals)
	}
	worst, n := maxAbsDiff(t, src.Vars[0].Data, bv.Data)
	if worst > 0.5 || n != len(v.Data)-src.Vars[0].Missing || src.Vars[0].Missing == 0 {
		t.Fatalf("max error %g K over %d values (missing %d): want ≤ 0.5", worst, n, src.Vars[0].Missing)
	}
	if r := bounded.Residuals[0]; r.Values != n {
		t.Errorf("residual report over %d values, %d present", r.Values, n)
	}

	err = runCmd([]string{"compress", "--checkpoint", run, "--segment", "98", ukFile, filepath.Join(dir, "bad.qzc")}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "segment length 98") || !strings.Contains(err.Error(), "the model's block of 4") {
		t.Errorf("--segment 98: %v", err)
	}
	if _, err := qzc.Open(filepath.Join(dir, "bad.qzc")); err == nil {
		t.Error("a refused compression left a file behind")
	}
}
