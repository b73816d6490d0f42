package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/qzoo/qzoo/formats/safetensors"
	"github.com/qzoo/qzoo/internal/atomicfile"
	"github.com/qzoo/qzoo/internal/sniff"
)

// TokenizerFiles are the files of a model directory that describe its tokenizer and its
// generation defaults, copied by [CopyTokenizer].
var TokenizerFiles = []string{"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
	"special_tokens_map.json", "vocab.json", "merges.txt", "generation_config.json"}

// maxTokenizerSize bounds a copied tokenizer file (Llama 3's tokenizer.json is 9 MB).
const maxTokenizerSize = 1 << 28

// Write writes a model directory: dir/model.safetensors with the tensors in order and the
// metadata ([safetensors.Write], atomically), then dir/config.json (atomically), creating dir
// when missing. The config is checked first.
func Write(dir string, c *Config, tensors []safetensors.Tensor, metadata map[string]string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("hf: config for %s: %w", dir, err)
	}
	b, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("hf: config for %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), tensors, metadata); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFile), b); err != nil {
		return fmt.Errorf("hf: write %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	return nil
}

// CopyTokenizer copies those of [TokenizerFiles] that src holds into dst (atomically each),
// and returns their names. src == dst copies nothing.
func CopyTokenizer(src, dst string) ([]string, error) {
	if a, err1 := filepath.Abs(src); err1 == nil {
		if b, err2 := filepath.Abs(dst); err2 == nil && a == b {
			return nil, nil
		}
	}
	var copied []string
	for _, name := range TokenizerFiles {
		b, err := sniff.ReadFile(filepath.Join(src, name), maxTokenizerSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return copied, fmt.Errorf("hf: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dst, name), b); err != nil {
			return copied, fmt.Errorf("hf: write %s: %w", filepath.Join(dst, name), err)
		}
		copied = append(copied, name)
	}
	return copied, nil
}
