package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/strictjson"
	"github.com/qzoo/qzoo/plots"
)

// Study is a study file, read strictly by [Load]: parts (sweep files or lists of explicit
// points, each run under one or more variants), the files to prepare first and the report
// that renders every point as one table and one figure. See the package doc.
type Study struct {
	// Description states the command, its cost on two CPU cores and the result to expect.
	Description string `json:"description"`
	// Prepare are preparation steps, run once (their file is kept under the study's root);
	// each step's file is the variable ${NAME} of its registered name.
	Prepare []HookSpec `json:"prepare"`
	// Parts are run in order; a part's points may name an earlier point's run directory as
	// ${POINT} (e.g. init_from=${full_finetune}).
	Parts []Part `json:"parts"`
	// Report is the registered report rendering the table and the figure.
	Report string `json:"report"`
	// Figure is where the command line writes the report's figure (.png or .svg).
	Figure string `json:"figure"`
	// Runs is the default root of the run directories for go run ./study and go run ./sweep
	// (absent: runs/NAME and runs/sweep),
	// relative to the working directory: studies that share points name the same root, so a
	// point of both (same part, variant, name and config) is trained once and read back by the
	// other (e.g. the distillation study reads the scaling study's model-size family).
	Runs string `json:"runs"`
}

// Part is a set of points of a study: a sweep file's grid, or explicit points.
type Part struct {
	// Name names the part (the subdirectory of its runs, the report's grouping); unique.
	Name string `json:"name"`
	// Sweep is a sweep file (relative to the study's file) whose grid are the points.
	Sweep string `json:"sweep"`
	// Points are explicit points, when Sweep is empty.
	Points []PointSpec `json:"points"`
	// Set are overrides for every point of the part (after the sweep's or the point's own).
	Set string `json:"set"`
	// Expect replaces the expect conditions of every point (absent: the sweep's or each
	// point's base config's; {}: none).
	Expect map[string]string `json:"expect"`
	// Labels are passed to the report with every point of the part.
	Labels map[string]string `json:"labels"`
	// PointHooks run on every finished point of the part.
	PointHooks []HookSpec `json:"point_hooks"`
	// Variants run every point once per variant, each with its own overrides, labels and
	// hooks (absent: once, as is).
	Variants []Variant `json:"variants"`

	spec *Spec // the sweep file, or nil
}

// PointSpec is an explicit point: a config with overrides, named.
type PointSpec struct {
	// Name names the point: its run directory, its variable ${Name}, the report's row. Two
	// points of a part may share a name to show one run twice (with other labels): the same
	// name and config is the same run directory.
	Name string `json:"name"`
	// Base is the point's training config, relative to the study's file.
	Base string `json:"base"`
	// Set are the point's overrides.
	Set    string            `json:"set"`
	Labels map[string]string `json:"labels"`
}

// Variant is one way of running every point of a part (e.g. on another held-out text).
type Variant struct {
	// Name names the variant: the subdirectory of its runs, the report's grouping.
	Name       string            `json:"name"`
	Set        string            `json:"set"`
	Labels     map[string]string `json:"labels"`
	PointHooks []HookSpec        `json:"point_hooks"`
	// Expect replaces the expect conditions of the variant's points (after the part's: a
	// variant on other data may expect other values; {}: none).
	Expect map[string]string `json:"expect"`
}

// Load reads a study file, or a sweep file (see [LoadSpec]) as a study of one part whose
// report is the sweep's own table and figure, and checks it. Errors name the file and the key.
func Load(path string) (*Study, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) == nil && keys["parts"] == nil {
		spec, err := parseSpec(path, data)
		if err != nil {
			return nil, err
		}
		st := &Study{Description: spec.Description, Parts: []Part{{spec: spec}}}
		if spec.Figure != nil {
			st.Figure = spec.Figure.File
		}
		return st, nil
	}
	var st Study
	if err := strictjson.Decode(data, &st); err != nil {
		return nil, fmt.Errorf("sweep %s: %w", path, err)
	}
	if err := st.check(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("sweep %s: %w", path, err)
	}
	return &st, nil
}

// check validates a decoded study and loads its sweeps and configs from dir.
func (st *Study) check(dir string) error {
	if err := checkPreparations(st.Prepare); err != nil {
		return err
	}
	if len(st.Parts) == 0 {
		return errors.New(`key "parts" must not be empty`)
	}
	if _, err := reports.Lookup(st.Report); err != nil {
		return fmt.Errorf(`key "report": %w`, err)
	}
	names := map[string]bool{}
	known := map[string]string{} // the variables a part may use: preparations, earlier points
	for _, step := range st.Prepare {
		known[step.Name] = step.Name
	}
	for i := range st.Parts {
		p := &st.Parts[i]
		path := fmt.Sprintf("parts[%d]", i)
		if err := checkVariables(path, p, known); err != nil {
			return err
		}
		if p.Name == "" || names[p.Name] {
			return fmt.Errorf(`key "%s.name": %q is empty or names another part`, path, p.Name)
		}
		names[p.Name] = true
		if (p.Sweep == "") == (len(p.Points) == 0) {
			return fmt.Errorf(`key "%s": give "sweep" or "points", not both`, path)
		}
		if err := checkHooks(path+".point_hooks", p.PointHooks); err != nil {
			return err
		}
		if err := framework.CheckConditions(p.Expect); err != nil {
			return fmt.Errorf(`key "%s.expect": %w`, path, err)
		}
		variants := p.variants()
		for j, v := range p.Variants {
			if v.Name == "" {
				return fmt.Errorf(`key "%s.variants[%d].name" is required`, path, j)
			}
			if err := checkHooks(fmt.Sprintf("%s.variants[%d].point_hooks", path, j), v.PointHooks); err != nil {
				return err
			}
			if err := framework.CheckConditions(v.Expect); err != nil {
				return fmt.Errorf(`key "%s.variants[%d].expect": %w`, path, j, err)
			}
		}
		if p.Sweep != "" {
			spec, err := LoadSpec(filepath.Join(dir, p.Sweep))
			if err != nil {
				return fmt.Errorf(`key "%s.sweep": %w`, path, err)
			}
			p.spec = spec
			grid, err := spec.Grid()
			if err != nil {
				return err
			}
			for _, v := range variants {
				for _, coords := range grid {
					if _, err := spec.config(coords, framework.JoinOverrides(p.Set, v.Set), ""); err != nil {
						return fmt.Errorf(`key "%s": %w`, path, err)
					}
				}
			}
			continue
		}
		for j := range p.Points {
			pt := &p.Points[j]
			if pt.Name == "" {
				return fmt.Errorf(`key "%s.points[%d].name" is required`, path, j)
			}
			if pt.Base == "" {
				return fmt.Errorf(`key "%s.points[%d].base" is required`, path, j)
			}
			pt.Base = filepath.Join(dir, pt.Base)
			for _, v := range variants {
				if _, err := pt.config(framework.JoinOverrides(p.Set, v.Set), ""); err != nil {
					return fmt.Errorf(`key "%s.points[%d]": %w`, path, j, err)
				}
			}
		}
	}
	return nil
}

// checkVariables checks that every ${NAME} of a part's overrides is in known, then adds the
// part's explicit points to known.
func checkVariables(path string, p *Part, known map[string]string) error {
	sets := map[string]string{path + ".set": p.Set}
	for j, v := range p.Variants {
		sets[fmt.Sprintf("%s.variants[%d].set", path, j)] = v.Set
	}
	for j, pt := range p.Points {
		sets[fmt.Sprintf("%s.points[%d].set", path, j)] = pt.Set
	}
	for _, key := range sortedKeys(sets) {
		if _, err := substitute(sets[key], known); err != nil {
			return fmt.Errorf(`key "%s": %w`, key, err)
		}
	}
	for _, pt := range p.Points {
		known[pt.Name] = pt.Name
	}
	return nil
}

// variants returns the part's variants, or the one variant of a part without any.
func (p *Part) variants() []Variant {
	if len(p.Variants) == 0 {
		return []Variant{{}}
	}
	return p.Variants
}

// config loads an explicit point's config and applies its overrides, then fixed, then user
// (see applyOverrides).
func (pt *PointSpec) config(fixed, user string) (*framework.Config, error) {
	cfg, err := framework.LoadConfig(pt.Base)
	if err != nil {
		return nil, err
	}
	if err := applyOverrides(cfg, framework.JoinOverrides(pt.Set, fixed), user); err != nil {
		return nil, fmt.Errorf("point %s: %w", pt.Name, err)
	}
	return cfg, nil
}

// applyOverrides applies a study's own overrides (fixed), then the user's (Options.Set): a
// steps override of the user's leaves a point that trains nothing (steps 0: quantize, calibrate,
// evaluate) at steps 0.
func applyOverrides(cfg *framework.Config, fixed, user string) error {
	if err := cfg.Set(fixed); err != nil {
		return err
	}
	steps := cfg.Steps
	if err := cfg.Set(user); err != nil {
		return err
	}
	if steps == 0 {
		cfg.Steps = 0
	}
	return nil
}

// plan is a point of a study, its config resolved.
type plan struct {
	point Point
	cfg   *framework.Config
	hooks []HookSpec
	check *Spec // the sweep whose metrics the point must have, or nil
}

// variable matches ${NAME} in overrides.
var variable = regexp.MustCompile(`\$\{([^}]*)\}`)

// substitute replaces the variables ${NAME} of overrides by their values.
func substitute(overrides string, vars map[string]string) (string, error) {
	var err error
	out := variable.ReplaceAllStringFunc(overrides, func(m string) string {
		name := variable.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok && err == nil {
			err = fmt.Errorf("%s: no preparation or earlier point of that name (known: %s)", m, strings.Join(sortedKeys(vars), ", "))
		}
		if v == "" && ok && err == nil {
			err = fmt.Errorf("%s: two earlier points of that name have different run directories", m)
		}
		return v
	})
	return out, err
}

// plans resolves every point's config, in order: parts, then variants, then points.
func (st *Study) plans(opts Options, vars map[string]string) ([]plan, error) {
	var out []plan
	for _, p := range st.Parts {
		for _, v := range p.variants() {
			fixed, err := substitute(framework.JoinOverrides(p.Set, v.Set), vars)
			if err != nil {
				return nil, fmt.Errorf("part %s: %w", p.Name, err)
			}
			labels := func(own map[string]string) map[string]string {
				l := maps.Clone(p.Labels)
				if l == nil {
					l = map[string]string{}
				}
				maps.Copy(l, v.Labels)
				maps.Copy(l, own)
				return l
			}
			root := filepath.Join(opts.Dir, safeName(p.Name), safeName(v.Name))
			hooks := slices.Concat(p.PointHooks, v.PointHooks)
			var pts []plan
			if p.spec != nil {
				grid, err := p.spec.Grid()
				if err != nil {
					return nil, err
				}
				hooks = slices.Concat(p.spec.PointHooks, hooks)
				for _, coords := range grid {
					cfg, err := p.spec.config(coords, fixed, opts.Set)
					if err != nil {
						return nil, fmt.Errorf("part %s: %w", p.Name, err)
					}
					pl := plan{cfg: cfg, hooks: hooks, check: p.spec,
						point: Point{Name: coords.String(), Coords: coords, Labels: labels(nil), Hash: ConfigHash(cfg)}}
					pl.point.Dir = filepath.Join(root, dirName(coords, pl.point.Hash))
					pts = append(pts, pl)
				}
			} else {
				for _, pt := range p.Points {
					set, err := substitute(pt.Set, vars)
					if err != nil {
						return nil, fmt.Errorf("part %s, point %s: %w", p.Name, pt.Name, err)
					}
					own := pt
					own.Set = set
					cfg, err := own.config(fixed, opts.Set)
					if err != nil {
						return nil, fmt.Errorf("part %s: %w", p.Name, err)
					}
					pl := plan{cfg: cfg, hooks: hooks, point: Point{Name: pt.Name, Labels: labels(pt.Labels), Hash: ConfigHash(cfg)}}
					pl.point.Dir = filepath.Join(root, dirName(Coords{{Value: pt.Name}}, pl.point.Hash))
					pts = append(pts, pl)
				}
			}
			for i := range pts {
				pts[i].point.Part, pts[i].point.Variant = p.Name, v.Name
				if p.Expect != nil {
					pts[i].cfg.Expect = maps.Clone(p.Expect)
				}
				if v.Expect != nil {
					pts[i].cfg.Expect = maps.Clone(v.Expect)
				}
				dir, err := filepath.Abs(pts[i].point.Dir)
				if err != nil {
					return nil, err
				}
				if old, ok := vars[pts[i].point.Name]; ok && old != dir {
					vars[pts[i].point.Name] = "" // ambiguous: an error only where it is used
				} else {
					vars[pts[i].point.Name] = dir
				}
			}
			out = append(out, pts...)
		}
	}
	return out, nil
}

// selected reports whether a point is among names (each a point's name, its part's name,
// PART/NAME, its variant's name — in every part that has it — or PART/VARIANT); every point
// when names is empty.
func selected(p Point, names []string) bool {
	return len(names) == 0 || slices.Contains(names, p.Name) || slices.Contains(names, p.Part) ||
		slices.Contains(names, p.Part+"/"+p.Name) ||
		(p.Variant != "" && (slices.Contains(names, p.Variant) || slices.Contains(names, p.Part+"/"+p.Variant)))
}

// Run runs the study: its preparations, then every point (read back when its run directory
// holds its evaluation, as [Run] does), then each point's hooks (read back when cached).
// With Options.Points, only the points named there run. Errors are as [Run]'s.
func (st *Study) Run(opts Options) ([]Point, error) {
	if opts.Dir == "" {
		return nil, errors.New("sweep: Options.Dir is required")
	}
	if err := st.checkSelection(opts.Points); err != nil {
		return nil, err
	}
	shared := newSharedRun(opts)
	vars := map[string]string{}
	for _, step := range st.Prepare {
		path, err := prepare(step, opts.Dir, &Context{Dir: opts.Dir, DataDir: opts.DataDir, Out: shared.out(), shared: shared})
		if err != nil {
			return nil, fmt.Errorf("sweep: %w", err)
		}
		vars[step.Name] = path
	}
	plans, err := st.plans(opts, vars)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	plans = slices.DeleteFunc(plans, func(p plan) bool { return !selected(p.point, opts.Points) })
	return runPlans(plans, shared)
}

// checkSelection refuses, before anything runs, a name of Options.Points that selects no point.
func (st *Study) checkSelection(names []string) error {
	var points []Point
	for _, p := range st.Parts {
		if p.spec != nil {
			grid, err := p.spec.Grid()
			if err != nil {
				return fmt.Errorf("sweep: %w", err)
			}
			for _, coords := range grid {
				points = append(points, Point{Part: p.Name, Name: coords.String()})
			}
		}
		for _, pt := range p.Points {
			points = append(points, Point{Part: p.Name, Name: pt.Name})
		}
		for _, v := range p.Variants {
			points = append(points, Point{Part: p.Name, Variant: v.Name})
		}
	}
	for _, name := range names {
		if !slices.ContainsFunc(points, func(p Point) bool { return selected(p, []string{name}) }) {
			return fmt.Errorf("sweep: --points: %q names no point, part, variant, PART/NAME or PART/VARIANT of the study", name)
		}
	}
	return nil
}

// Render renders the points with the study's report: the table and, when the study has one,
// the figure (nil otherwise). opts are the run's (the report's root is opts.Dir).
func (st *Study) Render(points []Point, opts Options) (string, *plots.Figure, error) {
	if st.Report == "" {
		spec := st.Parts[0].spec
		if spec.Figure == nil {
			return spec.Table(points), nil, nil
		}
		fig, err := spec.Plot(points)
		return spec.Table(points), &fig, err
	}
	r, err := reports.Lookup(st.Report)
	if err != nil {
		return "", nil, err
	}
	shared := newSharedRun(opts)
	table, fig, err := r.Render(&Context{Dir: opts.Dir, DataDir: opts.DataDir, Out: shared.out(), shared: shared}, points)
	if err != nil {
		return "", nil, fmt.Errorf("sweep: report %s: %w", st.Report, err)
	}
	return table, &fig, nil
}

// RunFile is the sweep and study commands: it loads the study or sweep file at path, runs it,
// prints its table to out and writes its figure: to figure, or, when figure is "", to the file's
// own figure path — but only for a whole run as the file states it (no opts.Points selection, no
// opts.Set overrides), so that a partial or modified run never replaces a published figure.
// The runs' root is opts.Dir, or else the file's runs root, or else opts.DefaultDir.
// When points miss their expectations it still prints and writes, then returns the
// [*ExpectationsError].
func RunFile(out io.Writer, path, figure string, opts Options) error {
	st, err := Load(path)
	if err != nil {
		return err
	}
	if opts.Dir == "" {
		opts.Dir = filepath.FromSlash(st.Runs)
	}
	if opts.Dir == "" {
		opts.Dir = opts.DefaultDir
	}
	if opts.Out == nil {
		opts.Out = out
	}
	points, err := st.Run(opts)
	var unmet *ExpectationsError
	if err != nil && !errors.As(err, &unmet) {
		return err
	}
	table, fig, err := st.Render(points, opts)
	if err != nil {
		return err
	}
	fmt.Fprint(out, table)
	if figure == "" {
		if len(opts.Points) == 0 && opts.Set == "" {
			figure = st.Figure
		} else if st.Figure != "" {
			fmt.Fprintf(out, "figure not written: a run with --points or --set does not replace %s (give --figure FILE to write it)\n", st.Figure)
		}
	}
	if figure != "" && fig != nil {
		if err := fig.Save(figure); err != nil {
			return err
		}
		fmt.Fprintln(out, "figure written to", figure)
	}
	if unmet != nil {
		return unmet
	}
	return nil
}
