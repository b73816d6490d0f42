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
)

// Mask is the positions of a signal's missing values (NaN in the source: sea-surface
// temperature over land, say), coded losslessly: over the signal's values in payload order
// (channel after channel, each row-major over the header's Shape), the lengths of the
// alternating runs of present and missing values — present first, so a signal starting with
// a missing value starts with a run of 0 — each an unsigned LEB128 varint
// (encoding/binary's uvarint), the whole DEFLATE-compressed. Every run but the first is ≥ 1
// and the runs add up to exactly the signal's values. A land mask the same every hour
// repeats its runs hour after hour, which DEFLATE codes in a few bytes an hour.
//
// The codec codes a signal's present values with its model and its mask here, and restores
// the missing values as NaN on decoding (which a media front end writes as its fill value).
// A Mask of no bytes means no value is missing.
type Mask []byte

// NewMask codes the NaN positions of channels (each the values of one channel, in payload
// order); nil when none is NaN.
func NewMask(channels [][]float32) Mask {
	var runs []byte
	missing, run, found := false, uint64(0), false
	for _, ch := range channels {
		for _, v := range ch {
			if nan := v != v; nan != missing {
				runs = binary.AppendUvarint(runs, run)
				missing, run, found = nan, 0, true
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

// errMask is wrapped by the errors of a mask's bytes.
var errMask = errors.New("missing-value mask")

// runs decodes m as the mask of a signal of values values, calling missing(start, n) for
// each run of n missing values from start, in order. It allocates nothing from the mask's
// contents and stops at the first inconsistency: a run that is 0 (but the first) or that
// passes values, runs that end short of it, bytes after the last run, a damaged stream.
// It returns the number of missing values.
func (m Mask) runs(values int, missing func(start, n int)) (int, error) {
	src := bytes.NewReader(m) // an io.ByteReader: flate reads no byte past its stream's end
	r := bufio.NewReader(flate.NewReader(src))
	pos, count, isMissing := 0, 0, false
	for first := true; pos < values || first; first, isMissing = false, !isMissing {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return 0, fmt.Errorf("%w: run at value %d: %v", errMask, pos, err)
		}
		if (n == 0 && !first) || n > uint64(values-pos) {
			return 0, fmt.Errorf("%w: run of %d values at value %d of %d", errMask, n, pos, values)
		}
		if isMissing {
			if missing != nil {
				missing(pos, int(n))
			}
			count += int(n)
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
	return m.runs(values, nil)
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
	_, err := m.runs(total, func(start, n int) {
		for n > 0 {
			for start >= base+len(channels[c]) {
				base += len(channels[c])
				c++
			}
			ch := channels[c][start-base:]
			k := min(n, len(ch))
			for i := range k {
				ch[i] = nan
			}
			start, n = start+k, n-k
		}
	})
	return err
}
