package speech

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/wav"
)

// OpusRate is the sample rate (Hz) of the WAV files given to opusenc and asked of opusdec:
// wideband, the rate the tokenizer works at. (Opus codes at 48 kHz inside; libopus 1.3.1
// keeps 4 kHz of audio bandwidth at 6 and 8 kbit/s and 8 kHz at 12 kbit/s.)
const OpusRate = 16000

// OpusBitRates are the target bit rates (kbit/s) [Peers] runs.
var OpusBitRates = []float64{6, 8, 12}

// OpusFrameMilliseconds is the frame duration given to opusenc (--framesize): 20 ms, Opus's
// default and what it is tuned for on speech.
const OpusFrameMilliseconds = 20

// Opus is the Opus peer at one target bit rate, variable bit rate, 20 ms frames.
type Opus struct{ KbitPerSecond float64 }

// Name is "opus-" and the target rate, e.g. "opus-6k".
func (o Opus) Name() string { return "opus-" + strconv.FormatFloat(o.KbitPerSecond, 'g', -1, 64) + "k" }

// Code writes x (mono, rate Hz), resampled to 16 kHz, as a 16-bit WAV file, encodes it with
// opusenc (--bitrate, --framesize 20, --serial 1 so that equal inputs give equal files),
// decodes it with opusdec at 16 kHz in float without dither, and resamples back to rate Hz.
// FileBits is the .opus file's size; PayloadBits the Opus audio packets' ([OggPackets]).
// Errors: a bit rate outside opusenc's 6–256 kbit/s, a missing tool (apt-get install
// opus-tools), a tool's failure, a malformed Ogg file, or a decoded length that differs from
// the input's.
func (o Opus) Code(x []float32, rate int) (Coded, error) {
	if !(o.KbitPerSecond >= 6 && o.KbitPerSecond <= 256) {
		return Coded{}, fmt.Errorf("speech: Opus bit rate %g kbit/s outside opusenc's [6, 256]", o.KbitPerSecond)
	}
	enc, err := lookTool("opusenc", "opus-tools")
	if err != nil {
		return Coded{}, err
	}
	dec, err := lookTool("opusdec", "opus-tools")
	if err != nil {
		return Coded{}, err
	}
	x16, err := dsp.Resample(x, rate, OpusRate)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", o.Name(), err)
	}
	dir, err := os.MkdirTemp("", "qzoo-opus-")
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", o.Name(), err)
	}
	defer os.RemoveAll(dir)
	in, coded, out := filepath.Join(dir, "in.wav"), filepath.Join(dir, "coded.opus"), filepath.Join(dir, "out.wav")
	if err := wav.Write(in, &wav.Audio{SampleRate: OpusRate, Samples: [][]float32{x16}}); err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", o.Name(), err)
	}
	_, encSec, err := runTool(enc, "--quiet", "--serial", "1",
		"--bitrate", strconv.FormatFloat(o.KbitPerSecond, 'g', -1, 64),
		"--framesize", strconv.Itoa(OpusFrameMilliseconds), in, coded)
	if err != nil {
		return Coded{}, err
	}
	_, decSec, err := runTool(dec, "--quiet", "--rate", strconv.Itoa(OpusRate), "--float", "--no-dither", coded, out)
	if err != nil {
		return Coded{}, err
	}
	file, err := os.ReadFile(coded)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", o.Name(), err)
	}
	payload, err := OpusPayloadBytes(file)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: opusenc's output: %w", o.Name(), err)
	}
	decoded, err := wav.Read(out)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: opusdec's output: %w", o.Name(), err)
	}
	y16 := decoded.Mono()
	if decoded.SampleRate != OpusRate || len(y16) != len(x16) {
		return Coded{}, fmt.Errorf("speech: %s: opusdec gave %d samples at %d Hz for %d at %d Hz", o.Name(), len(y16), decoded.SampleRate, len(x16), OpusRate)
	}
	y, err := dsp.Resample(y16, OpusRate, rate)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", o.Name(), err)
	}
	return Coded{
		Audio: fitLength(y, len(x)), FileBits: 8 * int64(len(file)), PayloadBits: 8 * payload,
		Seconds:       float64(len(x)) / float64(rate),
		EncodeSeconds: encSec, DecodeSeconds: decSec,
	}, nil
}
