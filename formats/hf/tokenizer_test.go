package hf

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// byteLevelJSON builds a byte-level tokenizer.json: the 256 byte characters, then the merges
// given (each merge's result added to the vocabulary), and the added tokens.
func byteLevelJSON(t testing.TB, merges []string, digits bool) []byte {
	vocab := map[string]int{}
	for b := range 256 {
		vocab[string(byteRune[b])] = len(vocab)
	}
	for _, m := range merges {
		a, b, _ := strings.Cut(m, " ")
		if _, ok := vocab[a+b]; !ok {
			vocab[a+b] = len(vocab)
		}
	}
	pre := `{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}`
	if digits {
		pre = `{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, ` + pre + `]}`
	}
	m, _ := json.Marshal(map[string]any{
		"added_tokens":  []map[string]any{{"id": len(vocab), "content": "<|im_start|>", "special": true}, {"id": len(vocab) + 1, "content": "<|endoftext|>", "special": true}},
		"normalizer":    nil,
		"pre_tokenizer": json.RawMessage(pre),
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
	})
	return m
}

func TestGPT2Split(t *testing.T) {
	for _, tc := range []struct {
		text   string
		digits bool
		want   []string
	}{
		{"Hello world", false, []string{"Hello", " world"}},
		{"it's  a   test!!", false, []string{"it", "'s", " ", " a", "  ", " test", "!!"}},
		{"line\n\n next", false, []string{"line", "\n\n", " next"}},
		{"abc123 45", false, []string{"abc", "123", " 45"}},
		{"abc123 45", true, []string{"abc", "1", "2", "3", " ", "4", "5"}},
		{"end  ", false, []string{"end", "  "}},
		{"héllo wörld", false, []string{"héllo", " wörld"}},
	} {
		if got := gpt2Split(tc.text, tc.digits); !slices.Equal(got, tc.want) {
			t.Errorf("gpt2Split(%q, %v) = %q, want %q", tc.text, tc.digits, got, tc.want)
		}
	}
}

func TestByteLevelTokenizer(t *testing.T) {
	// "Ġ" is the space's character in GPT-2's byte table.
	tok, err := ParseTokenizer(byteLevelJSON(t, []string{"l l", "ll o", "h e", "he llo", "Ġ w", "Ġw o"}, true))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode("<|im_start|>hello wo 42é")
	if err != nil {
		t.Fatal(err)
	}
	var pieces []string
	for _, id := range ids {
		pieces = append(pieces, tok.pieces[id])
	}
	// Merges by rank: l+l, ll+o, h+e, he+llo; Ġ+w, Ġw+o; digits one by one; é as its two bytes.
	want := []string{"<|im_start|>", "hello", "Ġwo", "Ġ", "4", "2", string(byteRune[0xC3]), string(byteRune[0xA9])}
	if !slices.Equal(pieces, want) {
		t.Errorf("pieces %q, want %q", pieces, want)
	}
	if text, err := tok.Decode(ids); err != nil || text != "<|im_start|>hello wo 42é" {
		t.Errorf("decoded %q (%v)", text, err)
	}
}

func TestSentencePieceStyleTokenizer(t *testing.T) {
	vocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
	for b := range 256 {
		vocab[fmt.Sprintf("<0x%02X>", b)] = len(vocab)
	}
	for _, p := range []string{"▁", "h", "i", "▁h", "▁hi", "t", "▁t", "e", "r", "e"} {
		if _, ok := vocab[p]; !ok {
			vocab[p] = len(vocab)
		}
	}
	b, _ := json.Marshal(map[string]any{
		"added_tokens": []map[string]any{{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}},
		"normalizer": json.RawMessage(`{"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
			{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}`),
		"pre_tokenizer": nil,
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": [][2]string{{"▁", "h"}, {"▁h", "i"}, {"▁", "t"}}, "byte_fallback": true, "unk_token": "<unk>"},
	})
	tok, err := ParseTokenizer(b)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode("hi tez")
	if err != nil {
		t.Fatal(err)
	}
	var pieces []string
	for _, id := range ids {
		pieces = append(pieces, tok.pieces[id])
	}
	if want := []string{"▁hi", "▁t", "e", "<0x7A>"}; !slices.Equal(pieces, want) {
		t.Errorf("pieces %q, want %q", pieces, want)
	}
	if text, err := tok.Decode(append([]int{1}, ids...)); err != nil || text != "<s>hi tez" {
		t.Errorf("decoded %q (%v)", text, err)
	}
}

func TestUnsupportedPreTokenizer(t *testing.T) {
	b := []byte(`{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?i:'s|'t)"}},
		{"type": "ByteLevel", "use_regex": false}]}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`)
	tok, err := ParseTokenizer(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Encode("a"); err == nil || !strings.Contains(err.Error(), "Split") {
		t.Errorf("Encode with a Split pre-tokenizer: %v", err)
	}
	if p, err := tok.Piece(-1, 0); err != nil || string(p) != "a" {
		t.Errorf("Piece: %q %v", p, err)
	}
	if _, err := ParseTokenizer([]byte(`{"model": {"type": "WordPiece", "vocab": {}}}`)); err == nil || !strings.Contains(err.Error(), "WordPiece") {
		t.Errorf("WordPiece: %v", err)
	}
}

// A byte-level tokenizer encodes any text, and decoding gives the text back.
func FuzzByteLevelRoundTrip(f *testing.F) {
	tok, err := ParseTokenizer(byteLevelJSON(f, []string{"Ġ t", "Ġt h", "h e", "Ġth e"}, true))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("the cat's 123 \n\n  x<|endoftext|>")
	f.Add("\xff\xfe invalid")
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			return // GPT-2's split works on characters
		}
		ids, err := tok.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		back, err := tok.Decode(ids)
		if err != nil || back != text {
			t.Fatalf("%q → %v → %q (%v)", text, ids, back, err)
		}
	})
}

func FuzzParseTokenizer(f *testing.F) {
	f.Add(byteLevelJSON(f, []string{"a b"}, false))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 16777216}}}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ParseTokenizer(data)
		if err != nil {
			return
		}
		if tok.VocabSize() > maxTokenID {
			t.Fatalf("vocabulary of %d", tok.VocabSize())
		}
		for id := range min(tok.VocabSize(), 64) {
			_, _ = tok.Piece(-1, id)
		}
		_, _ = tok.Encode("some text 12")
	})
}
