package entropy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// MaxEscapeBits bounds an escaped value's distance d to its table's range: d < 2^40.
const MaxEscapeBits = 40

// ransLow is L, the bottom of the normalised state interval [L, 256·L) = [2^23, 2^31).
const ransLow = 1 << 23

// stateLen is the size in bytes of the flushed final state at the start of a stream.
const stateLen = 4

// ErrCorrupt is wrapped by every [Decode] error caused by the input bytes.
var ErrCorrupt = errors.New("entropy: corrupt stream")

// step is one rANS coding step: a slot range [start, start+freq) out of 2^bits.
type step struct {
	start, freq uint32
	bits        uint
}

// Encode codes symbols[i] under tables[i] (shapes [n] and [n]; one table may appear at
// many positions) and returns the stream described in the package doc: 4 bytes of state,
// then about Σ log₂(2^P/f) bits of payload rounded up to bytes. A symbol outside its
// table's lo..hi is escaped; Encode fails only on mismatched lengths, a nil table, or an
// escape distance of 2^[MaxEscapeBits] or more.
//
// rANS is last-in first-out, so the steps are coded in reverse of decoding order; the coder
// state x ∈ [2^23, 2^31) absorbs a step (start, f, P) as x ← ⌊x/f⌋·2^P + (x mod f) + start,
// first shifting out low bytes while x ≥ f·2^(31−P).
func Encode(symbols []int, tables []*Table) ([]byte, error) {
	if len(symbols) != len(tables) {
		return nil, fmt.Errorf("entropy: Encode: %d symbols but %d tables", len(symbols), len(tables))
	}
	// Symbols are taken last to first, each one's steps (one, or an escape's up to
	// MaxEscapeBits+6) coded in reverse, so no list of all the steps is held.
	var buf [MaxEscapeBits + 8]step
	out := make([]byte, 0, len(symbols)/4+stateLen)
	x := uint32(ransLow)
	for i := len(symbols) - 1; i >= 0; i-- {
		t := tables[i]
		if t == nil {
			return nil, fmt.Errorf("entropy: Encode: nil table at index %d", i)
		}
		v := symbols[i]
		var steps []step
		if v >= t.lo && v <= t.Hi() { // the common case, without the escape's machinery
			j := v - t.lo
			buf[0] = step{t.cum[j], t.freq[j], t.precision}
			steps = buf[:1]
		} else {
			var err error
			if steps, err = t.appendSteps(buf[:0], v); err != nil {
				return nil, fmt.Errorf("entropy: Encode: symbol %d at index %d: %w", v, i, err)
			}
		}
		for k := len(steps) - 1; k >= 0; k-- {
			s := steps[k]
			xMax := uint64(ransLow>>s.bits) << 8 * uint64(s.freq)
			for uint64(x) >= xMax {
				out = append(out, byte(x))
				x >>= 8
			}
			x = (x/s.freq)<<s.bits + x%s.freq + s.start
		}
	}
	out = binary.BigEndian.AppendUint32(out, x) // reversed below into little-endian
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// appendSteps appends the steps that code v under t: its slot, or the escape slot, a
// side bit and Elias gamma of the distance.
func (t *Table) appendSteps(steps []step, v int) ([]step, error) {
	n := len(t.freq) - 1
	if v >= t.lo && v <= t.Hi() {
		i := v - t.lo
		return append(steps, step{t.cum[i], t.freq[i], t.precision}), nil
	}
	steps = append(steps, step{t.cum[n], t.freq[n], t.precision})
	var side uint32
	var d uint64
	if v < t.lo {
		d = uint64(t.lo) - uint64(v)
	} else {
		side, d = 1, uint64(v)-uint64(t.Hi())
	}
	width := bits.Len64(d) - 1 // d ∈ [2^width, 2^(width+1))
	if width >= MaxEscapeBits {
		return nil, fmt.Errorf("escape distance %d from %d..%d needs ≥ 2^%d", d, t.lo, t.Hi(), MaxEscapeBits)
	}
	steps = append(steps, bypass(side, 1))
	for range width {
		steps = append(steps, bypass(0, 1))
	}
	steps = append(steps, bypass(1, 1))
	for w := width; w > 0; { // low width bits of d, most significant chunk first
		c := min(w, 16)
		w -= c
		steps = append(steps, bypass(uint32(d>>w)&(1<<c-1), uint(c)))
	}
	return steps, nil
}

// bypass is the step coding value uniformly in nbits bits.
func bypass(value uint32, nbits uint) step { return step{value, 1, nbits} }

// Decode is the inverse of [Encode]: it decodes len(tables) symbols from data, coded
// under tables[i] in turn. Corrupt input gives an error wrapping [ErrCorrupt] (possibly
// only at the end, from the final-state check), never a panic; the work is bounded by
// len(tables) symbols of at most MaxEscapeBits+6 steps each and by len(data).
func Decode(data []byte, tables []*Table) ([]int, error) {
	d, err := NewDecoder(data)
	if err != nil {
		return nil, err
	}
	symbols := make([]int, len(tables))
	if err := d.Decode(tables, symbols); err != nil {
		return nil, err
	}
	if err := d.Close(); err != nil {
		return nil, err
	}
	return symbols, nil
}

// Decoder decodes a stream written by [Encode] piece by piece: each [Decoder.Decode] call
// decodes the next symbols under the tables it is given, so a caller may choose the tables
// of later symbols after decoding earlier ones (or while other work goes on). Decoding the
// same tables in any number of calls gives [Decode]'s symbols and errors.
type Decoder struct {
	d     decoder
	count int // symbols decoded so far
}

// NewDecoder starts decoding data; it fails (wrapping [ErrCorrupt]) on a stream shorter than
// its state or whose state is out of range.
func NewDecoder(data []byte) (*Decoder, error) {
	if len(data) < stateLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte state", ErrCorrupt, len(data), stateLen)
	}
	d := &Decoder{d: decoder{data: data, x: binary.LittleEndian.Uint32(data), pos: stateLen}}
	if d.d.x < ransLow || d.d.x >= ransLow<<8 {
		return nil, fmt.Errorf("%w: initial state %#x outside [2^23, 2^31)", ErrCorrupt, d.d.x)
	}
	return d, nil
}

// Decode decodes the next len(tables) symbols, coded under tables[i] in turn, into symbols
// [len(tables)]. Errors caused by the stream wrap [ErrCorrupt] and name the symbol's index
// in the whole stream; after one, the Decoder is not to be used again.
func (d *Decoder) Decode(tables []*Table, symbols []int) error {
	if len(symbols) != len(tables) {
		return fmt.Errorf("entropy: Decoder.Decode: %d tables but room for %d symbols", len(tables), len(symbols))
	}
	for i, t := range tables {
		if t == nil {
			return fmt.Errorf("entropy: Decode: nil table at index %d", d.count+i)
		}
	}
	for i, t := range tables {
		v, err := d.d.symbol(t)
		if err != nil {
			return fmt.Errorf("%w: symbol %d: %v", ErrCorrupt, d.count+i, err)
		}
		symbols[i] = v
	}
	d.count += len(tables)
	return nil
}

// Close checks that the stream ended where the last symbol did, in the encoder's initial
// state; it fails (wrapping [ErrCorrupt]) on trailing bytes or another final state.
func (d *Decoder) Close() error {
	if d.d.pos != len(d.d.data) {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.d.data)-d.d.pos)
	}
	if d.d.x != ransLow {
		return fmt.Errorf("%w: final state %#x, want %#x", ErrCorrupt, d.d.x, ransLow)
	}
	return nil
}

type decoder struct {
	data []byte
	pos  int
	x    uint32 // in [2^23, 2^31) between steps
}

// slot returns the state's low nbits bits, the slot the next step occupies.
func (d *decoder) slot(nbits uint) uint32 { return d.x & (1<<nbits - 1) }

// advance removes the step (start, freq, nbits) from the state and renormalises.
func (d *decoder) advance(start, freq uint32, nbits uint) error {
	d.x = freq*(d.x>>nbits) + d.slot(nbits) - start
	for d.x < ransLow { // at most 2 bytes: x ≥ 2^(23−P) ≥ 2^7 after the update
		if d.pos >= len(d.data) {
			return errors.New("stream truncated")
		}
		d.x = d.x<<8 | uint32(d.data[d.pos])
		d.pos++
	}
	return nil
}

// bits decodes a bypass value of nbits (≤ 16) bits.
func (d *decoder) bits(nbits uint) (uint32, error) {
	v := d.slot(nbits)
	return v, d.advance(v, 1, nbits)
}

func (d *decoder) symbol(t *Table) (int, error) {
	s := d.slot(t.precision)
	// The symbol i with cum[i] ≤ s < cum[i+1]; cum ends at 2^P > s, so i ≤ n.
	i, j := 0, len(t.cum)-1 // invariant cum[i] ≤ s < cum[j]
	for j-i > 1 {
		if m := int(uint(i+j) >> 1); t.cum[m] <= s {
			i = m
		} else {
			j = m
		}
	}
	if err := d.advance(t.cum[i], t.freq[i], t.precision); err != nil {
		return 0, err
	}
	if i < len(t.freq)-1 {
		return t.lo + i, nil
	}
	side, err := d.bits(1)
	if err != nil {
		return 0, err
	}
	width := 0
	for {
		b, err := d.bits(1)
		if err != nil {
			return 0, err
		}
		if b == 1 {
			break
		}
		if width++; width >= MaxEscapeBits {
			return 0, fmt.Errorf("escape longer than %d bits", MaxEscapeBits)
		}
	}
	dist := uint64(1)
	for w := width; w > 0; {
		c := min(w, 16)
		w -= c
		b, err := d.bits(uint(c))
		if err != nil {
			return 0, err
		}
		dist = dist<<c | uint64(b)
	}
	if side == 0 {
		return t.lo - int(dist), nil
	}
	return t.Hi() + int(dist), nil
}
