//go:build unix

package framework

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the file a run holds locked in its directory while it runs.
const LockFile = ".lock"

// lockDir takes an exclusive lock on dir, so that two processes never train the same run
// directory at once (their checkpoints would interleave). The operating system releases the
// lock when the process ends, however it ends; release also does.
func lockDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("framework: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("framework: run directory %s is in use by another process", dir)
		}
		return nil, fmt.Errorf("framework: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
