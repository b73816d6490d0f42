package speech

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qzoo/qzoo/datasets"
	"github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/atomicfile"
)

// Voice is one synthetic voice: an engine, its voice name and settings, the speaker behind it
// and its split.
type Voice struct {
	Engine string `json:"engine"` // SourceEspeak, SourceFlite or SourceFestival
	Name   string `json:"name"`   // the engine's voice: "en-us+f3", "slt", "voice_kal_diphone"
	// Speaker is the person the voice was built from: flite's slt and festival's
	// cmu_us_slt_arctic_hts are both CMU ARCTIC's SLT, flite's kal16 and festival's
	// kal_diphone both Kevin Lenzo, so each pair is one speaker and shares a split. Every
	// espeak-ng voice (a formant synthesiser) counts as a speaker of its own.
	Speaker string `json:"speaker"`
	// Rate (words per minute) and Pitch (0-99) are espeak-ng's -s and -p (0: the default).
	Rate  int    `json:"rate,omitempty"`
	Pitch int    `json:"pitch,omitempty"`
	Split string `json:"split"`
}

// Voices are the synthetic voices, a fixed list: 15 voices of 13 speakers. Held out for
// validation (never trained on): espeak-ng en-gb-scotland+f2 and en-029+m1, flite rms and
// festival ked_diphone (their speakers have no other voice).
var Voices = []Voice{
	{Engine: SourceEspeak, Name: "en-us", Speaker: "espeak-en-us", Rate: 160, Pitch: 50, Split: framework.SplitTrain},
	{Engine: SourceEspeak, Name: "en-us+f3", Speaker: "espeak-en-us+f3", Rate: 150, Pitch: 65, Split: framework.SplitTrain},
	{Engine: SourceEspeak, Name: "en-gb+m3", Speaker: "espeak-en-gb+m3", Rate: 175, Pitch: 40, Split: framework.SplitTrain},
	{Engine: SourceEspeak, Name: "en-gb-x-rp+f4", Speaker: "espeak-en-gb-x-rp+f4", Rate: 140, Pitch: 55, Split: framework.SplitTrain},
	{Engine: SourceEspeak, Name: "en-us+klatt", Speaker: "espeak-en-us+klatt", Rate: 165, Pitch: 45, Split: framework.SplitTrain},
	{Engine: SourceEspeak, Name: "en-gb-x-gbclan+m7", Speaker: "espeak-en-gb-x-gbclan+m7", Rate: 150, Pitch: 35, Split: framework.SplitTrain},
	{Engine: SourceEspeak, Name: "en-gb-scotland+f2", Speaker: "espeak-en-gb-scotland+f2", Rate: 155, Pitch: 60, Split: framework.SplitValidation},
	{Engine: SourceEspeak, Name: "en-029+m1", Speaker: "espeak-en-029+m1", Rate: 170, Pitch: 45, Split: framework.SplitValidation},
	{Engine: SourceFlite, Name: "kal16", Speaker: "kal", Split: framework.SplitTrain},
	{Engine: SourceFlite, Name: "awb", Speaker: "awb", Split: framework.SplitTrain},
	{Engine: SourceFlite, Name: "slt", Speaker: "slt", Split: framework.SplitTrain},
	{Engine: SourceFlite, Name: "rms", Speaker: "rms", Split: framework.SplitValidation},
	{Engine: SourceFestival, Name: "voice_kal_diphone", Speaker: "kal", Split: framework.SplitTrain},
	{Engine: SourceFestival, Name: "voice_cmu_us_slt_arctic_hts", Speaker: "slt", Split: framework.SplitTrain},
	{Engine: SourceFestival, Name: "voice_ked_diphone", Speaker: "ked", Split: framework.SplitValidation},
}

// key is 12 hex digits of the SHA-256 of the voice's engine, name, rate and pitch and of text:
// the cache key of a synthetic clip.
func (v *Voice) key(text string) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%d\x00%s", v.Engine, v.Name, v.Rate, v.Pitch, text))
	return hex.EncodeToString(h[:6])
}

// SentenceFile is the text the synthetic voices read, relative to the data directory.
const SentenceFile = "text/tinyshakespeare.txt"

// synthSeed fixes the order in which the sentences are dealt to the voices.
const synthSeed = 15

// Sentences returns the candidate sentences of text: the lines of 6 to 16 words made of
// letters, spaces and the punctuation , . ; : ! ? ' - only (no digits, quotes or brackets,
// which the engines read differently), first occurrence of each, in file order.
func Sentences(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if n := len(strings.Fields(line)); n < 6 || n > 16 || seen[line] {
			continue
		}
		ok := true
		for _, r := range line {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(" ,.;:!?'-", r)) {
				ok = false
				break
			}
		}
		if ok {
			out, seen[line] = append(out, line), true
		}
	}
	return out
}

// dealSentences gives each of nVoices voices perVoice distinct sentences: the sentences in the
// order of datasets.Permutation seeded by synthSeed, dealt round-robin, so no two voices read the
// same sentence (the recognizer cannot learn a sentence from one voice and be tested on it in
// another). It needs nVoices·perVoice sentences.
func dealSentences(sentences []string, nVoices, perVoice int) ([][]string, error) {
	if need := nVoices * perVoice; need > len(sentences) {
		return nil, fmt.Errorf("speech: %d voices × %d sentences need %d sentences, %s has %d",
			nVoices, perVoice, need, SentenceFile, len(sentences))
	}
	perm := datasets.Permutation(len(sentences), synthSeed, 0)
	out := make([][]string, nVoices)
	for k := range nVoices * perVoice {
		out[k%nVoices] = append(out[k%nVoices], sentences[perm[k]])
	}
	return out, nil
}

// Synthesize makes the synthetic clips: each voice of Voices reads perVoice sentences of
// SentenceFile (dealSentences), written as WAV files
// <cacheDir>/synth/<engine>/<voice>/<nnn>-<key>.wav, the key a hash of the voice's settings
// and the sentence (Voice.key), so a changed text or setting makes a new file rather than
// reusing one that says something else. Files already there are kept (the list and the
// engines are deterministic), missing ones are
// generated in a staging directory, checked by reading them back, and moved into place
// atomically, so a killed run leaves no partial file. Each engine runs once per voice (festival
// reads one script of all its sentences); voices run two at a time. A missing engine is an
// error naming it and its Debian package (ErrToolMissing). It returns the utterances (their
// durations are read by BuildManifest).
func Synthesize(ctx context.Context, cacheDir, dataDir string, perVoice int) ([]Utterance, error) {
	path, err := framework.LocateData(dataDir, SentenceFile)
	if err != nil {
		return nil, fmt.Errorf("speech: synthetic sentences: %w", err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("speech: %w", err)
	}
	dealt, err := dealSentences(Sentences(string(text)), len(Voices), perVoice)
	if err != nil {
		return nil, err
	}
	var utts []Utterance
	jobs := make([][]int, len(Voices)) // per voice, the indices into utts still to generate
	for v, voice := range Voices {
		dir := filepath.Join(cacheDir, "synth", voice.Engine, voice.Name)
		for i, sentence := range dealt[v] {
			u := Utterance{ID: fmt.Sprintf("%s/%s/%03d", voice.Engine, voice.Name, i),
				Path: filepath.Join(dir, fmt.Sprintf("%03d-%s.wav", i, voice.key(sentence))), Format: FormatWAV,
				Speaker: voice.Speaker, Source: voice.Engine, Text: sentence, Voice: &Voices[v]}
			if !exists(u.Path) {
				jobs[v] = append(jobs[v], len(utts))
			}
			utts = append(utts, u)
		}
	}
	errs := make([]error, len(Voices))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for v := range Voices {
		if len(jobs[v]) == 0 {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			todo := make([]*Utterance, len(jobs[v]))
			for i, j := range jobs[v] {
				todo[i] = &utts[j]
			}
			errs[v] = synthVoice(ctx, &Voices[v], todo)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return utts, nil
}

// synthVoice generates the clips of one voice into a staging directory beside their
// destination, then checks and moves each into place.
func synthVoice(ctx context.Context, v *Voice, todo []*Utterance) error {
	bin, err := lookTool(map[string]string{SourceEspeak: "espeak-ng", SourceFlite: "flite", SourceFestival: "festival"}[v.Engine])
	if err != nil {
		return fmt.Errorf("%w; voice %s needs it (%s=0 builds the corpus without synthetic voices)", err, v.Name, ParamSynthPerVoice)
	}
	dir := filepath.Dir(todo[0].Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("speech: %w", err)
	}
	stage, err := os.MkdirTemp(dir, ".staging-")
	if err != nil {
		return fmt.Errorf("speech: %w", err)
	}
	defer os.RemoveAll(stage)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	staged := func(u *Utterance) string { return filepath.Join(stage, filepath.Base(u.Path)) }
	switch v.Engine {
	case SourceEspeak:
		for _, u := range todo {
			args := []string{"-v", v.Name, "-s", strconv.Itoa(v.Rate), "-p", strconv.Itoa(v.Pitch), "-w", staged(u)}
			if err := runTool(ctx, bin, args, u.Text); err != nil {
				return fmt.Errorf("speech: espeak-ng voice %s on %q: %w", v.Name, u.Text, err)
			}
		}
	case SourceFlite:
		for _, u := range todo {
			if err := runTool(ctx, bin, []string{"-voice", v.Name, "-t", u.Text, "-o", staged(u)}, ""); err != nil {
				return fmt.Errorf("speech: flite voice %s on %q: %w", v.Name, u.Text, err)
			}
		}
	case SourceFestival:
		var script strings.Builder
		fmt.Fprintf(&script, "(%s)\n", v.Name)
		for _, u := range todo { // Sentences admits no '"' or '\\', so the strings need no escaping
			fmt.Fprintf(&script, "(utt.save.wave (SynthText %q) %q 'riff)\n", u.Text, staged(u))
		}
		if err := runTool(ctx, bin, []string{"--pipe"}, script.String()); err != nil {
			return fmt.Errorf("speech: festival voice %s: %w", v.Name, err)
		}
	default:
		return fmt.Errorf("speech: unknown engine %q", v.Engine)
	}
	for _, u := range todo {
		data, err := os.ReadFile(staged(u))
		if err != nil {
			return fmt.Errorf("speech: %s voice %s wrote no file for %q (is the voice installed?): %w",
				v.Engine, v.Name, u.Text, err)
		}
		a, err := wav.Parse(staged(u), data)
		if err != nil {
			return fmt.Errorf("speech: %s voice %s: %w", v.Engine, v.Name, err)
		}
		if a.Frames() == 0 {
			return fmt.Errorf("speech: %s voice %s made an empty clip for %q", v.Engine, v.Name, u.Text)
		}
		if err := atomicfile.WriteFile(u.Path, data); err != nil {
			return fmt.Errorf("speech: %w", err)
		}
	}
	return nil
}

// runTool runs bin with args and stdin, returning an error with its stderr when it fails.
func runTool(ctx context.Context, bin string, args []string, stdin string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, lastLines(stderr.String(), 5))
	}
	return nil
}

// lastLines returns the last n lines of s, trimmed.
func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return strings.TrimSpace(strings.Join(lines[max(0, len(lines)-n):], "\n"))
}
