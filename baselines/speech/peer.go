package speech

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"time"

	"github.com/qzoo/qzoo/metrics"
)

// Peer is a speech codec that codes a clip and decodes it again.
type Peer interface {
	// Name identifies the peer and its setting, e.g. "codec2-1200" or "opus-8k".
	Name() string
	// Code encodes x (mono, values in [−1, 1], at rate Hz) and decodes it, returning the
	// reconstruction at rate Hz with len(x) samples, time-aligned with x.
	Code(x []float32, rate int) (Coded, error)
}

// Coded is one clip coded by a [Peer].
type Coded struct {
	Audio []float32 // the reconstruction: the input's rate and length, time-aligned
	// FileBits is the size of the encoded file in bits, everything a decoder reads.
	FileBits int64
	// PayloadBits is the size of the coded audio alone: FileBits less the container's headers
	// and framing (Opus: the Ogg pages' headers and the OpusHead/OpusTags packets; Codec2's
	// headerless bit file has none, so it equals FileBits).
	PayloadBits int64
	// Seconds is the clip's duration, len(x)/rate.
	Seconds float64
	// EncodeSeconds and DecodeSeconds are the wall-clock times of the encoder and the decoder.
	EncodeSeconds, DecodeSeconds float64
}

// FileBitRate is FileBits/Seconds in bit/s.
func (c Coded) FileBitRate() float64 { return float64(c.FileBits) / c.Seconds }

// PayloadBitRate is PayloadBits/Seconds in bit/s.
func (c Coded) PayloadBitRate() float64 { return float64(c.PayloadBits) / c.Seconds }

// Peers returns the configured peers, lowest bit rate first within each codec: Codec2 700C,
// 1200, 1600, 2400 and 3200, then Opus at 6, 8 and 12 kbit/s.
func Peers() []Peer {
	var ps []Peer
	for _, m := range Codec2Modes {
		ps = append(ps, Codec2{Mode: m})
	}
	for _, kbps := range OpusBitRates {
		ps = append(ps, Opus{KbitPerSecond: kbps})
	}
	return ps
}

// Score is a peer's result on one clip.
type Score struct {
	Peer                           string
	Seconds                        float64 // clip duration
	FileBitRate, PayloadBitRate    float64 // bit/s (see [Coded])
	STOI                           float64 // metrics.STOI of the reconstruction against the clip
	LogMelDistance                 float64 // metrics.LogMelDistance, nepers
	EncodeRealTime, DecodeRealTime float64 // seconds of processing per second of audio
}

// Measure codes x (mono, rate Hz) with p and scores the reconstruction with [Evaluate].
func Measure(p Peer, x []float32, rate int) (Score, error) {
	c, err := p.Code(x, rate)
	if err != nil {
		return Score{}, err
	}
	return Evaluate(p.Name(), x, rate, c)
}

// Evaluate scores c, the coding of x (mono, rate Hz) by the codec called name, against x:
// [metrics.STOI], [metrics.LogMelDistance], c's bit rates and real-time factors. A codec that
// is not a [Peer] (a learned tokenizer) is scored by the same code. Errors: the metrics' (a
// clip under 384 ms of speech is too short for STOI; c.Audio must have len(x) samples), each
// naming the codec.
func Evaluate(name string, x []float32, rate int, c Coded) (Score, error) {
	stoi, err := metrics.STOI(x, c.Audio, rate)
	if err != nil {
		return Score{}, fmt.Errorf("speech: %s: %w", name, err)
	}
	lmd, err := metrics.LogMelDistance(x, c.Audio, rate)
	if err != nil {
		return Score{}, fmt.Errorf("speech: %s: %w", name, err)
	}
	return Score{
		Peer: name, Seconds: c.Seconds,
		FileBitRate: c.FileBitRate(), PayloadBitRate: c.PayloadBitRate(),
		STOI: stoi, LogMelDistance: lmd,
		EncodeRealTime: c.EncodeSeconds / c.Seconds, DecodeRealTime: c.DecodeSeconds / c.Seconds,
	}, nil
}

// ErrToolMissing is wrapped by every error that means a command-line tool is not installed.
var ErrToolMissing = errors.New("speech: tool not installed")

// lookTool finds name on $PATH, or says which Debian package installs it.
func lookTool(name, debianPackage string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not on $PATH (apt-get install %s): %v", ErrToolMissing, name, debianPackage, err)
	}
	return path, nil
}

// runTool runs the tool at path with args and returns its standard output and its wall-clock
// time; a failure's error carries the end of its standard error.
func runTool(path string, args ...string) ([]byte, float64, error) {
	cmd := exec.Command(path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start).Seconds()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 600 {
			msg = "…" + msg[len(msg)-600:]
		}
		return nil, 0, fmt.Errorf("speech: %s %s: %v: %s", path, strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), elapsed, nil
}

// pcm16 encodes x as little-endian signed 16-bit samples, round(32768·x) clipped to
// [−32768, 32767] (as formats/wav writes them).
func pcm16(x []float32) []byte {
	b := make([]byte, 2*len(x))
	for i, v := range x {
		s := math.Round(float64(v) * 32768)
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(math.Max(-32768, math.Min(32767, s)))))
	}
	return b
}

// fromPCM16 decodes little-endian signed 16-bit samples as s/32768; an odd last byte is an error.
func fromPCM16(name string, b []byte) ([]float32, error) {
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("speech: %s: %d bytes is not a whole number of 16-bit samples", name, len(b))
	}
	x := make([]float32, len(b)/2)
	for i := range x {
		x[i] = float32(int16(binary.LittleEndian.Uint16(b[2*i:]))) / 32768
	}
	return x, nil
}
