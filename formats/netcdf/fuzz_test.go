package netcdf

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzRead reads arbitrary bytes as a netCDF file: Read must return whole data, finite or
// NaN where counted missing, or an error naming the file, and the fuzzing process must
// survive whatever the library does.
// The seed corpus holds small files derived from the real ones (three hours of the UK file
// written by Write, a truncation of it, a level variable over two hours), a small netCDF-4
// file, and netCDF-C-written files of testdata/variants.py cf. Every input starts a reader process: expect tens of executions a second.
//
//	go test -run '^$' -fuzz FuzzRead -fuzztime 5m ./formats/netcdf/
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	addWritten := func(name string, file *File, cut int) {
		p := filepath.Join(dir, name)
		if err := Write(p, file); err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		if cut > 0 {
			f.Add(data[:len(data)-cut])
		}
	}
	if _, err := os.Stat(ukFile); err == nil {
		uk, err := readUK()
		if err != nil {
			f.Fatal(err)
		}
		addWritten("uk3.nc", hoursOf(uk, 0, 3), 1000)
	}
	if _, err := os.Stat(levelFile); err == nil {
		q, err := Read(levelFile, ReadOptions{})
		if err != nil {
			f.Fatal(err)
		}
		addWritten("q2.nc", hoursOf(q, 0, 2), 0)
	}
	if data, err := os.ReadFile(surfaceFile); err == nil {
		f.Add(data)
	}
	addWritten("synthetic.nc", Synthetic(2, 2, 3, 4, "a", "b"), 0)
	// Files written by netCDF-C: chunked and deflated netCDF-4 with dense link storage, the
	// data store's layout, and netCDF-3 of 64-bit data with every integer type.
	cf := writeVariants(f, "cf")
	for _, name := range []string{"types_NETCDF4.nc", "types_NETCDF3_64BIT_DATA.nc", "cds.nc"} {
		data, err := os.ReadFile(filepath.Join(cf, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "fuzz.nc")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := Read(p, ReadOptions{Timeout: 30 * time.Second, MaxValues: 1 << 22})
		if checkOutcome(p, file, err) == "" {
			t.Fatalf("neither data nor a proper error: %v", err)
		}
		if err == nil {
			for _, v := range file.Vars {
				nan := 0
				for _, x := range v.Data {
					if math.IsInf(float64(x), 0) {
						t.Fatalf("variable %s holds %v", v.Name, x)
					}
					if x != x {
						nan++
					}
				}
				if nan != v.Missing {
					t.Fatalf("variable %s holds %d NaNs, %d missing values counted", v.Name, nan, v.Missing)
				}
			}
		}
	})
}

// FuzzCFDecode decodes arbitrary stored values with arbitrary coding attributes: the
// attributes must be refused with an error naming the variable, or decode so that the
// missing values counted are the NaNs returned, values equal to the _FillValue or a
// missing_value are missing, and every other value is stored·scale_factor + add_offset.
//
//	go test -run '^$' -fuzz FuzzCFDecode -fuzztime 1m ./formats/netcdf/
func FuzzCFDecode(f *testing.F) {
	f.Add(uint8(2), 0.01, 280.0, int64(-32767), uint8(1), int64(-32000), int64(-2000), int64(3000), uint8(1), false, []byte{1, 0, 0x01, 0x80, 0, 0x83})
	f.Add(uint8(0), 0.5, 10.0, int64(-1), uint8(2), int64(5), int64(5), int64(-6), uint8(2), true, []byte{4, 0xfb, 0xff, 7})
	f.Add(uint8(7), 1.0, 0.0, int64(0), uint8(3), int64(0), int64(0), int64(0), uint8(0), false, []byte{0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x3f})
	types := []string{"int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "float32", "float64"}
	f.Fuzz(func(t *testing.T, typeIndex uint8, scale, offset float64, fill int64, fillKind uint8, missing, lo, hi int64,
		rangeKind uint8, unsigned bool, raw []byte) {
		typ := types[int(typeIndex)%len(types)]
		attrs := []Attr{{"scale_factor", scale}, {"add_offset", offset}}
		switch fillKind % 4 { // absent, the variable's type, float32, float64
		case 1:
			attrs = append(attrs, Attr{"_FillValue", int16(fill)})
		case 2:
			attrs = append(attrs, Attr{"_FillValue", float32(fill)})
		case 3:
			attrs = append(attrs, Attr{"_FillValue", float64(fill) + 0.25*float64(fill&1)})
		}
		attrs = append(attrs, Attr{"missing_value", []int16{int16(missing), int16(missing >> 16)}})
		switch rangeKind % 3 {
		case 1:
			attrs = append(attrs, Attr{"valid_range", []int16{int16(lo), int16(hi)}})
		case 2:
			attrs = append(attrs, Attr{"valid_min", int8(lo)}, Attr{"valid_max", float32(hi)})
		}
		if unsigned {
			attrs = append(attrs, Attr{"_Unsigned", "true"})
		}
		c, err := newCFCoding("v", typ, attrs)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "variable v") {
				t.Fatalf("error %q does not name the variable", err)
			}
			return
		}
		size := storedTypes[typ] / 8
		values := make([]float64, len(raw)/size)
		for i := range values {
			values[i] = decodeValues(raw[i*size:(i+1)*size], typeOf(typ), binary.LittleEndian)[0]
		}
		out := make([]float32, len(values))
		nMissing, firstInf := c.decode(values, out)
		nan := 0
		for i, y := range out {
			x := values[i]
			if c.reinterp > 0 && x < 0 {
				x += math.Exp2(float64(c.reinterp))
			}
			if y != y {
				nan++
				continue
			}
			if slices.Contains(c.markers, x) {
				t.Fatalf("value %v equal to a marker %v decoded as %v", x, c.markers, y)
			}
			if want := float32(x*c.scale + c.offset); y != want && i != firstInf {
				t.Fatalf("value %v decoded as %v, want %v", x, y, want)
			}
		}
		if nan != nMissing {
			t.Fatalf("%d NaNs returned, %d missing counted", nan, nMissing)
		}
	})
}
