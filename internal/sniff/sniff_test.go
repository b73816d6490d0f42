package sniff

import (
	"strings"
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
		{"ID3\x03\x00\x00\x00\x00\x7f\x7f", "an MP3 file"}, // a tag longer than the file
		{"OggS\x00\x02", "an Ogg file"},
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
