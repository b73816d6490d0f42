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
