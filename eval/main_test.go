package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunErrors(t *testing.T) {
	if err := run("", "", "", ""); err == nil || !strings.Contains(err.Error(), "--checkpoint is required") {
		t.Errorf("no directory: %v", err)
	}
	empty := t.TempDir()
	if err := run(empty, "", "", ""); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty directory: %v, want an error naming it", err)
	}
	// A run directory whose config is fine but whose checkpoint is truncated.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model": "vqae"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "ckpt-0000000010.ckpt")
	if err := os.WriteFile(ckpt, []byte("QZOOCKPT\x01\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(dir, "", "", "")
	if err == nil || !strings.Contains(err.Error(), ckpt) {
		t.Errorf("truncated checkpoint: %v, want an error naming %s", err, ckpt)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "eval.json")); !os.IsNotExist(statErr) {
		t.Error("a failed evaluation wrote eval.json")
	}
}
