// Package wav is the codec's audio front end, registered with package media as "wav": it
// reads an audio file (WAV or FLAC, through formats/audio's Load: identified by content, its
// channels mixed down to one, "mono", their mean, and resampled to [Rate] = 16 kHz, the rate of
// the zoo's speech models, with dsp.Resample), and describes the source for the .qzc container ([Source]: name, size,
// format, sample rate, channels, frames); and it writes a decoded signal back as 16-bit PCM
// WAV at 16 kHz, atomically (formats/wav's Write).
//
// Duration: a source of F frames at R Hz is coded as N = ⌈F·16000/R⌉ samples at 16 kHz (the
// length dsp.Resample gives), and the file written back holds those N samples, so its duration
// equals the source's to within one 16 kHz sample (62.5 µs). A source at another rate comes
// back at 16 kHz, not at its own rate: the model's output holds nothing above 8 kHz, and a
// second resampling would only add a filter (an 8 kHz telephone source stays band-limited to
// 4 kHz). A source of several channels comes back mono. The WAV written is a plain 44-byte
// header and the samples: it records no provenance (formats/wav writes no LIST chunk), unlike
// the netCDF front end's "history" attribute.
package wav

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/formats/audio"
	"github.com/qzoo/qzoo/formats/qzc"
	wavfile "github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/media"
)

const (
	// Name is the front end's registry name, recorded in the .qzc files it describes.
	Name = "wav"
	// Rate is the sample rate of the signal the front end reads and writes (Hz).
	Rate = 16000
	// Channel is the name of the signal's one channel, the mixdown of the source's.
	Channel = "mono"
)

func init() { media.Register(Frontend{}) }

// Frontend is the audio front end; its zero value is ready to use.
type Frontend struct{}

// Name returns "wav".
func (Frontend) Name() string { return Name }

// Kind returns qzc.Audio.
func (Frontend) Kind() qzc.Kind { return qzc.Audio }

// Extensions returns the extensions of the files it reads, sorted. A file is identified by
// its content, whatever its extension; these pick the front end for a file to compress.
func (Frontend) Extensions() []string { return []string{".flac", ".wav", ".wave"} }

// Source describes the source audio file in a .qzc header.
type Source struct {
	// Name is the file's base name; Bytes its size on disk.
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	// Format is the container and sample format, e.g. "WAV, 16-bit PCM".
	Format string `json:"format"`
	// SampleRate (Hz), Channels and Frames (samples per channel) are the source's own.
	SampleRate int   `json:"sample_rate"`
	Channels   int   `json:"channels"`
	Frames     int64 `json:"frames"`
}

// Samples is the number of 16 kHz samples that code the source, ⌈Frames·16000/SampleRate⌉.
func (s *Source) Samples() int64 {
	return (s.Frames*Rate + int64(s.SampleRate) - 1) / int64(s.SampleRate)
}

// Seconds is the source's duration.
func (s *Source) Seconds() float64 { return float64(s.Frames) / float64(s.SampleRate) }

// Read reads the one audio file in paths as a signal of one channel, "mono", at 16 kHz (see
// the package documentation), with the description of the source. want must be ["mono"]; a
// selection of channels is refused (the front end codes the mixdown of all). Errors name the
// file: formats/wav's for a file that is not WAV or is damaged, and a file of no samples.
func (Frontend) Read(paths []string, selection, want []string) (media.Signal, json.RawMessage, error) {
	if len(paths) != 1 {
		return media.Signal{}, nil, fmt.Errorf("wav: one audio file at a time, got %d (%s)", len(paths), strings.Join(paths, ", "))
	}
	path := paths[0]
	if len(selection) != 0 {
		return media.Signal{}, nil, fmt.Errorf("wav: %s: choosing channels (%s) is not supported: the codec codes the mixdown of every channel", path, strings.Join(selection, ","))
	}
	if !slices.Equal(want, []string{Channel}) {
		return media.Signal{}, nil, fmt.Errorf("wav: %s: the audio front end gives one channel, %s (the mixdown); the model codes channels %v", path, Channel, want)
	}
	clip, err := audio.Load(path, Rate)
	if err != nil {
		return media.Signal{}, nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return media.Signal{}, nil, fmt.Errorf("wav: %w", err)
	}
	src := Source{Name: filepath.Base(path), Bytes: st.Size(), Format: clip.Container + ", " + clip.Encoding,
		SampleRate: clip.SourceRate, Channels: clip.SourceChannels, Frames: clip.SourceFrames}
	if err := src.check(); err != nil {
		return media.Signal{}, nil, fmt.Errorf("wav: %s: %w", path, err)
	}
	x := clip.Samples
	raw, err := json.Marshal(src)
	if err != nil {
		return media.Signal{}, nil, fmt.Errorf("wav: %s: encode the description: %w", path, err)
	}
	return media.Signal{Kind: qzc.Audio, Channels: []string{Channel}, Shape: []int{len(x)}, Data: [][]float32{x}, SampleRate: Rate}, raw, nil
}

// check bounds a description's numbers (as formats/wav bounds a header's) and the length of
// the signal coding it.
func (s *Source) check() error {
	switch {
	case s.Frames < 1:
		return fmt.Errorf("no samples (%d frames): nothing to code", s.Frames)
	case s.SampleRate < 1 || s.SampleRate > wavfile.MaxSampleRate:
		return fmt.Errorf("sample rate %d Hz out of range [1, %d]", s.SampleRate, wavfile.MaxSampleRate)
	case s.Channels < 1 || s.Channels > wavfile.MaxChannels:
		return fmt.Errorf("%d channels out of range [1, %d]", s.Channels, wavfile.MaxChannels)
	case s.Frames > wavfile.MaxSamples || s.Samples() > wavfile.MaxSamples:
		return fmt.Errorf("%d frames at %d Hz are %d samples at %d Hz, over the %d a signal may hold", s.Frames, s.SampleRate, s.Samples(), Rate, wavfile.MaxSamples)
	}
	return nil
}

// Check tells whether source describes the audio signal s (s.Data is not looked at): one
// channel, mono, at 16 kHz, of as many samples as the source's frames give.
func (Frontend) Check(s media.Signal, source json.RawMessage) error {
	_, err := checkedSource(s, source)
	return err
}

func checkedSource(s media.Signal, source json.RawMessage) (*Source, error) {
	src, err := decodeSource(source)
	if err != nil {
		return nil, err
	}
	if err := src.check(); err != nil {
		return nil, fmt.Errorf("wav: source description of %s: %w", src.Name, err)
	}
	if s.Kind != qzc.Audio || !slices.Equal(s.Channels, []string{Channel}) || len(s.Shape) != 1 || s.SampleRate != Rate {
		return nil, fmt.Errorf("wav: a %s signal of channels %v, shape %v at %d Hz is not audio of one channel, %s, at %d Hz",
			s.Kind, s.Channels, s.Shape, s.SampleRate, Channel, Rate)
	}
	if int64(s.Shape[0]) != src.Samples() {
		return nil, fmt.Errorf("wav: source description of %s: %d frames at %d Hz are %d samples at %d Hz, the payload codes %d",
			src.Name, src.Frames, src.SampleRate, src.Samples(), Rate, s.Shape[0])
	}
	return src, nil
}

// Write writes the audio signal s to path as a 16-bit PCM WAV file at 16 kHz (atomically;
// samples beyond ±1 are clipped). It fails when source does not describe s (see Check) or
// when s.Data is not one channel of s.Shape[0] samples. The provenance is not recorded (see
// the package documentation).
func (Frontend) Write(path string, s media.Signal, source json.RawMessage, _ media.Provenance) error {
	if _, err := checkedSource(s, source); err != nil {
		return err
	}
	if len(s.Data) != 1 || len(s.Data[0]) != s.Shape[0] {
		first := 0
		if len(s.Data) > 0 {
			first = len(s.Data[0])
		}
		return fmt.Errorf("wav: %s: the decoded signal holds %d channel(s), the first of %d samples; want one of %d", path, len(s.Data), first, s.Shape[0])
	}
	return wavfile.Write(path, &wavfile.Audio{SampleRate: Rate, Samples: s.Data})
}

// Describe reads a source description for display: its name, size, and a line for the
// source's format, rate, channels and duration, and one for how it is coded and written back.
func (Frontend) Describe(source json.RawMessage) (media.Source, error) {
	s, err := decodeSource(source)
	if err != nil {
		return media.Source{}, err
	}
	if err := s.check(); err != nil {
		return media.Source{}, fmt.Errorf("wav: source description of %s: %w", s.Name, err)
	}
	return media.Source{Name: s.Name, Bytes: s.Bytes, Lines: []string{
		fmt.Sprintf("%s, %d Hz, %d channel(s), %d frames (%.3f s)", s.Format, s.SampleRate, s.Channels, s.Frames, s.Seconds()),
		fmt.Sprintf("coded as %s at %d Hz: %d samples; written back as 16-bit PCM WAV at %d Hz, mono, of the same duration", Channel, Rate, s.Samples(), Rate),
	}}, nil
}

// decodeSource decodes a description strictly (an unknown field is an error).
func decodeSource(raw json.RawMessage) (*Source, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s Source
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("wav: source description: %w", err)
	}
	return &s, nil
}
