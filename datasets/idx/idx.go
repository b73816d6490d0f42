// Package idx reads arrays stored in the IDX format, the format of MNIST and Fashion-MNIST
// (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE").
//
// An IDX file is a 4-byte magic number — two zero bytes, a data-type byte and the number of
// dimensions — followed by one big-endian uint32 per dimension and the row-major data. Only
// the unsigned-byte type (0x08), the one MNIST-like datasets use, is supported.
//
// Every size read from a header is checked before anything is allocated, so a corrupt or
// hostile file yields an error, never a panic or a huge allocation.
package idx

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxDims is the largest number of dimensions Read accepts.
const MaxDims = 4

// TypeUint8 is the IDX data-type byte of unsigned bytes, the only type supported.
const TypeUint8 = 0x08

// typeNames names the other data types defined by the format, for error messages.
var typeNames = map[byte]string{
	0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64",
}

// Array is an IDX array of unsigned bytes in row-major order.
type Array struct {
	// Dims are the dimensions, outermost first, e.g. [60000 28 28] for MNIST's training images.
	Dims []int
	// Data holds product(Dims) values.
	Data []uint8
}

// Read parses one IDX array of type uint8 from r. The array may hold at most maxElements
// values (the product of its dimensions); larger headers are rejected before allocating.
// Read stops right after the data: it does not check that r is exhausted.
func Read(r io.Reader, maxElements int64) (*Array, error) {
	a, err := read(r, maxElements)
	if err != nil {
		return nil, fmt.Errorf("idx: %w", err)
	}
	return a, nil
}

// ReadFile reads the IDX file at path, decompressing it if it is gzip-compressed (detected by
// its magic bytes 1f 8b, not by its name). Unlike Read, it requires the data to end the file,
// which for gzip files also verifies the gzip checksum. Errors name the file.
func ReadFile(path string, maxElements int64) (*Array, error) {
	a, err := readFile(path, maxElements)
	if err != nil {
		return nil, fmt.Errorf("idx: %s: %w", path, err)
	}
	return a, nil
}

func readFile(path string, maxElements int64) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		defer gz.Close()
		r = gz
	}
	a, err := read(r, maxElements)
	if err != nil {
		return nil, err
	}
	// Reaching the end makes gzip verify its checksum; one more byte means trailing garbage.
	var extra [1]byte
	switch n, err := io.ReadFull(r, extra[:]); {
	case n > 0:
		return nil, fmt.Errorf("after data: unexpected trailing bytes")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("after data: gzip stream truncated: %w", err)
	case err != io.EOF:
		return nil, fmt.Errorf("after data: %w", err)
	}
	return a, nil
}

func read(r io.Reader, maxElements int64) (*Array, error) {
	if maxElements <= 0 {
		return nil, fmt.Errorf("maxElements must be positive, got %d", maxElements)
	}
	var magic [4]byte
	if n, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("magic: expected 4 bytes, got %d: %w", n, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("magic: first two bytes must be zero, got %#02x %#02x (not an IDX file?)",
			magic[0], magic[1])
	}
	if dtype := magic[2]; dtype != TypeUint8 {
		if name, ok := typeNames[dtype]; ok {
			return nil, fmt.Errorf("data type: %#02x (%s) is not supported, only %#02x (uint8) is", dtype, name, TypeUint8)
		}
		return nil, fmt.Errorf("data type: %#02x is not a valid IDX type (only %#02x, uint8, is supported)", dtype, TypeUint8)
	}
	ndims := int(magic[3])
	if ndims < 1 || ndims > MaxDims {
		return nil, fmt.Errorf("number of dimensions: got %d, want 1 to %d", ndims, MaxDims)
	}
	header := make([]byte, 4*ndims)
	if n, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("dimensions: expected %d bytes, got %d: %w", len(header), n, err)
	}
	dims := make([]int, ndims)
	size := int64(1)
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(header[4*i:]))
		if d == 0 {
			return nil, fmt.Errorf("dimension %d: must be positive, got 0", i)
		}
		// d ≥ 1 and size ≤ maxElements, so the check below cannot overflow.
		if size > maxElements/d {
			return nil, fmt.Errorf("dimension %d: %d makes the array larger than the limit of %d elements", i, d, maxElements)
		}
		size *= d
		dims[i] = int(d)
	}
	data := make([]uint8, size)
	if n, err := io.ReadFull(r, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("data: truncated: expected %d bytes for dimensions %v, got %d", size, dims, n)
		}
		return nil, fmt.Errorf("data: expected %d bytes, got %d: %w", size, n, err)
	}
	return &Array{Dims: dims, Data: data}, nil
}
