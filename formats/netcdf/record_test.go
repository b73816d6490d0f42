package netcdf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// classicWithRecords returns a netCDF-3 classic file whose time dimension is unlimited, as
// older ERA5 downloads are: time(time) int and t2m(time, latitude, longitude) short are
// record variables, stored interleaved record by record; latitude and longitude are fixed.
// go-native-netcdf's writer cannot write records, so the test builds the bytes itself.
func classicWithRecords(raw [][]int16, ny, nx int, scale, offset float64, fill int16) []byte {
	nt := len(raw)
	var h bytes.Buffer
	put := func(v any) { binary.Write(&h, binary.BigEndian, v) }
	name := func(s string) {
		put(int32(len(s)))
		h.WriteString(s)
		h.Write(make([]byte, (4-len(s)%4)%4))
	}
	pad4 := func(n int) int { return (n + 3) &^ 3 }
	build := func(begins [4]int32) []byte {
		h.Reset()
		h.WriteString("CDF\x01")
		put(int32(nt))
		put([]int32{0x0A, 3})
		name("time")
		put(int32(0)) // Unlimited.
		name("latitude")
		put(int32(ny))
		name("longitude")
		put(int32(nx))
		put([]int32{0, 0})    // No global attributes.
		put([]int32{0x0B, 4}) // Four variables.
		name("time")
		put([]int32{1, 0, 0x0C, 1})
		name("units")
		put([]int32{2, 22})
		h.WriteString("hours since 1900-01-01\x00\x00")
		put([]int32{4, 4, begins[0]})
		name("latitude")
		put([]int32{1, 1, 0, 0, 5, int32(4 * ny), begins[1]})
		name("longitude")
		put([]int32{1, 2, 0, 0, 5, int32(4 * nx), begins[2]})
		name("t2m")
		put([]int32{3, 0, 1, 2, 0x0C, 3})
		name("scale_factor")
		put([]int32{6, 1})
		put(scale)
		name("add_offset")
		put([]int32{6, 1})
		put(offset)
		name("_FillValue")
		put([]int32{3, 1})
		put([]int16{fill, 0})
		put([]int32{3, int32(pad4(2 * ny * nx)), begins[3]})
		return slices.Clone(h.Bytes())
	}
	header := len(build([4]int32{}))
	latBegin := header
	lonBegin := latBegin + 4*ny
	recBegin := lonBegin + 4*nx
	out := build([4]int32{int32(recBegin), int32(latBegin), int32(lonBegin), int32(recBegin + 4)})
	h.Reset()
	h.Write(out)
	for y := range ny {
		put(float32(60 - y))
	}
	for x := range nx {
		put(float32(x))
	}
	for t := range nt {
		put(int32(1_000_000 + t))
		put(raw[t])
		h.Write(make([]byte, pad4(2*ny*nx)-2*ny*nx))
	}
	return h.Bytes()
}

func TestReadRecordVariables(t *testing.T) {
	const nt, ny, nx = 4, 3, 5 // 15 shorts a record: padded from 30 to 32 bytes.
	const scale, offset, fill = 0.01, 280.0, -32767
	raw := make([][]int16, nt)
	for i := range raw {
		for j := range ny * nx {
			raw[i] = append(raw[i], int16(100*i-7*j))
		}
	}
	data := classicWithRecords(raw, ny, nx, scale, offset, fill)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f, err := Read(write("records.nc", data), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := f.Vars[0]
	if v.Name != "t2m" || !slices.Equal(v.Shape, []int{nt, ny, nx}) || f.Time.Values[3] != 1_000_003 ||
		f.Time.Attr("units") != "hours since 1900-01-01" || f.Lat.Values[2] != 58 || f.Lon.Values[4] != 4 {
		t.Fatalf("read %s %v, time %v, lat %v, lon %v", v.Name, v.Shape, f.Time.Values, f.Lat.Values, f.Lon.Values)
	}
	for i := range nt {
		for j := range ny * nx {
			if want := float32(float64(raw[i][j])*scale + offset); math.Abs(float64(v.Data[i*ny*nx+j]-want)) > 0 {
				t.Fatalf("t2m[%d][%d] = %v, want %v", i, j, v.Data[i*ny*nx+j], want)
			}
		}
	}
	// The last record's padding may go; its values may not (the library would pad them with
	// fill values, and a value cut in half would pass for data).
	if _, err := Read(write("nopad.nc", data[:len(data)-2]), ReadOptions{}); err != nil {
		t.Errorf("without the last record's padding: %v", err)
	}
	cut := write("cut.nc", data[:len(data)-3])
	_, err = Read(cut, ReadOptions{})
	wantError(t, err, ErrNotNetCDF, cut, "variable t2m's data runs to byte", "truncated")

	raw[2][4] = fill
	holes := write("holes.nc", classicWithRecords(raw, ny, nx, scale, offset, fill))
	f, err = Read(holes, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Vars[0]; v.Missing != 1 || !math.IsNaN(float64(v.Data[(2*ny+0)*nx+4])) {
		t.Errorf("holes.nc: %d missing values, want 1 (NaN at time 2, latitude 0, longitude 4)", v.Missing)
	}
	wantError(t, f.Complete(), ErrMissingValues, holes, "variable t2m: 1 missing values (first at time 2, latitude 0, longitude 4)")
}
