package sweep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/internal/strictjson"
)

// Spec is a sweep, read strictly from JSON by [LoadSpec] (see the package doc for an example).
// LoadSpec loads Base and applies Set once; the other fields are read when used, so a caller
// may narrow Axes or Metrics after loading (the configs' smoke test runs fewer values).
type Spec struct {
	// Description states the command, its cost on two CPU cores and the result to expect.
	Description string `json:"description"`
	// Base is the path of the training config every point starts from, relative to the
	// directory of the sweep's file.
	Base string `json:"base"`
	// Set are overrides ("key=value;...") applied to Base for every point.
	Set string `json:"set"`
	// Axes span the grid: every combination of their values is one point. The first axis
	// varies slowest.
	Axes []Axis `json:"axes"`
	// Metrics are the evaluation metrics reported, in the table's order. Every point's
	// evaluation must have them all.
	Metrics []string `json:"metrics"`
	// Expect lists conditions every point's evaluation must meet, in a config's format
	// ({"psnr": ">= 17"}). Absent: the base config's; {}: none.
	Expect map[string]string `json:"expect"`
	// Figure describes the figure; nil: the sweep has none.
	Figure *FigureSpec `json:"figure"`
	// PointHooks are registered point hooks run on every finished point (see [PointHook]);
	// their metrics may be listed in Metrics.
	PointHooks []HookSpec `json:"point_hooks"`

	base *framework.Config // Base, resolved, with Set applied
}

// Axis is one dimension of the grid: a key that -set accepts (a config field or a model
// hyperparameter) and the values it takes, each a string, a number or a boolean of the key's
// type.
type Axis struct {
	Key    string `json:"key"`
	Values []any  `json:"values"`
}

// FigureSpec describes a figure: one panel per metric, with the metric against one axis's
// values, one line per value of another axis.
type FigureSpec struct {
	// File is where the command line writes the figure (.png or .svg), relative to the
	// current directory.
	File string `json:"file"`
	// X is the axis on the horizontal axis; its values must be numbers.
	X string `json:"x"`
	// XLabel labels the horizontal axis ("": X).
	XLabel string `json:"x_label"`
	// LogX draws the horizontal axis on a log₂ scale (its values must be positive).
	LogX bool `json:"log_x"`
	// Series is the axis whose values are drawn as separate lines ("": one line). Any other
	// axis must have a single value.
	Series string `json:"series"`
	// Panels are drawn side by side.
	Panels []PanelSpec `json:"panels"`
}

// PanelSpec is one panel of a figure: a metric of [Spec.Metrics] against the X axis.
type PanelSpec struct {
	Metric string `json:"metric"`
	Title  string `json:"title"`
	// Label labels the vertical axis ("": Metric).
	Label string `json:"label"`
	// Scale multiplies the metric before it is drawn (100 for a share shown in %; 0 means 1).
	Scale float64 `json:"scale"`
}

// Coord is the value of one axis at a point: the key and the value as -set takes it.
type Coord struct {
	Key, Value string
	kind       string // the value's JSON kind in the spec, checked against the key's type
}

// Coords locate a point in the grid, one per axis in the spec's order.
type Coords []Coord

// String returns the coordinates as -set overrides, e.g. "vq_type=simvq;vq_codebook_size=1024":
// the same point is trained alone with `go run ./train --config BASE --set "..."`.
func (c Coords) String() string {
	parts := make([]string, len(c))
	for i, kv := range c {
		parts[i] = kv.Key + "=" + kv.Value
	}
	return strings.Join(parts, ";")
}

// Value returns the value of the axis key ("" if the point has no such axis).
func (c Coords) Value(key string) string {
	for _, kv := range c {
		if paramKey(kv.Key) == paramKey(key) {
			return kv.Value
		}
	}
	return ""
}

// LoadSpec reads a sweep file strictly and checks it: the base config loads, the overrides
// and every point's values apply to it, and the figure refers to the spec's axes and metrics.
// Errors name the file, the key and, for a value that does not apply, the point.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	return parseSpec(path, data)
}

// parseSpec decodes and checks the sweep file at path, whose content is data.
func parseSpec(path string, data []byte) (*Spec, error) {
	var s Spec
	if err := strictjson.Decode(data, &s); err != nil {
		return nil, fmt.Errorf("sweep %s: %w", path, err)
	}
	if err := s.check(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("sweep %s: %w", path, err)
	}
	return &s, nil
}

// check validates a decoded spec and loads its base config from dir.
func (s *Spec) check(dir string) error {
	if s.Base == "" {
		return fmt.Errorf(`key "base" is required`)
	}
	base, err := framework.LoadConfig(filepath.Join(dir, s.Base))
	if err != nil {
		return fmt.Errorf(`key "base": %w`, err)
	}
	if err := base.Set(s.Set); err != nil {
		return fmt.Errorf(`key "set": %w`, err)
	}
	s.base = base
	if s.Expect != nil {
		withExpect := clone(base)
		withExpect.Expect = s.Expect
		if err := withExpect.Set(""); err != nil { // Set resolves the config, which checks the conditions
			return fmt.Errorf(`key "expect": %w`, err)
		}
	}
	if err := checkHooks("point_hooks", s.PointHooks); err != nil {
		return err
	}
	if err := s.checkAxes(); err != nil {
		return err
	}
	if len(s.Metrics) == 0 {
		return fmt.Errorf(`key "metrics" must not be empty`)
	}
	for i, m := range s.Metrics {
		if m == "" {
			return fmt.Errorf(`key "metrics[%d]" is empty`, i)
		}
		if slices.Index(s.Metrics, m) != i {
			return fmt.Errorf(`key "metrics[%d]": %q is listed twice`, i, m)
		}
	}
	if err := s.checkFigure(); err != nil {
		return err
	}
	grid, err := s.Grid()
	if err != nil {
		return err
	}
	for _, coords := range grid {
		if _, err := s.Config(coords, ""); err != nil {
			return err
		}
	}
	return nil
}

func (s *Spec) checkAxes() error {
	if len(s.Axes) == 0 {
		return fmt.Errorf(`key "axes" must not be empty`)
	}
	seen := map[string]bool{}
	for i, a := range s.Axes {
		path := fmt.Sprintf("axes[%d]", i)
		if a.Key == "" {
			return fmt.Errorf(`key "%s.key" is required`, path)
		}
		if seen[paramKey(a.Key)] {
			return fmt.Errorf(`key "%s.key": %q is already an axis`, path, a.Key)
		}
		seen[paramKey(a.Key)] = true
		if len(a.Values) == 0 {
			return fmt.Errorf(`key "%s.values" must not be empty`, path)
		}
		texts := map[string]bool{}
		for j, v := range a.Values {
			text, _, err := valueText(v)
			if err != nil {
				return fmt.Errorf(`key "%s.values[%d]": %w`, path, j, err)
			}
			if texts[text] {
				return fmt.Errorf(`key "%s.values[%d]": %s appears twice`, path, j, text)
			}
			texts[text] = true
		}
	}
	return nil
}

func (s *Spec) checkFigure() error {
	f := s.Figure
	if f == nil {
		return nil
	}
	x := s.axis(f.X)
	if x == nil {
		return fmt.Errorf(`key "figure.x": %q is not one of the axes (%s)`, f.X, strings.Join(s.axisKeys(), ", "))
	}
	for i, v := range x.Values {
		_, kind, _ := valueText(v)
		if kind != "number" {
			return fmt.Errorf(`key "figure.x": axis %q has the non-numeric value %v (values[%d])`, f.X, v, i)
		}
		if f.LogX && !(numberValue(v) > 0) {
			return fmt.Errorf(`key "figure.log_x": axis %q has the value %v, not positive`, f.X, v)
		}
	}
	if f.Series != "" {
		if series := s.axis(f.Series); series == nil || series == x {
			others := slices.DeleteFunc(s.axisKeys(), func(k string) bool { return paramKey(k) == paramKey(f.X) })
			return fmt.Errorf(`key "figure.series": %q is not one of the axes other than x (%s)`, f.Series, strings.Join(others, ", "))
		}
	}
	for _, a := range s.Axes {
		if len(a.Values) > 1 && paramKey(a.Key) != paramKey(f.X) && paramKey(a.Key) != paramKey(f.Series) {
			return fmt.Errorf(`key "figure": axis %q has %d values but is neither "x" nor "series": the figure could not tell its points apart`, a.Key, len(a.Values))
		}
	}
	if len(f.Panels) == 0 {
		return fmt.Errorf(`key "figure.panels" must not be empty`)
	}
	for i, p := range f.Panels {
		if !slices.Contains(s.Metrics, p.Metric) {
			return fmt.Errorf(`key "figure.panels[%d].metric": %q is not one of "metrics" (%s)`, i, p.Metric, strings.Join(s.Metrics, ", "))
		}
	}
	return nil
}

// axis returns the axis of key (with or without "params."), or nil.
func (s *Spec) axis(key string) *Axis {
	for i := range s.Axes {
		if key != "" && paramKey(s.Axes[i].Key) == paramKey(key) {
			return &s.Axes[i]
		}
	}
	return nil
}

func (s *Spec) axisKeys() []string {
	keys := make([]string, len(s.Axes))
	for i, a := range s.Axes {
		keys[i] = a.Key
	}
	return keys
}

// paramKey strips the optional "params." prefix -set accepts for hyperparameters.
func paramKey(key string) string {
	return strings.TrimPrefix(key, "params.")
}

// valueText returns an axis value as -set takes it, and its JSON kind: "string", "number"
// or "boolean".
func valueText(v any) (text, kind string, err error) {
	switch v := v.(type) {
	case string:
		if strings.Contains(v, ";") {
			return "", "", fmt.Errorf("%q: a value cannot contain ';' (it separates -set overrides)", v)
		}
		return v, "string", nil
	case bool:
		return strconv.FormatBool(v), "boolean", nil
	case json.Number:
		return string(v), "number", nil
	case int:
		return strconv.Itoa(v), "number", nil
	case int64:
		return strconv.FormatInt(v, 10), "number", nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", "", fmt.Errorf("%v is not a finite number", v)
		}
		return strconv.FormatFloat(v, 'g', -1, 64), "number", nil
	}
	return "", "", fmt.Errorf("%v (%T) is not a string, number or boolean", v, v)
}

// numberValue returns a numeric axis value as a float (NaN for other values).
func numberValue(v any) float64 {
	text, kind, err := valueText(v)
	if err != nil || kind != "number" {
		return math.NaN()
	}
	x, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return math.NaN()
	}
	return x
}

// Grid returns the coordinates of every point: the Cartesian product of the axes, in order,
// the first axis varying slowest.
func (s *Spec) Grid() ([]Coords, error) {
	grid := []Coords{nil}
	for i, a := range s.Axes {
		if len(a.Values) == 0 {
			return nil, fmt.Errorf("axis %q has no values", a.Key)
		}
		next := make([]Coords, 0, len(grid)*len(a.Values))
		for _, c := range grid {
			for j, v := range a.Values {
				text, kind, err := valueText(v)
				if err != nil {
					return nil, fmt.Errorf(`key "axes[%d].values[%d]": %w`, i, j, err)
				}
				next = append(next, append(slices.Clip(c), Coord{Key: a.Key, Value: text, kind: kind}))
			}
		}
		grid = next
	}
	return grid, nil
}

// Config returns the training config of the point at coords: the base config with the
// spec's overrides, then extra (e.g. Options.Set; its steps leaves a base of steps 0 at 0),
// then the point's values, and the spec's expect conditions. Errors name the point and the key.
func (s *Spec) Config(coords Coords, extra string) (*framework.Config, error) {
	return s.config(coords, "", extra)
}

// config is Config with a study's overrides (fixed) applied before the user's (extra).
func (s *Spec) config(coords Coords, fixed, extra string) (*framework.Config, error) {
	if s.base == nil {
		return nil, fmt.Errorf("sweep: the spec was not read by LoadSpec")
	}
	for _, key := range overrideKeys(framework.JoinOverrides(fixed, extra)) {
		if a := s.axis(key); a != nil {
			return nil, fmt.Errorf("-set %s: %q is an axis of the sweep, whose values would replace it", key, a.Key)
		}
	}
	cfg := clone(s.base)
	if err := applyOverrides(cfg, fixed, extra); err != nil {
		return nil, err
	}
	// One call: the model checks its hyperparameters together, and a combination that only
	// holds once every axis is set (e.g. an FSQ grid matching the codebook size) must pass.
	if err := cfg.Set(coords.String()); err != nil {
		return nil, fmt.Errorf("point %s: %w", coords, err)
	}
	if err := checkKinds(cfg, coords); err != nil {
		return nil, fmt.Errorf("point %s: %w", coords, err)
	}
	if s.Expect != nil {
		cfg.Expect = maps.Clone(s.Expect)
	}
	return cfg, nil
}

// overrideKeys returns the keys of "key=value;..." overrides.
func overrideKeys(overrides string) []string {
	var keys []string
	for _, kv := range strings.Split(overrides, ";") {
		if key, _, ok := strings.Cut(kv, "="); ok {
			keys = append(keys, strings.TrimSpace(key))
		}
	}
	return keys
}

// clone copies a config, with maps of its own.
func clone(c *framework.Config) *framework.Config {
	cfg := *c
	cfg.Params = maps.Clone(c.Params)
	cfg.Expect = maps.Clone(c.Expect)
	return &cfg
}

// checkKinds refuses axis values whose JSON kind differs from the resolved key's: -set would
// read the string "256" as a number, or the number 3 as a string.
func checkKinds(cfg *framework.Config, coords Coords) error {
	resolved, err := jsonObject(cfg.JSON())
	if err != nil {
		return err
	}
	params, _ := resolved["params"].(map[string]any)
	for _, c := range coords {
		v, ok := params[paramKey(c.Key)]
		if !ok {
			v, ok = resolved[c.Key]
		}
		if !ok || c.kind == "" {
			continue
		}
		if _, want, _ := valueText(v); c.kind != want {
			return fmt.Errorf("key %q: got the %s %q, want a %s", c.Key, c.kind, c.Value, want)
		}
	}
	return nil
}

// jsonObject decodes a JSON object keeping numbers as json.Number.
func jsonObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	return m, nil
}

// ConfigHash identifies how a config trains: the first 12 hex digits of the SHA-256 of its
// resolved JSON, keys sorted, without "description" and "expect" (which say what to expect,
// not how to train).
func ConfigHash(cfg *framework.Config) string {
	m, err := jsonObject(cfg.JSON())
	if err != nil {
		panic(err) // Config.JSON is valid JSON
	}
	delete(m, "description")
	delete(m, "expect")
	// Keys at their default values are left out, so that a key the framework, a model or a
	// dataset adds later (with a default that keeps the old behaviour) does not change the hash
	// of every existing point. A default that changes does change it: the stored config holds
	// the old value explicitly.
	for k, v := range m {
		if isZeroJSON(v) {
			delete(m, k)
		}
	}
	if params, ok := m["params"].(map[string]any); ok {
		defaults, err := cfg.ParamDefaults()
		if err == nil {
			for k, v := range params {
				if d, ok := defaults[k]; ok && sameJSONValue(v, d) {
					delete(params, k)
				}
			}
		}
	}
	canonical, err := json.Marshal(m) // maps marshal with sorted keys
	if err != nil {
		panic(err) // plain values only
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])[:12]
}

// sameJSONValue reports whether a decoded JSON value (json.Number, string, bool) equals a Go
// default value (int, float64, string, bool) once converted to the default's type.
func sameJSONValue(v, def any) bool {
	converted, err := hparams.Convert(v, def)
	return err == nil && converted == def
}

// isZeroJSON reports a decoded JSON value that is the zero value of its Go field: "", 0,
// false or null.
func isZeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	}
	return false
}

// dirName names a point's run directory: its axis values, readable, then its config hash.
func dirName(coords Coords, hash string) string {
	const maxValueLen = 24
	parts := make([]string, 0, len(coords)+1)
	for _, c := range coords {
		v := safeName(c.Value)
		if len(v) > maxValueLen {
			v = v[:maxValueLen]
		}
		parts = append(parts, v)
	}
	parts = append(parts, hash)
	return strings.Join(parts, "-")
}

// safeName makes a value safe in a directory name: characters other than ASCII letters,
// digits and ".-_+" become '-'.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (r == '.' || r == '-' || r == '_' || r == '+' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return r
		}
		return '-'
	}, s)
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
