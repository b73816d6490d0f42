package netcdf

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// Environment variables of TestStreamingMemory: the directory of its files (set it to run
// the test), and the phase a child process of it runs.
const (
	memoryDirEnv   = "QZOO_NETCDF_MEMORY"
	memoryPhaseEnv = "QZOO_NETCDF_MEMORY_PHASE"
)

// memoryHours is the length of the files of TestStreamingMemory: a month of hours.
const memoryHours = 744

// TestStreamingMemory measures the peak resident memory of streaming a 0.25° global month,
// 744 hours of 721×1440 values: with QZOO_NETCDF_MEMORY=DIR (skipped without it), it writes
// DIR/month.nc with Create, one hour a call (t2m packed as int16 and u as float32: 4.6 GB, of
// which 3.1 GB for u), then reads one hour, 24 hours and the metadata (Inspect) of it, and
// one hour of netCDF-4 copies of a float32 field written by netCDF-C (testdata/variants.py
// big: contiguous, and deflated in chunks of one hour), each in a process of its own (this
// test binary), and reports each one's peak resident memory and that of its reader process.
// A whole read of month.nc (2·772 million values) is refused by the default
// ReadOptions.MaxValues; the bounds checked are far below what it would take.
//
//	QZOO_NETCDF_MEMORY=/tmp/big go test -run TestStreamingMemory -v ./formats/netcdf/
func TestStreamingMemory(t *testing.T) {
	dir := os.Getenv(memoryDirEnv)
	if dir == "" {
		t.Skipf("set %s to a directory with 10 GB free to run it", memoryDirEnv)
	}
	if runtime.GOOS != "linux" {
		t.Skip("peak memory is read from getrusage, on Linux")
	}
	if phase := os.Getenv(memoryPhaseEnv); phase != "" {
		if err := memoryPhase(dir, phase); err != nil {
			t.Fatal(err)
		}
		var self, children syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &self)
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
		fmt.Printf("PEAK %s %d %d\n", phase, self.Maxrss, children.Maxrss) // KiB
		return
	}
	if _, err := os.Stat(filepath.Join(dir, "big_chunked.nc")); err != nil {
		if out, err := exec.Command(python, "testdata/variants.py", "big", dir, fmt.Sprint(memoryHours)).CombinedOutput(); err != nil {
			t.Fatalf("testdata/variants.py big: %v\n%s", err, out)
		}
	}
	for _, c := range []struct {
		phase      string
		self, kids int64 // bounds, MiB
	}{
		{"write", 100, 0},
		{"read1", 100, 100},
		{"read24", 400, 800},
		{"inspect", 100, 100},
		{"read1-netcdf4-contiguous", 100, 100},
		{"read1-netcdf4-chunked", 100, 100},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStreamingMemory$", "-test.v")
		cmd.Env = append(os.Environ(), memoryPhaseEnv+"="+c.phase)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.phase, err, out)
		}
		var self, kids int64
		for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
			if strings.HasPrefix(sc.Text(), "PEAK "+c.phase+" ") {
				fmt.Sscanf(strings.TrimPrefix(sc.Text(), "PEAK "+c.phase+" "), "%d %d", &self, &kids)
			}
		}
		t.Logf("%-26s peak resident memory: this process %4d MiB, its reader process %4d MiB", c.phase, self>>10, kids>>10)
		if self == 0 || self>>10 > c.self || kids>>10 > max(c.kids, 1) && c.kids > 0 {
			t.Errorf("%s: peak resident memory %d MiB (bound %d), reader %d MiB (bound %d)\n%s", c.phase, self>>10, c.self, kids>>10, c.kids, out)
		}
	}
}

// memoryPhase runs one phase of TestStreamingMemory in this process.
func memoryPhase(dir, phase string) error {
	path := filepath.Join(dir, "month.nc")
	read := func(path string, start, count int, want int) error {
		f, err := Read(path, ReadOptions{TimeStart: start, TimeCount: count})
		if err != nil {
			return err
		}
		for _, v := range f.Vars {
			if len(v.Data) != want*count || v.Missing != 0 {
				return fmt.Errorf("%s: %d values, %d missing", v.Name, len(v.Data), v.Missing)
			}
		}
		return nil
	}
	const grid = 721 * 1440
	switch phase {
	case "write":
		return writeMonth(path)
	case "read1":
		return read(path, 400, 1, grid)
	case "read24":
		return read(path, 400, 24, grid)
	case "inspect":
		f, err := Inspect(path, ReadOptions{})
		if err != nil {
			return err
		}
		if f.TimeTotal != memoryHours || f.Vars[0].Shape[0] != memoryHours {
			return fmt.Errorf("inspected %d hours", f.TimeTotal)
		}
		return nil
	case "read1-netcdf4-contiguous":
		return read(filepath.Join(dir, "big_contiguous.nc"), 400, 1, grid)
	case "read1-netcdf4-chunked":
		return read(filepath.Join(dir, "big_chunked.nc"), 400, 1, grid)
	}
	return fmt.Errorf("no phase %q", phase)
}

// writeMonth writes 744 hours of t2m (int16-packed) and u (float32) on the 0.25° grid,
// one hour a call.
func writeMonth(path string) error {
	f := &File{
		Global: []Attr{{"Conventions", "CF-1.6"}},
		Time:   Coord{Name: "time", Type: "int32", Attrs: []Attr{{"units", "hours since 1900-01-01"}}},
		Lat:    Coord{Name: "latitude", Type: "float32", Attrs: []Attr{{"units", "degrees_north"}}},
		Lon:    Coord{Name: "longitude", Type: "float32", Attrs: []Attr{{"units", "degrees_east"}}},
	}
	for t := range memoryHours {
		f.Time.Values = append(f.Time.Values, float64(1_000_000+t))
	}
	for y := range 721 {
		f.Lat.Values = append(f.Lat.Values, 90-0.25*float64(y))
	}
	for x := range 1440 {
		f.Lon.Values = append(f.Lon.Values, 0.25*float64(x))
	}
	fill := -32767.0
	dims, shape := []string{"time", "latitude", "longitude"}, []int{memoryHours, 721, 1440}
	f.Vars = []*Variable{
		{Name: "t2m", Dims: dims, Shape: shape, Attrs: []Attr{{"units", "K"}},
			Packing: &Packing{Type: "int16", ScaleFactor: 0.002, AddOffset: 260, FillValue: &fill}},
		{Name: "u", Dims: dims, Shape: shape, Attrs: []Attr{{"units", "m s**-1"}}},
	}
	w, err := Create(path, f)
	if err != nil {
		return err
	}
	defer w.Abort()
	t2m, u := make([]float32, 721*1440), make([]float32, 721*1440)
	for t := range memoryHours {
		for i := range t2m {
			y := i / 1440
			t2m[i] = float32(260 + 30*math.Cos(float64(y)/721*math.Pi) + float64(t%24)/4)
			u[i] = float32(i%1440)/100 + float32(t)
		}
		if err := w.WriteHours([][]float32{t2m, u}); err != nil {
			return err
		}
	}
	return w.Close()
}
