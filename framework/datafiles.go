package framework

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/qzoo/qzoo/internal/atomicfile"
	"github.com/qzoo/qzoo/internal/registry"
)

// DataFile is a public file that loaders may download when it is in no data directory: its
// path relative to a data directory (the layout of ../shared/data), its URL and the SHA-256
// of its content.
type DataFile struct {
	Path, URL, SHA256 string
	// MaxBytes bounds the download.
	MaxBytes int64
}

var (
	dataFiles = registry.New[DataFile]("data file")
	// httpClient downloads data files; tests replace it.
	httpClient = &http.Client{Timeout: 10 * time.Minute}
)

// RegisterDataFile makes f downloadable by [LocateData]. Packages register the files they
// read in an init function; registering a path twice panics.
func RegisterDataFile(f DataFile) {
	dataFiles.Register(filepath.ToSlash(filepath.Clean(f.Path)), f)
}

// LocateData finds the data file name: as is when absolute; else under dataDir, then under
// $QZOO_DATA_DIR, then under the user cache ($XDG_CACHE_HOME/qzoo/data), then relative to the
// working directory. A file registered with [RegisterDataFile] that is found nowhere is
// downloaded into $QZOO_DATA_DIR (else dataDir, else the user cache) through a temporary file
// renamed into place once its SHA-256 matches. The error lists every place looked at.
func LocateData(dataDir, name string) (string, error) {
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			return "", err
		}
		return name, nil
	}
	cache := ""
	if dir, err := os.UserCacheDir(); err == nil && dir != "" {
		cache = filepath.Join(dir, "qzoo", "data")
	}
	var dirs []string
	for _, d := range []string{dataDir, os.Getenv(DataDirEnv), cache, "."} {
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	var looked []string
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		looked = append(looked, p)
	}
	f, err := dataFiles.Lookup(filepath.ToSlash(filepath.Clean(name)))
	if err != nil {
		return "", fmt.Errorf("%s not found (looked at %v; give the data directory with --data_dir or $%s)", name, looked, DataDirEnv)
	}
	into := dirs[0] // dataDir, $QZOO_DATA_DIR or the cache, in that order of preference
	if env := os.Getenv(DataDirEnv); env != "" {
		into = env
	}
	dest := filepath.Join(into, name)
	if err := downloadDataFile(f, dest); err != nil {
		return "", fmt.Errorf("%s not found (looked at %v) and %w", name, looked, err)
	}
	return dest, nil
}

// downloadDataFile fetches f.URL into dest atomically, checking its SHA-256.
func downloadDataFile(f DataFile, dest string) (err error) {
	fail := func(err error) error { return fmt.Errorf("downloading %s failed: %w", f.URL, err) }
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fail(err)
	}
	resp, err := httpClient.Get(f.URL)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("HTTP status %s", resp.Status))
	}
	tmp, err := atomicfile.Create(dest)
	if err != nil {
		return fail(err)
	}
	defer tmp.Abort()
	limit := f.MaxBytes
	if limit <= 0 {
		limit = 1 << 30
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fail(fmt.Errorf("after %d bytes: %w", n, err))
	}
	if n > limit {
		return fail(fmt.Errorf("larger than the limit of %d bytes", limit))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fail(fmt.Errorf("checksum mismatch: SHA-256 %s, want %s", got, f.SHA256))
	}
	if err = tmp.Commit(); err != nil {
		return fail(err)
	}
	return nil
}
