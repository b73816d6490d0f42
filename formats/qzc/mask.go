package qzc

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Mask is the positions of a signal's missing values (NaN in the source: sea-surface
// temperature over land, say), coded losslessly. Over the signal's values in payload order
// (channel after channel, each row-major over the header's Shape), m[i] is 1 where value i
// is missing; with a frame F ≥ 1 (a gridded field's H·W: one hour) the mask codes
// d[i] = m[i] XOR m[i−F] (d[i] = m[i] for i < F), so that a mask the same every hour — land
// — costs its first hour and one run; with F = 0, d = m. The bytes are, DEFLATE-compressed,
// F then the lengths of the alternating runs of d's 0s and 1s — 0s first, so a d starting
// with 1 starts with a run of 0 — each an unsigned LEB128 varint (encoding/binary's
// uvarint). Every run but the first is ≥ 1, the runs add up to exactly the signal's values,
// and F is at most the values and [MaxMaskFrame].
//
// The codec codes a signal's present values with its model and its mask here, and restores
// the missing values as NaN on decoding (which a media front end writes as its fill value).
// A Mask of no bytes means no value is missing.
type Mask []byte

// MaxMaskFrame bounds a mask's frame (values per frame: 16.8 million, a 0.05° global grid),
// and so the memory its decoding takes (a bit per value of a frame).
const MaxMaskFrame = 1 << 24

// NewMask codes the NaN positions of channels (each the values of one channel, in payload
// order) predicted frame values back (see [Mask]) and not predicted (frame 0), and returns
// the shorter; nil when none is NaN. A frame beyond MaxMaskFrame or the values is not used.
// (Prediction halves nothing for scattered points, which it codes twice: at their value and
// a frame later.)
func NewMask(channels [][]float32, frame int) Mask {
	if !slices.ContainsFunc(channels, func(ch []float32) bool { return slices.ContainsFunc(ch, func(v float32) bool { return v != v }) }) {
		return nil
	}
	m := newMask(channels, 0)
	if frame > 0 && m != nil {
		if p := newMask(channels, frame); len(p) < len(m) {
			return p
		}
	}
	return m
}

// newMask codes the NaN positions of channels predicted frame values back.
func newMask(channels [][]float32, frame int) Mask {
	total := 0
	for _, ch := range channels {
		total += len(ch)
	}
	if frame < 0 || frame > MaxMaskFrame || frame > total {
		frame = 0
	}
	runs := binary.AppendUvarint(nil, uint64(frame))
	prev := newRing(frame)
	bit, run, found := false, uint64(0), false
	for _, ch := range channels {
		for _, v := range ch {
			nan := v != v
			found = found || nan
			d := prev.back() != nan
			prev.push(nan)
			if d != bit {
				runs = binary.AppendUvarint(runs, run)
				bit, run = d, 0
			}
			run++
		}
	}
	if !found {
		return nil
	}
	runs = binary.AppendUvarint(runs, run)
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(runs)
	w.Close()
	return z.Bytes()
}

// ring holds the mask's last frame bits (none for frame 0).
type ring struct {
	bits []uint64
	n, i int
}

func newRing(frame int) *ring { return &ring{bits: make([]uint64, (frame+63)/64), n: frame} }

// back returns the mask's bit a frame back (false for frame 0 and within the first frame).
func (r *ring) back() bool {
	return r.n != 0 && r.bits[r.i/64]>>uint(r.i%64)&1 == 1
}

// push records the mask's next bit b, in place of the one a frame back.
func (r *ring) push(b bool) {
	if r.n == 0 {
		return
	}
	w, s := r.i/64, uint(r.i%64)
	r.bits[w] &^= 1 << s
	if b {
		r.bits[w] |= 1 << s
	}
	if r.i++; r.i == r.n {
		r.i = 0
	}
}

// errMask is wrapped by the errors of a mask's bytes.
var errMask = errors.New("missing-value mask")

// decode decodes m as the mask of a signal of values values, calling missing(i) for each
// missing value i, in order (when missing is not nil). It allocates a bit per value of m's
// frame (checked against values and MaxMaskFrame first) and nothing else from m's contents,
// and stops at the first inconsistency: a frame too large, a run that is 0 (but the first)
// or that passes values, runs that end short of it, bytes after the last run, a damaged
// stream. It returns the number of missing values.
func (m Mask) decode(values int, missing func(i int)) (int, error) {
	src := bytes.NewReader(m) // an io.ByteReader: flate reads no byte past its stream's end
	r := bufio.NewReader(flate.NewReader(src))
	frame, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, fmt.Errorf("%w: frame: %v", errMask, err)
	}
	if frame > MaxMaskFrame || frame > uint64(values) {
		return 0, fmt.Errorf("%w: frame of %d values, at most %d and the signal's %d", errMask, frame, MaxMaskFrame, values)
	}
	prev := newRing(int(frame))
	pos, count, d := 0, 0, false
	for first := true; pos < values || first; first, d = false, !d {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return 0, fmt.Errorf("%w: run at value %d: %v", errMask, pos, err)
		}
		if (n == 0 && !first) || n > uint64(values-pos) {
			return 0, fmt.Errorf("%w: run of %d values at value %d of %d", errMask, n, pos, values)
		}
		if frame == 0 && d { // the run itself is missing
			if missing != nil {
				for i := range int(n) {
					missing(pos + i)
				}
			}
			count += int(n)
		} else if frame != 0 {
			for i := range int(n) {
				b := d != prev.back() // m[i] = d[i] XOR m[i−F]
				prev.push(b)
				if b {
					if missing != nil {
						missing(pos + i)
					}
					count++
				}
			}
		}
		pos += int(n)
	}
	if _, err := r.ReadByte(); err != io.EOF || src.Len() != 0 {
		return 0, fmt.Errorf("%w: bytes after the last run (%v; %d after the stream)", errMask, err, src.Len())
	}
	return count, nil
}

// Missing checks m as the mask of a signal of values values (see [Mask]) and returns the
// number of missing values it marks; 0 for an empty mask.
func (m Mask) Missing(values int) (int, error) {
	if len(m) == 0 {
		return 0, nil
	}
	return m.decode(values, nil)
}

// Apply sets the values m marks missing in channels (each the values of one channel, in
// payload order) to NaN. It fails, changing nothing, when m is not the mask of that many
// values.
func (m Mask) Apply(channels [][]float32) error {
	if len(m) == 0 {
		return nil
	}
	total := 0
	for _, ch := range channels {
		total += len(ch)
	}
	if _, err := m.Missing(total); err != nil {
		return err
	}
	nan := float32(math.NaN())
	c, base := 0, 0 // channels[c] holds the values from base
	_, err := m.decode(total, func(i int) {
		for i >= base+len(channels[c]) {
			base += len(channels[c])
			c++
		}
		channels[c][i-base] = nan
	})
	return err
}
