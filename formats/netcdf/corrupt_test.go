package netcdf

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// corruptions returns n damaged copies of data, each with a description: truncations at
// random offsets, single bytes flipped in the first headerBytes, and several bytes flipped
// anywhere, in turn. The generator is seeded: the set is the same on every run.
func corruptions(data []byte, n, headerBytes int, seed uint64) (files [][]byte, what []string) {
	rng := rand.New(rand.NewPCG(seed, 0))
	for i := range n {
		b := append([]byte(nil), data...)
		switch i % 3 {
		case 0:
			cut := 1 + rng.IntN(len(b)-1)
			b = b[:cut]
			what = append(what, fmt.Sprintf("truncated to %d bytes", cut))
		case 1:
			at := rng.IntN(min(headerBytes, len(b)))
			b[at] ^= byte(1 + rng.IntN(255))
			what = append(what, fmt.Sprintf("byte %d flipped", at))
		case 2:
			var at []int
			for range 1 + rng.IntN(8) {
				at = append(at, rng.IntN(len(b)))
				b[at[len(at)-1]] ^= byte(1 + rng.IntN(255))
			}
			what = append(what, fmt.Sprintf("bytes %v flipped", at))
		}
		files = append(files, b)
	}
	return files, what
}

// TestReadCorrupted reads 50 damaged copies each of a netCDF-4 file and of the netCDF-3 UK
// file: every read must return either data that passes Read's checks or an error naming the
// file that wraps one of the package's errors; none may kill or hang the test process.
func TestReadCorrupted(t *testing.T) {
	dir := t.TempDir()
	for _, src := range []struct {
		path        string
		headerBytes int
	}{{surfaceFile, 4096}, {ukFile, 1024}} {
		t.Run(filepath.Base(src.path), func(t *testing.T) {
			needFile(t, src.path)
			data, err := os.ReadFile(src.path)
			if err != nil {
				t.Fatal(err)
			}
			files, what := corruptions(data, 50, src.headerBytes, 1)
			outcomes := map[string]int{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			work := make(chan int)
			for range 2 { // Two readers at a time: the machines this runs on have two cores.
				wg.Go(func() {
					for i := range work {
						p := filepath.Join(dir, fmt.Sprintf("%s-%02d.nc", filepath.Base(src.path), i))
						if err := os.WriteFile(p, files[i], 0o644); err != nil {
							t.Error(err)
							continue
						}
						f, err := Read(p, ReadOptions{Timeout: 30 * time.Second})
						outcome := checkOutcome(p, f, err)
						if outcome == "" {
							t.Errorf("%s (%s): neither data nor a proper error: %v", p, what[i], err)
						}
						mu.Lock()
						outcomes[outcome]++
						mu.Unlock()
					}
				})
			}
			for i := range files {
				work <- i
			}
			close(work)
			wg.Wait()
			t.Logf("outcomes of %d corruptions: %v", len(files), outcomes)
		})
	}
}

// checkOutcome classifies a Read of the damaged file p: "data" when f is whole, the
// sentinel an error wraps when it names p, "" when neither.
func checkOutcome(p string, f *File, err error) string {
	if err == nil {
		if f == nil || len(f.Vars) == 0 || f.Check() != nil {
			return ""
		}
		return "data"
	}
	if !strings.Contains(err.Error(), p) {
		return ""
	}
	for _, kind := range append(errorKinds[1:], fs.ErrNotExist) {
		if errors.Is(err, kind) {
			return kind.Error()
		}
	}
	return ""
}

// TestReadDamagedOffsets: a netCDF-3 header whose data offsets were damaged into another
// part of the file — into the header, over another variable's values, past its record — is
// refused naming the variable, never read as values (the other bytes read as numbers, with
// no error).
func TestReadDamagedOffsets(t *testing.T) {
	dir := t.TempDir()
	f := Synthetic(3, 0, 2, 3, "a", "b")
	good := filepath.Join(dir, "good.nc")
	if err := Write(good, f); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	l, err := cdfDataLayout(good, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	a, b := l.vars["a"], l.vars["b"]
	// The header stores each begin as a big-endian 4- or 8-byte offset: find a's.
	width := 4
	if data[3] != 1 {
		width = 8
	}
	enc := func(x int64) []byte {
		out := make([]byte, width)
		for i := range width {
			out[width-1-i] = byte(x >> (8 * i))
		}
		return out
	}
	at := strings.Index(string(data[:a.begin]), string(enc(a.begin)))
	if at < 0 || strings.Count(string(data[:a.begin]), string(enc(a.begin))) != 1 {
		t.Fatalf("cannot find variable a's offset %d in the header", a.begin)
	}
	for what, begin := range map[string]int64{"inside the": 0, "variable a": b.begin + 1} {
		bad := append([]byte(nil), data...)
		copy(bad[at:], enc(begin))
		p := filepath.Join(dir, "bad.nc")
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(p, ReadOptions{}); err == nil || !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), "a") {
			t.Errorf("a's values from byte %d: %v", begin, err)
		}
	}
}
