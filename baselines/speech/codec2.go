package speech

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/qzoo/qzoo/dsp"
)

// Codec2Rate is the sample rate (Hz) Codec2 codes.
const Codec2Rate = 8000

// Codec2Modes are the Codec2 modes [Peers] runs, lowest bit rate first.
var Codec2Modes = []string{"700C", "1200", "1600", "2400", "3200"}

// codec2Modes holds, per mode, the samples of one frame at 8 kHz, the bits of one frame, and
// the decoder's delay in samples at 8 kHz (measured: see the package doc).
var codec2Modes = map[string]struct{ frame, bits, delay int }{
	"3200": {160, 64, 160},
	"2400": {160, 48, 160},
	"1600": {320, 64, 160},
	"1200": {320, 48, 160},
	"700C": {320, 28, 240},
}

// Codec2 is the Codec2 peer in one mode ("700C", "1200", "1600", "2400" or "3200").
type Codec2 struct{ Mode string }

// Name is "codec2-" and the mode.
func (c Codec2) Name() string { return "codec2-" + c.Mode }

// NominalBitRate is the mode's bits per frame over the frame's duration (700 for 700C), what
// a transport that packs frames bit by bit carries; c2enc's file stores each frame in whole
// bytes (see [Coded.FileBitRate]). Zero for an unknown mode.
func (c Codec2) NominalBitRate() float64 {
	m, ok := codec2Modes[c.Mode]
	if !ok {
		return 0
	}
	return float64(m.bits) * Codec2Rate / float64(m.frame)
}

// Code resamples x (mono, rate Hz) to 8 kHz, pads it with zeros to whole frames after the
// decoder's delay, encodes it with c2enc into a headerless bit file, decodes that with c2dec,
// drops the delay's samples and resamples back to rate Hz (len(x) samples). FileBits and
// PayloadBits are the bit file's size. Errors: an unknown mode, a missing tool (apt-get install
// codec2), a tool's failure, or a decoded file shorter than expected.
func (c Codec2) Code(x []float32, rate int) (Coded, error) {
	m, ok := codec2Modes[c.Mode]
	if !ok {
		return Coded{}, fmt.Errorf("speech: unknown Codec2 mode %q (have 700C, 1200, 1600, 2400, 3200)", c.Mode)
	}
	enc, err := lookTool("c2enc", "codec2")
	if err != nil {
		return Coded{}, err
	}
	dec, err := lookTool("c2dec", "codec2")
	if err != nil {
		return Coded{}, err
	}
	x8, err := dsp.Resample(x, rate, Codec2Rate)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", c.Name(), err)
	}
	frames := (len(x8) + m.delay + m.frame - 1) / m.frame
	padded := make([]float32, frames*m.frame)
	copy(padded, x8)

	dir, err := os.MkdirTemp("", "qzoo-codec2-")
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", c.Name(), err)
	}
	defer os.RemoveAll(dir)
	in, bits, out := filepath.Join(dir, "in.raw"), filepath.Join(dir, "out.bit"), filepath.Join(dir, "out.raw")
	if err := os.WriteFile(in, pcm16(padded), 0o600); err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", c.Name(), err)
	}
	_, encSec, err := runTool(enc, c.Mode, in, bits)
	if err != nil {
		return Coded{}, err
	}
	_, decSec, err := runTool(dec, c.Mode, bits, out)
	if err != nil {
		return Coded{}, err
	}
	st, err := os.Stat(bits)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", c.Name(), err)
	}
	if want := int64(frames) * int64((m.bits+7)/8); st.Size() != want {
		return Coded{}, fmt.Errorf("speech: %s: c2enc wrote %d bytes for %d frames, want %d", c.Name(), st.Size(), frames, want)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", c.Name(), err)
	}
	y8, err := fromPCM16("c2dec output", raw)
	if err != nil {
		return Coded{}, err
	}
	if len(y8) < m.delay+len(x8) {
		return Coded{}, fmt.Errorf("speech: %s: c2dec gave %d samples, want at least %d", c.Name(), len(y8), m.delay+len(x8))
	}
	y, err := dsp.Resample(y8[m.delay:m.delay+len(x8)], Codec2Rate, rate)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: %s: %w", c.Name(), err)
	}
	y = fitLength(y, len(x))
	seconds := float64(len(x)) / float64(rate)
	return Coded{
		Audio: y, FileBits: 8 * st.Size(), PayloadBits: 8 * st.Size(), Seconds: seconds,
		EncodeSeconds: encSec, DecodeSeconds: decSec,
	}, nil
}

// fitLength returns y cut or zero-padded to n samples (resampling rounds lengths up).
func fitLength(y []float32, n int) []float32 {
	if len(y) >= n {
		return y[:n]
	}
	return append(y, make([]float32, n-len(y))...)
}
