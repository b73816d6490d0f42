package hf

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/qzoo/qzoo/internal/sniff"
)

// TokenizerFile is the tokenizers library's file of a model directory.
const TokenizerFile = "tokenizer.json"

// maxTokenID bounds a token id of tokenizer.json.
const maxTokenID = 1 << 24

// Tokenizer is the byte-pair-encoding tokenizer of a tokenizer.json (the tokenizers library's
// "BPE" model), in one of the two forms the Llama family uses:
//
//   - byte-level (GPT-2's; SmolLM, SmolLM2): text is split by GPT-2's pattern (contractions,
//     letters, numbers, other symbols, each with one leading space; runs of white space),
//     digits split one by one when a Digits pre-tokenizer asks it, each piece's bytes mapped to
//     the 256 printable characters of GPT-2's byte table, then merged;
//   - SentencePiece-style (Llama 2, Mistral, TinyLlama): spaces become "▁" and one "▁" is
//     prepended (a Prepend normalizer or a Metaspace pre-tokenizer), characters are merged,
//     and a piece outside the vocabulary falls back to its bytes' <0xHH> tokens.
//
// Merges are applied by rank (the lowest-ranked adjacent pair first). The added tokens
// (e.g. "<|im_start|>") are matched in the text before anything else. Pre-tokenizers other
// than ByteLevel, Digits and Metaspace — the Split patterns of Llama 3 and Qwen2 among them —
// are refused by [Tokenizer.Encode] by name (their regular expressions need look-ahead, which
// Go's regexp lacks, and a different split gives different tokens); [Tokenizer.Piece] decodes
// every tokenizer. Why not a library: github.com/gomlx/go-huggingface at v0.3.1, the newest
// that builds with qzoo's GoMLX, reads SentencePiece's tokenizer.model only (class
// GemmaTokenizer), not tokenizer.json.
type Tokenizer struct {
	pieces    []string // by id ("" for an unused id)
	vocab     map[string]int
	ranks     map[[2]string]int
	added     []addedToken // longest first
	byteLevel bool
	digits    bool   // split digits one by one (byte-level)
	noSplit   bool   // byte-level without GPT-2's split (use_regex false)
	unsupport string // why Encode cannot run, "" when it can
	prefix    string // SentencePiece-style: "▁" prepended, "" otherwise
	fallback  bool   // <0xHH> byte fallback
	unk       int    // -1 when none
}

type addedToken struct {
	id      int
	content string
	special bool
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
// strings or [a, b] pairs), ids in [0, 2^24).
func ParseTokenizer(b []byte) (*Tokenizer, error) {
	var f struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		Normalizer   json.RawMessage `json:"normalizer"`
		PreTokenizer json.RawMessage `json:"pre_tokenizer"`
		Model        struct {
			Type         string          `json:"type"`
			Vocab        map[string]int  `json:"vocab"`
			Merges       json.RawMessage `json:"merges"`
			ByteFallback bool            `json:"byte_fallback"`
			UnkToken     *string         `json:"unk_token"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if f.Model.Type != "BPE" {
		return nil, fmt.Errorf("key \"model.type\" is %q: only \"BPE\" is supported", f.Model.Type)
	}
	t := &Tokenizer{vocab: f.Model.Vocab, ranks: map[[2]string]int{}, fallback: f.Model.ByteFallback, unk: -1}
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
		t.added = append(t.added, addedToken{a.ID, a.Content, a.Special})
	}
	slices.SortStableFunc(t.added, func(a, b addedToken) int { return len(b.content) - len(a.content) })
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
	t.configure(f.Normalizer, f.PreTokenizer)
	return t, nil
}

// component is one normalizer or pre-tokenizer, possibly a Sequence of others.
type component struct {
	Type             string          `json:"type"`
	Normalizers      []component     `json:"normalizers"`
	PreTokenizers    []component     `json:"pretokenizers"`
	Prepend          string          `json:"prepend"`
	Pattern          json.RawMessage `json:"pattern"`
	Content          string          `json:"content"`
	IndividualDigits bool            `json:"individual_digits"`
	UseRegex         *bool           `json:"use_regex"`
	Replacement      string          `json:"replacement"`
	PrependScheme    string          `json:"prepend_scheme"`
	AddPrefixSpace   *bool           `json:"add_prefix_space"`
}

func flatten(raw json.RawMessage) []component {
	var c component
	if len(raw) == 0 || json.Unmarshal(raw, &c) != nil {
		return nil
	}
	var out []component
	var walk func(c component)
	walk = func(c component) {
		switch c.Type {
		case "Sequence":
			for _, x := range append(c.Normalizers, c.PreTokenizers...) {
				walk(x)
			}
		case "":
		default:
			out = append(out, c)
		}
	}
	walk(c)
	return out
}

// configure reads the normalizer and the pre-tokenizer into the tokenizer's form.
func (t *Tokenizer) configure(normalizer, preTokenizer json.RawMessage) {
	for _, c := range flatten(normalizer) {
		switch c.Type {
		case "Prepend":
			t.prefix = c.Prepend
		case "Replace":
		case "NFC", "NFKC":
		default:
			t.refuse(fmt.Sprintf("normalizer %q", c.Type))
		}
	}
	for _, c := range flatten(preTokenizer) {
		switch c.Type {
		case "ByteLevel":
			t.byteLevel = true
			t.noSplit = c.UseRegex != nil && !*c.UseRegex
			if c.AddPrefixSpace != nil && *c.AddPrefixSpace {
				t.prefix = " "
			}
		case "Digits":
			t.digits = c.IndividualDigits
			if !c.IndividualDigits {
				t.refuse("pre-tokenizer Digits without individual_digits")
			}
		case "Metaspace":
			if c.PrependScheme != "never" {
				t.prefix = cmpOr(c.Replacement, "▁")
			}
		default:
			t.refuse(fmt.Sprintf("pre-tokenizer %s %s", c.Type, bytes.TrimSpace(c.Pattern)))
		}
	}
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

// Encode returns the tokens of text (no BOS: the model's config says which it is); added
// tokens in the text are matched first. An unsupported pre-tokenizer or normalizer is an
// error naming it; a piece neither in the vocabulary nor spelled by byte tokens is an error
// naming it.
func (t *Tokenizer) Encode(text string) ([]int, error) {
	if t.unsupport != "" {
		return nil, fmt.Errorf("hf: tokenizer: %s is not supported for encoding (give the prompt as token ids)", t.unsupport)
	}
	var out []int
	first := true
	for len(text) > 0 {
		at, tok := len(text), addedToken{}
		for _, a := range t.added {
			if i := strings.Index(text, a.content); i >= 0 && i < at {
				at, tok = i, a
			}
		}
		ids, err := t.encodeSegment(text[:at], first)
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
		if at == len(text) {
			break
		}
		out = append(out, tok.id)
		text = text[at+len(tok.content):]
		first = false
	}
	return out, nil
}

// encodeSegment encodes text without added tokens; first says it starts the text (where a
// prefix is prepended).
func (t *Tokenizer) encodeSegment(text string, first bool) ([]int, error) {
	if text == "" {
		return nil, nil
	}
	var words []string
	if t.byteLevel {
		if first && t.prefix == " " && !strings.HasPrefix(text, " ") {
			text = " " + text
		}
		split := []string{text}
		if !t.noSplit {
			split = gpt2Split(text, t.digits)
		}
		for _, w := range split {
			var b strings.Builder
			for _, c := range []byte(w) {
				b.WriteRune(byteRune[c])
			}
			words = append(words, b.String())
		}
	} else {
		if first && t.prefix != "" {
			text = t.prefix + text
		}
		words = []string{strings.ReplaceAll(text, " ", "▁")}
	}
	var out []int
	for _, w := range words {
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

// merge splits w into characters and merges the adjacent pair of lowest rank (the leftmost
// on ties) until none is in the merges. A heap of candidate pairs over a linked list keeps it
// O(n log n) in the characters, for a SentencePiece-style text that is one long word.
func (t *Tokenizer) merge(w string) []string {
	var syms []string
	for _, r := range w {
		syms = append(syms, string(r))
	}
	n := len(syms)
	next, prev, alive := make([]int, n), make([]int, n), make([]bool, n)
	for i := range syms {
		next[i], prev[i], alive[i] = i+1, i-1, true
	}
	h := &mergeHeap{}
	push := func(i int) {
		if i < 0 || i >= n || next[i] >= n {
			return
		}
		j := next[i]
		if r, ok := t.ranks[[2]string{syms[i], syms[j]}]; ok {
			heap.Push(h, candidate{rank: r, left: i, right: j, l: syms[i], r: syms[j]})
		}
	}
	for i := range syms {
		push(i)
	}
	for h.Len() > 0 {
		c := heap.Pop(h).(candidate)
		if !alive[c.left] || !alive[c.right] || next[c.left] != c.right || syms[c.left] != c.l || syms[c.right] != c.r {
			continue // stale: a side was merged since
		}
		syms[c.left] += syms[c.right]
		alive[c.right] = false
		next[c.left] = next[c.right]
		if next[c.right] < n {
			prev[next[c.right]] = c.left
		}
		push(prev[c.left])
		push(c.left)
	}
	var out []string
	for i := 0; i < n; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

// candidate is a pair of adjacent symbols that a merge joins.
type candidate struct {
	rank, left, right int
	l, r              string
}

// mergeHeap orders candidates by rank, then leftmost first.
type mergeHeap []candidate

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(a, b int) bool {
	if h[a].rank != h[b].rank {
		return h[a].rank < h[b].rank
	}
	return h[a].left < h[b].left
}
func (h mergeHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(candidate)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
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
	for _, a := range t.added {
		if a.id == next {
			return []byte(p), nil
		}
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
	if strings.HasPrefix(s, " ") && t.prefix != "" && (prev < 0 || t.isSpecial(prev)) {
		s = s[1:]
	}
	return []byte(s), nil
}

func (t *Tokenizer) isSpecial(id int) bool {
	for _, a := range t.added {
		if a.id == id {
			return a.special
		}
	}
	return false
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

// gpt2Split splits text as GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// does (the alternatives tried in order at each position), with every digit a piece of its
// own when digits is set (a Digits pre-tokenizer with individual_digits before ByteLevel).
func gpt2Split(text string, digits bool) []string {
	rs := []rune(text)
	var out []string
	class := func(r rune) int { // 0 letter, 1 number, 2 space, 3 other
		switch {
		case unicode.IsLetter(r):
			return 0
		case unicode.IsNumber(r):
			return 1
		case unicode.IsSpace(r):
			return 2
		}
		return 3
	}
	for i := 0; i < len(rs); {
		if rs[i] == '\'' {
			matched := false
			for _, c := range []string{"s", "t", "re", "ve", "m", "ll", "d"} {
				if strings.HasPrefix(string(rs[i+1:min(len(rs), i+1+len(c))]), c) {
					out = append(out, "'"+c)
					i += 1 + len(c)
					matched = true
					break
				}
			}
			if matched {
				continue
			}
		}
		start := i
		j := i
		if rs[j] == ' ' && j+1 < len(rs) && class(rs[j+1]) != 2 {
			j++
		}
		switch k := class(rs[j]); {
		case k == 0 || k == 1 && !digits:
			for j < len(rs) && class(rs[j]) == k {
				j++
			}
		case k == 1:
			j++
		case k == 3:
			for j < len(rs) && class(rs[j]) == 3 {
				j++
			}
		default: // white space: \s+(?!\S) leaves the last space to the next word, \s+ takes all at the end
			for j < len(rs) && class(rs[j]) == 2 {
				j++
			}
			if j < len(rs) && j-start > 1 {
				j--
			}
		}
		// A digit after a space under individual digits: the space is a piece of its own.
		if digits && j > start && class(rs[start]) == 2 && class(rs[j-1]) == 1 {
			j = start + 1
		}
		out = append(out, string(rs[start:j]))
		i = j
	}
	return out
}

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
