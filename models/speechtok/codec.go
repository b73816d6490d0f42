package speechtok

import (
	"errors"
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/compressor"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/media"
	mediawav "github.com/qzoo/qzoo/media/wav"
	"github.com/qzoo/qzoo/quant"
)

// ErrCorrupt is wrapped by every error of [Codec.Detokenize] and of the compressor's Decode that
// the payload's bytes cause.
var ErrCorrupt = errors.New("speechtok: corrupt payload")

// Codec tokenizes whole clips with a trained tokenizer and decodes tokens back to 16 kHz
// waveforms; it is the tokenizer's compressor.Compressor (registered for both models).
type Codec struct {
	// Geometry is the tokenizer's layout (hop, frame rate, streams, bits).
	Geometry Geometry
	encoder  *model.Exec
	decoder  *model.Exec
	// resynth decodes the semantic stream alone (the auxiliary decoder's, or the main decoder's
	// with no acoustic stage): Build's second prediction.
	resynth *model.Exec
}

// NewCodec prepares the encoder and decoder graphs of a trained tokenizer from its store and
// resolved hyperparameters.
func NewCodec(backend compute.Backend, store *model.Store, params map[string]any) (*Codec, error) {
	g, err := GeometryOf(params)
	if err != nil {
		return nil, err
	}
	c := &Codec{Geometry: g}
	c.encoder, err = model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return Tokenize(scope, x, nil).Codes()
	})
	if err != nil {
		return nil, fmt.Errorf("speechtok: encoder graph: %w", err)
	}
	c.decoder, err = model.NewExec(backend, store, func(scope *model.Scope, codes *graph.Node) *graph.Node {
		return Detokenize(scope, codes)
	})
	if err != nil {
		c.encoder.Finalize()
		return nil, fmt.Errorf("speechtok: decoder graph: %w", err)
	}
	c.resynth, err = model.NewExec(backend, store, func(scope *model.Scope, semantic *graph.Node) *graph.Node {
		return Resynthesize(scope, semantic)
	})
	if err != nil {
		c.encoder.Finalize()
		c.decoder.Finalize()
		return nil, fmt.Errorf("speechtok: resynthesis graph: %w", err)
	}
	return c, nil
}

// Close releases the graphs.
func (c *Codec) Close() {
	c.encoder.Finalize()
	c.decoder.Finalize()
	c.resynth.Finalize()
}

// Resynthesize decodes the semantic stream alone (streams[0] of Tokenize) to a clip of exactly
// samples 16 kHz samples: the auxiliary decoder's output for a distilled tokenizer (what the
// teacher's features were matched on), else the main decoder's with no acoustic stage. Codes
// of the wrong length or outside the codebook are errors wrapping [ErrCorrupt].
func (c *Codec) Resynthesize(semantic []int32, samples int) ([]float32, error) {
	t, k := c.Frames(samples), c.Geometry.Semantic.CodebookSize()
	if samples < 1 || len(semantic) != t {
		return nil, fmt.Errorf("%w: %d semantic codes for %d samples, which need %d", ErrCorrupt, len(semantic), samples, t)
	}
	for f, v := range semantic {
		if v < 0 || int(v) >= k {
			return nil, fmt.Errorf("%w: semantic frame %d: code %d outside [0, %d)", ErrCorrupt, f, v, k)
		}
	}
	out, err := framework.ExecFreeingInputs(c.resynth, tensors.FromFlatDataAndDimensions(semantic, 1, t))
	if err != nil {
		return nil, fmt.Errorf("speechtok: resynthesis: %w", err)
	}
	y := tensors.MustCopyFlatData[float32](out[0])
	out[0].FinalizeAll()
	return y[:samples], nil
}

// Frames is the number of token frames of a clip of n samples, ⌈n/hop⌉ (the clip is padded
// with zeros to a whole number of frames).
func (c *Codec) Frames(n int) int { return (n + c.Geometry.Hop - 1) / c.Geometry.Hop }

// Tokenize returns the token streams of a clip (16 kHz samples): streams[0] the semantic
// codes, streams[1+i] acoustic stage i, each of Frames(len(samples)) codes.
func (c *Codec) Tokenize(samples []float32) ([][]int32, error) {
	if len(samples) == 0 {
		return nil, errors.New("speechtok: tokenize: empty clip")
	}
	for i, v := range samples {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("speechtok: tokenize: sample %d is %v", i, v)
		}
	}
	t := c.Frames(len(samples))
	x := make([]float32, t*c.Geometry.Hop)
	copy(x, samples)
	out, err := framework.ExecFreeingInputs(c.encoder, tensors.FromFlatDataAndDimensions(x, 1, len(x)))
	if err != nil {
		return nil, fmt.Errorf("speechtok: encoder: %w", err)
	}
	codes := tensors.MustCopyFlatData[int32](out[0])
	out[0].FinalizeAll()
	n := c.Geometry.Streams()
	streams := make([][]int32, n)
	for s := range streams {
		streams[s] = make([]int32, t)
		for f := range t {
			streams[s][f] = codes[f*n+s]
		}
	}
	return streams, nil
}

// Detokenize decodes token streams (as Tokenize returns them, possibly from another source)
// to a clip of exactly samples 16 kHz samples. Streams of the wrong count or length and codes
// outside their codebook are errors wrapping [ErrCorrupt].
func (c *Codec) Detokenize(streams [][]int32, samples int) ([]float32, error) {
	n, t := c.Geometry.Streams(), c.Frames(samples)
	if samples < 1 || len(streams) != n {
		return nil, fmt.Errorf("%w: %d streams for %d samples, the model has %d streams", ErrCorrupt, len(streams), samples, n)
	}
	sizes := c.codebookSizes()
	codes := make([]int32, t*n)
	for s, stream := range streams {
		if len(stream) != t {
			return nil, fmt.Errorf("%w: stream %d has %d codes, %d samples need %d", ErrCorrupt, s, len(stream), samples, t)
		}
		for f, v := range stream {
			if v < 0 || int(v) >= sizes[s] {
				return nil, fmt.Errorf("%w: stream %d frame %d: code %d outside [0, %d)", ErrCorrupt, s, f, v, sizes[s])
			}
			codes[f*n+s] = v
		}
	}
	out, err := framework.ExecFreeingInputs(c.decoder, tensors.FromFlatDataAndDimensions(codes, 1, t, n))
	if err != nil {
		return nil, fmt.Errorf("speechtok: decoder: %w", err)
	}
	y := tensors.MustCopyFlatData[float32](out[0])
	out[0].FinalizeAll()
	return y[:samples], nil
}

// codebookSizes are K of each stream, semantic first.
func (c *Codec) codebookSizes() []int {
	sizes := []int{c.Geometry.Semantic.CodebookSize()}
	for range c.Geometry.Acoustic.Stages() {
		sizes = append(sizes, c.Geometry.Acoustic.CodebookSize())
	}
	return sizes
}

// Pack packs token streams into a payload: each stream in turn (semantic first), its codes
// bit-packed LSB-first at ⌈log₂ K⌉ bits (quant.PackWide), each stream padded to a whole byte.
// A clip of T frames thus costs Σ_s ⌈T·b_s/8⌉ bytes, T·Σ b_s bits before the padding.
func (c *Codec) Pack(streams [][]int32) ([]byte, error) {
	var payload []byte
	for s, stream := range streams {
		vals := make([]uint32, len(stream))
		for i, v := range stream {
			vals[i] = uint32(v)
		}
		b, err := quant.PackWide(vals, c.Geometry.StageBits()[s])
		if err != nil {
			return nil, fmt.Errorf("speechtok: pack stream %d: %w", s, err)
		}
		payload = append(payload, b...)
	}
	return payload, nil
}

// Unpack is the inverse of [Codec.Pack] for a clip of samples samples; a payload of the wrong
// size or with nonzero padding bits is an error wrapping [ErrCorrupt].
func (c *Codec) Unpack(payload []byte, samples int) ([][]int32, error) {
	t := c.Frames(samples)
	bits := c.Geometry.StageBits()
	want := 0
	for _, b := range bits {
		want += (t*b + 7) / 8
	}
	if samples < 1 || len(payload) != want {
		return nil, fmt.Errorf("%w: %d bytes, a clip of %d samples (%d frames) takes %d", ErrCorrupt, len(payload), samples, t, want)
	}
	streams := make([][]int32, len(bits))
	off := 0
	for s, b := range bits {
		size := (t*b + 7) / 8
		vals, err := quant.UnpackWide(payload[off:off+size], b, t)
		if err != nil {
			return nil, fmt.Errorf("%w: stream %d: %w", ErrCorrupt, s, err)
		}
		off += size
		streams[s] = make([]int32, t)
		for i, v := range vals {
			streams[s][i] = int32(v)
		}
	}
	return streams, nil
}

func init() {
	for _, name := range []string{"speechtok", "speechtok_nodistill"} {
		compressor.Register(name, func(cfg *framework.Config, store *model.Store) (compressor.Compressor, error) {
			backend, _, err := framework.NewBackend()
			if err != nil {
				return nil, err
			}
			c, err := NewCodec(backend, store, cfg.Params)
			if err != nil {
				return nil, err
			}
			return signalCodec{c}, nil
		})
	}
}

// signalCodec adapts a Codec to compressor.Compressor and compressor.CodingReporter: qzc.Audio
// signals of one channel (media/wav's mixdown, "mono") of 16 kHz samples, shape [S].
type signalCodec struct{ *Codec }

// NewCompressor returns c as a compressor.Compressor of qzc.Audio signals (also a
// compressor.CodingReporter).
func NewCompressor(c *Codec) compressor.Compressor { return signalCodec{c} }

func (signalCodec) Kind() qzc.Kind                       { return qzc.Audio }
func (signalCodec) Channels() []string                   { return []string{mediawav.Channel} }
func (signalCodec) Normalisation() (mean, std []float64) { return nil, nil }

// Coding implements compressor.CodingReporter: the frame rate, the streams coded per frame
// (1 + N: qzc.CodingStages), their packed bits per frame, and the semantic stream's.
func (s signalCodec) Coding() map[string]float64 {
	bits := s.Geometry.StageBits()
	total := 0
	for _, b := range bits {
		total += b
	}
	return map[string]float64{qzc.CodingFrameRate: s.Geometry.FrameRate(), qzc.CodingStages: float64(len(bits)),
		"bits_per_frame": float64(total), "semantic_bits_per_frame": float64(bits[0])}
}

// Encode codes a qzc.Audio signal at 16 kHz; the estimated bits are the packed bits before
// padding, Frames·Σ ⌈log₂ K⌉ (the tokens are coded at a fixed rate).
func (s signalCodec) Encode(sig media.Signal) ([]byte, float64, error) {
	if sig.Kind != qzc.Audio || sig.SampleRate != SampleRate || len(sig.Shape) != 1 || len(sig.Channels) != 1 || len(sig.Data) != 1 || len(sig.Data[0]) != sig.Shape[0] {
		return nil, 0, fmt.Errorf("speechtok: codes one channel of %d Hz audio of shape [samples], not a %s signal at %d Hz of channels %v and shape %v",
			SampleRate, sig.Kind, sig.SampleRate, sig.Channels, sig.Shape)
	}
	streams, err := s.Tokenize(sig.Data[0])
	if err != nil {
		return nil, 0, err
	}
	payload, err := s.Pack(streams)
	if err != nil {
		return nil, 0, err
	}
	bits := 0
	for _, b := range s.Geometry.StageBits() {
		bits += b
	}
	return payload, float64(bits * len(streams[0])), nil
}

// Decode decodes a payload to a signal of shape [samples].
func (s signalCodec) Decode(payload []byte, shape []int) (media.Signal, error) {
	if len(shape) != 1 || shape[0] < 1 {
		return media.Signal{}, fmt.Errorf("speechtok: decodes audio of shape [samples], not %v", shape)
	}
	streams, err := s.Unpack(payload, shape[0])
	if err != nil {
		return media.Signal{}, err
	}
	y, err := s.Detokenize(streams, shape[0])
	if err != nil {
		return media.Signal{}, err
	}
	return media.Signal{Kind: qzc.Audio, Channels: []string{mediawav.Channel}, Shape: shape, Data: [][]float32{y}, SampleRate: SampleRate}, nil
}
