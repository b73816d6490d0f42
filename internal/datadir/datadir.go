// Package datadir finds the real data that tests read, by the lookup the commands use, and
// fails the test when it is missing: a test of real data never skips because the data is not
// there.
//
// The data directory is $QZOO_DATA_DIR when set (the variable framework.DataDirEnv names, read
// by every command after its --data_dir flag), else ../shared/data beside the repository (the
// layout the developers' machines and CI have; see the README's "Data" section).
package datadir

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvVar is the environment variable of the data directory (framework.DataDirEnv; a test in
// framework keeps the two equal, since framework's own tests import this package).
const EnvVar = "QZOO_DATA_DIR"

// Root returns the data directory's path without checking it, for package-level paths of test
// files; a test that opens a file under it fails on its own when the file is missing (use
// [File] or [Dir] where a missing file would otherwise skip something).
func Root() string {
	if dir := os.Getenv(EnvVar); dir != "" {
		return dir
	}
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("..", "..", "shared", "data") // unreachable: the runtime knows this file
	}
	// here is <repo>/internal/datadir/datadir.go.
	return filepath.Join(filepath.Dir(here), "..", "..", "..", "shared", "data")
}

// Dir returns the data directory, failing t when it does not exist.
func Dir(t testing.TB) string {
	t.Helper()
	dir := Root()
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("datadir: the data directory %s is missing (set $%s, or put the shared data beside the repository): %v", dir, EnvVar, err)
	}
	return dir
}

// File returns the path of name (a path relative to the data directory, e.g.
// "weights/stories260K.bin"), failing t when the file is missing.
func File(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Dir(t), filepath.FromSlash(name))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("datadir: %s is missing from the data directory: %v", name, err)
	}
	return p
}
