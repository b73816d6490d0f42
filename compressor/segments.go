package compressor

// Segments: a signal is coded in stretches along its first axis (gridded fields: hours), each
// with its own payload, mask and residuals (.qzc version 6), so that memory holds one stretch
// whatever the signal's length. The checks of the stretches are merged into the signal's.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/media"
)

// SegmentValues is the most values (channels × segment length × the other dimensions) a
// segment holds when [Options.SegmentLength] is 0: 2^24, 64 MiB of float32 — 16 hours of one
// 0.25° global field (721×1440); the whole UK month of 2 m temperature (1.2 M values) or a
// wam2layers day of 69 channels (3.2 M) fit in one. Compressing costs about 40 bytes per value
// of a segment (the field, its decoded copy for the check, the model's symbols and tiles:
// 2.8 GiB measured for 2^26), so this keeps a compression near 700 MiB however long the
// signal. A signal within it is coded in one segment, as before segments existed (.qzc
// versions 2–5, byte for byte).
const SegmentValues = 1 << 24

// Aligner is implemented by a compressor that codes its signal in blocks along the first axis
// (vaeformer: windows of hours): segments are cut at multiples of Alignment, so that no block
// straddles two and a segmented signal is coded in the same blocks as a whole one.
type Aligner interface {
	Alignment() int
}

// openSignal opens the signal of paths through fe: with a front end that streams, its shape,
// description and a reader of stretches; otherwise the whole signal, read once and served
// from memory.
func openSignal(fe media.Frontend, paths, selection, want []string) (media.Signal, json.RawMessage, media.RangeReader, error) {
	if st, ok := fe.(media.Streamer); ok {
		return st.Open(paths, selection, want)
	}
	s, source, err := fe.Read(paths, selection, want)
	if err != nil {
		return media.Signal{}, nil, nil, err
	}
	whole := s
	whole.Data = nil
	return whole, source, media.WholeReader{S: s}, nil
}

// segmentLength returns the length of the segments of s (its Data not looked at) along its
// first axis: requested (which must be a multiple of c's alignment), or, for 0, the whole
// signal when it holds at most SegmentValues values, else the most whole alignments within
// SegmentValues (at least one). A signal whose front end does not stream (streams false: it
// could not write the segments back one by one) is coded whole; asking for segments is then
// an error.
func segmentLength(c Compressor, s media.Signal, requested int, streams bool) (int, error) {
	if len(s.Shape) == 0 || s.Shape[0] < 1 {
		return 0, fmt.Errorf("compressor: a signal of shape %v has nothing to code", s.Shape)
	}
	if !streams {
		if requested > 0 && requested < s.Shape[0] {
			return 0, fmt.Errorf("compressor: segment length %d: a %s signal is coded whole (its front end reads and writes it whole)", requested, s.Kind)
		}
		return s.Shape[0], nil
	}
	align := 1
	if a, ok := c.(Aligner); ok && a.Alignment() > 1 {
		align = a.Alignment()
	}
	total := s.Shape[0]
	if requested < 0 || requested%align != 0 {
		return 0, fmt.Errorf("compressor: segment length %d: want a positive multiple of the model's block of %d along the first axis (0 chooses)", requested, align)
	}
	if requested > 0 {
		return min(requested, total), nil
	}
	step := len(s.Channels) * frameOf(s.Shape)
	if len(s.Shape) == 1 {
		step = len(s.Channels)
	}
	if step <= 0 || int64(total)*int64(step) <= SegmentValues {
		return total, nil
	}
	n := SegmentValues / step / align * align
	return min(max(n, align), total), nil
}

// binPrefix is what starts a segment's residuals in a segmented file: the bin of each bounded
// channel (qzc.ErrorBound.Bin, float64 little-endian), which overrides the header's — the bins
// are chosen per segment, as widely as each segment's values allow.
func binPrefix(eb *qzc.ErrorBound) []byte {
	var out []byte
	for i, e := range eb.MaxAbs {
		if e > 0 {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(eb.Bin[i]))
		}
	}
	return out
}

// splitBins reads binPrefix from a segment's residuals b: the header's error bound with the
// segment's bins, and the residuals after them. Errors wrap qzc.ErrCorrupt.
func splitBins(h *qzc.ErrorBound, b []byte) (*qzc.ErrorBound, []byte, error) {
	eb := *h
	eb.Bin = append([]float64(nil), h.Bin...)
	for i, e := range h.MaxAbs {
		if e == 0 {
			continue
		}
		if len(b) < 8 {
			return nil, nil, fmt.Errorf("%w: the segment's residuals end before channel %d's bin", errResidualCorrupt, i)
		}
		eb.Bin[i] = math.Float64frombits(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if err := eb.Check(len(eb.MaxAbs)); err != nil {
		return nil, nil, fmt.Errorf("%w: the segment's bins: %v", errResidualCorrupt, err)
	}
	return &eb, b, nil
}

// mergeResidualReports adds a segment's residual reports to the signal's so far (same
// channels in the same order; the first segment's bin is kept).
func mergeResidualReports(sum, seg []ResidualReport) []ResidualReport {
	if sum == nil {
		return seg
	}
	for i := range sum {
		sum[i].Corrected += seg[i].Corrected
		sum[i].Values += seg[i].Values
		sum[i].Bytes += seg[i].Bytes
	}
	return sum
}

// mergeChecks merges the checks of a signal's segments (each from checkChannels, same
// channels in the same order) into the signal's: errors and statistics over every present
// value, warnings from the merged statistics. One segment's checks are returned as they are.
func mergeChecks(parts [][]ChannelCheck, units map[string]string) []ChannelCheck {
	if len(parts) == 1 {
		return parts[0]
	}
	out := make([]ChannelCheck, len(parts[0]))
	for i := range out {
		var n, sq, absSum, bias, mean float64
		c := ChannelCheck{Channel: parts[0][i].Channel, TrainMean: parts[0][i].TrainMean, TrainStd: parts[0][i].TrainStd,
			Min: math.Inf(1), Max: math.Inf(-1)}
		for _, p := range parts {
			e, k := p[i].Errors, float64(p[i].Errors.N)
			if k == 0 {
				continue
			}
			n += k
			sq += k * e.RMSE * e.RMSE
			absSum += k * e.MeanAbs
			bias += k * e.Bias
			mean += k * p[i].Mean
			c.Errors.MaxAbs = math.Max(c.Errors.MaxAbs, e.MaxAbs)
			c.Min, c.Max = math.Min(c.Min, p[i].Min), math.Max(c.Max, p[i].Max)
		}
		if n == 0 {
			c.Mean, c.Std, c.Min, c.Max = math.NaN(), math.NaN(), math.NaN(), math.NaN()
			c.Errors = parts[0][i].Errors
			out[i] = c
			continue
		}
		c.Errors.N = int(n)
		c.Errors.RMSE = math.Sqrt(sq / n)
		c.Errors.LatRMSE = c.Errors.RMSE // the checks weigh every latitude row alike
		c.Errors.MeanAbs, c.Errors.Bias, c.Mean = absSum/n, bias/n, mean/n
		var v float64 // pooled variance: Σ n_k (σ_k² + (μ_k − μ)²) / n
		for _, p := range parts {
			if k := float64(p[i].Errors.N); k > 0 {
				d := p[i].Mean - c.Mean
				v += k * (p[i].Std*p[i].Std + d*d)
			}
		}
		c.Std = math.Sqrt(v / n)
		if c.TrainStd > 0 {
			c.Warnings = outOfDistribution(c, UnitsOf(c.Channel, units))
		}
		out[i] = c
	}
	return out
}
