package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/internal/strictjson"

	"github.com/qzoo/qzoo/formats/safetensors"
	"github.com/qzoo/qzoo/internal/sniff"
)

// File names of a model directory.
const (
	ConfigFile  = "config.json"
	WeightsFile = "model.safetensors"
	IndexFile   = "model.safetensors.index.json"
)

// Bounds on the index.
const (
	maxIndexSize = 64 << 20 // bytes of model.safetensors.index.json
	maxShards    = 1 << 12
)

// Index is model.safetensors.index.json: which shard holds each tensor.
type Index struct {
	Metadata  map[string]any    `json:"metadata,omitempty"`
	WeightMap map[string]string `json:"weight_map"`
}

// ParseIndex decodes and checks an index (errors do not name the file: [Open] adds it): its
// weight_map must name at least one tensor, and each shard by a plain file name ending in
// .safetensors (no directory, so an index cannot point outside its model directory), at most
// 4096 shards.
func ParseIndex(b []byte) (*Index, error) {
	if len(b) > maxIndexSize {
		return nil, fmt.Errorf("%d bytes is over the limit of %d", len(b), maxIndexSize)
	}
	ix := &Index{}
	if err := json.Unmarshal(b, ix); err != nil {
		return nil, strictjson.Describe(b, err)
	}
	if len(ix.WeightMap) == 0 {
		return nil, errors.New(`key "weight_map" names no tensor`)
	}
	shards := map[string]bool{}
	for name, shard := range ix.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || strings.ContainsAny(shard, `/\`) || shard == "." || shard == ".." ||
			!strings.HasSuffix(shard, ".safetensors") {
			return nil, fmt.Errorf("tensor %q: shard %q is not a .safetensors file name in the model's directory", name, shard)
		}
		shards[shard] = true
	}
	if len(shards) > maxShards {
		return nil, fmt.Errorf("%d shards is over the limit of %d", len(shards), maxShards)
	}
	return ix, nil
}

// Shards lists the index's shard files, sorted.
func (ix *Index) Shards() []string {
	var out []string
	for _, s := range ix.WeightMap {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// ReadConfig reads and checks dir/config.json; errors name the file.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := sniff.ReadFile(path, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	if what := sniff.StandIn(b); what != "" {
		return nil, fmt.Errorf("hf: %s is %s, not a config.json", path, what)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", path, err)
	}
	return c, nil
}

// IsModelDir says whether dir looks like a model directory: a config.json beside a
// model.safetensors or a model.safetensors.index.json (a qzoo run directory has a
// config.json too, but no weights of these names).
func IsModelDir(dir string) bool {
	exists := func(name string) bool {
		st, err := os.Stat(filepath.Join(dir, name))
		return err == nil && st.Mode().IsRegular()
	}
	return exists(ConfigFile) && (exists(WeightsFile) || exists(IndexFile))
}

// Dir is an open model directory: its config and its weights, in model.safetensors or in the
// shards an index names, each shard's header read and checked ([safetensors.Open]) and its
// tensors read one at a time. Close it when done.
type Dir struct {
	Path   string
	Config *Config
	files  map[string]*safetensors.File // by shard file name
	where  map[string]string            // tensor → shard file name
}

// Open opens the model directory dir: config.json, then model.safetensors.index.json and the
// shards it names, or else model.safetensors. It refuses, naming the file and the tensor: an
// index naming a shard that is missing or does not hold the tensor, a tensor in two shards
// (or in a shard the index does not list it for), and whatever [safetensors.Open] refuses (a
// truncated shard: tensors past the end of the file).
func Open(dir string) (*Dir, error) {
	c, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	d := &Dir{Path: dir, Config: c, files: map[string]*safetensors.File{}, where: map[string]string{}}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	indexPath := filepath.Join(dir, IndexFile)
	b, err := sniff.ReadFile(indexPath, maxIndexSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := d.openShard(WeightsFile); err != nil {
			return nil, err
		}
		for _, name := range d.files[WeightsFile].Names() {
			d.where[name] = WeightsFile
		}
	case err != nil:
		return nil, fmt.Errorf("hf: %w", err)
	default:
		ix, err := ParseIndex(b)
		if err != nil {
			return nil, fmt.Errorf("hf: %s: %w", indexPath, err)
		}
		for _, shard := range ix.Shards() {
			if err := d.openShard(shard); err != nil {
				return nil, fmt.Errorf("hf: %s names shard %s: %w", indexPath, shard, err)
			}
		}
		for name, shard := range ix.WeightMap {
			if _, ok := d.files[shard].Info(name); !ok {
				return nil, fmt.Errorf("hf: %s: tensor %q is not in shard %s", indexPath, name, filepath.Join(dir, shard))
			}
			d.where[name] = shard
		}
		for shard, f := range d.files {
			for _, name := range f.Names() {
				if d.where[name] != shard {
					return nil, fmt.Errorf("hf: %s: tensor %q of %s is listed for shard %q", indexPath, name, f.Path, ix.WeightMap[name])
				}
			}
		}
	}
	ok = true
	return d, nil
}

func (d *Dir) openShard(name string) error {
	f, err := safetensors.Open(filepath.Join(d.Path, name))
	if err != nil {
		return err
	}
	d.files[name] = f
	return nil
}

// Close closes the shards.
func (d *Dir) Close() error {
	var errs []error
	for _, f := range d.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Names lists the directory's tensors, sorted.
func (d *Dir) Names() []string {
	var out []string
	for name := range d.where {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Has says whether a shard holds the tensor.
func (d *Dir) Has(name string) bool { _, ok := d.where[name]; return ok }

// Info describes the tensor and names the file that holds it.
func (d *Dir) Info(name string) (safetensors.Info, string, bool) {
	shard, ok := d.where[name]
	if !ok {
		return safetensors.Info{}, "", false
	}
	info, _ := d.files[shard].Info(name)
	return info, d.files[shard].Path, true
}

// Float32 reads the tensor as float32 ([safetensors.File.Float32]: F64, F32, F16, BF16), after
// checking that its shape is want; errors name the file (the directory for a missing tensor)
// and the tensor.
func (d *Dir) Float32(name string, want ...int) ([]float32, error) {
	shard, ok := d.where[name]
	if !ok {
		return nil, fmt.Errorf("hf: %s: no tensor %q", d.Path, name)
	}
	f := d.files[shard]
	info, _ := f.Info(name)
	if !slices.Equal(info.Shape, want) {
		return nil, fmt.Errorf("hf: %s: tensor %q has shape %v, want %v", f.Path, name, info.Shape, want)
	}
	return f.Float32(name)
}

// Bytes returns the tensor's raw little-endian bytes ([safetensors.File.Bytes]), any dtype.
func (d *Dir) Bytes(name string) ([]byte, error) {
	shard, ok := d.where[name]
	if !ok {
		return nil, fmt.Errorf("hf: %s: no tensor %q", d.Path, name)
	}
	return d.files[shard].Bytes(name)
}
