package media

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/formats/qzc"
)

// fake is a front end that only has a name, a kind and extensions.
type fake struct {
	name string
	kind qzc.Kind
	ext  []string
}

func (f fake) Name() string         { return f.name }
func (f fake) Kind() qzc.Kind       { return f.kind }
func (f fake) Extensions() []string { return f.ext }
func (fake) Read([]string, []string, []string) (Signal, json.RawMessage, error) {
	return Signal{}, nil, nil
}
func (fake) Check(Signal, json.RawMessage) error                     { return nil }
func (fake) Write(string, Signal, json.RawMessage, Provenance) error { return nil }
func (fake) Describe(json.RawMessage) (Source, error)                { return Source{}, nil }

// TestFrontends: a front end is found by name, and for a file by its kind and extension, the
// only one of a kind taking files of any name.
func TestFrontends(t *testing.T) {
	Register(fake{"wav", "audio", []string{".wav"}})
	Register(fake{"flac", "audio", []string{".flac"}})
	Register(fake{"grib", "gridded", []string{".grib"}})
	for _, c := range []struct {
		kind qzc.Kind
		path string
		want string
	}{{"audio", "a/b.WAV", "wav"}, {"audio", "x.flac", "flac"}, {"gridded", "x.grib", "grib"}, {"gridded", "x.nc", "grib"}} {
		f, err := For(c.kind, c.path)
		if err != nil || f.Name() != c.want {
			t.Errorf("For(%s, %s) = %v, %v; want %s", c.kind, c.path, f, err, c.want)
		}
	}
	if _, err := For("audio", "x.ogg"); err == nil || !strings.Contains(err.Error(), "flac, wav") {
		t.Errorf("an audio file of no known extension: %v, want the audio front ends named", err)
	}
	if _, err := For("gridded", "x.flac"); err == nil || !strings.Contains(err.Error(), "of kind audio") ||
		!strings.Contains(err.Error(), "codes signals of kind gridded") {
		t.Errorf("an audio file for a gridded model: %v, want the two kinds named", err)
	}
	if _, err := For("video", "x.mp4"); err == nil {
		t.Error("a kind without front end found one")
	}
	if f, err := Named("flac"); err != nil || f.Name() != "flac" {
		t.Errorf("Named(flac) = %v, %v", f, err)
	}
	if _, err := Named("mp3"); err == nil || !strings.Contains(err.Error(), "flac, grib, wav") {
		t.Errorf("Named(mp3): %v, want the registered names listed", err)
	}
	if n := (Signal{Channels: []string{"l", "r"}, Shape: []int{480}}).Values(); n != 960 {
		t.Errorf("Values() = %d, want 960", n)
	}
}
