package main

import (
	"io"
	"strings"
	"testing"
)

// TestUnknownPoint: --rows (the former name of --points) naming no point of the kv study fails
// before anything runs, naming it.
func TestUnknownPoint(t *testing.T) {
	t.Chdir("..")
	err := run("kv", []string{"--rows", "no_such_row", "--dir", t.TempDir()}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no_such_row") {
		t.Errorf("got %v, want an error naming the point", err)
	}
}

// TestUnknownStudy names the missing study file.
func TestUnknownStudy(t *testing.T) {
	t.Chdir("..")
	err := run("nope", nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "configs/nope/study.json") {
		t.Errorf("got %v, want an error naming configs/nope/study.json", err)
	}
}
