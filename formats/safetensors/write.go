package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/qzoo/qzoo/internal/atomicfile"
	"github.com/qzoo/qzoo/quant"
)

// Tensor is one tensor to write: its raw little-endian row-major bytes, len(Data) =
// DType.Size() × the product of Shape.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// FromFloat32 encodes values (row-major, of the given shape) as a tensor of dtype F32, F16
// (round to nearest even, quant.ToFloat16) or BF16 (round to nearest even).
func FromFloat32(name string, dtype DType, shape []int, values []float32) (Tensor, error) {
	if n := product(shape); n != len(values) {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: shape %v holds %d values, got %d", name, shape, n, len(values))
	}
	size := dtype.Size()
	switch dtype {
	case F32, F16, BF16:
	default:
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: FromFloat32 writes F32, F16 or BF16, not %q", name, dtype)
	}
	data := make([]byte, size*len(values))
	le := binary.LittleEndian
	for k, v := range values {
		switch dtype {
		case F32:
			le.PutUint32(data[4*k:], math.Float32bits(v))
		case F16:
			le.PutUint16(data[2*k:], quant.ToFloat16(v))
		case BF16:
			le.PutUint16(data[2*k:], toBFloat16(v))
		}
	}
	return Tensor{Name: name, DType: dtype, Shape: shape, Data: data}, nil
}

// FromInt64 encodes values (row-major, of the given shape) as a tensor of dtype I64 or I32 (a
// value outside the int32 range is an error).
func FromInt64(name string, dtype DType, shape []int, values []int64) (Tensor, error) {
	if n := product(shape); n != len(values) {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: shape %v holds %d values, got %d", name, shape, n, len(values))
	}
	if dtype != I64 && dtype != I32 {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: FromInt64 writes I64 or I32, not %q", name, dtype)
	}
	data := make([]byte, dtype.Size()*len(values))
	for k, v := range values {
		if dtype == I64 {
			binary.LittleEndian.PutUint64(data[8*k:], uint64(v))
			continue
		}
		if v != int64(int32(v)) {
			return Tensor{}, fmt.Errorf("safetensors: tensor %q: element %d (%d) is outside the I32 range", name, k, v)
		}
		binary.LittleEndian.PutUint32(data[4*k:], uint32(v))
	}
	return Tensor{Name: name, DType: dtype, Shape: shape, Data: data}, nil
}

// toBFloat16 rounds f to the nearest bfloat16 (ties to even), keeping NaNs NaN.
func toBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40 // a quiet NaN, whatever its low bits were
	}
	return uint16((b + 0x7FFF + (b>>16)&1) >> 16)
}

func product(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Encode writes the tensors, in order, and metadata (nil for none) as a safetensors file to w.
// It refuses a tensor whose Data does not match its DType and Shape, and a name given twice or
// equal to "__metadata__".
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	var h bytes.Buffer
	h.WriteByte('{')
	seen := map[string]bool{metadataKey: true}
	offset := int64(0)
	for i, t := range tensors {
		if seen[t.Name] {
			return fmt.Errorf("safetensors: tensor %q is given twice (or is the reserved %q)", t.Name, metadataKey)
		}
		seen[t.Name] = true
		if t.DType.Size() == 0 || t.DType.Size()*product(t.Shape) != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q: %d bytes for shape %v of dtype %q", t.Name, len(t.Data), t.Shape, t.DType)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{} // a scalar: "shape": []
		}
		entry, err := json.Marshal(map[string]any{"dtype": t.DType, "shape": shape, "data_offsets": [2]int64{offset, offset + int64(len(t.Data))}})
		if err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		name, _ := json.Marshal(t.Name)
		if i > 0 {
			h.WriteByte(',')
		}
		h.Write(name)
		h.WriteByte(':')
		h.Write(entry)
		offset += int64(len(t.Data))
	}
	if metadata != nil {
		meta, err := json.Marshal(metadata)
		if err != nil {
			return fmt.Errorf("safetensors: metadata: %w", err)
		}
		if len(tensors) > 0 {
			h.WriteByte(',')
		}
		h.WriteString(`"` + metadataKey + `":`)
		h.Write(meta)
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	bw := bufio.NewWriter(w)
	if err := binary.Write(bw, binary.LittleEndian, uint64(h.Len())); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	bw.Write(h.Bytes())
	for _, t := range tensors {
		bw.Write(t.Data)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// Write writes the tensors and metadata as the safetensors file path (see [Encode]), atomically:
// a reader sees the old file or the whole new one.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer f.Abort()
	if err := Encode(f, tensors, metadata); err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return nil
}
