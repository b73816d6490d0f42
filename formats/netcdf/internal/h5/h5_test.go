package h5

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeHDF5 runs ../../testdata/variants.py hdf5 (Debian's python3-h5py, installed by
// scripts/install-deps.sh) into a new directory: a missing writer fails the test.
func writeHDF5(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("/usr/bin/python3", "../../testdata/variants.py", "hdf5", dir).CombinedOutput(); err != nil {
		t.Fatalf("../../testdata/variants.py hdf5 (needs /usr/bin/python3 with python3-netcdf4 and python3-h5py: scripts/install-deps.sh): %v\n%s", err, out)
	}
	return dir
}

func open(t testing.TB, path string) *File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(fh, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestChunkIndexes reads t2m, float32 of 5×6×7, from files in HDF5 1.10's format (superblock
// 3, layout message 4), chunked with a single chunk or a fixed array index (big-endian and
// deflated with shuffle too), and compares every value with what h5py wrote; the
// extensible-array and version-2 B-tree indexes are refused as unsupported, naming them.
func TestChunkIndexes(t *testing.T) {
	dir := writeHDF5(t)
	for _, c := range []struct{ name, layout, refusal string }{
		{"single", "chunked", ""},
		{"fixed", "chunked", ""},
		{"fixed_big_deflate", "chunked", ""},
		{"extensible", "", "extensible-array chunk index"},
		{"btree2", "", "version-2 B-tree chunk index"},
		{"fletcher", "chunked", ""},
	} {
		p := filepath.Join(dir, "h5_"+c.name+".nc")
		f := open(t, p)
		names, err := f.Datasets()
		if err != nil || !slices.Equal(names, []string{"latitude", "longitude", "t2m", "time"}) {
			t.Errorf("%s: datasets %v, %v", c.name, names, err)
		}
		d, err := f.Dataset("t2m")
		if c.refusal != "" {
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(fmt_(err), c.refusal) {
				t.Errorf("%s: error %v, want ErrUnsupported naming %q", c.name, err, c.refusal)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d.Layout != c.layout || !slices.Equal(d.Dims, []uint64{5, 6, 7}) || d.Type.String() != "float32" {
			t.Errorf("%s: layout %s dims %v type %v", c.name, d.Layout, d.Dims, d.Type)
		}
		raw, err := d.Read(1 << 20)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want, err := os.ReadFile(p + ".t2m.f32")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(raw, want) {
			t.Errorf("%s: values differ from those written (first: %v, want %v)", c.name,
				math.Float32frombits(binary.LittleEndian.Uint32(raw)), math.Float32frombits(binary.LittleEndian.Uint32(want)))
		}
		if _, err := d.Read(5*6*7 - 1); err == nil {
			t.Errorf("%s: Read beyond maxValues succeeded", c.name)
		}
	}
}

// TestFletcher32 damages one byte of a chunk checksummed with Fletcher-32: Read must refuse
// the dataset, naming the checksum, rather than return the damaged value.
func TestFletcher32(t *testing.T) {
	dir := writeHDF5(t)
	p := filepath.Join(dir, "h5_fletcher.nc")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	at, err := os.ReadFile(p + ".chunk0")
	if err != nil {
		t.Fatal(err)
	}
	off, err := strconv.Atoi(string(at))
	if err != nil || off <= 0 || off+8 >= len(data) {
		t.Fatalf("chunk offset %q: %v", at, err)
	}
	data[off+5] ^= 0x10
	f, err := Open(bytesReaderAt(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Dataset("t2m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(1 << 20); err == nil || !strings.Contains(err.Error(), "fails its Fletcher-32 checksum") {
		t.Errorf("a damaged chunk: %v, want a Fletcher-32 checksum failure", err)
	}
}

func fmt_(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzH5 opens arbitrary bytes as an HDF5 file and reads every dataset of its root group:
// errors are expected, panics, hangs and allocations beyond the file's size are not. The
// seeds are the files of TestChunkIndexes and netCDF-C-written netCDF-4 files (chunked,
// deflated, big-endian; dense link storage), so a short run starts from every structure read.
//
//	go test -run '^$' -fuzz FuzzH5 -fuzztime 5m ./formats/netcdf/internal/h5/
func FuzzH5(f *testing.F) {
	dir := writeHDF5(f)
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".nc") {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) { readAll(t, data) })
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, os.ErrInvalid
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestDamaged reads 200 damaged copies of each file of TestChunkIndexes (one to four random
// bytes replaced, or the file cut short): every read must end in an error or in values of the
// dataset's size, without a panic, and quickly. FuzzH5 explores further.
func TestDamaged(t *testing.T) {
	dir := writeHDF5(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".nc") {
			continue
		}
		orig, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			data := slices.Clone(orig)
			if i%10 == 9 {
				data = data[:rng.IntN(len(data))]
			} else {
				for range 1 + rng.IntN(4) {
					data[rng.IntN(len(data))] = byte(rng.Uint32())
				}
			}
			start := time.Now()
			readAll(t, data)
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("%s, damage %d: %v", e.Name(), i, el)
			}
		}
	}
}

// readAll opens data as an HDF5 file and reads every dataset of its root group; an error
// stops it, a read must return its dataset's size.
func readAll(t *testing.T, data []byte) {
	file, err := Open(bytesReaderAt(data), int64(len(data)))
	if err != nil {
		return
	}
	names, err := file.Datasets()
	if err != nil {
		return
	}
	for _, name := range names {
		d, err := file.Dataset(name)
		if err != nil {
			continue
		}
		raw, err := d.Read(1 << 20)
		if err == nil && uint64(len(raw)) != d.Len()*uint64(d.Type.Size) {
			t.Fatalf("dataset %s: %d bytes for %d values of %d bytes", name, len(raw), d.Len(), d.Type.Size)
		}
	}
}

// TestReadSlab reads slabs of every dataset of the files of TestChunkIndexes (contiguous
// coordinates; t2m chunked as a single chunk, a fixed array of chunks splitting every axis,
// big-endian and deflated, Fletcher-32 in a B-tree; the fill-value files contiguous): every
// slab must equal the same part of the whole dataset, and slabs outside it are refused.
func TestReadSlab(t *testing.T) {
	dir := writeHDF5(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	read, layouts := 0, map[string]int{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".nc") {
			continue
		}
		f := open(t, filepath.Join(dir, e.Name()))
		names, err := f.Datasets()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			d, err := f.Dataset(name)
			if err != nil {
				continue // the unsupported chunk indexes
			}
			whole, err := d.Read(1 << 20)
			if err != nil {
				continue // lzf
			}
			read++
			layouts[d.Layout+fmt.Sprint(len(d.Filters) > 0)]++
			size := uint64(d.Type.Size)
			for i := range 40 {
				start, count := make([]uint64, len(d.Dims)), slices.Clone(d.Dims)
				for k, s := range d.Dims {
					// Along the first axis (time) always; along the others one slab in two.
					if k == 0 || i%2 == 1 {
						start[k] = rng.Uint64N(s)
						count[k] = 1 + rng.Uint64N(s-start[k])
					}
				}
				got, err := d.ReadSlab(start, count, 1<<20)
				if err != nil {
					t.Fatalf("%s %s: slab %v+%v: %v", e.Name(), name, start, count, err)
				}
				want := slab(whole, d.Dims, start, count, size)
				if !slices.Equal(got, want) {
					t.Fatalf("%s %s (%s, chunks %v): slab %v+%v differs from the whole's", e.Name(), name, d.Layout, d.Chunk, start, count)
				}
			}
			over := slices.Clone(d.Dims)
			over[0]++
			if _, err := d.ReadSlab(make([]uint64, len(d.Dims)), over, 1<<20); err == nil || !strings.Contains(err.Error(), "outside") {
				t.Errorf("%s %s: a slab beyond the data: %v", e.Name(), name, err)
			}
			if _, err := d.ReadSlab(make([]uint64, len(d.Dims)), d.Dims, d.Len()-1); err == nil {
				t.Errorf("%s %s: a slab beyond maxValues was read", e.Name(), name)
			}
		}
	}
	if read < 20 || layouts["contiguousfalse"] == 0 || layouts["chunkedfalse"] == 0 || layouts["chunkedtrue"] == 0 {
		t.Errorf("%d datasets read, of layouts (with filters or not) %v", read, layouts)
	}
}

// TestReadSlabChunks checks that a slab reads only the chunks that hold it: t2m of 5×6×7
// in chunks of 2×4×3 is 3×2×3 chunks; one time step is in 2×3 of them.
func TestReadSlabChunks(t *testing.T) {
	dir := writeHDF5(t)
	for _, name := range []string{"fixed", "fletcher"} { // fixed-array and B-tree chunk indexes
		d, err := open(t, filepath.Join(dir, "h5_"+name+".nc")).Dataset("t2m")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			start, count []uint64
			chunks       int
		}{
			{[]uint64{2, 0, 0}, []uint64{1, 6, 7}, 6},
			{[]uint64{1, 0, 0}, []uint64{2, 6, 7}, 12},
			{[]uint64{4, 5, 6}, []uint64{1, 1, 1}, 1},
			{[]uint64{0, 0, 0}, []uint64{5, 6, 7}, 18},
		} {
			d.inflated = 0
			if _, err := d.ReadSlab(c.start, c.count, 1<<20); err != nil {
				t.Fatal(err)
			}
			if d.inflated != c.chunks {
				t.Errorf("%s: slab %v+%v read %d chunks, want %d", name, c.start, c.count, d.inflated, c.chunks)
			}
		}
	}
}

// slab cuts the slab (start, count) out of whole, row-major over dims, elements of size bytes.
func slab(whole []byte, dims, start, count []uint64, size uint64) []byte {
	var out []byte
	var rec func(k int, base uint64)
	rec = func(k int, base uint64) {
		if k == len(dims) {
			out = append(out, whole[base*size:(base+1)*size]...)
			return
		}
		for i := start[k]; i < start[k]+count[k]; i++ {
			rec(k+1, base*dims[k]+i)
		}
	}
	rec(0, 0)
	return out
}
