package llama

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/datasets/text"
	"github.com/qzoo/qzoo/formats/hf"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/checkpoint"
)

// Opened is a Llama opened by [Open] from a llama2.c checkpoint, a Hugging Face model
// directory or a run directory.
type Opened struct {
	// Path is what was opened.
	Path string
	// Store holds the weights and the hyperparameters: a run's adapters, fake quantization
	// and calibrated cache constants included, as the run computes with them.
	Store *model.Store
	// Config is the run's config; for a checkpoint file, llama's defaults on the text dataset
	// with the file's architecture (text_vocab_size set to the file's vocabulary, and
	// text_seq_len shortened to the file's context when that is shorter).
	Config *framework.Config
	// Tokenizer is the tokenizer data file that goes with it: the run's text_tokenizer, else
	// llama2.c's tok512 ([Tok512File]); for a Hugging Face directory, the directory itself
	// (its tokenizer.json). [Opened.LoadTokenizer] reads it; set it to use another.
	Tokenizer string
	// HF is the config of a Hugging Face model directory, nil for the other kinds.
	HF      *hf.Config
	weights *Weights // a checkpoint file's weights as read
}

// BOS is the token a prompt starts with: llama2c.BOS, or a Hugging Face model's bos_token_id
// (none when its config has none: -1).
func (m *Opened) BOS() int {
	if m.HF == nil {
		return llama2c.BOS
	}
	if ids := m.HF.TokenIDs("bos_token_id"); len(ids) > 0 {
		return ids[0]
	}
	return -1
}

// StopTokens are the tokens that end a generation ([GenerateUntil]): llama2c.BOS (llama2.c's
// end of a story), or a Hugging Face model's eos_token_id (one or several).
func (m *Opened) StopTokens() []int {
	if m.HF == nil {
		return []int{llama2c.BOS}
	}
	return m.HF.TokenIDs("eos_token_id")
}

// Open opens a Llama from a llama2.c checkpoint file, from a Hugging Face model directory
// ([ReadHF]; [hf.IsModelDir] tells one) or from the latest checkpoint of a run directory of
// the train command (whose model must be "llama"; the teacher of a distilled run is not
// loaded). Errors name the path.
func Open(path string) (*Opened, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	if st.IsDir() && hf.IsModelDir(path) {
		w, err := ReadHF(path)
		if err != nil {
			return nil, err
		}
		m, err := openWeights(path, w)
		if err != nil {
			return nil, err
		}
		if m.HF, err = hf.ReadConfig(path); err != nil {
			return nil, err
		}
		m.Tokenizer = path
		// The text dataset reads this model's tokenizer.json and starts windows with its BOS.
		m.Config.Params[text.ParamTokenizer] = path
		if bos := m.BOS(); bos >= 0 {
			m.Config.Params[text.ParamBOS] = bos
		}
		return m, nil
	}
	if st.IsDir() {
		// A distilled student is a llama like any other: its teacher is not loaded.
		latest, _, err := checkpoint.Latest(path)
		if err != nil {
			return nil, fmt.Errorf("llama: %s is not a run directory: %w", path, err)
		}
		cfg, store, err := framework.LoadCheckpointWithoutTeacher(path, latest)
		if err != nil {
			return nil, err
		}
		if cfg.Model != "llama" {
			return nil, fmt.Errorf("llama: %s holds a %q run, not a llama", path, cfg.Model)
		}
		tok, _ := cfg.Params[text.ParamTokenizer].(string)
		if tok == "" {
			tok = Tok512File
		}
		return &Opened{Path: path, Store: store, Config: cfg, Tokenizer: tok}, nil
	}
	w, err := ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	return openWeights(path, w)
}

// openWeights is [Open] of the weights w read from path: a store holding them and llama's
// defaults on the text dataset with w's architecture.
func openWeights(path string, w *Weights) (*Opened, error) {
	store := model.NewStore()
	if err := w.Load(store); err != nil {
		return nil, fmt.Errorf("llama: %s: %w", path, err)
	}
	cfg := framework.DefaultConfig()
	cfg.Model, cfg.Dataset = "llama", text.DatasetName
	cfg.Params = map[string]any{text.ParamVocabSize: w.VocabSize}
	for _, p := range Params {
		if v, ok := store.GetParam(p.Key); ok {
			cfg.Params[p.Key] = v
		}
	}
	if p, ok := text.Params.Lookup(text.ParamSeqLen); ok && p.Default.(int) > w.SeqLen {
		cfg.Params[text.ParamSeqLen] = w.SeqLen
	}
	if err := cfg.Resolve(); err != nil {
		return nil, fmt.Errorf("llama: %s: %w", path, err)
	}
	return &Opened{Path: path, Store: store, Config: &cfg, Tokenizer: Tok512File, weights: w}, nil
}

// Weights returns the weights the opened model computes with: a checkpoint file's as read;
// a run's with its adapters merged and its fake quantization applied ([EffectiveWeights],
// computed on the Go backend).
func (m *Opened) Weights() (*Weights, error) {
	if m.weights != nil {
		return m.weights, nil
	}
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		return nil, err
	}
	w, err := EffectiveWeights(backend, m.Store)
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", m.Path, err)
	}
	return w, nil
}

// LoadTokenizer reads the tokenizer m.Tokenizer, found as a data file (framework.LocateData
// in dataDir) or else, as llama2.c keeps it, beside a checkpoint file, with the model's
// vocabulary size (llama_vocab_size).
func (m *Opened) LoadTokenizer(dataDir string) (*llama2c.Tokenizer, error) {
	path, err := framework.LocateData(dataDir, m.Tokenizer)
	if err != nil {
		beside := filepath.Join(filepath.Dir(m.Path), filepath.Base(m.Tokenizer))
		if st, statErr := os.Stat(m.Path); statErr != nil || st.IsDir() {
			return nil, fmt.Errorf("llama: tokenizer: %w", err)
		} else if _, statErr := os.Stat(beside); statErr != nil {
			return nil, fmt.Errorf("llama: tokenizer: %w", err)
		}
		path = beside
	}
	return llama2c.LoadTokenizer(path, m.Config.Params[ParamVocabSize].(int))
}

// openStories260K opens llama2.c's stories260K (found with framework.LocateData in dataDir)
// and its tokenizer: the model the own-stories texts are sampled from.
func openStories260K(dataDir string) (*Opened, *llama2c.Tokenizer, error) {
	path, err := framework.LocateData(dataDir, Stories260KFile)
	if err != nil {
		return nil, nil, err
	}
	m, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	tok, err := m.LoadTokenizer(dataDir)
	if err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}

// TextTokenizer turns text into token ids and ids back into bytes: llama2.c's tokenizer
// (formats/llama2c) or a Hugging Face tokenizer.json (formats/hf).
type TextTokenizer interface {
	// Encode returns the tokens of text, without BOS.
	Encode(text string) ([]int, error)
	// Piece returns the bytes of token next, which follows token prev.
	Piece(prev, next int) ([]byte, error)
}

// llama2cText is llama2.c's tokenizer as a [TextTokenizer].
type llama2cText struct{ *llama2c.Tokenizer }

func (t llama2cText) Encode(text string) ([]int, error) {
	return t.Tokenizer.Encode(text, false, false)
}

// PromptTokens is text as a prompt: the special tokens that a Hugging Face tokenizer.json's
// post_processor puts before a text, when the file has one (Llama 3's <|begin_of_text|>,
// Llama 2's <s>; none after Qwen2's ByteLevel: as transformers' tokenizer(text) gives), else
// the model's [Opened.BOS] (when it has one); then the text's tokens. Tokens a post_processor
// puts after the text (an end of sequence) are left out: a prompt is continued. With no
// token at all (an empty text, nothing before it), the BOS is used when the model has one.
func (m *Opened) PromptTokens(tok TextTokenizer, text string) ([]int, error) {
	var ids []int
	var tmpl *hf.Template
	if h, ok := tok.(*hf.Tokenizer); ok {
		var err error
		if tmpl, err = h.Template(); err != nil {
			return nil, err
		}
	}
	if tmpl != nil {
		ids = append(ids, tmpl.Before...)
	} else if bos := m.BOS(); bos >= 0 {
		ids = append(ids, bos)
	}
	enc, err := tok.Encode(text)
	if err != nil {
		return nil, err
	}
	ids = append(ids, enc...)
	if bos := m.BOS(); len(ids) == 0 && bos >= 0 {
		ids = []int{bos}
	}
	return ids, nil
}

// LoadTextTokenizer reads the tokenizer of the opened model: a Hugging Face directory's
// tokenizer.json (m.Tokenizer, a directory), else llama2.c's as [Opened.LoadTokenizer] finds it.
func (m *Opened) LoadTextTokenizer(dataDir string) (TextTokenizer, error) {
	if st, err := os.Stat(m.Tokenizer); err == nil && st.IsDir() {
		t, err := hf.ReadTokenizer(m.Tokenizer)
		if err != nil {
			return nil, err
		}
		if vocab := m.Config.Params[ParamVocabSize].(int); t.VocabSize() > vocab {
			return nil, fmt.Errorf("llama: %s: the tokenizer has ids up to %d, the model's vocabulary %d", m.Tokenizer, t.VocabSize()-1, vocab)
		}
		return t, nil
	}
	t, err := m.LoadTokenizer(dataDir)
	if err != nil {
		return nil, err
	}
	return llama2cText{t}, nil
}
