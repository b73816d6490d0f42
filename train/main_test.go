package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRejectsBadConfigs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string { return writeFile(t, dir, name, content) }
	unknown := write("unknown.json", `{"model": "vqae", "lerning_rate": 0.1}`)
	wrongType := write("type.json", `{"model": "vqae", "params": {"vq_codebook_size": "big"}}`)
	good := write("good.json", `{"model": "vqae"}`)
	for _, tc := range []struct{ config, set, want string }{
		{"", "", "--config is required"},
		{filepath.Join(dir, "missing.json"), "", "missing.json"},
		{unknown, "", `unknown.json: unknown key "lerning_rate"`},
		{wrongType, "", "type.json: key params.vq_codebook_size: got string big, want int"},
		{good, "vq_typ=fsq", `unknown key "vq_typ"`},
		{good, "vq_type=nope", ""},
	} {
		runDir := filepath.Join(dir, "run")
		err := run(tc.config, tc.set, runDir, filepath.Join(dir, "no-data-here"), true)
		if tc.want == "" {
			// An unknown quantizer is only found when the graph is built: it must still be an
			// error, and it must leave no checkpoint behind.
			if err == nil || !strings.Contains(err.Error(), "vq_type") {
				t.Errorf("config %s set %q: got %v, want an error naming vq_type", tc.config, tc.set, err)
			}
			if ckpts, _ := filepath.Glob(filepath.Join(runDir, "ckpt-*")); len(ckpts) != 0 {
				t.Errorf("a failed run left checkpoints: %v", ckpts)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q set %q: got %v, want an error containing %q", tc.config, tc.set, err, tc.want)
		}
	}
}

// Fault 3: a config whose expect conditions fail makes the command fail (exit status 1 from
// main), while one whose conditions hold succeeds. It trains two steps on real Fashion-MNIST.
func TestExpectationsDecideExitStatus(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string { return writeFile(t, dir, name, content) }
	base := `"model": "vqae", "steps": 2, "batch_size": 16, "eval_examples": 50, "checkpoint_every": 0`
	failing := write("failing.json", `{`+base+`, "expect": {"psnr": ">= 99", "mse": ">= 0"}}`)
	passing := write("passing.json", `{`+base+`, "expect": {"mse": ">= 0"}}`)
	err := run(failing, "", filepath.Join(dir, "failing"), "", true)
	if err == nil || !strings.Contains(err.Error(), "expectations not met") {
		t.Errorf("failing expectations: got %v, want an error", err)
	}
	if err := run(passing, "", filepath.Join(dir, "passing"), "", true); err != nil {
		t.Errorf("met expectations: %v", err)
	}
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
