// Package netcdf is the codec's netCDF front end, registered with package media as
// "netcdf": it reads the gridded variables of one or more netCDF files (through
// formats/netcdf) as a gridded signal — one channel per variable, or per level of a variable
// with levels ("q@850"), each of shape [T, H, W] — with a description of the source
// ([Source]: coordinates, attributes, CF packing) that the .qzc container stores as it is;
// and it writes a decoded signal back as netCDF-3 with that description.
package netcdf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	nc "github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/media"
)

// Name is the front end's registry name, recorded in the .qzc files it describes.
const Name = "netcdf"

func init() { media.Register(Frontend{}) }

var (
	_ media.Streamer = Frontend{}
	_ media.Latticed = Frontend{}
)

// Frontend is the netCDF front end; its zero value is ready to use.
type Frontend struct{}

// Name returns "netcdf".
func (Frontend) Name() string { return Name }

// Kind returns qzc.Gridded.
func (Frontend) Kind() qzc.Kind { return qzc.Gridded }

// Extensions returns the usual netCDF extensions; files are recognised by their bytes, so
// other names are read too.
func (Frontend) Extensions() []string { return []string{".nc", ".nc4", ".cdf", ".netcdf"} }

// Source is the compressed netCDF file's metadata: what is needed to write the fields back
// with the source's coordinates, attributes and packing.
type Source struct {
	Name   string    `json:"name"`
	Format string    `json:"format"`
	Bytes  int64     `json:"bytes"`
	Global []Attr    `json:"global,omitempty"`
	Time   Coord     `json:"time"`
	Level  *Coord    `json:"level,omitempty"`
	Lat    Coord     `json:"lat"`
	Lon    Coord     `json:"lon"`
	Vars   []VarMeta `json:"vars"`
}

// Attr is a typed netCDF attribute; Values holds its elements as text (floats with strconv's
// shortest round-trip form, so NaN and ±Inf survive JSON). Type is the Go element type
// ("string", "float64", "float32", "int64", "int32", "int16", "int8", "uint64", "uint32",
// "uint16", "uint8"), Slice tells a one-element slice
// from a scalar.
type Attr struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Slice  bool     `json:"slice,omitempty"`
	Values []string `json:"values"`
}

// Coord is a coordinate: Start + i·Step for i < N when regular (Values empty), else Values.
type Coord struct {
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	Attrs  []Attr    `json:"attrs,omitempty"`
	N      int       `json:"n"`
	Start  float64   `json:"start,omitempty"`
	Step   float64   `json:"step,omitempty"`
	Values []float64 `json:"values,omitempty"`
}

// VarMeta is a variable's metadata; its channels are Name, or Name@level per level.
type VarMeta struct {
	Name    string   `json:"name"`
	Dims    []string `json:"dims"`
	Shape   []int    `json:"shape"`
	Attrs   []Attr   `json:"attrs,omitempty"`
	Packing *Packing `json:"packing,omitempty"`
}

// Packing is CF int16 packing (see formats/netcdf's Packing).
type Packing struct {
	Type         string   `json:"type"`
	ScaleFactor  float64  `json:"scale_factor"`
	AddOffset    float64  `json:"add_offset"`
	FillValue    *float64 `json:"fill_value,omitempty"`
	MissingValue *float64 `json:"missing_value,omitempty"`
}

// Expand returns the coordinate's N values.
func (c Coord) Expand() []float64 {
	if len(c.Values) > 0 {
		return c.Values
	}
	out := make([]float64, c.N)
	for i := range out {
		out[i] = c.Start + float64(i)*c.Step
	}
	return out
}

// at returns the coordinate's value i (0 ≤ i < N), without expanding the others.
func (c Coord) at(i int) float64 {
	if len(c.Values) > 0 {
		return c.Values[i]
	}
	return c.Start + float64(i)*c.Step
}

// CompactCoord returns the coordinate with values stored as Start/Step when every value is
// exactly Start + i·Step (as ERA5's regular grids and hourly times are), else as a list.
func CompactCoord(name, typ string, attrs []Attr, values []float64) Coord {
	c := Coord{Name: name, Type: typ, Attrs: attrs, N: len(values)}
	if len(values) >= 2 {
		step := values[1] - values[0]
		regular := true
		for i, v := range values {
			if values[0]+float64(i)*step != v {
				regular = false
				break
			}
		}
		if regular {
			c.Start, c.Step = values[0], step
			return c
		}
	}
	if len(values) == 1 {
		c.Start = values[0]
		return c
	}
	c.Values = values
	return c
}

// Read reads the gridded variables of the netCDF files in paths and returns the channels
// want, in that order, as a gridded signal [T, H, W] with the description of the source.
// selection chooses variable names ("t2m", every level of "q") or channels ("q@850"); nil
// takes every gridded variable. A selected channel outside want is refused, naming it and
// the channels of want; so is a channel of want the selection lacks. Variables with levels
// must select the same levels (the written-back file has one level coordinate). Several
// files must share their time, latitude and longitude coordinates. Missing values come back
// as NaN (the codec codes their mask).
func (Frontend) Read(paths []string, selection, want []string) (media.Signal, json.RawMessage, error) {
	p, err := plan(paths, selection, want, nc.Read)
	if err != nil {
		return media.Signal{}, nil, err
	}
	s, err := p.signal(p.file)
	return s, p.source, err
}

// Open is Read without the samples (media.Streamer): the signal's shape and the same
// description, from the files' metadata alone (formats/netcdf's Inspect), and a reader of
// stretches of hours, each read from the files on its own (ReadOptions.TimeStart and
// TimeCount), so that memory holds the stretch, not the files.
func (Frontend) Open(paths []string, selection, want []string) (media.Signal, json.RawMessage, media.RangeReader, error) {
	p, err := plan(paths, selection, want, nc.Inspect)
	if err != nil {
		return media.Signal{}, nil, nil, err
	}
	s := media.Signal{Kind: qzc.Gridded, Channels: want, Shape: p.shape()}
	return s, p.source, &rangeReader{p: p}, nil
}

// rangeReader reads stretches of hours of a plan's files.
type rangeReader struct{ p *readPlan }

// readValuesPerCall bounds the values one read of a stretch asks formats/netcdf for (2^23:
// 8 hours of a 0.25° global field): its reader process converts values through float64, about
// 12 bytes per value, so a longer stretch is read in several calls and its peak stays near
// 100 MB whatever the segment's length.
var readValuesPerCall = 1 << 23

// ReadRange reads hours [start, start+n) of the files: the channels of Open's signal, in its
// order, in calls of at most readValuesPerCall values.
func (r *rangeReader) ReadRange(start, n int) (media.Signal, error) {
	t := r.p.shape()[0]
	if start < 0 || n < 1 || start+n > t {
		return media.Signal{}, fmt.Errorf("netcdf: %s: hours [%d, %d) of %d", r.p.name, start, start+n, t)
	}
	perHour := 0
	for _, v := range r.p.file.Vars {
		k := 1
		for _, d := range v.Shape[1:] {
			k *= d
		}
		perHour += k
	}
	step := max(1, readValuesPerCall/max(1, perHour))
	if n <= step {
		return r.read(start, n)
	}
	var out media.Signal
	for t0 := start; t0 < start+n; t0 += step {
		part, err := r.read(t0, min(step, start+n-t0))
		if err != nil {
			return media.Signal{}, err
		}
		if out.Data == nil {
			out = part
			out.Shape = append([]int{n}, part.Shape[1:]...)
			out.Data = make([][]float32, len(part.Data))
			for i := range out.Data {
				out.Data[i] = make([]float32, 0, n*part.Shape[1]*part.Shape[2])
			}
		}
		for i, d := range part.Data {
			out.Data[i] = append(out.Data[i], d...)
		}
	}
	return out, nil
}

// read reads hours [start, start+n) in one call.
func (r *rangeReader) read(start, n int) (media.Signal, error) {
	f, err := readMerged(r.p.paths, r.p.bases, nc.Read, nc.ReadOptions{TimeStart: start, TimeCount: n})
	if err != nil {
		return media.Signal{}, err
	}
	if len(f.Time.Values) != n || len(f.Lat.Values) != len(r.p.file.Lat.Values) || len(f.Lon.Values) != len(r.p.file.Lon.Values) {
		return media.Signal{}, fmt.Errorf("netcdf: %s: hours [%d, %d) read as %d hours on %d×%d, not on the files' %d×%d",
			r.p.name, start, start+n, len(f.Time.Values), len(f.Lat.Values), len(f.Lon.Values), len(r.p.file.Lat.Values), len(r.p.file.Lon.Values))
	}
	return r.p.signal(f)
}

// Close does nothing: every stretch is read on its own.
func (r *rangeReader) Close() error { return nil }

// readPlan is what Read and Open share: the merged files (with or without values), the
// channels chosen, and the description of the source.
type readPlan struct {
	paths, bases []string
	name         string
	want         []string
	file         *nc.File
	source       json.RawMessage
}

func (p *readPlan) shape() []int {
	return []int{len(p.file.Time.Values), len(p.file.Lat.Values), len(p.file.Lon.Values)}
}

// signal returns the channels p.want of f (read with values), in that order.
func (p *readPlan) signal(f *nc.File) (media.Signal, error) {
	names, data := nc.Channels(f)
	s := media.Signal{Kind: qzc.Gridded, Channels: p.want, Shape: []int{len(f.Time.Values), len(f.Lat.Values), len(f.Lon.Values)},
		Data: make([][]float32, len(p.want))}
	for i, w := range p.want {
		j := slices.Index(names, w)
		if j < 0 {
			return media.Signal{}, fmt.Errorf("netcdf: %s: lacks %s, which the model codes (it has %s)", p.name, w, strings.Join(names, ", "))
		}
		s.Data[i] = data[j]
	}
	return s, nil
}

// plan reads the files' variables with read (nc.Read, or nc.Inspect for the metadata alone),
// chooses the channels (see Read) and describes the source.
func plan(paths []string, selection, want []string, read func(string, nc.ReadOptions) (*nc.File, error)) (*readPlan, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("netcdf: no input file")
	}
	p := &readPlan{paths: paths, name: strings.Join(paths, ","), want: want}
	chosen := map[string]bool{}
	for _, v := range selection {
		chosen[v] = true
		if base, _, _ := strings.Cut(v, "@"); !slices.Contains(p.bases, base) {
			p.bases = append(p.bases, base)
		}
	}
	f, err := readMerged(paths, p.bases, read, nc.ReadOptions{})
	if err != nil {
		return nil, err
	}
	p.file = f
	all := channelNames(f)
	var names []string
	for _, n := range all {
		base, _, _ := strings.Cut(n, "@")
		if len(selection) == 0 || chosen[n] || chosen[base] {
			names = append(names, n)
		}
	}
	for v := range chosen {
		if !slices.ContainsFunc(names, func(n string) bool { base, _, _ := strings.Cut(n, "@"); return n == v || base == v }) {
			return nil, fmt.Errorf("netcdf: %s: has no variable or channel %s (it has %s)", p.name, v, strings.Join(all, ", "))
		}
	}
	for _, n := range names {
		if !slices.Contains(want, n) {
			return nil, fmt.Errorf("netcdf: %s: variable %s is not one the model was trained for; it knows %s (choose variables or channels such as q@850 with --variables)",
				p.name, n, strings.Join(want, ", "))
		}
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			return nil, fmt.Errorf("netcdf: %s: lacks %s, which the model codes (it has %s)", p.name, w, strings.Join(names, ", "))
		}
	}
	// The signal's channel order is the model's; the variables are written back in the
	// file's order.
	kept, err := keepChannels(f, names)
	if err != nil {
		return nil, fmt.Errorf("netcdf: %s: %w", p.name, err)
	}
	if p.source, err = json.Marshal(sourceOf(kept)); err != nil {
		return nil, fmt.Errorf("netcdf: %s: encode the description: %w", p.name, err)
	}
	return p, nil
}

// channelNames names f's channels as nc.Channels does, without looking at values.
func channelNames(f *nc.File) []string {
	var names []string
	for _, v := range f.Vars {
		if !v.HasLevel() {
			names = append(names, v.Name)
			continue
		}
		for l := range v.Shape[1] {
			level := float64(l)
			if f.Level != nil && l < len(f.Level.Values) {
				level = f.Level.Values[l]
			}
			names = append(names, nc.LevelChannel(v.Name, level))
		}
	}
	return names
}

// readMerged reads the gridded variables of the files in paths with read and opts (nc.Read
// or nc.Inspect; a time range) and merges them into one file: they must share their time, latitude, longitude (and level) coordinates. A single
// file is asked for the variables named in bases only (nil: all), so that other variables,
// e.g. one the reader refuses, do not stand in the way; several files are read whole.
// Missing values stay NaN.
func readMerged(paths []string, bases []string, read func(string, nc.ReadOptions) (*nc.File, error), opts nc.ReadOptions) (*nc.File, error) {
	var merged *nc.File
	for _, p := range paths {
		opts := opts
		if len(paths) == 1 {
			opts.Variables = bases
		}
		f, err := read(p, opts)
		if err != nil {
			return nil, err
		}
		if merged == nil {
			merged = f
			continue
		}
		if err := nc.SameGrid(merged, f); err != nil {
			return nil, err
		}
		if f.Level != nil {
			if merged.Level != nil && !slices.Equal(merged.Level.Values, f.Level.Values) {
				return nil, fmt.Errorf("netcdf: %s and %s have different levels", paths[0], p)
			}
			merged.Level = f.Level
		}
		for _, v := range f.Vars {
			if slices.Contains(merged.VariableNames(), v.Name) {
				return nil, fmt.Errorf("netcdf: variable %s is in both %s and another input", v.Name, p)
			}
			merged.Vars = append(merged.Vars, v)
		}
		merged.SourceBytes += f.SourceBytes
		merged.Path += "," + filepath.Base(p)
	}
	return merged, nil
}

// keepChannels returns f's metadata restricted to the levels of names (variables without
// levels are kept whole); every variable with levels must keep the same ones. The variables'
// Data is dropped.
func keepChannels(f *nc.File, names []string) (*nc.File, error) {
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
				if slices.Contains(names, nc.LevelChannel(v.Name, lv)) {
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

// Write writes the gridded signal s to path as netCDF-3 (atomically), with the coordinates,
// attributes and packing source describes, and a line prepended to the global "history"
// attribute saying that it is a lossy reconstruction, of what and by which weights. It fails
// when source is not a description of s.
func (Frontend) Write(path string, s media.Signal, source json.RawMessage, p media.Provenance) error {
	src, err := checkedSource(s, source)
	if err != nil {
		return err
	}
	f, err := fileOf(src, s)
	if err != nil {
		return err
	}
	addHistory(f, history(src, p))
	return nc.Write(path, f)
}

// history is the line the written file's history attribute gains.
func history(src *Source, p media.Provenance) string {
	return fmt.Sprintf("%s: lossy reconstruction of %s decoded by qzoo's codec from %s (model %s, checkpoint step %d, %.4f bits per value)",
		p.Time.UTC().Format("2006-01-02 15:04:05 UTC"), src.Name, p.File, p.Model, p.Step, p.BitsPerValue)
}

// Lattices returns, per channel of s, what Write writes its values as: CF int16 packing's
// lattice add_offset + scale_factor·k for a variable the source packed as int16, float32
// (media.Lattice{}) otherwise (unpacked variables, and those packed as another integer
// type, which Write writes as floats). It fails when source is not a description of s.
func (Frontend) Lattices(s media.Signal, source json.RawMessage) ([]media.Lattice, error) {
	src, err := checkedSource(s, source)
	if err != nil {
		return nil, err
	}
	out := make([]media.Lattice, len(s.Channels))
	for i, ch := range s.Channels {
		base, _, _ := strings.Cut(ch, "@")
		j := slices.IndexFunc(src.Vars, func(v VarMeta) bool { return v.Name == base })
		if j < 0 {
			return nil, fmt.Errorf("netcdf: source description: channel %s belongs to no variable", ch)
		}
		if p := src.Vars[j].Packing; p != nil && p.Type == "int16" {
			l := media.Lattice{Step: p.ScaleFactor, Offset: p.AddOffset, Lo: math.MinInt16, Hi: math.MaxInt16}
			var markers []float64 // as formats/netcdf's writer keeps them clear of values
			for _, m := range []*float64{p.FillValue, p.MissingValue} {
				if m != nil {
					markers = append(markers, *m)
				}
			}
			for slices.Contains(markers, l.Lo) {
				l.Lo++
			}
			for slices.Contains(markers, l.Hi) {
				l.Hi--
			}
			out[i] = l
		}
	}
	return out, nil
}

// Check tells whether source describes gridded fields of s's channels and shape [T, H, W]
// (s.Data is not looked at): coordinates of T, H and W values, variables of that shape
// holding as many channels, finite numbers.
func (Frontend) Check(s media.Signal, source json.RawMessage) error {
	_, err := checkedSource(s, source)
	return err
}

func checkedSource(s media.Signal, source json.RawMessage) (*Source, error) {
	src, err := decodeSource(source)
	if err != nil {
		return nil, err
	}
	if err := src.check(s); err != nil {
		return nil, err
	}
	return src, nil
}

// Describe reads a source description for display: its name, size, and a line each for the
// format, the coordinates' ranges and every variable (dimensions, units, packing). It checks
// the coordinates, not that they fit a signal (see Check).
func (Frontend) Describe(source json.RawMessage) (media.Source, error) {
	s, err := decodeSource(source)
	if err != nil {
		return media.Source{}, err
	}
	for _, c := range []*Coord{&s.Time, &s.Lat, &s.Lon} {
		if err := c.check(-1); err != nil {
			return media.Source{}, err
		}
	}
	out := media.Source{Name: s.Name, Bytes: s.Bytes}
	out.Lines = append(out.Lines, fmt.Sprintf("%s, %s %g..%g, %s %g..%g, %s %g..%g", s.Format, s.Lat.Name, s.Lat.at(0), s.Lat.at(s.Lat.N-1),
		s.Lon.Name, s.Lon.at(0), s.Lon.at(s.Lon.N-1), s.Time.Name, s.Time.at(0), s.Time.at(s.Time.N-1)))
	for _, v := range s.Vars {
		units := ""
		for _, a := range v.Attrs {
			if a.Name == "units" && len(a.Values) == 1 {
				units = a.Values[0]
			}
		}
		if units != "" {
			if out.Units == nil {
				out.Units = map[string]string{}
			}
			out.Units[v.Name] = units
		}
		pack := "float32"
		if v.Packing != nil {
			pack = fmt.Sprintf("%s packed (scale %g, offset %g)", v.Packing.Type, v.Packing.ScaleFactor, v.Packing.AddOffset)
		}
		out.Lines = append(out.Lines, fmt.Sprintf("variable %s%v [%s] %s", v.Name, v.Dims, units, pack))
	}
	return out, nil
}

// decodeSource decodes a description strictly (an unknown field is an error).
func decodeSource(raw json.RawMessage) (*Source, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s Source
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("netcdf: source description: %w", err)
	}
	return &s, nil
}

// check validates the description against the gridded signal s: the coordinates' lengths
// against its shape [T, H, W], the variables' shapes, the channels they hold against its
// channels, finite numbers.
func (s *Source) check(sig media.Signal) error {
	if sig.Kind != qzc.Gridded || len(sig.Shape) != 3 {
		return fmt.Errorf("netcdf: a %s signal of shape %v is not gridded fields [T, H, W]", sig.Kind, sig.Shape)
	}
	t, h, w := sig.Shape[0], sig.Shape[1], sig.Shape[2]
	for _, c := range []struct {
		c    *Coord
		want int
	}{{&s.Time, t}, {&s.Lat, h}, {&s.Lon, w}} {
		if err := c.c.check(c.want); err != nil {
			return err
		}
	}
	if s.Level != nil {
		// Each level is a channel of every variable on levels, so there are no more levels
		// than channels (and a coordinate no variable uses is not expanded into memory).
		if err := s.Level.check(-1); err != nil {
			return err
		}
		if s.Level.N > len(sig.Channels) {
			return fmt.Errorf("netcdf: source description: coordinate %q has %d levels, more than the payload's %d channels", s.Level.Name, s.Level.N, len(sig.Channels))
		}
		if !slices.ContainsFunc(s.Vars, func(v VarMeta) bool { return len(v.Shape) == 4 }) {
			return fmt.Errorf("netcdf: source description: coordinate %q is used by no variable", s.Level.Name)
		}
	}
	channels := 0
	for _, v := range s.Vars {
		want := []int{t, h, w}
		if s.Level != nil && len(v.Shape) == 4 {
			want = []int{t, s.Level.N, h, w}
		}
		if !slices.Equal(v.Shape, want) || len(v.Dims) != len(want) {
			return fmt.Errorf("netcdf: source description: variable %q has shape %v, want %v", v.Name, v.Shape, want)
		}
		if len(want) == 4 {
			channels += want[1]
		} else {
			channels++
		}
		if p := v.Packing; p != nil && (!finite(p.ScaleFactor) || !finite(p.AddOffset) || p.ScaleFactor == 0) {
			return fmt.Errorf("netcdf: source description: variable %q: packing scale %v offset %v", v.Name, p.ScaleFactor, p.AddOffset)
		}
	}
	if channels != len(sig.Channels) {
		return fmt.Errorf("netcdf: source description: variables hold %d channels, the payload codes %d", channels, len(sig.Channels))
	}
	return nil
}

func (c *Coord) check(want int) error {
	if c.N < 1 || c.N > qzc.MaxValues || (want >= 0 && c.N != want) {
		return fmt.Errorf("netcdf: source description: coordinate %q has %d values, want %d", c.Name, c.N, want)
	}
	if len(c.Values) != 0 && len(c.Values) != c.N {
		return fmt.Errorf("netcdf: source description: coordinate %q lists %d values, says %d", c.Name, len(c.Values), c.N)
	}
	for _, v := range append([]float64{c.Start, c.Step}, c.Values...) {
		if !finite(v) {
			return fmt.Errorf("netcdf: source description: coordinate %q holds %v", c.Name, v)
		}
	}
	if len(c.Values) == 0 && !finite(c.at(c.N-1)) {
		return fmt.Errorf("netcdf: source description: coordinate %q reaches %v", c.Name, c.at(c.N-1))
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// addHistory prepends line to the global "history" attribute (CF: newest first).
func addHistory(f *nc.File, line string) {
	for i, a := range f.Global {
		if a.Name == "history" {
			if old, ok := a.Value.(string); ok {
				f.Global[i].Value = line + "\n" + old
				return
			}
		}
	}
	f.Global = append(f.Global, nc.Attr{Name: "history", Value: line})
}

// sourceOf records a netCDF file's metadata.
func sourceOf(f *nc.File) Source {
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

func coordOf(c nc.Coord) Coord { return CompactCoord(c.Name, c.Type, attrsOf(c.Attrs), c.Values) }

// fileOf rebuilds the netCDF file a description describes with the signal's fields (in the
// signal's channel order).
func fileOf(s *Source, sig media.Signal) (*nc.File, error) {
	f := metaOf(s)
	for _, v := range f.Vars {
		var err error
		if v.Data, err = variableData(f, v, sig); err != nil {
			return nil, err
		}
		fillFor(v, slices.ContainsFunc(v.Data, func(x float32) bool { return x != x }))
	}
	return f, nil
}

// metaOf rebuilds the netCDF file a description describes, without values.
func metaOf(s *Source) *nc.File {
	f := &nc.File{Path: s.Name, Format: "netCDF-3", Global: attrValues(s.Global),
		Time: fileCoord(s.Time), Lat: fileCoord(s.Lat), Lon: fileCoord(s.Lon)}
	if s.Level != nil {
		c := fileCoord(*s.Level)
		f.Level = &c
	}
	for _, m := range s.Vars {
		v := &nc.Variable{Name: m.Name, Dims: m.Dims, Shape: m.Shape, Attrs: attrValues(m.Attrs)}
		if p := m.Packing; p != nil {
			v.Packing = &nc.Packing{Type: p.Type, ScaleFactor: p.ScaleFactor, AddOffset: p.AddOffset, FillValue: p.FillValue, MissingValue: p.MissingValue}
		}
		f.Vars = append(f.Vars, v)
	}
	return f
}

// variableData gathers v's values, in its layout ([T, H, W] or [T, L, H, W]) for the hours
// sig holds, from sig's channels.
func variableData(f *nc.File, v *nc.Variable, sig media.Signal) ([]float32, error) {
	channel := func(name string) ([]float32, error) {
		i := slices.Index(sig.Channels, name)
		if i < 0 || i >= len(sig.Data) {
			return nil, fmt.Errorf("netcdf: source description: variable %s's channel %s is not in the payload", v.Name, name)
		}
		return sig.Data[i], nil
	}
	if len(v.Shape) != 4 {
		return channel(v.Name)
	}
	t, l, hw := sig.Shape[0], v.Shape[1], sig.Shape[1]*sig.Shape[2]
	data := make([]float32, t*l*hw)
	for li := range l {
		ch, err := channel(nc.LevelChannel(v.Name, f.Level.Values[li]))
		if err != nil {
			return nil, err
		}
		for ti := range t {
			copy(data[(ti*l+li)*hw:][:hw], ch[ti*hw:(ti+1)*hw])
		}
	}
	return data, nil
}

// Create starts writing the gridded signal s (shape only) to path as Write does, hour by hour
// (media.Streamer): formats/netcdf's streaming writer, so that memory holds the hours of one
// call. missing says whether any value will be NaN (then a short-packed variable without a
// fill value gets netCDF's default one, as Write gives it when its values hold a NaN).
func (Frontend) Create(path string, s media.Signal, source json.RawMessage, p media.Provenance, missing bool) (media.RangeWriter, error) {
	src, err := checkedSource(s, source)
	if err != nil {
		return nil, err
	}
	f := metaOf(src)
	for _, v := range f.Vars {
		fillFor(v, missing)
	}
	addHistory(f, history(src, p))
	w, err := nc.Create(path, f)
	if err != nil {
		return nil, err
	}
	return &rangeWriter{w: w, f: f, shape: s.Shape, channels: s.Channels}, nil
}

// rangeWriter writes stretches of hours through formats/netcdf's streaming writer.
type rangeWriter struct {
	w        *nc.Writer
	f        *nc.File
	shape    []int
	channels []string
}

// Write writes the next hours: s holds the signal's channels, in its order, on its grid.
func (r *rangeWriter) Write(s media.Signal) error {
	if len(s.Shape) != 3 || s.Shape[1] != r.shape[1] || s.Shape[2] != r.shape[2] || !slices.Equal(s.Channels, r.channels) {
		return fmt.Errorf("netcdf: write %s: a stretch of channels %v and shape %v, for a signal of channels %v and shape %v",
			r.f.Path, s.Channels, s.Shape, r.channels, r.shape)
	}
	data := make([][]float32, len(r.f.Vars))
	for i, v := range r.f.Vars {
		var err error
		if data[i], err = variableData(r.f, v, s); err != nil {
			return err
		}
	}
	return r.w.WriteHours(data)
}

func (r *rangeWriter) Close() error { return r.w.Close() }
func (r *rangeWriter) Abort()       { r.w.Abort() }

// defaultShortFill is netCDF's default fill value of shorts (NC_FILL_SHORT).
const defaultShortFill = -32767

// fillFor gives v, when it is packed into int16 with neither a _FillValue nor a
// missing_value (its missing values came from valid_range masking, say) and missing values
// (NaN) are to be written, netCDF's default fill value of shorts, so that they are written as
// missing.
func fillFor(v *nc.Variable, missing bool) {
	p := v.Packing
	if p == nil || p.Type != "int16" || p.FillValue != nil || p.MissingValue != nil || !missing {
		return
	}
	fill := float64(defaultShortFill)
	p.FillValue = &fill
}

func fileCoord(c Coord) nc.Coord {
	return nc.Coord{Name: c.Name, Type: c.Type, Attrs: attrValues(c.Attrs), Values: c.Expand()}
}

// attrsOf encodes attributes as typed text.
func attrsOf(attrs []nc.Attr) []Attr {
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
// the attribute (the container has checked the file's integrity; such a description was
// written by another program).
func attrValues(attrs []Attr) []nc.Attr {
	var out []nc.Attr
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
			out = append(out, nc.Attr{Name: a.Name, Value: vals[0]})
			continue
		}
		out = append(out, nc.Attr{Name: a.Name, Value: makeSlice(a.Type, vals)})
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
	case "uint8":
		v, err := strconv.ParseUint(s, 10, 8)
		return uint8(v), err
	case "uint16":
		v, err := strconv.ParseUint(s, 10, 16)
		return uint16(v), err
	case "uint32":
		v, err := strconv.ParseUint(s, 10, 32)
		return uint32(v), err
	case "uint64":
		return strconv.ParseUint(s, 10, 64)
	}
	return nil, fmt.Errorf("netcdf: attribute type %q", typ)
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
	case "uint8":
		return collect[uint8](vals)
	case "uint16":
		return collect[uint16](vals)
	case "uint32":
		return collect[uint32](vals)
	case "uint64":
		return collect[uint64](vals)
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
