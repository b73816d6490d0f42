package hf

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/qzoo/qzoo/internal/strictjson"

	"github.com/qzoo/qzoo/internal/bpe"

	"golang.org/x/text/unicode/norm"

	"github.com/qzoo/qzoo/internal/sniff"
)

// TokenizerFile is the tokenizers library's file of a model directory.
const TokenizerFile = "tokenizer.json"

// Bounds on what a tokenizer.json may hold, checked as it is read (the file itself is
// bounded by maxTokenizerSize).
const (
	maxTokenID    = 1 << 24 // a token id
	maxComponents = 64      // normalizers, pre-tokenizers or post-processors, Sequences flattened
	maxTemplate   = 64      // items of a TemplateProcessing template, ids of one of its special tokens
)

// Tokenizer is the byte-pair-encoding tokenizer of a tokenizer.json (the tokenizers library's
// "BPE" model) as the Llama family uses it. [Tokenizer.Encode] runs the library's pipeline:
//
//  1. added tokens ("<|begin_of_text|>", "<|im_start|>", "<s>", ...) are found in the raw text
//     first, the leftmost and then the longest, with their lstrip / rstrip (single_word and
//     normalized are not applied: the Llama family's added tokens set neither); the text
//     between them is encoded segment by segment;
//  2. the normalizer: NFC, NFD, NFKC, NFKD (Qwen2 has NFC), Prepend, Replace of a string
//     (Llama 2's "▁" prefix and spaces as "▁"), or a Sequence of these;
//  3. the pre-tokenizer: Split with one of the patterns [PatternLlama3] (Llama 3.x, whose
//     numbers go in groups of up to three digits), [PatternQwen2] (Qwen2: digit by digit) or
//     [PatternGPT2], behaviour "Isolated" (hand-written scanners, pretokenize.go says why);
//     Digits; ByteLevel (GPT-2's split when use_regex, add_prefix_space; SmolLM, SmolLM2,
//     and after a Split in Llama 3 and Qwen2); Metaspace (replacement, prepend_scheme, split);
//     or a Sequence of these, ByteLevel last;
//  4. byte-level tokenizers map every piece's bytes to the 256 printable characters of
//     GPT-2's byte table;
//  5. the BPE model: a piece in the vocabulary is one token when ignore_merges (Llama 3);
//     otherwise its characters are merged, the adjacent pair of lowest rank first; a symbol
//     left outside the vocabulary becomes its bytes' <0xHH> tokens (byte_fallback: Llama 2,
//     Mistral), else the unk_token, else an error naming it.
//
// Encode adds no special tokens around the text: the post_processor's are [Tokenizer.Template]'s
// (Llama 3's and Llama 2's TemplateProcessing put their BOS before the text; Qwen2's ByteLevel
// adds nothing). A normalizer, a pre-tokenizer (a Split pattern included) or a model option
// (continuing_subword_prefix, end_of_word_suffix, dropout) outside this list makes Encode an
// error naming it; [Tokenizer.Piece] decodes every tokenizer.
//
// Why not a library: github.com/gomlx/go-huggingface v0.3.1, the version that builds with
// qzoo's GoMLX, reads SentencePiece's tokenizer.model only; v0.4.41 (package
// tokenizers/hftokenizer) reads tokenizer.json but requires GoMLX v0.28.40, and compiles a
// Split's pattern with Go's regexp, which rejects the look-ahead of Llama 3's and Qwen2's, so
// it falls back to one piece for the whole text, and it splits on white space for a
// pre-tokenizer it does not know.
type Tokenizer struct {
	pieces       []string // by id ("" for an unused id)
	vocab        map[string]int
	ranks        map[[2]string]int
	added        []addedToken // longest first
	addedAt      map[int]int  // id → index in added
	norm         []normStep
	pre          []preStep
	byteLevel    bool // pieces mapped through GPT-2's byte table (a ByteLevel pre-tokenizer)
	spPrefix     bool // "▁" prepended (Prepend or Metaspace): Piece drops it at the start or after a special token
	fallback     bool // <0xHH> byte fallback
	ignoreMerges bool // a piece in the vocabulary is one token, unmerged
	unk          int  // -1 when none
	unsupport    string
	post         *Template // nil when no post_processor
	postErr      string    // why the post_processor is not supported, "" when it is
}

type addedToken struct {
	id             int
	content        string
	special        bool
	lstrip, rstrip bool
}

// normStep is one normalizer.
type normStep struct {
	kind string // "NFC", "NFD", "NFKC", "NFKD", "Prepend", "Replace"
	a, b string // Prepend: a; Replace: a with b
}

func (n normStep) apply(s string) string {
	switch n.kind {
	case "NFC":
		return norm.NFC.String(s)
	case "NFD":
		return norm.NFD.String(s)
	case "NFKC":
		return norm.NFKC.String(s)
	case "NFKD":
		return norm.NFKD.String(s)
	case "Prepend":
		if s == "" {
			return s
		}
		return n.a + s
	case "Replace":
		return strings.ReplaceAll(s, n.a, n.b)
	}
	panic("hf: normalizer " + n.kind)
}

// preStep is one pre-tokenizer.
type preStep struct {
	kind        string // "Split", "Digits", "ByteLevel", "Metaspace"
	maxDigits   int    // Split: 0 for PatternGPT2, 3 for PatternLlama3, 1 for PatternQwen2
	individual  bool   // Digits: every digit alone
	prefixSpace bool   // ByteLevel: add_prefix_space
	useRegex    bool   // ByteLevel: GPT-2's split
	replacement string // Metaspace
	scheme      string // Metaspace: "always", "first" or "never"
	split       bool   // Metaspace: cut before every replacement
}

// apply splits every word; atStart says words[0] begins the text (Metaspace's "first").
func (p preStep) apply(words []string, atStart bool) []string {
	var out []string
	for k, w := range words {
		switch p.kind {
		case "Split":
			if p.maxDigits == 0 {
				out = append(out, gpt2Split(w)...)
			} else {
				out = append(out, llama3Split(w, p.maxDigits)...)
			}
		case "Digits":
			out = append(out, digitsSplit(w, p.individual)...)
		case "ByteLevel":
			if p.prefixSpace && !strings.HasPrefix(w, " ") {
				w = " " + w
			}
			if p.useRegex {
				out = append(out, gpt2Split(w)...)
			} else {
				out = append(out, w)
			}
		case "Metaspace":
			w = strings.ReplaceAll(w, " ", p.replacement)
			if (p.scheme == "always" || p.scheme == "first" && atStart && k == 0) && !strings.HasPrefix(w, p.replacement) {
				w = p.replacement + w
			}
			if p.split {
				out = append(out, metaspaceSplit(w, p.replacement)...)
			} else {
				out = append(out, w)
			}
		}
	}
	return out
}

// ReadTokenizer reads dir/tokenizer.json; errors name the file.
func ReadTokenizer(dir string) (*Tokenizer, error) {
	path := filepath.Join(dir, TokenizerFile)
	b, err := sniff.ReadFile(path, maxTokenizerSize)
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	if what := sniff.StandIn(b); what != "" {
		return nil, fmt.Errorf("hf: %s is %s, not a tokenizer.json", path, what)
	}
	t, err := ParseTokenizer(b)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", path, err)
	}
	return t, nil
}

// ParseTokenizer decodes a tokenizer.json: a "BPE" model with its vocab and merges (as "a b"
// strings or [a, b] pairs), ids in [0, 2^24). What Encode cannot apply is recorded, not an
// error here: the tokenizer still decodes.
func ParseTokenizer(b []byte) (*Tokenizer, error) {
	var f struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
			LStrip  bool   `json:"lstrip"`
			RStrip  bool   `json:"rstrip"`
		} `json:"added_tokens"`
		Normalizer    json.RawMessage `json:"normalizer"`
		PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
		PostProcessor json.RawMessage `json:"post_processor"`
		Model         struct {
			Type                    string          `json:"type"`
			Vocab                   map[string]int  `json:"vocab"`
			Merges                  json.RawMessage `json:"merges"`
			ByteFallback            bool            `json:"byte_fallback"`
			UnkToken                *string         `json:"unk_token"`
			IgnoreMerges            bool            `json:"ignore_merges"`
			ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
			EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
			Dropout                 *float64        `json:"dropout"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, strictjson.Describe(b, err)
	}
	if f.Model.Type != "BPE" {
		return nil, fmt.Errorf("key \"model.type\" is %q: only \"BPE\" is supported", f.Model.Type)
	}
	t := &Tokenizer{vocab: f.Model.Vocab, ranks: map[[2]string]int{}, fallback: f.Model.ByteFallback, unk: -1,
		ignoreMerges: f.Model.IgnoreMerges, addedAt: map[int]int{}}
	maxID := -1
	for piece, id := range f.Model.Vocab {
		if id < 0 || id >= maxTokenID {
			return nil, fmt.Errorf("vocab: piece %q has id %d out of [0, %d)", piece, id, maxTokenID)
		}
		maxID = max(maxID, id)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= maxTokenID {
			return nil, fmt.Errorf("added_tokens: %q has id %d out of [0, %d)", a.Content, a.ID, maxTokenID)
		}
		if a.Content == "" {
			return nil, fmt.Errorf("added_tokens: id %d has no content", a.ID)
		}
		maxID = max(maxID, a.ID)
		t.added = append(t.added, addedToken{a.ID, a.Content, a.Special, a.LStrip, a.RStrip})
	}
	slices.SortStableFunc(t.added, func(a, b addedToken) int { return len(b.content) - len(a.content) })
	for i, a := range t.added {
		if _, dup := t.addedAt[a.id]; !dup {
			t.addedAt[a.id] = i
		}
	}
	t.pieces = make([]string, maxID+1)
	for piece, id := range f.Model.Vocab {
		t.pieces[id] = piece
	}
	for _, a := range t.added {
		t.pieces[a.id] = a.content
	}
	if f.Model.UnkToken != nil {
		if id, ok := t.vocab[*f.Model.UnkToken]; ok {
			t.unk = id
		}
	}
	var asStrings []string
	var asPairs [][2]string
	if len(f.Model.Merges) > 0 && json.Unmarshal(f.Model.Merges, &asStrings) == nil {
		for i, m := range asStrings {
			a, b, ok := strings.Cut(m, " ")
			if !ok {
				return nil, fmt.Errorf("merges[%d] %q is not two pieces", i, m)
			}
			asPairs = append(asPairs, [2]string{a, b})
		}
	} else if len(f.Model.Merges) > 0 {
		if err := json.Unmarshal(f.Model.Merges, &asPairs); err != nil {
			return nil, fmt.Errorf("key \"model.merges\": %w", err)
		}
	}
	for i, p := range asPairs {
		if _, dup := t.ranks[p]; !dup {
			t.ranks[p] = i
		}
	}
	switch m := f.Model; {
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		t.refuse(fmt.Sprintf("model option continuing_subword_prefix %q", *m.ContinuingSubwordPrefix))
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		t.refuse(fmt.Sprintf("model option end_of_word_suffix %q", *m.EndOfWordSuffix))
	case m.Dropout != nil && *m.Dropout > 0:
		t.refuse(fmt.Sprintf("model option dropout %g", *m.Dropout))
	}
	t.configure(f.Normalizer, f.PreTokenizer)
	t.configurePost(f.PostProcessor)
	return t, nil
}

// component is one normalizer, pre-tokenizer or post-processor, possibly a Sequence of others.
type component struct {
	Type             string          `json:"type"`
	Normalizers      []component     `json:"normalizers"`
	PreTokenizers    []component     `json:"pretokenizers"`
	Processors       []component     `json:"processors"`
	Prepend          string          `json:"prepend"`
	Pattern          json.RawMessage `json:"pattern"`
	Content          string          `json:"content"`
	Behavior         string          `json:"behavior"`
	Invert           bool            `json:"invert"`
	IndividualDigits bool            `json:"individual_digits"`
	UseRegex         *bool           `json:"use_regex"`
	Replacement      string          `json:"replacement"`
	PrependScheme    string          `json:"prepend_scheme"`
	AddPrefixSpace   *bool           `json:"add_prefix_space"`
	Split            *bool           `json:"split"`
	Single           []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct {
			ID string `json:"id"`
		} `json:"Sequence"`
	} `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
}

// flatten lists the components of raw in order, Sequences opened; null is none. An entry
// that does not decode, or more than maxComponents, is reported as the string returned.
func flatten(raw json.RawMessage) ([]component, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ""
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Sprintf("an undecodable %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	var out []component
	var walk func(c component)
	walk = func(c component) {
		if c.Type == "Sequence" {
			for _, x := range slices.Concat(c.Normalizers, c.PreTokenizers, c.Processors) {
				walk(x)
			}
			return
		}
		out = append(out, c)
	}
	walk(c)
	if len(out) > maxComponents {
		return nil, fmt.Sprintf("a Sequence of %d (at most %d)", len(out), maxComponents)
	}
	return out, ""
}

// configure reads the normalizer and the pre-tokenizer into steps, recording the first that
// Encode cannot apply.
func (t *Tokenizer) configure(normalizer, preTokenizer json.RawMessage) {
	cs, bad := flatten(normalizer)
	if bad != "" {
		t.refuse("normalizer " + bad)
	}
	for _, c := range cs {
		switch c.Type {
		case "NFC", "NFD", "NFKC", "NFKD":
			t.norm = append(t.norm, normStep{kind: c.Type})
		case "Prepend":
			t.norm = append(t.norm, normStep{kind: c.Type, a: c.Prepend})
			t.spPrefix = t.spPrefix || c.Prepend == "▁"
		case "Replace":
			var p struct{ String *string }
			if json.Unmarshal(c.Pattern, &p) != nil || p.String == nil || *p.String == "" {
				t.refuse(fmt.Sprintf("normalizer Replace of pattern %s", c.Pattern))
			} else {
				t.norm = append(t.norm, normStep{kind: c.Type, a: *p.String, b: c.Content})
			}
		default:
			t.refuse(fmt.Sprintf("normalizer %q", c.Type))
		}
	}
	cs, bad = flatten(preTokenizer)
	if bad != "" {
		t.refuse("pre-tokenizer " + bad)
	}
	for _, c := range cs {
		if t.byteLevel {
			t.refuse(fmt.Sprintf("pre-tokenizer %q after ByteLevel", c.Type))
		}
		switch c.Type {
		case "Split":
			var p struct{ Regex, String *string }
			_ = json.Unmarshal(c.Pattern, &p)
			step := preStep{kind: c.Type}
			switch {
			case p.Regex == nil:
				t.refuse(fmt.Sprintf("pre-tokenizer Split of pattern %s", c.Pattern))
			case *p.Regex == PatternGPT2:
			case *p.Regex == PatternLlama3:
				step.maxDigits = 3
			case *p.Regex == PatternQwen2:
				step.maxDigits = 1
			default:
				t.refuse(fmt.Sprintf("pre-tokenizer Split of regex %q (known: Llama 3's, Qwen2's, GPT-2's)", *p.Regex))
			}
			if c.Behavior != "Isolated" || c.Invert {
				t.refuse(fmt.Sprintf("pre-tokenizer Split with behavior %q, invert %v (only \"Isolated\", false)", c.Behavior, c.Invert))
			}
			t.pre = append(t.pre, step)
		case "Digits":
			t.pre = append(t.pre, preStep{kind: c.Type, individual: c.IndividualDigits})
		case "ByteLevel":
			t.byteLevel = true
			t.pre = append(t.pre, preStep{kind: c.Type, prefixSpace: c.AddPrefixSpace != nil && *c.AddPrefixSpace,
				useRegex: c.UseRegex == nil || *c.UseRegex})
		case "Metaspace":
			step := preStep{kind: c.Type, replacement: cmpOr(c.Replacement, "▁"), scheme: c.PrependScheme, split: c.Split == nil || *c.Split}
			if step.scheme == "" { // files before prepend_scheme: add_prefix_space
				step.scheme = "always"
				if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
					step.scheme = "never"
				}
			}
			if !slices.Contains([]string{"always", "first", "never"}, step.scheme) {
				t.refuse(fmt.Sprintf("pre-tokenizer Metaspace with prepend_scheme %q", step.scheme))
			}
			if utf8.RuneCountInString(step.replacement) != 1 {
				t.refuse(fmt.Sprintf("pre-tokenizer Metaspace with replacement %q (one character)", step.replacement))
			}
			t.spPrefix = t.spPrefix || step.scheme != "never"
			t.pre = append(t.pre, step)
		default:
			t.refuse(fmt.Sprintf("pre-tokenizer %q", c.Type))
		}
	}
}

// Template is what a tokenizer.json's post_processor puts around one encoded text (the
// special tokens transformers' tokenizer adds by default): Before it (Llama 3's
// <|begin_of_text|>, Llama 2's <s>) and After it.
type Template struct{ Before, After []int }

// configurePost reads the post_processor: TemplateProcessing's single template, ByteLevel
// (which changes only offsets: nothing added), or a Sequence of them, each wrapping the
// result of the one before.
func (t *Tokenizer) configurePost(raw json.RawMessage) {
	cs, bad := flatten(raw)
	if bad != "" {
		t.postErr = "post_processor " + bad
		return
	}
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	t.post = &Template{}
	for _, c := range cs {
		switch c.Type {
		case "ByteLevel":
		case "TemplateProcessing":
			if len(c.Single) > maxTemplate {
				t.postErr = fmt.Sprintf("post_processor TemplateProcessing with %d items (at most %d)", len(c.Single), maxTemplate)
				return
			}
			var before, after []int
			seen := false
			for _, item := range c.Single {
				switch {
				case item.Sequence != nil && item.Sequence.ID == "A" && !seen:
					seen = true
				case item.SpecialToken != nil:
					st, ok := c.SpecialTokens[item.SpecialToken.ID]
					if !ok || len(st.IDs) == 0 || len(st.IDs) > maxTemplate {
						t.postErr = fmt.Sprintf("post_processor TemplateProcessing: special token %q has no ids in special_tokens (or over %d)", item.SpecialToken.ID, maxTemplate)
						return
					}
					for _, id := range st.IDs {
						if id < 0 || id >= len(t.pieces) {
							t.postErr = fmt.Sprintf("post_processor TemplateProcessing: special token %q has id %d out of [0, %d)", item.SpecialToken.ID, id, len(t.pieces))
							return
						}
					}
					if seen {
						after = append(after, st.IDs...)
					} else {
						before = append(before, st.IDs...)
					}
				default:
					t.postErr = "post_processor TemplateProcessing: a single template other than special tokens around one $A"
					return
				}
			}
			if !seen {
				t.postErr = "post_processor TemplateProcessing: a single template without $A"
				return
			}
			t.post.Before = slices.Concat(before, t.post.Before)
			t.post.After = slices.Concat(t.post.After, after)
		default:
			t.postErr = fmt.Sprintf("post_processor %q", c.Type)
			return
		}
	}
}

// Template returns what the post_processor puts around one text; nil when the file has none
// (a model's bos_token_id is then the caller's to add). A post-processor other than
// TemplateProcessing, ByteLevel or a Sequence of them is an error naming it.
func (t *Tokenizer) Template() (*Template, error) {
	if t.postErr != "" {
		return nil, fmt.Errorf("hf: tokenizer: %s is not supported", t.postErr)
	}
	if t.post == nil {
		return nil, nil
	}
	return &Template{Before: slices.Clone(t.post.Before), After: slices.Clone(t.post.After)}, nil
}

// refuse records the first reason Encode cannot run.
func (t *Tokenizer) refuse(why string) {
	if t.unsupport == "" {
		t.unsupport = why
	}
}

// VocabSize is one more than the largest id.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// ID returns the id of a piece or added token.
func (t *Tokenizer) ID(piece string) (int, bool) {
	for _, a := range t.added {
		if a.content == piece {
			return a.id, true
		}
	}
	id, ok := t.vocab[piece]
	return id, ok
}

// Encode returns the tokens of text, without the post_processor's special tokens
// ([Tokenizer.Template]); added tokens in the text are matched first. An unsupported
// normalizer, pre-tokenizer or model option is an error naming it; a symbol neither in the
// vocabulary nor spelled by byte tokens, with no unk_token, is an error naming it.
func (t *Tokenizer) Encode(text string) ([]int, error) {
	if t.unsupport != "" {
		return nil, fmt.Errorf("hf: tokenizer: %s is not supported for encoding (give the prompt as token ids)", t.unsupport)
	}
	// next[k]: where added token k next occurs at or after pos (-1: nowhere), found lazily.
	next := make([]int, len(t.added))
	for k := range next {
		next[k] = -2
	}
	var out []int
	for pos := 0; ; {
		at, k := len(text), -1
		for i, a := range t.added {
			if next[i] == -1 {
				continue
			}
			if next[i] < pos {
				j := strings.Index(text[pos:], a.content)
				if j < 0 {
					next[i] = -1
					continue
				}
				next[i] = pos + j
			}
			if next[i] < at {
				at, k = next[i], i
			}
		}
		end := at
		if k >= 0 {
			a := t.added[k]
			end = at + len(a.content)
			if a.lstrip {
				at = pos + len(strings.TrimRightFunc(text[pos:at], unicode.IsSpace))
			}
			if a.rstrip {
				end = len(text) - len(strings.TrimLeftFunc(text[end:], unicode.IsSpace))
			}
		}
		var err error
		if out, err = t.encodeSegment(out, text[pos:at], pos == 0); err != nil {
			return nil, err
		}
		if k < 0 {
			return out, nil
		}
		out = append(out, t.added[k].id)
		pos = end
	}
}

// encodeSegment appends the tokens of text, which holds no added token; atStart says it
// begins the whole text.
func (t *Tokenizer) encodeSegment(out []int, text string, atStart bool) ([]int, error) {
	if text == "" {
		return out, nil
	}
	for _, n := range t.norm {
		text = n.apply(text)
	}
	words := []string{text}
	for _, p := range t.pre {
		words = p.apply(words, atStart)
	}
	var b strings.Builder
	for _, w := range words {
		if t.byteLevel {
			b.Reset()
			for _, c := range []byte(w) {
				b.WriteRune(byteRune[c])
			}
			w = b.String()
		}
		if id, ok := t.vocab[w]; t.ignoreMerges && ok {
			out = append(out, id)
			continue
		}
		for _, sym := range t.merge(w) {
			if id, ok := t.vocab[sym]; ok {
				out = append(out, id)
				continue
			}
			if t.fallback {
				for _, c := range []byte(sym) {
					id, ok := t.vocab[fmt.Sprintf("<0x%02X>", c)]
					if !ok {
						return nil, fmt.Errorf("hf: tokenizer: no piece <0x%02X> for a byte of %q", c, sym)
					}
					out = append(out, id)
				}
				continue
			}
			if t.unk >= 0 {
				out = append(out, t.unk)
				continue
			}
			return nil, fmt.Errorf("hf: tokenizer: %q has no piece and the tokenizer no byte fallback or unknown token", sym)
		}
	}
	return out, nil
}

// merge splits w into characters (an invalid byte is one) and merges the adjacent pair of
// lowest rank (the leftmost on ties) until none is in the merges (package bpe).
func (t *Tokenizer) merge(w string) []string {
	var syms []string
	for i := 0; i < len(w); {
		_, n := utf8.DecodeRuneInString(w[i:])
		syms = append(syms, w[i:i+n])
		i += n
	}
	return bpe.Merge(syms, func(a, b string) (string, float64, bool) {
		r, ok := t.ranks[[2]string{a, b}]
		return a + b, float64(r), ok
	})
}

// Piece returns the bytes token next stands for, after token prev (-1 at the start): GPT-2's
// byte table undone (byte-level), or "▁" as a space and <0xHH> as its byte (SentencePiece-
// style), whose leading space is dropped at the start of a text or after a special token.
// A token outside the vocabulary is an error.
func (t *Tokenizer) Piece(prev, next int) ([]byte, error) {
	if next < 0 || next >= len(t.pieces) {
		return nil, fmt.Errorf("hf: tokenizer: token %d outside the vocabulary [0, %d)", next, len(t.pieces))
	}
	p := t.pieces[next]
	if _, ok := t.addedAt[next]; ok {
		return []byte(p), nil
	}
	if t.byteLevel {
		var b []byte
		for _, r := range p {
			if c, ok := runeByte[r]; ok {
				b = append(b, c)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
		return b, nil
	}
	if len(p) == 6 && strings.HasPrefix(p, "<0x") && strings.HasSuffix(p, ">") {
		if v, err := strconv.ParseUint(p[3:5], 16, 8); err == nil {
			return []byte{byte(v)}, nil
		}
	}
	s := strings.ReplaceAll(p, "▁", " ")
	if strings.HasPrefix(s, " ") && t.spPrefix && (prev < 0 || t.isSpecial(prev)) {
		s = s[1:]
	}
	return []byte(s), nil
}

func (t *Tokenizer) isSpecial(id int) bool {
	k, ok := t.addedAt[id]
	return ok && t.added[k].special
}

// Decode is the text of tokens, piece after piece.
func (t *Tokenizer) Decode(tokens []int) (string, error) {
	var b []byte
	prev := -1
	for _, id := range tokens {
		p, err := t.Piece(prev, id)
		if err != nil {
			return "", err
		}
		b = append(b, p...)
		prev = id
	}
	return string(b), nil
}

// byteRune is GPT-2's table of bytes to printable characters: the printable Latin-1 bytes
// stand for themselves, the other 68 for the characters from U+0100 on, in order.
var byteRune, runeByte = func() ([256]rune, map[rune]byte) {
	var table [256]rune
	inverse := map[rune]byte{}
	n := 0
	for b := range 256 {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE {
			table[b] = rune(b)
		} else {
			table[b] = rune(256 + n)
			n++
		}
		inverse[table[b]] = byte(b)
	}
	return table, inverse
}()

// SentencePieceJSON writes a tokenizer.json for a SentencePiece-style vocabulary with merge
// scores (llama2.c's tokenizer.bin: pieces with spaces, byte pieces <0xHH>, a higher score
// merged first): "▁" for the space, a Prepend "▁" normalizer, byte fallback, and as merges
// every pair of pieces whose concatenation is a piece, ranked by that piece's score (highest
// first, then by id), which merges as the scored vocabulary does (transformers' converter of
// SentencePiece models builds its merges the same way). special lists the ids of the control
// tokens (<unk>, <s>, </s>), written as added tokens; ids must be below len(pieces).
func SentencePieceJSON(pieces []string, scores []float32, special []int) ([]byte, error) {
	if len(scores) != len(pieces) {
		return nil, fmt.Errorf("hf: %d pieces, %d scores", len(pieces), len(scores))
	}
	vocab := make(map[string]int, len(pieces))
	spm := make([]string, len(pieces))
	for id, p := range pieces {
		if !utf8.ValidString(p) {
			return nil, fmt.Errorf("hf: piece %d %q is not UTF-8", id, p)
		}
		spm[id] = strings.ReplaceAll(p, " ", "▁")
		if _, dup := vocab[spm[id]]; !dup {
			vocab[spm[id]] = id
		}
	}
	type merge struct {
		a, b  string
		score float32
		id    int
	}
	var merges []merge
	for id, p := range spm {
		if slices.Contains(special, id) {
			continue
		}
		for i := range p {
			if i == 0 {
				continue
			}
			a, b := p[:i], p[i:]
			if !utf8.ValidString(a) {
				continue
			}
			if _, ok := vocab[a]; !ok {
				continue
			}
			if _, ok := vocab[b]; !ok {
				continue
			}
			merges = append(merges, merge{a, b, scores[id], id})
		}
	}
	slices.SortStableFunc(merges, func(x, y merge) int {
		switch {
		case x.score > y.score:
			return -1
		case x.score < y.score:
			return 1
		}
		return x.id - y.id
	})
	mergeStrings := make([][2]string, len(merges))
	for i, m := range merges {
		mergeStrings[i] = [2]string{m.a, m.b}
	}
	var added []map[string]any
	for _, id := range special {
		if id < 0 || id >= len(pieces) {
			return nil, fmt.Errorf("hf: special id %d out of [0, %d)", id, len(pieces))
		}
		added = append(added, map[string]any{"id": id, "content": spm[id], "special": true, "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": false})
	}
	unk := any(nil)
	if len(special) > 0 {
		unk = spm[special[0]]
	}
	return json.MarshalIndent(map[string]any{
		"version":      "1.0",
		"added_tokens": added,
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}}},
		"pre_tokenizer": nil,
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0}}},
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": mergeStrings, "byte_fallback": true,
			"unk_token": unk, "fuse_unk": true},
	}, "", " ")
}
