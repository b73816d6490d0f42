package qzc

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/datasets/era5"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/internal/registry"
)

// Codec is a trained model that compresses fields: the interface every compressing zoo model
// implements for the codec command.
type Codec interface {
	// Channels are the channel names the model codes, in payload order ("t2m", "q@850").
	Channels() []string
	// Normalisation returns each channel's mean and standard deviation (physical units).
	Normalisation() (mean, std []float64)
	// Compress codes fields [C][T·H·W] (physical units, row-major time, lat, lon).
	Compress(fields [][]float32, g Geometry) (payload []byte, estimatedBits float64, err error)
	// Decompress reconstructs the fields from a payload; errors caused by its bytes wrap
	// the model's corruption error.
	Decompress(payload []byte, g Geometry) ([][]float32, error)
	// Close releases the model's resources.
	Close()
}

// Loader opens a trained model's codec from its run's resolved config and trained variables.
type Loader func(cfg *framework.Config, store *model.Store) (Codec, error)

var loaders = registry.New[Loader]("codec")

// Register makes a model's codec available by its registry name (in the model's init);
// registering a model twice panics.
func Register(model string, l Loader) { loaders.Register(model, l) }

// Open loads the codec of the run in dir from its latest checkpoint and identifies its
// weights; see [OpenMatching] for the checkpoint a file was coded with.
func Open(dir string) (Codec, CheckpointID, string, error) {
	return OpenMatching(dir, "")
}

// OpenMatching loads the codec of the run in dir from the checkpoint whose SHA-256 is sha256
// (any of the run's checkpoints, not only the latest; "" means the latest). It fails, naming
// the steps present, when the run holds no such checkpoint (training went on and rotated it
// out: keep_checkpoints keeps only the newest).
func OpenMatching(dir, sha256 string) (Codec, CheckpointID, string, error) {
	entries, err := checkpoint.List(dir)
	if err != nil || len(entries) == 0 {
		return nil, CheckpointID{}, "", fmt.Errorf("qzc: %s is not a run directory (no checkpoint): %v", dir, err)
	}
	// Newest first: the latest checkpoint (the one wanted when sha256 is ""), then older ones.
	var chosen *checkpoint.Entry
	var sum string
	for i := len(entries) - 1; i >= 0 && chosen == nil; i-- {
		s, err := framework.FileSHA256(entries[i].Path)
		if err != nil {
			if i == len(entries)-1 {
				return nil, CheckpointID{}, "", fmt.Errorf("qzc: %w", err)
			}
			continue // an unreadable older checkpoint cannot be the one
		}
		if sha256 == "" || s == sha256 {
			chosen, sum = &entries[i], s
		}
	}
	if chosen == nil {
		steps := make([]string, len(entries))
		for i, e := range entries {
			steps[i] = strconv.FormatInt(e.Step, 10)
		}
		return nil, CheckpointID{}, "", fmt.Errorf("qzc: %s holds no checkpoint with weights %s (its checkpoints: steps %s); was it trained further after compressing, and the checkpoint rotated out?",
			dir, sha256[:min(12, len(sha256))], strings.Join(steps, ", "))
	}
	path, step := chosen.Path, chosen.Step
	cfg, store, err := framework.LoadCheckpoint(dir, path)
	if err != nil {
		return nil, CheckpointID{}, "", fmt.Errorf("qzc: %w", err)
	}
	l, err := loaders.Lookup(cfg.Model)
	if err != nil {
		return nil, CheckpointID{}, "", fmt.Errorf("qzc: run %s holds model %q, which does not compress fields; models that do: %s",
			dir, cfg.Model, strings.Join(loaders.Names(), ", "))
	}
	c, err := l(cfg, store)
	if err != nil {
		return nil, CheckpointID{}, "", err
	}
	abs, _ := filepath.Abs(dir)
	return c, CheckpointID{Dir: abs, SHA256: sum, Step: step}, cfg.Model, nil
}

// Report is what a compression or decompression did.
type Report struct {
	Header *Header
	Sizes  Sizes
	// Values is T·C·H·W.
	Values int
}

// BitsPerValue is the whole file's bits per field value.
func (r Report) BitsPerValue() float64 { return 8 * float64(r.Sizes.Total) / float64(r.Values) }

// CompressFile reads the netCDF file in, codes its gridded variables with codec (identified
// by id and model) and writes the .qzc file out atomically. variables selects what to code:
// variable names ("t2m", every level of "q") or channels ("q@850"); nil codes every gridded
// variable of the file. A channel the model was not trained for is refused, naming it and the
// channels the model knows; so is a model channel the file lacks. Variables with levels must
// select the same levels (the written-back file has one level coordinate).
func CompressFile(codec Codec, id CheckpointID, model string, in []string, out string, variables []string) (Report, error) {
	if len(in) == 0 {
		return Report{}, fmt.Errorf("qzc: no input file")
	}
	for _, p := range in {
		if sameFile(p, out) {
			return Report{}, fmt.Errorf("qzc: output %s is the input %s: refusing to overwrite the source", out, p)
		}
	}
	chosen := map[string]bool{}
	var bases []string
	for _, v := range variables {
		chosen[v] = true
		if base, _, _ := strings.Cut(v, "@"); !slices.Contains(bases, base) {
			bases = append(bases, base)
		}
	}
	f, err := readMerged(in, bases)
	if err != nil {
		return Report{}, err
	}
	name := strings.Join(in, ",")
	all, allData := era5.Channels(f)
	var names []string
	var data [][]float32
	for i, n := range all {
		base, _, _ := strings.Cut(n, "@")
		if len(variables) == 0 || chosen[n] || chosen[base] {
			names, data = append(names, n), append(data, allData[i])
		}
	}
	for v := range chosen {
		if !slices.ContainsFunc(names, func(n string) bool { base, _, _ := strings.Cut(n, "@"); return n == v || base == v }) {
			return Report{}, fmt.Errorf("qzc: %s: has no variable or channel %s (it has %s)", name, v, strings.Join(all, ", "))
		}
	}
	want := codec.Channels()
	for _, n := range names {
		if !slices.Contains(want, n) {
			return Report{}, fmt.Errorf("qzc: %s: variable %s is not one the model was trained for; it knows %s (choose variables or channels such as q@850 with --variables)",
				name, n, strings.Join(want, ", "))
		}
	}
	fields := make([][]float32, len(want))
	for i, w := range want {
		j := slices.Index(names, w)
		if j < 0 {
			return Report{}, fmt.Errorf("qzc: %s: lacks %s, which the model codes (it has %s)", name, w, strings.Join(names, ", "))
		}
		fields[i] = data[j]
	}
	if f, err = keepChannels(f, names); err != nil {
		return Report{}, fmt.Errorf("qzc: %s: %w", name, err)
	}
	g := Geometry{T: len(f.Time.Values), H: len(f.Lat.Values), W: len(f.Lon.Values)}
	payload, est, err := codec.Compress(fields, g)
	if err != nil {
		return Report{}, fmt.Errorf("qzc: compress %s: %w", name, err)
	}
	mean, std := codec.Normalisation()
	h := &Header{Model: model, Checkpoint: id, Geometry: g, Channels: want, Mean: mean, Std: std,
		EstimatedBits: est, Source: sourceOf(f)}
	// The payload's channel order is the model's; the variables are written back in the
	// file's order, which Check only counts.
	b, sizes, err := Marshal(h, payload)
	if err != nil {
		return Report{}, err
	}
	if err := framework.WriteFileAtomic(out, b); err != nil {
		return Report{}, fmt.Errorf("qzc: write %s: %w", out, err)
	}
	return Report{Header: h, Sizes: sizes, Values: g.T * g.H * g.W * len(want)}, nil
}

// readMerged reads the gridded variables of the files in paths and merges them into one
// file: they must share their time, latitude, longitude (and level) coordinates. A single
// file is asked for the variables named in bases only (nil: all), so that other variables,
// e.g. one with missing values, do not stand in the way; several files are read whole.
func readMerged(paths []string, bases []string) (*era5.File, error) {
	var merged *era5.File
	for _, p := range paths {
		opts := era5.ReadOptions{}
		if len(paths) == 1 {
			opts.Variables = bases
		}
		f, err := era5.Read(p, opts)
		if err != nil {
			return nil, err
		}
		if merged == nil {
			merged = f
			continue
		}
		if err := era5.SameGrid(merged, f); err != nil {
			return nil, err
		}
		if f.Level != nil {
			if merged.Level != nil && !slices.Equal(merged.Level.Values, f.Level.Values) {
				return nil, fmt.Errorf("qzc: %s and %s have different levels", paths[0], p)
			}
			merged.Level = f.Level
		}
		for _, v := range f.Vars {
			if slices.Contains(merged.VariableNames(), v.Name) {
				return nil, fmt.Errorf("qzc: variable %s is in both %s and another input", v.Name, p)
			}
			merged.Vars = append(merged.Vars, v)
		}
		merged.SourceBytes += f.SourceBytes
		merged.Path += "," + filepath.Base(p)
	}
	return merged, nil
}

// sameFile tells whether a and b name the same existing file.
func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// keepChannels returns f's metadata restricted to the levels of names (variables without
// levels are kept whole); every variable with levels must keep the same ones. The variables'
// Data is dropped.
func keepChannels(f *era5.File, names []string) (*era5.File, error) {
	out := *f
	out.Vars = nil
	var levels []int
	levelOwner := ""
	for _, v := range f.Vars {
		m := *v
		m.Data = nil
		if v.HasLevel() {
			var keep []int
			for l, lv := range f.Level.Values {
				if slices.Contains(names, era5.LevelChannel(v.Name, lv)) {
					keep = append(keep, l)
				}
			}
			if len(keep) == 0 {
				continue
			}
			if levelOwner != "" && !slices.Equal(keep, levels) {
				return nil, fmt.Errorf("variables %s and %s select different levels; code them in separate files", levelOwner, v.Name)
			}
			levels, levelOwner = keep, v.Name
			m.Shape = []int{v.Shape[0], len(keep), v.Shape[2], v.Shape[3]}
		} else if !slices.Contains(names, v.Name) {
			continue
		}
		out.Vars = append(out.Vars, &m)
	}
	if f.Level != nil {
		if levels == nil {
			out.Level = nil
		} else {
			lc := *f.Level
			lc.Values = nil
			for _, l := range levels {
				lc.Values = append(lc.Values, f.Level.Values[l])
			}
			out.Level = &lc
		}
	}
	return &out, nil
}

// ReadFile reads and parses a .qzc file.
func ReadFile(path string) (*Header, []byte, Sizes, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, Sizes{}, fmt.Errorf("qzc: %w", err)
	}
	if st.Size() > 1<<34 {
		return nil, nil, Sizes{}, fmt.Errorf("qzc: %s: %d bytes is larger than any .qzc file this program writes", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, Sizes{}, fmt.Errorf("qzc: %w", err)
	}
	h, payload, sizes, err := Parse(b)
	if err != nil {
		return nil, nil, Sizes{}, fmt.Errorf("%s: %w", path, err)
	}
	return h, payload, sizes, nil
}

// DecompressFile reads the .qzc file in and writes the reconstruction to out as netCDF-3
// (atomically), with the source's coordinates, attributes and packing. runDir overrides the
// run directory the header records; the checkpoint's SHA-256 must match the header's.
func DecompressFile(in, out, runDir string) (Report, error) {
	if sameFile(in, out) {
		return Report{}, fmt.Errorf("qzc: output %s is the input: refusing to overwrite it", out)
	}
	h, payload, sizes, err := ReadFile(in)
	if err != nil {
		return Report{}, err
	}
	if runDir == "" {
		runDir = h.Checkpoint.Dir
	}
	codec, id, model, err := OpenMatching(runDir, h.Checkpoint.SHA256)
	if err != nil {
		return Report{}, fmt.Errorf("qzc: %s was coded by the run in %s (step %d): %w", in, h.Checkpoint.Dir, h.Checkpoint.Step, err)
	}
	defer codec.Close()
	if model != h.Model || id.SHA256 != h.Checkpoint.SHA256 {
		return Report{}, fmt.Errorf("qzc: %s was coded by %s weights %s (step %d); %s holds %s weights %s (step %d)",
			in, h.Model, h.Checkpoint.SHA256[:min(12, len(h.Checkpoint.SHA256))], h.Checkpoint.Step, runDir, model, id.SHA256[:12], id.Step)
	}
	if !slices.Equal(codec.Channels(), h.Channels) {
		return Report{}, fmt.Errorf("qzc: %s codes channels %v, the model %v", in, h.Channels, codec.Channels())
	}
	fields, err := codec.Decompress(payload, h.Geometry)
	if err != nil {
		return Report{}, fmt.Errorf("qzc: %s: %w", in, err)
	}
	f, err := fileOf(h, fields)
	if err != nil {
		return Report{}, err
	}
	addHistory(f, fmt.Sprintf("%s: lossy reconstruction of %s decoded by qzoo's codec from %s (model %s, checkpoint step %d, %.4f bits per value)",
		time.Now().UTC().Format("2006-01-02 15:04:05 UTC"), h.Source.Name, filepath.Base(in), h.Model, h.Checkpoint.Step,
		8*float64(sizes.Total)/float64(h.Geometry.T*h.Geometry.H*h.Geometry.W*len(h.Channels))))
	if err := era5.Write(out, f); err != nil {
		return Report{}, err
	}
	g := h.Geometry
	return Report{Header: h, Sizes: sizes, Values: g.T * g.H * g.W * len(h.Channels)}, nil
}

// addHistory prepends line to the global "history" attribute (CF: newest first).
func addHistory(f *era5.File, line string) {
	for i, a := range f.Global {
		if a.Name == "history" {
			if old, ok := a.Value.(string); ok {
				f.Global[i].Value = line + "\n" + old
				return
			}
		}
	}
	f.Global = append(f.Global, era5.Attr{Name: "history", Value: line})
}

// sourceOf records a netCDF file's metadata.
func sourceOf(f *era5.File) Source {
	s := Source{Name: filepath.Base(f.Path), Format: f.Format, Bytes: f.SourceBytes, Global: attrsOf(f.Global),
		Time: coordOf(f.Time), Lat: coordOf(f.Lat), Lon: coordOf(f.Lon)}
	if f.Level != nil {
		c := coordOf(*f.Level)
		s.Level = &c
	}
	for _, v := range f.Vars {
		m := VarMeta{Name: v.Name, Dims: v.Dims, Shape: v.Shape, Attrs: attrsOf(v.Attrs)}
		if p := v.Packing; p != nil {
			m.Packing = &Packing{Type: p.Type, ScaleFactor: p.ScaleFactor, AddOffset: p.AddOffset, FillValue: p.FillValue, MissingValue: p.MissingValue}
		}
		s.Vars = append(s.Vars, m)
	}
	return s
}

func coordOf(c era5.Coord) Coord { return CompactCoord(c.Name, c.Type, attrsOf(c.Attrs), c.Values) }

// fileOf rebuilds the netCDF file of a header with the decoded fields (in header channel order).
func fileOf(h *Header, fields [][]float32) (*era5.File, error) {
	s := h.Source
	f := &era5.File{Path: s.Name, Format: "netCDF-3", Global: attrValues(s.Global),
		Time: eraCoord(s.Time), Lat: eraCoord(s.Lat), Lon: eraCoord(s.Lon)}
	var levels []float64
	if s.Level != nil {
		c := eraCoord(*s.Level)
		f.Level = &c
		levels = c.Values
	}
	hw := h.Geometry.H * h.Geometry.W
	for _, m := range s.Vars {
		v := &era5.Variable{Name: m.Name, Dims: m.Dims, Shape: m.Shape, Attrs: attrValues(m.Attrs)}
		if p := m.Packing; p != nil {
			v.Packing = &era5.Packing{Type: p.Type, ScaleFactor: p.ScaleFactor, AddOffset: p.AddOffset, FillValue: p.FillValue, MissingValue: p.MissingValue}
		}
		channel := func(name string) ([]float32, error) {
			i := slices.Index(h.Channels, name)
			if i < 0 || i >= len(fields) {
				return nil, fmt.Errorf("qzc: header: variable %s's channel %s is not in the payload", m.Name, name)
			}
			return fields[i], nil
		}
		if len(m.Shape) == 4 {
			t, l := m.Shape[0], m.Shape[1]
			v.Data = make([]float32, t*l*hw)
			for li := range l {
				ch, err := channel(era5.LevelChannel(m.Name, levels[li]))
				if err != nil {
					return nil, err
				}
				for ti := range t {
					copy(v.Data[(ti*l+li)*hw:][:hw], ch[ti*hw:(ti+1)*hw])
				}
			}
		} else {
			ch, err := channel(m.Name)
			if err != nil {
				return nil, err
			}
			v.Data = ch
		}
		f.Vars = append(f.Vars, v)
	}
	return f, nil
}

func eraCoord(c Coord) era5.Coord {
	return era5.Coord{Name: c.Name, Type: c.Type, Attrs: attrValues(c.Attrs), Values: c.Expand()}
}

// attrsOf encodes attributes as typed text.
func attrsOf(attrs []era5.Attr) []Attr {
	var out []Attr
	for _, a := range attrs {
		v := reflect.ValueOf(a.Value)
		at := Attr{Name: a.Name}
		if v.Kind() == reflect.Slice {
			at.Slice = true
			for i := range v.Len() {
				at.Values = append(at.Values, formatScalar(v.Index(i)))
			}
			at.Type = v.Type().Elem().Kind().String()
		} else {
			at.Values = []string{formatScalar(v)}
			at.Type = v.Kind().String()
		}
		out = append(out, at)
	}
	return out
}

func formatScalar(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Float32:
		return strconv.FormatFloat(v.Float(), 'g', -1, 32)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.String:
		return v.String()
	}
	return fmt.Sprint(v.Interface())
}

// attrValues decodes typed text attributes; an element that does not parse as its type drops
// the attribute (Parse has already checked the file's integrity; such a header was written by
// another program).
func attrValues(attrs []Attr) []era5.Attr {
	var out []era5.Attr
	for _, a := range attrs {
		var vals []any
		ok := true
		for _, s := range a.Values {
			v, err := parseScalar(a.Type, s)
			if err != nil {
				ok = false
				break
			}
			vals = append(vals, v)
		}
		if !ok || (!a.Slice && len(vals) != 1) {
			continue
		}
		if !a.Slice {
			out = append(out, era5.Attr{Name: a.Name, Value: vals[0]})
			continue
		}
		out = append(out, era5.Attr{Name: a.Name, Value: makeSlice(a.Type, vals)})
	}
	return out
}

func parseScalar(typ, s string) (any, error) {
	switch typ {
	case "string":
		return s, nil
	case "float32":
		v, err := strconv.ParseFloat(s, 32)
		return float32(v), err
	case "float64":
		return strconv.ParseFloat(s, 64)
	case "int8":
		v, err := strconv.ParseInt(s, 10, 8)
		return int8(v), err
	case "int16":
		v, err := strconv.ParseInt(s, 10, 16)
		return int16(v), err
	case "int32":
		v, err := strconv.ParseInt(s, 10, 32)
		return int32(v), err
	case "int64":
		return strconv.ParseInt(s, 10, 64)
	}
	return nil, fmt.Errorf("qzc: attribute type %q", typ)
}

func makeSlice(typ string, vals []any) any {
	switch typ {
	case "string":
		return collect[string](vals)
	case "float32":
		return collect[float32](vals)
	case "float64":
		return collect[float64](vals)
	case "int8":
		return collect[int8](vals)
	case "int16":
		return collect[int16](vals)
	case "int32":
		return collect[int32](vals)
	}
	return collect[int64](vals)
}

func collect[T any](vals []any) []T {
	out := make([]T, len(vals))
	for i, v := range vals {
		out[i] = v.(T)
	}
	return out
}
