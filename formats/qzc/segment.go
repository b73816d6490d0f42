package qzc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/qzoo/qzoo/internal/atomicfile"
)

// Segment is one stretch of a signal along its first axis (gridded: hours), coded on its own.
type Segment struct {
	// Length is the segment's length along the header's Shape[0].
	Length int
	// Mask codes the positions of the segment's missing values, over its channels × Length ×
	// ∏Shape[1:] values in payload order (see [Mask]); empty when none is missing.
	Mask Mask
	// Residuals are the error-bounded mode's residuals of the segment: ≥ 1 byte exactly when
	// the header's ErrorBound is set.
	Residuals []byte
	// Payload is the model's bitstream of the segment.
	Payload []byte
}

// bufBytes is the buffer through which a Writer and a Reader stream a file.
const bufBytes = 1 << 16

// Writer writes a .qzc file segment by segment: it spools the segments to a temporary file
// beside the destination, so that memory holds one segment at a time, and writes the file on
// Commit, when the header is known. Defer Abort right after Create: it removes the temporary
// files on any error path, and does nothing after Commit.
type Writer struct {
	path    string
	spool   *os.File
	buf     *bufio.Writer
	lengths []int
	// sums of the segments' sections
	mask, residuals, payload int64
	err                      error // the first failure to spool, which Commit reports
	done                     bool
}

// Create starts writing the .qzc file at path (whose directory must exist), which is left as
// it is until Commit.
func Create(path string) (*Writer, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".segments.*.tmp")
	if err != nil {
		return nil, fmt.Errorf("qzc: %w", err)
	}
	return &Writer{path: path, spool: f, buf: bufio.NewWriterSize(f, bufBytes)}, nil
}

// Add spools the next segment along the signal's first axis. Its Length must be ≥ 1; its mask
// and residuals are checked against the header on Commit.
func (w *Writer) Add(s Segment) error {
	if w.done {
		return fmt.Errorf("%s: qzc: segment added after Commit or Abort", w.path)
	}
	if w.err != nil {
		return fmt.Errorf("%s: %w", w.path, w.err)
	}
	if s.Length < 1 || s.Length > MaxValues {
		return fmt.Errorf("%s: qzc: segment %d of length %d along the first axis, want 1 to %d", w.path, len(w.lengths), s.Length, int64(MaxValues))
	}
	var n [8]byte
	put := func(b []byte) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		w.buf.Write(n[:])
		w.buf.Write(b)
	}
	binary.LittleEndian.PutUint64(n[:], uint64(s.Length))
	w.buf.Write(n[:])
	put(s.Mask)
	put(s.Residuals)
	put(s.Payload)
	if err := w.buf.Flush(); err != nil { // bufio keeps its first error: Flush reports any
		w.err = fmt.Errorf("qzc: spool segment %d: %w", len(w.lengths), err)
		return fmt.Errorf("%s: %w", w.path, w.err)
	}
	w.lengths = append(w.lengths, s.Length)
	w.mask += int64(len(s.Mask))
	w.residuals += int64(len(s.Residuals))
	w.payload += int64(len(s.Payload))
	return nil
}

// Commit writes the file atomically (a temporary file renamed over path) and returns where its
// bytes went, the sections summed over the segments. With one segment the file is exactly
// what Marshal writes for h with that segment's Mask, Residuals and Payload (versions 2 to 5);
// with several it is version 6, h.Segments the segments' lengths (in the file: h itself is
// not changed). h.Mask and h.Residuals must be empty (the segments carry them), h.Segments
// empty or the segments' lengths; the segments' lengths must add up to h.Shape[0], their
// masks be of their values and their residuals present exactly when h.ErrorBound is set
// ([Header.Check]). Either way the Writer is done, and its temporary files are gone.
func (w *Writer) Commit(h *Header) (Sizes, error) {
	if w.done {
		return Sizes{}, fmt.Errorf("%s: qzc: Commit after Commit or Abort", w.path)
	}
	defer w.Abort()
	sizes, err := w.commit(h)
	if err != nil {
		return Sizes{}, fmt.Errorf("%s: %w", w.path, err)
	}
	return sizes, nil
}

func (w *Writer) commit(h *Header) (Sizes, error) {
	if w.err != nil {
		return Sizes{}, w.err
	}
	k := len(w.lengths)
	switch {
	case k == 0:
		return Sizes{}, errors.New("qzc: no segment added")
	case len(h.Mask) != 0 || len(h.Residuals) != 0:
		return Sizes{}, fmt.Errorf("qzc: a header with a mask of %d bytes and %d residual bytes: the segments carry them", len(h.Mask), len(h.Residuals))
	case len(h.Segments) != 0 && !slices.Equal(h.Segments, w.lengths):
		return Sizes{}, fmt.Errorf("qzc: a header of segments %v, but segments of lengths %v were added", h.Segments, w.lengths)
	}
	spooled, err := w.spool.Seek(0, io.SeekCurrent)
	if err != nil {
		return Sizes{}, fmt.Errorf("qzc: %w", err)
	}
	src := bufio.NewReaderSize(io.NewSectionReader(w.spool, 0, spooled), bufBytes)
	hh := *h
	hh.Segments = nil
	var first spooledSegment
	if k == 1 {
		if first, err = readSpooled(src); err != nil {
			return Sizes{}, err
		}
		hh.Mask, hh.Residuals = first.mask, first.residuals
	} else {
		hh.Segments = slices.Clone(w.lengths)
	}
	if k == 1 && len(hh.Shape) != 0 && w.lengths[0] != hh.Shape[0] {
		return Sizes{}, fmt.Errorf("qzc: one segment of length %d along a first axis of %d", w.lengths[0], hh.Shape[0])
	}
	if err := hh.Check(); err != nil {
		return Sizes{}, err
	}
	version := hh.version()
	z, err := encodeHeader(&hh)
	if err != nil {
		return Sizes{}, err
	}
	framing := fixedBytes + segmentBytes*k
	if k == 1 {
		framing = fixedBytes + sectionLengths(version)
	}
	total := int64(framing+len(z)) + w.mask + w.residuals + w.payload
	if total > MaxFileBytes {
		return Sizes{}, fmt.Errorf("qzc: a file of %d bytes, larger than the %d a .qzc file may be", total, int64(MaxFileBytes))
	}
	sizes := Sizes{Total: int(total), Header: len(z), Mask: int(w.mask), Residuals: int(w.residuals), Payload: int(w.payload), Framing: framing, Version: version}

	f, err := atomicfile.Create(w.path)
	if err != nil {
		return Sizes{}, fmt.Errorf("qzc: %w", err)
	}
	defer f.Abort()
	out := &crcWriter{w: bufio.NewWriterSize(f, bufBytes)}
	out.Write(appendPrefix(nil, version, z))
	if k == 1 {
		if version >= 4 {
			out.uint64(uint64(len(first.mask)))
			out.Write(first.mask)
		}
		if version == 5 {
			out.uint64(uint64(len(first.residuals)))
			out.Write(first.residuals)
		}
		out.uint64(uint64(first.payload))
		if _, err := io.CopyN(out, src, first.payload); err != nil {
			return Sizes{}, fmt.Errorf("qzc: read back the spooled segment: %w", err)
		}
	} else {
		frame := int64(len(hh.Channels))
		for _, n := range hh.Shape[1:] {
			frame *= int64(n)
		}
		out.uint64(uint64(k))
		for i := range k {
			s, err := readSpooled(src)
			if err != nil {
				return Sizes{}, err
			}
			if err := checkSegment(&hh, i, int(frame)*s.length, s.mask, len(s.residuals)); err != nil {
				return Sizes{}, fmt.Errorf("qzc: %w", err)
			}
			out.uint64(uint64(s.length))
			out.uint64(uint64(len(s.mask)))
			out.Write(s.mask)
			out.uint64(uint64(len(s.residuals)))
			out.Write(s.residuals)
			out.uint64(uint64(s.payload))
			if _, err := io.CopyN(out, src, s.payload); err != nil {
				return Sizes{}, fmt.Errorf("qzc: read back spooled segment %d: %w", i, err)
			}
		}
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], out.crc)
	out.w.Write(sum[:])
	if out.n+4 != total {
		return Sizes{}, fmt.Errorf("qzc: wrote %d bytes, expected %d", out.n+4, total) // the spool changed under us
	}
	if err := out.w.Flush(); err != nil {
		return Sizes{}, fmt.Errorf("qzc: %w", err)
	}
	if err := f.Commit(); err != nil {
		return Sizes{}, fmt.Errorf("qzc: %w", err)
	}
	return sizes, nil
}

// checkSegment checks segment i of a segmented header h, of that many values: its mask
// (empty, or marking at least one of them missing) and its residuals' length (≥ 1 exactly
// when h has an error bound).
func checkSegment(h *Header, i, values int, mask Mask, residuals int) error {
	if len(mask) != 0 {
		if missing, err := mask.Missing(values); err != nil {
			return fmt.Errorf("segment %d of %d values: %w", i, values, err)
		} else if missing == 0 {
			return fmt.Errorf("segment %d: the missing-value mask marks no value missing", i)
		}
	}
	if (residuals != 0) != (h.ErrorBound != nil) {
		return fmt.Errorf("segment %d has %d residual bytes, but the header has %s error bound (each segment has residuals exactly with one)", i, residuals, map[bool]string{true: "an", false: "no"}[h.ErrorBound != nil])
	}
	return nil
}

// spooledSegment is a segment read back from a Writer's spool up to its payload.
type spooledSegment struct {
	length          int
	mask, residuals []byte
	payload         int64 // its length
}

func readSpooled(r *bufio.Reader) (spooledSegment, error) {
	var s spooledSegment
	var err error
	var n [8]byte
	next := func() int64 {
		if err == nil {
			_, err = io.ReadFull(r, n[:])
		}
		return int64(binary.LittleEndian.Uint64(n[:]))
	}
	section := func() []byte {
		m := next()
		if err != nil || m == 0 {
			return nil
		}
		b := make([]byte, m) // written by Add from a slice of that length
		_, err = io.ReadFull(r, b)
		return b
	}
	s.length = int(next())
	s.mask, s.residuals = section(), section()
	s.payload = next()
	if err != nil {
		return s, fmt.Errorf("qzc: read back the spooled segments: %w", err)
	}
	return s, nil
}

// crcWriter writes to w, keeping the CRC-32C and count of what it wrote; bufio.Writer keeps
// the first error, which Flush reports.
type crcWriter struct {
	w   *bufio.Writer
	crc uint32
	n   int64
}

func (c *crcWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.crc = crc32.Update(c.crc, castagnoli, b[:n])
	c.n += int64(n)
	return n, err
}

func (c *crcWriter) uint64(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	c.Write(b[:])
}

// Abort removes the temporary files unless Commit has; it is safe to defer right after
// Create.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.spool.Close()
	os.Remove(w.spool.Name())
}

// Reader reads a .qzc file of any version segment by segment: a file of versions 1 to 5 as
// one segment, a version 6 file as its segments.
type Reader struct {
	// Header is the file's header: with a version 4 or 5 file's mask and residuals (those of
	// its one segment), with Segments for a version 6 file.
	Header *Header
	// Sizes says where the file's bytes go.
	Sizes Sizes

	r      io.ReaderAt
	closer io.Closer
	segs   []segmentAt
}

// segmentAt is where a segment lies in the file.
type segmentAt struct {
	length                   int
	mask, residuals, payload span
}

// span is a section of the file.
type span struct{ off, n int64 }

// Open opens the .qzc file at path and checks it as [NewReader] does; errors name it. Close
// the Reader when done.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("qzc: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("qzc: %w", err)
	}
	if st.Size() > MaxFileBytes {
		f.Close()
		return nil, fmt.Errorf("qzc: %s: %d bytes is larger than any .qzc file this program writes", path, st.Size())
	}
	r, err := NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.closer = f
	return r, nil
}

// NewReader reads the .qzc file of size bytes that r holds. In one pass through a buffer it
// checks the file's framing — the magic, the version, every length against the bytes present
// — and its checksum, decodes and checks the header ([Header.Check]) and indexes the
// segments; it holds the header (and a version 4 or 5 file's mask and residuals), not the
// file. Errors caused by the bytes wrap [ErrCorrupt]; a damaged file is refused as damaged
// (its checksum) before anything its damage makes of the framing. [Reader.Segment] reads the
// segments from r, which must keep holding the file.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	if size < 0 {
		return nil, fmt.Errorf("qzc: a file of %d bytes", size)
	}
	head := make([]byte, min(size, 14))
	if n, err := r.ReadAt(head, 0); n < len(head) {
		return nil, fmt.Errorf("qzc: read: %w", err)
	}
	version, hlen, err := checkPrefix(head, size)
	if err != nil {
		return nil, err
	}
	hr := &crcReader{r: io.NewSectionReader(r, 0, size-4)}
	sc := &scanner{r: bufio.NewReaderSize(hr, int(min(size, bufBytes))), end: size - 4}
	rd := &Reader{r: r}
	ferr := sc.skip(14)
	var z []byte
	if ferr == nil {
		z, ferr = sc.bytes(hlen)
	}
	if ferr == nil {
		ferr = rd.frame(sc, version, hlen, z)
	}
	if ferr != nil && !errors.Is(ferr, ErrCorrupt) {
		return nil, ferr // reading failed
	}
	// The checksum covers every byte, read or not: a damaged file is refused as damaged.
	if err := sc.skip(sc.remaining()); err != nil {
		return nil, err
	}
	var stored [4]byte
	if _, err := r.ReadAt(stored[:], size-4); err != nil {
		return nil, fmt.Errorf("qzc: read: %w", err)
	}
	if got, want := hr.crc, binary.LittleEndian.Uint32(stored[:]); got != want {
		return nil, corrupt("checksum mismatch (CRC-32C %08x, stored %08x): the file is damaged or truncated", got, want)
	}
	if ferr != nil {
		return nil, ferr
	}
	rd.Sizes.Total = int(size)
	rd.Sizes.Header = int(hlen)
	rd.Sizes.Version = version
	return rd, nil
}

// frame reads the file after its header z (of hlen bytes) from sc: it decodes and checks the
// header and indexes the segments.
func (rd *Reader) frame(sc *scanner, version int, hlen int64, z []byte) error {
	h, err := decodeHeader(version, z)
	if err != nil {
		return err
	}
	rd.Header = h
	if err := h.checkFields(version); err != nil {
		return err
	}
	if version <= 5 {
		return rd.frameOne(sc, version, h)
	}
	if err := h.check(); err != nil {
		return err
	}
	if sc.remaining() < 8 {
		return corrupt("version 6: no room for the segment count after the header")
	}
	k64, err := sc.uint64()
	if err != nil {
		return err
	}
	if room := uint64(sc.remaining() / segmentBytes); k64 > room || k64 != uint64(len(h.Segments)) {
		return corrupt("segment count %d: the header has %d segments, and the %d bytes that follow hold at most %d", k64, len(h.Segments), sc.remaining(), room)
	}
	k := int(k64)
	rd.segs = make([]segmentAt, k)
	for i := range k {
		after := int64(segmentBytes * (k - 1 - i)) // the framing of the segments after this one
		length, err := sc.uint64()
		if err != nil {
			return err
		}
		if length != uint64(h.Segments[i]) {
			return corrupt("segment %d of length %d along the first axis, the header's is %d", i, length, h.Segments[i])
		}
		s := segmentAt{length: int(length)}
		for j, sec := range []*span{&s.mask, &s.residuals, &s.payload} {
			n, err := sc.uint64()
			if err != nil {
				return err
			}
			left := sc.remaining() - after - int64(8*(2-j)) // less the lengths of the sections after it
			if n > uint64(max(left, 0)) {
				return corrupt("segment %d: %s length %d, but %d bytes follow", i, []string{"mask", "residuals'", "payload"}[j], n, left)
			}
			if j == 1 && (n == 0) != (h.ErrorBound == nil) {
				return corrupt("segment %d has %d residual bytes, but the header has %s error bound", i, n, map[bool]string{true: "an", false: "no"}[h.ErrorBound != nil])
			}
			*sec = span{sc.off, int64(n)}
			if err := sc.skip(int64(n)); err != nil {
				return err
			}
		}
		rd.segs[i] = s
		rd.Sizes.Mask += int(s.mask.n)
		rd.Sizes.Residuals += int(s.residuals.n)
		rd.Sizes.Payload += int(s.payload.n)
	}
	if sc.remaining() != 0 {
		return corrupt("%d bytes after the last segment", sc.remaining())
	}
	rd.Sizes.Framing = fixedBytes + segmentBytes*k
	return nil
}

// frameOne reads a file of versions 1 to 5 after its header h, as Parse does.
func (rd *Reader) frameOne(sc *scanner, version int, h *Header) error {
	framing := fixedBytes
	var mask Mask
	var residuals []byte
	if version >= 4 {
		lengths := int64(8 * (version - 2)) // the mask's, the residuals' (version 5) and the payload's
		if sc.remaining() < lengths {
			return corrupt("version %d: no room for the section lengths after the header", version)
		}
		mlen, err := sc.uint64()
		if err != nil {
			return err
		}
		if left := sc.remaining() - lengths + 8; version == 4 && mlen == 0 || mlen > uint64(left) {
			return corrupt("mask length %d, but %d bytes follow the header", mlen, left)
		}
		if mask, err = sc.bytes(int64(mlen)); err != nil {
			return err
		}
		framing += 8
		if version == 5 {
			rlen, err := sc.uint64()
			if err != nil {
				return err
			}
			if left := sc.remaining() - 8; rlen == 0 || rlen > uint64(left) {
				return corrupt("residuals' length %d, but %d bytes follow the mask", rlen, left)
			}
			if residuals, err = sc.bytes(int64(rlen)); err != nil {
				return err
			}
			framing += 8
		}
		if len(mask) == 0 {
			mask = nil
		}
	}
	plen, err := sc.uint64()
	if err != nil {
		return err
	}
	if plen != uint64(sc.remaining()) {
		return corrupt("payload length %d, but %d bytes follow the header", plen, sc.remaining())
	}
	h.Mask, h.Residuals = mask, residuals
	if err := h.check(); err != nil {
		return err
	}
	rd.segs = []segmentAt{{length: h.Shape[0], payload: span{sc.off, int64(plen)}}}
	rd.Sizes.Mask, rd.Sizes.Residuals, rd.Sizes.Payload, rd.Sizes.Framing = len(mask), len(residuals), int(plen), framing
	return sc.skip(int64(plen))
}

// Segments returns the number of segments of the file: 1 before version 6.
func (r *Reader) Segments() int { return len(r.segs) }

// Missing tells whether any segment marks values missing (has a mask), from the file's index:
// nothing is read. A writer that must say how it marks missing values before the first
// segment's values come (netCDF's _FillValue) asks this first.
func (r *Reader) Missing() bool {
	if len(r.Header.Segments) == 0 {
		return len(r.Header.Mask) > 0
	}
	for _, s := range r.segs {
		if s.mask.n > 0 {
			return true
		}
	}
	return false
}

// Segment reads segment i (0 ≤ i < Segments()) and checks its mask against its values. A file
// of versions 1 to 5 has one segment: of length Shape[0], with the header's Mask and
// Residuals. Errors caused by the file's bytes wrap [ErrCorrupt].
func (r *Reader) Segment(i int) (Segment, error) {
	if i < 0 || i >= len(r.segs) {
		return Segment{}, fmt.Errorf("qzc: segment %d of a file of %d", i, len(r.segs))
	}
	s := r.segs[i]
	read := func(sp span) ([]byte, error) {
		b := make([]byte, sp.n)
		if _, err := r.r.ReadAt(b, sp.off); err != nil && !(err == io.EOF && sp.n == 0) {
			return nil, fmt.Errorf("qzc: read segment %d: %w", i, err)
		}
		return b, nil
	}
	payload, err := read(s.payload)
	if err != nil {
		return Segment{}, err
	}
	h := r.Header
	if len(h.Segments) == 0 {
		return Segment{Length: s.length, Mask: h.Mask, Residuals: h.Residuals, Payload: payload}, nil
	}
	seg := Segment{Length: s.length, Payload: payload}
	if s.mask.n != 0 {
		if seg.Mask, err = read(s.mask); err != nil {
			return Segment{}, err
		}
	}
	if s.residuals.n != 0 {
		if seg.Residuals, err = read(s.residuals); err != nil {
			return Segment{}, err
		}
	}
	values := len(h.Channels) * s.length
	for _, n := range h.Shape[1:] {
		values *= n
	}
	if err := checkSegment(h, i, values, seg.Mask, len(seg.Residuals)); err != nil {
		return Segment{}, corrupt("%v", err)
	}
	return seg, nil
}

// Close closes the file Open opened (nothing for a Reader of NewReader).
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	return c.Close()
}

// crcReader reads from r, keeping the CRC-32C of what it read.
type crcReader struct {
	r   io.Reader
	crc uint32
}

func (c *crcReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.crc = crc32.Update(c.crc, castagnoli, b[:n])
	return n, err
}

// scanner reads a file's body (all but its checksum) in order; off is the bytes read, end the
// body's length. Its errors are reading's: the callers check every length against
// remaining() first.
type scanner struct {
	r   *bufio.Reader
	off int64
	end int64
}

func (s *scanner) remaining() int64 { return s.end - s.off }

func (s *scanner) read(b []byte) error {
	n, err := io.ReadFull(s.r, b)
	s.off += int64(n)
	if err != nil {
		return fmt.Errorf("qzc: read: %w", err)
	}
	return nil
}

func (s *scanner) uint64() (uint64, error) {
	var b [8]byte
	if err := s.read(b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// bytes reads n ≤ remaining() bytes.
func (s *scanner) bytes(n int64) ([]byte, error) {
	b := make([]byte, n)
	return b, s.read(b)
}

// skip reads past n ≤ remaining() bytes.
func (s *scanner) skip(n int64) error {
	m, err := s.r.Discard(int(n))
	s.off += int64(m)
	if err != nil {
		return fmt.Errorf("qzc: read: %w", err)
	}
	return nil
}
