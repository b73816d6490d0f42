package qzc

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// landSea returns channels of shape [t, h, w] with NaN over a land-shaped block every hour
// (the same in every hour) and at a few scattered points, and the number of NaNs.
func landSea(channels, t, h, w int) ([][]float32, int) {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]float32, channels)
	nan := 0
	for c := range out {
		out[c] = make([]float32, t*h*w)
		for i := range out[c] {
			y, x := (i/w)%h, i%w
			land := y >= h/4 && y < h/2 && x >= w/3 && x < w/3+y-h/4+2 // a triangle
			if land || (c == 1 && rng.IntN(97) == 0) {
				out[c][i] = float32(math.NaN())
				nan++
			} else {
				out[c][i] = 280 + rng.Float32()
			}
		}
	}
	return out, nan
}

func nanPositions(channels [][]float32) [][]bool {
	out := make([][]bool, len(channels))
	for c, ch := range channels {
		out[c] = make([]bool, len(ch))
		for i, v := range ch {
			out[c][i] = math.IsNaN(float64(v))
		}
	}
	return out
}

// TestMask: a mask restores exactly the NaN positions, predicted a frame back and not, for a
// land block every hour plus scattered points, a signal starting or ending with a missing
// value, and channels of different lengths; no NaN gives no mask; a land mask the same every
// hour costs about its first hour.
func TestMask(t *testing.T) {
	ch, nan := landSea(2, 24, 33, 49)
	nan1 := [][]float32{{float32(math.NaN()), 1, 2}, {}, {3, float32(math.NaN())}}
	for name, c := range map[string]struct {
		data  [][]float32
		frame int
		nan   int
	}{"land and points": {ch, 33 * 49, nan}, "land and points, no frame": {ch, 0, nan}, "ends missing": {nan1, 2, 2},
		"ends missing, no frame": {nan1, 0, 2}, "frame of all": {nan1, 5, 2}, "all missing": {[][]float32{{float32(math.NaN())}}, 1, 1}} {
		m := newMask(c.data, c.frame) // each frame: NewMask keeps the shorter
		if best := NewMask(c.data, c.frame); len(best) > len(m) {
			t.Errorf("%s: NewMask kept %d bytes, frame %d takes %d", name, len(best), c.frame, len(m))
		}
		total := 0
		for _, x := range c.data {
			total += len(x)
		}
		if n, err := m.Missing(total); err != nil || n != c.nan {
			t.Fatalf("%s: Missing = %d, %v; want %d", name, n, err, c.nan)
		}
		filled := make([][]float32, len(c.data))
		for i, x := range c.data {
			filled[i] = make([]float32, len(x))
		}
		if err := m.Apply(filled); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(nanPositions(filled), nanPositions(c.data)) {
			t.Errorf("%s: Apply marks other positions", name)
		}
		if _, err := m.Missing(total + 1); err == nil {
			t.Errorf("%s: the mask of %d values checked as one of %d", name, total, total+1)
		}
		if err := m.Apply([][]float32{make([]float32, total-1)}); err == nil {
			t.Errorf("%s: applied to %d values", name, total-1)
		}
	}
	// A land mask the same every hour costs its first hour and a few bytes, predicted a
	// frame (an hour) back; without, DEFLATE's 32 KiB window misses the repetition of a large
	// grid's hours. The land: a 721×1440 global grid's wavy continents, 24 hours.
	const h, w = 721, 1440
	day := globalDay()
	m1, m24, m24f := NewMask([][]float32{day[:h*w]}, h*w), NewMask([][]float32{day}, h*w), NewMask([][]float32{day}, 0)
	if len(m24) > len(m1)+16 || len(m24f) < 10*len(m1) {
		t.Errorf("the mask of 24 global hours takes %d bytes (%d without prediction), of one hour %d", len(m24), len(m24f), len(m1))
	}
	t.Logf("mask of a 721×1440 land mask: one hour %d bytes, 24 hours %d bytes (%d without prediction); 24 hours of 33×49 with 1/97 scattered points on a second channel: %d bytes",
		len(m1), len(m24), len(m24f), len(NewMask(ch, 33*49)))
	if m := NewMask([][]float32{{1, 2}, {3}}, 1); m != nil {
		t.Errorf("no NaN: mask %v", m)
	}
}

// deflated returns a frame and runs as a mask's bytes.
func deflated(runs ...uint64) Mask {
	var b []byte
	for _, r := range runs {
		b = binary.AppendUvarint(b, r)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(b)
	w.Close()
	return z.Bytes()
}

// TestMaskRejects: malformed masks are refused by Missing and Apply, which change nothing.
func TestMaskRejects(t *testing.T) {
	if n, err := deflated(0, 0, 3, 2).Missing(5); err != nil || n != 3 {
		t.Fatalf("a good mask: %d, %v", n, err)
	}
	for name, m := range map[string]Mask{
		"short":          deflated(0, 2, 2),
		"long":           deflated(0, 2, 4),
		"zero run":       deflated(0, 2, 0, 3),
		"trailing":       append(deflated(0, 2, 3), 0),
		"after end":      deflated(0, 2, 3, 1),
		"not deflate":    Mask{0xff, 0xff, 0xff},
		"huge varint":    deflated(0, 1<<62),
		"no frame":       deflated(),
		"no run":         deflated(1),
		"present only":   deflated(0, 5, 0),
		"frame > values": deflated(6, 5),
		"huge frame":     deflated(MaxMaskFrame+1, 5),
	} {
		if _, err := m.Missing(5); !errors.Is(err, errMask) {
			t.Errorf("%s: Missing: %v", name, err)
		}
		data := [][]float32{{1, 2, 3, 4, 5}}
		if err := m.Apply(data); err == nil || !reflect.DeepEqual(data, [][]float32{{1, 2, 3, 4, 5}}) {
			t.Errorf("%s: Apply: %v, data %v", name, err, data)
		}
	}
}

// TestMaskVersion4: a header with a mask is written as version 4 and survives the round trip
// with its mask; every truncation and single-byte change is refused; a mask that marks
// nothing, or another number of values, is refused by Check.
func TestMaskVersion4(t *testing.T) {
	h := testHeader()
	data, _ := landSea(1, 5, 3, 4)
	h.Mask = NewMask(data, 12)
	payload := []byte{4, 5, 6}
	b, written, err := Marshal(h, payload)
	if err != nil {
		t.Fatal(err)
	}
	got, p, sizes, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if written != sizes || sizes.Version != 4 || sizes.Mask != len(h.Mask) || !bytes.Equal(p, payload) ||
		sizes.Header+sizes.Mask+sizes.Payload+sizes.Framing != len(b) || !reflect.DeepEqual(got, h) {
		t.Fatalf("version 4: sizes %+v (Marshal %+v), %d bytes, payload %v, header\n got %+v\nwant %+v", sizes, written, len(b), p, got, h)
	}
	refusesDamage(t, b)
	for name, m := range map[string]Mask{"marks nothing": deflated(12, 60), "of 61 values": deflated(0, 2, 59), "bad bytes": {1, 2}} {
		h.Mask = m
		if _, _, err := Marshal(h, payload); err == nil {
			t.Errorf("%s: marshalled", name)
		}
	}
}

// FuzzMask: Missing never panics, and a mask it accepts makes Apply set exactly that many NaNs.
func FuzzMask(f *testing.F) {
	data, _ := landSea(2, 3, 5, 7)
	f.Add([]byte(NewMask(data, 5*7)), 2*3*5*7)
	f.Add([]byte(NewMask(data, 0)), 2*3*5*7)
	f.Add([]byte(deflated(0, 0, 3, 2)), 5)
	f.Add([]byte(deflated(2, 2, 0, 3)), 5)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, m []byte, values int) {
		if values < 1 || values > 1<<16 {
			return
		}
		n, err := Mask(m).Missing(values)
		if err != nil {
			return
		}
		x := [][]float32{make([]float32, values/2), make([]float32, values-values/2)}
		if err := Mask(m).Apply(x); err != nil {
			t.Fatalf("accepted by Missing, refused by Apply: %v", err)
		}
		got := 0
		for _, ch := range x {
			for _, v := range ch {
				if v != v {
					got++
				}
			}
		}
		if got != n {
			t.Fatalf("Missing says %d, Apply set %d", n, got)
		}
	})
}

// globalDay returns 24 hours of a 721×1440 global grid, NaN over wavy continents (the same
// every hour).
func globalDay() []float32 {
	const h, w = 721, 1440
	day := make([]float32, 24*h*w)
	for i := range day[:h*w] {
		y, x := float64(i/w), float64(i%w)
		if math.Sin(y/23)*math.Cos(x/37)+0.5*math.Sin(y/7+x/11)+0.3*math.Sin(y*x/900) > 0.4 {
			day[i] = float32(math.NaN())
		}
	}
	for t := 1; t < 24; t++ {
		copy(day[t*h*w:], day[:h*w])
	}
	return day
}

// BenchmarkMask codes and applies the mask of a global day (24 × 721 × 1440 values).
func BenchmarkMask(b *testing.B) {
	day := globalDay()
	out := make([]float32, len(day))
	b.SetBytes(4 * int64(len(day)))
	for b.Loop() {
		m := NewMask([][]float32{day}, 721*1440)
		if err := m.Apply([][]float32{out}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMaskComplete looks for the missing values of a global day that has none.
func BenchmarkMaskComplete(b *testing.B) {
	day := make([]float32, 24*721*1440)
	b.SetBytes(4 * int64(len(day)))
	for b.Loop() {
		if NewMask([][]float32{day}, 721*1440) != nil {
			b.Fatal("a mask of no missing value")
		}
	}
}
