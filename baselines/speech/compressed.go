package speech

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/qzoo/qzoo/compressor"
	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/formats/wav"
	mediawav "github.com/qzoo/qzoo/media/wav"
)

// Compressed is a trained compressing run of an audio model (a speech tokenizer) as a [Peer]:
// it codes a clip through the codec command's path, so that it is measured by the same code
// as Codec2 and Opus. Code writes the clip as a 16-bit WAV, compresses it to a .qzc file
// with [compressor.CompressFile] (the media front end "wav" reads it at 16 kHz), so the bit
// rates are the real file's (FileBits: the whole .qzc, header and identity included;
// PayloadBits: its payload), then decodes that file's payload with the compressor already
// open. [compressor.DecompressFile] would decode the same payload the same way but reopen
// the model for every file, which a codec in use does once: the decode time here is the
// model's alone. EncodeSeconds is CompressFile's wall-clock time (reading the WAV included).
type Compressed struct {
	name string
	c    compressor.Compressor
	id   compressor.Identity
	tmp  string
}

// OpenCompressed opens the run in dir (its latest checkpoint, [compressor.Open]) as a peer
// named name ("" names it by the run directory's base name). Errors: dir is not a run of a
// compressing model, or the model does not code audio. Close it when done.
func OpenCompressed(dir, name string) (*Compressed, error) {
	c, id, err := compressor.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("speech: %w", err)
	}
	if c.Kind() != qzc.Audio {
		c.Close()
		return nil, fmt.Errorf("speech: the run in %s (model %s) codes %s signals, not audio", dir, id.Model, c.Kind())
	}
	tmp, err := os.MkdirTemp("", "qzoo-compressed-")
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("speech: %w", err)
	}
	if name == "" {
		name = filepath.Base(filepath.Clean(dir))
	}
	return &Compressed{name: name, c: c, id: id, tmp: tmp}, nil
}

// Name is the name given to OpenCompressed.
func (p *Compressed) Name() string { return p.name }

// Identity is the model and checkpoint of the run.
func (p *Compressed) Identity() compressor.Identity { return p.id }

// Coding is the compressor's coding values (frame rate, stages, ...) when it reports them
// ([compressor.CodingReporter]), else nil.
func (p *Compressed) Coding() map[string]float64 {
	if r, ok := p.c.(compressor.CodingReporter); ok {
		return r.Coding()
	}
	return nil
}

// Close releases the model and the temporary files.
func (p *Compressed) Close() {
	p.c.Close()
	os.RemoveAll(p.tmp)
}

// Code codes x (mono, rate Hz) through a .qzc file and back; the reconstruction is resampled
// from the model's 16 kHz to rate when they differ. Errors: the WAV, the compressor's or the
// container's, naming the run.
func (p *Compressed) Code(x []float32, rate int) (Coded, error) {
	in, out := filepath.Join(p.tmp, "in.wav"), filepath.Join(p.tmp, "out.qzc")
	if err := wav.Write(in, &wav.Audio{SampleRate: rate, Samples: [][]float32{x}}); err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", p.name, err)
	}
	start := time.Now()
	if _, err := compressor.CompressFile(p.c, p.id, []string{in}, out, compressor.Options{}); err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", p.name, err)
	}
	enc := time.Since(start).Seconds()
	h, payload, sizes, err := qzc.ReadFile(out)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", p.name, err)
	}
	start = time.Now()
	s, err := p.c.Decode(payload, h.Shape)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: decode %s: %w", p.name, out, err)
	}
	dec := time.Since(start).Seconds()
	if len(s.Data) != 1 || s.SampleRate != mediawav.Rate {
		return Coded{}, fmt.Errorf("speech: %s: decoded %d channels at %d Hz, want 1 at %d", p.name, len(s.Data), s.SampleRate, mediawav.Rate)
	}
	y := s.Data[0]
	if rate != mediawav.Rate {
		if y, err = dsp.Resample(y, mediawav.Rate, rate); err != nil {
			return Coded{}, fmt.Errorf("speech: %s: %w", p.name, err)
		}
	}
	if d := len(y) - len(x); d < -1 || d > 1 {
		return Coded{}, fmt.Errorf("speech: %s: decoded %d samples for a clip of %d", p.name, len(y), len(x))
	}
	return Coded{Audio: fitLength(y, len(x)), FileBits: 8 * int64(sizes.Total), PayloadBits: 8 * int64(sizes.Payload),
		Seconds: float64(len(x)) / float64(rate), EncodeSeconds: enc, DecodeSeconds: dec}, nil
}
