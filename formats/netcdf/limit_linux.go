package netcdf

import (
	"fmt"
	"os"
	"syscall"
)

// limitMemory caps this process's address space (the reader process only) at its current
// size plus extra bytes: an allocation beyond it fails, which the Go runtime reports as a
// fatal out-of-memory error, ending the reader instead of exhausting the machine's memory.
// Counting from the current size leaves room for whatever the binary's packages mapped
// before this package's init ran.
func limitMemory(extra uint64) {
	var pages uint64
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return // Best effort: without it, only ReadOptions.MaxValues bounds memory.
	}
	if _, err := fmt.Sscan(string(statm), &pages); err != nil {
		return
	}
	limit := pages*uint64(os.Getpagesize()) + extra
	if limit < extra { // Overflow: no limit.
		return
	}
	_ = syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit})
}
