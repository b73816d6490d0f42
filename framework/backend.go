package framework

// Backend selection: which compute backend a run uses, and why.
//
// The order is
//
//  1. $GOMLX_BACKEND, used as given (e.g. "go", "go:parallelism=2", "xla:cuda", "onnx:/path/libonnxruntime.so.1");
//  2. XLA, when a PJRT plugin file is found (and xla is compiled in: it is unless built with -tags noxla);
//  3. ONNX Runtime, when its shared library is found (and ONNX Runtime is compiled in: it is wherever cgo is available, unless built with -tags noonnx);
//  4. the pure-Go backend "go", which always works.
//
// Nothing is ever downloaded: go-xla's and compute-onnx's auto-installers are switched off in
// backend_xla.go and backend_onnx.go (as GOMLX_NO_AUTO_INSTALL=1 would do).

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers the pure-Go backend "go"
)

// Environment variables read by [BackendChoice].
const (
	// EnvBackend selects the backend explicitly, in GoMLX's syntax "<name>[:<config>]".
	EnvBackend = compute.ConfigEnvVar // "GOMLX_BACKEND"
	// EnvPJRTPlugin is the path of one PJRT plugin file, e.g. the xla_cuda_plugin.so of jax's CUDA PJRT wheel.
	EnvPJRTPlugin = "QZOO_PJRT_PLUGIN"
	// EnvPJRTLibraryPath is go-xla's ":"-separated list of directories searched for PJRT plugins; entries that
	// are files are taken as plugins themselves. When unset, go-xla's default directories are searched.
	EnvPJRTLibraryPath = "PJRT_PLUGIN_LIBRARY_PATH"
	// EnvONNXRuntime is the path of ONNX Runtime's shared library (libonnxruntime.so*).
	EnvONNXRuntime = "QZOO_ONNXRUNTIME"
	// EnvONNXRuntimeCompute is compute-onnx's own variable for the same path, honoured after EnvONNXRuntime.
	EnvONNXRuntimeCompute = "ONNXRUNTIME_SHARED_LIBRARY_PATH"
)

// GoBackend is the spec of the pure-Go backend, available in every build.
const GoBackend = "go"

// ONNXRuntimeCacheFile is where scripts/setup-onnxruntime.sh puts ONNX Runtime, relative to the user's cache
// directory ($XDG_CACHE_HOME, default ~/.cache).
const ONNXRuntimeCacheFile = "qzoo/onnxruntime/libonnxruntime.so.1"

// BackendChoice decides which backend [NewBackend] creates, without creating it. It returns the backend
// spec (the "<name>:<config>" string GoMLX understands, e.g. "xla:/abs/plugin.so" or "go") and the reason
// for the choice. The decision depends only on the environment and on which files exist.
func BackendChoice() (spec, reason string) {
	return chooseBackend(systemProbe())
}

// NewBackend creates the backend chosen by [BackendChoice]. Its second result is the line to show the
// user, "qzoo: backend <spec> (<reason>)", also when creating the backend failed.
func NewBackend() (compute.Backend, string, error) {
	spec, reason := BackendChoice()
	line := fmt.Sprintf("qzoo: backend %s (%s)", spec, reason)
	backend, err := newBackendFromSpec(spec)
	if err != nil {
		return nil, line, fmt.Errorf("framework: creating backend %q (%s): %w", spec, reason, err)
	}
	return backend, line, nil
}

// NewBackendFromSpec creates the backend of the given spec, e.g. one returned by [AvailableBackends].
func NewBackendFromSpec(spec string) (compute.Backend, error) {
	backend, err := newBackendFromSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("framework: creating backend %q: %w", spec, err)
	}
	return backend, nil
}

// newBackendFromSpec turns compute.NewWithConfig's panic on an unknown backend name into an error.
func newBackendFromSpec(spec string) (backend compute.Backend, err error) {
	name, _, _ := strings.Cut(spec, ":")
	if !isRegistered(name) {
		hint := ""
		switch name {
		case "onnx", "onnxruntime":
			hint = " (build with cgo and without -tags noonnx)"
		case "xla", "stablehlo", "hlo", "shlo":
			hint = " (build with cgo and without -tags noxla)"
		}
		return nil, fmt.Errorf("backend %q is not compiled into this binary%s; compiled in: %s",
			name, hint, strings.Join(registeredBackends(), ", "))
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return compute.NewWithConfig(spec)
}

// AvailableBackends returns the specs of the backends usable in this build on this machine: always "go",
// then "onnx:<library>" when ONNX Runtime is compiled in and its library is found, then "xla:<plugin>" when xla
// is compiled in and a PJRT plugin is found. It ignores $GOMLX_BACKEND. Tests use it to run the same
// checks on every backend.
func AvailableBackends() []string {
	p := systemProbe()
	specs := []string{GoBackend}
	if lib, _ := findONNXRuntime(p); lib != "" && p.onnxLinked {
		specs = append(specs, "onnx:"+lib)
	}
	if plugin, _ := findPJRTPlugin(p); plugin != "" && p.xlaLinked {
		specs = append(specs, "xla:"+plugin)
	}
	return specs
}

func isRegistered(name string) bool {
	for _, n := range compute.List() {
		if n == name {
			return true
		}
	}
	return false
}

func registeredBackends() []string {
	names := compute.List()
	sort.Strings(names)
	return names
}

// backendProbe is everything the choice depends on, so that tests can fake it.
type backendProbe struct {
	lookupEnv func(key string) (string, bool)
	isFile    func(path string) bool
	glob      func(pattern string) []string
	homeDir   string
	// xlaLinked and onnxLinked say whether those backends are compiled in (set by build-tagged files).
	xlaLinked, onnxLinked bool
}

// Set by backend_xla.go / backend_onnx.go when those backends are compiled in.
var (
	xlaCompiledIn  bool
	onnxCompiledIn bool
)

func systemProbe() backendProbe {
	home, _ := os.UserHomeDir()
	return backendProbe{
		lookupEnv: os.LookupEnv,
		isFile: func(path string) bool {
			info, err := os.Stat(path)
			return err == nil && info.Mode().IsRegular()
		},
		glob: func(pattern string) []string {
			matches, _ := filepath.Glob(pattern)
			return matches
		},
		homeDir:    home,
		xlaLinked:  xlaCompiledIn,
		onnxLinked: onnxCompiledIn,
	}
}

func (p backendProbe) env(key string) string {
	v, _ := p.lookupEnv(key)
	return v
}

// chooseBackend is BackendChoice as a pure function of the probe.
func chooseBackend(p backendProbe) (spec, reason string) {
	if v, ok := p.lookupEnv(EnvBackend); ok && v != "" {
		return v, EnvBackend + "=" + v
	}
	var notes []string
	plugin, note := findPJRTPlugin(p)
	if note != "" {
		notes = append(notes, note)
	}
	if plugin != "" {
		if p.xlaLinked {
			return "xla:" + plugin, joinNotes("PJRT plugin found at "+plugin, notes)
		}
		notes = append(notes, "PJRT plugin found at "+plugin+" but xla is not compiled in (built with -tags noxla or without cgo)")
	}
	lib, note := findONNXRuntime(p)
	if note != "" {
		notes = append(notes, note)
	}
	if lib != "" {
		if p.onnxLinked {
			return "onnx:" + lib, joinNotes("ONNX Runtime found at "+lib, notes)
		}
		notes = append(notes, "ONNX Runtime found at "+lib+" but ONNX Runtime is not compiled in (built with -tags noonnx or without cgo)")
		return GoBackend, joinNotes("no usable PJRT plugin or ONNX Runtime", notes)
	}
	return GoBackend, joinNotes("no PJRT plugin or ONNX Runtime found", notes)
}

func joinNotes(head string, notes []string) string {
	return strings.Join(append([]string{head}, notes...), "; ")
}

// findPJRTPlugin returns the absolute path of the PJRT plugin to use ("" if none) and a note for the user
// about settings that point at nothing.
//
// It looks at $QZOO_PJRT_PLUGIN, then at the entries of $PJRT_PLUGIN_LIBRARY_PATH, or, when that is unset,
// at go-xla's default directories (~/.local/lib/go-xla[/nvidia], ~/.local/lib/gomlx/pjrt,
// /usr/local/lib/go-xla[/nvidia], /usr/local/lib/gomlx/pjrt and $LD_LIBRARY_PATH; go-xla also reads
// /etc/ld.so.conf, which is left out here: system library directories hold no PJRT plugins in practice).
// Plugins in directories are files named like go-xla's: pjrt_c_api_<name>_plugin.so, pjrt-plugin-<name>.so
// or pjrt_plugin_<name>.so; CUDA plugins are preferred, then ROCm, then CPU, and (like go-xla) CUDA plugins
// are skipped when no /dev/nvidia* device exists.
func findPJRTPlugin(p backendProbe) (path, note string) {
	if v := p.env(EnvPJRTPlugin); v != "" {
		if abs, err := filepath.Abs(v); err == nil && p.isFile(abs) {
			return abs, ""
		}
		note = EnvPJRTPlugin + "=" + v + " is not a file"
	}
	var dirs []string
	if v, ok := p.lookupEnv(EnvPJRTLibraryPath); ok {
		for _, entry := range strings.Split(v, ":") {
			if entry == "" {
				continue
			}
			if abs, err := filepath.Abs(entry); err == nil && p.isFile(abs) {
				return abs, note
			}
			dirs = append(dirs, entry)
		}
	} else {
		dirs = pjrtDefaultDirs(p)
	}
	var candidates []string
	for _, dir := range dirs {
		for _, pattern := range []string{"pjrt_c_api_*_plugin.so", "pjrt-plugin-*.so", "pjrt_plugin_*.so"} {
			for _, match := range p.glob(filepath.Join(dir, pattern)) {
				if !p.isFile(match) {
					continue
				}
				if abs, err := filepath.Abs(match); err == nil {
					candidates = append(candidates, abs)
				}
			}
		}
	}
	hasGPU := len(p.glob("/dev/nvidia*")) > 0
	best, bestRank := "", -1
	for _, c := range candidates {
		rank := pluginRank(filepath.Base(c))
		if rank == pluginRankCUDA && !hasGPU {
			continue
		}
		if rank > bestRank {
			best, bestRank = c, rank
		}
	}
	return best, note
}

const (
	pluginRankOther = iota
	pluginRankCPU
	pluginRankROCm
	pluginRankCUDA
)

func pluginRank(base string) int {
	lower := strings.ToLower(base)
	switch {
	case strings.Contains(lower, "cuda"):
		return pluginRankCUDA
	case strings.Contains(lower, "rocm"):
		return pluginRankROCm
	case strings.Contains(lower, "cpu"):
		return pluginRankCPU
	}
	return pluginRankOther
}

func pjrtDefaultDirs(p backendProbe) []string {
	var dirs []string
	if p.homeDir != "" {
		goXLA := filepath.Join(p.homeDir, ".local", "lib", "go-xla")
		dirs = append(dirs, goXLA, filepath.Join(goXLA, "nvidia"), filepath.Join(p.homeDir, ".local", "lib", "gomlx", "pjrt"))
	}
	dirs = append(dirs, "/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia", "/usr/local/lib/gomlx/pjrt")
	for _, dir := range strings.Split(p.env("LD_LIBRARY_PATH"), ":") {
		if filepath.IsAbs(dir) {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// findONNXRuntime returns the absolute path of ONNX Runtime's shared library ("" if none) and a note for
// the user about settings that point at nothing. It looks at $QZOO_ONNXRUNTIME, $ONNXRUNTIME_SHARED_LIBRARY_PATH,
// $XDG_CACHE_HOME/qzoo/onnxruntime/libonnxruntime.so.1 (default ~/.cache/...; put there by
// scripts/setup-onnxruntime.sh), compute-onnx's install directory ~/.local/lib/onnxruntime, then for
// libonnxruntime.so* in /usr/local/lib, /usr/lib and /usr/lib/x86_64-linux-gnu.
func findONNXRuntime(p backendProbe) (path, note string) {
	var notes []string
	for _, key := range []string{EnvONNXRuntime, EnvONNXRuntimeCompute} {
		if v := p.env(key); v != "" {
			if abs, err := filepath.Abs(v); err == nil && p.isFile(abs) {
				return abs, strings.Join(notes, "; ")
			}
			notes = append(notes, key+"="+v+" is not a file")
		}
	}
	note = strings.Join(notes, "; ")
	cache := p.env("XDG_CACHE_HOME")
	if cache == "" && p.homeDir != "" {
		cache = filepath.Join(p.homeDir, ".cache")
	}
	var files []string
	if cache != "" {
		files = append(files, filepath.Join(cache, filepath.FromSlash(ONNXRuntimeCacheFile)))
	}
	if p.homeDir != "" {
		files = append(files, filepath.Join(p.homeDir, ".local", "lib", "onnxruntime", "libonnxruntime.so"))
	}
	for _, f := range files {
		if abs, err := filepath.Abs(f); err == nil && p.isFile(abs) {
			return abs, note
		}
	}
	for _, dir := range []string{"/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu"} {
		matches := p.glob(filepath.Join(dir, "libonnxruntime.so*"))
		sort.Strings(matches)
		for _, m := range matches {
			if p.isFile(m) {
				return m, note
			}
		}
	}
	return "", note
}
