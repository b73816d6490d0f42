// Package checkpoint saves every variable of a model.Store (weights, optimizer state, global
// step, RNG state) into one self-checking file per training step, and restores them.
//
// Why not GoMLX's ml/model/checkpoint: it writes a JSON file and a binary file in place, one
// after the other, so a run killed while saving leaves a half-written or mismatched pair that
// the next run then resumes from. Here a checkpoint is a single file, written under a
// temporary name, fsynced and renamed into place (rename is atomic on POSIX file systems):
// readers see the whole new checkpoint or none of it. A CRC over the whole file catches what
// happens to it later (a truncated copy, a flipped bit).
//
// File layout, integers little-endian:
//
//	offset   size  content
//	0        8     magic "QZOOCKPT"
//	8        4     format version, uint32 (FormatVersion)
//	12       4     header length H, uint32, at most MaxHeaderLen
//	16       H     header: the JSON encoding of Header
//	16+H     D     tensor data: the raw bytes of each variable in header order, contiguous;
//	               variable i occupies [16+H+Offset_i, 16+H+Offset_i+Length_i)
//	16+H+D   4     CRC-32 (Castagnoli) of bytes [0, 16+H+D)
//
// Files are named ckpt-<step zero-padded to 10 digits>.ckpt (FileName), so a directory listing
// sorts by step; temporary files are named .ckpt-*.tmp and List, Latest and Prune ignore them.
// Runs written before checkpoints had an extension of their own named them ckpt-*.qzc
// (LegacyExt), the extension of the codec's compressed files (formats/qzc): List finds them
// too, so such runs resume, evaluate and decompress as before; new checkpoints are .ckpt.
//
// Load validates the whole file (magic, version, checksum, and every offset, length, shape and
// dtype against the file size, before allocating) and decodes all tensors before it touches the
// store: a corrupt or mismatching checkpoint returns an error naming the file and the field,
// and leaves the store as it was.
//
// Hyperparameters set with model.Store.SetParam are not saved: the caller passes the resolved
// config in the header's Meta, from which a resumed run rebuilds the same model.
package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/atomicfile"
)

const (
	// Magic opens every checkpoint file.
	Magic = "QZOOCKPT"
	// FormatVersion is the version Save writes; Load accepts only this version.
	FormatVersion uint32 = 1
	// MaxHeaderLen bounds the JSON header Load accepts, so that a corrupt length field cannot
	// make it allocate gigabytes.
	MaxHeaderLen = 64 << 20

	prefixLen = 16 // magic, version, header length
	crcLen    = 4
	maxRank   = 64            // far above any real tensor; bounds the work on a corrupt header
	maxDim    = math.MaxInt32 // per axis
)

// ErrNoCheckpoint is returned (wrapped) by Latest when a directory holds no checkpoint or does
// not exist: a run that gets it starts from scratch.
var ErrNoCheckpoint = errors.New("checkpoint: no checkpoint found")

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	fileNameRE = regexp.MustCompile(`^ckpt-([0-9]+)(\.ckpt|\.qzc)$`)

	// supportedDTypes are the dtypes with a whole number of bytes per element whose Go
	// representation is the raw little-endian value (sub-byte and float8 types are left out).
	supportedDTypes = map[string]dtypes.DType{}
)

func init() {
	for _, dt := range []dtypes.DType{dtypes.Bool, dtypes.Int8, dtypes.Int16, dtypes.Int32,
		dtypes.Int64, dtypes.Uint8, dtypes.Uint16, dtypes.Uint32, dtypes.Uint64, dtypes.Float16,
		dtypes.BFloat16, dtypes.Float32, dtypes.Float64, dtypes.Complex64, dtypes.Complex128} {
		supportedDTypes[dt.String()] = dt
	}
}

// Header is the JSON header of a checkpoint file.
type Header struct {
	// Step is the training step the checkpoint was saved at.
	Step int64 `json:"step"`
	// Created is when Save wrote the file (UTC).
	Created time.Time `json:"created"`
	// Meta is free JSON passed by the caller of Save, e.g. the resolved config and model name.
	Meta map[string]json.RawMessage `json:"meta,omitempty"`
	// Variables lists the saved variables in file order.
	Variables []VariableInfo `json:"variables"`
}

// VariableInfo describes one saved variable.
type VariableInfo struct {
	// Path is the variable's full path in the store (scope + name, as model.Variable.Path).
	Path string `json:"path"`
	// DType is the dtype name, e.g. "Float32".
	DType string `json:"dtype"`
	// Dims are the dimensions; empty for a scalar.
	Dims []int `json:"dims"`
	// Offset is where the variable's bytes start, counted from the start of the tensor data.
	Offset int64 `json:"offset"`
	// Length is the number of bytes: product of Dims × dtype size.
	Length int64 `json:"length"`
	// Trainable is the variable's model.Variable.Trainable flag.
	Trainable bool `json:"trainable"`
}

// Entry is a checkpoint file found in a directory.
type Entry struct {
	Path string
	Step int64
}

// Checkpoint file extensions: Ext is written; LegacyExt is read, from runs written before
// checkpoints had an extension of their own.
const (
	Ext       = ".ckpt"
	LegacyExt = ".qzc"
)

// FileName returns the base name of the checkpoint for step, e.g. "ckpt-0000000100.ckpt".
func FileName(step int64) string { return fmt.Sprintf("ckpt-%010d%s", step, Ext) }

// legacyFileName is FileName with LegacyExt.
func legacyFileName(step int64) string { return fmt.Sprintf("ckpt-%010d%s", step, LegacyExt) }

// Save writes all variables of store, with meta, to dir/FileName(step) atomically (see the
// package doc) and returns the file's path. dir is created if missing; an existing checkpoint
// of the same step is replaced, a legacy-named one (LegacyExt) removed once the new one is in
// place.
func Save(dir string, step int64, store *model.Store, meta map[string]json.RawMessage) (string, error) {
	return save(dir, step, store, meta, nil, nil)
}

// SaveFiltered is Save for the variables whose path keep accepts only (keep nil: all). The
// train loop leaves out state that must not outlive the process, such as GoMLX's per-trainer
// metric accumulators.
func SaveFiltered(dir string, step int64, store *model.Store, meta map[string]json.RawMessage, keep func(path string) bool) (string, error) {
	return save(dir, step, store, meta, keep, nil)
}

// save is SaveFiltered with a hook that wraps the writer of the checksummed part (tests inject failures).
func save(dir string, step int64, store *model.Store, meta map[string]json.RawMessage,
	keep func(path string) bool, wrap func(io.Writer) io.Writer) (ckptPath string, err error) {
	ckptPath = filepath.Join(dir, FileName(step))
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("checkpoint: save %s: "+format, append([]any{ckptPath}, args...)...)
	}
	if step < 0 {
		return fail("step %d < 0", step)
	}
	if store == nil {
		return fail("store is nil")
	}
	if err := requireLittleEndian(); err != nil {
		return "", err
	}
	header := &Header{Step: step, Created: time.Now().UTC(), Meta: meta}
	var values []*tensors.Tensor
	var offset int64
	for v := range store.IterVariables() {
		if keep != nil && !keep(v.Path()) {
			continue
		}
		value, err := v.Value()
		if err != nil {
			return fail("variable %q: %w", v.Path(), err)
		}
		shape := value.Shape()
		if err := checkPath(v.Path()); err != nil {
			return fail("%w", err)
		}
		if supportedDTypes[shape.DType.String()] != shape.DType {
			return fail("variable %q: dtype %s not supported", v.Path(), shape.DType)
		}
		info := VariableInfo{Path: v.Path(), DType: shape.DType.String(),
			Dims: append([]int{}, shape.Dimensions...), Offset: offset,
			Length: shape.ByteSize(), Trainable: v.Trainable}
		header.Variables = append(header.Variables, info)
		values = append(values, value)
		offset += info.Length
	}
	headerJSON, err := json.Marshal(header)
	if err != nil {
		return fail("encode header: %w", err)
	}
	if len(headerJSON) > MaxHeaderLen {
		return fail("header is %d bytes > %d", len(headerJSON), MaxHeaderLen)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail("%w", err)
	}
	tmp, err := atomicfile.Create(ckptPath)
	if err != nil {
		return fail("%w", err)
	}
	defer tmp.Abort() // on error, no temporary file stays behind and the previous checkpoints stay as they were
	buf := bufio.NewWriterSize(tmp, 1<<20)
	crc := crc32.New(castagnoli)
	var w io.Writer = io.MultiWriter(buf, crc)
	if wrap != nil {
		w = wrap(w)
	}
	head := binary.LittleEndian.AppendUint32([]byte(Magic), FormatVersion)
	head = binary.LittleEndian.AppendUint32(head, uint32(len(headerJSON)))
	if _, err := w.Write(append(head, headerJSON...)); err != nil {
		return fail("write: %w", err)
	}
	for i, value := range values {
		var writeErr error
		err := value.ConstBytes(func(data []byte) { _, writeErr = w.Write(data) })
		if err = errors.Join(err, writeErr); err != nil {
			return fail("variable %q: %w", header.Variables[i].Path, err)
		}
	}
	if _, err := buf.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return fail("write: %w", err)
	}
	if err := buf.Flush(); err != nil {
		return fail("write: %w", err)
	}
	if err := tmp.Commit(); err != nil {
		return fail("%w", err)
	}
	if err := os.Remove(filepath.Join(dir, legacyFileName(step))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail("remove the replaced checkpoint: %w", err)
	}
	return ckptPath, nil
}

// requireLittleEndian guards the raw byte copies: tensors hold native-order bytes, the format
// is little-endian.
func requireLittleEndian() error {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return errors.New("checkpoint: big-endian hosts are not supported")
	}
	return nil
}

// checkPath accepts the clean absolute paths GoMLX gives variables (e.g. "/vqae/enc/w").
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p {
		return fmt.Errorf("variable path %q is not a clean absolute path", p)
	}
	return nil
}

// ReadHeader reads and validates the checkpoint at path (everything Load checks except the
// store) and returns its header; tools use it to read Meta without building a model.
func ReadHeader(ckptPath string) (*Header, error) {
	data, err := os.ReadFile(ckptPath)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	header, _, err := parse(ckptPath, data)
	return header, err
}

// Load validates the checkpoint at path and sets each of its variables in store, creating
// the missing ones, with the saved value and trainable flag. Variables of store that the
// checkpoint lacks are left alone. On error the store is unchanged. The whole file is read
// into memory (checkpoints here are megabytes, and the CRC covers all of it).
func Load(ckptPath string, store *model.Store) (*Header, error) {
	if store == nil {
		return nil, fmt.Errorf("checkpoint: load %s: store is nil", ckptPath)
	}
	if err := requireLittleEndian(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(ckptPath)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return load(ckptPath, data, store)
}

// load is Load on the file's contents, data.
func load(ckptPath string, data []byte, store *model.Store) (*Header, error) {
	header, tensorData, err := parse(ckptPath, data)
	if err != nil {
		return nil, err
	}
	existing := map[string]*model.Variable{} // Not store.GetVariable: it may trigger a loader.
	for v := range store.IterVariables() {
		existing[v.Path()] = v
	}
	values := make([]*tensors.Tensor, len(header.Variables))
	for i, info := range header.Variables {
		shape := shapes.Make(supportedDTypes[info.DType], info.Dims...)
		if v := existing[info.Path]; v != nil && !v.Shape().Equal(shape) {
			return nil, fmt.Errorf("checkpoint: %s: variable %q: shape %s != %s in the store",
				ckptPath, info.Path, shape, v.Shape())
		}
		values[i] = tensors.FromShape(shape)
		if err := values[i].MutableBytes(func(b []byte) {
			copy(b, tensorData[info.Offset:info.Offset+info.Length])
		}); err != nil {
			return nil, fmt.Errorf("checkpoint: %s: variable %q: %w", ckptPath, info.Path, err)
		}
	}
	// Everything is validated and decoded: only now touch the store.
	for i, info := range header.Variables {
		v := existing[info.Path]
		if v == nil {
			v, err = store.CreateVariable(info.Path, values[i])
		} else {
			err = v.SetValue(values[i])
		}
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %s: variable %q: set value (store partially updated): %w",
				ckptPath, info.Path, err)
		}
		v.Trainable = info.Trainable
	}
	return header, nil
}

// parse validates data, the contents of file ckptPath, and returns its header and its tensor
// data section. Every bound is checked before anything is allocated from it.
func parse(ckptPath string, data []byte) (*Header, []byte, error) {
	fail := func(format string, args ...any) (*Header, []byte, error) {
		return nil, nil, fmt.Errorf("checkpoint: %s: "+format, append([]any{ckptPath}, args...)...)
	}
	if len(data) < prefixLen+crcLen {
		return fail("file is %d bytes < %d: truncated", len(data), prefixLen+crcLen)
	}
	if string(data[:len(Magic)]) != Magic {
		return fail("magic %q != %q: not a qzoo checkpoint", data[:len(Magic)], Magic)
	}
	if version := binary.LittleEndian.Uint32(data[8:12]); version != FormatVersion {
		return fail("format version %d not supported (want %d)", version, FormatVersion)
	}
	body := data[:len(data)-crcLen]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(data[len(body):]); got != want {
		return fail("CRC32C %08x != stored %08x: file corrupt or truncated", got, want)
	}
	headerLen := int64(binary.LittleEndian.Uint32(data[12:16]))
	if headerLen > MaxHeaderLen {
		return fail("header length %d > %d", headerLen, MaxHeaderLen)
	}
	if prefixLen+headerLen > int64(len(body)) {
		return fail("header length %d exceeds the file (%d bytes)", headerLen, len(data))
	}
	header := &Header{}
	dec := json.NewDecoder(bytes.NewReader(body[prefixLen : prefixLen+headerLen]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(header); err != nil {
		return fail("header: %w", err)
	}
	if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
		return fail("header: data after the JSON object")
	}
	if header.Step < 0 {
		return fail("step %d < 0", header.Step)
	}
	if m := fileNameRE.FindStringSubmatch(filepath.Base(ckptPath)); m != nil {
		if nameStep, err := strconv.ParseInt(m[1], 10, 64); err == nil && nameStep != header.Step {
			return fail("step %d != %d in the file name", header.Step, nameStep)
		}
	}

	tensorData := body[prefixLen+headerLen:]
	seen := map[string]bool{}
	var offset int64
	for _, info := range header.Variables {
		if err := checkVariable(info, offset, int64(len(tensorData))); err != nil {
			return fail("%w", err)
		}
		if seen[info.Path] {
			return fail("variable %q: saved twice", info.Path)
		}
		seen[info.Path] = true
		if info.DType == dtypes.Bool.String() {
			for _, b := range tensorData[info.Offset : info.Offset+info.Length] {
				if b > 1 {
					return fail("variable %q: bool byte %d is neither 0 nor 1", info.Path, b)
				}
			}
		}
		offset += info.Length
	}
	if offset != int64(len(tensorData)) {
		return fail("tensor data is %d bytes, variables account for %d", len(tensorData), offset)
	}
	return header, tensorData, nil
}

// checkVariable validates one header entry, expected at offset in a tensor data section of
// dataLen bytes.
func checkVariable(info VariableInfo, offset, dataLen int64) error {
	if err := checkPath(info.Path); err != nil {
		return err
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("variable %q: "+format, append([]any{info.Path}, args...)...)
	}
	dtype, ok := supportedDTypes[info.DType]
	if !ok {
		return fail("unknown dtype %q", info.DType)
	}
	if len(info.Dims) > maxRank {
		return fail("rank %d > %d", len(info.Dims), maxRank)
	}
	dimStrs := make([]string, len(info.Dims))
	hasZero := false
	for axis, dim := range info.Dims {
		if dim < 0 || dim > maxDim {
			return fail("dims[%d] = %d out of [0, %d]", axis, dim, maxDim)
		}
		hasZero = hasZero || dim == 0
		dimStrs[axis] = strconv.Itoa(dim)
	}
	elements := int64(0)
	if !hasZero {
		// Each element takes at least one byte, so elements ≤ dataLen bounds the product
		// before it can overflow.
		elements = 1
		for _, dim := range info.Dims {
			if elements > dataLen/int64(dim) {
				return fail("dims %v need more than the %d bytes of tensor data", info.Dims, dataLen)
			}
			elements *= int64(dim)
		}
	}
	if want := elements * int64(dtype.Size()); info.Length != want {
		dimsText := strings.Join(dimStrs, "·")
		if dimsText == "" {
			dimsText = "1 (scalar)"
		}
		return fail("length %d != %s × %d bytes (%s) = %d", info.Length, dimsText, dtype.Size(), info.DType, want)
	}
	if info.Offset != offset {
		return fail("offset %d != %d, the end of the previous variable", info.Offset, offset)
	}
	if info.Length > dataLen-offset {
		return fail("bytes [%d, %d) exceed the %d bytes of tensor data", offset, offset+info.Length, dataLen)
	}
	return nil
}

// List returns the checkpoints in dir sorted by increasing step. Only names of the form
// FileName produces count, with Ext or LegacyExt (of one step, a LegacyExt file sorts before
// the Ext one, which Latest then picks); temporary files and anything else are ignored.
func List(dir string) ([]Entry, error) {
	dirEntries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list: %w", err)
	}
	var entries []Entry
	for _, de := range dirEntries {
		m := fileNameRE.FindStringSubmatch(de.Name())
		if m == nil || !de.Type().IsRegular() {
			continue
		}
		step, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil { // More digits than an int64 holds: not ours.
			continue
		}
		entries = append(entries, Entry{Path: filepath.Join(dir, de.Name()), Step: step})
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].Step != entries[j].Step {
			return entries[i].Step < entries[j].Step
		}
		if li, lj := strings.HasSuffix(entries[i].Path, LegacyExt), strings.HasSuffix(entries[j].Path, LegacyExt); li != lj {
			return li
		}
		return entries[i].Path < entries[j].Path
	})
	return entries, nil
}

// Latest returns the checkpoint of dir with the highest step. It looks at names only; Load
// validates the contents. A missing or empty dir gives an error wrapping ErrNoCheckpoint.
func Latest(dir string) (ckptPath string, step int64, err error) {
	entries, err := List(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return "", 0, fmt.Errorf("%w in %s", ErrNoCheckpoint, dir)
	}
	if err != nil {
		return "", 0, err
	}
	last := entries[len(entries)-1]
	return last.Path, last.Step, nil
}

// Prune removes all checkpoints of dir but the keep ones with the highest steps; keep must
// be at least 1, so the newest checkpoint is never removed.
func Prune(dir string, keep int) error {
	if keep < 1 {
		return fmt.Errorf("checkpoint: prune %s: keep = %d < 1 would remove the newest checkpoint", dir, keep)
	}
	entries, err := List(dir)
	if err != nil {
		return err
	}
	for _, e := range entries[:max(0, len(entries)-keep)] {
		if err := os.Remove(e.Path); err != nil {
			return fmt.Errorf("checkpoint: prune: %w", err)
		}
	}
	return nil
}
