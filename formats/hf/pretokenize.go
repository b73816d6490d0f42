package hf

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The Split pre-tokenizer patterns the package implements, as tokenizer.json spells them
// (after JSON unescaping). A Split with any other pattern is refused by [Tokenizer.Encode].
const (
	// PatternGPT2 is GPT-2's split, which a ByteLevel pre-tokenizer with use_regex applies;
	// accepted as a Split pattern too.
	PatternGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// PatternLlama3 is Llama 3's (tiktoken's cl100k split; also Mistral's Tekken): numbers in
	// groups of up to three digits.
	PatternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// PatternQwen2 is Qwen2's (and Qwen2.5's): PatternLlama3 with every digit on its own.
	PatternQwen2 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// Why hand-written scanners rather than regular expressions: the patterns above need a
// negative look-ahead, \s+(?!\S), which Go's regexp (RE2) lacks, and the tokenizers library
// runs them with a backtracking engine (Oniguruma) whose leftmost-first alternation the
// scanners reproduce directly. At each position the alternatives are tried in the pattern's
// order and the first that matches is taken, each with its greedy extent; since every
// character is a letter (\p{L}), a number (\p{N}), white space (\s) or none of these, some
// alternative always matches, so the pieces cover the text with nothing between them (the
// Split's "Isolated" behaviour keeps them all). The look-ahead alternative \s+(?!\S) becomes:
// a run of white space, less its last character when a non-space follows it (the last space
// then starts the next piece, e.g. " world"); a single white-space character before a
// non-space is \s+'s. The scanners work on bytes: invalid UTF-8 counts as "none of these"
// and comes out unchanged, so the pieces always concatenate to the text.
//
// Character classes are Go's: \p{L} is unicode.IsLetter, \p{N} unicode.IsNumber, \s
// unicode.IsSpace (Unicode's White_Space, as Oniguruma's and Rust's \s are). (?i:...) matches
// the contractions' letters under simple case folding (so "'S" and "'ſ" are contractions;
// multi-character foldings are not).

// decode is the rune at s[i:] and its length, (RuneError, 0) at the end.
func decode(s string, i int) (rune, int) {
	if i >= len(s) {
		return utf8.RuneError, 0
	}
	return utf8.DecodeRuneInString(s[i:])
}

func isL(r rune) bool { return unicode.IsLetter(r) }
func isN(r rune) bool { return unicode.IsNumber(r) }
func isS(r rune) bool { return unicode.IsSpace(r) }

// isOther is [^\s\p{L}\p{N}].
func isOther(r rune) bool { return !isL(r) && !isN(r) && !isS(r) }

// run returns the end of the run of characters in class from i.
func run(s string, i int, class func(rune) bool) int {
	for {
		r, n := decode(s, i)
		if n == 0 || !class(r) {
			return i
		}
		i += n
	}
}

// contraction returns the end of 's, 't, 're, 've, 'm, 'll or 'd when s[i:] (just after the
// apostrophe) spells one (under simple case folding when fold), else -1.
func contraction(s string, i int, fold bool) int {
	for _, suffix := range [...]string{"s", "t", "re", "ve", "m", "ll", "d"} {
		j, ok := i, true
		for _, want := range suffix {
			r, n := decode(s, j)
			if n == 0 || r != want && !(fold && sameFold(r, want)) {
				ok = false
				break
			}
			j += n
		}
		if ok {
			return j
		}
	}
	return -1
}

// sameFold says r is in c's simple case-folding orbit (s: S, ſ; k: K, K).
func sameFold(r, c rune) bool {
	for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
		if f == r {
			return true
		}
	}
	return false
}

// splitWith cuts s into the pieces match finds, each from the end of the one before.
func splitWith(s string, match func(s string, i int) int) []string {
	var out []string
	for i := 0; i < len(s); {
		j := match(s, i)
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// gpt2Split splits text as [PatternGPT2].
func gpt2Split(text string) []string { return splitWith(text, gpt2Match) }

// gpt2Match is the end of [PatternGPT2]'s match at i (i < len(s)).
func gpt2Match(s string, i int) int {
	c, n := decode(s, i)
	// 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
	if c == '\'' {
		if j := contraction(s, i+n, false); j > 0 {
			return j
		}
	}
	// ' ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+': the optional space binds when a non-space follows.
	j := i
	if c == ' ' {
		if r, m := decode(s, i+1); m > 0 && !isS(r) {
			j = i + 1
		}
	}
	switch r, _ := decode(s, j); {
	case isL(r):
		return run(s, j, isL)
	case isN(r):
		return run(s, j, isN)
	case !isS(r):
		return run(s, j, isOther)
	}
	return spaceRun(s, i)
}

// spaceRun is \s+(?!\S)|\s+ at i (a white-space character): the run of white space, less its
// last character when more than one and a non-space follows.
func spaceRun(s string, i int) int {
	e, last := i, i
	for {
		r, n := decode(s, e)
		if n == 0 || !isS(r) {
			break
		}
		last = e
		e += n
	}
	if e == len(s) || last == i {
		return e
	}
	return last
}

// llama3Split splits text as [PatternLlama3] (maxDigits 3) or [PatternQwen2] (maxDigits 1).
func llama3Split(text string, maxDigits int) []string {
	return splitWith(text, func(s string, i int) int { return llama3Match(s, i, maxDigits) })
}

// llama3Match is the end of the Llama 3 / Qwen2 pattern's match at i (i < len(s)), its
// alternatives tried in order.
func llama3Match(s string, i, maxDigits int) int {
	c, n := decode(s, i)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if c == '\'' {
		if j := contraction(s, i+n, true); j > 0 {
			return j
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+: letters, after at most one character that is neither a line
	// break, a letter nor a number (a space, a tab, a punctuation mark, a combining mark...).
	if isL(c) {
		return run(s, i+n, isL)
	}
	if !isN(c) && c != '\r' && c != '\n' {
		if r, m := decode(s, i+n); m > 0 && isL(r) {
			return run(s, i+n, isL)
		}
	}
	// \p{N}{1,maxDigits}
	if isN(c) {
		j := i + n
		for k := 1; k < maxDigits; k++ {
			r, m := decode(s, j)
			if m == 0 || !isN(r) {
				break
			}
			j += m
		}
		return j
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	j := i
	if c == ' ' {
		if r, m := decode(s, i+1); m > 0 && isOther(r) {
			j = i + 1
		}
	}
	if r, _ := decode(s, j); isOther(r) {
		j = run(s, j, isOther)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	// c is white space. \s*[\r\n]+: the run of white space up to its last line break.
	lastBreak := -1
	for e := i; ; {
		r, m := decode(s, e)
		if m == 0 || !isS(r) {
			break
		}
		e += m
		if r == '\r' || r == '\n' {
			lastBreak = e
		}
	}
	if lastBreak >= 0 {
		return lastBreak
	}
	// \s+(?!\S)|\s+
	return spaceRun(s, i)
}

// digitsSplit is the Digits pre-tokenizer: every number character a piece of its own
// (individual), or each run of them.
func digitsSplit(s string, individual bool) []string {
	return splitWith(s, func(s string, i int) int {
		c, n := decode(s, i)
		switch {
		case isN(c) && individual:
			return i + n
		case isN(c):
			return run(s, i, isN)
		}
		return run(s, i, func(r rune) bool { return !isN(r) })
	})
}

// metaspaceSplit cuts s before every replacement character (the Metaspace pre-tokenizer's
// split, "MergedWithNext": "▁a▁▁b" is "▁a", "▁", "▁b").
func metaspaceSplit(s, replacement string) []string {
	var out []string
	for len(s) > 0 {
		j := strings.Index(s[1:], replacement)
		if j < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:j+1])
		s = s[j+1:]
	}
	return out
}
