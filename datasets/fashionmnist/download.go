package fashionmnist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/qzoo/qzoo/internal/atomicfile"
)

// maxDownloadBytes bounds one downloaded file, and maxContentBytes its decompressed content;
// the largest, train-images-idx3-ubyte.gz, has about 26 MB (47 MB decompressed).
const (
	maxDownloadBytes = 64 << 20
	maxContentBytes  = 64 << 20
)

// source says where Load looks for the files and where it downloads them from; tests replace
// its fields to run without the system directory or the network.
type source struct {
	getenv    func(string) string
	systemDir string
	cacheDir  func() (string, error)
	baseURL   string
	client    *http.Client
}

func defaultSource() *source {
	return &source{
		getenv:    os.Getenv,
		systemDir: SystemDir,
		cacheDir:  os.UserCacheDir, // $XDG_CACHE_HOME, else ~/.cache.
		baseURL:   BaseURL,
		client: &http.Client{
			// Fail fast when offline, but give a slow link time to move 26 MB.
			Timeout: 10 * time.Minute,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: 15 * time.Second}).DialContext,
				TLSHandshakeTimeout:   15 * time.Second,
				ResponseHeaderTimeout: 30 * time.Second,
			},
		},
	}
}

// downloadMissing downloads into dir each of allFiles not already there.
func (s *source) downloadMissing(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	paths, _ := findFiles(dir)
	for i, f := range allFiles {
		if paths[i] != "" {
			continue
		}
		url := s.baseURL + f.name + ".gz"
		if err := download(s.client, url, filepath.Join(dir, f.name+".gz"), f.sha256); err != nil {
			return err
		}
	}
	return nil
}

// download fetches url into dest through a temporary file in dest's directory, renamed into
// place only once the SHA-256 of its (decompressed) content equals wantSHA256. On failure
// nothing is left behind.
func download(client *http.Client, url, dest, wantSHA256 string) (err error) {
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: HTTP status %s", url, resp.Status)
	}
	tmp, err := atomicfile.Create(dest)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	defer tmp.Abort()
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, maxDownloadBytes+1))
	if err != nil {
		return fmt.Errorf("download %s: after %d bytes: %w", url, n, err)
	}
	if n > maxDownloadBytes {
		return fmt.Errorf("download %s: larger than the limit of %d bytes", url, maxDownloadBytes)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	got, err := contentSHA256(tmp.Name())
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	if got != wantSHA256 {
		return fmt.Errorf("download %s: checksum mismatch: content SHA-256 %s, want %s", url, got, wantSHA256)
	}
	if err = tmp.Commit(); err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	return nil
}

// contentSHA256 returns the hex SHA-256 of the file's content, decompressed first if it is
// gzip-compressed.
func contentSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	h := sha256.New()
	if n, err := io.Copy(h, io.LimitReader(r, maxContentBytes+1)); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("truncated: %w", err)
		}
		return "", fmt.Errorf("%s: %w", path, err)
	} else if n > maxContentBytes {
		return "", fmt.Errorf("%s: content larger than the limit of %d bytes", path, maxContentBytes)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
