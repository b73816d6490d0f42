// Package sniff recognises the files that arrive in place of the one a reader expects, whatever
// its format: a Git LFS pointer (a repository cloned without git-lfs) and an HTML page (a
// download that returned a web page). Every format package's reader asks it first, so that such
// a file is named for what it is rather than reported as a corrupt header.
//
// [Kind] names an audio file by its magic number (WAV, FLAC, MP3, Ogg, AIFF, ...), for the audio
// readers (formats/wav, formats/flac, formats/audio) to say what a file they refuse is, and
// [ID3v2] measures the ID3v2 tag that MP3 and some FLAC files start with ([LeadingTags] skips
// them, [Tag] names one appended after the audio). [ReadFile] is how those readers load a path:
// what arrives in place of a file (a directory, /dev/zero) is refused by name, and nothing
// larger than the caller's bound is read.
package sniff

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
)

// ReadFile returns the content of the file at path, at most limit bytes. A regular file larger
// than limit is refused from its size before a byte is read; a pipe (a FIFO, /dev/stdin, a
// shell's <(...)) is read up to limit and refused past it; a directory, a device (/dev/zero,
// /dev/urandom: endless), a socket or anything else is refused by what it is. Errors name path.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path) // a FIFO blocks here until a writer opens it, as it does for cat
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	mode := st.Mode()
	switch {
	case mode.IsRegular():
		if st.Size() > limit {
			return nil, fmt.Errorf("%s: %d bytes is over the limit of %d", path, st.Size(), limit)
		}
	case mode&fs.ModeNamedPipe != 0:
	default:
		return nil, fmt.Errorf("%s: this is %s, not a file", path, modeKind(mode))
	}
	// The size of a regular file may change while it is read: the limit holds all the same.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the limit of %d bytes", path, limit)
	}
	return b, nil
}

// modeKind names a file mode that is not a regular file or a pipe.
func modeKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device (such as /dev/zero or a terminal)"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return fmt.Sprintf("a special file (mode %v)", m)
}

// StandIn returns a description of the file whose first bytes are b when it is a stand-in for
// the real file — "a Git LFS pointer, …" or "an HTML page (…)" — and "" otherwise. A
// byte-order mark and leading white space are skipped, and HTML is matched in any case.
func StandIn(b []byte) string {
	trimmed := bytes.ToLower(bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n"))
	switch {
	case bytes.HasPrefix(b, []byte("version https://git-lfs")):
		return "a Git LFS pointer, not its content (fetch it with git lfs pull, or download the file itself)"
	case bytes.HasPrefix(trimmed, []byte("<!doctype html")) || bytes.HasPrefix(trimmed, []byte("<html")):
		return "an HTML page (a download that returned a web page instead of the file)"
	}
	return ""
}

// Kind names the file whose first bytes are b by its content: "an empty file", a stand-in
// ([StandIn]), an audio container ("a WAV file (RIFF WAVE)", "a FLAC file", "an MP3 file (it
// starts with an ID3 tag)", Ogg, AIFF, RF64, W64, NIST SPHERE, MP4, ...; after a whole ID3v2
// tag, what follows it, e.g. "a FLAC file after an ID3v2 tag"), a compressed file or archive
// (gzip, zip, xz, bzip2, zstd, tar), "a text file", or "a file that starts with …" quoting its
// first 4 bytes. It never returns "".
func Kind(b []byte) string {
	if what := StandIn(b); what != "" {
		return what
	}
	has := func(p string) bool { return bytes.HasPrefix(b, []byte(p)) }
	switch {
	case len(b) == 0:
		return "an empty file"
	case has("RIFF") && len(b) >= 12 && string(b[8:12]) == "WAVE":
		return "a WAV file (RIFF WAVE)"
	case has("RIFF") && len(b) >= 12:
		return fmt.Sprintf("a RIFF file of form %q (AVI, WebP, ...), not WAVE", b[8:12])
	case has("RIFF"):
		return "a RIFF file cut short before its form type"
	case has("RF64"):
		return "an RF64 file (the 64-bit RIFF for audio over 4 GiB)"
	case has("BW64"):
		return "a BW64 file (the 64-bit RIFF of broadcast audio)"
	case has("RIFX"):
		return "a big-endian RIFX file"
	case has("riff\x2e\x91\xcf\x11"):
		return "a Sony Wave64 file (W64)"
	case has("fLaC"):
		return "a FLAC file"
	case ID3v2(b) > 0 && ID3v2(b) <= len(b):
		// An ID3v2 tag and what follows it (zero padding a tagger left out of its size skipped).
		rest := bytes.TrimLeft(b[ID3v2(b):], "\x00")
		switch after := Kind(rest); {
		case len(rest) == 0:
			return "an ID3v2 tag and nothing after it"
		case strings.HasPrefix(after, "an MPEG audio stream"), strings.HasPrefix(after, "an MP3 file"):
			return "an MP3 file (it starts with an ID3 tag)"
		default:
			return after + " after an ID3v2 tag"
		}
	case has("ID3"):
		return "an MP3 file (it starts with an ID3 tag)"
	case len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0:
		return "an MPEG audio stream (MP3, or AAC in ADTS)"
	case has("OggS"):
		return "an Ogg file (Vorbis, Opus or FLAC in Ogg)"
	case has("FORM") && len(b) >= 12 && (string(b[8:12]) == "AIFF" || string(b[8:12]) == "AIFC"):
		return "an AIFF file"
	case has("#!AMR"):
		return "an AMR file"
	case has(".snd"):
		return "a Sun/NeXT .au file"
	case has("NIST_1A"):
		return "a NIST SPHERE file (TIMIT's and LDC corpora's .wav files are these; convert them with sox or sph2pipe)"
	case has("caff\x00\x01"):
		return "a Core Audio (CAF) file"
	case has("wvpk"):
		return "a WavPack file"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return "an MP4 file (M4A, AAC)"
	case has("\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
		return "an ASF file (WMA)"
	case has("\x1a\x45\xdf\xa3"):
		return "a Matroska or WebM file"
	case has("\x1f\x8b"):
		return "a gzip file (decompress it first)"
	case has("PK\x03\x04"):
		return "a zip archive (extract it first)"
	case has("\xfd7zXZ\x00"):
		return "an xz file (decompress it first)"
	case has("BZh"):
		return "a bzip2 file (decompress it first)"
	case has("\x28\xb5\x2f\xfd"):
		return "a zstd file (decompress it first)"
	case len(b) >= 262 && string(b[257:262]) == "ustar":
		return "a tar archive (extract it first)"
	case isText(b):
		return "a text file"
	}
	return fmt.Sprintf("a file that starts with %q", b[:min(len(b), 4)])
}

// ID3v2 returns the length in bytes of the ID3v2 tag that b starts with — the 10-byte header,
// the synchsafe size it declares, and the 10-byte footer when its flag is set — or 0 when b does
// not start with a valid ID3v2 header ("ID3", a version byte and a revision below 0xFF, four
// size bytes below 0x80; ID3v2.4 §3.1). The length may exceed len(b) (a truncated file): the
// caller checks it.
func ID3v2(b []byte) int {
	if len(b) < 10 || !bytes.HasPrefix(b, []byte("ID3")) || b[3] == 0xFF || b[4] == 0xFF {
		return 0
	}
	size := 0
	for _, c := range b[6:10] {
		if c >= 0x80 {
			return 0
		}
		size = size<<7 | int(c)
	}
	n := 10 + size
	if b[5]&0x10 != 0 {
		n += 10 // footer (ID3v2.4)
	}
	return n
}

// Tag names the tag that b, the bytes after the audio, is: "an ID3v1 tag" (128 bytes from
// "TAG"), "an ID3v2 tag" or "an APE tag"; "" when it is none. Taggers append them to WAV, FLAC
// and MP3 files alike.
func Tag(b []byte) string {
	switch {
	case len(b) == 128 && bytes.HasPrefix(b, []byte("TAG")):
		return "an ID3v1 tag"
	case ID3v2(b) > 0:
		return "an ID3v2 tag"
	case bytes.HasPrefix(b, []byte("APETAGEX")):
		return "an APE tag"
	}
	return ""
}

// LeadingTags returns the length of the ID3v2 tags b starts with and of the zero bytes after each
// (padding a tagger left out of its tag's size; libFLAC skips it too), 0 when b starts with no
// tag; an error when a tag runs past the end of b. Taggers put them before FLAC files, and some
// before WAV files (libsndfile skips them there too).
func LeadingTags(b []byte) (int, error) {
	start := 0
	for n := ID3v2(b); n > 0; n = ID3v2(b[start:]) {
		if start+n > len(b) {
			return 0, fmt.Errorf("the ID3v2 tag at offset %d declares %d bytes, past the end of the file at %d (truncated)", start, n, len(b))
		}
		start += n
		for start < len(b) && b[start] == 0 {
			start++
		}
	}
	return start, nil
}

// isText reports whether the first bytes of b are printable UTF-8 text.
func isText(b []byte) bool {
	b = b[:min(len(b), 512)]
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 && len(b) >= utf8.UTFMax || r < 0x20 && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
		b = b[n:]
	}
	return true
}
