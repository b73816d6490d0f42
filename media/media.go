// Package media is where a signal meets its files: [Signal], the samples a front end reads
// from a media file and a compressor codes, and [Frontend], what a media front end does
// (netCDF in media/netcdf, WAV for audio in media/wav). Front ends register themselves by name; the
// codec command picks one by the kind of signal the model codes and by the file's extension
// when compressing, and by the name a .qzc file records when decompressing. The container
// (formats/qzc) knows no media; a front end knows no model.
package media

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/internal/registry"
)

// Signal is channels of samples sharing one shape: what a front end reads and writes, what a
// compressor codes.
type Signal struct {
	// Kind says what the samples are (qzc.Gridded: fields of shape [T, H, W]; qzc.Audio:
	// sound of shape [N]).
	Kind qzc.Kind
	// Channels names the channels, in the order of Data ("t2m", "q@850").
	Channels []string
	// Shape is each channel's shape (gridded: [T, H, W], time-major, then latitude, then longitude).
	Shape []int
	// Data holds each channel's values, row-major over Shape, in physical units (audio: full
	// scale ±1).
	Data [][]float32
	// SampleRate is the samples per second along Shape[0] (audio: Hz); 0 for a signal
	// without one (gridded).
	SampleRate int
}

// Values returns the number of values the signal holds, len(Channels)·∏Shape.
func (s Signal) Values() int {
	n := len(s.Channels)
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// Source is what a front end tells of the source file a .qzc file records.
type Source struct {
	// Name is the source file's base name (names joined by commas for several files).
	Name string
	// Bytes is its size on disk (all files together).
	Bytes int64
	// Lines describe it for `codec inspect`: format, coordinates, variables.
	Lines []string
	// Units gives the units of each variable whose source states them (netCDF: its "units"
	// attribute), keyed by variable name; nil when none does.
	Units map[string]string
}

// Provenance says where a decoded signal comes from, for the front end to record in the
// file it writes (netCDF: the global "history" attribute).
type Provenance struct {
	// Time is when it was decoded; File is the .qzc file's base name.
	Time time.Time
	File string
	// Model and Step identify the weights that decoded it.
	Model string
	Step  int64
	// BitsPerValue is the .qzc file's size in bits per value.
	BitsPerValue float64
}

// Frontend converts media files to and from a [Signal] and the description of the source
// needed to write the signal back.
type Frontend interface {
	// Name is the front end's registry name, recorded in the .qzc header ("netcdf").
	Name() string
	// Kind is the kind of signal the front end reads and writes.
	Kind() qzc.Kind
	// Extensions are the file name extensions of its media, lower case with the dot (".nc").
	Extensions() []string
	// Read reads the files in paths and returns the signal of the channels want (the
	// model's, in its order) and the description of the source. selection names what the
	// user asked to code (media-specific names: variables or channels; nil: everything the
	// files hold): a selected channel outside want, or a channel of want outside the
	// selection, is an error naming it and the channels present.
	Read(paths []string, selection, want []string) (Signal, json.RawMessage, error)
	// Check tells whether source describes a signal of s's kind, channels and shape (s.Data
	// is not looked at): the codec checks a file's description before decoding its payload.
	Check(s Signal, source json.RawMessage) error
	// Write writes s to path (atomically) as the media file source describes, recording p.
	// It fails when source does not describe s (see Check).
	Write(path string, s Signal, source json.RawMessage, p Provenance) error
	// Describe reads a source description for display.
	Describe(source json.RawMessage) (Source, error)
}

var frontends = registry.New[Frontend]("media front end")

// Register makes a front end available by its name (in its package's init); registering a name
// twice panics.
func Register(f Frontend) { frontends.Register(f.Name(), f) }

// Named returns the front end registered as name; the error lists those registered.
func Named(name string) (Frontend, error) {
	f, err := frontends.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	return f, nil
}

// For returns the front end that reads path as a signal of kind: the one of that kind whose
// extensions include path's, else the only one of that kind. A file whose extension only
// front ends of other kinds claim (a .wav file given to a model of gridded fields) is refused,
// naming its kind and the kind wanted; otherwise the error names the kind, the file and the
// front ends of that kind.
func For(kind qzc.Kind, path string) (Frontend, error) {
	var ofKind []Frontend
	ext := strings.ToLower(filepath.Ext(path))
	var other Frontend
	for _, f := range frontends.Values() {
		if f.Kind() == kind {
			ofKind = append(ofKind, f)
		} else if slices.Contains(f.Extensions(), ext) {
			other = f
		}
	}
	for _, f := range ofKind {
		if slices.Contains(f.Extensions(), ext) {
			return f, nil
		}
	}
	if other != nil {
		return nil, fmt.Errorf("media: %s is read by the %s front end as a signal of kind %s, but the model codes signals of kind %s", path, other.Name(), other.Kind(), kind)
	}
	if len(ofKind) == 1 {
		return ofKind[0], nil
	}
	names := make([]string, len(ofKind))
	for i, f := range ofKind {
		names[i] = f.Name()
	}
	return nil, fmt.Errorf("media: no front end reads %s as a %s signal (front ends of that kind: %s)", path, kind, strings.Join(names, ", "))
}

// Lattice is what a front end writes a channel's values as: Offset + Step·k for an integer k
// (CF int16 packing: add_offset + scale_factor·k), or float32 where Step is 0. The codec's
// error-bounded mode (compressor.Options.MaxAbsError) bounds the error of the values as
// written, so it needs to know. Lo and Hi bound the indices k the writer writes as values
// (int16's range less the fill and missing markers at its ends); beyond them it clamps.
type Lattice struct{ Step, Offset, Lo, Hi float64 }

// Written returns the value a reader of the written file gets back for v on l: v rounded to
// the nearest lattice point (and unpacked in float64, then float32, as formats/netcdf reads
// it), or float32 v where Step is 0. k is the lattice index (0 where Step is 0).
func (l Lattice) Written(v float32) (w float32, k float64) {
	if l.Step == 0 {
		return v, 0
	}
	k = math.Round((float64(v) - l.Offset) / l.Step)
	return float32(k*l.Step + l.Offset), k
}

// Latticed is implemented by a front end that can say, for a source, the lattice it writes
// each channel's values on (see [Lattice]); the error-bounded mode refuses other front ends.
type Latticed interface {
	// Lattices returns one Lattice per channel of s (s.Data is not looked at) as Write would
	// write them with source; an error where source does not describe s.
	Lattices(s Signal, source json.RawMessage) ([]Lattice, error)
}

// Streamer is implemented by a front end that reads and writes its signals in segments along
// their first axis (gridded fields: hours), so that the codec holds one segment in memory, not
// the whole signal: a 0.25° global month of one variable is 3 GB of float32, a day 100 MB.
type Streamer interface {
	// Open does what Read does without reading samples: it returns the signal's kind,
	// channels and whole shape (Data nil), the description of the source (the same as Read's),
	// and a reader of stretches of it.
	Open(paths []string, selection, want []string) (Signal, json.RawMessage, RangeReader, error)
	// Create starts writing a signal of s's kind, channels and whole shape (s.Data is not
	// looked at) to path as source describes, recording p; the stretches come in order
	// through the writer, which writes path atomically when closed. missing tells whether any
	// value written will be missing (NaN): a writer must say how it marks them before the
	// values come (netCDF: a _FillValue the source may lack).
	Create(path string, s Signal, source json.RawMessage, p Provenance, missing bool) (RangeWriter, error)
}

// RangeReader reads stretches of a signal along its first axis.
type RangeReader interface {
	// ReadRange returns the stretch [start, start+n) of the signal (Shape[0] = n), in physical
	// units, NaN where missing.
	ReadRange(start, n int) (Signal, error)
	Close() error
}

// RangeWriter writes a signal stretch by stretch along its first axis.
type RangeWriter interface {
	// Write writes the next stretch (Shape[0] ≥ 1, the other dimensions the signal's).
	Write(s Signal) error
	// Close fails unless the whole signal was written; it commits the file. Abort removes what
	// was written.
	Close() error
	Abort()
}

// WholeReader serves stretches of a signal held in memory (a front end that does not
// stream: the codec reads it whole, then codes it in segments like any other).
type WholeReader struct{ S Signal }

// ReadRange returns the stretch [start, start+n) of r.S: r.S itself when that is all of it,
// else a copy; an error when it lies outside the signal or the signal has no first axis.
func (r WholeReader) ReadRange(start, n int) (Signal, error) {
	s := r.S
	if len(s.Shape) == 0 || start < 0 || n < 1 || start+n > s.Shape[0] {
		return Signal{}, fmt.Errorf("media: stretch [%d, %d) of a signal of shape %v", start, start+n, s.Shape)
	}
	if start == 0 && n == s.Shape[0] {
		return s, nil
	}
	frame := 1
	for _, d := range s.Shape[1:] {
		frame *= d
	}
	out := Signal{Kind: s.Kind, Channels: s.Channels, Shape: append([]int{n}, s.Shape[1:]...), SampleRate: s.SampleRate,
		Data: make([][]float32, len(s.Data))}
	for i, d := range s.Data {
		out.Data[i] = slices.Clone(d[start*frame : (start+n)*frame])
	}
	return out, nil
}

// Close does nothing.
func (WholeReader) Close() error { return nil }
