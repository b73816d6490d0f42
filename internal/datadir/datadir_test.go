package datadir

import (
	"path/filepath"
	"testing"
)

func TestRootFollowsTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvVar, dir)
	if got := Root(); got != dir {
		t.Errorf("Root() = %s with $%s=%s", got, EnvVar, dir)
	}
	if got := Dir(t); got != dir {
		t.Errorf("Dir() = %s", got)
	}
}

func TestFileFindsSharedData(t *testing.T) {
	p := File(t, "weights/stories260K.bin")
	if filepath.Base(p) != "stories260K.bin" {
		t.Errorf("File returned %s", p)
	}
}
