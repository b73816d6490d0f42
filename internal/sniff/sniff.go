// Package sniff recognises the files that arrive in place of the one a reader expects, whatever
// its format: a Git LFS pointer (a repository cloned without git-lfs) and an HTML page (a
// download that returned a web page). Every format package's reader asks it first, so that such
// a file is named for what it is rather than reported as a corrupt header.
package sniff

import "bytes"

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
