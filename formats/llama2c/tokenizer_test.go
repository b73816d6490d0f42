package llama2c

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func tok512(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := LoadTokenizer(filepath.Join(sharedData, "weights", "tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// naiveMerge is llama2.c's quadratic rule, the oracle of merge.
func (t *Tokenizer) naiveMerge(toks []int) []int {
	for {
		best, bestID, bestAt := float32(math.Inf(-1)), -1, -1
		for i := 0; i+1 < len(toks); i++ {
			if id, ok := t.index[string(t.Pieces[toks[i]])+string(t.Pieces[toks[i+1]])]; ok && t.Scores[id] > best {
				best, bestID, bestAt = t.Scores[id], id, i
			}
		}
		if bestAt < 0 {
			return toks
		}
		toks[bestAt] = bestID
		toks = append(toks[:bestAt+1], toks[bestAt+2:]...)
	}
}

func shakespeare(t testing.TB) string {
	b, err := os.ReadFile(filepath.Join(sharedData, "text", "tinyshakespeare.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEncodeMatchesQuadraticRuleAndRoundTrips(t *testing.T) {
	tok := tok512(t)
	text := shakespeare(t)
	samples := []string{"", " ", "Hello world", "naïve café — ☃ 𝄞", "a\n\nb  c\t", text[:3000], text[500000:502000]}
	for _, s := range samples {
		got, err := tok.Encode(s, true, true)
		if err != nil {
			t.Fatal(err)
		}
		var units []int
		if s != "" {
			units = append(units, tok.index[" "])
		}
		for r := s; len(r) > 0; {
			_, n := utf8.DecodeRuneInString(r)
			if id, ok := tok.index[r[:n]]; ok {
				units = append(units, id)
			} else {
				for _, b := range []byte(r[:n]) {
					units = append(units, int(b)+3) // llama2.c's <0x00> is id 3
				}
			}
			r = r[n:]
		}
		want := append(append([]int{BOS}, tok.naiveMerge(units)...), EOS)
		if !slices.Equal(got, want) {
			t.Errorf("Encode(%.30q) = %v, quadratic rule gives %v", s, got, want)
		}
		if back, err := tok.Decode(got); err != nil || back != s {
			t.Errorf("Decode(Encode(%.30q)) = %.30q, %v", s, back, err)
		}
	}
}

// TestDecodeOutsideVocabulary: an id outside the vocabulary is an error naming it, not a
// silent drop.
func TestDecodeOutsideVocabulary(t *testing.T) {
	tok := tok512(t)
	for _, id := range []int{512, -1} {
		if text, err := tok.Decode([]int{BOS, 300, id, 301}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("token %d outside the vocabulary [0, 512) (at index 2)", id)) {
			t.Errorf("Decode with token %d: %q, %v", id, text, err)
		}
		if _, err := tok.Piece(BOS, id); err == nil {
			t.Errorf("Piece(%d) gave no error", id)
		}
	}
}

// TestSmallVocabularyWithoutBytePieces: a vocabulary of a few pieces and no <0xNN> byte
// pieces loads; text it spells encodes and decodes; a character it cannot spell is an error
// naming the character, not unrelated ids.
func TestSmallVocabularyWithoutBytePieces(t *testing.T) {
	pieces := []string{"<unk>", "<s>", "</s>", " ", "a", "b", "ab", " ab", "é"}
	scores := []float32{0, 0, 0, 0, 0, 0, 1, 2, 0}
	tok, err := ParseTokenizer(tokenizerFile(6, pieces, scores), len(pieces))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tok.Encode("abé", true, false)
	if want := []int{BOS, 7, 8}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Encode(abé) = %v, %v; want %v", got, err, want)
	}
	if back, err := tok.Decode(got); err != nil || back != "abé" {
		t.Errorf("Decode = %q, %v", back, err)
	}
	if got, err := tok.Encode("ab☃", false, false); err == nil || !strings.Contains(err.Error(), `character "☃" at byte 2 has no piece`) || !strings.Contains(err.Error(), "<0xE2>") {
		t.Errorf("Encode(ab☃) = %v, %v; want an error naming ☃ and its first byte", got, err)
	}
	// Byte pieces anywhere in the vocabulary are found by their spelling, not by position.
	withBytes := append(slices.Clone(pieces), "<0xE2>", "<0x98>", "<0x83>")
	tok, err = ParseTokenizer(tokenizerFile(6, withBytes, make([]float32, len(withBytes))), len(withBytes))
	if err != nil {
		t.Fatal(err)
	}
	got, err = tok.Encode("☃", false, false)
	if want := []int{3, 9, 10, 11}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Encode(☃) = %v, %v; want %v", got, err, want)
	}
	if back, err := tok.Decode(got); err != nil || back != " ☃" {
		t.Errorf("Decode = %q, %v", back, err)
	}
}

// tokenizerFile builds a tokenizer file's bytes from pieces.
func tokenizerFile(maxLen int32, pieces []string, scores []float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, maxLen)
	for i, p := range pieces {
		binary.Write(&b, binary.LittleEndian, scores[i])
		binary.Write(&b, binary.LittleEndian, int32(len(p)))
		b.WriteString(p)
	}
	return b.Bytes()
}

func TestTokenizerBadInput(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(sharedData, "weights", "tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(at int, v int32) []byte {
		b := slices.Clone(good)
		binary.LittleEndian.PutUint32(b[at:], uint32(v))
		return b
	}
	cases := []struct {
		name  string
		data  []byte
		vocab int
		want  string
	}{
		{"empty", nil, 512, "max_token_length"},
		{"truncated", good[:len(good)/2], 512, "piece"},
		{"huge max length", corrupt(0, 1<<30), 512, "max_token_length 1073741824 out of range"},
		{"negative piece length", corrupt(8, -5), 512, "piece 0: length -5"},
		{"piece longer than max", corrupt(8, 1000), 512, "piece 0: length 1000 out of range"},
		{"NaN score", corrupt(4, int32(math.Float32bits(float32(math.NaN())))), 512, "not finite"},
		{"wrong vocabulary", good, 1000, "cannot hold 1000 pieces"},
		{"trailing bytes", append(slices.Clone(good), 1, 2, 3), 512, "3 bytes left"},
		{"absurd vocabulary", good, 1 << 30, "vocabulary size"},
		{"no special tokens", good, 2, "vocabulary size 2 out of range [3,"},
		{"git lfs pointer", []byte("version https://git-lfs.github.com/spec/v1\noid sha256:037c\nsize 6174\n"), 512, "a Git LFS pointer"},
		{"html page", []byte("<html><head><title>404</title></head></html>"), 512, "an HTML page"},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "tok.bin")
		os.WriteFile(path, c.data, 0o644)
		_, err := LoadTokenizer(path, c.vocab)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, path, c.want)
		}
	}
}

func FuzzParseTokenizer(f *testing.F) {
	pieces := make([]string, 300)
	scores := make([]float32, 300)
	for i := range pieces {
		pieces[i] = string(rune('a' + i%26))
	}
	f.Add(tokenizerFile(4, pieces, scores))
	if good, err := os.ReadFile(filepath.Join(sharedData, "weights", "tok512.bin")); err == nil {
		f.Add(good[:600])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := ParseTokenizer(b, 300)
		if err != nil {
			return
		}
		// A tokenizer that parsed must encode and decode anything without panicking.
		// A tokenizer that parsed encodes anything or says which character it cannot, and
		// decodes what it encoded.
		toks, err := tok.Encode("fuzz ☃ text", true, true)
		if err != nil {
			return
		}
		if _, err := tok.Decode(toks); err != nil {
			t.Errorf("decoding its own encoding: %v", err)
		}
	})
}
