package architecture

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoConflictMarkers: no text file of the repository holds a merge's conflict markers (a
// line starting "<<<<<<< " or ">>>>>>> "), as notebooks/README.md once did after a merge.
func TestNoConflictMarkers(t *testing.T) {
	root := filepath.Join("..", "..")
	text := map[string]bool{".go": true, ".md": true, ".json": true, ".sh": true, ".ipynb": true, ".py": true, ".yaml": true, ".yml": true, ".toml": true, ".mod": true, ".txt": true}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "runs" || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !text[filepath.Ext(p)] && d.Name() != "Dockerfile" && d.Name() != "run" {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		s.Buffer(make([]byte, 1<<20), 64<<20)
		for line := 1; s.Scan(); line++ {
			if l := s.Text(); strings.HasPrefix(l, "<<<<<<< ") || strings.HasPrefix(l, ">>>>>>> ") {
				t.Errorf("%s:%d: a merge conflict marker: %q", p, line, l)
			}
		}
		return s.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}
