package h5

import (
	"math/bits"
)

// This file reads a group's links in dense storage (netCDF-C's groups of more than eight
// objects): link messages in a fractal heap, found through the version-2 B-tree of their
// names' hashes (records of type 5: a hash and a heap ID).

// fractalHeap is what dense links need of a fractal heap header.
type fractalHeap struct {
	f            *File
	addr         uint64
	idLen        int
	width        uint64
	start        uint64 // starting block size
	maxDirect    uint64 // maximum direct block size
	maxHeapBits  int
	root         uint64
	rootRows     int
	offSize      int // bytes of a heap offset in a heap ID and in block headers
	lenSize      int // bytes of an object length in a heap ID
	maxDirectRow int // rows of direct blocks in an indirect block
	blocks       []heapBlock
}

type heapBlock struct{ offset, addr, size uint64 }

// denseLinks adds the links of the fractal heap at heapAddr, indexed by the version-2
// B-tree at treeAddr, to links.
func (f *File) denseLinks(heapAddr, treeAddr uint64, links map[string]uint64) {
	h := f.fractalHeap(heapAddr)
	for _, rec := range f.btree2Records(treeAddr, 5) {
		id := rec[4:] // after the name's hash
		if len(id) < 1+h.offSize+h.lenSize {
			fail("dense link: heap ID of %d bytes", len(id))
		}
		if kind := id[0] >> 4 & 3; id[0]>>6 != 0 || kind != 0 {
			unsupported("dense link stored as a huge or tiny fractal heap object (ID type %d)", kind)
		}
		b := &buf{f: f, b: id[1:], what: "heap ID"}
		off, n := b.uint(h.offSize), b.uint(h.lenSize)
		name, target, hard := f.link(h.object(off, n))
		if hard {
			links[name] = target
		}
		if len(links) > maxLinks {
			fail("more than %d links", maxLinks)
		}
	}
}

// fractalHeap reads a fractal heap header and the map of its direct blocks.
func (f *File) fractalHeap(addr uint64) *fractalHeap {
	b := &buf{f: f, b: f.readUpTo(addr, 256, "fractal heap header"), what: "fractal heap header"}
	b.sig("FRHP")
	b.skip(1)
	h := &fractalHeap{f: f, addr: addr, idLen: int(b.u16())}
	if filters := b.u16(); filters != 0 {
		unsupported("fractal heap with I/O filters")
	}
	b.skip(1) // flags
	maxManaged := uint64(b.u32())
	b.length()    // next huge object ID
	b.addr()      // huge objects' B-tree
	b.length()    // free space
	b.addr()      // free-space manager
	for range 8 { // managed space, allocated, iterator offset, managed/huge/tiny sizes and counts
		b.length()
	}
	h.width = uint64(b.u16())
	h.start, h.maxDirect = b.length(), b.length()
	h.maxHeapBits = int(b.u16())
	b.u16() // starting rows of the root indirect block
	h.root = b.addr()
	h.rootRows = int(b.u16())
	pow2 := func(x uint64) bool { return x != 0 && x&(x-1) == 0 }
	if h.width == 0 || h.width > 1<<16 || !pow2(h.start) || !pow2(h.maxDirect) || h.maxDirect < h.start ||
		h.maxHeapBits < 1 || h.maxHeapBits > 64 || h.rootRows > 64 {
		fail("fractal heap header at %d: width %d, block sizes %d..%d, %d bits", addr, h.width, h.start, h.maxDirect, h.maxHeapBits)
	}
	h.offSize = (h.maxHeapBits + 7) / 8
	h.lenSize = min((bits.Len64(h.maxDirect-1)+7)/8, bits.Len64(maxManaged)/8+1)
	h.maxDirectRow = bits.Len64(h.maxDirect) - bits.Len64(h.start) + 2
	if h.root == undefined {
		return h
	}
	if h.rootRows == 0 {
		h.blocks = append(h.blocks, heapBlock{0, h.root, h.start})
	} else {
		f.indirectBlock(h, h.root, h.rootRows, 0, map[uint64]bool{})
	}
	return h
}

// rowSize returns the size of the blocks of row r of a doubling table.
func (h *fractalHeap) rowSize(r int) uint64 {
	if r == 0 {
		return h.start
	}
	return h.start << (r - 1)
}

// indirectBlock adds the direct blocks under the indirect block at addr (of rows rows,
// starting at heap offset offset) to h.blocks.
func (f *File) indirectBlock(h *fractalHeap, addr uint64, rows int, offset uint64, visited map[uint64]bool) {
	if visited[addr] || len(visited) > 1<<10 || len(h.blocks) > 1<<16 || rows > 64 {
		fail("fractal heap: an indirect block loop, more than 1024 indirect or 65536 direct blocks, or more than 64 rows")
	}
	visited[addr] = true
	direct := min(rows, h.maxDirectRow)
	n := uint64(rows) * h.width
	b := &buf{f: f, b: f.read(addr, 5+uint64(f.sO+h.offSize)+n*uint64(f.sO), "fractal heap indirect block"), what: "fractal heap indirect block"}
	b.sig("FHIB")
	b.skip(1 + f.sO + h.offSize)
	for r := range rows {
		size := h.rowSize(r)
		for range h.width {
			child := b.addr()
			if child != undefined {
				if r < direct {
					h.blocks = append(h.blocks, heapBlock{offset, child, size})
				} else {
					childRows := bits.Len64(size) - bits.Len64(h.start*h.width) + 1
					f.indirectBlock(h, child, childRows, offset, visited)
				}
			}
			offset += size
		}
	}
}

// object returns the n bytes of the managed object at heap offset off.
func (h *fractalHeap) object(off, n uint64) []byte {
	for _, blk := range h.blocks {
		if off >= blk.offset && off-blk.offset < blk.size {
			in := off - blk.offset
			if n > blk.size-in {
				fail("fractal heap object of %d bytes at %d overruns its block", n, off)
			}
			return h.f.read(blk.addr+in, n, "fractal heap object")
		}
	}
	fail("fractal heap: no block holds offset %d", off)
	return nil
}

// btree2Records returns the records of the version-2 B-tree at addr, which must be of the
// given type.
func (f *File) btree2Records(addr uint64, typ uint8) [][]byte {
	b := &buf{f: f, b: f.readUpTo(addr, 64, "v2 B-tree header"), what: "v2 B-tree header"}
	b.sig("BTHD")
	b.skip(1)
	if t := b.u8(); t != typ {
		fail("v2 B-tree of type %d, want %d", t, typ)
	}
	nodeSize, recSize, depth := uint64(b.u32()), int(b.u16()), int(b.u16())
	b.skip(2)
	root := b.addr()
	rootRecords := uint64(b.u16())
	if nodeSize < 16 || nodeSize > 1<<20 || recSize < 1 || uint64(recSize) > nodeSize || depth > maxTreeDepth {
		fail("v2 B-tree: nodes of %d bytes, records of %d, depth %d", nodeSize, recSize, depth)
	}
	// Field widths (HDF5's H5B2__hdr_init): the records a node holds at each depth and the
	// bytes that count them in the pointers of internal nodes.
	encSize := func(n uint64) int { return bits.Len64(n)/8 + 1 }
	maxRec := make([]uint64, depth+1)
	cumMax := make([]uint64, depth+1)
	cumSize := make([]int, depth+1)
	maxRec[0] = (nodeSize - 10) / uint64(recSize)
	cumMax[0] = maxRec[0]
	maxRecSize := encSize(maxRec[0])
	for u := 1; u <= depth; u++ {
		ptr := uint64(f.sO + maxRecSize + cumSize[u-1])
		maxRec[u] = (nodeSize - 10 - ptr) / (uint64(recSize) + ptr)
		cumMax[u] = (maxRec[u]+1)*cumMax[u-1] + maxRec[u]
		cumSize[u] = encSize(cumMax[u])
	}
	var out [][]byte
	visited := map[uint64]bool{}
	var walk func(addr uint64, n uint64, level int)
	walk = func(addr uint64, n uint64, level int) {
		if visited[addr] || n > maxRec[level] {
			fail("v2 B-tree: a loop, or a node of %d records", n)
		}
		visited[addr] = true
		node := &buf{f: f, b: f.read(addr, nodeSize, "v2 B-tree node"), what: "v2 B-tree node"}
		if level == 0 {
			node.sig("BTLF")
		} else {
			node.sig("BTIN")
		}
		node.skip(2)
		for range n {
			out = append(out, node.bytes(recSize))
		}
		if level == 0 {
			return
		}
		for range n + 1 {
			child := node.addr()
			count := node.uint(maxRecSize)
			if level > 1 {
				node.uint(cumSize[level-1])
			}
			walk(child, count, level-1)
		}
	}
	if root != undefined && rootRecords > 0 {
		walk(root, rootRecords, depth)
	}
	return out
}
