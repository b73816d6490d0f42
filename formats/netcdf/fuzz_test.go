package netcdf

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzRead reads arbitrary bytes as a netCDF file: Read must return whole, finite data or an
// error naming the file, and the fuzzing process must survive whatever the library does.
// The seed corpus holds small files derived from the real ones (three hours of the UK file
// written by Write, a truncation of it, a level variable over two hours) and a small
// netCDF-4 file. Every input starts a reader process: expect tens of executions a second.
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
				for _, x := range v.Data {
					if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
						t.Fatalf("variable %s holds %v", v.Name, x)
					}
				}
			}
		}
	})
}
