// Package testbackend gives tests the pure-Go backend, the one every machine has, and every
// backend this machine has (framework.AvailableBackends), each created once per test binary, and
// a gradient check against finite differences to run on each.
package testbackend

import (
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers "go"
	"github.com/qzoo/qzoo/framework"
)

var (
	once    sync.Once
	backend compute.Backend
	err     error

	allOnce   sync.Once
	allSpecs  []string
	allBySpec map[string]compute.Backend
	allErr    error
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

// All returns the specs of framework.AvailableBackends ("go" first; "onnx:..." when ONNX Runtime
// is installed, compiled in wherever cgo is; "xla:..." when a PJRT plugin is found) and their
// backends; it fails t when one cannot be created.
func All(t testing.TB) ([]string, map[string]compute.Backend) {
	t.Helper()
	allOnce.Do(func() {
		allSpecs = framework.AvailableBackends()
		allBySpec = map[string]compute.Backend{}
		for _, spec := range allSpecs {
			b, err := framework.NewBackendFromSpec(spec)
			if err != nil {
				allErr = err
				return
			}
			allBySpec[spec] = b
		}
	})
	if allErr != nil {
		t.Fatalf("creating the available backends: %v", allErr)
	}
	return allSpecs, allBySpec
}

// ForEach runs fn as a subtest, named after the backend ("go", "onnx", "xla"), on every backend of All.
func ForEach(t *testing.T, fn func(t *testing.T, backend compute.Backend)) {
	t.Helper()
	specs, bySpec := All(t)
	for _, spec := range specs {
		name, _, _ := strings.Cut(spec, ":")
		t.Run(name, func(t *testing.T) { fn(t, bySpec[spec]) })
	}
}
