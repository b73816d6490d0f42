package netcdf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/batchatco/go-native-netcdf/netcdf/cdf"
	"github.com/batchatco/go-native-netcdf/netcdf/hdf5"
)

// readerEnv is the environment variable that turns a process into a reader: set to
// readerProtocol, the package's init reads one request from stdin, answers on file
// descriptor 3 and exits, before main or the tests run. Never set it yourself.
const (
	readerEnv      = "QZOO_NETCDF_READER"
	readerProtocol = "1"
)

func init() {
	if os.Getenv(readerEnv) == readerProtocol {
		os.Exit(serveRead(os.Stdin, os.NewFile(3, "netcdf-reply")))
	}
}

// readRequest is what Read sends the reader process.
type readRequest struct {
	Path        string
	Options     ReadOptions
	Inspect     bool   // metadata only: no values but the coordinates' (see Inspect)
	MemoryLimit uint64 // address space allowed to the reader beyond what it has mapped at the start, bytes
}

// readReply is what the reader process answers: a File or an error. It travels gob-encoded
// after its length (8 bytes, big-endian); the values of the variables follow it as raw
// little-endian float32s, Values[i] of them for File.Vars[i] (whose Data is left nil in the
// gob), which costs a fraction of gob's []float32 encoding.
type readReply struct {
	File    *File
	Values  []int64
	Err     string
	ErrKind int // index into errorKinds
}

// maxReplyHeader bounds the gob part of a reply: coordinates and attributes.
const maxReplyHeader = 64 << 20

// errorKinds are the sentinel errors that cross the process boundary, by index (0: none).
var errorKinds = []error{nil, ErrNotNetCDF, ErrNoVariable, ErrNotField, ErrTooLarge, ErrMissingValues, ErrReaderFailed, ErrTimeRange}

// readError is an error of Read: its message names the file; it wraps a sentinel.
type readError struct {
	msg  string
	kind error
}

func (e *readError) Error() string { return e.msg }
func (e *readError) Unwrap() error { return e.kind }

// readErrorf returns a readError "netcdf: read PATH: <message>" of the given kind.
func readErrorf(path string, kind error, format string, args ...any) error {
	return &readError{msg: fmt.Sprintf("netcdf: read %s: ", path) + fmt.Sprintf(format, args...), kind: kind}
}

func (o ReadOptions) withDefaults() ReadOptions {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxValues <= 0 {
		o.MaxValues = DefaultMaxValues
	}
	return o
}

// Read reads the gridded variables of a netCDF-3 or netCDF-4 file in physical units.
//
// The variables asked for (opts.Variables; nil: every variable shaped like a field) must
// have dimensions (time, latitude, longitude) or (time, level, latitude, longitude), named
// time or valid_time, level or pressure_level, latitude or lat, longitude or lon, with a
// coordinate variable each, plus optionally number or expver dimensions of size 1; they may
// be stored as any integer type (CF-packed or not) or float. Values are decoded after the CF
// conventions into float32, missing values as NaN counted in Variable.Missing (see the
// package documentation; [File.Complete] refuses them).
//
// opts.TimeStart and opts.TimeCount read a range of hours [TimeStart, TimeStart+TimeCount)
// (TimeCount 0: to the end): File.Time.Values holds their times, each variable's Shape[0]
// is their number and Data only their values; File.TimeStart and File.TimeTotal say where
// they are in the file's time axis. Only their bytes are read and allocated (netCDF-3: at
// their offsets, record variables included; netCDF-4: the chunks that hold them, contiguous
// data at their offsets), so that memory is bounded by the range however long the file, and
// opts.MaxValues bounds the range's values. A range not within the time axis is refused,
// naming the file, the range and the axis's length ([ErrTimeRange]).
//
// The netCDF library runs in a child process (this binary re-executed), so that a damaged
// file that makes it panic, loop or exit cannot kill or hang the caller: see the package
// documentation. Read fails, with an error naming the file (and the variable, attribute or
// position where relevant) that wraps one of the Err* sentinels, when the file is missing,
// empty, not netCDF, damaged or stored in a way this package does not read ([ErrNotNetCDF],
// [ErrReaderFailed]), lacks a variable (ErrNoVariable, listing those present), has a
// variable that is not a field or whose coding attributes are unusable (ErrNotField), too
// large (ErrTooLarge), or with values that unpack to infinities ([ErrMissingValues]).
func Read(path string, opts ReadOptions) (*File, error) {
	opts = opts.withDefaults()
	if opts.TimeStart < 0 || opts.TimeCount < 0 {
		return nil, readErrorf(path, ErrTimeRange, "ReadOptions.TimeStart %d and TimeCount %d must not be negative", opts.TimeStart, opts.TimeCount)
	}
	f, err := runReader(path, opts, false)
	if err != nil {
		return nil, err
	}
	if err := f.Check(); err != nil {
		return nil, readErrorf(path, ErrReaderFailed, "the netCDF reader answered an inconsistent file: %v", err)
	}
	if f.TimeStart != opts.TimeStart || f.TimeStart+f.Hours() > f.TimeTotal || opts.TimeCount > 0 && f.Hours() != opts.TimeCount {
		return nil, readErrorf(path, ErrReaderFailed, "the netCDF reader answered hours [%d, %d) of %d for the range asked from %d of %d",
			f.TimeStart, f.TimeStart+f.Hours(), f.TimeTotal, opts.TimeStart, opts.TimeCount)
	}
	return f, nil
}

// Inspect returns the metadata of path's gridded variables as Read would return them, reading
// no variable's values: the coordinates (Time with the whole time axis, File.TimeTotal its
// length), the global attributes, and each variable's Dims, Shape (the whole file's: Shape[0]
// = File.TimeTotal), Attrs and Packing, with Data nil and Missing 0. It costs the same for any
// size of file. It reads in the same child process as Read and fails as Read does (the
// variables asked for by opts.Variables must exist and be fields; their coding attributes
// must be usable); opts.Timeout applies, opts.MaxValues bounds the dimensions' sizes but not
// the variables' values, which are not read, and opts.TimeStart and TimeCount are ignored.
func Inspect(path string, opts ReadOptions) (*File, error) {
	opts = opts.withDefaults()
	opts.TimeStart, opts.TimeCount = 0, 0
	f, err := runReader(path, opts, true)
	if err != nil {
		return nil, err
	}
	if err := f.check(false); err != nil || f.TimeStart != 0 || f.TimeTotal != f.Hours() {
		return nil, readErrorf(path, ErrReaderFailed, "the netCDF reader answered inconsistent metadata (time from %d, %d of %d): %v",
			f.TimeStart, f.Hours(), f.TimeTotal, err)
	}
	return f, nil
}

// runReader reads path in a reader process (see the package documentation): the variables
// with their values, or their metadata only when inspect is set.
func runReader(path string, opts ReadOptions, inspect bool) (*File, error) {
	if _, _, err := sniff(path); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("netcdf: read %s: cannot start the reader process: %w", path, err)
	}
	var request bytes.Buffer
	if err := gob.NewEncoder(&request).Encode(readRequest{Path: path, Options: opts, Inspect: inspect, MemoryLimit: readerMemoryLimit(opts)}); err != nil {
		return nil, fmt.Errorf("netcdf: read %s: %w", path, err)
	}
	replyR, replyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("netcdf: read %s: %w", path, err)
	}
	defer replyR.Close()

	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), readerEnv+"="+readerProtocol)
	cmd.Stdin = &request
	stderr := &stderrBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.ExtraFiles = []*os.File{replyW}
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Start()
	replyW.Close()
	if err != nil {
		return nil, fmt.Errorf("netcdf: read %s: cannot start the reader process: %w", path, err)
	}
	rep, protoErr := receiveReply(replyR, opts)
	refused := errors.Is(protoErr, errRefused)
	if refused {
		cancel() // Kills a reader that may still be writing.
	}
	waitErr := cmd.Wait()
	failed := waitErr != nil || protoErr != nil
	switch {
	case failed && !refused && ctx.Err() == context.DeadlineExceeded:
		return nil, readErrorf(path, ErrReaderFailed, "the netCDF reader did not finish within %v and was killed", opts.Timeout)
	case waitErr != nil && !refused:
		return nil, readErrorf(path, ErrReaderFailed, "the netCDF reader failed (%v): %s", waitErr, stderr.message())
	case protoErr != nil:
		return nil, readErrorf(path, ErrReaderFailed, "the netCDF reader's answer is garbled: %v", protoErr)
	}
	if rep.Err != "" {
		if rep.ErrKind <= 0 || rep.ErrKind >= len(errorKinds) {
			return nil, errors.New(rep.Err)
		}
		return nil, &readError{msg: rep.Err, kind: errorKinds[rep.ErrKind]}
	}
	if inspect && slices.ContainsFunc(rep.Values, func(n int64) bool { return n != 0 }) {
		return nil, readErrorf(path, ErrReaderFailed, "the netCDF reader answered values to a request for metadata")
	}
	return rep.File, nil
}

// errRefused marks a reply that receiveReply refused (too large, inconsistent), as opposed
// to one cut short by the reader's end.
var errRefused = errors.New("refused")

// receiveReply reads the reader's reply from r, refusing one larger than opts allow before
// allocating it.
func receiveReply(r io.Reader, opts ReadOptions) (*readReply, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var n uint64
	if err := binary.Read(br, binary.BigEndian, &n); err != nil {
		return nil, fmt.Errorf("no reply: %w", err)
	}
	if n > maxReplyHeader {
		return nil, fmt.Errorf("%w a header of %d bytes, more than %d", errRefused, n, maxReplyHeader)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(br, header); err != nil {
		return nil, fmt.Errorf("header cut short: %w", err)
	}
	var rep readReply
	if err := gob.NewDecoder(bytes.NewReader(header)).Decode(&rep); err != nil {
		return nil, fmt.Errorf("%w an undecodable header: %v", errRefused, err)
	}
	if rep.Err != "" {
		return &rep, nil
	}
	if rep.File == nil || len(rep.Values) != len(rep.File.Vars) {
		return nil, fmt.Errorf("%w a header with no file, or with counts of values for another number of variables", errRefused)
	}
	var total int64
	for i, v := range rep.File.Vars {
		total += rep.Values[i]
		if rep.Values[i] < 0 || rep.Values[i] > opts.MaxValues || len(opts.Variables) == 0 && total > opts.MaxValues {
			return nil, fmt.Errorf("%w %d values for variable %s, beyond ReadOptions.MaxValues = %d", errRefused, rep.Values[i], v.Name, opts.MaxValues)
		}
	}
	buf := make([]byte, 1<<16)
	for i, v := range rep.File.Vars {
		if rep.Values[i] == 0 { // Inspect: metadata only
			continue
		}
		v.Data = make([]float32, rep.Values[i])
		for done := 0; done < len(v.Data); {
			chunk := buf[:4*min(len(buf)/4, len(v.Data)-done)]
			if _, err := io.ReadFull(br, chunk); err != nil {
				return nil, fmt.Errorf("values of %s cut short after %d of %d: %w", v.Name, done, len(v.Data), err)
			}
			for j := 0; j < len(chunk); j += 4 {
				v.Data[done] = math.Float32frombits(binary.LittleEndian.Uint32(chunk[j:]))
				done++
			}
		}
	}
	return &rep, nil
}

// readerMemoryLimit is memoryLimit; tests lower it.
var readerMemoryLimit = memoryLimit

// memoryLimit is the address space the reader process may map beyond what it has at the
// start: room for the Go heap's growth and for the largest variable allowed, raw and
// unpacked, several times over. It stops a damaged header from making the library allocate
// the machine's memory.
func memoryLimit(opts ReadOptions) uint64 {
	const base = 2 << 30
	perValue := uint64(32) // Raw values, nested slices, flat copies, float32 data, the encoded reply.
	if uint64(opts.MaxValues) > (math.MaxUint64-base)/perValue {
		return math.MaxUint64
	}
	return base + perValue*uint64(opts.MaxValues)
}

// serveRead is the reader process: it reads one request from in, reads the file and writes
// the reply to out. It returns the process's exit code.
func serveRead(in io.Reader, out io.Writer) int {
	cdf.SetLogLevel(0) // Only the library's fatal messages, which end on stderr as our last line.
	hdf5.SetLogLevel(0)
	var req readRequest
	if err := gob.NewDecoder(in).Decode(&req); err != nil {
		fmt.Fprintf(os.Stderr, "netcdf reader: bad request (%s is set only by netcdf.Read): %v\n", readerEnv, err)
		return 3
	}
	limitMemory(req.MemoryLimit)
	// The parent kills this process at the timeout; should the parent die first, the reader
	// must not outlive it for long, looping in the library.
	time.AfterFunc(req.Options.Timeout+time.Second, func() {
		fmt.Fprintf(os.Stderr, "netcdf reader: still reading after %v; giving up\n", req.Options.Timeout)
		os.Exit(5)
	})
	f, err := readRecovered(req.Path, req.Options, req.Inspect)
	if err := sendReply(out, f, err); err != nil {
		fmt.Fprintf(os.Stderr, "netcdf reader: cannot send the reply: %v\n", err)
		return 4
	}
	return 0
}

// sendReply writes the reply of a read that returned f, err to w (see readReply).
func sendReply(w io.Writer, f *File, readErr error) error {
	var rep readReply
	var data [][]float32
	if readErr != nil {
		rep.Err = readErr.Error()
		var re *readError
		if errors.As(readErr, &re) {
			rep.ErrKind = slices.Index(errorKinds, re.kind)
		}
	} else {
		rep.File = f
		for _, v := range f.Vars {
			rep.Values = append(rep.Values, int64(len(v.Data)))
			data = append(data, v.Data)
			v.Data = nil
		}
	}
	var header bytes.Buffer
	if err := gob.NewEncoder(&header).Encode(rep); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if err := binary.Write(bw, binary.BigEndian, uint64(header.Len())); err != nil {
		return err
	}
	if _, err := bw.Write(header.Bytes()); err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	for _, values := range data {
		for len(values) > 0 {
			n := min(len(buf)/4, len(values))
			for j, x := range values[:n] {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(x))
			}
			if _, err := bw.Write(buf[:4*n]); err != nil {
				return err
			}
			values = values[n:]
		}
	}
	return bw.Flush()
}

// readRecovered is readInProcess (inspectInProcess when inspect is set) with the library's
// panics turned into errors.
func readRecovered(path string, opts ReadOptions, inspect bool) (f *File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, readErrorf(path, ErrReaderFailed, "the netCDF library panicked: %v", p)
		}
	}()
	if inspect {
		return inspectInProcess(path, opts)
	}
	return readInProcess(path, opts)
}

// Check verifies that the sizes of f agree with each other, so that callers may index Data
// by Shape and coordinates.
func (f *File) Check() error { return f.check(true) }

// check verifies that the sizes of f agree with each other: the variables' shapes with the
// coordinates, and with their Data when data is set (else Data is not looked at).
func (f *File) check(data bool) error {
	if len(f.Vars) == 0 {
		return errors.New("no variable")
	}
	if len(f.Time.Values) == 0 || len(f.Lat.Values) == 0 || len(f.Lon.Values) == 0 || f.Level != nil && len(f.Level.Values) == 0 {
		return errors.New("an empty coordinate")
	}
	for _, v := range f.Vars {
		if len(v.Shape) != len(v.Dims) || (len(v.Shape) != 3 && len(v.Shape) != 4) {
			return fmt.Errorf("variable %s has shape %v and dimensions %v", v.Name, v.Shape, v.Dims)
		}
		n := 1
		for _, s := range v.Shape {
			n *= s
		}
		want := []int{len(f.Time.Values), len(f.Lat.Values), len(f.Lon.Values)}
		if v.HasLevel() {
			if f.Level == nil {
				return fmt.Errorf("variable %s has levels but the file no level coordinate", v.Name)
			}
			want = []int{len(f.Time.Values), len(f.Level.Values), len(f.Lat.Values), len(f.Lon.Values)}
		}
		if data && n != len(v.Data) || !slices.Equal(v.Shape, want) {
			return fmt.Errorf("variable %s has shape %v, %d values and coordinates of sizes %v", v.Name, v.Shape, len(v.Data), want)
		}
	}
	return nil
}

// stderrBuffer keeps the first and the last max bytes written to it.
type stderrBuffer struct {
	head, tail []byte
	max        int
}

func (b *stderrBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.max - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	b.tail = append(b.tail, p...)
	if len(b.tail) > b.max {
		b.tail = append(b.tail[:0], b.tail[len(b.tail)-b.max:]...)
	}
	return n, nil
}

// message returns the line that best says why the reader failed: the Go runtime's first
// line when it crashed ("panic: ...", "fatal error: ...", "runtime: out of memory: ...",
// "runtime/cgo: pthread_create failed: ..."), else the last line written (the library's
// log.Fatal message), at most 300 bytes, or a note that there was none.
func (b *stderrBuffer) message() string {
	for _, line := range strings.Split(string(b.head), "\n") {
		for _, prefix := range []string{"panic:", "fatal error:", "runtime:", "runtime/cgo:"} {
			if strings.HasPrefix(line, prefix) {
				return clip(line)
			}
		}
	}
	all := strings.TrimSpace(string(b.head) + string(b.tail))
	if all == "" {
		return "(no message on stderr)"
	}
	return clip(all[strings.LastIndex(all, "\n")+1:])
}

func clip(line string) string {
	line = strings.TrimSpace(line)
	if len(line) > 300 {
		line = strings.ToValidUTF8(line[:300], "") + "…"
	}
	return line
}
