package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/sweeptest"
	"github.com/qzoo/qzoo/plots"
	"gonum.org/v1/plot/plotter"
)

// The test study's hook, preparation and report, counting their calls.
var calls struct{ hook, prepare int }

func init() {
	RegisterPreparation("sweeptest_note", Preparation{Doc: "a text file", Ext: ".txt", Args: map[string]any{"words": 2},
		Run: func(ctx *Context, args map[string]any, path string) error {
			calls.prepare++
			return os.WriteFile(path, []byte(strings.Repeat("word ", args["words"].(int))), 0o644)
		}})
	RegisterPointHook("sweeptest_double", PointHook{Doc: "twice the level", Args: map[string]any{"factor": 2},
		Run: func(ctx *Context, args map[string]any) (map[string]float64, error) {
			calls.hook++
			level, ok := ctx.Config.Params["sweeptest_level"].(int)
			if !ok {
				return nil, fmt.Errorf("no level in %s's config", ctx.Dir)
			}
			return map[string]float64{"double": float64(args["factor"].(int) * level)}, nil
		}})
	RegisterReport("sweeptest_report", Report{Doc: "one line per point",
		Render: func(ctx *Context, points []Point) (string, plots.Figure, error) {
			var b strings.Builder
			line := plots.Series{Name: "level"}
			for _, p := range points {
				fmt.Fprintf(&b, "%s/%s/%s: level %g double %g mse>0 %v\n", p.Part, p.Variant, p.Name, p.Metrics["level"], p.Metrics["double"], p.Metrics["mse"] > 0)
				line.Points = append(line.Points, plotter.XY{X: p.Metrics["level"], Y: p.Metrics["mse"]})
			}
			return b.String(), plots.Figure{Panels: []plots.Panel{{Series: []plots.Series{line}}}}, nil
		}})
}

// study writes the test study beside the base config and a sweep file, and returns its path.
func writeStudy(t *testing.T, content string) string {
	t.Helper()
	dir := filepath.Dir(sweeptest.WriteSpec(t, sweeptest.Base, spec(`[{"key": "sweeptest_level", "values": [3, 4]}]`, "")))
	path := filepath.Join(dir, "study.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const testStudy = `{
	"description": "the test study",
	"prepare": [{"name": "sweeptest_note", "args": {"words": 3}}],
	"parts": [
		{"name": "anchor", "points": [{"name": "zero", "base": "base.json"}]},
		{"name": "explicit", "labels": {"kind": "explicit"},
		 "point_hooks": [{"name": "sweeptest_double"}],
		 "variants": [{"name": "plain"}, {"name": "named", "set": "sweeptest_name=${sweeptest_note}", "labels": {"kind": "named"}}],
		 "points": [
			{"name": "one", "base": "base.json", "set": "sweeptest_level=1"},
			{"name": "two", "base": "base.json", "set": "sweeptest_level=2", "labels": {"kind": "two"}}
		 ]},
		{"name": "grid", "sweep": "sweep.json", "set": "sweeptest_name=${zero}",
		 "point_hooks": [{"name": "sweeptest_double", "args": {"factor": 10}}]}
	],
	"report": "sweeptest_report",
	"figure": "study.svg"
}`

// TestStudy runs a study of explicit points under two variants and a sweep file: the
// preparation's file and an earlier point's run directory reach later overrides, the hooks add
// their metrics, the labels merge, Points selects, and a second run reads everything back.
func TestStudy(t *testing.T) {
	path := writeStudy(t, testStudy)
	st, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	run := sweeptest.RunOptions(t)
	dir := t.TempDir()
	opts := Options{Dir: dir, Data: run.Data, Backend: run.Backend, Out: run.Out, Quiet: true}
	calls.hook, calls.prepare = 0, 0
	points, err := st.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	table, fig, err := st.Render(points, opts)
	if err != nil || fig == nil {
		t.Fatalf("render: %v, figure %v", err, fig)
	}
	want := `anchor//zero: level 0 double 0 mse>0 true
explicit/plain/one: level 1 double 2 mse>0 true
explicit/plain/two: level 2 double 4 mse>0 true
explicit/named/one: level 1 double 2 mse>0 true
explicit/named/two: level 2 double 4 mse>0 true
grid//sweeptest_level=3: level 3 double 30 mse>0 true
grid//sweeptest_level=4: level 4 double 40 mse>0 true
`
	if table != want {
		t.Errorf("table:\n%s\nwant:\n%s", table, want)
	}
	if calls.prepare != 1 || calls.hook != 6 {
		t.Errorf("%d preparations and %d hook runs, want 1 and 6", calls.prepare, calls.hook)
	}
	if got := points[4].Labels; got["kind"] != "two" {
		t.Errorf("labels of named/two %v: the point's own label wins", got)
	}
	if got := points[3].Labels; got["kind"] != "named" {
		t.Errorf("labels of named/one %v: the variant's label wins over the part's", got)
	}
	note, err := filepath.Glob(filepath.Join(dir, "sweeptest_note-*.txt"))
	if err != nil || len(note) != 1 {
		t.Fatalf("prepared files %v", note)
	}
	if points[3].Dir == points[1].Dir {
		t.Errorf("the variants share a run directory %s", points[1].Dir)
	}
	for _, p := range points {
		cfg, err := os.ReadFile(filepath.Join(p.Dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case p.Variant == "named" && !bytes.Contains(cfg, []byte(note[0])):
			t.Errorf("%s: the prepared file %s is not in its config:\n%s", p.Name, note[0], cfg)
		case p.Part == "grid" && !bytes.Contains(cfg, []byte(points[0].Dir)):
			t.Errorf("%s: the run directory of point zero is not in its config:\n%s", p.Name, cfg)
		}
	}

	// Everything is read back: no training, no hook, no preparation.
	calls.hook, calls.prepare = 0, 0
	again, err := st.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range again {
		if !p.Reused || p.Dir != points[i].Dir || p.Metrics["double"] != points[i].Metrics["double"] {
			t.Errorf("point %s/%s/%s not read back: reused %v, %s", p.Part, p.Variant, p.Name, p.Reused, p.Dir)
		}
	}
	if calls.prepare != 0 || calls.hook != 0 {
		t.Errorf("a second run made %d preparations and %d hook runs", calls.prepare, calls.hook)
	}

	// Other hook arguments rerun the hook only; Points selects by name, part or PART/NAME.
	st.Parts[2].PointHooks[0].Args["factor"] = 100
	opts.Points = []string{"two", "grid/sweeptest_level=4"}
	some, err := st.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(some) != 3 || some[2].Metrics["double"] != 400 || some[2].Reused || !some[0].Reused {
		t.Errorf("selected points %+v", some)
	}
	if calls.hook != 1 {
		t.Errorf("%d hook runs, want 1 (the grid point with the new factor)", calls.hook)
	}
	// A variant's name selects its points, alone or after its part.
	for _, sel := range [][]string{{"named"}, {"explicit/named"}} {
		opts.Points = sel
		some, err := st.Run(opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range some {
			if p.Variant != "named" {
				t.Errorf("--points %v selected %s/%s/%s", sel, p.Part, p.Variant, p.Name)
			}
		}
		if len(some) == 0 {
			t.Errorf("--points %v selected nothing", sel)
		}
	}
	opts.Points, opts.Dir = []string{"two", "three"}, t.TempDir() // nothing prepared there yet
	calls.prepare = 0
	if _, err := st.Run(opts); err == nil || !strings.Contains(err.Error(), `"three" names no point`) || calls.prepare != 0 {
		t.Errorf("a name that selects no point: %v, after %d preparations", err, calls.prepare)
	}
}

func TestLoadStudyErrors(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"unknown key", `{"parts": [], "reports": "x"}`, `unknown key "reports"`},
		{"no parts", `{"parts": [], "report": "sweeptest_report"}`, `key "parts" must not be empty`},
		{"unknown report", `{"parts": [{"name": "a", "sweep": "sweep.json"}], "report": "nope"}`, `key "report": unknown sweep report "nope"`},
		{"both sweep and points", `{"parts": [{"name": "a", "sweep": "sweep.json", "points": [{"name": "p", "base": "base.json"}]}], "report": "sweeptest_report"}`, `give "sweep" or "points", not both`},
		{"two parts of a name", `{"parts": [{"name": "a", "sweep": "sweep.json"}, {"name": "a", "sweep": "sweep.json"}], "report": "sweeptest_report"}`, `key "parts[1].name": "a" is empty or names another part`},
		{"unknown hook", `{"parts": [{"name": "a", "sweep": "sweep.json", "point_hooks": [{"name": "nope"}]}], "report": "sweeptest_report"}`, `key "parts[0].point_hooks[0].name": unknown sweep point hook "nope"`},
		{"unknown hook argument", `{"parts": [{"name": "a", "sweep": "sweep.json", "point_hooks": [{"name": "sweeptest_double", "args": {"factr": 2}}]}], "report": "sweeptest_report"}`, `unknown argument "factr"; valid: factor`},
		{"wrong argument type", `{"prepare": [{"name": "sweeptest_note", "args": {"words": "many"}}], "parts": [{"name": "a", "sweep": "sweep.json"}], "report": "sweeptest_report"}`, `key "prepare[0].args": argument "words"`},
		{"bad point override", `{"parts": [{"name": "a", "points": [{"name": "p", "base": "base.json", "set": "stepz=1"}]}], "report": "sweeptest_report"}`, `key "parts[0].points[0]": point p: -set: unknown key "stepz"`},
		{"unknown variable", `{"parts": [{"name": "a", "points": [{"name": "p", "base": "base.json", "set": "sweeptest_name=${q}"}]}], "report": "sweeptest_report"}`,
			`key "parts[0].points[0].set": ${q}: no preparation or earlier point of that name`},
		{"variable of a later part", `{"parts": [{"name": "a", "sweep": "sweep.json", "set": "sweeptest_name=${p}"}, {"name": "b", "points": [{"name": "p", "base": "base.json"}]}], "report": "sweeptest_report"}`,
			`key "parts[0].set": ${p}: no preparation or earlier point of that name`},
		{"bad part condition", `{"parts": [{"name": "a", "sweep": "sweep.json", "expect": {"mse": "about 3"}}], "report": "sweeptest_report"}`, `key "parts[0].expect": key expect.mse: condition "about 3"`},
		{"bad variant condition", `{"parts": [{"name": "a", "sweep": "sweep.json", "variants": [{"name": "v", "expect": {"mse": "< x"}}]}], "report": "sweeptest_report"}`, `key "parts[0].variants[0].expect": key expect.mse: condition "< x"`},
		{"part set on an axis", `{"parts": [{"name": "a", "sweep": "sweep.json", "set": "sweeptest_level=2"}], "report": "sweeptest_report"}`, `"sweeptest_level" is an axis of the sweep`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeStudy(t, tc.content))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestVariantExpect checks that a variant's expect conditions replace its part's for its
// points only: the same point (level 2) misses the part's bound and meets the variant's.
func TestVariantExpect(t *testing.T) {
	st, err := Load(writeStudy(t, `{"parts": [{"name": "a", "expect": {"level": "<= 1"},
		"variants": [{"name": "strict"}, {"name": "loose", "expect": {"level": "<= 5"}}],
		"points": [{"name": "p", "base": "base.json", "set": "sweeptest_level=2"}]}], "report": "sweeptest_report"}`))
	if err != nil {
		t.Fatal(err)
	}
	run := sweeptest.RunOptions(t)
	points, err := st.Run(Options{Dir: t.TempDir(), Data: run.Data, Backend: run.Backend, Out: run.Out, Quiet: true})
	var unmet *ExpectationsError
	if !errors.As(err, &unmet) {
		t.Fatalf("Run: %v, want the strict variant's point unmet", err)
	}
	if len(points) != 2 || len(points[0].Unmet) != 1 || len(points[1].Unmet) != 0 || len(points[1].Expectations) != 1 {
		t.Errorf("strict: expectations %v, unmet %v; loose: expectations %v, unmet %v",
			points[0].Expectations, points[0].Unmet, points[1].Expectations, points[1].Unmet)
	}
}

// TestDescribe lists the registered hooks with their arguments' defaults.
func TestDescribe(t *testing.T) {
	var b strings.Builder
	Describe(&b)
	for _, want := range []string{"  sweeptest_double map[factor:2]: twice the level", "  sweeptest_note map[words:2]: a text file", "  sweeptest_report: one line per point"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Describe lacks %q:\n%s", want, b.String())
		}
	}
}

// TestRunFileKeepsTheFigureOfAWholeRun checks that a run of some points, or with overrides,
// never replaces the study's own (published) figure, while a whole run writes it.
func TestRunFileKeepsTheFigureOfAWholeRun(t *testing.T) {
	figure := filepath.Join(t.TempDir(), "published.svg")
	path := writeStudy(t, strings.Replace(testStudy, `"figure": "study.svg"`, fmt.Sprintf("%q: %q", "figure", figure), 1))
	run := sweeptest.RunOptions(t)
	opts := Options{Dir: t.TempDir(), Data: run.Data, Backend: run.Backend, Quiet: true}
	var out bytes.Buffer
	partial := opts
	partial.Points = []string{"zero"}
	if err := RunFile(&out, path, "", partial); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(figure); err == nil || !strings.Contains(out.String(), "figure not written") {
		t.Fatalf("a run of one point wrote the study's figure (%v):\n%s", err, out.String())
	}
	out.Reset()
	if err := RunFile(&out, path, "", opts); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(figure); err != nil {
		t.Fatalf("a whole run did not write the study's figure: %v\n%s", err, out.String())
	}
}

// TestCachedPreparation: a cached preparation is made once for every study root — the second
// root copies it from the user cache — and a failure leaves nothing in the cache.
func TestCachedPreparation(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir()) // os.UserCacheDir on other systems
	made := 0
	RegisterPreparation("sweeptest_cached", Preparation{Doc: "a cached text file", Ext: ".txt", Args: map[string]any{"n": 1}, Cached: true,
		Run: func(ctx *Context, args map[string]any, path string) error {
			made++
			if args["n"].(int) < 0 {
				return errors.New("negative")
			}
			return os.WriteFile(path, []byte(strings.Repeat("x", args["n"].(int))), 0o644)
		}})
	run := sweeptest.RunOptions(t)
	var paths []string
	for range 2 {
		opts := Options{Dir: t.TempDir(), Data: run.Data, Backend: run.Backend, Out: io.Discard, Quiet: true}
		path, err := prepare(HookSpec{Name: "sweeptest_cached", Args: map[string]any{"n": 3}}, opts.Dir, &Context{Dir: opts.Dir, Out: io.Discard, shared: newSharedRun(opts)})
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "xxx" {
			t.Fatalf("prepared %q (%v), want xxx", b, err)
		}
		paths = append(paths, path)
	}
	if made != 1 || paths[0] == paths[1] {
		t.Errorf("made %d times for two roots (%v), want once", made, paths)
	}
	opts := Options{Dir: t.TempDir(), Data: run.Data, Backend: run.Backend, Out: io.Discard, Quiet: true}
	ctx := &Context{Dir: opts.Dir, Out: io.Discard, shared: newSharedRun(opts)}
	for range 2 {
		if _, err := prepare(HookSpec{Name: "sweeptest_cached", Args: map[string]any{"n": -1}}, opts.Dir, ctx); err == nil {
			t.Error("a failed preparation succeeded")
		}
	}
	if made != 3 {
		t.Errorf("a failed preparation was cached (%d runs, want 3)", made)
	}
}

// TestRunFileRunsRoot: RunFile runs under opts.Dir when given, else under the file's own runs
// root, else under opts.DefaultDir.
func TestRunFileRunsRoot(t *testing.T) {
	t.Chdir(t.TempDir())
	run := sweeptest.RunOptions(t)
	for _, tc := range []struct{ name, runs, dir, want string }{
		{"flag", `"runs": "from_file",`, "from_flag", "from_flag"},
		{"file", `"runs": "from_file",`, "", "from_file"},
		{"default", "", "", "from_default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeStudy(t, strings.Replace(testStudy, `"description"`, tc.runs+` "description"`, 1))
			opts := Options{Dir: tc.dir, DefaultDir: "from_default", Data: run.Data, Backend: run.Backend, Quiet: true, Points: []string{"zero"}}
			var out bytes.Buffer
			if err := RunFile(&out, path, "", opts); err != nil {
				t.Fatal(err)
			}
			if dirs, _ := filepath.Glob(filepath.Join(tc.want, "*", "*")); len(dirs) == 0 {
				t.Errorf("nothing ran under %s", tc.want)
			}
			for _, other := range []string{"from_flag", "from_file", "from_default"} {
				if _, err := os.Stat(other); other != tc.want && err == nil {
					t.Errorf("a run wrote under %s, want only %s", other, tc.want)
				}
			}
			os.RemoveAll(tc.want)
		})
	}
}
