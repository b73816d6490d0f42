package llama

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"unicode/utf8"
)

// Special tokens of llama2.c's sentencepiece vocabularies.
const (
	UNK = 0
	BOS = 1 // beginning of sequence
	EOS = 2 // end of sequence
	// byteFallback is the id of the piece <0x00>: byte b is token b+3.
	byteFallback = 3
)

// Tokenizer is a sentencepiece-style byte-pair tokenizer in llama2.c's tok*.bin format: a
// vocabulary of pieces with merge scores. Encoding merges, at each step, the adjacent pair of
// pieces whose concatenation is the best-scoring piece (as llama2.c's run.c does); bytes with
// no piece fall back to the tokens <0x00>..<0xFF> (ids 3..258).
type Tokenizer struct {
	Pieces    [][]byte
	Scores    []float32
	MaxLength int // longest piece, from the file's header
	index     map[string]int
}

// maxPieceLen bounds a piece's length read from a tokenizer file.
const maxPieceLen = 1 << 12

// LoadTokenizer reads a llama2.c tokenizer file (tok512.bin, tokenizer.bin) of vocabSize
// pieces: an int32 max_token_length, then per piece a float32 score, an int32 length and the
// bytes. Lengths are bounded by max_token_length (at most 4096) and by the file's size before
// anything is allocated; errors name the file and the piece.
func LoadTokenizer(path string, vocabSize int) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	t, err := ParseTokenizer(b, vocabSize)
	if err != nil {
		return nil, fmt.Errorf("llama: tokenizer %s: %w", path, err)
	}
	return t, nil
}

// ParseTokenizer parses a llama2.c tokenizer file's bytes (see [LoadTokenizer]).
func ParseTokenizer(b []byte, vocabSize int) (*Tokenizer, error) {
	if vocabSize <= byteFallback+256 || vocabSize > maxVocab {
		return nil, fmt.Errorf("vocabulary size %d out of range [%d, %d]", vocabSize, byteFallback+257, maxVocab)
	}
	r := bytes.NewReader(b)
	var maxLen int32
	if err := binary.Read(r, binary.LittleEndian, &maxLen); err != nil {
		return nil, fmt.Errorf("reading max_token_length: %w", err)
	}
	if maxLen <= 0 || maxLen > maxPieceLen {
		return nil, fmt.Errorf("max_token_length %d out of range [1, %d]", maxLen, maxPieceLen)
	}
	// Every piece takes at least 8 bytes (score and length): refuse a vocabulary the file
	// cannot hold before allocating it.
	if int64(r.Len()) < 8*int64(vocabSize) {
		return nil, fmt.Errorf("%d bytes cannot hold %d pieces (truncated, or a tokenizer for another vocabulary)", len(b), vocabSize)
	}
	t := &Tokenizer{Pieces: make([][]byte, vocabSize), Scores: make([]float32, vocabSize),
		MaxLength: int(maxLen), index: make(map[string]int, vocabSize)}
	for i := range vocabSize {
		var head struct {
			Score float32
			Len   int32
		}
		if err := binary.Read(r, binary.LittleEndian, &head); err != nil {
			return nil, fmt.Errorf("piece %d: %w", i, unexpected(err))
		}
		if head.Len < 0 || head.Len > maxLen {
			return nil, fmt.Errorf("piece %d: length %d out of range [0, max_token_length %d]", i, head.Len, maxLen)
		}
		if math.IsNaN(float64(head.Score)) || math.IsInf(float64(head.Score), 0) {
			return nil, fmt.Errorf("piece %d: score %v is not finite", i, head.Score)
		}
		if int(head.Len) > r.Len() {
			return nil, fmt.Errorf("piece %d: length %d runs past the end of the file", i, head.Len)
		}
		p := make([]byte, head.Len)
		if _, err := io.ReadFull(r, p); err != nil {
			return nil, fmt.Errorf("piece %d: %w", i, unexpected(err))
		}
		t.Pieces[i], t.Scores[i] = p, head.Score
		if _, dup := t.index[string(p)]; !dup {
			t.index[string(p)] = i
		}
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes left after %d pieces (a tokenizer for a larger vocabulary?)", r.Len(), vocabSize)
	}
	return t, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// VocabSize is the number of pieces.
func (t *Tokenizer) VocabSize() int { return len(t.Pieces) }

// Encode tokenizes text as llama2.c does: optional BOS, a dummy-prefix space before non-empty
// text (sentencepiece's add_dummy_prefix), one piece per UTF-8 character (or its bytes'
// fallback tokens), then repeated merging of the adjacent pair whose concatenation is the
// highest-scoring piece; optional EOS.
func (t *Tokenizer) Encode(text string, bos, eos bool) []int {
	var toks []int
	if bos {
		toks = append(toks, BOS)
	}
	start := len(toks)
	if text != "" {
		if id, ok := t.index[" "]; ok {
			toks = append(toks, id)
		}
	}
	for len(text) > 0 {
		_, n := utf8.DecodeRuneInString(text)
		if id, ok := t.index[text[:n]]; ok {
			toks = append(toks, id)
		} else {
			for _, b := range []byte(text[:n]) {
				toks = append(toks, int(b)+byteFallback)
			}
		}
		text = text[n:]
	}
	toks = append(toks[:start], t.merge(toks[start:])...)
	if eos {
		toks = append(toks, EOS)
	}
	return toks
}

// Piece returns the bytes token next stands for after token prev, as llama2.c's decode: the
// leading space of a piece after BOS is dropped, and byte tokens <0xHH> give their byte.
func (t *Tokenizer) Piece(prev, next int) []byte {
	if next < 0 || next >= len(t.Pieces) {
		return nil
	}
	p := t.Pieces[next]
	if prev == BOS && len(p) > 0 && p[0] == ' ' {
		p = p[1:]
	}
	if len(p) == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>' {
		var b byte
		if _, err := fmt.Sscanf(string(p[3:5]), "%02X", &b); err == nil {
			return []byte{b}
		}
	}
	return p
}

// Decode returns the text of a token sequence (BOS and EOS give nothing).
func (t *Tokenizer) Decode(tokens []int) string {
	var b strings.Builder
	prev := -1
	for _, tok := range tokens {
		if tok != BOS && tok != EOS {
			b.Write(t.Piece(prev, tok))
		}
		prev = tok
	}
	return b.String()
}

// merge applies the byte-pair merges to toks: repeatedly, the adjacent pair whose
// concatenation is the highest-scoring piece is replaced by that piece, the leftmost pair on
// ties (llama2.c's rule). A heap of candidate pairs over a linked list makes this
// O(n log n) instead of llama2.c's O(n²), with the same result (tested against the quadratic
// rule).
func (t *Tokenizer) merge(toks []int) []int {
	n := len(toks)
	next, prev := make([]int, n), make([]int, n)
	alive := make([]bool, n)
	for i := range toks {
		next[i], prev[i], alive[i] = i+1, i-1, true
	}
	h := &pairHeap{}
	var buf []byte
	push := func(i int) {
		if i < 0 || i >= n || next[i] >= n {
			return
		}
		j := next[i]
		buf = append(append(buf[:0], t.Pieces[toks[i]]...), t.Pieces[toks[j]]...)
		if id, ok := t.index[string(buf)]; ok {
			heap.Push(h, pair{score: t.Scores[id], left: i, right: j, leftTok: toks[i], rightTok: toks[j], merged: id})
		}
	}
	for i := range toks {
		push(i)
	}
	for h.Len() > 0 {
		p := heap.Pop(h).(pair)
		if !alive[p.left] || !alive[p.right] || next[p.left] != p.right || toks[p.left] != p.leftTok || toks[p.right] != p.rightTok {
			continue // stale: one side was merged since
		}
		toks[p.left] = p.merged
		alive[p.right] = false
		next[p.left] = next[p.right]
		if next[p.right] < n {
			prev[next[p.right]] = p.left
		}
		push(prev[p.left])
		push(p.left)
	}
	out := toks[:0]
	for i := 0; i < n; i = next[i] {
		out = append(out, toks[i])
	}
	return out
}

type pair struct {
	score                     float32
	left, right               int // positions in the original sequence
	leftTok, rightTok, merged int
}

// pairHeap orders candidate merges by score, then leftmost first.
type pairHeap []pair

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(a, b int) bool {
	if h[a].score != h[b].score {
		return h[a].score > h[b].score
	}
	return h[a].left < h[b].left
}
func (h pairHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pair)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
