package llama

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var sharedData = filepath.Join("..", "..", "..", "shared", "data")

func tok512(t testing.TB) *Tokenizer {
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
		got := tok.Encode(s, true, true)
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
					units = append(units, int(b)+byteFallback)
				}
			}
			r = r[n:]
		}
		want := append(append([]int{BOS}, tok.naiveMerge(units)...), EOS)
		if !slices.Equal(got, want) {
			t.Errorf("Encode(%.30q) = %v, quadratic rule gives %v", s, got, want)
		}
		if back := tok.Decode(got); back != s {
			t.Errorf("Decode(Encode(%.30q)) = %.30q", s, back)
		}
	}
	// A known encoding: llama2.c's dummy prefix then merged pieces.
	if got := tok.Decode(tok.Encode("Once upon a time", true, false)); got != "Once upon a time" {
		t.Errorf("round trip: %q", got)
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
		toks := tok.Encode("fuzz ☃ text", true, true)
		tok.Decode(toks)
	})
}
