package speech

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Blank is the label id 0, reserved for the CTC blank (and the padding of label rows): the
// phonemes of Inventory have ids 1..len(Inventory).
const Blank = 0

// Inventory is the fixed phoneme set of every transcript, real or synthetic: the 39 phonemes of
// CMUdict's ARPAbet without stress (15 vowels, 24 consonants). Phoneme Inventory[i] has label
// id i+1 (PhonemeID); id 0 is the CTC blank.
var Inventory = []string{
	"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
	"B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
	"T", "TH", "V", "W", "Y", "Z", "ZH",
}

// PhonemeID maps a phoneme of Inventory to its label id (1..39).
var PhonemeID = func() map[string]int {
	m := make(map[string]int, len(Inventory))
	for i, p := range Inventory {
		m[p] = i + 1
	}
	return m
}()

// espeakToARPAbet maps the ASCII phoneme mnemonics that espeak-ng 1.51's en-us voice prints
// with -x (its phoneme names, docs/phonemes.md of espeak-ng) to Inventory. Several espeak
// names are allophones of one phoneme (the reduced vowels @, @2, @5, a#, I#, I2; the flapped
// or glottal t2, t#, ?; the linking r-) and are merged; r-coloured vowels are split into a
// vowel and R (A@ → AA R, as CMUdict writes "car"), syllabic consonants into AH and the
// consonant (@L → AH L). Stress and length marks and pauses are not phonemes: see
// parseEspeak.
var espeakToARPAbet = map[string][]string{
	// Vowels.
	"a": {"AE"}, "aa": {"AE"}, "a#": {"AH"}, "A:": {"AA"}, "A@": {"AA", "R"}, "0": {"AA"},
	"O": {"AO"}, "O:": {"AO"}, "O2": {"AO"}, "O@": {"AO", "R"}, "o@": {"AO", "R"},
	"OI": {"OY"}, "oU": {"OW"}, "oU#": {"OW"}, "aI": {"AY"}, "aI@": {"AY", "ER"}, "aI3": {"AY", "ER"},
	"aU": {"AW"}, "aU@": {"AW", "ER"}, "e@": {"EH", "R"}, "E": {"EH"}, "E2": {"EH"}, "eI": {"EY"},
	"i": {"IY"}, "i:": {"IY"}, "I": {"IH"}, "I#": {"IH"}, "I2": {"IH"}, "i@": {"IY", "AH"}, "i@3": {"IH", "R"},
	"3": {"ER"}, "3:": {"ER"}, "@": {"AH"}, "@2": {"AH"}, "@5": {"AH"}, "@-": {"AH"}, "V": {"AH"},
	"@L": {"AH", "L"}, "u:": {"UW"}, "u": {"UW"}, "U": {"UH"}, "U@": {"UH", "R"},
	// Consonants.
	"b": {"B"}, "d": {"D"}, "d#": {"D"}, "D": {"DH"}, "dZ": {"JH"}, "f": {"F"}, "g": {"G"}, "h": {"HH"},
	"j": {"Y"}, "k": {"K"}, "x": {"K"}, "l": {"L"}, "l-": {"L"}, "m": {"M"}, "m-": {"M"}, "n": {"N"},
	"n-": {"N"}, "N": {"NG"}, "p": {"P"}, "r": {"R"}, "r-": {"R"}, "s": {"S"}, "S": {"SH"},
	"t": {"T"}, "t#": {"T"}, "t2": {"T"}, "?": {"T"}, "T": {"TH"}, "tS": {"CH"}, "v": {"V"}, "w": {"W"},
	"z": {"Z"}, "Z": {"ZH"},
}

// maxMnemonic is the length of the longest key of espeakToARPAbet.
const maxMnemonic = 3

// parseEspeak turns the output of `espeak-ng -q -x --sep=|` into phonemes of Inventory. Words
// are separated by spaces and phonemes by '|'; inside each piece the mnemonics are matched
// longest first against espeakToARPAbet, after dropping what is not a phoneme: the stress
// marks ' , % = (primary, secondary, unstressed, stressed), the pause marks _ _: _! and the
// palatalisation mark ; (espeak's docs/phonemes.md). A mnemonic outside the table is an
// error naming it, so no transcript loses a sound silently.
func parseEspeak(out string) ([]string, error) {
	var phones []string
	for _, piece := range strings.FieldsFunc(out, func(r rune) bool {
		return r == ' ' || r == '|' || r == '\n' || r == '\t' || r == '\r'
	}) {
		piece = strings.Map(func(r rune) rune {
			switch r {
			case '\'', ',', '%', '=', ';':
				return -1
			}
			return r
		}, piece)
		for piece != "" {
			if piece[0] == '_' { // a pause (_, _: or _!), which espeak may glue to the next phoneme
				piece = strings.TrimLeft(piece[1:], ":!")
				continue
			}
			matched := false
			for n := min(maxMnemonic, len(piece)); n > 0; n-- {
				if ph, ok := espeakToARPAbet[piece[:n]]; ok {
					phones = append(phones, ph...)
					piece, matched = piece[n:], true
					break
				}
			}
			if !matched {
				return nil, fmt.Errorf("espeak phoneme mnemonic %q (in %q) is not in the inventory table", piece, out)
			}
		}
	}
	return phones, nil
}

// G2P is the grapheme-to-phoneme step: it runs espeak-ng's en-us voice on text (-q: no
// audio, -x --sep=|: its phoneme mnemonics) and returns the phonemes of text in Inventory.
// espeak-ng missing from PATH is an error that says so and names the Debian package; an
// empty result (text with no pronounceable word) is an error too.
func G2P(ctx context.Context, text string) ([]string, error) {
	out, err := espeakPhonemes(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("speech: espeak-ng on %q: %w", text, err)
	}
	return phonemesOf(text, out)
}

// phonemesOf parses the espeak-ng output out of text, which must hold a phoneme.
func phonemesOf(text, out string) ([]string, error) {
	phones, err := parseEspeak(out)
	if err != nil {
		return nil, fmt.Errorf("speech: G2P of %q: %w", text, err)
	}
	if len(phones) == 0 {
		return nil, fmt.Errorf("speech: G2P of %q: espeak-ng gave no phonemes", text)
	}
	return phones, nil
}

// sentinel is the paragraph G2PAll puts after each text: its phoneme line (espeak-ng prints a
// line per clause, a blank line between paragraphs) marks where a text's phonemes end. The
// leading full stop closes a text that ends without punctuation.
const sentinel = "\n\n. Qzoo sentinel.\n\n"

// G2PAll returns G2P of every text, from one espeak-ng process: the texts are read as
// paragraphs, each followed by the sentinel paragraph, and the output is cut at the
// sentinel's phoneme line (a thousand texts take seconds instead of a thousand process
// starts). When the output does not hold exactly one sentinel line per text, it falls back to
// one G2P call per text.
func G2PAll(ctx context.Context, texts []string) ([][]string, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	mark, err := espeakPhonemes(ctx, sentinel)
	if err != nil {
		return nil, fmt.Errorf("speech: espeak-ng on the sentinel: %w", err)
	}
	mark = strings.TrimSpace(mark)
	var in strings.Builder
	for _, t := range texts {
		in.WriteString(t + sentinel)
	}
	out, err := espeakPhonemes(ctx, in.String())
	if err != nil {
		return nil, fmt.Errorf("speech: espeak-ng on %d texts: %w", len(texts), err)
	}
	var parts []string
	var cur strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == mark {
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line + "\n")
	}
	result := make([][]string, len(texts))
	for i, t := range texts {
		if len(parts) != len(texts) || strings.TrimSpace(cur.String()) != "" {
			result[i], err = G2P(ctx, t)
		} else {
			result[i], err = phonemesOf(t, parts[i])
		}
		if err != nil {
			return nil, err
		}
	}
	return result, nil
}

// espeakPhonemes runs `espeak-ng -q -x --sep=| -v en-us` on text and returns its output.
func espeakPhonemes(ctx context.Context, text string) (string, error) {
	bin, err := lookTool("espeak-ng")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-q", "-x", "--sep=|", "-v", "en-us")
	cmd.Stdin = strings.NewReader(text)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w (%s)", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// ErrToolMissing is wrapped by the error of a speech tool (espeak-ng, flite, festival) that is
// not installed.
var ErrToolMissing = errors.New("speech tool not installed")

// toolPackages names the Debian package of each external tool, for the error when it is missing.
var toolPackages = map[string]string{
	"espeak-ng": "espeak-ng",
	"flite":     "flite",
	"festival":  "festival (and festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts for its voices)",
}

// lookTool finds a tool on PATH, or returns an error wrapping ErrToolMissing that names the
// package to install.
func lookTool(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("speech: %s not found on PATH (install the Debian package %s): %w",
			name, toolPackages[name], ErrToolMissing)
	}
	return path, nil
}
