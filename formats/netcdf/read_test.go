package netcdf

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qzoo/qzoo/internal/datadir"
)

// sharedData is the ERA5 folder of the data directory (internal/datadir: $QZOO_DATA_DIR, else
// ../shared/data beside the repository).
var sharedData = datadir.Root() + "/era5/"

var (
	ukFile      = sharedData + "era5-2mt-2019-03-uk.nc"
	levelFile   = sharedData + "wam2layers/era5__ERA5_2022-08-31_ml_q.nc"
	surfaceFile = sharedData + "wam2layers/era5__ERA5_2022-08-31_sp.nc"
)

// needFile fails the test when the shared data is not there: a test of real data never skips.
func needFile(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("data file not available (see internal/datadir): %v", err)
	}
}

// readUK reads the UK file once for all the tests that need it.
var readUK = sync.OnceValues(func() (*File, error) { return Read(ukFile, ReadOptions{}) })

func TestReadUK(t *testing.T) {
	needFile(t, ukFile)
	start := time.Now()
	f, err := Read(ukFile, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Read %s through the reader process in %v", ukFile, time.Since(start))
	if f.Format != "netCDF-3" || f.SourceBytes != 2410272 {
		t.Errorf("format %q, %d bytes; want netCDF-3, 2410272", f.Format, f.SourceBytes)
	}
	v, err := f.Variable("t2m")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Shape, []int{744, 33, 49}) || !slices.Equal(v.Dims, []string{"time", "latitude", "longitude"}) {
		t.Fatalf("t2m: shape %v dims %v, want [744 33 49] [time latitude longitude]", v.Shape, v.Dims)
	}
	if f.Level != nil || f.Hours() != 744 || f.GridSize() != 33*49 {
		t.Errorf("level %v, %d hours, grid %d", f.Level, f.Hours(), f.GridSize())
	}
	lo, hi := slices.Min(v.Data), slices.Max(v.Data)
	if lo < 250 || hi > 300 {
		t.Errorf("t2m in [%v, %v] K, want within [250, 300]", lo, hi)
	}
	p := v.Packing
	if p == nil || p.Type != "int16" || p.FillValue == nil || *p.FillValue != -32767 || p.MissingValue == nil ||
		math.Abs(p.ScaleFactor-0.000394895123210825) > 1e-15 || math.Abs(p.AddOffset-278.619309388376) > 1e-9 {
		t.Errorf("packing %+v", p)
	}
	// Raw values read with netCDF4-python (set_auto_maskandscale(False)), unpacked by hand.
	for _, c := range []struct {
		t, y, x int
		raw     int16
	}{{0, 0, 0, 9637}, {5, 2, 7, 8000}, {743, 32, 48, 7180}, {100, 16, 24, 2887}} {
		want := float32(float64(c.raw)*p.ScaleFactor + p.AddOffset)
		if got := v.Data[(c.t*33+c.y)*49+c.x]; got != want {
			t.Errorf("t2m[%d,%d,%d] = %v, want %v (raw %d)", c.t, c.y, c.x, got, want, c.raw)
		}
	}
	if v.Units() != "K" {
		t.Errorf("units %q", v.Units())
	}
	_, err = f.Variable("u10")
	wantError(t, err, ErrNoVariable, ukFile, `no variable "u10" among those read (t2m)`)
	lat, lon := f.Lat.Values, f.Lon.Values
	if f.Lat.Name != "latitude" || len(lat) != 33 || lat[0] != 58 || lat[32] != 50 || lat[1] != 57.75 ||
		len(lon) != 49 || lon[0] != -10 || lon[48] != 2 || f.Lat.Type != "float32" {
		t.Errorf("latitude %v (%s), longitude %v", lat, f.Lat.Type, lon)
	}
	if f.Time.Attr("units") != "hours since 1900-01-01 00:00:00.0" || f.Time.Attr("calendar") != "gregorian" ||
		f.Time.Type != "int32" || f.Time.Values[0] != 1044552 || f.Time.Values[743] != 1045295 {
		t.Errorf("time %v... (%s) attrs %v", f.Time.Values[:2], f.Time.Type, f.Time.Attrs)
	}
	if h, _ := attrValue(f.Global, "history").(string); !strings.Contains(h, "grib_to_netcdf") {
		t.Errorf("global history %q", h)
	}
}

func TestReadNetCDF4(t *testing.T) {
	needFile(t, levelFile)
	f, err := Read(levelFile, ReadOptions{Variables: []string{"q"}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := f.Variable("q")
	if err != nil {
		t.Fatal(err)
	}
	if f.Format != "netCDF-4" || !slices.Equal(q.Shape, []int{24, 22, 41, 41}) || f.Level == nil || len(f.Level.Values) != 22 ||
		f.Level.Values[0] != 20 || f.Level.Values[21] != 137 {
		t.Fatalf("format %s, q shape %v, level %v", f.Format, q.Shape, f.Level)
	}
	p := q.Packing
	for _, c := range []struct {
		t, l, y, x int
		raw        int16
	}{{0, 0, 0, 0, -32695}, {3, 21, 10, 20, -14328}, {23, 5, 40, 40, -29022}} {
		want := float32(float64(c.raw)*p.ScaleFactor + p.AddOffset)
		if got := q.Data[((c.t*22+c.l)*41+c.y)*41+c.x]; got != want {
			t.Errorf("q[%d,%d,%d,%d] = %v, want %v", c.t, c.l, c.y, c.x, got, want)
		}
	}
	names, data := Channels(f)
	if len(names) != 22 || names[0] != "q@20" || names[21] != "q@137" || len(data[21]) != 24*41*41 ||
		data[21][(3*41+10)*41+20] != q.Data[((3*22+21)*41+10)*41+20] {
		t.Errorf("channels %v", names)
	}

	needFile(t, surfaceFile)
	s, err := Read(surfaceFile, ReadOptions{}) // Every field: sp only.
	if err != nil {
		t.Fatal(err)
	}
	sp, err := s.Variable("sp")
	if err != nil || len(s.Vars) != 1 || s.Level != nil || !slices.Equal(sp.Shape, []int{24, 41, 41}) {
		t.Fatalf("surface file: %v, vars %v, level %v", err, s.VariableNames(), s.Level)
	}
	if want := float32(25578*sp.Packing.ScaleFactor + sp.Packing.AddOffset); sp.Data[(12*41+20)*41+30] != want {
		t.Errorf("sp[12,20,30] = %v, want %v", sp.Data[(12*41+20)*41+30], want)
	}
	if sp.Units() != "Pa" || s.Lat.Values[0] != 55 || s.Lon.Values[1] != 0.25 {
		t.Errorf("units %q, lat %v, lon %v", sp.Units(), s.Lat.Values[:2], s.Lon.Values[:2])
	}
}

// wantError fails t unless err is an error that wraps kind (when not nil) and whose message
// names path and contains every one of parts.
func wantError(t *testing.T, err error, kind error, path string, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %s", path)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %q does not wrap %q", err, kind)
	}
	for _, p := range append([]string{path}, parts...) {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestReadBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	missing := filepath.Join(dir, "missing.nc")
	_, err := Read(missing, ReadOptions{})
	wantError(t, err, fs.ErrNotExist, missing)

	empty := write("empty.nc", nil)
	_, err = Read(empty, ReadOptions{})
	wantError(t, err, ErrNotNetCDF, empty, "empty")

	text := write("text.nc", []byte("time,t2m\n0,280.5\n"))
	_, err = Read(text, ReadOptions{})
	wantError(t, err, ErrNotNetCDF, text, `starts with "time,t2m"`)

	_, err = Read(dir, ReadOptions{})
	wantError(t, err, ErrNotNetCDF, dir, "not a regular file")

	magicOnly := write("magic.nc", []byte("CDF\x01"))
	_, err = Read(magicOnly, ReadOptions{})
	wantError(t, err, ErrNotNetCDF, magicOnly, "header is truncated")
}

func TestReadWrongRequests(t *testing.T) {
	needFile(t, ukFile)
	_, err := Read(ukFile, ReadOptions{Variables: []string{"t2m", "u10"}})
	wantError(t, err, ErrNoVariable, ukFile, `no variable "u10"`, "variables present: longitude, latitude, time, t2m")

	_, err = Read(ukFile, ReadOptions{Variables: []string{"latitude"}})
	wantError(t, err, ErrNotField, ukFile, "variable latitude has dimensions (latitude)", "not a gridded field")

	_, err = Read(ukFile, ReadOptions{MaxValues: 1000})
	wantError(t, err, ErrTooLarge, ukFile, "variable t2m", "1000")

	_, err = Read(ukFile, ReadOptions{Timeout: time.Millisecond})
	wantError(t, err, ErrReaderFailed, ukFile, "did not finish within 1ms")
}

// TestReadSurvivesLibraryExit reads a netCDF-4 file damaged so that the library calls
// log.Fatal, i.e. os.Exit(1): the reader process dies, the test process carries on.
func TestReadSurvivesLibraryExit(t *testing.T) {
	needFile(t, surfaceFile)
	data, err := os.ReadFile(surfaceFile)
	if err != nil {
		t.Fatal(err)
	}
	const offset = 1263 // A reserved byte that must be zero: the library's check calls Fatal.
	if data[offset] != 0 {
		t.Skipf("byte %d of %s is %#x, not the reserved 0 this test expects", offset, surfaceFile, data[offset])
	}
	data[offset] = 1
	p := filepath.Join(t.TempDir(), "fatal.nc")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Read(p, ReadOptions{})
	wantError(t, err, ErrReaderFailed, p, "the netCDF reader failed (exit status 1)", "Reserved not zero")
	t.Log(err)
}

func TestReadTruncated(t *testing.T) {
	needFile(t, ukFile)
	data, err := os.ReadFile(ukFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, n := range []int{3, 4, 40, 200, 600, 1000, 100_000, len(data) / 2, len(data) - 1} {
		p := filepath.Join(dir, fmt.Sprintf("uk-%d.nc", n))
		if err := os.WriteFile(p, data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Read(p, ReadOptions{})
		if n >= 1000 { // The header is whole: the data is cut short.
			wantError(t, err, ErrNotNetCDF, p, "variable t2m's data runs to byte 2410272", "truncated")
		} else {
			wantError(t, err, ErrNotNetCDF, p)
		}
	}
}

// TestReadMemoryLimit lets the reader map only 48 MiB more than it starts with, too little
// for a 4×1000×2000 field of float32 (32 MB, held twice): the reader must die, as it would
// when a damaged size slips through the checks, and Read must report the runtime's message
// ("runtime: out of memory: ...", or "runtime/cgo: pthread_create failed" when the limit
// hits a thread's stack first).
func TestReadMemoryLimit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the reader's memory is capped on Linux only")
	}
	p := filepath.Join(t.TempDir(), "big.nc")
	if err := Write(p, Synthetic(4, 0, 1000, 2000, "x")); err != nil {
		t.Fatal(err)
	}
	defer func(f func(ReadOptions) uint64) { readerMemoryLimit = f }(readerMemoryLimit)
	readerMemoryLimit = func(ReadOptions) uint64 { return 48 << 20 }
	_, err := Read(p, ReadOptions{})
	wantError(t, err, ErrReaderFailed, p, "the netCDF reader failed (exit status 2): runtime")
	t.Log(err)
}

// BenchmarkReadUK measures Read of the UK file (1.2 million values) through the reader
// process, against the same read done in this process, i.e. what the isolation costs.
func BenchmarkReadUK(b *testing.B) {
	needFile(b, ukFile)
	b.Run("reader-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := Read(ukFile, ReadOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("in-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := readInProcess(ukFile, ReadOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
