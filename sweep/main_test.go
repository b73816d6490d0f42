package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/internal/sweeptest"
)

// TestUnmetExpectationsFail is the command's part of fault 3: a point that misses the sweep's
// expectations makes the command fail (exit status 1), after every point has run and the
// table and figure are written.
func TestUnmetExpectationsFail(t *testing.T) {
	dataDir := sweeptest.DataDir(t)
	t.Setenv("GOMLX_BACKEND", "go")
	path := sweeptest.WriteSpec(t, sweeptest.Base, `{"base": "base.json",
		"axes": [{"key": "sweeptest_level", "values": [1, 2, 4]}], "metrics": ["level", "mse"],
		"expect": {"level": "<= 2"},
		"figure": {"x": "sweeptest_level", "panels": [{"metric": "mse"}]}}`)
	figure := filepath.Join(t.TempDir(), "sweep.svg")
	var out bytes.Buffer
	err := sweep.RunFile(&out, path, figure, sweep.Options{Dir: t.TempDir(), DataDir: dataDir, Quiet: true})
	var unmet *sweep.ExpectationsError
	if !errors.As(err, &unmet) || !strings.Contains(err.Error(), "1 of 3 points") || !strings.Contains(err.Error(), "sweeptest_level=4: expect level <= 2") {
		t.Fatalf("got error %v, want the point sweeptest_level=4 reported", err)
	}
	if !strings.Contains(out.String(), "| 4 | 4 |") {
		t.Errorf("the table of every point should be printed:\n%s", out.String())
	}
	if _, err := os.Stat(figure); err != nil {
		t.Errorf("the figure should be written: %v", err)
	}
}
