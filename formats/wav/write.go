package wav

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/qzoo/qzoo/internal/atomicfile"
)

// Write writes a to path as a 16-bit PCM WAV file (see [Encode]), atomically: a reader sees the
// old file or the whole new one.
func Write(path string, a *Audio) error {
	b, err := Encode(a)
	if err != nil {
		return fmt.Errorf("wav: %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("wav: %w", err)
	}
	return nil
}

// Encode returns a as a 16-bit PCM WAV file: a 44-byte header (RIFF, a 16-byte fmt chunk of
// format tag 1, data) and the interleaved samples. A sample x is written as round(32768·x),
// rounding half away from zero, clipped to [-32768, 32767]: so +1 becomes 32767/32768, and a
// file read by [Parse] (which divides by 32768) is written back bit for bit. NaN is an error
// naming the channel and frame; a.Format is ignored.
func Encode(a *Audio) ([]byte, error) {
	channels, frames := a.Channels(), a.Frames()
	switch {
	case channels == 0 || channels > MaxChannels:
		return nil, fmt.Errorf("channels %d out of range [1, %d]", channels, MaxChannels)
	case a.SampleRate <= 0 || a.SampleRate > MaxSampleRate:
		return nil, fmt.Errorf("sample rate %d out of range [1, %d]", a.SampleRate, MaxSampleRate)
	}
	for c, ch := range a.Samples {
		if len(ch) != frames {
			return nil, fmt.Errorf("channel %d holds %d samples, channel 0 %d", c, len(ch), frames)
		}
	}
	dataBytes := int64(frames) * int64(channels) * 2
	if dataBytes > math.MaxUint32-36 {
		return nil, fmt.Errorf("%d bytes of samples do not fit a RIFF file (4 GiB)", dataBytes)
	}
	b := make([]byte, 44+dataBytes)
	le := binary.LittleEndian
	copy(b, "RIFF")
	le.PutUint32(b[4:], uint32(36+dataBytes))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], tagPCM)
	le.PutUint16(b[22:], uint16(channels))
	le.PutUint32(b[24:], uint32(a.SampleRate))
	le.PutUint32(b[28:], uint32(a.SampleRate*channels*2))
	le.PutUint16(b[32:], uint16(channels*2))
	le.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(dataBytes))
	p := b[44:]
	for i := 0; i < frames; i++ {
		for c, ch := range a.Samples {
			x := float64(ch[i])
			if math.IsNaN(x) {
				return nil, fmt.Errorf("sample NaN at frame %d of channel %d", i, c)
			}
			v := math.Max(-32768, math.Min(32767, math.Round(x*32768)))
			le.PutUint16(p, uint16(int16(v)))
			p = p[2:]
		}
	}
	return b, nil
}
