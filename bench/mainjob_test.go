package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGo writes a shell script standing in for the go command: it prints out and exits with
// status code, as `go run ./train` would.
func fakeGo(t *testing.T, out string, code int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "go")
	script := "#!/bin/sh\ncat <<'END'\n" + out + "\nEND\nexit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// The train command's time line is kept; a run that fails only its expectations (a shortened
// job) is measured and says so; any other failure, or no time line, is an error.
func TestRunTrainCommand(t *testing.T) {
	const line = "setup 0.5 s, init 0.4 s, first step 0.6 s, 999 steps 50.0 s, eval 2.0 s, save 0.1 s, other 0.0 s, total 53.6 s"
	ok := "trained 1000 steps (18.65 steps/s); run directory x\ntime: " + line + "\nexpect psnr >= 19: got 20.05 — ok"
	for _, tc := range []struct {
		name, out string
		code      int
		wantErr   string
		wantMet   bool
	}{
		{"met", ok, 0, "", true},
		{"expectations not met", ok + "\ntrain: config c: expectations not met (see above)", 1, "", false},
		{"failed", "train: framework: training vqae: boom", 1, "boom", false},
		{"no time line", "trained 1000 steps", 0, "trained 1000 steps", false},
		{"failed after the time line", ok + "\ntrain: something else", 1, "something else", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seconds, round, err := runTrainCommand(fakeGo(t, tc.out, tc.code), t.TempDir(), "c.json", "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if round.TimeLine != line || round.ExpectationsMet != tc.wantMet || !(seconds > 0) {
				t.Errorf("got %.3f s, %+v; want the time line and expectations met %v", seconds, round, tc.wantMet)
			}
		})
	}
}
