// Package readme holds the test that keeps the README's Go code true: every ```go block of the
// repository's README.md is a whole program, and each must compile against the current tree.
package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goBlock matches a fenced Go code block of Markdown.
var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

func TestREADMEProgramsCompile(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlock.FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```go block: this test guards the one it teaches with")
	}
	for i, b := range blocks {
		src := string(b[1])
		if !strings.HasPrefix(src, "package main\n") {
			t.Errorf("README.md Go block %d is not a whole program (package main): a reader cannot run it as is", i+1)
			continue
		}
		// Inside the module, so that its imports resolve to this checkout; the leading "_" keeps
		// the folder out of ./... patterns (internal/architecture lists the packages meanwhile).
		dir, err := os.MkdirTemp(filepath.Join(root, "internal", "readme"), "_snippet-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("go", "vet", ".")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("README.md Go block %d does not compile: %v\n%s", i+1, err, out)
		}
	}
}
