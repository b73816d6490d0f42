package vaeformer

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestPinsOnOtherArchitectures cross-compiles the pinned tests of the decoder-reproduced path
// (this package's TestDecoderPathPinned and the GELU and dense kernels against their
// references; internal/detmath's TestResultsPinned) for arm64 (FMA fusion in plain Go code),
// ppc64le (the same), s390x (big-endian, and the math package's own assembly) and riscv64,
// and runs them under qemu-user (Debian's qemu-user-static, which scripts/install-deps.sh
// installs): each must give this machine's pinned bytes. A missing emulator fails the test;
// it is skipped only under -short (each architecture costs about a minute on two cores).
func TestPinsOnOtherArchitectures(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles and emulates four architectures (minutes): skipped under -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	bin := t.TempDir()
	// Each GOARCH with its qemu-user name.
	for _, arch := range [][2]string{{"arm64", "aarch64"}, {"ppc64le", "ppc64le"}, {"s390x", "s390x"}, {"riscv64", "riscv64"}} {
		if arch[0] == runtime.GOARCH {
			continue
		}
		qemu, err := exec.LookPath("qemu-" + arch[1] + "-static")
		if err != nil {
			t.Errorf("%s: no emulator (install qemu-user-static: scripts/install-deps.sh): %v", arch[0], err)
			continue
		}
		for _, pkg := range []struct{ dir, run string }{
			{"internal/detmath", "TestResultsPinned"},
			{"models/vaeformer", "TestDecoderPathPinned|TestGeluSliceMatchesGelu|TestDenseMatchesReference"},
		} {
			exe := filepath.Join(bin, filepath.Base(pkg.dir)+"."+arch[0])
			build := exec.Command(goCmd, "test", "-c", "-o", exe, "./"+pkg.dir)
			build.Dir, build.Env = root, append(os.Environ(), "GOARCH="+arch[0], "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("%s: go test -c ./%s: %v\n%s", arch[0], pkg.dir, err, out)
			}
			run := exec.Command(qemu, exe, "-test.count=1", "-test.run", pkg.run)
			run.Dir = filepath.Join(root, pkg.dir)
			out, err := run.CombinedOutput()
			if err != nil {
				t.Errorf("%s: %s under %s: %v\n%s", arch[0], pkg.dir, filepath.Base(qemu), err, out)
				continue
			}
			t.Logf("%s: %s: %s", arch[0], pkg.dir, out)
		}
	}
}
