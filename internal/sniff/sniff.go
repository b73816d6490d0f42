// Package sniff recognises the files that arrive in place of the one a reader expects, whatever
// its format: a Git LFS pointer (a repository cloned without git-lfs) and an HTML page (a
// download that returned a web page). Every format package's reader asks it first, so that such
// a file is named for what it is rather than reported as a corrupt header.
//
// [Kind] names an audio file by its magic number (WAV, FLAC, MP3, Ogg, AIFF, ...), for the audio
// readers (formats/wav, formats/flac, formats/audio) to say what a file they refuse is, and
// [ID3v2] measures the ID3v2 tag that MP3 and some FLAC files start with.
package sniff

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

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
// ([StandIn]), an audio container ("a WAV file (RIFF WAVE)", "a FLAC file", "a FLAC file after
// an ID3v2 tag", "an MP3 file (it starts with an ID3 tag)", Ogg, AIFF, RF64, ...), "a text file",
// or "a file that starts with …" quoting its first 4 bytes. It never returns "".
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
	case has("fLaC"):
		return "a FLAC file"
	case ID3v2(b) > 0 && ID3v2(b)+4 <= len(b) && bytes.HasPrefix(b[ID3v2(b):], []byte("fLaC")):
		return "a FLAC file after an ID3v2 tag"
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
