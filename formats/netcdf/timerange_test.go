package netcdf

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/qzoo/qzoo/formats/netcdf/internal/h5"
)

// rangeOf returns what Read must return for hours [t0, t1) of f, the whole file read: a
// deep copy of those hours, their missing values counted, TimeStart and TimeTotal set.
func rangeOf(f *File, t0, t1 int) *File {
	g := hoursOf(f, t0, t1)
	g.TimeStart, g.TimeTotal = t0, f.Hours()
	for _, v := range g.Vars {
		v.Missing = 0
		for _, x := range v.Data {
			if x != x {
				v.Missing++
			}
		}
	}
	return g
}

// sameFile fails unless got and want hold the same coordinates (values, types, attributes),
// global attributes (in any order), time position, and variables (names, dimensions, shapes, attributes,
// packing, values — NaN matching NaN — and missing counts); data false skips the values.
func sameFile(t *testing.T, what string, got, want *File, data bool) {
	t.Helper()
	if got.Format != want.Format || got.TimeStart != want.TimeStart || got.TimeTotal != want.TimeTotal {
		t.Errorf("%s: format %s, time from %d of %d; want %s, from %d of %d", what, got.Format, got.TimeStart, got.TimeTotal,
			want.Format, want.TimeStart, want.TimeTotal)
	}
	if !sameAttrs(got.Global, want.Global) {
		t.Errorf("%s: global attributes %v, want %v", what, got.Global, want.Global)
	}
	sameCoord := func(g, w *Coord) {
		if g == nil || w == nil {
			if g != w {
				t.Errorf("%s: coordinate %v, want %v", what, g, w)
			}
			return
		}
		if g.Name != w.Name || g.Type != w.Type || !slices.Equal(g.Values, w.Values) || !sameAttrs(g.Attrs, w.Attrs) {
			t.Errorf("%s: coordinate %s (%s, %d values, %v), want %s (%s, %d values, %v)", what, g.Name, g.Type, len(g.Values), g.Attrs,
				w.Name, w.Type, len(w.Values), w.Attrs)
		}
	}
	sameCoord(&got.Time, &want.Time)
	sameCoord(got.Level, want.Level)
	sameCoord(&got.Lat, &want.Lat)
	sameCoord(&got.Lon, &want.Lon)
	if len(got.Vars) != len(want.Vars) {
		t.Fatalf("%s: variables %v, want %v", what, got.VariableNames(), want.VariableNames())
	}
	for i, v := range got.Vars {
		w := want.Vars[i]
		if v.Name != w.Name || !slices.Equal(v.Dims, w.Dims) || !slices.Equal(v.Shape, w.Shape) || !sameAttrs(v.Attrs, w.Attrs) {
			t.Errorf("%s: variable %s %v %v %v, want %s %v %v %v", what, v.Name, v.Dims, v.Shape, v.Attrs, w.Name, w.Dims, w.Shape, w.Attrs)
			continue
		}
		if !samePacking(v.Packing, w.Packing) {
			t.Errorf("%s: variable %s: packing %+v, want %+v", what, v.Name, v.Packing, w.Packing)
		}
		if data {
			sameValues(t, what+": "+v.Name, v.Data, w.Data)
			if v.Missing != w.Missing {
				t.Errorf("%s: variable %s: %d missing values, want %d", what, v.Name, v.Missing, w.Missing)
			}
		} else if v.Data != nil || v.Missing != 0 {
			t.Errorf("%s: variable %s: %d values, %d missing, want none (metadata only)", what, v.Name, len(v.Data), v.Missing)
		}
	}
}

// sameAttrs reports whether a and b hold the same attributes, of the same types and values
// (NaN matching NaN), in any order: the library returns a netCDF-4 file's attributes in an
// order that varies from one read to the next.
func sameAttrs(a, b []Attr) bool {
	byName := func(x, y Attr) int { return strings.Compare(x.Name, y.Name) }
	same := func(x, y Attr) bool {
		return x.Name == y.Name && fmt.Sprintf("%T %v", x.Value, x.Value) == fmt.Sprintf("%T %v", y.Value, y.Value)
	}
	return slices.EqualFunc(slices.SortedFunc(slices.Values(a), byName), slices.SortedFunc(slices.Values(b), byName), same)
}

func samePacking(a, b *Packing) bool {
	if a == nil || b == nil {
		return a == b
	}
	same := func(x, y *float64) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	return a.Type == b.Type && a.ScaleFactor == b.ScaleFactor && a.AddOffset == b.AddOffset &&
		same(a.FillValue, b.FillValue) && same(a.MissingValue, b.MissingValue)
}

// checkRanges reads time ranges of path and compares each with the same hours of the whole
// file; it also requires Inspect to give the whole file's metadata. Ranges are pairs
// (TimeStart, TimeCount) where n stands for the number of hours; nil: a set of ranges at
// both ends, in the middle, to the end.
func checkRanges(t *testing.T, path string, opts ReadOptions, ranges ...func(n int) (int, int)) {
	t.Helper()
	whole, err := Read(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := whole.Hours()
	if whole.TimeStart != 0 || whole.TimeTotal != n {
		t.Errorf("%s: whole read from %d of %d, want 0 of %d", path, whole.TimeStart, whole.TimeTotal, n)
	}
	if ranges == nil {
		ranges = []func(n int) (int, int){
			func(n int) (int, int) { return 0, 1 },
			func(n int) (int, int) { return n - 1, 1 },
			func(n int) (int, int) { return n / 3, n / 2 },
			func(n int) (int, int) { return n / 2, 0 },
		}
	}
	for _, rf := range ranges {
		var r [2]int
		r[0], r[1] = rf(n)
		o := opts
		o.TimeStart, o.TimeCount = r[0], r[1]
		got, err := Read(path, o)
		if err != nil {
			t.Fatalf("%s: hours from %d, %d of them: %v", path, r[0], r[1], err)
		}
		end := r[0] + r[1]
		if r[1] == 0 {
			end = n
		}
		sameFile(t, fmt.Sprintf("%s hours [%d, %d)", filepath.Base(path), r[0], end), got, rangeOf(whole, r[0], end), true)
	}
	meta, err := Inspect(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := rangeOf(whole, 0, n)
	for _, v := range want.Vars {
		v.Data, v.Missing = nil, 0
	}
	sameFile(t, filepath.Base(path)+" inspected", meta, want, false)
}

// TestReadTimeRangeNetCDF3 reads time ranges of netCDF-3 files: the UK month (fixed layout,
// classic format), the same written by Write (time the record dimension, 64-bit offsets) and
// by the library's writer (fixed, 64-bit offsets, several variables with levels), and a
// classic file with record variables written byte by byte.
func TestReadTimeRangeNetCDF3(t *testing.T) {
	needFile(t, ukFile)
	checkRanges(t, ukFile, ReadOptions{})
	uk, err := readUK()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	written := filepath.Join(dir, "uk.nc")
	if err := Write(written, uk); err != nil {
		t.Fatal(err)
	}
	checkRanges(t, written, ReadOptions{})

	levels := Synthetic(7, 3, 4, 5, "q", "u")
	fill := -32767.0
	levels.Vars[1].Packing = &Packing{Type: "int16", ScaleFactor: 0.5, AddOffset: 700, FillValue: &fill}
	levels.Vars[1].Data[2*3*4*5+7] = float32(math.NaN())
	fixed := filepath.Join(dir, "fixed.nc")
	if err := libWrite(fixed, levels); err != nil {
		t.Fatal(err)
	}
	checkRanges(t, fixed, ReadOptions{})

	raw := make([][]int16, 6)
	for i := range raw {
		for j := range 3 * 5 {
			raw[i] = append(raw[i], int16(100*i-7*j))
		}
	}
	raw[4][3] = -32767
	records := filepath.Join(dir, "records.nc")
	if err := os.WriteFile(records, classicWithRecords(raw, 3, 5, 0.01, 280, -32767), 0o644); err != nil {
		t.Fatal(err)
	}
	checkRanges(t, records, ReadOptions{})
	// The missing value at time 4, latitude 0, longitude 3 is found by its time in the file.
	f, err := Read(records, ReadOptions{TimeStart: 2, TimeCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	if f.Vars[0].Missing != 1 || f.TimeStart != 2 || f.TimeTotal != 6 || !slices.Equal(f.Time.Values, []float64{1_000_002, 1_000_003, 1_000_004}) {
		t.Errorf("hours [2, 5): %d missing, from %d of %d, times %v", f.Vars[0].Missing, f.TimeStart, f.TimeTotal, f.Time.Values)
	}
	wantError(t, f.Complete(), ErrMissingValues, records, "variable t2m: 1 missing values (first at time 4, latitude 0, longitude 3)")
}

// TestReadTimeRangeNetCDF4 reads time ranges of an ERA5 download in netCDF-4 with contiguous
// data and levels (no writer needed: TestReadTimeRangeChunked reads chunked copies).
func TestReadTimeRangeNetCDF4(t *testing.T) {
	needFile(t, levelFile)
	checkRanges(t, levelFile, ReadOptions{})
}

// TestReadTimeRangeChunked reads time ranges of the UK month rewritten by netCDF-C with
// chunks that split the time axis (and every other) unevenly, deflated, little- and
// big-endian: ranges that start and end inside chunks; and checks that one hour reads a
// fraction of the file: the chunks that hold it and the chunk index. (Package h5's
// TestReadSlab and TestReadSlabChunks read slabs of other chunk layouts and indexes.)
func TestReadTimeRangeChunked(t *testing.T) {
	needFile(t, ukFile)
	dir := sharedVariants(t, "chunked", ukFile)
	for _, layout := range []string{"deflate_shuffle", "big_deflate_unlimited"} { // time chunks of 249 and 149 hours
		checkRanges(t, filepath.Join(dir, layout+".nc"), ReadOptions{})
	}
	for _, c := range []struct {
		layout string
		share  int64 // at most this fraction of the file's bytes read for one hour
	}{{"deflate_shuffle", 2}, {"big_deflate_unlimited", 4}, {"fletcher_tiny", 2}} { // fletcher_tiny: 45,000 chunks of 3×3×3, the index walked whole
		p := filepath.Join(dir, c.layout+".nc")
		hour, _ := rangeBytes(t, p, 300, 1)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes read for an hour, of %d", c.layout, hour, st.Size())
		if hour*c.share > st.Size() {
			t.Errorf("%s: %d bytes read for an hour, of %d: more than 1/%d", c.layout, hour, st.Size(), c.share)
		}
	}
}

// TestReadTimeRangeRefused asks for hours outside the time axis: refused, naming the file,
// the range and the axis's length. MaxValues bounds the hours read, not the file.
func TestReadTimeRangeRefused(t *testing.T) {
	needFile(t, ukFile)
	for _, c := range []struct {
		start, count int
		says         string
	}{
		{744, 0, "time range [744, end) (ReadOptions.TimeStart 744, TimeCount 0) is outside the time axis time of 744 steps"},
		{700, 45, "time range [700, 745) (ReadOptions.TimeStart 700, TimeCount 45) is outside the time axis time of 744 steps"},
		{1 << 40, 1, "outside the time axis time of 744 steps"},
		{-1, 0, "ReadOptions.TimeStart -1 and TimeCount 0 must not be negative"},
		{0, -2, "ReadOptions.TimeStart 0 and TimeCount -2 must not be negative"},
	} {
		_, err := Read(ukFile, ReadOptions{TimeStart: c.start, TimeCount: c.count})
		wantError(t, err, ErrTimeRange, ukFile, c.says)
	}
	_, err := Read(ukFile, ReadOptions{MaxValues: 10 * 33 * 49})
	wantError(t, err, ErrTooLarge, ukFile, "variable t2m", "hours [0, 744) of 744", "16170")
	f, err := Read(ukFile, ReadOptions{MaxValues: 10 * 33 * 49, TimeStart: 734})
	if err != nil || f.Hours() != 10 || f.TimeStart != 734 {
		t.Errorf("the last 10 hours with MaxValues 10 hours: %v", err)
	}
	// Inspect reads no value: MaxValues bounds only the dimensions.
	m, err := Inspect(ukFile, ReadOptions{MaxValues: 1000, TimeStart: 5000})
	if err != nil || m.TimeTotal != 744 || m.Vars[0].Shape[0] != 744 || m.Vars[0].Data != nil {
		t.Errorf("Inspect with MaxValues 1000: %v", err)
	}
	_, err = Inspect(ukFile, ReadOptions{Variables: []string{"u10"}})
	wantError(t, err, ErrNoVariable, ukFile, `no variable "u10"`)
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.n.Add(int64(len(p)))
	return c.r.ReadAt(p, off)
}

// rangeBytes returns the bytes read from path for the values of its first variable's hours
// [start, start+count) (the chunk index of netCDF-4 included), and the bytes of those values.
func rangeBytes(t *testing.T, path string, start, count int) (read, values int64) {
	t.Helper()
	r, err := openReader(path, ReadOptions{TimeStart: start, TimeCount: count})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	f, err := r.read() // Describes the variables and sets the range.
	if err != nil {
		t.Fatal(err)
	}
	v := f.Vars[0]
	shape, err := r.fullShape(v.Name)
	if err != nil {
		t.Fatal(err)
	}
	counter := &countingReaderAt{r: r.file}
	width := int64(4)
	if r.h5 != nil {
		if r.h5, err = h5.Open(counter, r.size); err != nil {
			t.Fatal(err)
		}
		r.datasets = map[string]*h5.Dataset{}
		d, err := r.dataset(v.Name) // Its object header is not counted.
		if err != nil {
			t.Fatal(err)
		}
		width = int64(d.Type.Size)
	} else {
		r.at = counter
		width = cdfTypeWidth(r.cdf.vars[v.Name].typ)
	}
	counter.n.Store(0)
	raw, _, err := r.raw(v.Name, shape, slices.Index(r.allDims[v.Name], r.tDim))
	if err != nil {
		t.Fatal(err)
	}
	if want := len(v.Data); len(raw) != want {
		t.Errorf("%s: %d values read, want %d", path, len(raw), want)
	}
	return counter.n.Load(), int64(len(raw)) * width
}

// TestReadTimeRangeBytes checks that a time range reads only its hours' bytes: netCDF-3
// fixed and record variables, and netCDF-4 contiguous data, exactly their values (chunked
// data: TestReadTimeRangeChunked).
func TestReadTimeRangeBytes(t *testing.T) {
	needFile(t, ukFile)
	uk, err := readUK()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	written := filepath.Join(dir, "uk.nc")
	if err := Write(written, uk); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ukFile, written, levelFile, surfaceFile} {
		needFile(t, p)
		for _, r := range [][2]int{{10, 3}, {0, 1}, {0, 0}} {
			read, values := rangeBytes(t, p, r[0], r[1])
			if read != values {
				t.Errorf("%s: hours from %d (%d of them): %d bytes read for %d bytes of values", filepath.Base(p), r[0], r[1], read, values)
			}
		}
	}
}
