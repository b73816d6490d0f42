package baselines

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The lossless coders that follow bit-rounding or linear packing.
const (
	// CoderZstd is Zstandard from klauspost/compress at its SpeedBestCompression level, in
	// process. Its streams are 4–40 % larger than the reference library's at level 19 on
	// bit-rounded ERA5 2 m temperature (more at fewer kept bits): compare a codec against
	// CoderZstd19.
	CoderZstd = "zstd"
	// CoderZstd19 is the reference Zstandard library at level 19 through its command-line
	// tool ([ZstdCommand], Debian package zstd), decoded in process. Its encode time includes
	// starting the process (milliseconds).
	CoderZstd19 = "zstd19"
	// CoderDeflate is DEFLATE (RFC 1951: zlib's coder without zlib's 6-byte wrapper) at
	// level 9, from Go's compress/flate.
	CoderDeflate = "deflate"
)

// Coders lists the lossless coders, the default of [SweepOptions].Coders.
var Coders = []string{CoderZstd, CoderZstd19, CoderDeflate}

// ZstdCommand is the reference Zstandard command-line tool that [CoderZstd19] runs.
var ZstdCommand = "zstd"

// zstdWindow is the largest window our zstd encoders declare: klauspost's default at
// SpeedBestCompression (smaller inputs get single-segment frames of their own size), and the
// reference tool's at level 19 (window log 23, or less for a smaller input).
const zstdWindow = 8 << 20

// zstdEncoder and zstdDecoder are shared (EncodeAll and DecodeAll may be called concurrently),
// so that their tables are allocated once, not on every call or timing run. The decoder
// decodes at most cap(dst) − len(dst) bytes and refuses frames that ask for windows larger
// than our encoders', so a hostile stream cannot make it allocate more than the caller's
// buffer and one window.
var (
	zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithWindowSize(zstdWindow))
	})
	zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
		return zstd.NewReader(nil, zstd.WithDecoderMaxWindow(zstdWindow), zstd.WithDecodeAllCapLimit(true))
	})
)

func checkCoder(coder string) error {
	for _, c := range Coders {
		if coder == c {
			return nil
		}
	}
	return fmt.Errorf("baselines: unknown lossless coder %q, want one of %q", coder, Coders)
}

// compressBytes codes b losslessly with coder at its highest level.
func compressBytes(b []byte, coder string) ([]byte, error) {
	switch coder {
	case CoderZstd:
		enc, err := zstdEncoder()
		if err != nil {
			return nil, fmt.Errorf("baselines: zstd encoder: %w", err)
		}
		return enc.EncodeAll(b, nil), nil
	case CoderZstd19:
		// Told the input's size, zstd sizes its tables (and the window, at most 2^23 at level
		// 19) to it: 40 ms instead of 500 ms for a small array.
		cmd := exec.Command(ZstdCommand, "-19", "-q", "-c", "--stream-size="+strconv.Itoa(len(b)))
		cmd.Stdin = bytes.NewReader(b)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			if _, ok := err.(*exec.ExitError); ok {
				return nil, fmt.Errorf("baselines: %s -19: %v: %s", ZstdCommand, err, strings.TrimSpace(stderr.String()))
			}
			return nil, fmt.Errorf("baselines: %v; coder %q needs the reference Zstandard tool: apt-get install zstd", err, CoderZstd19)
		}
		return out.Bytes(), nil
	case CoderDeflate:
		var buf bytes.Buffer
		w, err := flate.NewWriter(&buf, flate.BestCompression)
		if err != nil {
			return nil, fmt.Errorf("baselines: deflate encoder: %w", err)
		}
		if _, err := w.Write(b); err != nil {
			return nil, fmt.Errorf("baselines: deflate: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("baselines: deflate: %w", err)
		}
		return buf.Bytes(), nil
	}
	return nil, checkCoder(coder)
}

// decompressBytes decodes a stream of compressBytes that must hold exactly size bytes; it
// stops (with an error) as soon as the stream would exceed them.
func decompressBytes(b []byte, size int, coder string) ([]byte, error) {
	switch coder {
	case CoderZstd, CoderZstd19:
		dec, err := zstdDecoder()
		if err != nil {
			return nil, fmt.Errorf("baselines: zstd decoder: %w", err)
		}
		out, err := dec.DecodeAll(b, make([]byte, 0, size))
		if err != nil {
			return nil, fmt.Errorf("baselines: zstd stream of %d bytes (want %d decoded): %w", len(b), size, err)
		}
		if len(out) != size {
			return nil, fmt.Errorf("baselines: zstd stream decodes to %d bytes, want %d", len(out), size)
		}
		return out, nil
	case CoderDeflate:
		r := flate.NewReader(bytes.NewReader(b))
		defer r.Close()
		out, err := io.ReadAll(io.LimitReader(r, int64(size)+1))
		if err != nil {
			return nil, fmt.Errorf("baselines: deflate stream of %d bytes (want %d decoded): %w", len(b), size, err)
		}
		if len(out) != size {
			return nil, fmt.Errorf("baselines: deflate stream decodes to %s bytes, want %d", sizeString(len(out), size), size)
		}
		return out, nil
	}
	return nil, checkCoder(coder)
}

// sizeString says how many bytes a bounded reader got: "more than size" when it hit the bound.
func sizeString(got, size int) string {
	if got > size {
		return fmt.Sprintf("more than %d", size)
	}
	return fmt.Sprint(got)
}
