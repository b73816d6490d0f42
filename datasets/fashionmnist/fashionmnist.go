// Package fashionmnist loads Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, "Fashion-MNIST: a
// Novel Image Dataset for Benchmarking Machine Learning Algorithms", arXiv:1708.07747):
// 70,000 grayscale 28×28 images of clothing in 10 classes, split into 60,000 for training
// and 10,000 for testing, stored as IDX files like MNIST.
//
// Load looks for the four files (gzip-compressed or not) in, in order:
//  1. the directory passed to Load, or its fashion-mnist/ subdirectory;
//  2. $QZOO_DATA_DIR, or its fashion-mnist/ subdirectory;
//  3. /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist package);
//  4. the download cache $XDG_CACHE_HOME/qzoo/fashion-mnist (only when 1 and 2 are unset).
//
// When none holds them all, Load downloads the missing ones from Zalando Research's public
// server into the fashion-mnist/ subdirectory of the first of the directory passed to Load,
// $QZOO_DATA_DIR or $XDG_CACHE_HOME/qzoo, checking each against a SHA-256 checksum before
// moving it in place.
//
// The checksums cover the decompressed IDX bytes rather than the .gz files: Debian
// recompressed the files, so their .gz checksums differ from the MD5s upstream publishes,
// while the IDX bytes are the same (their SHA-256s below match those other projects list for
// files verified against upstream's MD5s).
package fashionmnist

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/qzoo/qzoo/datasets"
	"github.com/qzoo/qzoo/datasets/idx"
	"github.com/qzoo/qzoo/framework"
)

// Image size and number of classes.
const (
	Height     = 28
	Width      = 28
	NumClasses = 10
)

// DataDirEnv names the environment variable of the data directory searched after the one
// passed to Load.
const DataDirEnv = framework.DataDirEnv

// SystemDir is where Debian's dataset-fashion-mnist package installs the files.
const SystemDir = "/usr/share/datasets/fashion-mnist"

// BaseURL is the public server the files are downloaded from, as <BaseURL><name>.gz.
const BaseURL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

// ClassNames are the labels' names, indexed by label.
var ClassNames = [NumClasses]string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// Split is one part of the dataset, train or test.
type Split struct {
	// Images holds N images of Height×Width pixels, row-major, one byte each as the idx file
	// stores them (0 to 255); batches scale them to [0, 1] (datasets.PixelScale).
	Images []uint8
	// Labels holds the class (0 to NumClasses-1) of each image.
	Labels []uint8
	// N is the number of images; Height and Width their size in pixels.
	N, Height, Width int
}

// Batches returns batches over the split; see datasets.ImageBatches for the options.
func (s *Split) Batches(name string, batchSize int) *datasets.ImageBatches {
	return datasets.NewImageBatches(name, s.Images, s.Labels, s.N, s.Height, s.Width, batchSize)
}

// Dataset holds both splits.
type Dataset struct {
	Train, Test *Split
}

// idxFile is one of the four files of the dataset.
type idxFile struct {
	name   string // Without the .gz suffix.
	dims   []int  // Expected dimensions.
	sha256 string // Of the decompressed content.
}

var (
	trainImages = idxFile{"train-images-idx3-ubyte", []int{60000, Height, Width},
		"c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"}
	trainLabels = idxFile{"train-labels-idx1-ubyte", []int{60000},
		"bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"}
	testImages = idxFile{"t10k-images-idx3-ubyte", []int{10000, Height, Width},
		"5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"}
	testLabels = idxFile{"t10k-labels-idx1-ubyte", []int{10000},
		"0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"}
	allFiles = []idxFile{trainImages, trainLabels, testImages, testLabels}
)

// Load returns the train and test splits, finding or downloading the files as described in
// the package documentation. dataDir may be empty.
func Load(dataDir string) (*Dataset, error) {
	return defaultSource().load(dataDir)
}

// load finds the files, downloads them if needed and reads them.
func (s *source) load(dataDir string) (*Dataset, error) {
	paths, looked, downloadDir := s.locate(dataDir)
	if paths != nil {
		return loadFiles(paths)
	}
	if downloadDir == "" {
		return nil, fmt.Errorf("fashionmnist: dataset not found and no directory to download it into "+
			"(%s unset, no cache directory); looked in:\n%s", DataDirEnv, strings.Join(looked, "\n"))
	}
	if err := s.downloadMissing(downloadDir); err != nil {
		return nil, fmt.Errorf("fashionmnist: dataset not found; looked in:\n%s\nthen downloading into %s failed: %w\n"+
			"Install Debian's dataset-fashion-mnist package, or put the files in one of the directories above",
			strings.Join(looked, "\n"), downloadDir, err)
	}
	paths, missing := findFiles(downloadDir)
	if len(missing) > 0 {
		return nil, fmt.Errorf("fashionmnist: %s: missing %s after download", downloadDir, strings.Join(missing, ", "))
	}
	return loadFiles(paths)
}

// locate returns the paths of the files in the first directory that holds them all, or, if
// none does, nil paths, one line per directory looked in saying what it lacks, and the
// directory to download into ("" if there is none).
func (s *source) locate(dataDir string) (paths, looked []string, downloadDir string) {
	candidates, downloadDir := s.dirs(dataDir)
	for _, dir := range candidates {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			looked = append(looked, fmt.Sprintf("  %s: no such directory", dir))
			continue
		}
		paths, missing := findFiles(dir)
		if len(missing) == 0 {
			return paths, nil, downloadDir
		}
		looked = append(looked, fmt.Sprintf("  %s: missing %s", dir, strings.Join(missing, ", ")))
	}
	return nil, looked, downloadDir
}

// dirs returns the directories to search, in order, and the one to download into.
func (s *source) dirs(dataDir string) (candidates []string, downloadDir string) {
	add := func(dir string) {
		if dir != "" && !slices.Contains(candidates, dir) {
			candidates = append(candidates, dir)
		}
	}
	envDir := s.getenv(DataDirEnv)
	for _, base := range []string{dataDir, envDir} {
		if base != "" {
			add(base)
			add(filepath.Join(base, "fashion-mnist"))
			if downloadDir == "" {
				downloadDir = filepath.Join(base, "fashion-mnist")
			}
		}
	}
	add(s.systemDir)
	if downloadDir == "" {
		if cache, err := s.cacheDir(); err == nil && cache != "" {
			downloadDir = filepath.Join(cache, "qzoo", "fashion-mnist")
			add(downloadDir)
		}
	}
	return candidates, downloadDir
}

// findFiles returns the path of each of allFiles in dir (plain or .gz) and the names of
// those missing.
func findFiles(dir string) (paths []string, missing []string) {
	for _, f := range allFiles {
		path := ""
		for _, candidate := range []string{f.name, f.name + ".gz"} {
			if info, err := os.Stat(filepath.Join(dir, candidate)); err == nil && info.Mode().IsRegular() {
				path = filepath.Join(dir, candidate)
				break
			}
		}
		if path == "" {
			missing = append(missing, f.name+"[.gz]")
		}
		paths = append(paths, path)
	}
	return paths, missing
}

// loadFiles reads the files at paths (in the order of allFiles), all four concurrently.
func loadFiles(paths []string) (*Dataset, error) {
	arrays := make([]*idx.Array, len(allFiles))
	errs := make([]error, len(allFiles))
	var wg sync.WaitGroup
	for i, f := range allFiles {
		wg.Go(func() { arrays[i], errs[i] = readChecked(paths[i], f.dims) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	train, err := newSplit(arrays[0], arrays[1], paths[1])
	if err != nil {
		return nil, err
	}
	test, err := newSplit(arrays[2], arrays[3], paths[3])
	if err != nil {
		return nil, err
	}
	return &Dataset{Train: train, Test: test}, nil
}

// readChecked reads an IDX file that must have exactly the dimensions dims.
func readChecked(path string, dims []int) (*idx.Array, error) {
	size := int64(1)
	for _, d := range dims {
		size *= int64(d)
	}
	a, err := idx.ReadFile(path, size)
	if err != nil {
		return nil, fmt.Errorf("fashionmnist: %w", err)
	}
	if !slices.Equal(a.Dims, dims) {
		return nil, fmt.Errorf("fashionmnist: %s: dimensions %v, want %v", path, a.Dims, dims)
	}
	return a, nil
}

// newSplit converts checked image and label arrays to a Split, validating the labels.
func newSplit(images, labels *idx.Array, labelsPath string) (*Split, error) {
	for i, l := range labels.Data {
		if int(l) >= NumClasses {
			return nil, fmt.Errorf("fashionmnist: %s: label %d of example %d is out of range [0, %d)",
				labelsPath, l, i, NumClasses)
		}
	}
	return &Split{Images: images.Data, Labels: labels.Data,
		N: images.Dims[0], Height: images.Dims[1], Width: images.Dims[2]}, nil
}
