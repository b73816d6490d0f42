// Package testbackend gives tests the pure-Go backend, the one every machine has, created once
// per test binary.
package testbackend

import (
	"sync"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers "go"
)

var (
	once    sync.Once
	backend compute.Backend
	err     error
)

// Go returns the shared pure-Go backend; it fails t when the backend cannot be created.
func Go(t testing.TB) compute.Backend {
	t.Helper()
	once.Do(func() { backend, err = compute.NewWithConfig("go") })
	if err != nil {
		t.Fatalf("creating the go backend: %v", err)
	}
	return backend
}
