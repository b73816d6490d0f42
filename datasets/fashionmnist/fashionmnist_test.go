package fashionmnist

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qzoo/qzoo/datasets/idx"
)

// requireSystemData fails the test when Debian's dataset-fashion-mnist package is absent
// (scripts/install-deps.sh installs it): a test of real data never skips.
func requireSystemData(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(SystemDir, trainImages.name+".gz")); err != nil {
		t.Fatalf("Fashion-MNIST not installed in %s (run scripts/install-deps.sh, or apt-get install dataset-fashion-mnist): %v", SystemDir, err)
	}
}

// testSource searches only the given system directory, sees no environment and caches in
// a temporary directory; its server refuses connections, so nothing is downloaded.
func testSource(t *testing.T, systemDir string) *source {
	s := defaultSource()
	s.getenv = func(string) string { return "" }
	s.systemDir = systemDir
	cache := t.TempDir()
	s.cacheDir = func() (string, error) { return cache, nil }
	s.baseURL = "http://127.0.0.1:1/"
	return s
}

func TestLoadSystemData(t *testing.T) {
	requireSystemData(t)
	start := time.Now()
	ds, err := testSource(t, SystemDir).load("")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded in %s", time.Since(start))
	for _, c := range []struct {
		name      string
		split     *Split
		n         int
		wantMean  float64
		tolerance float64
	}{
		{"train", ds.Train, 60000, 0.2860, 0.01},
		{"test", ds.Test, 10000, 0.2868, 0.01},
	} {
		s := c.split
		if s.N != c.n || s.Height != 28 || s.Width != 28 || len(s.Images) != c.n*28*28 || len(s.Labels) != c.n {
			t.Fatalf("%s: N=%d %d×%d, %d pixels, %d labels; want N=%d 28×28", c.name, s.N, s.Height, s.Width,
				len(s.Images), len(s.Labels), c.n)
		}
		var perClass [NumClasses]int
		for _, l := range s.Labels {
			if int(l) >= NumClasses {
				t.Fatalf("%s: label %d out of range", c.name, l)
			}
			perClass[l]++
		}
		// Fashion-MNIST is balanced: every class has a tenth of the examples.
		for class, count := range perClass {
			if count != c.n/NumClasses {
				t.Errorf("%s: class %d has %d examples, want %d", c.name, class, count, c.n/NumClasses)
			}
		}
		sum, lo, hi := 0.0, uint8(255), uint8(0)
		for _, p := range s.Images {
			sum += float64(p)
			lo, hi = min(lo, p), max(hi, p)
		}
		mean := sum / 255 / float64(len(s.Images))
		if lo != 0 || hi != 255 || mean < c.wantMean-c.tolerance || mean > c.wantMean+c.tolerance {
			t.Errorf("%s: pixel bytes in [%d, %d] with mean %.4f (scaled to [0, 1]), want [0, 255] with mean %.4f±%g",
				c.name, lo, hi, mean, c.wantMean, c.tolerance)
		}
	}
}

func TestChecksumsMatchSystemData(t *testing.T) {
	requireSystemData(t)
	if testing.Short() {
		t.Skip("hashes 55 MB of decompressed data; run without -short")
	}
	for _, f := range allFiles {
		got, err := contentSHA256(filepath.Join(SystemDir, f.name+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		if got != f.sha256 {
			t.Errorf("%s: content SHA-256 %s, want %s", f.name, got, f.sha256)
		}
	}
}

// touchAll creates empty files named like the dataset's in dir, compressed or not.
func touchAll(t *testing.T, dir string, suffix string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range allFiles {
		if err := os.WriteFile(filepath.Join(dir, f.name+suffix), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLocateOrder(t *testing.T) {
	root := t.TempDir()
	argDir := filepath.Join(root, "arg")
	envDir := filepath.Join(root, "env")
	systemDir := filepath.Join(root, "system")
	withEnv := func(s *source) *source {
		s.getenv = func(key string) string {
			if key == DataDirEnv {
				return envDir
			}
			return ""
		}
		return s
	}
	found := func(s *source, dataDir string) string {
		t.Helper()
		paths, looked, _ := s.locate(dataDir)
		if paths == nil {
			t.Fatalf("not found; looked in:\n%s", strings.Join(looked, "\n"))
		}
		return filepath.Dir(paths[0])
	}

	// Only the system directory: it is used.
	touchAll(t, systemDir, ".gz")
	if got := found(testSource(t, systemDir), ""); got != systemDir {
		t.Errorf("got %s, want the system directory %s", got, systemDir)
	}
	// $QZOO_DATA_DIR/fashion-mnist comes before the system directory.
	touchAll(t, filepath.Join(envDir, "fashion-mnist"), "")
	if got := found(withEnv(testSource(t, systemDir)), ""); got != filepath.Join(envDir, "fashion-mnist") {
		t.Errorf("got %s, want %s/fashion-mnist", got, envDir)
	}
	// The directory argument comes before the environment; plain files are found too.
	touchAll(t, argDir, "")
	if got := found(withEnv(testSource(t, systemDir)), argDir); got != argDir {
		t.Errorf("got %s, want the argument %s", got, argDir)
	}
	// An incomplete directory is passed over.
	os.Remove(filepath.Join(argDir, testLabels.name))
	if got := found(withEnv(testSource(t, systemDir)), argDir); got != filepath.Join(envDir, "fashion-mnist") {
		t.Errorf("got %s, want %s/fashion-mnist", got, envDir)
	}
}

func TestLocateNowhere(t *testing.T) {
	s := testSource(t, filepath.Join(t.TempDir(), "absent"))
	cache, _ := s.cacheDir()
	paths, looked, downloadDir := s.locate("")
	if paths != nil {
		t.Fatalf("found %v", paths)
	}
	if want := filepath.Join(cache, "qzoo", "fashion-mnist"); downloadDir != want {
		t.Errorf("download directory %s, want %s", downloadDir, want)
	}
	dataDir := t.TempDir()
	_, looked, downloadDir = s.locate(dataDir)
	if want := filepath.Join(dataDir, "fashion-mnist"); downloadDir != want {
		t.Errorf("download directory %s, want %s", downloadDir, want)
	}
	if len(looked) != 3 || !strings.Contains(looked[0], dataDir+": missing train-images-idx3-ubyte[.gz], ") ||
		!strings.Contains(looked[2], s.systemDir+": no such directory") {
		t.Errorf("looked in:\n%s", strings.Join(looked, "\n"))
	}
}

func TestLoadOfflineListsPlaces(t *testing.T) {
	s := testSource(t, filepath.Join(t.TempDir(), "absent"))
	dataDir := t.TempDir()
	start := time.Now()
	_, err := s.load(dataDir)
	if err == nil {
		t.Fatal("no error")
	}
	t.Logf("the error users see:\n%v", err)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("failing took %s, want a quick failure", elapsed)
	}
	for _, want := range []string{dataDir, filepath.Join(dataDir, "fashion-mnist"), s.systemDir,
		"downloading into " + filepath.Join(dataDir, "fashion-mnist") + " failed", s.baseURL + trainImages.name + ".gz"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dataDir, "fashion-mnist"))
	if len(entries) != 0 {
		t.Errorf("failed download left %d files behind", len(entries))
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDownload(t *testing.T) {
	content := []byte("\x00\x00\x08\x01\x00\x00\x00\x03abc")
	sum := sha256.Sum256(content)
	want := hex.EncodeToString(sum[:])
	good := gzipped(t, content)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good.gz":
			w.Write(good)
		case "/other.gz":
			w.Write(gzipped(t, []byte("something else")))
		case "/truncated.gz":
			w.Write(good[:len(good)-6])
		default:
			http.NotFound(w, r)
		}
	}))
	defer server.Close()

	dir := t.TempDir()
	dest := filepath.Join(dir, "good.gz")
	if err := download(server.Client(), server.URL+"/good.gz", dest, want); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, good) {
		t.Errorf("downloaded file differs from the served one (%v)", err)
	}
	for path, wantErr := range map[string]string{
		"/other.gz":     "checksum mismatch",
		"/truncated.gz": "truncated",
		"/missing.gz":   "404",
	} {
		dir := t.TempDir()
		err := download(server.Client(), server.URL+path, filepath.Join(dir, "x.gz"), want)
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), server.URL+path) {
			t.Errorf("%s: got error %v, want one naming the URL and containing %q", path, err, wantErr)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s: rejected download left %s behind", path, entries[0].Name())
		}
	}
}

// TestLoadDownloads serves the system files over loopback and loads them through the
// download path.
func TestLoadDownloads(t *testing.T) {
	requireSystemData(t)
	if testing.Short() {
		t.Skip("downloads and hashes 31 MB over loopback; run without -short")
	}
	server := httptest.NewServer(http.FileServer(http.Dir(SystemDir)))
	defer server.Close()
	s := testSource(t, filepath.Join(t.TempDir(), "absent"))
	s.baseURL, s.client = server.URL+"/", server.Client()
	dataDir := t.TempDir()
	ds, err := s.load(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.N != 60000 || ds.Test.N != 10000 {
		t.Errorf("got %d train and %d test examples", ds.Train.N, ds.Test.N)
	}
	paths, _ := findFiles(filepath.Join(dataDir, "fashion-mnist"))
	for i, f := range allFiles {
		if paths[i] != filepath.Join(dataDir, "fashion-mnist", f.name+".gz") {
			t.Errorf("%s not downloaded into %s/fashion-mnist", f.name, dataDir)
		}
	}
}

// copyTruncated writes the first keep bytes of the system file name into dir.
func copyTruncated(t *testing.T, dir, name string, keep int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(SystemDir, name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b[:min(keep, len(b))], 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCorruptFiles(t *testing.T) {
	requireSystemData(t)
	dir := t.TempDir()
	// A truncated file among good ones: Load names it.
	for _, f := range allFiles {
		if f.name != testLabels.name {
			if err := os.Symlink(filepath.Join(SystemDir, f.name+".gz"), filepath.Join(dir, f.name+".gz")); err != nil {
				t.Fatal(err)
			}
		}
	}
	truncated := copyTruncated(t, dir, testLabels.name+".gz", 3000)
	if _, err := testSource(t, SystemDir).load(dir); err == nil || !strings.Contains(err.Error(), truncated) {
		t.Errorf("got error %v, want one naming %s", err, truncated)
	}

	other := t.TempDir()
	tests := []struct {
		path string
		dims []int
		want string
	}{
		{copyTruncated(t, other, testImages.name+".gz", 1<<20), testImages.dims, "data: truncated"},
		{copyTruncated(t, other, testLabels.name+".gz", 10), testLabels.dims, "magic: expected 4 bytes, got 0"},
		// Train labels where test labels belong: too many.
		{filepath.Join(SystemDir, trainLabels.name+".gz"), testLabels.dims, "larger than the limit of 10000"},
	}
	for _, tt := range tests {
		_, err := readChecked(tt.path, tt.dims)
		if err == nil || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v, want one naming the file and containing %q", tt.path, err, tt.want)
		}
	}
}

func TestWrongShapeAndLabels(t *testing.T) {
	dir := t.TempDir()
	// 1 image of 28×28 where 10000 are expected.
	small := filepath.Join(dir, "small")
	os.WriteFile(small, append([]byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28}, make([]byte, 784)...), 0o644)
	if _, err := readChecked(small, testImages.dims); err == nil ||
		!strings.Contains(err.Error(), small+": dimensions [1 28 28], want [10000 28 28]") {
		t.Errorf("got error %v", err)
	}
	images := &idx.Array{Dims: []int{2, 28, 28}, Data: make([]uint8, 2*784)}
	labels := &idx.Array{Dims: []int{2}, Data: []uint8{3, 10}}
	if _, err := newSplit(images, labels, "labels-file"); err == nil ||
		!strings.Contains(err.Error(), "labels-file: label 10 of example 1 is out of range [0, 10)") {
		t.Errorf("got error %v", err)
	}
}
