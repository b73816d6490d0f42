package sniff

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestStandIn(t *testing.T) {
	for _, c := range []struct{ head, want string }{
		{"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n", "a Git LFS pointer"},
		{"\xef\xbb\xbf \n<!DOCTYPE HTML><html>", "an HTML page"},
		{"<html><body>404</body></html>", "an HTML page"},
		{"RIFF\x24\x00\x00\x00WAVE", ""},
		{"", ""},
		{"  version https://git-lfs", ""}, // an LFS pointer starts the file
	} {
		got := StandIn([]byte(c.head))
		if c.want == "" && got != "" || !strings.HasPrefix(got, c.want) {
			t.Errorf("StandIn(%q) = %q, want %q…", c.head, got, c.want)
		}
	}
}

func TestKind(t *testing.T) {
	for _, c := range []struct{ head, want string }{
		{"", "an empty file"},
		{"RIFF\x24\x00\x00\x00WAVEfmt ", "a WAV file"},
		{"RIFF\x24\x00\x00\x00AVI LIST", `a RIFF file of form "AVI "`},
		{"fLaC\x00\x00\x00\x22", "a FLAC file"},
		{"ID3\x03\x00\x00\x00\x00\x00\x02\x00\x00fLaC", "a FLAC file after an ID3v2 tag"},
		{"ID3\x03\x00\x00\x00\x00\x00\x02\x00\x00\xff\xfb", "an MP3 file"},
		{"ID3\x03\x00\x00\x00\x00\x7f\x7f", "an MP3 file"},                                        // a tag longer than the file
		{"ID3\x03\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00fLaC", "a FLAC file after an ID3v2 tag"}, // zero padding
		{"ID3\x03\x00\x00\x00\x00\x00\x00RIFF\x24\x00\x00\x00WAVE", "a WAV file (RIFF WAVE) after an ID3v2 tag"},
		{"ID3\x03\x00\x00\x00\x00\x00\x02\x00\x00", "an ID3v2 tag and nothing after it"},
		{"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb", "a Sony Wave64 file"},
		{"OggS\x00\x02", "an Ogg file"},
		{"NIST_1A\n   1024\nsample_count -i 3200\n", "a NIST SPHERE file"}, // a text header: not "a text file"
		{"\x00\x00\x00\x20ftypM4A \x00\x00", "an MP4 file"},
		{"\x1f\x8b\x08\x08\x92\x23", "a gzip file"},
		{"PK\x03\x04\x14\x00", "a zip archive"},
		{"<html>", "an HTML page"},
		{"hello\n", "a text file"},
		{"\x00\x01\x02\x03\x04", `a file that starts with "\x00\x01\x02\x03"`},
	} {
		if got := Kind([]byte(c.head)); !strings.HasPrefix(got, c.want) {
			t.Errorf("Kind(%q) = %q, want %q…", c.head, got, c.want)
		}
	}
}

func TestID3v2(t *testing.T) {
	for _, c := range []struct {
		head string
		want int
	}{
		{"ID3\x04\x00\x00\x00\x00\x01\x01", 10 + 128 + 1}, // synchsafe: 7 bits a byte
		{"ID3\x04\x00\x10\x00\x00\x00\x05", 10 + 5 + 10},  // with a footer
		{"ID3\x04\x00\x00\x00\x00\x00\x80", 0},            // a size byte with its top bit set
		{"ID3\xff\x00\x00\x00\x00\x00\x05", 0},            // version 0xFF
		{"ID3\x04\x00\x00", 0},                            // shorter than a header
		{"fLaC\x00\x00\x00\x22\x00\x00", 0},
	} {
		if got := ID3v2([]byte(c.head)); got != c.want {
			t.Errorf("ID3v2(%q) = %d, want %d", c.head, got, c.want)
		}
	}
}

// ReadFile loads a file and a pipe, refuses what is not a file by name (a directory, /dev/zero,
// whose endless zeros would otherwise fill memory), and refuses a file over the limit by its
// size.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.wav")
	if err := os.WriteFile(path, []byte("RIFF0123WAVE"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(path, 12); err != nil || string(b) != "RIFF0123WAVE" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	fifo := filepath.Join(dir, "fifo.wav")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	go func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.Write([]byte("RIFF0123WAVEfmt "))
			f.Close()
		}
	}()
	if b, err := ReadFile(fifo, 16); err != nil || len(b) != 16 {
		t.Errorf("a pipe: %d bytes, %v", len(b), err)
	}
	loop := filepath.Join(dir, "loop.wav")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path  string
		limit int64
		want  string
	}{
		{path, 11, path + ": 12 bytes is over the limit of 11"},
		{dir, 1 << 20, dir + ": this is a directory, not a file"},
		{"/dev/zero", 1 << 20, "/dev/zero: this is a character device (such as /dev/zero or a terminal), not a file"},
		{loop, 1 << 20, loop + ": too many levels of symbolic links"},
		{filepath.Join(dir, "missing.wav"), 1 << 20, "missing.wav: no such file or directory"},
	} {
		if _, err := ReadFile(c.path, c.limit); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadFile(%s): %v, want %q", c.path, err, c.want)
		}
	}
}

func TestTag(t *testing.T) {
	for _, c := range []struct{ tail, want string }{
		{"TAG" + strings.Repeat("\x00", 125), "an ID3v1 tag"},
		{"TAG" + strings.Repeat("\x00", 126), ""}, // an ID3v1 tag is 128 bytes, no more
		{"ID3\x04\x00\x00\x00\x00\x00\x02\x00\x00", "an ID3v2 tag"},
		{"APETAGEX\xd0\x07", "an APE tag"},
		{"junk", ""},
		{"", ""},
	} {
		if got := Tag([]byte(c.tail)); got != c.want {
			t.Errorf("Tag(%q) = %q, want %q", c.tail, got, c.want)
		}
	}
}

func TestLeadingTags(t *testing.T) {
	tag := "ID3\x04\x00\x00\x00\x00\x00\x02\x00\x00" // 12 bytes
	for _, c := range []struct {
		head string
		want int
		err  string
	}{
		{"fLaC", 0, ""},
		{tag + "fLaC", 12, ""},
		{tag + tag + "\x00\x00\x00RIFF", 27, ""}, // two tags, zero padding
		{"ID3\x04\x00\x00\x00\x00\x01\x00" + "short", 0, "the ID3v2 tag at offset 0 declares 138 bytes, past the end of the file at 15 (truncated)"},
	} {
		n, err := LeadingTags([]byte(c.head))
		if n != c.want || (err == nil) != (c.err == "") || err != nil && err.Error() != c.err {
			t.Errorf("LeadingTags(%q) = %d, %v; want %d, %q", c.head, n, err, c.want, c.err)
		}
	}
}
