package netcdf

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hoursOf returns a deep copy of f restricted to the hours [t0, t1).
func hoursOf(f *File, t0, t1 int) *File {
	g := *f
	g.Time.Values = slices.Clone(f.Time.Values[t0:t1])
	g.Vars = nil
	for _, v := range f.Vars {
		w := *v
		w.Shape = slices.Clone(v.Shape)
		w.Shape[0] = t1 - t0
		step := len(v.Data) / v.Shape[0]
		w.Data = slices.Clone(v.Data[t0*step : t1*step])
		if v.Packing != nil {
			p := *v.Packing
			w.Packing = &p
		}
		g.Vars = append(g.Vars, &w)
	}
	return &g
}

// maxAbsDiff returns the largest |a_i − b_i|.
func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func TestWriteRoundTrip(t *testing.T) {
	needFile(t, ukFile)
	uk, err := readUK()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "uk.nc")
	if err := Write(out, uk); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d entries after Write, want only the file", len(entries))
	}
	back, err := Read(out, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Format != "netCDF-3" {
		t.Errorf("format %s", back.Format)
	}
	for _, c := range [][2]*Coord{{&uk.Time, &back.Time}, {&uk.Lat, &back.Lat}, {&uk.Lon, &back.Lon}} {
		if !slices.Equal(c[0].Values, c[1].Values) || c[0].Type != c[1].Type || !slices.EqualFunc(c[0].Attrs, c[1].Attrs, equalAttr) {
			t.Errorf("coordinate %s: %v %s %v, written back as %v %s %v", c[0].Name, c[0].Values[:2], c[0].Type, c[0].Attrs,
				c[1].Values[:2], c[1].Type, c[1].Attrs)
		}
	}
	if !slices.EqualFunc(uk.Global, back.Global, equalAttr) {
		t.Errorf("global attributes %v, written back as %v", uk.Global, back.Global)
	}
	v, w := uk.Vars[0], back.Vars[0]
	if !slices.EqualFunc(v.Attrs, w.Attrs, equalAttr) || *v.Packing.FillValue != *w.Packing.FillValue ||
		v.Packing.ScaleFactor != w.Packing.ScaleFactor || v.Packing.AddOffset != w.Packing.AddOffset {
		t.Errorf("t2m attributes %v, written back as %v", v.Attrs, w.Attrs)
	}
	// The values were unpacked from int16 and re-packed with the same packing: the same raw
	// values, up to float32 rounding of the physical value.
	if d := maxAbsDiff(v.Data, w.Data); d > v.Packing.ScaleFactor/2 {
		t.Errorf("t2m differs by up to %g after the round trip, more than half a packing step %g", d, v.Packing.ScaleFactor/2)
	}
	if ncdump, err := exec.LookPath("ncdump"); err == nil {
		header, err := exec.Command(ncdump, "-h", out).CombinedOutput()
		if err != nil || !strings.Contains(string(header), "short t2m(time, latitude, longitude)") ||
			!strings.Contains(string(header), "t2m:scale_factor = 0.000394895123210825") {
			t.Errorf("ncdump -h: %v\n%s", err, header)
		}
	}
}

func equalAttr(a, b Attr) bool {
	if a.Name != b.Name {
		return false
	}
	x, okx := attrFloat(a.Value)
	y, oky := attrFloat(b.Value)
	if okx && oky {
		return x == y || math.IsNaN(x) && math.IsNaN(y)
	}
	return a.Value == b.Value
}

// TestWriteLevels writes a netCDF-4 variable with levels to netCDF-3 and reads it back.
func TestWriteLevels(t *testing.T) {
	needFile(t, levelFile)
	f, err := Read(levelFile, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "q.nc")
	if err := Write(out, f); err != nil {
		t.Fatal(err)
	}
	back, err := Read(out, ReadOptions{Variables: []string{"q"}})
	if err != nil {
		t.Fatal(err)
	}
	q, bq := f.Vars[0], back.Vars[0]
	if back.Format != "netCDF-3" || back.Level == nil || !slices.Equal(back.Level.Values, f.Level.Values) ||
		back.Level.Type != "int32" || !slices.Equal(bq.Shape, q.Shape) || !slices.Equal(bq.Dims, q.Dims) {
		t.Fatalf("written back: %s, level %v, q %v %v", back.Format, back.Level, bq.Dims, bq.Shape)
	}
	if d := maxAbsDiff(q.Data, bq.Data); d > q.Packing.ScaleFactor/2 {
		t.Errorf("q differs by up to %g, more than half a packing step %g", d, q.Packing.ScaleFactor/2)
	}
	if fill, _ := attrFloat(back.Lat.Attr("_FillValue")); !math.IsNaN(fill) {
		t.Errorf("latitude _FillValue %v, want NaN as in the source", back.Lat.Attr("_FillValue"))
	}
}

// TestWriteFillValues writes NaNs, which become fill values, and checks that Read refuses
// the field, naming the file, the variable, the count and the first position.
func TestWriteFillValues(t *testing.T) {
	needFile(t, ukFile)
	uk, err := readUK()
	if err != nil {
		t.Fatal(err)
	}
	f := hoursOf(uk, 0, 10)
	v := f.Vars[0]
	for _, i := range [][3]int{{7, 1, 2}, {5, 2, 7}, {9, 32, 48}} {
		v.Data[(i[0]*33+i[1])*49+i[2]] = float32(math.NaN())
	}
	out := filepath.Join(t.TempDir(), "holes.nc")
	if err := Write(out, f); err != nil {
		t.Fatal(err)
	}
	back, err := Read(out, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range back.Vars[0].Data {
		if math.IsNaN(float64(x)) != math.IsNaN(float64(v.Data[i])) {
			t.Fatalf("value %d: read %v, wrote %v", i, x, v.Data[i])
		}
	}
	wantError(t, back.Complete(), ErrMissingValues, out, "variable t2m: 3 missing values (first at time 5, latitude 2, longitude 7)")
}

// TestWriteFloats writes unpacked float32 fields, which must come back exactly, and a NaN in
// one, which Read returns as missing and Complete refuses.
func TestWriteFloats(t *testing.T) {
	f := Synthetic(6, 0, 3, 4, "temp", "wind")
	f.Vars[1].Attrs = append(f.Vars[1].Attrs, Attr{"scale_factor", 2.0}) // Dropped: the data is unpacked.
	dir := t.TempDir()
	out := filepath.Join(dir, "floats.nc")
	if err := Write(out, f); err != nil {
		t.Fatal(err)
	}
	back, err := Read(out, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range back.Vars {
		if v.Packing != nil || !slices.Equal(v.Data, f.Vars[i].Data) || v.Attr("scale_factor") != nil {
			t.Errorf("%s: packing %v, attrs %v, data equal %v", v.Name, v.Packing, v.Attrs, slices.Equal(v.Data, f.Vars[i].Data))
		}
	}
	f.Vars[1].Data[3*4+1] = float32(math.NaN()) // Time 1, latitude 0, longitude 1.
	if err := Write(out, f); err != nil {
		t.Fatal(err)
	}
	back, err = Read(out, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, back.Complete(), ErrMissingValues, out, "variable wind: 1 missing values (first at time 1, latitude 0, longitude 1)")
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "bad.nc")
	f := Synthetic(2, 0, 2, 2, "x")
	f.Lat.Type = "string"
	if err := Write(out, f); err == nil || !strings.Contains(err.Error(), out) || !strings.Contains(err.Error(), "latitude") {
		t.Errorf("bad coordinate type: %v", err)
	}
	f = Synthetic(2, 0, 2, 2, "x")
	f.Time.Values[1] = 3e9
	if err := Write(out, f); err == nil || !strings.Contains(err.Error(), "coordinate time has values outside the range of its type int32") {
		t.Errorf("time beyond int32: %v", err)
	}
	f = Synthetic(2, 0, 2, 2, "x")
	f.Vars[0].Data = f.Vars[0].Data[1:]
	if err := Write(out, f); err == nil || !strings.Contains(err.Error(), "variable x") {
		t.Errorf("short data: %v", err)
	}
	f = Synthetic(2, 0, 2, 2, "x")
	f.Vars[0].Packing = &Packing{Type: "int16", ScaleFactor: 1}
	f.Vars[0].Data[0] = float32(math.NaN())
	if err := Write(out, f); err == nil || !strings.Contains(err.Error(), "no _FillValue") {
		t.Errorf("NaN without a fill value: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left %d entries behind", len(entries))
	}
	if err := Write(filepath.Join(dir, "no", "such", "dir.nc"), Synthetic(2, 0, 2, 2, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("write into a missing directory: %v", err)
	}
}

func TestPack(t *testing.T) {
	fill, missing := -32767.0, 0.0
	p := &Packing{Type: "int16", ScaleFactor: 0.5, AddOffset: 100, FillValue: &fill, MissingValue: &missing}
	v := &Variable{Name: "x", Dims: []string{"time", "latitude", "longitude"}, Shape: []int{1, 1, 8},
		Data: []float32{100.5, 99.9, 100.1, 2e4, -2e4, 100 - 0.5*32767, float32(math.NaN()), 100.74}}
	raw, err := p.pack(v)
	if err != nil {
		t.Fatal(err)
	}
	// 100.5 → 1; 99.9 → −0.2 rounds to the missing value 0, nudged towards the value to −1;
	// 100.1 → 0.2 → 0, nudged to 1; values past the range's ends (by less than its width)
	// clamp to 32767 and −32768; a value exactly on the fill value −32767 goes to the
	// neighbour below, −32768; NaN → the fill value; 100.74 → 1.48 → 1.
	want := []int16{1, -1, 1, 32767, -32768, -32768, -32767, 1}
	if !slices.Equal(raw, want) {
		t.Errorf("pack = %v, want %v", raw, want)
	}
	v.Data = []float32{float32(math.Inf(1))}
	v.Shape = []int{1, 1, 1}
	if _, err := p.pack(v); err == nil {
		t.Error("packing +Inf gave no error")
	}
	// Packings that cannot hold the values, as a corrupt header could give: a value a whole
	// range past an end, a range too narrow or too wide for them, a range that unpacks
	// beyond float32. Each is refused naming the variable, none is clamped into wrong numbers.
	v.Shape = []int{1, 1, 2}
	for _, c := range []struct {
		scale, offset float64
		data          []float32
		want          string
	}{
		{0.5, 100, []float32{100, 1e9}, "beyond the packing's range"},
		{1e-300, 278, []float32{278.6, 290}, "beyond the packing's range"},
		{1e30, 278, []float32{278.6, 290}, "would round to a few steps"},
		{1e300, 278, []float32{278.6, 290}, "beyond float32"},
		{1, 1e308, []float32{278.6, 290}, "beyond float32"},
	} {
		v.Data = c.data
		q := &Packing{Type: "int16", ScaleFactor: c.scale, AddOffset: c.offset}
		if _, err := q.pack(v); err == nil || !strings.Contains(err.Error(), "variable x") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("scale %v, offset %v, values %v: %v", c.scale, c.offset, c.data, err)
		}
	}
}
