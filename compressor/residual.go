package compressor

// The error-bounded mode (`codec compress --max_abs_error E`): a residual layer on top of the
// learned codec, so that every value written back lies within E of the source's. This goes
// beyond CRA5 (Han et al. 2024), which bounds no point's error; it follows the
// error-bounded lossy compressors of the SZ family (Di & Cappello 2016; Liang et al. 2018),
// whose guarantee comes from quantising the residual of a prediction with bins of width 2E,
// with the learned codec's reconstruction as the prediction.
//
// Per bounded channel, x the source's value and v the model's decoded one:
//
//   - on a lattice (media.Lattice with Step s ≠ 0: CF int16 packing, the lattice the output
//     file stores), the residual is taken between lattice indices, d = k(x) − k(v), and
//     quantised with bins of B = 2m+1 steps, m = ⌊E/|s|⌋: q = ⌊(d+m)/B⌋, so the written index
//     k(v) + qB is within m steps of x's — the packing step of the output file is part of the
//     bound, not added to it;
//   - on float32 (Step 0), the residual x − v is quantised with bins of δ = 2(E − u), u half a
//     float32 ulp at the channel's largest magnitude: v + qδ lies within E − u of x and its
//     float32 rounding within E.
//
// Every value is then checked as it will be written (media.Lattice.Written); where the float
// arithmetic of a lattice defeats a bin (a bound that is an exact multiple of the step), m
// shrinks by one and the channel is coded again, and a bound no bin meets is refused, naming
// the channel and the value.
//
// The quantised residuals q are entropy-coded with rANS (package entropy) under one of 27
// static tables chosen by a context: the signs (−, 0, +) of the residuals already coded west
// and north in the same frame and at the same point a frame (an hour) back. The model's errors
// are smooth in space and time and cluster where it fails (fronts, coasts), so the context
// predicts both the sign and the zeros; on the UK test week it saves a fifth of the bits of
// contexts by magnitude alone (min(2, |q_west| + |q_north|); the whole file at E = 0.5 K: 38.9 → 30.6 kB),
// where LOCO-I's median predictor did worse (34.3 kB) and 125 contexts by clipped value no
// better. The tables' counts are stored; symbols beyond ±residualRange go through the coder's
// escape.
//
// # Layout
//
// The residual bytes (qzc.Header.Residuals) hold, for each channel with a bound > 0 in
// channel order, its symbols over the present values (missing ones, NaN after the mask, are
// skipped) in payload order:
//
//	uvarint n            number of table symbols; 0: every q is 0, nothing follows
//	varint  lo           first table symbol (zig-zag)
//	27·n uvarint         counts per context, context 0's first
//	uvarint f            frames per stream (a frame: the last two dimensions of the shape)
//	per stream: uvarint length, then that many bytes of rANS stream (entropy.Encode)
//
// Every count, length and symbol is checked against what is present before it is used.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/qzoo/qzoo/entropy"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/media"
)

// Coding constants of the residuals (see the layout above).
const (
	// residualRange bounds the table's symbols to −residualRange..residualRange; larger q
	// escape.
	residualRange = 64
	// residualContexts is the number of context tables.
	residualContexts = 27
	// residualPrecision is the tables' precision in bits.
	residualPrecision = 15
	// residualStreamValues is the fewest symbols a stream holds (whole frames; the last
	// stream may hold fewer): streams bound the coder's memory and cost 4 bytes each.
	residualStreamValues = 1 << 18
	// maxResidual bounds |q|: a larger one means a model whose output is far off the data.
	maxResidual = 1 << 30
)

// errResidualCorrupt is wrapped by every error caused by the residual bytes.
var errResidualCorrupt = fmt.Errorf("%w: residuals", qzc.ErrCorrupt)

// boundChannel is one channel's residual quantiser.
type boundChannel struct {
	lattice media.Lattice
	bin     float64 // B (lattice steps, odd) or δ (units)
}

// correct returns the value written for v corrected by q, and whether it is finite and (on a
// lattice) one the writer packs to the same index.
func (b boundChannel) correct(v float32, q int) (float32, bool) {
	l := b.lattice
	if l.Step == 0 {
		y := float32(float64(v) + float64(float64(q)*b.bin)) // the product rounded first: no FMA fusion
		return y, !math.IsInf(float64(y), 0)
	}
	// Clamped as the writer clamps: x's index lies within Lo..Hi, so clamping only brings
	// the corrected index nearer it.
	k := min(l.Hi, max(l.Lo, b.index(v)+float64(q)*b.bin))
	w := float32(k*l.Step + l.Offset)
	back, kk := l.Written(w)
	return w, kk == k && back == w
}

// index is the lattice index the writer gives the decoded value v: the nearest, clamped to
// Lo..Hi.
func (b boundChannel) index(v float32) float64 {
	_, k := b.lattice.Written(v)
	return min(b.lattice.Hi, max(b.lattice.Lo, k))
}

// quantise returns q for source value x and decoded value v.
func (b boundChannel) quantise(x, v float32) float64 {
	l := b.lattice
	if l.Step == 0 {
		return math.Round((float64(x) - float64(v)) / b.bin)
	}
	_, kx := l.Written(x)
	kv := b.index(v)
	m := (b.bin - 1) / 2
	return math.Floor((kx - kv + m) / b.bin)
}

// ResidualReport is what the error-bounded mode did for one bounded channel.
type ResidualReport struct {
	Channel string
	// Bound is the channel's bound E; Bin the residual bin (lattice steps or units, as
	// qzc.ErrorBound.Bin), Step the output lattice's step (0: float32).
	Bound, Bin, Step float64
	// Corrected is how many values the residuals moved (q ≠ 0), of Values present.
	Corrected, Values int
	// Bytes is the channel's share of the residual bytes.
	Bytes int
}

// encodeResiduals quantises, per channel with bounds[i] > 0, the residuals of decoded
// against in (same channels and shape; NaN where missing, in both), corrects decoded in
// place to the values as they will be written, checks every value against its bound, and
// returns the error bound for the header and the residual bytes. lattices[i] is channel i's
// output lattice.
func encodeResiduals(in, decoded media.Signal, bounds []float64, lattices []media.Lattice) (*qzc.ErrorBound, []byte, []ResidualReport, error) {
	n := len(bounds)
	eb := &qzc.ErrorBound{MaxAbs: bounds, Step: make([]float64, n), Offset: make([]float64, n), Lo: make([]float64, n), Hi: make([]float64, n), Bin: make([]float64, n)}
	var out []byte
	var reps []ResidualReport
	for i, e := range bounds {
		if e == 0 {
			continue
		}
		x, v, l := in.Data[i], decoded.Data[i], lattices[i]
		b, q, w, err := chooseBin(x, v, e, l)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("compressor: --max_abs_error: channel %s: %w", in.Channels[i], err)
		}
		eb.Step[i], eb.Offset[i], eb.Bin[i] = l.Step, l.Offset, b.bin
		if l.Step != 0 {
			eb.Lo[i], eb.Hi[i] = l.Lo, l.Hi
		}
		start := len(out)
		rows, width := frameShape(in.Shape)
		out = appendResidualChannel(out, q, x, rows, width)
		copy(v, w) // the values as written, which chooseBin checked
		moved := 0
		for _, qj := range q {
			if qj != 0 {
				moved++
			}
		}
		reps = append(reps, ResidualReport{Channel: in.Channels[i], Bound: e, Bin: b.bin, Step: l.Step, Corrected: moved,
			Values: presentCount(x), Bytes: len(out) - start})
	}
	if len(out) == 0 {
		return nil, nil, nil, errors.New("compressor: --max_abs_error bounds no channel coded")
	}
	return eb, out, reps, nil
}

// chooseBin finds the widest bin that keeps every value of x within e once v is corrected and
// written on l, and returns it with the quantised residuals q (0 at missing values) and the
// corrected values w as they will be written (v's NaN at missing values).
func chooseBin(x, v []float32, e float64, l media.Lattice) (boundChannel, []int32, []float32, error) {
	q := make([]int32, len(x))
	w := make([]float32, len(x))
	var b boundChannel
	b.lattice = l
	if l.Step == 0 {
		mag := 0.0
		for j, xj := range x {
			if xj == xj {
				mag = math.Max(mag, math.Abs(float64(xj)))
				if v[j] != v[j] {
					return b, nil, nil, fmt.Errorf("the model decoded NaN at value %d, which is not missing", j)
				}
			}
		}
		m32 := float32(mag + e)
		u := float64(math.Nextafter32(m32, float32(math.Inf(1)))-m32) / 2
		b.bin = 2 * (e - u)
		if !(b.bin > 2*u) {
			return b, nil, nil, fmt.Errorf("the bound %g is below the resolution of float32 at the channel's magnitude %g (half an ulp: %g)", e, mag, u)
		}
		bad, err := fillResiduals(q, w, x, v, e, b)
		if err != nil {
			return b, nil, nil, err
		}
		if bad >= 0 {
			return b, nil, nil, fmt.Errorf("value %d (%g) cannot be written within %g in float32", bad, x[bad], e)
		}
		return b, q, w, nil
	}
	// The widest bin, then one narrower where float rounding at the bin's edge defeats it; a
	// value that misses both is refused.
	widest := min(math.Floor(e/math.Abs(l.Step)), (1<<20-1)/2)
	for m := widest; m >= max(0, widest-1); m-- {
		b.bin = 2*m + 1
		bad, err := fillResiduals(q, w, x, v, e, b)
		if err != nil {
			return b, nil, nil, err
		}
		if bad < 0 {
			return b, q, w, nil
		}
		if m == max(0, widest-1) {
			w, _ := l.Written(x[bad])
			return b, nil, nil, fmt.Errorf("value %d (%g) cannot be written within %g on the output's packing (scale_factor %g, add_offset %g, indices %g..%g; the nearest packed value is %g)",
				bad, x[bad], e, l.Step, l.Offset, l.Lo, l.Hi, w)
		}
	}
	panic("unreachable")
}

// fillResiduals sets q and the corrected value w for every present value (w = v where x is
// missing) and returns the index of the first value whose written correction misses e (−1:
// none).
func fillResiduals(q []int32, w, x, v []float32, e float64, b boundChannel) (int, error) {
	for j, xj := range x {
		q[j], w[j] = 0, v[j]
		if xj != xj {
			continue
		}
		if v[j] != v[j] {
			return 0, fmt.Errorf("the model decoded NaN at value %d, which is not missing", j)
		}
		r := b.quantise(xj, v[j])
		if math.Abs(r) > maxResidual {
			return 0, fmt.Errorf("value %d: the decoded %g is %g bins from the source's %g", j, v[j], r, xj)
		}
		q[j] = int32(r)
		var ok bool
		w[j], ok = b.correct(v[j], int(q[j]))
		if !ok || !(math.Abs(float64(w[j])-float64(xj)) <= e) {
			return j, nil
		}
	}
	return -1, nil
}

// frameShape returns the rows and the row width of a frame of shape: its last two
// dimensions (one row for a one-dimensional signal).
func frameShape(shape []int) (rows, width int) {
	width = shape[len(shape)-1]
	rows = 1
	if len(shape) >= 2 {
		rows = shape[len(shape)-2]
	}
	return rows, width
}

func presentCount(x []float32) int {
	n := 0
	for _, v := range x {
		if v == v {
			n++
		}
	}
	return n
}

// context returns the context of value j from the signs of the residuals already coded next
// to it: west and north in its frame, and the same point a frame back (−1, 0 or +1 each; a
// missing or absent neighbour counts 0): 3·3·3 contexts.
func context(q []int32, j, rows, width int) int {
	sign := func(v int32) int { return int(min(1, max(-1, v))) + 1 }
	w, n, t := 1, 1, 1
	if j%width > 0 {
		w = sign(q[j-1])
	}
	if (j/width)%rows > 0 {
		n = sign(q[j-width])
	}
	if j >= rows*width {
		t = sign(q[j-rows*width])
	}
	return (w*3+n)*3 + t
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// appendResidualChannel appends one channel's coded residuals (see the layout): q over the
// present values of x.
func appendResidualChannel(out []byte, q []int32, x []float32, rows, width int) []byte {
	lo, hi := int32(0), int32(0)
	for _, v := range q {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo == 0 && hi == 0 {
		return binary.AppendUvarint(out, 0)
	}
	lo, hi = max(lo, -residualRange), min(hi, residualRange)
	n := int(hi - lo + 1)
	counts := make([][]float64, residualContexts)
	for c := range counts {
		counts[c] = make([]float64, n)
	}
	for j, v := range q {
		if x[j] == x[j] && v >= lo && v <= hi {
			counts[context(q, j, rows, width)][v-lo]++
		}
	}
	out = binary.AppendUvarint(out, uint64(n))
	out = binary.AppendVarint(out, int64(lo))
	for _, cs := range counts {
		for _, c := range cs {
			out = binary.AppendUvarint(out, uint64(c))
		}
	}
	tables, err := residualTables(counts, int(lo))
	if err != nil {
		panic(err) // counts made here are valid
	}
	frame := rows * width
	perStream := min(max(1, residualStreamValues/frame), max(1, len(q)/frame))
	out = binary.AppendUvarint(out, uint64(perStream))
	syms := make([]int, 0, min(len(q), perStream*frame))
	tabs := make([]*entropy.Table, 0, cap(syms))
	for start := 0; start < len(q); start += perStream * frame {
		syms, tabs = syms[:0], tabs[:0]
		for j := start; j < min(len(q), start+perStream*frame); j++ {
			if x[j] == x[j] {
				syms = append(syms, int(q[j]))
				tabs = append(tabs, tables[context(q, j, rows, width)])
			}
		}
		stream, err := entropy.Encode(syms, tabs)
		if err != nil {
			panic(err) // |q| ≤ maxResidual escapes within MaxEscapeBits
		}
		out = binary.AppendUvarint(out, uint64(len(stream)))
		out = append(out, stream...)
	}
	return out
}

// residualTables builds the context tables from their counts (each n symbols from lo); the
// decoder builds the same from the stored counts.
func residualTables(counts [][]float64, lo int) ([]*entropy.Table, error) {
	tables := make([]*entropy.Table, len(counts))
	for c, cs := range counts {
		pmf := cs
		if !hasPositive(cs) { // a context that never occurs: any table will do
			pmf = make([]float64, len(cs))
			pmf[0] = 1
		}
		t, err := entropy.NewTable(pmf, residualPrecision)
		if err != nil {
			return nil, err
		}
		if tables[c], err = t.Shift(lo); err != nil {
			return nil, err
		}
	}
	return tables, nil
}

func hasPositive(x []float64) bool {
	for _, v := range x {
		if v > 0 {
			return true
		}
	}
	return false
}

// applyResiduals decodes the residual bytes b of a signal whose decoded values are data
// (channels of shape; NaN where missing) and corrects data in place to the values to be
// written, as eb describes. Errors caused by b wrap qzc.ErrCorrupt.
func applyResiduals(data [][]float32, shape []int, eb *qzc.ErrorBound, b []byte) error {
	if len(eb.MaxAbs) != len(data) {
		return fmt.Errorf("compressor: error bound for %d channels, %d decoded", len(eb.MaxAbs), len(data))
	}
	rows, width := frameShape(shape)
	fail := func(ch int, format string, args ...any) error {
		return fmt.Errorf("%w: channel %d: %s", errResidualCorrupt, ch, fmt.Sprintf(format, args...))
	}
	for i, e := range eb.MaxAbs {
		if e == 0 {
			continue
		}
		v := data[i]
		bc := boundChannel{lattice: media.Lattice{Step: eb.Step[i], Offset: eb.Offset[i], Lo: eb.Lo[i], Hi: eb.Hi[i]}, bin: eb.Bin[i]}
		n, k := binary.Uvarint(b)
		if k <= 0 || n > 2*residualRange+1 {
			return fail(i, "table of %d symbols (at most %d)", n, 2*residualRange+1)
		}
		b = b[k:]
		q := make([]int32, len(v))
		if n > 0 {
			var err error
			if b, err = decodeResidualChannel(b, q, v, int(n), rows, width); err != nil {
				return fail(i, "%v", err)
			}
		}
		for j := range v {
			if v[j] == v[j] {
				v[j], _ = bc.correct(v[j], int(q[j]))
			}
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last channel", errResidualCorrupt, len(b))
	}
	return nil
}

// decodeResidualChannel decodes one channel's residuals after its table size n (see the
// layout) from b into q, for the present (non-NaN) values of v, and returns the bytes after
// them.
func decodeResidualChannel(b []byte, q []int32, v []float32, n, rows, width int) ([]byte, error) {
	frame := rows * width
	lo, k := binary.Varint(b)
	if k <= 0 || lo < -residualRange || lo+int64(n)-1 > residualRange {
		return nil, fmt.Errorf("table symbols %d..%d beyond ±%d", lo, lo+int64(n)-1, residualRange)
	}
	b = b[k:]
	present := uint64(presentCount(v))
	counts := make([][]float64, residualContexts)
	for c := range counts {
		counts[c] = make([]float64, n)
		for s := range counts[c] {
			cnt, k := binary.Uvarint(b)
			if k <= 0 || cnt > present {
				return nil, fmt.Errorf("a table count missing or beyond the %d values present", present)
			}
			counts[c][s] = float64(cnt)
			b = b[k:]
		}
	}
	tables, err := residualTables(counts, int(lo))
	if err != nil {
		return nil, err
	}
	perStream, k := binary.Uvarint(b)
	if k <= 0 || perStream == 0 || perStream > uint64(len(v)/frame+1) {
		return nil, fmt.Errorf("%d frames per stream, for %d frames", perStream, len(v)/frame)
	}
	b = b[k:]
	values := int(perStream) * frame
	one := make([]int, 1)
	for start := 0; start < len(v); start += values {
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, fmt.Errorf("a stream of %d bytes, %d present", size, len(b)-max(k, 0))
		}
		d, err := entropy.NewDecoder(b[k : k+int(size)])
		if err != nil {
			return nil, err
		}
		for j := start; j < min(len(v), start+values); j++ {
			if v[j] != v[j] {
				continue
			}
			if err := d.Decode(tables[context(q, j, rows, width):][:1], one); err != nil {
				return nil, err
			}
			if one[0] > maxResidual || one[0] < -maxResidual {
				return nil, fmt.Errorf("residual %d beyond ±%d", one[0], maxResidual)
			}
			q[j] = int32(one[0])
		}
		if err := d.Close(); err != nil {
			return nil, err
		}
		b = b[k+int(size):]
	}
	return b, nil
}
