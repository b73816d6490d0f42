package h5

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Type is a dataset's element type: an integer or an IEEE float, of either byte order.
type Type struct {
	Float     bool
	Signed    bool // integers only
	Size      int  // bytes: 1, 2, 4 or 8 (floats: 4 or 8)
	BigEndian bool
}

// String returns the Go name of the type: "int16", "uint8", "float32"...
func (t Type) String() string {
	switch {
	case t.Float:
		return fmt.Sprintf("float%d", 8*t.Size)
	case t.Signed:
		return fmt.Sprintf("int%d", 8*t.Size)
	}
	return fmt.Sprintf("uint%d", 8*t.Size)
}

// Dataset is a dataset of the root group, described by its object header.
type Dataset struct {
	Name string
	// Dims holds the dimension sizes (empty for a scalar).
	Dims []uint64
	Type Type
	// Layout is "compact", "contiguous" or "chunked".
	Layout string
	// Chunk holds the chunk's dimension sizes when chunked.
	Chunk []uint64
	// Filters names the filters applied to the chunks, in the order applied on writing.
	Filters []string

	f        *File
	inflated int // chunks read and unfiltered (tests check that slabs read only theirs)
	filters  []filter
	fill     []byte // the fill value as stored (file byte order), nil when undefined
	compact  []byte
	addr     uint64 // contiguous data, or the chunk index
	size     uint64 // contiguous data's size
	index    uint8  // chunk index type: 0 version-1 B-tree (layout 3), 1 single chunk, 2 implicit, 3 fixed array
	single   struct {
		size uint64
		mask uint32
	}
}

type filter struct {
	id   uint16
	name string
	cd   []uint32
}

// Filter identifiers read.
const (
	filterDeflate    = 1
	filterShuffle    = 2
	filterFletcher32 = 3
)

var filterNames = map[uint16]string{1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset",
	307: "bzip2", 32000: "lzf", 32001: "blosc", 32004: "lz4", 32008: "bitshuffle", 32013: "zfp", 32015: "zstd"}

// Dataset describes the root group's dataset name.
func (f *File) Dataset(name string) (d *Dataset, err error) {
	defer catch(&err)
	addr, ok := f.links(f.root)[name]
	if !ok {
		return nil, fmt.Errorf("h5: no dataset %q in the root group", name)
	}
	d = &Dataset{Name: name, f: f}
	var haveSpace, haveType, haveLayout bool
	for _, m := range f.messages(addr) {
		if m.flags&0x02 != 0 && (m.typ == msgDatatype || m.typ == msgDataspace || m.typ == msgLayout || m.typ == msgFilters) {
			unsupported("dataset %s: shared message of type %d", name, m.typ)
		}
		b := &buf{f: f, b: m.data, what: fmt.Sprintf("dataset %s's message %d", name, m.typ)}
		switch m.typ {
		case msgDataspace:
			d.Dims, haveSpace = dataspace(b), true
		case msgDatatype:
			d.Type, haveType = datatype(b), true
		case msgFillOld:
			if d.fill == nil {
				d.fill = b.bytes(int(b.u32()))
			}
		case msgFill:
			d.fill = fillValue(b)
		case msgFilters:
			d.filters = filters(b)
		case msgLayout:
			d.layout(b)
			haveLayout = true
		}
	}
	if !haveSpace || !haveType || !haveLayout {
		fail("%s is not a dataset: it lacks a dataspace, datatype or layout message", name)
	}
	if d.fill != nil && len(d.fill) != d.Type.Size {
		fail("dataset %s: fill value of %d bytes for elements of %d", name, len(d.fill), d.Type.Size)
	}
	for _, fl := range d.filters {
		d.Filters = append(d.Filters, fl.name)
	}
	if d.Layout == "chunked" {
		if len(d.Chunk) != len(d.Dims) {
			fail("dataset %s: chunks of rank %d, data of rank %d", name, len(d.Chunk), len(d.Dims))
		}
		for i, c := range d.Chunk {
			if c == 0 {
				fail("dataset %s: chunk dimension %d of size 0", name, i)
			}
		}
	}
	return d, nil
}

// dataspace decodes a dataspace message.
func dataspace(b *buf) []uint64 {
	version := b.u8()
	rank := int(b.u8())
	b.u8() // flags
	switch version {
	case 1:
		b.skip(5)
	case 2:
		if typ := b.u8(); typ == 2 {
			unsupported("null dataspace")
		}
	default:
		fail("dataspace version %d", version)
	}
	if rank > 32 {
		fail("dataspace of rank %d", rank)
	}
	dims := make([]uint64, rank)
	for i := range dims {
		dims[i] = b.length()
	}
	return dims
}

// datatype decodes a datatype message: integers and IEEE floats only.
func datatype(b *buf) Type {
	cv := b.u8()
	class := cv & 0x0F
	bits := b.bytes(3)
	size := int(b.u32())
	t := Type{Size: size}
	switch class {
	case 0: // fixed point
		t.BigEndian = bits[0]&1 != 0
		t.Signed = bits[0]&8 != 0
		offset, precision := b.u16(), b.u16()
		if size != 1 && size != 2 && size != 4 && size != 8 || offset != 0 || int(precision) != 8*size {
			unsupported("integer type of %d bytes, bit offset %d, precision %d", size, offset, precision)
		}
	case 1: // floating point
		order := bits[0]&1 | (bits[0]>>6&1)<<1
		if order > 1 {
			unsupported("floating-point type in VAX byte order")
		}
		t.Float, t.BigEndian = true, order == 1
		offset, precision := b.u16(), b.u16()
		expLoc, expSize, mantLoc, mantSize := b.u8(), b.u8(), b.u8(), b.u8()
		bias := b.u32()
		ieee := size == 4 && expLoc == 23 && expSize == 8 && mantSize == 23 && bias == 127 ||
			size == 8 && expLoc == 52 && expSize == 11 && mantSize == 52 && bias == 1023
		if !ieee || offset != 0 || int(precision) != 8*size || mantLoc != 0 {
			unsupported("floating-point type of %d bytes that is not IEEE 754", size)
		}
	default:
		unsupported("datatype class %d (only integers and floats are read)", class)
	}
	return t
}

// fillValue decodes a fill value message; nil when the fill value is undefined.
func fillValue(b *buf) []byte {
	version := b.u8()
	switch version {
	case 1, 2:
		b.skip(2) // allocation and write times
		defined := b.u8()
		if version == 2 && defined == 0 {
			return nil
		}
		n := int(b.u32())
		if n == 0 {
			return nil
		}
		return b.bytes(n)
	case 3:
		flags := b.u8()
		if flags&0x20 == 0 {
			return nil
		}
		return b.bytes(int(b.u32()))
	}
	fail("fill value message version %d", version)
	return nil
}

// filters decodes a filter pipeline message.
func filters(b *buf) []filter {
	version := b.u8()
	n := int(b.u8())
	if version == 1 {
		b.skip(6)
	} else if version != 2 {
		fail("filter pipeline version %d", version)
	}
	var out []filter
	for range n {
		fl := filter{id: b.u16()}
		nameLen := 0
		if version == 1 || fl.id >= 256 {
			nameLen = int(b.u16())
		}
		b.u16() // flags
		nValues := int(b.u16())
		name := b.bytes(nameLen)
		if version == 1 {
			b.skip((8 - nameLen%8) % 8)
		}
		for range nValues {
			fl.cd = append(fl.cd, b.u32())
		}
		if version == 1 && nValues%2 == 1 {
			b.skip(4)
		}
		fl.name = filterNames[fl.id]
		if fl.name == "" {
			fl.name = strings.TrimRight(string(name), "\x00")
			if fl.name == "" {
				fl.name = "unnamed"
			}
		}
		fl.name = fmt.Sprintf("%s (filter %d)", fl.name, fl.id)
		if fl.id < filterDeflate || fl.id > filterFletcher32 {
			unsupported("the %s filter", fl.name)
		}
		out = append(out, fl)
	}
	return out
}

// layout decodes a data layout message (versions 3 and 4).
func (d *Dataset) layout(b *buf) {
	version := b.u8()
	if version != 3 && version != 4 {
		unsupported("dataset %s: data layout version %d", d.Name, version)
	}
	switch class := b.u8(); class {
	case 0:
		d.Layout = "compact"
		d.compact = b.bytes(int(b.u16()))
	case 1:
		d.Layout = "contiguous"
		d.addr, d.size = b.addr(), b.length()
	case 2:
		d.Layout = "chunked"
		var flags uint8
		if version == 4 {
			flags = b.u8()
		}
		rank := int(b.u8()) // the dataset's rank + 1: the last "dimension" is the element size
		if rank < 2 || rank > 33 {
			fail("dataset %s: chunk of dimensionality %d", d.Name, rank)
		}
		if version == 3 {
			d.addr = b.addr()
		}
		width := 4
		if version == 4 {
			width = int(b.u8())
			if width < 1 || width > 8 {
				fail("dataset %s: chunk dimensions of %d bytes", d.Name, width)
			}
		}
		d.Chunk = make([]uint64, rank-1)
		for i := range d.Chunk {
			d.Chunk[i] = b.uint(width)
		}
		if elem := b.uint(width); version == 3 && elem != 0 && int(elem) != d.Type.Size && d.Type.Size != 0 {
			fail("dataset %s: chunk element size %d", d.Name, elem)
		}
		if version == 3 {
			return
		}
		switch idx := b.u8(); idx {
		case 1:
			d.index = 1
			if flags&0x02 != 0 {
				d.single.size = b.length()
				d.single.mask = b.u32()
			}
		case 2:
			d.index = 2
		case 3:
			d.index = 3
			b.u8() // page bits: read from the array's header
		case 4:
			unsupported("dataset %s: extensible-array chunk index", d.Name)
		case 5:
			unsupported("dataset %s: version-2 B-tree chunk index", d.Name)
		default:
			fail("dataset %s: chunk index type %d", d.Name, idx)
		}
		d.addr = b.addr()
	case 3:
		unsupported("dataset %s: virtual layout", d.Name)
	default:
		fail("dataset %s: layout class %d", d.Name, class)
	}
}

// Len returns the number of elements.
func (d *Dataset) Len() uint64 {
	n := uint64(1)
	for _, s := range d.Dims {
		if s != 0 && n > math.MaxUint64/s {
			return math.MaxUint64
		}
		n *= s
	}
	return n
}

// Read returns the dataset's values, row-major, each in little-endian byte order
// (Type.Size bytes each), refusing datasets of more than maxValues values. Elements in
// chunks never written hold the fill value (zero when undefined).
func (d *Dataset) Read(maxValues uint64) (out []byte, err error) {
	return d.ReadSlab(make([]uint64, len(d.Dims)), d.Dims, maxValues)
}

// ReadSlab returns the values of the hyperslab of the dataset that starts at index start
// and spans count elements along each dimension (len(start) = len(count) = len(Dims)),
// row-major over count, each in little-endian byte order, as Read does for the whole. It
// reads only the bytes it needs: for contiguous data the slab's runs at their offsets, for
// chunked data only the chunks that intersect the slab (the chunk index is walked whole).
// It refuses slabs outside the dataset, slabs of more than maxValues values, and chunks of
// more than max(maxValues, 2^22) values, which it would have to inflate whole.
func (d *Dataset) ReadSlab(start, count []uint64, maxValues uint64) (out []byte, err error) {
	defer catch(&err)
	if len(start) != len(d.Dims) || len(count) != len(d.Dims) {
		return nil, fmt.Errorf("h5: dataset %s of rank %d: a slab of rank %d, %d", d.Name, len(d.Dims), len(start), len(count))
	}
	n := uint64(1)
	for i, s := range d.Dims {
		if start[i] > s || count[i] > s-start[i] {
			return nil, fmt.Errorf("h5: dataset %s: slab from %v of %v is outside its dimensions %v", d.Name, start, count, d.Dims)
		}
		if count[i] != 0 && n > math.MaxUint64/count[i] {
			n = math.MaxUint64
		} else {
			n *= count[i]
		}
	}
	if n > maxValues {
		return nil, fmt.Errorf("h5: dataset %s: %d values asked for, more than %d", d.Name, n, maxValues)
	}
	size := uint64(d.Type.Size)
	total := d.Len()
	whole := total * size
	switch d.Layout {
	case "compact":
		if uint64(len(d.compact)) < whole {
			fail("dataset %s: compact data of %d bytes, %d needed", d.Name, len(d.compact), whole)
		}
		out = make([]byte, n*size)
		d.runs(start, count, func(from, to, length uint64) {
			copy(out[to*size:(to+length)*size], d.compact[from*size:])
		})
	case "contiguous":
		if d.addr == undefined {
			out = d.filled(n)
			break
		}
		if d.size < whole {
			fail("dataset %s: contiguous data of %d bytes, %d needed", d.Name, d.size, whole)
		}
		// All of it must be in the file, not only the slab: a truncated file is damaged.
		if d.addr > uint64(d.f.size) || whole > uint64(d.f.size) || d.f.base+d.addr+whole > uint64(d.f.size) {
			fail("dataset %s: contiguous data of %d bytes at address %d runs beyond the end of the file (%d bytes)", d.Name, whole, d.addr, d.f.size)
		}
		out = make([]byte, n*size)
		d.runs(start, count, func(from, to, length uint64) {
			d.f.readInto(out[to*size:(to+length)*size], d.addr+from*size, "dataset "+d.Name)
		})
	case "chunked":
		out = d.readChunked(start, count, n, maxValues)
	}
	if d.Type.BigEndian {
		swap(out, d.Type.Size)
	}
	return out, nil
}

// runs calls fn for each run of consecutive elements of the slab (start, count) of a
// row-major array of d.Dims: from and to are the run's first element in the array and in
// the slab, length its number of elements. A slab that spans the trailing dimensions whole
// is one run per index of the dimensions before them.
func (d *Dataset) runs(start, count []uint64, fn func(from, to, length uint64)) {
	rank := len(d.Dims)
	if rank == 0 {
		fn(0, 0, 1)
		return
	}
	for _, c := range count {
		if c == 0 {
			return
		}
	}
	// j: the outermost dimension from which on the slab is contiguous in the array.
	j := rank - 1
	length := count[j]
	for j > 0 && start[j] == 0 && count[j] == d.Dims[j] {
		j--
		length *= count[j]
	}
	idx := make([]uint64, j) // position in the slab over the dimensions before j
	for to := uint64(0); ; to += length {
		from := uint64(0)
		for k := range rank {
			var i uint64
			switch {
			case k < j:
				i = start[k] + idx[k]
			case k == j:
				i = start[k]
			}
			from = from*d.Dims[k] + i
		}
		fn(from, to, length)
		k := j - 1
		for ; k >= 0; k-- {
			if idx[k]++; idx[k] < count[k] {
				break
			}
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// filled returns n elements of the fill value (file byte order).
func (d *Dataset) filled(n uint64) []byte {
	out := make([]byte, n*uint64(d.Type.Size))
	if d.fill != nil {
		for i := 0; i < len(out); i += len(d.fill) {
			copy(out[i:], d.fill)
		}
	}
	return out
}

// swap reverses the bytes of each size-byte element of p.
func swap(p []byte, size int) {
	for i := 0; i+size <= len(p); i += size {
		e := p[i : i+size]
		for a, b := 0, size-1; a < b; a, b = a+1, b-1 {
			e[a], e[b] = e[b], e[a]
		}
	}
}

// chunk is one stored chunk: where it starts in the dataset, its bytes, its filter mask.
type chunk struct {
	offset []uint64
	addr   uint64
	size   uint64
	mask   uint32
}

// readChunked assembles the n elements of the slab (start, count) of a chunked dataset
// (file byte order), reading and inflating only the chunks that intersect it.
func (d *Dataset) readChunked(start, count []uint64, n, maxValues uint64) []byte {
	out := d.filled(n)
	if n == 0 || d.addr == undefined {
		return out
	}
	grid := make([]uint64, len(d.Dims)) // chunks along each dimension
	nChunks := uint64(1)
	for i, s := range d.Dims {
		grid[i] = (s + d.Chunk[i] - 1) / d.Chunk[i]
		nChunks *= max(grid[i], 1)
	}
	// A chunk may exceed the data (a chunk of 512 steps for 5 written), not by much more; and
	// it is inflated whole, so it may not exceed what the caller allows by much either.
	limit := max(1024*d.Len(), 1<<22)
	chunkValues := uint64(1)
	for _, c := range d.Chunk {
		if c > limit/chunkValues {
			fail("dataset %s: chunks of %v values, for data of %v", d.Name, d.Chunk, d.Dims)
		}
		chunkValues *= c
	}
	if chunkValues > max(maxValues, 1<<22) {
		fail("dataset %s: chunks of %v (%d values), more than the %d values allowed to read", d.Name, d.Chunk, chunkValues, max(maxValues, 1<<22))
	}
	chunkBytes := chunkValues * uint64(d.Type.Size)
	var chunks []chunk
	switch d.index {
	case 0:
		d.btreeChunks(d.addr, 0, map[uint64]bool{}, &chunks, nChunks)
	case 1:
		size := chunkBytes
		if len(d.filters) > 0 && d.single.size != 0 {
			size = d.single.size
		}
		chunks = append(chunks, chunk{offset: make([]uint64, len(d.Dims)), addr: d.addr, size: size, mask: d.single.mask})
	case 2:
		for i := range nChunks {
			chunks = append(chunks, chunk{offset: d.gridOffset(i, grid), addr: d.addr + i*chunkBytes, size: chunkBytes})
		}
	case 3:
		chunks = d.fixedArrayChunks(grid, nChunks, chunkBytes)
	}
	seen := make(map[uint64]bool, len(chunks))
	for _, c := range chunks {
		key := uint64(0)
		for i, o := range c.offset {
			if o%d.Chunk[i] != 0 || o >= d.Dims[i] {
				fail("dataset %s: a chunk at %v, outside the data %v or off the chunk grid %v", d.Name, c.offset, d.Dims, d.Chunk)
			}
			key = key*grid[i] + o/d.Chunk[i]
		}
		if seen[key] {
			fail("dataset %s: two chunks at %v", d.Name, c.offset)
		}
		seen[key] = true
	}
	for _, c := range chunks {
		if !d.intersects(c.offset, start, count) {
			continue
		}
		data := d.unfilter(c, chunkBytes)
		d.place(out, data, c.offset, start, count)
	}
	return out
}

// intersects reports whether the chunk at offset shares elements with the slab (start, count).
func (d *Dataset) intersects(offset, start, count []uint64) bool {
	for k := range offset {
		if offset[k] >= start[k]+count[k] || offset[k]+d.Chunk[k] <= start[k] {
			return false
		}
	}
	return true
}

// gridOffset returns the dataset offset of chunk i of the chunk grid, in row-major order.
func (d *Dataset) gridOffset(i uint64, grid []uint64) []uint64 {
	off := make([]uint64, len(grid))
	for k := len(grid) - 1; k >= 0; k-- {
		off[k] = i % grid[k] * d.Chunk[k]
		i /= grid[k]
	}
	return off
}

// btreeChunks collects the chunks of the version-1 B-tree node at addr.
func (d *Dataset) btreeChunks(addr uint64, depth int, visited map[uint64]bool, out *[]chunk, nChunks uint64) {
	f := d.f
	if depth > maxTreeDepth || visited[addr] {
		fail("dataset %s: chunk B-tree has a loop or more than %d levels", d.Name, maxTreeDepth)
	}
	visited[addr] = true
	hdr := &buf{f: f, b: f.read(addr, 8+2*uint64(f.sO), "chunk B-tree node"), what: "chunk B-tree node"}
	hdr.sig("TREE")
	if typ := hdr.u8(); typ != 1 {
		fail("dataset %s: chunk B-tree node of type %d", d.Name, typ)
	}
	level := hdr.u8()
	entries := uint64(hdr.u16())
	rank := len(d.Dims)
	key := uint64(8 + 8*(rank+1))
	b := &buf{f: f, b: f.read(addr+uint64(hdr.pos)+2*uint64(f.sO), entries*(key+uint64(f.sO))+key, "chunk B-tree node"),
		what: "chunk B-tree node"}
	for range entries {
		c := chunk{size: uint64(b.u32()), mask: b.u32(), offset: make([]uint64, rank)}
		for i := range c.offset {
			c.offset[i] = b.uint(8)
		}
		b.skip(8) // the element-size "dimension"
		c.addr = b.addr()
		if level > 0 {
			d.btreeChunks(c.addr, depth+1, visited, out, nChunks)
			continue
		}
		if *out = append(*out, c); uint64(len(*out)) > nChunks {
			fail("dataset %s: more chunks than the %d its grid holds", d.Name, nChunks)
		}
	}
}

// fixedArrayChunks reads an unpaged fixed-array chunk index.
func (d *Dataset) fixedArrayChunks(grid []uint64, nChunks, chunkBytes uint64) []chunk {
	f := d.f
	hb := &buf{f: f, b: f.readUpTo(d.addr, 64, "fixed array header"), what: "fixed array header"}
	hb.sig("FAHD")
	hb.skip(1)
	client := hb.u8()
	entrySize := uint64(hb.u8())
	pageBits := hb.u8()
	count := hb.length()
	block := hb.addr()
	if count != nChunks {
		fail("dataset %s: fixed array of %d chunks for a grid of %d", d.Name, count, nChunks)
	}
	if pageBits < 64 && count > 1<<pageBits {
		unsupported("dataset %s: paged fixed-array chunk index", d.Name)
	}
	filtered := client == 1
	if !filtered && entrySize != uint64(f.sO) || filtered && (entrySize < uint64(f.sO)+5 || entrySize > uint64(f.sO)+12) {
		fail("dataset %s: fixed array entries of %d bytes", d.Name, entrySize)
	}
	head := 4 + 1 + 1 + uint64(f.sO)
	b := &buf{f: f, b: f.read(block, head+count*entrySize, "fixed array data block"), what: "fixed array data block"}
	b.sig("FADB")
	b.skip(2 + f.sO)
	var chunks []chunk
	for i := range count {
		c := chunk{addr: b.addr(), size: chunkBytes}
		if filtered {
			c.size = b.uint(int(entrySize) - f.sO - 4)
			c.mask = b.u32()
		}
		if c.addr != undefined {
			c.offset = d.gridOffset(i, grid)
			chunks = append(chunks, c)
		}
	}
	return chunks
}

// unfilter reads chunk c and undoes its filters, returning chunkBytes bytes.
func (d *Dataset) unfilter(c chunk, chunkBytes uint64) []byte {
	d.inflated++
	if c.size > uint64(d.f.size) {
		fail("dataset %s: a chunk of %d bytes in a file of %d", d.Name, c.size, d.f.size)
	}
	data := d.f.read(c.addr, c.size, "dataset "+d.Name+"'s chunk")
	for i := len(d.filters) - 1; i >= 0; i-- {
		fl := d.filters[i]
		if i < 32 && c.mask&(1<<i) != 0 {
			continue // this chunk skipped the filter
		}
		switch fl.id {
		case filterFletcher32:
			if len(data) < 4 {
				fail("dataset %s: a chunk of %d bytes with a Fletcher-32 checksum", d.Name, len(data))
			}
			stored := binary.LittleEndian.Uint32(data[len(data)-4:])
			data = data[:len(data)-4]
			if sum := fletcher32(data); stored != sum && stored != sum<<8&0xff00ff00|sum>>8&0x00ff00ff {
				fail("dataset %s: chunk at %v fails its Fletcher-32 checksum (%#x, stored %#x)", d.Name, c.offset, sum, stored)
			}
		case filterDeflate:
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				fail("dataset %s: chunk at %v: deflate: %v", d.Name, c.offset, err)
			}
			// A filter applied before deflate may have added bytes (Fletcher-32's four).
			out, err := io.ReadAll(io.LimitReader(zr, int64(chunkBytes)+5))
			if err != nil || uint64(len(out)) > chunkBytes+4 {
				fail("dataset %s: chunk at %v does not inflate to its %d bytes (%d, %v)", d.Name, c.offset, chunkBytes, len(out), err)
			}
			data = out
		case filterShuffle:
			size := d.Type.Size
			if len(fl.cd) > 0 {
				size = int(fl.cd[0])
			}
			data = unshuffle(data, size)
		}
	}
	if uint64(len(data)) != chunkBytes {
		fail("dataset %s: chunk at %v holds %d bytes, not %d", d.Name, c.offset, len(data), chunkBytes)
	}
	return data
}

// fletcher32 is HDF5's Fletcher-32 checksum (H5_checksum_fletcher32): over big-endian 16-bit
// words, an odd last byte as the high byte of a word. HDF5 also accepts the checksum with the
// bytes of each half swapped, as older versions wrote it.
func fletcher32(p []byte) uint32 {
	var sum1, sum2 uint32
	for len(p) >= 2 {
		n := min(len(p)/2, 360)
		for range n {
			sum1 += uint32(p[0])<<8 | uint32(p[1])
			sum2 += sum1
			p = p[2:]
		}
		sum1 = sum1&0xffff + sum1>>16
		sum2 = sum2&0xffff + sum2>>16
	}
	if len(p) == 1 {
		sum1 += uint32(p[0]) << 8
		sum2 += sum1
		sum1 = sum1&0xffff + sum1>>16
		sum2 = sum2&0xffff + sum2>>16
	}
	sum1 = sum1&0xffff + sum1>>16
	sum2 = sum2&0xffff + sum2>>16
	return sum2<<16 | sum1
}

// unshuffle undoes HDF5's shuffle filter: byte j of every element is stored together; bytes
// beyond the last whole element are left in place.
func unshuffle(p []byte, size int) []byte {
	if size <= 1 || len(p) < size {
		return p
	}
	n := len(p) / size
	out := make([]byte, len(p))
	for j := range size {
		src := p[j*n : (j+1)*n]
		for i, c := range src {
			out[i*size+j] = c
		}
	}
	copy(out[n*size:], p[n*size:])
	return out
}

// place copies the elements of a whole chunk (row-major over d.Chunk) at offset that lie in
// the slab (start, count) to their places in out (row-major over count).
func (d *Dataset) place(out, data []byte, offset, start, count []uint64) {
	rank := len(d.Dims)
	size := uint64(d.Type.Size)
	if rank == 0 {
		copy(out, data[:size])
		return
	}
	// The part of the chunk inside the slab: [lo, hi) along each dimension.
	lo, hi := make([]uint64, rank), make([]uint64, rank)
	for k := range rank {
		lo[k] = max(offset[k], start[k])
		hi[k] = min(offset[k]+d.Chunk[k], start[k]+count[k])
		if lo[k] >= hi[k] {
			return
		}
	}
	last := rank - 1
	rowLen := (hi[last] - lo[last]) * size
	p := slices.Clone(lo) // the position in the dataset over the leading dimensions
	for {
		src, dst := uint64(0), uint64(0)
		for k := range rank {
			src = src*d.Chunk[k] + p[k] - offset[k]
			dst = dst*count[k] + p[k] - start[k]
		}
		copy(out[dst*size:dst*size+rowLen], data[src*size:])
		k := last - 1
		for ; k >= 0; k-- {
			if p[k]++; p[k] < hi[k] {
				break
			}
			p[k] = lo[k]
		}
		if k < 0 {
			return
		}
	}
}
