package framework

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeProbe builds a probe over real temporary files but a fake environment and home directory. The
// glob function only sees files under root, so the machine's own plugins and libraries never leak in;
// "/dev/nvidia*" is answered by gpu.
func fakeProbe(t *testing.T, root string, env map[string]string, gpu, xla, onnx bool) backendProbe {
	t.Helper()
	sys := systemProbe()
	return backendProbe{
		lookupEnv: func(key string) (string, bool) {
			v, ok := env[key]
			return v, ok
		},
		isFile: func(path string) bool {
			return strings.HasPrefix(path, root) && sys.isFile(path)
		},
		glob: func(pattern string) []string {
			if pattern == "/dev/nvidia*" {
				if gpu {
					return []string{"/dev/nvidia0"}
				}
				return nil
			}
			if !strings.HasPrefix(pattern, root) {
				return nil
			}
			return sys.glob(pattern)
		},
		homeDir:    filepath.Join(root, "home"),
		xlaLinked:  xla,
		onnxLinked: onnx,
	}
}

func touch(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not really a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestChooseBackend(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	jaxPlugin := touch(t, filepath.Join(root, "site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"))
	cpuPlugin := touch(t, filepath.Join(root, "pjrt/pjrt_c_api_cpu_plugin.so"))
	touch(t, filepath.Join(root, "pjrt/README.txt"))
	cudaDir := filepath.Join(root, "pjrt-cuda")
	cudaPlugin := touch(t, filepath.Join(cudaDir, "pjrt_c_api_cuda_plugin.so"))
	touch(t, filepath.Join(cudaDir, "pjrt_c_api_cpu_plugin.so"))
	homePlugin := touch(t, filepath.Join(home, ".local/lib/go-xla/pjrt_c_api_cpu_plugin.so"))
	ortEnv := touch(t, filepath.Join(root, "ort/libonnxruntime.so.1.30.0"))
	xdgCache := filepath.Join(root, "xdg")
	ortXDG := touch(t, filepath.Join(xdgCache, "qzoo/onnxruntime/libonnxruntime.so.1"))
	emptyHome := filepath.Join(root, "nohome")

	tests := []struct {
		name            string
		env             map[string]string
		gpu, xla, onnx  bool
		noHome          bool // a home directory without go-xla plugins
		wantSpec        string
		wantReasonParts []string
	}{
		{name: "GOMLX_BACKEND wins over everything",
			env: map[string]string{EnvBackend: "go:parallelism=2", EnvPJRTPlugin: jaxPlugin, EnvONNXRuntime: ortEnv},
			xla: true, onnx: true,
			wantSpec: "go:parallelism=2", wantReasonParts: []string{"GOMLX_BACKEND=go:parallelism=2"}},
		{name: "QZOO_PJRT_PLUGIN file",
			env: map[string]string{EnvPJRTPlugin: jaxPlugin, EnvONNXRuntime: ortEnv},
			xla: true, onnx: true,
			wantSpec: "xla:" + jaxPlugin, wantReasonParts: []string{"PJRT plugin found at " + jaxPlugin}},
		{name: "PJRT_PLUGIN_LIBRARY_PATH pointing at a file",
			env:      map[string]string{EnvPJRTLibraryPath: jaxPlugin},
			xla:      true,
			wantSpec: "xla:" + jaxPlugin},
		{name: "PJRT_PLUGIN_LIBRARY_PATH directory with a plugin",
			env:      map[string]string{EnvPJRTLibraryPath: "/nonexistent:" + filepath.Dir(cpuPlugin)},
			xla:      true,
			wantSpec: "xla:" + cpuPlugin},
		{name: "CUDA plugin preferred when a GPU exists",
			env: map[string]string{EnvPJRTLibraryPath: cudaDir},
			gpu: true, xla: true,
			wantSpec: "xla:" + cudaPlugin},
		{name: "CUDA plugin skipped without a GPU",
			env:      map[string]string{EnvPJRTLibraryPath: cudaDir},
			xla:      true,
			wantSpec: "xla:" + filepath.Join(cudaDir, "pjrt_c_api_cpu_plugin.so")},
		{name: "go-xla default directory under home",
			env:      map[string]string{},
			xla:      true,
			wantSpec: "xla:" + homePlugin},
		{name: "PJRT_PLUGIN_LIBRARY_PATH set replaces the default directories",
			env: map[string]string{EnvPJRTLibraryPath: filepath.Join(root, "empty"), "XDG_CACHE_HOME": xdgCache},
			xla: true, onnx: true,
			wantSpec: "onnx:" + ortXDG},
		{name: "plugin found but xla not compiled in",
			env:      map[string]string{EnvPJRTPlugin: jaxPlugin},
			wantSpec: "go", wantReasonParts: []string{"xla is not compiled in"}},
		{name: "bad QZOO_PJRT_PLUGIN is reported and skipped",
			env: map[string]string{EnvPJRTPlugin: filepath.Join(root, "missing.so"), EnvPJRTLibraryPath: "", EnvONNXRuntime: ortEnv},
			xla: true, onnx: true,
			wantSpec: "onnx:" + ortEnv, wantReasonParts: []string{"ONNX Runtime found at " + ortEnv, "QZOO_PJRT_PLUGIN=" + filepath.Join(root, "missing.so") + " is not a file"}},
		{name: "QZOO_ONNXRUNTIME before the cache",
			env:      map[string]string{EnvPJRTLibraryPath: "", EnvONNXRuntime: ortEnv, "XDG_CACHE_HOME": xdgCache},
			onnx:     true,
			wantSpec: "onnx:" + ortEnv},
		{name: "ONNXRUNTIME_SHARED_LIBRARY_PATH honoured",
			env:      map[string]string{EnvPJRTLibraryPath: "", EnvONNXRuntimeCompute: ortEnv},
			onnx:     true,
			wantSpec: "onnx:" + ortEnv},
		{name: "XDG cache",
			env:      map[string]string{EnvPJRTLibraryPath: "", "XDG_CACHE_HOME": xdgCache},
			onnx:     true,
			wantSpec: "onnx:" + ortXDG},
		{name: "ONNX Runtime found but not compiled in",
			env:      map[string]string{EnvPJRTLibraryPath: "", "XDG_CACHE_HOME": xdgCache},
			wantSpec: "go", wantReasonParts: []string{"ONNX Runtime found at " + ortXDG + " but ONNX Runtime is not compiled in"}},
		{name: "nothing found",
			env: map[string]string{EnvPJRTLibraryPath: "", "XDG_CACHE_HOME": filepath.Join(root, "emptycache")},
			xla: true, onnx: true, noHome: true,
			wantSpec: "go", wantReasonParts: []string{"no PJRT plugin or ONNX Runtime found"}},
		{name: "empty GOMLX_BACKEND is ignored",
			env:      map[string]string{EnvBackend: "", EnvPJRTLibraryPath: "", "XDG_CACHE_HOME": filepath.Join(root, "emptycache")},
			noHome:   true,
			wantSpec: "go", wantReasonParts: []string{"no PJRT plugin or ONNX Runtime found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := fakeProbe(t, root, tc.env, tc.gpu, tc.xla, tc.onnx)
			if tc.noHome {
				p.homeDir = emptyHome
			}
			spec, reason := chooseBackend(p)
			if spec != tc.wantSpec {
				t.Errorf("spec = %q, want %q (reason %q)", spec, tc.wantSpec, reason)
			}
			for _, part := range tc.wantReasonParts {
				if !strings.Contains(reason, part) {
					t.Errorf("reason %q does not contain %q", reason, part)
				}
			}
		})
	}
}

func TestNewBackendUnknownName(t *testing.T) {
	if _, err := NewBackendFromSpec("nosuchbackend"); err == nil || !strings.Contains(err.Error(), "not compiled into this binary") {
		t.Fatalf("NewBackendFromSpec(nosuchbackend) error = %v, want 'not compiled into this binary'", err)
	}
}

func TestNewBackendLine(t *testing.T) {
	t.Setenv(EnvBackend, "go")
	backend, line, err := NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	if want := "qzoo: backend go (GOMLX_BACKEND=go)"; line != want {
		t.Errorf("line = %q, want %q", line, want)
	}
	if !strings.Contains(backend.Name(), "Go") {
		t.Errorf("backend name = %q, want the Go backend", backend.Name())
	}
}

func TestAvailableBackendsWork(t *testing.T) {
	specs := AvailableBackends()
	if len(specs) == 0 || specs[0] != GoBackend {
		t.Fatalf("AvailableBackends() = %v, want it to start with %q", specs, GoBackend)
	}
	lib, _ := findONNXRuntime(systemProbe())
	hasONNX := slices.ContainsFunc(specs, func(s string) bool { return strings.HasPrefix(s, "onnx:") })
	if want := onnxCompiledIn && lib != ""; hasONNX != want {
		t.Errorf("AvailableBackends() = %v: onnx listed = %v, want %v (compiled in %v, library %q)", specs, hasONNX, want, onnxCompiledIn, lib)
	}
	for _, spec := range specs {
		backend, err := NewBackendFromSpec(spec)
		if err != nil {
			t.Errorf("backend %q listed as available but: %v", spec, err)
			continue
		}
		t.Logf("%s: %s", spec, backend.Description())
		backend.Finalize()
	}
}
