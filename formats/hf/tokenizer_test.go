package hf

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var update = flag.Bool("update", false, "rewrite testdata/tiny-llama3/tokenizer.json")

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

// Hand-derived splits. Each follows from trying the pattern's alternatives in order at each
// position (pretokenize.go); the comments name the alternative that decides.
var splitCases = []struct {
	text               string
	gpt2, llama3, qwen []string // nil: as llama3 (qwen), not tested (gpt2)
}{
	// Contractions: Llama 3's are case-insensitive, GPT-2's not ("'" is then punctuation).
	{text: "I'm here, it's OK", gpt2: []string{"I", "'m", " here", ",", " it", "'s", " OK"},
		llama3: []string{"I", "'m", " here", ",", " it", "'s", " OK"}},
	{text: "YOU'RE WE'LL", gpt2: []string{"YOU", "'", "RE", " WE", "'", "LL"},
		llama3: []string{"YOU", "'RE", " WE", "'LL"}},
	{text: "don't\n", llama3: []string{"don", "'t", "\n"}},
	{text: "it'ſ", llama3: []string{"it", "'ſ"}}, // ſ folds to s
	// Not a contraction: the apostrophe is the one character allowed before letters.
	{text: "'hello", gpt2: []string{"'", "hello"}, llama3: []string{"'hello"}},
	// \s+(?!\S): a run of spaces less its last one, which starts the next word.
	{text: "  hello", gpt2: []string{" ", " hello"}, llama3: []string{" ", " hello"}},
	{text: "hello   world", gpt2: []string{"hello", "  ", " world"}, llama3: []string{"hello", "  ", " world"}},
	{text: "end  ", gpt2: []string{"end", "  "}, llama3: []string{"end", "  "}},
	{text: " \tfoo", gpt2: []string{" ", "\t", "foo"}, llama3: []string{" ", "\tfoo"}},
	// Digits: Llama 3 in threes, Qwen2 one by one, GPT-2 the whole run with its space.
	{text: "12345", gpt2: []string{"12345"}, llama3: []string{"123", "45"}, qwen: []string{"1", "2", "3", "4", "5"}},
	{text: " 12345", gpt2: []string{" 12345"}, llama3: []string{" ", "123", "45"}, qwen: []string{" ", "1", "2", "3", "4", "5"}},
	{text: "x2y", gpt2: []string{"x", "2", "y"}, llama3: []string{"x", "2", "y"}},
	{text: "٣٤٥٦ Ⅻ²", gpt2: []string{"٣٤٥٦", " Ⅻ²"}, llama3: []string{"٣٤٥", "٦", " ", "Ⅻ²"},
		qwen: []string{"٣", "٤", "٥", "٦", " ", "Ⅻ", "²"}},
	// Punctuation: runs, one mark before letters joins them (Llama 3), line breaks after a run.
	{text: "a...!!b", gpt2: []string{"a", "...!!", "b"}, llama3: []string{"a", "...!!", "b"}},
	{text: "(hello)", gpt2: []string{"(", "hello", ")"}, llama3: []string{"(hello", ")"}},
	{text: "ok !", gpt2: []string{"ok", " !"}, llama3: []string{"ok", " !"}},
	{text: "foo !\n\nbar", gpt2: []string{"foo", " !", "\n", "\n", "bar"}, llama3: []string{"foo", " !\n\n", "bar"}},
	// Line breaks: \s*[\r\n]+ takes the white space up to the last break.
	{text: "\n\n", gpt2: []string{"\n\n"}, llama3: []string{"\n\n"}},
	{text: "a\n\nb", gpt2: []string{"a", "\n", "\n", "b"}, llama3: []string{"a", "\n\n", "b"}},
	{text: "a \n  b", gpt2: []string{"a", " \n ", " b"}, llama3: []string{"a", " \n", " ", " b"}},
	{text: "x\r\ny", llama3: []string{"x", "\r\n", "y"}},
	// Other scripts: letters are \p{L}; combining marks are neither letters nor numbers.
	{text: "Привет, мир", gpt2: []string{"Привет", ",", " мир"}, llama3: []string{"Привет", ",", " мир"}},
	{text: "日本語のテキスト", gpt2: []string{"日本語のテキスト"}, llama3: []string{"日本語のテキスト"}},
	{text: "हिन्दी", gpt2: []string{"ह", "ि", "न", "्", "द", "ी"}, llama3: []string{"ह", "िन", "्द", "ी"}},
	{text: "a\u00a0b", gpt2: []string{"a", "\u00a0", "b"}, llama3: []string{"a", "\u00a0b"}},
	// Emoji (So), a skin-tone modifier (Sk), a zero-width joiner (Cf): punctuation-like.
	{text: "hi 👋🏽! 👨‍👩‍👧", gpt2: []string{"hi", " 👋🏽!", " 👨‍👩‍👧"}, llama3: []string{"hi", " 👋🏽!", " 👨‍👩‍👧"}},
	// Invalid UTF-8 is a punctuation-like byte and comes out unchanged.
	{text: "a\xffb \xfe", gpt2: []string{"a", "\xff", "b", " \xfe"}, llama3: []string{"a", "\xffb", " \xfe"}},
}

func TestSplits(t *testing.T) {
	for _, tc := range splitCases {
		if tc.gpt2 != nil {
			if got := gpt2Split(tc.text); !slices.Equal(got, tc.gpt2) {
				t.Errorf("GPT-2 %q: %q, want %q", tc.text, got, tc.gpt2)
			}
		}
		if got := llama3Split(tc.text, 3); !slices.Equal(got, tc.llama3) {
			t.Errorf("Llama 3 %q: %q, want %q", tc.text, got, tc.llama3)
		}
		want := orElse(tc.qwen, tc.llama3)
		if got := llama3Split(tc.text, 1); !slices.Equal(got, want) {
			t.Errorf("Qwen2 %q: %q, want %q", tc.text, got, want)
		}
	}
	// Digits before ByteLevel's split (SmolLM): every digit alone, the space before one too.
	var got []string
	for _, w := range digitsSplit("abc123 45", true) {
		got = append(got, gpt2Split(w)...)
	}
	if want := []string{"abc", "1", "2", "3", " ", "4", "5"}; !slices.Equal(got, want) {
		t.Errorf("Digits then GPT-2: %q, want %q", got, want)
	}
	if got := digitsSplit("ab12c3", false); !slices.Equal(got, []string{"ab", "12", "c", "3"}) {
		t.Errorf("Digits in runs: %q", got)
	}
	if got := metaspaceSplit("▁a▁▁b", "▁"); !slices.Equal(got, []string{"▁a", "▁", "▁b"}) {
		t.Errorf("Metaspace split: %q", got)
	}
}

func orElse(a, b []string) []string {
	if a != nil {
		return a
	}
	return b
}

// splitJS runs the patterns with JavaScript's regular expressions (which have \p{L}, \p{N}
// and look-ahead) in node, when it is installed: an independent implementation of the same
// alternation. Node 20 has no scoped (?i:...), so the contraction alternative is a
// case-insensitive sticky expression of its own tried first at each position, as the
// alternation would; \s and \S are spelled as Unicode's White_Space (JavaScript's \s also
// holds U+FEFF and lacks U+0085).
const splitJS = `
const S = "\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const rest = {
  gpt2: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" + S + "\\p{L}\\p{N}]+|[" + S + "]+(?![^" + S + "])|[" + S + "]+",
  llama3: "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^" + S + "\\p{L}\\p{N}]+[\\r\\n]*|[" + S + "]*[\\r\\n]+|[" + S + "]+(?![^" + S + "])|[" + S + "]+",
};
rest.qwen2 = rest.llama3.replace("\\p{N}{1,3}", "\\p{N}");
const contraction = /'(?:s|t|re|ve|m|ll|d)/iuy;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {};
for (const kind of ["gpt2", "llama3", "qwen2"]) {
  const re = new RegExp(rest[kind], "uy");
  out[kind] = input.map(text => {
    const pieces = [];
    for (let i = 0; i < text.length;) {
      let m = null;
      if (kind !== "gpt2") { contraction.lastIndex = i; m = contraction.exec(text); }
      if (!m) { re.lastIndex = i; m = re.exec(text); }
      if (!m || m[0].length === 0) throw new Error("no match at " + i + " of " + JSON.stringify(text));
      pieces.push(m[0]);
      i += m[0].length;
    }
    return pieces;
  });
}
process.stdout.write(JSON.stringify(out));
`

// TestSplitsAgainstJavaScript compares the scanners with JavaScript's regular expressions on
// the hand-derived cases and 3,000 random strings over letters, numbers, white space and
// punctuation of several scripts.
func TestSplitsAgainstJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the scanners are checked against the hand-derived cases only")
	}
	alphabet := []rune("aZé'sStTrReEvVmMlLdDſ \t\n\r\v\f\u0085\u00a0\u2003\u3000!.,?-_\"(#%0123456789٣Ⅻ²½" +
		"Жж日本ह\u093f\u094d\u0301👋🏽\u200d€")
	rng := rand.New(rand.NewPCG(19, 1))
	var texts []string
	for _, tc := range splitCases {
		if utf8.ValidString(tc.text) {
			texts = append(texts, tc.text)
		}
	}
	for range 3000 {
		rs := make([]rune, rng.IntN(16))
		for i := range rs {
			rs[i] = alphabet[rng.IntN(len(alphabet))]
		}
		texts = append(texts, string(rs))
	}
	in, _ := json.Marshal(texts)
	cmd := exec.Command(node, "-e", splitJS)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var js map[string][][]string
	if err := json.Unmarshal(out, &js); err != nil {
		t.Fatal(err)
	}
	ours := map[string]func(string) []string{
		"gpt2":   gpt2Split,
		"llama3": func(s string) []string { return llama3Split(s, 3) },
		"qwen2":  func(s string) []string { return llama3Split(s, 1) },
	}
	bad := 0
	for kind, split := range ours {
		for i, text := range texts {
			if got := split(text); !slices.Equal(got, js[kind][i]) && bad < 10 {
				bad++
				t.Errorf("%s %q: ours %q, JavaScript's %q", kind, text, got, js[kind][i])
			}
		}
	}
	t.Logf("%d strings split as JavaScript's regular expressions split them, by each of 3 patterns", len(texts))
}

// The pieces cover the text, none empty, whatever the bytes.
func FuzzSplits(f *testing.F) {
	for _, tc := range splitCases {
		f.Add(tc.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for name, pieces := range map[string][]string{"gpt2": gpt2Split(text), "llama3": llama3Split(text, 3),
			"qwen2": llama3Split(text, 1), "digits": digitsSplit(text, true)} {
			if strings.Join(pieces, "") != text || slices.Contains(pieces, "") {
				t.Fatalf("%s: %q → %q", name, text, pieces)
			}
		}
	})
}

// tinyLlamaStyleJSON writes a Llama 3-style tokenizer.json (Split with PatternLlama3, then
// ByteLevel; ignore_merges; a TemplateProcessing post-processor adding <|begin_of_text|>) or,
// with qwen, a Qwen2-style one (NFC, PatternQwen2, a ByteLevel post-processor): the 256 byte
// characters as ids 0-255 (GPT-2's table: "Ġ" is the space, 32), ten merges (ids 256-265),
// "Ġworld" (266) that no merge makes, and two added tokens (267, 268).
func tinyLlamaStyleJSON(qwen bool) []byte {
	vocab := map[string]int{}
	for b := range 256 {
		vocab[string(byteRune[b])] = b
	}
	merges := []string{"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "1 2", "12 3", "' s"}
	for _, m := range merges {
		vocab[strings.ReplaceAll(m, " ", "")] = len(vocab)
	}
	vocab["Ġworld"] = len(vocab)
	bos, eos, pattern := "<|begin_of_text|>", "<|end_of_text|>", PatternLlama3
	normalizer := json.RawMessage("null")
	post := json.RawMessage(`{"type": "Sequence", "processors": [
		{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		{"type": "TemplateProcessing",
		 "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
		 "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
		          {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
		 "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [267], "tokens": ["<|begin_of_text|>"]}}}]}`)
	if qwen {
		bos, eos, pattern = "<|endoftext|>", "<|im_start|>", PatternQwen2
		normalizer = json.RawMessage(`{"type": "NFC"}`)
		post = json.RawMessage(`{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}`)
	}
	added := func(id int, content string) map[string]any {
		return map[string]any{"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
			"normalized": false, "special": true}
	}
	b, err := json.MarshalIndent(map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": []any{added(267, bos), added(268, eos)},
		"normalizer":   normalizer,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": pattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}}},
		"post_processor": post,
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": !qwen,
			"vocab": vocab, "merges": merges},
	}, "", " ")
	if err != nil {
		panic(err)
	}
	return b
}

func encodeOK(t *testing.T, tok *Tokenizer, text string) []int {
	t.Helper()
	ids, err := tok.Encode(text)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return ids
}

// TestLlama3StyleTokenizer: ids worked out by hand from the tiny vocabulary.
func TestLlama3StyleTokenizer(t *testing.T) {
	tok, err := ParseTokenizer(tinyLlamaStyleJSON(false))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		want []int
	}{
		// <|begin_of_text|> matched first; then "hello" " world" "'s" " " "123" "45": "hello",
		// "Ġworld" and "'s" are in the vocabulary whole (ignore_merges), "45" has no merge.
		{"<|begin_of_text|>hello world's 12345", []int{267, 259, 266, 265, 32, 264, 52, 53}},
		// "'S" is a contraction with no piece of its own: its two bytes.
		{"HE'S", []int{'H', 'E', '\'', 'S'}},
		// No normalizer: e + U+0301 stays decomposed; the mark (CC 81) is a piece of its own.
		{"cafe\u0301", []int{'c', 'a', 'f', 'e', 0xCC, 0x81}},
		// "  hello": " " then " hello", which has no piece whole: Ġ, then h+e, l+l, he+ll, hell+o.
		{"  hello", []int{32, 32, 259}},
		{"\n\n<|end_of_text|>", []int{'\n', '\n', 268}},
	} {
		if got := encodeOK(t, tok, tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.text, got, tc.want)
		}
		if back, err := tok.Decode(tc.want); err != nil || back != tc.text {
			t.Errorf("%v decoded as %q (%v)", tc.want, back, err)
		}
	}
	tmpl, err := tok.Template()
	if err != nil || tmpl == nil || !slices.Equal(tmpl.Before, []int{267}) || len(tmpl.After) != 0 {
		t.Errorf("template %+v (%v), want <|begin_of_text|> (267) before", tmpl, err)
	}
	// Without ignore_merges " world" is merged: Ġ+w, o+r, Ġw+or, then l and d alone.
	b := bytes.Replace(tinyLlamaStyleJSON(false), []byte(`"ignore_merges": true`), []byte(`"ignore_merges": false`), 1)
	merged, err := ParseTokenizer(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeOK(t, merged, " world"); !slices.Equal(got, []int{262, 'l', 'd'}) {
		t.Errorf("merged \" world\": %v", got)
	}
}

// TestQwen2StyleTokenizer: NFC, digits one by one, merges by rank, no BOS from ByteLevel.
func TestQwen2StyleTokenizer(t *testing.T) {
	tok, err := ParseTokenizer(tinyLlamaStyleJSON(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		want []int
	}{
		// "hello" by merges; " world" as Ġ+w (rank 4), o+r (5), Ġw+or (6), then "l", "d".
		{"hello world's 12345", []int{259, 262, 'l', 'd', 265, 32, '1', '2', '3', '4', '5'}},
		// NFC composes e + U+0301 into é (C3 A9), a letter.
		{"cafe\u0301", []int{'c', 'a', 'f', 0xC3, 0xA9}},
		{"<|im_start|>hi<|endoftext|>", []int{268, 'h', 'i', 267}},
	} {
		if got := encodeOK(t, tok, tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.text, got, tc.want)
		}
	}
	if tmpl, err := tok.Template(); err != nil || tmpl == nil || len(tmpl.Before)+len(tmpl.After) != 0 {
		t.Errorf("template %+v (%v), want nothing added", tmpl, err)
	}
}

// The committed testdata/tiny-llama3/tokenizer.json (read by models/llama's and generate's
// tests) is tinyLlamaStyleJSON's; -update rewrites it.
func TestTinyTokenizerFile(t *testing.T) {
	path := filepath.Join("testdata", "tiny-llama3", TokenizerFile)
	want := append(tinyLlamaStyleJSON(false), '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s differs from tinyLlamaStyleJSON (%v): go test ./formats/hf -run TestTinyTokenizerFile -update", path, err)
	}
	if _, err := ReadTokenizer(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
}

// A Llama 3-style tokenizer encodes any bytes and decodes them back; a Qwen2-style one gives
// NFC text back and is stable: encoding the decoded text gives the same tokens.
func FuzzLlamaStyleRoundTrip(f *testing.F) {
	llama3, err := ParseTokenizer(tinyLlamaStyleJSON(false))
	if err != nil {
		f.Fatal(err)
	}
	qwen, err := ParseTokenizer(tinyLlamaStyleJSON(true))
	if err != nil {
		f.Fatal(err)
	}
	for _, tc := range splitCases {
		f.Add(tc.text)
	}
	f.Add("<|begin_of_text|>hello world's 12345<|end_of_text|>\u0338 <|im_start|>")
	f.Fuzz(func(t *testing.T, text string) {
		ids, err := llama3.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := llama3.Decode(ids); err != nil || back != text {
			t.Fatalf("Llama 3: %q → %v → %q (%v)", text, ids, back, err)
		}
		if !utf8.ValidString(text) {
			return // the tokenizers library takes text, which is UTF-8
		}
		ids, err = qwen.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		back, err := qwen.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		if norm.NFC.IsNormalString(text) && !strings.Contains(text, "<|") && back != text {
			t.Fatalf("Qwen2: %q → %v → %q", text, ids, back)
		}
		if again, err := qwen.Encode(back); err != nil || !slices.Equal(again, ids) {
			t.Fatalf("Qwen2: %q → %v → %q → %v (%v)", text, ids, back, again, err)
		}
	})
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
	if tmpl, err := tok.Template(); tmpl != nil || err != nil {
		t.Errorf("no post_processor: template %+v (%v)", tmpl, err)
	}
}

// spJSON is a SentencePiece-style tokenizer.json: byte pieces, a few pieces and merges, the
// control tokens, and the normalizer and pre-tokenizer given.
func spJSON(normalizer, preTokenizer string, added ...map[string]any) []byte {
	vocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
	for b := range 256 {
		vocab[fmt.Sprintf("<0x%02X>", b)] = len(vocab)
	}
	for _, p := range []string{"▁", "h", "i", "▁h", "▁hi", "t", "▁t", "e", "r"} {
		vocab[p] = len(vocab)
	}
	b, _ := json.Marshal(map[string]any{
		"added_tokens": append([]map[string]any{{"id": 0, "content": "<unk>", "special": true},
			{"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}}, added...),
		"normalizer":    json.RawMessage(normalizer),
		"pre_tokenizer": json.RawMessage(preTokenizer),
		"post_processor": json.RawMessage(`{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
			{"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}`),
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": [][2]string{{"▁", "h"}, {"▁h", "i"}, {"▁", "t"}},
			"byte_fallback": true, "unk_token": "<unk>"},
	})
	return b
}

const llama2Normalizer = `{"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
	{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}`

func TestSentencePieceStyleTokenizer(t *testing.T) {
	tok, err := ParseTokenizer(spJSON(llama2Normalizer, "null"))
	if err != nil {
		t.Fatal(err)
	}
	pieces := func(ids []int) []string {
		var out []string
		for _, id := range ids {
			out = append(out, tok.pieces[id])
		}
		return out
	}
	ids := encodeOK(t, tok, "hi tez")
	if want := []string{"▁hi", "▁t", "e", "<0x7A>"}; !slices.Equal(pieces(ids), want) {
		t.Errorf("pieces %q, want %q", pieces(ids), want)
	}
	if text, err := tok.Decode(append([]int{1}, ids...)); err != nil || text != "<s>hi tez" {
		t.Errorf("decoded %q (%v)", text, err)
	}
	// Llama 2's Prepend normalizer runs on every segment between added tokens.
	if got := pieces(encodeOK(t, tok, "hi</s>hi")); !slices.Equal(got, []string{"▁hi", "</s>", "▁hi"}) {
		t.Errorf("Prepend after an added token: %q", got)
	}
	if tmpl, err := tok.Template(); err != nil || !slices.Equal(tmpl.Before, []int{1}) {
		t.Errorf("template %+v (%v), want <s> before", tmpl, err)
	}
	// Metaspace: no "▁" added before one already there; "first" prepends at the start of the
	// text only; "always" before every segment; split cuts words before each "▁".
	for _, tc := range []struct {
		pre, text string
		want      []string
	}{
		{`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}`, " hi", []string{"▁hi"}},
		{`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}`, "hi</s>hi", []string{"▁hi", "</s>", "h", "i"}},
		{`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": false}`, "hi</s>hi", []string{"▁hi", "</s>", "▁hi"}},
		{`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": true}`, "hi hi", []string{"h", "i", "▁hi"}},
		{`{"type": "Metaspace", "replacement": "▁", "add_prefix_space": true}`, "hi", []string{"▁hi"}},
	} {
		tok, err := ParseTokenizer(spJSON("null", tc.pre))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, id := range encodeOK(t, tok, tc.text) {
			got = append(got, tok.pieces[id])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: %q, want %q", tc.pre, tc.text, got, tc.want)
		}
	}
	// lstrip and rstrip: the white space beside an added token goes with it.
	mask := map[string]any{"id": 3, "content": "<0x00>", "special": true, "lstrip": true, "rstrip": true}
	tok, err = ParseTokenizer(spJSON(llama2Normalizer, "null", mask))
	if err != nil {
		t.Fatal(err)
	}
	if got := pieces(encodeOK(t, tok, "hi  <0x00> hi")); !slices.Equal(got, []string{"▁hi", "<0x00>", "▁hi"}) {
		t.Errorf("lstrip, rstrip: %q", got)
	}
}

// What Encode cannot apply is refused by name; decoding still works.
func TestUnsupportedTokenizers(t *testing.T) {
	bpe := `"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}`
	for _, tc := range []struct{ file, named string }{
		{`{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?i:'s|'t)"}, "behavior": "Isolated"},
			{"type": "ByteLevel", "use_regex": false}]}, ` + bpe + `}`, `Split of regex "(?i:'s|'t)"`},
		{`{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": ` + jsonString(PatternLlama3) + `}, "behavior": "Removed"}, ` + bpe + `}`, `behavior "Removed"`},
		{`{"pre_tokenizer": {"type": "Split", "pattern": {"String": "x"}, "behavior": "Isolated"}, ` + bpe + `}`, `Split of pattern {"String": "x"}`},
		{`{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]}, ` + bpe + `}`, `"Digits" after ByteLevel`},
		{`{"pre_tokenizer": {"type": "Whitespace"}, ` + bpe + `}`, `pre-tokenizer "Whitespace"`},
		{`{"normalizer": {"type": "Lowercase"}, ` + bpe + `}`, `normalizer "Lowercase"`},
		{`{"normalizer": {"type": "Replace", "pattern": {"Regex": " +"}, "content": " "}, ` + bpe + `}`, `Replace of pattern {"Regex": " +"}`},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "continuing_subword_prefix": "##"}}`, `continuing_subword_prefix "##"`},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "dropout": 0.1}}`, `dropout 0.1`},
	} {
		tok, err := ParseTokenizer([]byte(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tok.Encode("a"); err == nil || !strings.Contains(err.Error(), tc.named) {
			t.Errorf("%s: Encode: %v, want an error naming %s", tc.file, err, tc.named)
		}
		if p, err := tok.Piece(-1, 0); err != nil || string(p) != "a" {
			t.Errorf("Piece: %q %v", p, err)
		}
	}
	if _, err := ParseTokenizer([]byte(`{"model": {"type": "WordPiece", "vocab": {}}}`)); err == nil || !strings.Contains(err.Error(), "WordPiece") {
		t.Errorf("WordPiece: %v", err)
	}
	for _, tc := range []struct{ post, named string }{
		{`{"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0]}`, `"RobertaProcessing"`},
		{`{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}}`, `"<s>" has no ids`},
		{`{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"ids": [5]}}}`, `id 5 out of [0, 1)`},
		{`{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}], "special_tokens": {"<s>": {"ids": [0]}}}`, `without $A`},
	} {
		tok, err := ParseTokenizer([]byte(`{"post_processor": ` + tc.post + `, ` + bpe + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tok.Template(); err == nil || !strings.Contains(err.Error(), tc.named) {
			t.Errorf("%s: Template: %v, want an error naming %s", tc.post, err, tc.named)
		}
		if _, err := tok.Encode("a"); err != nil {
			t.Errorf("%s: Encode: %v", tc.post, err)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
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
	f.Add(tinyLlamaStyleJSON(false))
	f.Add(tinyLlamaStyleJSON(true))
	f.Add(spJSON(llama2Normalizer, `{"type": "Metaspace", "replacement": "▁"}`))
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
		if tmpl, err := tok.Template(); err == nil && tmpl != nil {
			for _, id := range slices.Concat(tmpl.Before, tmpl.After) {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("template id %d outside [0, %d)", id, tok.VocabSize())
				}
			}
		}
	})
}
