package sweep

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/atomicfile"
	"github.com/qzoo/qzoo/internal/sweeptest"
	"gonum.org/v1/gonum/stat"
)

// spec returns a sweep file over the test model with the given axes and extra keys.
func spec(axes, extra string) string {
	return `{"base": "base.json", "axes": ` + axes + `, "metrics": ["mse", "level"]` + extra + `}`
}

func load(t *testing.T, base, content string) *Spec {
	t.Helper()
	s, err := LoadSpec(sweeptest.WriteSpec(t, base, content))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadSpecErrors(t *testing.T) {
	const level = `[{"key": "sweeptest_level", "values": [1, 2]}]`
	figure := func(f string) string { return `, "figure": ` + f }
	for _, tc := range []struct{ name, content, want string }{
		{"unknown key", spec(level, `, "figures": {}`), `unknown key "figures"; valid keys are: description, base, set, axes, metrics, expect, figure, point_hooks`},
		{"unknown axis key", spec(`[{"key": "sweeptest_level", "value": [1]}]`, ""), `key "axes[0]": unknown key "value"; valid keys are: key, values`},
		{"unknown panel key", spec(level, figure(`{"x": "sweeptest_level", "panels": [{"metric": "mse", "ylabel": "x"}]}`)), `key "figure.panels[0]": unknown key "ylabel"; valid keys are: metric, title, label, scale`},
		{"duplicate key", `{"base": "base.json", "axes": ` + level + `, "metrics": ["mse"], "base": "other.json"}`, `key "base" appears twice`},
		{"duplicate nested key", spec(`[{"key": "sweeptest_level", "values": [1], "key": "sweeptest_name"}]`, ""), `key "axes[0]": key "key" appears twice`},
		{"duplicate axis", spec(`[{"key": "sweeptest_level", "values": [1]}, {"key": "params.sweeptest_level", "values": [2]}]`, ""), `key "axes[1].key": "params.sweeptest_level" is already an axis`},
		{"duplicate value", spec(`[{"key": "sweeptest_level", "values": [1, 2, 1]}]`, ""), `key "axes[0].values[2]": 1 appears twice`},
		{"no axes", `{"base": "base.json", "metrics": ["mse"]}`, `key "axes" must not be empty`},
		{"empty axes", spec(`[]`, ""), `key "axes" must not be empty`},
		{"empty values", spec(`[{"key": "sweeptest_level", "values": []}]`, ""), `key "axes[0].values" must not be empty`},
		{"no axis key", spec(`[{"values": [1]}]`, ""), `key "axes[0].key" is required`},
		{"values not a list", spec(`[{"key": "sweeptest_level", "values": 3}]`, ""), `key "axes[0].values": got JSON number, want a list`},
		{"value not a scalar", spec(`[{"key": "sweeptest_level", "values": [1, {"a": 2}]}]`, ""), `key "axes[0].values[1]": got JSON object, want a string, number or boolean`},
		{"null value", spec(`[{"key": "sweeptest_level", "values": [null]}]`, ""), `key "axes[0].values[0]": got JSON null`},
		{"value with a semicolon", spec(`[{"key": "sweeptest_name", "values": ["a;steps=9"]}]`, ""), `cannot contain ';'`},
		{"unknown axis", spec(`[{"key": "sweeptest_levle", "values": [1]}]`, ""), `point sweeptest_levle=1: -set: unknown key "sweeptest_levle"; valid keys are:`},
		{"word for an int", spec(`[{"key": "sweeptest_name", "values": ["a", "b"]}, {"key": "sweeptest_level", "values": [1, "x"]}]`, ""),
			`point sweeptest_name=a;sweeptest_level=x: -set sweeptest_level: "x" is not an integer`},
		{"string for an int", spec(`[{"key": "sweeptest_level", "values": [1, "2"]}]`, ""), `point sweeptest_level=2: key "sweeptest_level": got the string "2", want a number`},
		{"number for a string", spec(`[{"key": "sweeptest_name", "values": ["a", 3]}]`, ""), `point sweeptest_name=3: key "sweeptest_name": got the number "3", want a string`},
		{"fraction for an int", spec(`[{"key": "sweeptest_level", "values": [1.5]}]`, ""), `point sweeptest_level=1.5: -set sweeptest_level: "1.5" is not an integer`},
		{"boolean for an int", spec(`[{"key": "sweeptest_level", "values": [true]}]`, ""), `point sweeptest_level=true: -set sweeptest_level: "true" is not an integer`},
		{"word for a config field", spec(`[{"key": "steps", "values": [3, "many"]}]`, ""), `point steps=many: -set steps: "many" is not an integer`},
		{"no base", `{"axes": ` + level + `, "metrics": ["mse"]}`, `key "base" is required`},
		{"missing base", `{"base": "nope.json", "axes": ` + level + `, "metrics": ["mse"]}`, `key "base": config: open`},
		{"bad set", spec(level, `, "set": "stepz=3"`), `key "set": -set: unknown key "stepz"`},
		{"no metrics", `{"base": "base.json", "axes": ` + level + `}`, `key "metrics" must not be empty`},
		{"metric twice", `{"base": "base.json", "axes": ` + level + `, "metrics": ["mse", "mse"]}`, `key "metrics[1]": "mse" is listed twice`},
		{"bad condition", spec(level, `, "expect": {"mse": "about 3"}`), `key "expect": key expect.mse: condition "about 3"`},
		{"condition not a string", spec(level, `, "expect": {"mse": 3}`), `key "expect.mse": got JSON number, want a string`},
		{"figure x not an axis", spec(level, figure(`{"x": "steps", "panels": [{"metric": "mse"}]}`)), `key "figure.x": "steps" is not one of the axes (sweeptest_level)`},
		{"figure x not numbers", spec(`[{"key": "sweeptest_name", "values": ["a"]}]`, figure(`{"x": "sweeptest_name", "panels": [{"metric": "mse"}]}`)), `key "figure.x": axis "sweeptest_name" has the non-numeric value a`},
		{"log x not positive", spec(`[{"key": "sweeptest_level", "values": [0, 1]}]`, figure(`{"x": "sweeptest_level", "log_x": true, "panels": [{"metric": "mse"}]}`)), `key "figure.log_x": axis "sweeptest_level" has the value 0, not positive`},
		{"series is x", spec(level, figure(`{"x": "sweeptest_level", "series": "sweeptest_level", "panels": [{"metric": "mse"}]}`)), `key "figure.series"`},
		{"axis off the figure", spec(`[{"key": "sweeptest_level", "values": [1, 2]}, {"key": "sweeptest_name", "values": ["a", "b"]}]`, figure(`{"x": "sweeptest_level", "panels": [{"metric": "mse"}]}`)),
			`key "figure": axis "sweeptest_name" has 2 values but is neither "x" nor "series"`},
		{"no panels", spec(level, figure(`{"x": "sweeptest_level"}`)), `key "figure.panels" must not be empty`},
		{"panel metric not listed", spec(level, figure(`{"x": "sweeptest_level", "panels": [{"metric": "psnr"}]}`)), `key "figure.panels[0].metric": "psnr" is not one of "metrics" (mse, level)`},
		{"trailing data", spec(level, "") + ` {}`, "trailing data"},
		{"not JSON", `{"base": `, "EOF"},
		{"not an object", `["base.json"]`, "got JSON list, want an object with keys description, base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sweeptest.WriteSpec(t, sweeptest.Base, tc.content)
			_, err := LoadSpec(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "sweep "+path+": ") || strings.HasSuffix(err.Error(), ", ") {
				t.Errorf("got %v,\nwant an error naming the file and containing %q", err, tc.want)
			}
		})
	}
}

func TestGridOrderAndPointConfigs(t *testing.T) {
	s := load(t, sweeptest.Base, spec(`[
		{"key": "sweeptest_level", "values": [2, 1]},
		{"key": "params.sweeptest_name", "values": ["x", "y", "z"]},
		{"key": "sweeptest_flag", "values": [true, false]}]`, `, "set": "batch_size=4"`))
	grid, err := s.Grid()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range grid {
		got = append(got, c.String())
	}
	var want []string
	for _, level := range []string{"2", "1"} {
		for _, name := range []string{"x", "y", "z"} {
			for _, flag := range []string{"true", "false"} {
				want = append(want, "sweeptest_level="+level+";params.sweeptest_name="+name+";sweeptest_flag="+flag)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("grid order:\n%q\nwant (the spec's order, the first axis slowest)\n%q", got, want)
	}
	if v := grid[3].Value("sweeptest_name"); v != "y" {
		t.Errorf(`Value("sweeptest_name") = %q, want "y"`, v)
	}

	cfg, err := s.Config(grid[3], "steps=5")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Steps != 5 || cfg.BatchSize != 4 || cfg.Params["sweeptest_level"] != 2 || cfg.Params["sweeptest_name"] != "y" || cfg.Params["sweeptest_flag"] != false {
		t.Errorf("point %s: steps %d, batch size %d, params %v", grid[3], cfg.Steps, cfg.BatchSize, cfg.Params)
	}
	if s.base.Params["sweeptest_name"] != "a" || s.base.Steps != 2 {
		t.Errorf("Config modified the base config: %+v", s.base)
	}
	if _, err := s.Config(grid[0], "steps=5;sweeptest_flag=true"); err == nil || !strings.Contains(err.Error(), `-set sweeptest_flag: "sweeptest_flag" is an axis of the sweep`) {
		t.Errorf("an extra override of an axis: got %v", err)
	}
}

func TestConfigHashAndDirectory(t *testing.T) {
	s := load(t, sweeptest.Base, spec(`[{"key": "sweeptest_name", "values": ["x/y", "b"]}]`, ""))
	grid, err := s.Grid()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Config(grid[0], "")
	if err != nil {
		t.Fatal(err)
	}
	hash := ConfigHash(cfg)
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(hash) {
		t.Fatalf("hash %q, want 12 hex digits", hash)
	}
	if name := dirName(grid[0], hash); name != "x-y-"+hash {
		t.Errorf("directory %q, want %q", name, "x-y-"+hash)
	}
	same := clone(cfg)
	same.Description, same.Expect = "other words", map[string]string{"mse": "< 1"}
	if ConfigHash(same) != hash {
		t.Error("description and expect changed the hash")
	}
	// A key at its default is left out of the hash, so that keys added later with a default
	// keeping the old behaviour leave existing points' hashes alone; a non-default value counts.
	atDefault := clone(cfg)
	delete(atDefault.Params, "adam_epsilon") // as if the key had not existed when the point ran
	if ConfigHash(atDefault) != hash {
		t.Error("a hyperparameter missing from the params map (taking its default) changed the hash")
	}
	for _, set := range []string{"steps=3", "learning_rate=0.01", "sweeptest_name=b", "eval_examples=10", "adam_epsilon=1e-6", "seed=0"} {
		other := clone(cfg)
		if err := other.Set(set); err != nil {
			t.Fatal(err)
		}
		if ConfigHash(other) == hash {
			t.Errorf("-set %s did not change the hash", set)
		}
	}
}

func TestExpectFromBaseOrSpec(t *testing.T) {
	base := strings.TrimSuffix(sweeptest.Base, "}") + `, "expect": {"mse": "< 1"}}`
	const axes = `[{"key": "sweeptest_level", "values": [1]}]`
	for _, tc := range []struct {
		name, extra string
		want        map[string]string
	}{
		{"base's", "", map[string]string{"mse": "< 1"}},
		{"spec's", `, "expect": {"level": ">= 1"}`, map[string]string{"level": ">= 1"}},
		{"none", `, "expect": {}`, map[string]string{}},
	} {
		s := load(t, base, spec(axes, tc.extra))
		grid, _ := s.Grid()
		cfg, err := s.Config(grid[0], "")
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Expect) != len(tc.want) || (len(tc.want) > 0 && !equalMaps(cfg.Expect, tc.want)) {
			t.Errorf("%s: point expects %v, want %v", tc.name, cfg.Expect, tc.want)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestTableAndPlot(t *testing.T) {
	s := load(t, sweeptest.Base, spec(`[{"key": "sweeptest_name", "values": ["b", "a"]}, {"key": "sweeptest_level", "values": [1, 4]}]`,
		`, "figure": {"x": "sweeptest_level", "x_label": "level", "log_x": true, "series": "sweeptest_name",
			"panels": [{"metric": "level", "title": "Level", "label": "level (%)", "scale": 100}, {"metric": "mse", "title": "Error"}]}`))
	grid, err := s.Grid()
	if err != nil {
		t.Fatal(err)
	}
	var points []Point
	for i, c := range grid {
		points = append(points, Point{Coords: c, Step: 2, Metrics: map[string]float64{"mse": 0.012345, "level": float64(i)}})
	}
	want := "| sweeptest_name | sweeptest_level | mse | level |\n" +
		"|---|---|---:|---:|\n" +
		"| b | 1 | 0.01235 | 0 |\n" +
		"| b | 4 | 0.01235 | 1 |\n" +
		"| a | 1 | 0.01235 | 2 |\n" +
		"| a | 4 | 0.01235 | 3 |\n"
	if table := s.Table(points); table != want {
		t.Errorf("table:\n%s\nwant:\n%s", table, want)
	}
	fig, err := s.Plot(points)
	if err != nil {
		t.Fatal(err)
	}
	if len(fig.Panels) != 2 {
		t.Fatalf("%d panels, want 2", len(fig.Panels))
	}
	p := fig.Panels[0]
	if p.Title != "Level" || p.XLabel != "level" || p.YLabel != "level (%)" || !p.LogX || len(p.Series) != 2 {
		t.Fatalf("first panel: %+v", p)
	}
	if p.Series[0].Name != "b" || p.Series[1].Name != "a" || p.Series[1].Points[1].X != 4 || p.Series[1].Points[1].Y != 300 {
		t.Errorf("series in the spec's order, scaled: %+v", p.Series)
	}
	if fig.Panels[1].YLabel != "mse" || fig.Panels[1].Series[0].Points[0].Y != 0.012345 {
		t.Errorf("second panel (default label, no scale): %+v", fig.Panels[1])
	}
	if _, err := fig.PNG(); err != nil {
		t.Error(err)
	}
}

// TestPlotWithoutSeriesAxis: a sweep without a series axis draws one unnamed line per panel,
// which takes no legend (its y label names it).
func TestPlotWithoutSeriesAxis(t *testing.T) {
	s := load(t, sweeptest.Base, spec(`[{"key": "sweeptest_level", "values": [1, 4]}]`,
		`, "figure": {"x": "sweeptest_level", "panels": [{"metric": "mse", "title": "Error", "label": "MSE"}]}`))
	grid, err := s.Grid()
	if err != nil {
		t.Fatal(err)
	}
	var points []Point
	for _, c := range grid {
		points = append(points, Point{Coords: c, Step: 2, Metrics: map[string]float64{"mse": 0.5}})
	}
	fig, err := s.Plot(points)
	if err != nil {
		t.Fatal(err)
	}
	if len(fig.Panels) != 1 || len(fig.Panels[0].Series) != 1 || fig.Panels[0].Series[0].Name != "" || len(fig.Panels[0].Series[0].Points) != 2 {
		t.Errorf("panels %+v, want one with one unnamed line of two points", fig.Panels)
	}
}

// options returns sweep options that train on the shared Fashion-MNIST and pure-Go backend.
func options(t *testing.T, dir, set string) Options {
	shared := sweeptest.RunOptions(t)
	return Options{Dir: dir, Set: set, Data: shared.Data, Backend: shared.Backend, Out: shared.Out, Quiet: true}
}

// TestRunReusesOnlyTheSameConfig is the regression test of fault 8: a sweep run twice into
// the same directory with different overrides but the same step count reused the first
// run's points.
func TestRunReusesOnlyTheSameConfig(t *testing.T) {
	s := load(t, sweeptest.Base, spec(`[{"key": "sweeptest_level", "values": [0, 1]}]`, ""))
	root := t.TempDir()
	var log bytes.Buffer
	opts := options(t, root, "learning_rate=0.01")
	opts.Out = &log
	first, err := Run(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Progress: before each point its rank, the time elapsed and the time left, unknown until
	// a point has trained; then the total.
	for _, want := range []string{"sweep: point 1/2 (sweeptest_level=0), elapsed 0s, estimated time left unknown: training 2 steps → ",
		"sweep: point 2/2 (sweeptest_level=1), elapsed ", "sweep: 2 points in ", " (2 trained, 0 read back)\n"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, log.String())
		}
	}
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.HasPrefix(line, "sweep: point 2/2") && strings.Contains(line, "unknown") {
			t.Errorf("the second point's time left is unknown after the first trained: %s", line)
		}
	}
	for _, p := range first {
		if p.Reused || p.Step != 2 || !strings.HasPrefix(filepath.Base(p.Dir), p.Coords.Value("sweeptest_level")+"-"+p.Hash) {
			t.Errorf("first run, point %s: reused %v, step %d, dir %s", p.Coords, p.Reused, p.Step, p.Dir)
		}
	}

	log.Reset()
	again, err := Run(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Points to read back are known before any runs: no time is left to estimate.
	for _, want := range []string{"sweep: point 1/2 (sweeptest_level=0), elapsed 0s, estimated time left 0s: read back from ",
		" (0 trained, 2 read back)\n"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log of the second run lacks %q:\n%s", want, log.String())
		}
	}
	for i, p := range again {
		if !p.Reused || p.Dir != first[i].Dir || p.Metrics["mse"] != first[i].Metrics["mse"] {
			t.Errorf("same overrides, point %s: reused %v, dir %s, mse %v; want the first run's %s, %v", p.Coords, p.Reused, p.Dir, p.Metrics["mse"], first[i].Dir, first[i].Metrics["mse"])
		}
		// The per-image samples come back with the point: 100 images whose errors average to its mse.
		if mse := first[i].Samples["mse"]; len(mse) != 100 || math.Abs(stat.Mean(mse, nil)-p.Metrics["mse"]) > 1e-6*p.Metrics["mse"] ||
			!slices.Equal(p.Samples["mse"], mse) {
			t.Errorf("point %s: samples %d run, %d read back, averaging %g against mse %g", p.Coords, len(mse), len(p.Samples["mse"]),
				stat.Mean(mse, nil), p.Metrics["mse"])
		}
	}

	other, err := Run(s, options(t, root, "learning_rate=0.1"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range other {
		if p.Reused || p.Dir == first[i].Dir || p.Metrics["mse"] == first[i].Metrics["mse"] {
			t.Errorf("other overrides, same steps, point %s: reused %v, dir %s, mse %v: the first run's point (%s, mse %v) was taken for it",
				p.Coords, p.Reused, p.Dir, p.Metrics["mse"], first[i].Dir, first[i].Metrics["mse"])
		}
	}

	// A directory whose config.json is not the point's config (edited, or written by another
	// version) is not read back, nor is an evaluation at another step: the point is
	// evaluated again.
	cfgPath := filepath.Join(first[0].Dir, framework.ConfigFile)
	edited, err := framework.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := edited.Set("log_every=2"); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(cfgPath, edited.JSON()); err != nil {
		t.Fatal(err)
	}
	if err := framework.WriteEval(filepath.Join(first[1].Dir, framework.EvalFile), 1, first[1].Metrics); err != nil {
		t.Fatal(err)
	}
	redone, err := Run(s, options(t, root, "learning_rate=0.01"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range redone {
		if p.Reused || p.Dir != first[i].Dir || p.Step != 2 {
			t.Errorf("point %s after its directory was edited: reused %v, dir %s, step %d; want it evaluated again in %s", p.Coords, p.Reused, p.Dir, p.Step, first[i].Dir)
		}
	}
	if again, err := Run(s, options(t, root, "learning_rate=0.01")); err != nil || !again[0].Reused || !again[1].Reused {
		t.Errorf("after evaluating again, the points are not read back: %v", err)
	}
}

// TestRunReportsUnmetExpectations is the regression test of fault 3 (sweep part): every point
// is checked against the expect conditions, all points run, and the points that fail are
// reported with the conditions they miss.
func TestRunReportsUnmetExpectations(t *testing.T) {
	root := t.TempDir()
	const axes = `[{"key": "sweeptest_level", "values": [0, 1, 2]}]`
	s := load(t, sweeptest.Base, spec(axes, `, "expect": {"level": "<= 1", "mse": ">= 0"}`))
	points, err := Run(s, options(t, root, ""))
	var unmet *ExpectationsError
	if !errors.As(err, &unmet) {
		t.Fatalf("got error %v, want an *ExpectationsError", err)
	}
	if len(points) != 3 || unmet.Total != 3 || len(unmet.Failed) != 1 || unmet.Failed[0].Coords.String() != "sweeptest_level=2" {
		t.Fatalf("%d points, failed %+v of %d; want all 3 points and sweeptest_level=2 failed", len(points), unmet.Failed, unmet.Total)
	}
	if len(points[0].Expectations) != 2 || len(points[0].Unmet) != 0 || len(points[2].Unmet) != 1 || !strings.Contains(points[2].Unmet[0], "level <= 1") {
		t.Errorf("expectations of the points: %q / %q, %q / %q", points[0].Expectations, points[0].Unmet, points[2].Expectations, points[2].Unmet)
	}
	if msg := err.Error(); !strings.Contains(msg, "1 of 3 points") || !strings.Contains(msg, "sweeptest_level=2: expect level <= 1") {
		t.Errorf("error message %q should count the failed points and name each with its condition", msg)
	}

	// Conditions are the base config's when the spec has none; changing them trains nothing.
	base := strings.TrimSuffix(sweeptest.Base, "}") + `, "expect": {"level": ">= 1"}}`
	fromBase := load(t, base, spec(axes, ""))
	points, err = Run(fromBase, options(t, root, ""))
	if !errors.As(err, &unmet) || len(unmet.Failed) != 1 || unmet.Failed[0].Coords.String() != "sweeptest_level=0" {
		t.Fatalf("base's conditions: got %v, want sweeptest_level=0 to fail", err)
	}
	for _, p := range points {
		if !p.Reused {
			t.Errorf("point %s was trained again for other expect conditions", p.Coords)
		}
	}
}

func TestRunMissingMetric(t *testing.T) {
	s := load(t, sweeptest.Base, `{"base": "base.json", "axes": [{"key": "sweeptest_level", "values": [0, 1]}], "metrics": ["mse", "code_perplexity"]}`)
	points, err := Run(s, options(t, t.TempDir(), ""))
	var missing *MissingMetricError
	if !errors.As(err, &missing) || missing.Metric != "code_perplexity" || len(points) != 0 {
		t.Fatalf("got %d points and error %v, want a *MissingMetricError for code_perplexity at the first point", len(points), err)
	}
	if msg := err.Error(); !strings.Contains(msg, `point sweeptest_level=0`) || !strings.Contains(msg, `metric "code_perplexity" is not in its evaluation; it has: level, mse`) {
		t.Errorf("error %q should name the point, the metric and the metrics available", msg)
	}
}

func TestRunRefusesAnAxisInOptionsSet(t *testing.T) {
	s := load(t, sweeptest.Base, spec(`[{"key": "sweeptest_level", "values": [0]}]`, ""))
	dir := t.TempDir()
	_, err := Run(s, Options{Dir: dir, Set: "sweeptest_level=3"})
	if err == nil || !strings.Contains(err.Error(), "is an axis of the sweep") {
		t.Errorf("got %v, want the override of an axis refused", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused sweep created %d entries in its directory", len(entries))
	}
}
