package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/bench/peers"
)

// DefaultPython is the interpreter of the Python peers: Debian's, which python3-torch and
// python3-zfpy install into (a pyenv or virtualenv python3 earlier on PATH usually lacks them).
const DefaultPython = "/usr/bin/python3"

// Peer is a peer process: a script of package bench/peers run by an interpreter, or a program.
type Peer struct {
	// Command is the program: the interpreter when Script is set.
	Command string
	// Script is the file of package bench/peers to run ("" runs Command alone). It runs from
	// a temporary directory holding every file of bench/peers, so that it can import the
	// shared helper module qzoo_peer.
	Script string
	// Set are "KEY=VALUE" settings replacing KEY in the inherited environment; Unset are
	// prefixes of variables removed from it first (e.g. "MALLOC_"). The rest of the
	// environment is passed on as it is (see PeerEnvKeys).
	Set   []string
	Unset []string
}

// Environ is the peer's environment: env less the Unset prefixes, with Set applied.
func (p Peer) Environ(env []string) []string {
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		key, _, _ := strings.Cut(kv, "=")
		return slices.ContainsFunc(p.Unset, func(prefix string) bool { return strings.HasPrefix(key, prefix) })
	})
	for _, kv := range p.Set {
		key, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(e string) bool { return strings.HasPrefix(e, key+"=") })
		out = append(out, kv)
	}
	return out
}

// Name is how errors and tables call the peer: its script, or its program.
func (p Peer) Name() string {
	if p.Script != "" {
		return p.Script
	}
	return filepath.Base(p.Command)
}

// Run runs the peer with args and returns the last line of its standard output that is a
// JSON object, which must hold a positive finite number under each of the required keys. A
// peer that fails is an error with the end of its standard error.
func (p Peer) Run(args []string, required ...string) (map[string]any, error) {
	argv := args
	if p.Script != "" {
		dir, err := os.MkdirTemp("", "qzoo-peer-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(dir)
		if err := os.CopyFS(dir, peers.Files); err != nil {
			return nil, fmt.Errorf("bench: writing the peers to %s: %w", dir, err)
		}
		if _, err := fs.Stat(peers.Files, p.Script); err != nil {
			return nil, fmt.Errorf("bench: no peer script %s in bench/peers", p.Script)
		}
		argv = append([]string{filepath.Join(dir, p.Script)}, args...)
	}
	cmd := exec.Command(p.Command, argv...)
	cmd.Env = p.Environ(os.Environ())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench: %s %s %s: %w\n%s", p.Command, p.Script, strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	return ParsePeerJSON(p.Name(), stdout.Bytes(), required...)
}

// ParsePeerJSON returns the last line of out that is a JSON object, which must hold a positive
// finite number under each of the required keys; name is the peer, for errors.
func ParsePeerJSON(name string, out []byte, required ...string) (map[string]any, error) {
	var last map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err == nil {
			last = obj
		}
	}
	if last == nil {
		return nil, fmt.Errorf("bench: the peer %s printed no JSON line; its output was:\n%s", name, tail(string(out), 2000))
	}
	for _, key := range required {
		v, ok := last[key].(float64)
		if !ok || !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("bench: the peer %s's JSON has no positive %s: %v", name, key, last)
		}
	}
	return last, nil
}

// tail is the last n bytes of s, marked "…" when cut.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
