package llama2c

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/qzoo/qzoo/internal/bpe"
)

// Special tokens of llama2.c's sentencepiece vocabularies (run.c's fixed ids).
const (
	UNK = 0 // <unk>
	BOS = 1 // <s>, beginning of sequence (llama2.c's stories also end at it)
	EOS = 2 // </s>, end of sequence
)

// Tokenizer is a sentencepiece-style byte-pair tokenizer in llama2.c's tokenizer format: a
// vocabulary of pieces with merge scores. Encoding merges, at each step, the adjacent pair of
// pieces whose concatenation is the best-scoring piece (as llama2.c's run.c does); a
// character with no piece of its own falls back to the byte pieces <0x00>..<0xFF> of its
// UTF-8 bytes, wherever the vocabulary has them (ids 3..258 in llama2.c's vocabularies). A
// character with neither is an error: nothing is silently replaced.
type Tokenizer struct {
	Pieces    [][]byte
	Scores    []float32
	MaxLength int // longest piece, from the file's header
	index     map[string]int
	byteIDs   [256]int // id of the piece <0xHH> of each byte, -1 where the vocabulary has none
}

// maxPieceLen bounds a piece's length read from a tokenizer file.
const maxPieceLen = 1 << 12

// LoadTokenizer reads a llama2.c tokenizer file (tok512.bin, tokenizer.bin) of vocabSize
// pieces (see [ParseTokenizer]); errors name the file.
func LoadTokenizer(path string, vocabSize int) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	t, err := ParseTokenizer(b, vocabSize)
	if err != nil {
		return nil, fmt.Errorf("llama2c: tokenizer %s: %w", path, err)
	}
	return t, nil
}

// ParseTokenizer parses a llama2.c tokenizer file's bytes: an int32 max_token_length, then
// per piece a float32 score, an int32 length and the bytes. The file does not store its
// number of pieces: vocabSize (at least 3, for <unk>, <s> and </s>) must be the model's, and
// the file must end after that many. Lengths are bounded by max_token_length (at most 4096)
// and by the file's size before anything is allocated; errors name the piece.
func ParseTokenizer(b []byte, vocabSize int) (*Tokenizer, error) {
	if what := identify(b); what != "" {
		return nil, fmt.Errorf("this is %s, not a llama2.c tokenizer", what)
	}
	if vocabSize <= EOS || vocabSize > MaxVocab {
		return nil, fmt.Errorf("vocabulary size %d out of range [%d, %d]", vocabSize, EOS+1, MaxVocab)
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
	for i := range t.byteIDs {
		t.byteIDs[i] = -1
	}
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
		if c, ok := bytePiece(p); ok && t.byteIDs[c] < 0 {
			t.byteIDs[c] = i
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

// bytePiece returns the byte a piece <0xHH> stands for (hex digits of either case;
// sentencepiece writes upper case).
func bytePiece(p []byte) (byte, bool) {
	if len(p) != 6 || string(p[:3]) != "<0x" || p[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range p[3:5] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}

// VocabSize is the number of pieces.
func (t *Tokenizer) VocabSize() int { return len(t.Pieces) }

// Encode tokenizes text as llama2.c does: optional BOS, a dummy-prefix space before non-empty
// text (sentencepiece's add_dummy_prefix, when the vocabulary has the piece " "), one piece
// per UTF-8 character (or the byte pieces of its bytes), then repeated merging of the
// adjacent pair whose concatenation is the highest-scoring piece; optional EOS. A character
// with no piece whose bytes do not all have byte pieces is an error naming it and its byte
// offset.
func (t *Tokenizer) Encode(text string, bos, eos bool) ([]int, error) {
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
	for at := 0; at < len(text); {
		_, n := utf8.DecodeRuneInString(text[at:])
		char := text[at : at+n]
		if id, ok := t.index[char]; ok {
			toks = append(toks, id)
		} else {
			for _, b := range []byte(char) {
				id := t.byteIDs[b]
				if id < 0 {
					return nil, fmt.Errorf("llama2c: character %q at byte %d has no piece, and the vocabulary has no byte piece <0x%02X> to spell it", char, at, b)
				}
				toks = append(toks, id)
			}
		}
		at += n
	}
	toks = append(toks[:start], t.merge(toks[start:])...)
	if eos {
		toks = append(toks, EOS)
	}
	return toks, nil
}

// Piece returns the bytes token next stands for after token prev, as llama2.c's decode: the
// leading space of a piece after BOS is dropped, and a byte piece <0xHH> gives its byte. A
// token outside the vocabulary is an error.
func (t *Tokenizer) Piece(prev, next int) ([]byte, error) {
	if next < 0 || next >= len(t.Pieces) {
		return nil, fmt.Errorf("llama2c: token %d outside the vocabulary [0, %d)", next, len(t.Pieces))
	}
	p := t.Pieces[next]
	if prev == BOS && len(p) > 0 && p[0] == ' ' {
		p = p[1:]
	}
	if b, ok := bytePiece(p); ok {
		return []byte{b}, nil
	}
	return p, nil
}

// Decode returns the text of a token sequence (BOS and EOS give nothing). A token outside the
// vocabulary is an error naming it and its index.
func (t *Tokenizer) Decode(tokens []int) (string, error) {
	var b strings.Builder
	prev := -1
	for i, tok := range tokens {
		if tok != BOS && tok != EOS {
			p, err := t.Piece(prev, tok)
			if err != nil {
				return "", fmt.Errorf("%w (at index %d)", err, i)
			}
			b.Write(p)
		}
		prev = tok
	}
	return b.String(), nil
}

// merge applies the byte-pair merges to toks: repeatedly, the adjacent pair whose
// concatenation is the highest-scoring piece is replaced by that piece, the leftmost pair on
// ties (llama2.c's rule), in O(n log n) instead of llama2.c's O(n²) with the same result
// (package bpe; tested against the quadratic rule).
func (t *Tokenizer) merge(toks []int) []int {
	var buf []byte
	return bpe.Merge(toks, func(a, b int) (int, float64, bool) {
		buf = append(append(buf[:0], t.Pieces[a]...), t.Pieces[b]...)
		id, ok := t.index[string(buf)]
		if !ok {
			return 0, 0, false
		}
		return id, -float64(t.Scores[id]), true
	})
}
