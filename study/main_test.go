package main

import (
	"io"
	"strings"
	"testing"
)

// TestRunDirAlias: --runs, the former name of --dir, sets the same directory.
func TestRunDirAlias(t *testing.T) {
	for _, name := range []string{"--dir", "--runs"} {
		c := newFlags("kv", "configs/kv", "runs/kv", "figures/kv_cache.png")
		if err := c.fs.Parse([]string{name, "elsewhere"}); err != nil {
			t.Fatal(err)
		}
		if c.dir != "elsewhere" {
			t.Errorf("%s elsewhere: run root %q", name, c.dir)
		}
	}
}

// TestUnknownRow: --rows naming no row of the kv study fails before anything runs.
func TestUnknownRow(t *testing.T) {
	err := runKV([]string{"--rows", "no_such_row", "--dir", t.TempDir()}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no_such_row") {
		t.Errorf("got %v, want an error naming the row", err)
	}
}
