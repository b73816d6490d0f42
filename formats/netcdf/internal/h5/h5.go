// Package h5 reads the values of the datasets of an HDF5 file's root group, the container of
// netCDF-4, independently of the netCDF library that formats/netcdf uses for the rest: that
// library reassembles chunked datasets wrongly when the chunks split the last axes (zeros or
// fill values in place of data, with no error). This package walks the file's own structures
// (HDF5 File Format Specification version 3.0,
// https://docs.hdfgroup.org/hdf5/develop/_f_m_t3.html): the superblock (versions 0–3), the
// root group's object header (versions 1 and 2, with continuations) and its links (a symbol
// table, link messages, or link messages in a fractal heap indexed by a version-2 B-tree),
// a dataset's dataspace, datatype, fill value, filter pipeline and
// data layout, and for chunked data the chunk index: a version-1 B-tree (layout version 3,
// which netCDF-C writes), a single chunk, implicit, or an unpaged fixed array (layout
// version 4). Chunks of any shape, partial edge chunks and chunks never written (the fill
// value) are placed by their own offsets; the deflate, shuffle and Fletcher-32 filters are
// undone, the checksum verified. A part of a dataset (Dataset.ReadSlab: the hours of a time
// range) costs only its own bytes: the chunks that intersect it, or its runs of contiguous
// data.
//
// It reads only what it understands and refuses the rest with an error naming the
// structure: links stored as huge or tiny objects of a fractal heap, extensible-array and
// version-2 B-tree chunk indexes, paged fixed arrays, other filters (szip, n-bit,
// scale-offset, third-party), shared or non-IEEE datatypes, and any structure that points
// outside the file or disagrees with itself. Every size is checked against the file's size
// before it is allocated, so damaged input costs an error, never a panic or an unbounded
// allocation.
package h5

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// ErrUnsupported marks structures the package recognises but does not read (dense link
// storage, some chunk indexes and filters, unusual datatypes); other errors mean damage.
var ErrUnsupported = errors.New("h5: unsupported")

// undefined is HDF5's undefined address (all bits set), whatever the size of offsets.
const undefined = math.MaxUint64

// Limits that bound the work damaged input can cause.
const (
	maxMessages      = 1 << 16 // messages of one object header, continuations included
	maxContinuations = 1 << 10
	maxTreeDepth     = 64
	maxLinks         = 1 << 20
)

// File is an open HDF5 file.
type File struct {
	r    io.ReaderAt
	size int64
	base uint64 // base address: addresses in the file are relative to it
	sO   int    // size of offsets (addresses), bytes
	sL   int    // size of lengths, bytes
	root uint64 // root group's object header
}

// failure is the panic value of a parse error; the exported functions recover it.
type failure struct{ err error }

func fail(format string, args ...any) {
	panic(failure{fmt.Errorf("h5: "+format, args...)})
}

func unsupported(format string, args ...any) {
	panic(failure{fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...)})
}

// catch turns a failure into *err; other panics are re-raised.
func catch(err *error) {
	if p := recover(); p != nil {
		f, ok := p.(failure)
		if !ok {
			panic(p)
		}
		*err = f.err
	}
}

// Open reads the superblock of the HDF5 file r of size bytes (found at offset 0, 512, 1024,
// 2048...).
func Open(r io.ReaderAt, size int64) (f *File, err error) {
	defer catch(&err)
	f = &File{r: r, size: size, sO: 8, sL: 8}
	sig := []byte("\x89HDF\r\n\x1a\n")
	at := int64(-1)
	for off := int64(0); off+8 <= size; off = max(512, 2*off) {
		if bytes.Equal(f.readAbs(off, 8), sig) {
			at = off
			break
		}
	}
	if at < 0 {
		fail("no HDF5 signature")
	}
	head := f.readAbs(at+8, min(size-at-8, 200))
	b := &buf{f: f, b: head, what: "superblock"}
	version := b.u8()
	switch version {
	case 0, 1:
		b.skip(4) // free-space, root symbol table and shared header versions, reserved
		f.sO, f.sL = int(b.u8()), int(b.u8())
		f.checkSizes()
		b.skip(1 + 2 + 2 + 4) // reserved, group leaf and internal K, flags
		if version == 1 {
			b.skip(4) // indexed storage K, reserved
		}
		f.base = b.addr()
		b.addr() // free-space info
		b.addr() // end of file
		b.addr() // driver info
		b.addr() // root entry: link name offset
		f.root = b.addr()
	case 2, 3:
		f.sO, f.sL = int(b.u8()), int(b.u8())
		f.checkSizes()
		b.skip(1) // flags
		f.base = b.addr()
		b.addr() // superblock extension
		b.addr() // end of file
		f.root = b.addr()
	default:
		unsupported("superblock version %d", version)
	}
	if f.base != uint64(at) && f.base != 0 {
		fail("superblock base address %d, found at %d", f.base, at)
	}
	f.base = uint64(at)
	if f.root == undefined {
		fail("no root group")
	}
	return f, nil
}

func (f *File) checkSizes() {
	for _, s := range []int{f.sO, f.sL} {
		if s != 2 && s != 4 && s != 8 {
			fail("size of offsets or lengths %d, not 2, 4 or 8", s)
		}
	}
}

// readAbs reads n bytes at absolute offset off, failing when they are not all in the file.
func (f *File) readAbs(off, n int64) []byte {
	if off < 0 || n < 0 || off > f.size || n > f.size-off {
		fail("%d bytes at offset %d are beyond the end of the file (%d bytes)", n, off, f.size)
	}
	p := make([]byte, n)
	f.readAbsInto(p, off)
	return p
}

// readAbsInto fills p with the bytes at absolute offset off, which must be in the file.
func (f *File) readAbsInto(p []byte, off int64) {
	if _, err := f.r.ReadAt(p, off); err != nil && !(err == io.EOF && len(p) == 0) {
		fail("read %d bytes at %d: %v", len(p), off, err)
	}
}

// read reads n bytes at address addr (relative to the base address).
func (f *File) read(addr, n uint64, what string) []byte {
	f.check(addr, n, what)
	return f.readAbs(int64(f.base+addr), int64(n))
}

// readInto fills p with the bytes at address addr (relative to the base address).
func (f *File) readInto(p []byte, addr uint64, what string) {
	f.check(addr, uint64(len(p)), what)
	f.readAbsInto(p, int64(f.base+addr))
}

// check fails unless the n bytes at address addr are in the file.
func (f *File) check(addr, n uint64, what string) {
	if addr == undefined || addr > uint64(f.size) || n > uint64(f.size) || f.base+addr+n > uint64(f.size) {
		fail("%s: %d bytes at address %d are beyond the end of the file (%d bytes)", what, n, addr, f.size)
	}
}

// readUpTo reads at most n bytes at addr, fewer where the file ends.
func (f *File) readUpTo(addr, n uint64, what string) []byte {
	if addr == undefined || f.base+addr > uint64(f.size) {
		fail("%s: address %d is beyond the end of the file (%d bytes)", what, addr, f.size)
	}
	return f.read(addr, min(n, uint64(f.size)-f.base-addr), what)
}

// buf decodes little-endian fields from b; an overrun fails naming what is decoded.
type buf struct {
	f    *File
	b    []byte
	pos  int
	what string
}

func (b *buf) need(n int) {
	if n < 0 || b.pos+n > len(b.b) {
		fail("%s is truncated: %d bytes needed at byte %d of %d", b.what, n, b.pos, len(b.b))
	}
}

func (b *buf) bytes(n int) []byte {
	b.need(n)
	p := b.b[b.pos : b.pos+n]
	b.pos += n
	return p
}

func (b *buf) skip(n int) { b.bytes(n) }
func (b *buf) u8() uint8  { return b.bytes(1)[0] }
func (b *buf) u16() uint16 {
	return binary.LittleEndian.Uint16(b.bytes(2))
}
func (b *buf) u32() uint32 { return binary.LittleEndian.Uint32(b.bytes(4)) }

// uint reads an n-byte unsigned integer (n ≤ 8).
func (b *buf) uint(n int) uint64 {
	var x uint64
	for i, c := range b.bytes(n) {
		x |= uint64(c) << (8 * i)
	}
	return x
}

// addr reads an address; all bits set is undefined.
func (b *buf) addr() uint64 {
	x := b.uint(b.f.sO)
	if b.f.sO < 8 && x == 1<<(8*b.f.sO)-1 {
		return undefined
	}
	return x
}

func (b *buf) length() uint64 { return b.uint(b.f.sL) }
func (b *buf) rest() int      { return len(b.b) - b.pos }
func (b *buf) sig(s string) {
	if got := b.bytes(len(s)); string(got) != s {
		fail("%s: signature %q, want %q", b.what, got, s)
	}
}

// message is one object header message.
type message struct {
	typ    uint16
	flags  uint8
	data   []byte
	header uint64 // the object header's address, for errors
}

// Message types read.
const (
	msgDataspace    = 0x01
	msgLinkInfo     = 0x02
	msgDatatype     = 0x03
	msgFillOld      = 0x04
	msgFill         = 0x05
	msgLink         = 0x06
	msgLayout       = 0x08
	msgFilters      = 0x0B
	msgContinuation = 0x10
	msgSymbolTable  = 0x11
)

// messages returns the messages of the object header at addr, continuations followed.
func (f *File) messages(addr uint64) []message {
	var out []message
	type block struct {
		addr, size uint64
		v1         bool
	}
	var pending []block
	head := f.readUpTo(addr, 512, "object header")
	var v2flags uint8
	var v1 bool
	if len(head) >= 4 && string(head[:4]) == "OHDR" {
		b := &buf{f: f, b: head, what: fmt.Sprintf("object header at %d", addr)}
		b.skip(4)
		if v := b.u8(); v != 2 {
			fail("object header at %d: version %d", addr, v)
		}
		v2flags = b.u8()
		if v2flags&0x20 != 0 {
			b.skip(16)
		}
		if v2flags&0x10 != 0 {
			b.skip(4)
		}
		size := b.uint(1 << (v2flags & 3))
		pending = append(pending, block{addr + uint64(b.pos), size, false})
	} else {
		b := &buf{f: f, b: head, what: fmt.Sprintf("object header at %d", addr)}
		if v := b.u8(); v != 1 {
			fail("object header at %d: version %d (neither 1 nor an OHDR signature)", addr, v)
		}
		b.skip(1 + 2 + 4)
		size := uint64(b.u32())
		v1 = true
		pending = append(pending, block{addr + 16, size, true})
	}
	seen := map[uint64]bool{}
	for n := 0; len(pending) > 0; n++ {
		if n > maxContinuations {
			fail("object header at %d: more than %d continuation blocks", addr, maxContinuations)
		}
		blk := pending[0]
		pending = pending[1:]
		if seen[blk.addr] {
			fail("object header at %d: continuation loop", addr)
		}
		seen[blk.addr] = true
		data := f.read(blk.addr, blk.size, fmt.Sprintf("object header at %d", addr))
		b := &buf{f: f, b: data, what: fmt.Sprintf("object header at %d", addr)}
		if !v1 && n > 0 { // A continuation block: a signature, messages, a checksum.
			b.sig("OCHK")
			b.b = b.b[:max(b.pos, len(b.b)-4)]
		}
		hdr := 8
		if !v1 {
			hdr = 4
			if v2flags&0x04 != 0 {
				hdr = 6
			}
		}
		for b.rest() >= hdr {
			var m message
			m.header = addr
			var size int
			if v1 {
				m.typ = b.u16()
				size = int(b.u16())
				m.flags = b.u8()
				b.skip(3)
			} else {
				m.typ = uint16(b.u8())
				size = int(b.u16())
				m.flags = b.u8()
				if v2flags&0x04 != 0 {
					b.skip(2)
				}
			}
			m.data = b.bytes(size)
			if m.typ == msgContinuation {
				c := &buf{f: f, b: m.data, what: "continuation message"}
				pending = append(pending, block{c.addr(), c.length(), v1})
				continue
			}
			if out = append(out, m); len(out) > maxMessages {
				fail("object header at %d: more than %d messages", addr, maxMessages)
			}
		}
	}
	return out
}

// Datasets returns the names of the root group's links, in no particular order.
func (f *File) Datasets() (names []string, err error) {
	defer catch(&err)
	links := f.links(f.root)
	for name := range links {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// links returns the hard links of the group whose object header is at addr: name → object
// header address.
func (f *File) links(addr uint64) map[string]uint64 {
	links := map[string]uint64{}
	for _, m := range f.messages(addr) {
		switch m.typ {
		case msgSymbolTable:
			b := &buf{f: f, b: m.data, what: "symbol table message"}
			tree, heap := b.addr(), b.addr()
			f.symbolTable(tree, heap, links)
		case msgLink:
			name, target, hard := f.link(m.data)
			if hard {
				links[name] = target
			}
		case msgLinkInfo:
			b := &buf{f: f, b: m.data, what: "link info message"}
			b.skip(1)
			if flags := b.u8(); flags&1 != 0 {
				b.skip(8)
			}
			if heap, names := b.addr(), b.addr(); heap != undefined {
				f.denseLinks(heap, names, links)
			}
		}
		if len(links) > maxLinks {
			fail("more than %d links", maxLinks)
		}
	}
	return links
}

// link decodes a link message.
func (f *File) link(data []byte) (name string, target uint64, hard bool) {
	b := &buf{f: f, b: data, what: "link message"}
	if v := b.u8(); v != 1 {
		fail("link message version %d", v)
	}
	flags := b.u8()
	typ := uint8(0)
	if flags&0x08 != 0 {
		typ = b.u8()
	}
	if flags&0x04 != 0 {
		b.skip(8)
	}
	if flags&0x10 != 0 {
		b.skip(1)
	}
	n := b.uint(1 << (flags & 3))
	if n > uint64(b.rest()) {
		fail("link message: name of %d bytes", n)
	}
	name = string(b.bytes(int(n)))
	if typ != 0 {
		return name, 0, false
	}
	return name, b.addr(), true
}

// symbolTable adds the entries of the version-1 B-tree of group nodes at tree, whose names
// are in the local heap at heap, to links.
func (f *File) symbolTable(tree, heap uint64, links map[string]uint64) {
	hb := &buf{f: f, b: f.read(heap, 8+2*uint64(f.sL)+uint64(f.sO), "local heap"), what: "local heap"}
	hb.sig("HEAP")
	hb.skip(4)
	heapSize := hb.length()
	hb.length() // free list
	heapData := f.read(hb.addr(), heapSize, "local heap data")
	name := func(off uint64) string {
		if off >= uint64(len(heapData)) {
			fail("local heap: name at %d of %d bytes", off, len(heapData))
		}
		s := heapData[off:]
		if i := bytes.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		return string(s)
	}
	visited := map[uint64]bool{}
	var walk func(addr uint64, depth int)
	walk = func(addr uint64, depth int) {
		if depth > maxTreeDepth || visited[addr] {
			fail("group B-tree: a loop or more than %d levels", maxTreeDepth)
		}
		visited[addr] = true
		hdr := &buf{f: f, b: f.read(addr, 8+2*uint64(f.sO), "group B-tree node"), what: "group B-tree node"}
		hdr.sig("TREE")
		if typ := hdr.u8(); typ != 0 {
			fail("group B-tree node of type %d", typ)
		}
		level := hdr.u8()
		n := uint64(hdr.u16())
		entry := uint64(f.sL + f.sO)
		b := &buf{f: f, b: f.read(addr+uint64(hdr.pos)+2*uint64(f.sO), n*entry+uint64(f.sL), "group B-tree node"), what: "group B-tree node"}
		for range n {
			b.length() // key: heap offset of the largest name
			child := b.addr()
			if level > 0 {
				walk(child, depth+1)
				continue
			}
			nb := &buf{f: f, b: f.read(child, 8, "symbol table node"), what: "symbol table node"}
			nb.sig("SNOD")
			nb.skip(2)
			count := uint64(nb.u16())
			size := uint64(2*f.sO + 24)
			eb := &buf{f: f, b: f.read(child+8, count*size, "symbol table node"), what: "symbol table node"}
			for range count {
				nameOff := eb.uint(f.sO)
				obj := eb.addr()
				eb.skip(24)
				links[name(nameOff)] = obj
				if len(links) > maxLinks {
					fail("more than %d links", maxLinks)
				}
			}
		}
	}
	walk(tree, 0)
}
