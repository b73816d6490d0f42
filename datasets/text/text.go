// Package text is a language-modelling dataset over a UTF-8 text file tokenized with a
// llama2.c tokenizer (e.g. Shakespeare with tok512), registered with the framework as "text".
//
// The token stream of the whole file is cut, in order, into a training part, a validation
// part and a test part (text_validation_fraction and text_test_fraction of the tokens, from
// the end): no window crosses a split, so no step trains or calibrates on held-out text. Each
// split is cut into non-overlapping windows of L = text_seq_len target tokens; a window's
// input is BOS followed by the L−1 tokens before each target, so every token of a split (but
// the last, partial window's) is predicted exactly once, and every window starts as the
// stories the model was trained on do. Perplexity over a split is therefore
// exp(−(1/N) Σ log p(t_i | BOS, t_{window start}..t_{i−1})).
//
// A corpus of several files (text_file a comma-separated list of files or glob patterns, e.g.
// "text/tinyshakespeare.txt,/usr/share/games/fortunes/*.u8") is split file by file — each
// file's own last text_test_fraction of tokens is test, the part before it validation — and
// each split is the concatenation, in list order (a pattern's matches sorted), of the files'
// parts: every file is represented in every split, and no held-out token of any file is ever
// trained on. A window may span the end of one file and the start of the next.
package text

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/datasets"
	"github.com/qzoo/qzoo/formats/hf"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
)

// DatasetName is the name the dataset is registered under.
const DatasetName = "text"

// Hyperparameters of the dataset.
const (
	// ParamFile is the text file, relative to the data directory (or absolute), or a
	// comma-separated list of files and glob patterns (a corpus, split file by file). Default
	// "text/tinyshakespeare.txt".
	ParamFile = "text_file"
	// ParamTokenizer is the llama2.c tokenizer file, or a Hugging Face model directory whose
	// tokenizer.json is read (package formats/hf), relative to the data directory (or
	// absolute). Default "weights/tok512.bin".
	ParamTokenizer = "text_tokenizer"
	// ParamBOS is the token every window's input starts with. Default llama2.c's BOS, 1; a
	// Hugging Face model's is its bos_token_id (models/llama's Open sets it).
	ParamBOS = "text_bos"
	// ParamVocabSize is the tokenizer's number of pieces (the file does not store it).
	// Default 512. A model that reads these windows has its own key for its vocabulary, which
	// is the one home of the number: llama's Validate refuses a config where text_vocab_size
	// and llama_vocab_size disagree, naming both.
	ParamVocabSize = "text_vocab_size"
	// ParamSeqLen is L, the target tokens per window: at most the model's context (llama's
	// Validate checks it against llama_seq_len). Default 256.
	ParamSeqLen = "text_seq_len"
	// ParamValidation is the fraction of the tokens held out as the validation split. Default 0.05.
	ParamValidation = "text_validation_fraction"
	// ParamTest is the fraction of the tokens, at the end, held out as the test split. Default 0.05.
	ParamTest = "text_test_fraction"
)

// Params lists the dataset's hyperparameters.
var Params = hparams.List{
	{Key: ParamFile, Default: "text/tinyshakespeare.txt", Doc: "UTF-8 text file, relative to the data directory or absolute; or a comma-separated list of files and glob patterns, split file by file"},
	{Key: ParamTokenizer, Default: "weights/tok512.bin", Doc: "llama2.c tokenizer file, or a Hugging Face model directory with a tokenizer.json; relative to the data directory or absolute"},
	{Key: ParamBOS, Default: llama2c.BOS, Domain: hparams.Range(0, llama2c.MaxVocab-1), Doc: "the token each window's input starts with (llama2.c's BOS; a Hugging Face model's bos_token_id)"},
	{Key: ParamVocabSize, Default: 512, Domain: hparams.Range(llama2c.EOS+1, llama2c.MaxVocab), Doc: "number of pieces of the tokenizer (must equal the model's vocabulary, e.g. llama_vocab_size)"},
	{Key: ParamSeqLen, Default: 256, Domain: hparams.Range(1, 1<<16), Doc: "L: target tokens per window (the input is BOS + the L−1 tokens before)"},
	{Key: ParamValidation, Default: 0.05, Domain: hparams.Range(0.0, 0.5), Doc: "fraction of the tokens held out as the validation split (before the test split)"},
	{Key: ParamTest, Default: 0.05, Domain: hparams.Range(0.0, 0.5), Doc: "fraction of the tokens held out at the end as the test split"},
}

func init() {
	framework.RegisterDataset(&framework.Dataset{
		Name:   DatasetName,
		Doc:    "a text file as token windows for language models (default Shakespeare, tok512); splits train, validation, test by position",
		Params: Params,
		Load: func(dataDir string, params map[string]any) (*framework.Data, error) {
			return Load(dataDir, params)
		},
	})
	framework.RegisterDataFile(framework.DataFile{Path: "text/tinyshakespeare.txt", MaxBytes: 2 << 20,
		URL:    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
		SHA256: "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"})
}

// Tokenizer is what the splits keep of their tokenizer (llama2.c's or a tokenizer.json):
// token ids back to text.
type Tokenizer interface {
	Decode(tokens []int) (string, error)
}

// Splits is a tokenized text cut into its three parts.
type Splits struct {
	Tokenizer Tokenizer
	BOS       int // the token each window's input starts with (text_bos)
	SeqLen    int
	Parts     map[string][]int // "train", "validation", "test" → tokens
	File      string           // the files read, comma-separated, in order
}

// MaxCorpusFiles bounds the files a text_file list and its patterns may name.
const MaxCorpusFiles = 4096

// corpusFiles resolves text_file: each comma-separated entry is a file (found by
// framework.LocateData, which downloads a registered one) or a glob pattern whose matches,
// sorted, must be regular files. A pattern that matches nothing is an error naming it.
func corpusFiles(dataDir, list string) ([]string, error) {
	var files []string
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("text: key %q: empty entry in %q", ParamFile, list)
		}
		if !strings.ContainsAny(entry, "*?[") {
			p, err := framework.LocateData(dataDir, entry)
			if err != nil {
				return nil, fmt.Errorf("text: key %q: %w", ParamFile, err)
			}
			files = append(files, p)
			continue
		}
		pattern := entry
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(dataDir, pattern)
		}
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("text: key %q: pattern %q: %w", ParamFile, entry, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("text: key %q: pattern %q matches no file", ParamFile, pattern)
		}
		sort.Strings(matches)
		for _, m := range matches {
			if st, err := os.Stat(m); err != nil || !st.Mode().IsRegular() {
				return nil, fmt.Errorf("text: key %q: %s (from pattern %q) is not a regular file", ParamFile, m, entry)
			}
		}
		files = append(files, matches...)
	}
	if len(files) > MaxCorpusFiles {
		return nil, fmt.Errorf("text: key %q names %d files, more than %d", ParamFile, len(files), MaxCorpusFiles)
	}
	return files, nil
}

// Load reads and tokenizes the text file of params and returns the framework's data.
func Load(dataDir string, params map[string]any) (*framework.Data, error) {
	s, err := LoadSplits(dataDir, params)
	if err != nil {
		return nil, err
	}
	return s.FrameworkData()
}

// LoadSplits reads, tokenizes and splits the text file of params.
func LoadSplits(dataDir string, params map[string]any) (*Splits, error) {
	get := func(key string) any {
		if v, ok := params[key]; ok {
			return v
		}
		p, _ := Params.Lookup(key)
		return p.Default
	}
	files, err := corpusFiles(dataDir, get(ParamFile).(string))
	if err != nil {
		return nil, err
	}
	tokPath, err := framework.LocateData(dataDir, get(ParamTokenizer).(string))
	if err != nil {
		return nil, fmt.Errorf("text: %w", err)
	}
	vocab := get(ParamVocabSize).(int)
	var tok Tokenizer
	var encode func(text string) ([]int, error)
	if st, err := os.Stat(tokPath); err == nil && st.IsDir() {
		t, err := hf.ReadTokenizer(tokPath)
		if err != nil {
			return nil, fmt.Errorf("text: %w", err)
		}
		if t.VocabSize() > vocab {
			return nil, fmt.Errorf("text: %s: the tokenizer has ids up to %d, over %s=%d", tokPath, t.VocabSize()-1, ParamVocabSize, vocab)
		}
		tok, encode = t, t.Encode
	} else {
		t, err := llama2c.LoadTokenizer(tokPath, vocab)
		if err != nil {
			return nil, err
		}
		tok, encode = t, func(text string) ([]int, error) { return t.Encode(text, false, false) }
	}
	seq := get(ParamSeqLen).(int)
	val, test := get(ParamValidation).(float64), get(ParamTest).(float64)
	s := &Splits{Tokenizer: tok, BOS: get(ParamBOS).(int), SeqLen: seq, File: strings.Join(files, ","), Parts: map[string][]int{}}
	for _, textPath := range files {
		raw, err := os.ReadFile(textPath)
		if err != nil {
			return nil, fmt.Errorf("text: %w", err)
		}
		if !utf8.Valid(raw) {
			return nil, fmt.Errorf("text: %s is not UTF-8 text", textPath)
		}
		toks, err := encode(string(raw))
		if err != nil {
			return nil, fmt.Errorf("text: %s: %w", textPath, err)
		}
		n := len(toks)
		nTest, nVal := int(float64(n)*test), int(float64(n)*val)
		s.Parts[framework.SplitTrain] = append(s.Parts[framework.SplitTrain], toks[:n-nTest-nVal]...)
		s.Parts[framework.SplitValidation] = append(s.Parts[framework.SplitValidation], toks[n-nTest-nVal:n-nTest]...)
		s.Parts[framework.SplitTest] = append(s.Parts[framework.SplitTest], toks[n-nTest:]...)
	}
	if len(s.Parts[framework.SplitTrain]) < seq {
		return nil, fmt.Errorf("text: %s: its %d training tokens hold no window of %s=%d", s.File, len(s.Parts[framework.SplitTrain]), ParamSeqLen, seq)
	}
	return s, nil
}

// Windows is a split cut into windows: a datasets.Source of inputs [L] and labels [L] (int32).
type Windows struct {
	Tokens []int
	L      int
	BOS    int // the first input token of every window
}

// Len is the number of whole windows.
func (w *Windows) Len() int { return len(w.Tokens) / w.L }

// Batch returns inputs (BOS then the L−1 tokens before each target) and the target tokens,
// [len(indices), L] each.
func (w *Windows) Batch(indices []int) (inputs, labels []*tensors.Tensor, err error) {
	in := make([][]int32, len(indices))
	out := make([][]int32, len(indices))
	for b, i := range indices {
		if i < 0 || i >= w.Len() {
			return nil, nil, fmt.Errorf("text: window %d out of [0, %d)", i, w.Len())
		}
		win := w.Tokens[i*w.L : (i+1)*w.L]
		in[b] = make([]int32, w.L)
		out[b] = make([]int32, w.L)
		in[b][0] = int32(w.BOS)
		for j, t := range win {
			out[b][j] = int32(t)
			if j+1 < w.L {
				in[b][j+1] = int32(t)
			}
		}
	}
	return []*tensors.Tensor{tensors.FromValue(in)}, []*tensors.Tensor{tensors.FromValue(out)}, nil
}

// Windows returns the named split's windows.
func (s *Splits) Windows(split string) *Windows {
	return &Windows{Tokens: s.Parts[split], L: s.SeqLen, BOS: s.BOS}
}

// FrameworkData returns shuffled training windows and in-order passes over the validation
// and test windows.
func (s *Splits) FrameworkData() (*framework.Data, error) {
	var splits []string
	for _, name := range []string{framework.SplitValidation, framework.SplitTest} {
		if s.Windows(name).Len() > 0 {
			splits = append(splits, name)
		}
	}
	return &framework.Data{
		TrainBatches: func(batchSize int, seed int64, start int64) train.Dataset {
			return datasets.NewBatches(DatasetName+"/train", s.Windows(framework.SplitTrain), batchSize).
				Shuffle(seed).Infinite(true).StartAtBatch(start)
		},
		EvalBatches: func(split string, batchSize int) (train.Dataset, error) {
			if split != framework.SplitTrain && s.Windows(split).Len() == 0 {
				return nil, errors.New("text: split " + split + " holds no whole window")
			}
			return datasets.NewBatches(DatasetName+"/"+split, s.Windows(split), batchSize), nil
		},
		EvalSplits: splits,
	}, nil
}
