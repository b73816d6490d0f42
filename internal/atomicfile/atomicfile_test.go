package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new content")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "new content" {
		t.Fatalf("read %q, %v", got, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	assertOnly(t, dir, "a.json")
}

func TestAbortLeavesTheOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ckpt")
	if err := WriteFile(p, []byte("good")); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half"))
	f.Abort()
	f.Abort() // twice is harmless
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	got, _ := os.ReadFile(p)
	if string(got) != "good" {
		t.Errorf("after an aborted write the file holds %q", got)
	}
	assertOnly(t, dir, "ckpt")
}

func TestWriteWithError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.nc")
	boom := errors.New("boom")
	if err := WriteWith(p, func(tmp string) error {
		os.WriteFile(tmp, []byte("partial"), 0o644)
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	assertOnly(t, dir)
	if err := WriteWith(p, func(tmp string) error { return os.WriteFile(tmp, []byte("whole"), 0o600) }); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "whole" {
		t.Errorf("read %q", got)
	}
	assertOnly(t, dir, "x.nc")
}

func TestCreateInMissingDirectory(t *testing.T) {
	if _, err := Create(filepath.Join(t.TempDir(), "no", "such", "f")); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

// assertOnly checks that dir holds exactly the named files: no temporary file is left behind.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
	for i := range names {
		if got[i] != names[i] {
			t.Fatalf("directory holds %v, want %v", got, names)
		}
	}
}
