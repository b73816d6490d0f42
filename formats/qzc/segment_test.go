package qzc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func testBound() *ErrorBound {
	return &ErrorBound{MaxAbs: []float64{0.5}, Step: []float64{0.001}, Offset: []float64{280}, Lo: []float64{-32768}, Hi: []float64{32767}, Bin: []float64{999}}
}

// landMask is the mask of testHeader's signal (1 channel of [t, 3, 4]) over t hours: two
// land points every hour.
func landMask(t int) Mask {
	data, _ := landSea(1, t, 3, 4)
	return NewMask(data, 12)
}

// fixture is one test file of each version from 2 to 6 (testdata/version<v>.qzc): a header
// and its segments (one for versions 2 to 5).
func fixture(version int) (*Header, []Segment) {
	h := testHeader()
	whole := Segment{Length: 5, Payload: []byte{1, 2, 3, 4, 5}}
	switch version {
	case 3:
		h = audioHeader()
		whole = Segment{Length: h.Shape[0], Payload: []byte{9, 8, 7}}
	case 4:
		whole.Mask = landMask(5)
	case 5:
		h.ErrorBound = testBound()
		whole.Mask, whole.Residuals = landMask(5), []byte{1, 0}
	case 6:
		h.ErrorBound = testBound()
		return h, []Segment{
			{Length: 2, Mask: landMask(2), Residuals: []byte{1, 0}, Payload: []byte{1, 2, 3}},
			{Length: 1, Residuals: []byte{4}, Payload: []byte{4}},
			{Length: 2, Mask: landMask(2), Residuals: []byte{5, 6, 7}, Payload: []byte{}},
		}
	}
	return h, []Segment{whole}
}

// write writes segs with h through a Writer to a file in a new directory, and returns its
// path and bytes.
func write(t testing.TB, h *Header, segs []Segment) (string, []byte, Sizes) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.qzc")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, s := range segs {
		if err := w.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	sizes, err := w.Commit(h)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b, sizes
}

// readAll opens path and reads its segments.
func readAll(t testing.TB, path string) (*Reader, []Segment) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	segs := make([]Segment, r.Segments())
	missing := false
	for i := range segs {
		if segs[i], err = r.Segment(i); err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		missing = missing || len(segs[i].Mask) > 0
	}
	if r.Missing() != missing {
		t.Fatalf("%s: Missing() %v, segments' masks say %v", path, r.Missing(), missing)
	}
	return r, segs
}

// sameSegments reports whether got and want hold the same lengths and bytes (nil and empty
// alike).
func sameSegments(got, want []Segment) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Length != w.Length || !bytes.Equal(g.Mask, w.Mask) || !bytes.Equal(g.Residuals, w.Residuals) || !bytes.Equal(g.Payload, w.Payload) {
			return false
		}
	}
	return true
}

func sizesAddUp(s Sizes) bool {
	return s.Header+s.Mask+s.Residuals+s.Payload+s.Framing == s.Total
}

// TestWriterOneSegment: a signal written as one segment is exactly the file Marshal writes
// (version 2 for a plain header, 3 for audio, 4 with a mask, 5 with an error bound, with a mask
// or none), with the same sizes, and Open reads it back as that one segment, as Parse does.
func TestWriterOneSegment(t *testing.T) {
	cases := map[string]func() (*Header, []Segment){
		"plain": func() (*Header, []Segment) { return fixture(2) },
		"audio": func() (*Header, []Segment) { return fixture(3) },
		"mask":  func() (*Header, []Segment) { return fixture(4) },
		"bound": func() (*Header, []Segment) { return fixture(5) },
		"bound, no mask": func() (*Header, []Segment) {
			h, s := fixture(5)
			s[0].Mask = nil
			return h, s
		},
	}
	for name, c := range cases {
		h, segs := c()
		path, b, sizes := write(t, h, segs)
		full := *h
		full.Mask, full.Residuals = segs[0].Mask, segs[0].Residuals
		want, wantSizes, err := Marshal(&full, segs[0].Payload)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want) || sizes != wantSizes {
			t.Errorf("%s: Writer wrote %d bytes (%+v), Marshal %d (%+v)", name, len(b), sizes, len(want), wantSizes)
		}
		if h.Mask != nil || h.Residuals != nil || h.Segments != nil {
			t.Errorf("%s: Commit changed the header", name)
		}
		r, got := readAll(t, path)
		if r.Sizes != sizes || !sameSegments(got, segs) || !reflect.DeepEqual(r.Header, &full) {
			t.Errorf("%s: Open: sizes %+v, segments %v, header %+v", name, r.Sizes, got, r.Header)
		}
	}
}

// TestWriterSegments: a signal written in several segments — with a mask or none, residuals
// or none — is version 6, its header's Segments their lengths, and reads back segment by
// segment; its sizes add up, the per-segment lengths counted as framing; Parse and ReadFile
// refuse it as segmented.
func TestWriterSegments(t *testing.T) {
	bounded, segs := fixture(6)
	plain := testHeader()
	plainSegs := slices.Clone(segs)
	for i := range plainSegs {
		plainSegs[i].Residuals = nil
	}
	noMask := slices.Clone(plainSegs)
	for i := range noMask {
		noMask[i].Mask = nil
	}
	for name, c := range map[string]struct {
		h    *Header
		segs []Segment
	}{"bound and masks": {bounded, segs}, "masks": {plain, plainSegs}, "nothing missing": {plain, noMask}} {
		path, b, sizes := write(t, c.h, c.segs)
		if c.h.Segments != nil {
			t.Errorf("%s: Commit changed the header", name)
		}
		r, got := readAll(t, path)
		want := *c.h
		want.Segments = []int{2, 1, 2}
		if !reflect.DeepEqual(r.Header, &want) || !sameSegments(got, c.segs) {
			t.Fatalf("%s: read back\n header %+v\n segments %v\nwant\n header %+v\n segments %v", name, r.Header, got, &want, c.segs)
		}
		var m, res, p int
		for _, s := range c.segs {
			m, res, p = m+len(s.Mask), res+len(s.Residuals), p+len(s.Payload)
		}
		if r.Sizes != sizes || sizes.Version != 6 || sizes.Total != len(b) || !sizesAddUp(sizes) ||
			sizes.Mask != m || sizes.Residuals != res || sizes.Payload != p || sizes.Framing != fixedBytes+3*32 {
			t.Errorf("%s: sizes %+v, Open's %+v, file %d bytes", name, sizes, r.Sizes, len(b))
		}
		if _, _, _, err := Parse(b); !errors.Is(err, ErrSegmented) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "qzc.Open") {
			t.Errorf("%s: Parse: %v", name, err)
		}
		if _, _, _, err := ReadFile(path); !errors.Is(err, ErrSegmented) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: ReadFile: %v", name, err)
		}
	}
	// A header already holding its segments' lengths is written the same.
	h := *bounded
	h.Segments = []int{2, 1, 2}
	_, b, _ := write(t, &h, segs)
	_, want, _ := write(t, bounded, segs)
	if !bytes.Equal(b, want) {
		t.Errorf("a header with its Segments set writes another file")
	}
}

// TestTestdata reads the test files of every version (testdata/version<v>.qzc; version 1 was
// written by the version 1 code, 2 to 6 by this package, from fixture): Open gives the
// segments they were written from — for versions 1 to 5 one, equal to what Parse gives.
// QZC_WRITE_TESTDATA=1 rewrites versions 2 to 6.
func TestTestdata(t *testing.T) {
	if os.Getenv("QZC_WRITE_TESTDATA") == "1" {
		for v := 2; v <= Version; v++ {
			h, segs := fixture(v)
			_, b, _ := write(t, h, segs)
			if err := os.WriteFile(fmt.Sprintf("testdata/version%d.qzc", v), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for v := 1; v <= Version; v++ {
		path := fmt.Sprintf("testdata/version%d.qzc", v)
		r, got := readAll(t, path)
		if r.Sizes.Version != v || !sizesAddUp(r.Sizes) {
			t.Errorf("%s: sizes %+v", path, r.Sizes)
		}
		if v >= 2 {
			h, segs := fixture(v)
			if v < 6 {
				h.Mask, h.Residuals = segs[0].Mask, segs[0].Residuals
			} else {
				h.Segments = []int{2, 1, 2}
			}
			if !reflect.DeepEqual(r.Header, h) || !sameSegments(got, segs) {
				t.Errorf("%s: header %+v, segments %v; want %+v, %v", path, r.Header, got, h, segs)
			}
		}
		if v == 6 {
			continue
		}
		ph, payload, sizes, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := []Segment{{Length: ph.Shape[0], Mask: ph.Mask, Residuals: ph.Residuals, Payload: payload}}
		if !reflect.DeepEqual(r.Header, ph) || r.Sizes != sizes || !sameSegments(got, want) {
			t.Errorf("%s: Open and Parse differ:\n header %+v\n        %+v\n sizes %+v, %+v", path, r.Header, ph, r.Sizes, sizes)
		}
	}
}

// TestSegmentedRejectsDamage: every truncation and single-byte change of a version 6 file is
// refused, by NewReader and by Parse, with ErrCorrupt.
func TestSegmentedRejectsDamage(t *testing.T) {
	h, segs := fixture(6)
	_, b, _ := write(t, h, segs)
	refusesDamage(t, b)
}

// TestSegmentedFraming: a version 6 file whose framing is wrong, its checksum rewritten, is
// refused and says what is wrong: a segment count other than the header's or beyond the
// bytes, a segment length other than the header's, a section length beyond the bytes,
// residuals missing under an error bound, bytes after the last segment, segments in a
// version 5 header; a segment whose mask is not its values' is refused when read.
func TestSegmentedFraming(t *testing.T) {
	h, segs := fixture(6)
	_, b, _ := write(t, h, segs)
	hlen := int(binary.LittleEndian.Uint32(b[10:]))
	count := 14 + hlen // the segment count's offset; the first segment's framing follows
	mlen := count + 16 // the first segment's mask length
	m0 := len(segs[0].Mask)
	put := func(off int, v uint64) func(b []byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint64(b[off:], v); return b }
	}
	for _, c := range []struct {
		name   string
		change func(b []byte) []byte
		want   string
	}{
		{"count of 2", put(count, 2), "segment count 2: the header has 3"},
		{"count of 4", put(count, 4), "segment count 4"},
		{"huge count", put(count, 1<<62), "segment count 4611686018427387904"},
		{"segment length", put(count+8, 1), "segment 0 of length 1 along the first axis, the header's is 2"},
		{"mask length", put(mlen, 1<<40), "segment 0: mask length 1099511627776"},
		{"negative mask length", put(mlen, math.MaxUint64), "segment 0: mask length"},
		{"residuals", put(mlen+8+m0, 1<<40), "segment 0: residuals' length"},
		{"payload", put(mlen+8+m0+8+2, 1<<20), "segment 0: payload length"},
		{"trailing bytes", func(b []byte) []byte { return append(b[:len(b)-4:len(b)-4], 0, 0, 0, 0, 0) }, "1 bytes after the last segment"},
		{"version 5", func(b []byte) []byte { b[8] = 5; return b }, "version 5 header with 3 segments"},
	} {
		d := c.change(bytes.Clone(b))
		reseal(d)
		if _, err := NewReader(bytes.NewReader(d), int64(len(d))); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if _, _, _, err := Parse(d); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Parse: %v", c.name, err)
		}
	}
	// Residuals missing under an error bound: segments written without them, given the
	// bounded header.
	_, nb, _ := write(t, testHeader(), []Segment{{Length: 2, Payload: []byte{1}}, {Length: 3, Payload: []byte{2}}})
	bh := *h
	bh.Segments = []int{2, 3}
	z, err := encodeHeader(&bh)
	if err != nil {
		t.Fatal(err)
	}
	nhlen := int(binary.LittleEndian.Uint32(nb[10:]))
	d := append(appendPrefix(nil, 6, z), nb[14+nhlen:]...)
	reseal(d)
	if _, err := NewReader(bytes.NewReader(d), int64(len(d))); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "segment 0 has 0 residual bytes, but the header has an error bound") {
		t.Errorf("no residuals under an error bound: %v", err)
	}
	// A mask that is not the segment's: the file opens, the segment is refused.
	wrong := slices.Clone(segs)
	wrong[1].Mask = landMask(2) // of 24 values; segment 1 has 12
	var buf bytes.Buffer
	buf.Write(b[:count])
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], 3)
	buf.Write(n[:])
	for _, s := range wrong {
		for _, v := range [][]byte{nil, s.Mask, s.Residuals, s.Payload} {
			if v == nil {
				binary.LittleEndian.PutUint64(n[:], uint64(s.Length))
			} else {
				binary.LittleEndian.PutUint64(n[:], uint64(len(v)))
			}
			buf.Write(n[:])
			if v != nil {
				buf.Write(v)
			}
		}
	}
	buf.Write([]byte{0, 0, 0, 0})
	d = buf.Bytes()
	reseal(d)
	r, err := NewReader(bytes.NewReader(d), int64(len(d)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Segment(0); err != nil {
		t.Errorf("segment 0: %v", err)
	}
	if _, err := r.Segment(1); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "segment 1 of 12 values: missing-value mask") {
		t.Errorf("segment 1 with another segment's mask: %v", err)
	}
	if _, err := r.Segment(3); err == nil || errors.Is(err, ErrCorrupt) {
		t.Errorf("segment 3 of 3: %v", err)
	}
}

// TestHeaderCheckSegments: a header's segments are at least 2 of length ≥ 1 adding up to
// Shape[0], beside neither a mask nor residuals; Marshal writes no segmented header.
func TestHeaderCheckSegments(t *testing.T) {
	for name, c := range map[string]struct {
		segs []int
		ok   bool
	}{
		"two":       {[]int{2, 3}, true},
		"every one": {[]int{1, 1, 1, 1, 1}, true},
		"one":       {[]int{5}, false},
		"too many":  {[]int{1, 1, 1, 1, 1, 0}, false},
		"zero":      {[]int{0, 5}, false},
		"negative":  {[]int{-1, 6}, false},
		"short":     {[]int{2, 2}, false},
		"long":      {[]int{2, 4}, false},
		"overflow":  {[]int{math.MaxInt, math.MaxInt, 7}, false},
	} {
		h := testHeader()
		h.Segments = c.segs
		if err := h.Check(); (err == nil) != c.ok {
			t.Errorf("%s: segments %v: %v", name, c.segs, err)
		}
		if _, _, err := Marshal(h, nil); err == nil {
			t.Errorf("%s: Marshal wrote a segmented header", name)
		}
	}
	for name, change := range map[string]func(h *Header){
		"mask":      func(h *Header) { h.Mask = landMask(5) },
		"residuals": func(h *Header) { h.ErrorBound, h.Residuals = testBound(), []byte{1} },
	} {
		h := testHeader()
		h.Segments = []int{2, 3}
		change(h)
		if err := h.Check(); err == nil || !strings.Contains(err.Error(), "the segments carry them") {
			t.Errorf("segments and a %s: %v", name, err)
		}
	}
	h := testHeader()
	h.Segments, h.ErrorBound = []int{2, 3}, testBound()
	if err := h.Check(); err != nil {
		t.Errorf("segments and an error bound: %v", err)
	}
}

// TestWriterRefuses: Commit refuses segments and headers that do not match — no segment, a
// header with a mask or residuals, segment lengths other than the header's shape or
// Segments, a mask of other values or that marks none missing, residuals without an error
// bound or missing under one — leaving path as it was and no temporary file; a Writer is done
// after Commit or Abort.
func TestWriterRefuses(t *testing.T) {
	bh, bsegs := fixture(6)
	for _, c := range []struct {
		name string
		h    *Header
		segs []Segment
		want string
	}{
		{"no segment", testHeader(), nil, "no segment added"},
		{"header mask", func() *Header { h := testHeader(); h.Mask = landMask(5); return h }(), []Segment{{Length: 5}}, "the segments carry them"},
		{"one short", testHeader(), []Segment{{Length: 4}}, "one segment of length 4 along a first axis of 5"},
		{"two short", testHeader(), []Segment{{Length: 1}, {Length: 3}}, "adding up to 4"},
		{"other segments", func() *Header { h := testHeader(); h.Segments = []int{3, 2}; return h }(), []Segment{{Length: 2}, {Length: 3}}, "a header of segments [3 2]"},
		{"one mask of other values", testHeader(), []Segment{{Length: 5, Mask: landMask(2)}}, "missing-value mask"},
		{"mask of other values", testHeader(), []Segment{{Length: 3, Mask: landMask(2)}, {Length: 2}}, "segment 0 of 36 values: missing-value mask"},
		{"mask of none missing", testHeader(), []Segment{{Length: 3}, {Length: 2, Mask: append(Mask(nil), emptyMaskOf(24)...)}}, "segment 1: the missing-value mask marks no value missing"},
		{"residuals, no bound", testHeader(), bsegs, "segment 0 has 2 residual bytes, but the header has no error bound"},
		{"bound, no residuals", bh, []Segment{{Length: 3, Residuals: []byte{1}}, {Length: 2}}, "segment 1 has 0 residual bytes, but the header has an error bound"},
		{"one, bound, no residuals", bh, []Segment{{Length: 5}}, "an error bound needs residuals"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.qzc")
		os.WriteFile(path, []byte("old"), 0o644)
		w, err := Create(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range c.segs {
			if err := w.Add(s); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Commit(c.h); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "old" {
			t.Errorf("%s: path now holds %q (%v)", c.name, b, err)
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"x.qzc"}) {
			t.Errorf("%s: left %v", c.name, names)
		}
		if err := w.Add(Segment{Length: 1}); err == nil {
			t.Errorf("%s: Add after Commit", c.name)
		}
		w.Abort()
	}
	w, err := Create(filepath.Join(t.TempDir(), "x.qzc"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Add(Segment{Length: 0}); err == nil {
		t.Errorf("a segment of length 0 added")
	}
}

// emptyMaskOf is a well-formed mask of values values that marks none missing (one run of 0s),
// which NewMask never writes.
func emptyMaskOf(values int) Mask {
	return deflated(0, uint64(values))
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestWriterAbort: Abort removes the spooled segments and writes nothing; Commit after Abort
// fails, Abort after Commit does nothing; Commit replaces a file at path.
func TestWriterAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.qzc")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h, segs := fixture(6)
	for _, s := range segs {
		if err := w.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if names := dirNames(t, dir); len(names) != 1 || !strings.HasPrefix(names[0], ".x.qzc.") || !strings.HasSuffix(names[0], ".tmp") {
		t.Errorf("spooling: %v in the directory, want one hidden .tmp file", names)
	}
	w.Abort()
	w.Abort()
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("after Abort: %v", names)
	}
	if _, err := w.Commit(h); err == nil {
		t.Errorf("Commit after Abort")
	}
	os.WriteFile(path, []byte("old"), 0o600)
	if w, err = Create(path); err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		w.Add(s)
	}
	if _, err := w.Commit(h); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if names := dirNames(t, dir); !slices.Equal(names, []string{"x.qzc"}) {
		t.Errorf("after Commit: %v", names)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("written file: %v, %v", st, err)
	}
	if _, got := readAll(t, path); !sameSegments(got, segs) {
		t.Errorf("read back %v", got)
	}
}

// FuzzOpen: NewReader never panics; what it accepts is consistent (sizes adding up to the
// input, a valid header, segments adding up to its first axis) and, before version 6, what
// Parse reads; its segments read back or fail with ErrCorrupt.
func FuzzOpen(f *testing.F) {
	for v := 1; v <= Version; v++ {
		if b, err := os.ReadFile(fmt.Sprintf("testdata/version%d.qzc", v)); err == nil {
			f.Add(b)
		}
	}
	h, segs := fixture(6)
	h.Shape[0] = 3
	_, b, _ := write(f, h, segs[:2:2])
	f.Add(b)
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if r.Header == nil || r.Header.Check() != nil || r.Sizes.Total != len(data) || !sizesAddUp(r.Sizes) || r.Segments() < 1 {
			t.Fatalf("accepted with header %+v, sizes %+v, %d segments", r.Header, r.Sizes, r.Segments())
		}
		length, payload := 0, 0
		for i := range r.Segments() {
			s, err := r.Segment(i)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("segment %d: error does not wrap ErrCorrupt: %v", i, err)
				}
				return
			}
			length += s.Length
			payload += len(s.Payload)
		}
		if length != r.Header.Shape[0] || payload != r.Sizes.Payload {
			t.Fatalf("segments of %d along %d, payloads of %d bytes, sizes %+v", length, r.Header.Shape[0], payload, r.Sizes)
		}
		ph, p, sizes, err := Parse(data)
		if r.Sizes.Version == 6 {
			if !errors.Is(err, ErrSegmented) {
				t.Fatalf("Parse of a segmented file: %v", err)
			}
			return
		}
		if err != nil || !reflect.DeepEqual(ph, r.Header) || sizes != r.Sizes || r.Segments() != 1 {
			t.Fatalf("Parse: %v, header %+v, sizes %+v", err, ph, sizes)
		}
		if s, _ := r.Segment(0); !bytes.Equal(s.Payload, p) {
			t.Fatalf("payload %v, Parse's %v", s.Payload, p)
		}
	})
}
