// Package peers holds the Python peers of the bench command's benchmarks — the same
// computation written in PyTorch, run in a child process on the same machine in the same run
// — and their shared helper module qzoo_peer.py (environment, timing, the one JSON line).
// Package bench/harness runs them from a temporary copy of Files.
package peers

import "embed"

// Files are the peers' scripts and qzoo_peer.py.
//
//go:embed *.py
var Files embed.FS
