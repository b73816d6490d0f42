package framework

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"
)

// locateRuns counts the runs of TestLocateDataOrderAndDownload in this process.
var locateRuns int

func TestLocateDataOrderAndDownload(t *testing.T) {
	content := []byte("to be, or not to be")
	sum := sha256.Sum256(content)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/good.txt" {
			w.Write(content)
			return
		}
		w.Write([]byte("tampered"))
	}))
	defer srv.Close()
	// A name of this run's own: a data file registers once per process, and -count reruns.
	locateRuns++
	sub := fmt.Sprintf("test%d", locateRuns)
	RegisterDataFile(DataFile{Path: sub + "/good.txt", URL: srv.URL + "/good.txt", SHA256: hex.EncodeToString(sum[:])})
	RegisterDataFile(DataFile{Path: sub + "/bad.txt", URL: srv.URL + "/bad.txt", SHA256: hex.EncodeToString(sum[:])})

	dataDir, envDir := t.TempDir(), t.TempDir()
	t.Setenv(DataDirEnv, envDir)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	// Found nowhere: downloaded into $QZOO_DATA_DIR, checked.
	p, err := LocateData(dataDir, sub+"/good.txt")
	if err != nil || p != filepath.Join(envDir, sub, "good.txt") {
		t.Fatalf("LocateData = %q, %v", p, err)
	}
	if b, _ := os.ReadFile(p); string(b) != string(content) {
		t.Errorf("downloaded %q", b)
	}
	// The data directory comes first.
	os.MkdirAll(filepath.Join(dataDir, sub), 0o755)
	os.WriteFile(filepath.Join(dataDir, sub, "good.txt"), content, 0o644)
	if p, _ := LocateData(dataDir, sub+"/good.txt"); p != filepath.Join(dataDir, sub, "good.txt") {
		t.Errorf("data directory not preferred: %q", p)
	}
	// A checksum mismatch leaves nothing behind and names the URL.
	_, err = LocateData(dataDir, sub+"/bad.txt")
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "/bad.txt") {
		t.Errorf("tampered download: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(envDir, sub, "*bad*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	// Unknown files are not downloaded; the error lists the places.
	_, err = LocateData(dataDir, sub+"/unknown.txt")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dataDir, sub, "unknown.txt")) {
		t.Errorf("unknown file: %v", err)
	}
}

// The tests find their data through internal/datadir, which must read the variable the
// commands read.
func TestDataDirEnvMatchesTests(t *testing.T) {
	if DataDirEnv != datadir.EnvVar {
		t.Errorf("framework.DataDirEnv %q, internal/datadir.EnvVar %q", DataDirEnv, datadir.EnvVar)
	}
}
