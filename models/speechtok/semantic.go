package speechtok

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/qzoo/qzoo/baselines/speech"
	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/checkpoint"
)

// SemanticPeer is a speech tokenizer's semantic stream alone as a codec of baselines/speech's
// studies (a speech.Peer, learned: it reports its coding): the clip tokenized,
// its semantic codes decoded by Codec.Resynthesize (the auxiliary decoder the teacher's
// features were matched on). Its bits are the packed semantic codes (⌈log₂ K⌉ per frame); it
// writes no file, so its file and payload rates are equal.
type SemanticPeer struct {
	name  string
	codec *Codec
}

// OpenSemantic opens the tokenizer run in dir (its latest checkpoint; the teacher is not
// needed) as a SemanticPeer named "<name>-semantic" ("" names it by the run
// directory's base name). Close it when done.
func OpenSemantic(dir, name string) (*SemanticPeer, error) {
	path, _, err := checkpoint.Latest(dir)
	if err != nil {
		return nil, fmt.Errorf("speechtok: %s is not a run directory: %w", dir, err)
	}
	cfg, store, err := framework.LoadCheckpointWithoutTeacher(dir, path)
	if err != nil {
		return nil, err
	}
	backend, _, err := framework.NewBackend()
	if err != nil {
		return nil, err
	}
	c, err := NewCodec(backend, store, cfg.Params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if name == "" {
		name = filepath.Base(filepath.Clean(dir))
	}
	return &SemanticPeer{name: name + "-semantic", codec: c}, nil
}

// Name is "<run>-semantic".
func (s *SemanticPeer) Name() string { return s.name }

// Close releases the codec's graphs.
func (s *SemanticPeer) Close() { s.codec.Close() }

// Coding makes it a learned codec of the study: the frame rate and its one stream.
func (s *SemanticPeer) Coding() map[string]float64 {
	return map[string]float64{"frame_rate": s.codec.Geometry.FrameRate(), "stages": 1}
}

// Code tokenizes x (resampled to 16 kHz when rate differs) and resynthesizes it from its
// semantic codes alone, timing both halves.
func (s *SemanticPeer) Code(x []float32, rate int) (speech.Coded, error) {
	if rate != SampleRate {
		var err error
		if x, err = dsp.Resample(x, rate, SampleRate); err != nil {
			return speech.Coded{}, err
		}
	}
	start := time.Now()
	streams, err := s.codec.Tokenize(x)
	if err != nil {
		return speech.Coded{}, err
	}
	encode := time.Since(start).Seconds()
	start = time.Now()
	y, err := s.codec.Resynthesize(streams[0], len(x))
	if err != nil {
		return speech.Coded{}, err
	}
	decode := time.Since(start).Seconds()
	if rate != SampleRate {
		if y, err = dsp.Resample(y, SampleRate, rate); err != nil {
			return speech.Coded{}, err
		}
		y = y[:min(len(y), len(x)*rate/SampleRate)]
	}
	bits := int64(len(streams[0]) * s.codec.Geometry.StageBits()[0])
	return speech.Coded{Audio: y, FileBits: bits, PayloadBits: bits, Seconds: float64(len(x)) / SampleRate,
		EncodeSeconds: encode, DecodeSeconds: decode}, nil
}
