package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/internal/atomicfile"
	"github.com/qzoo/qzoo/internal/registry"
	"github.com/qzoo/qzoo/plots"
)

// PointHook is an extra evaluation of a finished point (registered with [RegisterPointHook],
// named in a spec's "point_hooks"): it reads the point's run directory and returns metrics
// that join the point's evaluation. Its result is cached beside the point (see [Context.Dir]),
// so a point read back costs nothing.
type PointHook struct {
	// Doc says what the hook measures, and its metrics.
	Doc string
	// Args are the hook's arguments with their defaults; a spec's "args" may set them (same
	// type), and no other key.
	Args map[string]any
	// Run evaluates the point in ctx.Dir with args (every key of Args, converted).
	Run func(ctx *Context, args map[string]any) (map[string]float64, error)
}

// Preparation makes a file once for a study (registered with [RegisterPreparation], named in
// a study's "prepare"): e.g. the stories a model samples to be scored on. The file's path is
// the study's variable of the step's name, ${name}, usable in any "set".
type Preparation struct {
	Doc string
	// Ext is the file's extension (".txt").
	Ext string
	// Args are the arguments with their defaults, as [PointHook.Args].
	Args map[string]any
	// Run writes the file at path (atomically: a file that exists is never made again).
	Run func(ctx *Context, args map[string]any, path string) error
	// Cached says the file is a pure function of the arguments, the data directory's files
	// and the backend (e.g. a fixed-seed sample of a fixed model): it is kept in the user
	// cache (os.UserCacheDir()/qzoo/prepared, named by preparation, arguments and backend)
	// and copied from there into every study root that needs it — a quick run of a study in
	// a temporary directory, or a second study, does not make it again.
	Cached bool
}

// Report renders a study's points (registered with [RegisterReport], named in a study's
// "report"): its table and its figure. A report that measures more than the points hold (e.g.
// peers on the same data) keeps its results in a file under ctx.Dir, the study's root.
type Report struct {
	Doc    string
	Render func(ctx *Context, points []Point) (table string, fig plots.Figure, err error)
}

var (
	pointHooks   = registry.New[PointHook]("sweep point hook")
	preparations = registry.New[Preparation]("sweep preparation")
	reports      = registry.New[Report]("sweep report")
)

// RegisterPointHook makes a point hook known by name; it panics on a duplicate name. A model's
// hooks are registered by the model's package, in its init.
func RegisterPointHook(name string, h PointHook) { pointHooks.Register(name, h) }

// RegisterPreparation makes a preparation step known by name; it panics on a duplicate name.
func RegisterPreparation(name string, p Preparation) { preparations.Register(name, p) }

// RegisterReport makes a report known by name; it panics on a duplicate name.
func RegisterReport(name string, r Report) { reports.Register(name, r) }

// HookSpec names a registered hook (a point hook or a preparation) and sets its arguments.
type HookSpec struct {
	Name string         `json:"name"`
	Args map[string]any `json:"args"`
}

// Context is what a hook sees: the directory it works on (a point's run directory for a point
// hook, the study's root for a preparation or a report), the point's config, the data
// directory and the study's backend.
type Context struct {
	Dir     string
	Config  *framework.Config // nil for a preparation
	DataDir string
	Out     io.Writer
	shared  *sharedRun
}

// Backend returns the study's backend, created at the first need and shared by every point
// and hook.
func (c *Context) Backend() (compute.Backend, error) { return c.shared.backend() }

// resolveArgs merges a spec's args over the declared defaults, converted to their types.
func resolveArgs(defaults, given map[string]any) (map[string]any, error) {
	args := maps.Clone(defaults)
	if args == nil {
		args = map[string]any{}
	}
	for _, k := range sortedKeys(given) {
		def, ok := defaults[k]
		if !ok {
			return nil, fmt.Errorf("unknown argument %q; valid: %s", k, strings.Join(sortedKeys(defaults), ", "))
		}
		v, err := hparams.Convert(given[k], def)
		if err != nil {
			return nil, fmt.Errorf("argument %q: %w", k, err)
		}
		args[k] = v
	}
	return args, nil
}

// checkHooks checks that every hook is registered and its args apply; path names the key.
func checkHooks(path string, hooks []HookSpec) error {
	for i, h := range hooks {
		ph, err := pointHooks.Lookup(h.Name)
		if err != nil {
			return fmt.Errorf(`key "%s[%d].name": %w`, path, i, err)
		}
		if _, err := resolveArgs(ph.Args, h.Args); err != nil {
			return fmt.Errorf(`key "%s[%d].args": %s: %w`, path, i, h.Name, err)
		}
	}
	return nil
}

// argsKey identifies a hook and its resolved arguments: the SHA-256 of their JSON.
func argsKey(name string, args map[string]any) string {
	b, err := json.Marshal(map[string]any{"hook": name, "args": args}) // sorted keys
	if err != nil {
		panic(err) // plain values only
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

// hookResult is a point hook's cached result, hook-NAME.json in the point's run directory.
type hookResult struct {
	Key     string             `json:"key"`
	Args    map[string]any     `json:"args"`
	Metrics map[string]float64 `json:"metrics"`
}

// hookFile is where a point hook's result is cached.
func hookFile(dir, name string) string { return filepath.Join(dir, "hook-"+name+".json") }

// runPointHooks runs (or reads back) the hooks on a finished point and adds their metrics to
// p.Metrics; a metric a hook shares with the evaluation or another hook is an error.
func runPointHooks(p *Point, hooks []HookSpec, ctx *Context) error {
	for _, h := range hooks {
		ph, err := pointHooks.Lookup(h.Name)
		if err != nil {
			return err
		}
		args, err := resolveArgs(ph.Args, h.Args)
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		key := argsKey(h.Name, args)
		path := hookFile(p.Dir, h.Name)
		res, cached, err := readHookResult(path, key)
		if err != nil {
			return fmt.Errorf("hook %s: %w", h.Name, err)
		}
		if !cached {
			metrics, err := ph.Run(ctx, args)
			if err != nil {
				return fmt.Errorf("hook %s: %w", h.Name, err)
			}
			res = hookResult{Key: key, Args: args, Metrics: metrics}
			out, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				return fmt.Errorf("hook %s: %w", h.Name, err)
			}
			if err := atomicfile.WriteFile(path, out); err != nil {
				return fmt.Errorf("hook %s: %w", h.Name, err)
			}
			p.Reused = false
		}
		for _, m := range sortedKeys(res.Metrics) {
			if _, dup := p.Metrics[m]; dup {
				return fmt.Errorf("hook %s: metric %q is already the point's", h.Name, m)
			}
			p.Metrics[m] = res.Metrics[m]
		}
	}
	return nil
}

// readHookResult reads a hook's cached result; cached is false when there is none for key (a
// result of other arguments, or an unreadable one, is made again).
func readHookResult(path, key string) (res hookResult, cached bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return res, false, nil
	}
	if err != nil {
		return res, false, err
	}
	if json.Unmarshal(data, &res) != nil || res.Key != key || res.Metrics == nil {
		return hookResult{}, false, nil
	}
	return res, true, nil
}

// removeHookResults drops the cached hook results of a point about to be (re)run.
func removeHookResults(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "hook-*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	return nil
}

// prepare makes (or finds) the file of a preparation step under root and returns its
// absolute path: root/NAME-KEY.EXT, KEY identifying the preparation and its arguments, so
// that other arguments make another file.
func prepare(step HookSpec, root string, ctx *Context) (string, error) {
	p, err := preparations.Lookup(step.Name)
	if err != nil {
		return "", err
	}
	args, err := resolveArgs(p.Args, step.Args)
	if err != nil {
		return "", fmt.Errorf("%s: %w", step.Name, err)
	}
	path, err := filepath.Abs(filepath.Join(root, step.Name+"-"+argsKey(step.Name, args)+p.Ext))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	cached := ""
	if p.Cached {
		backend, err := ctx.Backend()
		if err != nil {
			return "", err
		}
		if dir, err := os.UserCacheDir(); err == nil && dir != "" {
			cached = filepath.Join(dir, "qzoo", "prepared", strings.TrimSuffix(filepath.Base(path), p.Ext)+
				"-"+argsKey(step.Name, map[string]any{"backend": backend.Name()})+p.Ext)
		}
	}
	if cached != "" {
		if data, err := os.ReadFile(cached); err == nil && len(data) > 0 {
			if err := atomicfile.WriteFile(path, data); err != nil {
				return "", fmt.Errorf("prepare %s: %w", step.Name, err)
			}
			fmt.Fprintf(ctx.Out, "sweep: prepared %s read from the cache %s\n", step.Name, cached)
			return path, nil
		}
	}
	fmt.Fprintf(ctx.Out, "sweep: preparing %s → %s\n", step.Name, path)
	if err := p.Run(ctx, args, path); err != nil {
		return "", fmt.Errorf("prepare %s: %w", step.Name, err)
	}
	if cached != "" {
		// Best effort: a cache that cannot be written costs only the next study's time.
		if data, err := os.ReadFile(path); err == nil && os.MkdirAll(filepath.Dir(cached), 0o755) == nil {
			if err := atomicfile.WriteFile(cached, data); err != nil {
				fmt.Fprintf(ctx.Out, "sweep: %s not cached: %v\n", step.Name, err)
			}
		}
	}
	return path, nil
}

// checkPreparations checks a study's "prepare" list.
func checkPreparations(steps []HookSpec) error {
	seen := map[string]bool{}
	for i, s := range steps {
		p, err := preparations.Lookup(s.Name)
		if err != nil {
			return fmt.Errorf(`key "prepare[%d].name": %w`, i, err)
		}
		if seen[s.Name] {
			return fmt.Errorf(`key "prepare[%d].name": %q is prepared twice`, i, s.Name)
		}
		seen[s.Name] = true
		if _, err := resolveArgs(p.Args, s.Args); err != nil {
			return fmt.Errorf(`key "prepare[%d].args": %w`, i, err)
		}
	}
	return nil
}

// Describe writes every registered point hook, preparation and report with its doc and
// arguments (the sweep command's --help).
func Describe(w io.Writer) {
	fmt.Fprintln(w, "point hooks (\"point_hooks\"):")
	for _, name := range pointHooks.Names() {
		h, _ := pointHooks.Lookup(name)
		fmt.Fprintf(w, "  %s %v: %s\n", name, h.Args, h.Doc)
	}
	fmt.Fprintln(w, "preparations (\"prepare\"):")
	for _, name := range preparations.Names() {
		p, _ := preparations.Lookup(name)
		fmt.Fprintf(w, "  %s %v: %s\n", name, p.Args, p.Doc)
	}
	fmt.Fprintln(w, "reports (\"report\"):")
	for _, name := range reports.Names() {
		r, _ := reports.Lookup(name)
		fmt.Fprintf(w, "  %s: %s\n", name, r.Doc)
	}
}
