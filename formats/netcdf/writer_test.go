package netcdf

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writerFixture returns a File that exercises every way Create writes: coordinates of types
// netCDF-3 lacks, global attributes of every type, a float variable with a _FillValue (and
// scale_factor, dropped) and NaNs, an int16-packed one with fill and missing values, NaNs and
// values beyond the int16 range, one packed as unsigned bytes (written as floats), a float
// one with only a missing_value; with levels.
func writerFixture() *File {
	f := Synthetic(9, 2, 3, 4, "a", "b", "c", "d")
	f.Time.Type = "int64"
	f.Level.Type = "uint8"
	f.Lat.Type = "float64"
	f.Lon.Type = "int16"
	f.Global = append(f.Global, Attr{"history", "made by a test"}, Attr{"count", int64(3)}, Attr{"shorts", []uint16{1, 2}},
		Attr{"lines", []string{"one", "two"}}, Attr{"f", float32(1.5)}, Attr{"b", int8(-3)}, Attr{"bs", []int8{1, 2, 3}}, Attr{"empty", ""})
	nan := float32(math.NaN())
	a, b, c, d := f.Vars[0], f.Vars[1], f.Vars[2], f.Vars[3]
	a.Attrs = append(a.Attrs, Attr{"_FillValue", -999.0}, Attr{"scale_factor", 2.0})
	a.Data[5], a.Data[100] = nan, nan
	fill, missing := -32767.0, -1.0
	b.Packing = &Packing{Type: "int16", ScaleFactor: 0.05, AddOffset: 2000, FillValue: &fill, MissingValue: &missing}
	b.Attrs = append(b.Attrs, Attr{"missing_value", int16(7)}, Attr{"valid_max", int16(30000)})
	b.Data[7], b.Data[8], b.Data[9] = nan, 3700, 300 // past the packing's range [361.6, 3638.35]: clamped
	c.Packing = &Packing{Type: "uint8", ScaleFactor: 2, AddOffset: 0}
	c.Attrs = append(c.Attrs, Attr{"_Unsigned", "true"}, Attr{"valid_range", []int8{0, 100}}, Attr{"scale_factor", 2.0})
	c.Data[11] = nan
	d.Attrs = append(d.Attrs, Attr{"missing_value", float32(-1)})
	d.Data[200] = nan
	return f
}

// writeSplit writes f with Create and WriteHours calls of the given numbers of hours.
func writeSplit(path string, f *File, split []int) error {
	w, err := Create(path, f)
	if err != nil {
		return err
	}
	defer w.Abort()
	t := 0
	for _, k := range split {
		data := make([][]float32, len(f.Vars))
		for i, v := range f.Vars {
			hour := len(v.Data) / v.Shape[0]
			data[i] = v.Data[t*hour : (t+k)*hour]
		}
		if err := w.WriteHours(data); err != nil {
			return err
		}
		t += k
	}
	return w.Close()
}

// checkStreaming writes f with Write, with Create and WriteHours in each of splits (numbers
// of hours per call), and with the library's writer: the files of Create must be the bytes of
// Write's, and read back they must equal, value for value and attribute for attribute, what
// the library's file reads back as.
func checkStreaming(t *testing.T, f *File, splits ...[]int) {
	t.Helper()
	dir := t.TempDir()
	whole := filepath.Join(dir, "write.nc")
	if err := Write(whole, f); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range splits {
		p := filepath.Join(dir, "split.nc")
		if err := writeSplit(p, f, split); err != nil {
			t.Fatalf("hours written %v at a time: %v", split, err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("hours written %v at a time: %d bytes, differing from Write's %d", split, len(got), len(want))
		}
	}
	lib := filepath.Join(dir, "library.nc")
	if err := libWrite(lib, f); err != nil {
		t.Fatal(err)
	}
	back, err := Read(whole, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	libBack, err := Read(lib, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, "written by Create, read back", back, libBack, true)
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("%d entries in the directory, want the 3 files written", len(entries))
	}
}

// TestCreateSplits writes the fixture in one call, one hour a call and uneven calls: the
// same bytes each time, and the same values, attributes and coordinates read back as the
// library's writer's file (which Write used before Create).
func TestCreateSplits(t *testing.T) {
	f := writerFixture()
	checkStreaming(t, f, []int{9}, []int{1, 1, 1, 1, 1, 1, 1, 1, 1}, []int{2, 3, 4}, []int{8, 1})
}

// TestCreateRealData streams the UK month (a packed field, 744 hours, 100 at a time) and the
// model-level humidity (levels, 5 hours at a time) as TestCreateSplits does.
func TestCreateRealData(t *testing.T) {
	needFile(t, ukFile)
	uk, err := readUK()
	if err != nil {
		t.Fatal(err)
	}
	checkStreaming(t, uk, []int{100, 100, 100, 100, 100, 100, 100, 44})
	needFile(t, levelFile)
	q, err := Read(levelFile, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkStreaming(t, q, []int{5, 5, 5, 5, 4})
}

// TestCreateErrors: wrong data is refused naming the variable and the counts, writing
// nothing; Close without every hour and Abort leave the destination as it was and no
// temporary file.
func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.nc")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := Synthetic(9, 0, 3, 4, "a", "b")
	fill := -32767.0
	f.Vars[1].Packing = &Packing{Type: "int16", ScaleFactor: 0.5, AddOffset: 100, FillValue: &fill}
	hours := func(t0, t1 int) [][]float32 {
		return [][]float32{slices.Clone(f.Vars[0].Data[t0*12 : t1*12]), slices.Clone(f.Vars[1].Data[t0*12 : t1*12])}
	}
	w, err := Create(path, f)
	if err != nil {
		t.Fatal(err)
	}
	wantErr := func(err error, parts ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("no error, want one saying %q", parts)
		}
		for _, p := range append([]string{path}, parts...) {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not say %q", err, p)
			}
		}
	}
	wantErr(w.WriteHours(hours(0, 1)[:1]), "values of 1 variables, the file has 2 (a, b)")
	d := hours(0, 2)
	d[0] = d[0][:13]
	wantErr(w.WriteHours(d), "variable a: 13 values, not a whole number ≥ 1 of hours of 12 values (shape [9 3 4])")
	d = hours(0, 2)
	d[0] = nil
	wantErr(w.WriteHours(d), "variable a: 0 values")
	d = hours(0, 2)
	d[1] = d[1][:12]
	wantErr(w.WriteHours(d), "variable b: 12 values, 1 hours, and variable a 2 hours")
	wantErr(w.WriteHours(hours(0, 9)[:1]), "values of 1 variables")
	if err := w.WriteHours(hours(0, 4)); err != nil {
		t.Fatal(err)
	}
	d = hours(4, 6)
	d[1][12+5] = float32(math.Inf(1)) // hour 5 of the file
	wantErr(w.WriteHours(d), "variable b: +Inf at time 5, latitude 1, longitude 1 cannot be packed")
	big := append(hours(4, 9), nil)[:2]
	big[0], big[1] = append(big[0], big[0][:12]...), append(big[1], big[1][:12]...)
	wantErr(w.WriteHours(big), "6 hours given after 4 written, more than the 9 of the time coordinate")
	if err := w.WriteHours(hours(4, 8)); err != nil { // The refusals wrote nothing.
		t.Fatal(err)
	}
	wantErr(w.Close(), "8 of the 9 hours of the time coordinate written")
	wantErr(w.WriteHours(hours(8, 9)), "WriteHours after Close or Abort")
	wantErr(w.Close(), "Close after Close or Abort")
	w.Abort()
	onlyOld := func(what string) {
		t.Helper()
		entries, _ := os.ReadDir(dir)
		old, _ := os.ReadFile(path)
		if len(entries) != 1 || string(old) != "old" {
			t.Errorf("%s: %d entries in the directory, the destination holds %q", what, len(entries), old)
		}
	}
	onlyOld("Close before the last hour")

	// A NaN without a fill value to write it as: refused at its hour, the Writer usable.
	noFill := Synthetic(3, 0, 3, 4, "x")
	noFill.Vars[0].Packing = &Packing{Type: "int16", ScaleFactor: 1}
	w, err = Create(path, noFill)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHours([][]float32{noFill.Vars[0].Data[:12]}); err != nil {
		t.Fatal(err)
	}
	d = [][]float32{slices.Clone(noFill.Vars[0].Data[12:])}
	d[0][12+2] = float32(math.NaN())
	wantErr(w.WriteHours(d), "variable x: NaN at time 2, latitude 0, longitude 2 and no _FillValue or missing_value")
	w.Abort()
	onlyOld("Abort")
	w.Abort() // Again: nothing.

	// What Create refuses, before creating anything.
	for _, c := range []struct {
		change func(f *File)
		says   string
	}{
		{func(f *File) { f.Vars[0].Name = "a/b" }, `variable "a/b": not a valid netCDF name`},
		{func(f *File) { f.Vars[0].Name = "latitude" }, "variable latitude: the name of another coordinate or variable"},
		{func(f *File) { f.Vars[1].Name = "a" }, "variable a: the name of another coordinate or variable"},
		{func(f *File) { f.Vars[0].Attrs = append(f.Vars[0].Attrs, Attr{"bad", struct{}{}}) }, "variable a: attribute bad: type struct {} cannot be written"},
		{func(f *File) { f.Vars[0].Attrs = append(f.Vars[0].Attrs, Attr{"units", "K"}) }, "variable a: attribute units appears twice"},
		{func(f *File) { f.Global = append(f.Global, Attr{"float", 1.0}) }, `global attributes: attribute "float": not a valid netCDF name`},
		{func(f *File) { f.Vars[1].Packing = &Packing{Type: "int16"} }, "variable b: packing scale_factor 0 and add_offset 0 must be finite, the scale non-zero"},
		{func(f *File) { x := 0.5; f.Vars[1].Packing.MissingValue = &x }, "variable b: fill or missing value 0.5 is not an int16"},
		{func(f *File) { f.Vars[0].Shape = []int{8, 3, 4} }, "variable a has shape [8 3 4]"},
		{func(f *File) { f.Vars[0].Dims = []string{"time", "lat", "longitude"} }, "variable a has dimensions [time lat longitude]"},
		{func(f *File) { f.Lon.Type = "string" }, `coordinate longitude has type "string"`},
		{func(f *File) { f.Time.Values[3] = 1 << 40 }, "coordinate time has values outside the range of its type int32"},
		{func(f *File) { f.Lat.Type, f.Lat.Values[1] = "float32", 1e300 }, "coordinate latitude has values outside the range of its type float32"},
		{func(f *File) { f.Lat.Name = "time" }, "coordinate time: the name of another coordinate or variable"},
	} {
		g := Synthetic(9, 0, 3, 4, "a", "b")
		g.Vars[1].Packing = &Packing{Type: "int16", ScaleFactor: 0.5, AddOffset: 100, FillValue: &fill}
		c.change(g)
		w, err := Create(path, g)
		if err == nil {
			w.Abort()
		}
		wantErr(err, c.says)
	}
	onlyOld("refused Create")
	if _, err := Create(filepath.Join(dir, "no", "such", "dir.nc"), f); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Create in a missing directory: %v", err)
	}
}
