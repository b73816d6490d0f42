package speech

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qzoo/qzoo/framework"
)

// addLibriSpeech adds a LibriSpeech directory laid out as published (Panayotov et al. 2015,
// openslr.org/12): <dir>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt, whose lines are
// "<speaker>-<chapter>-<utterance> WORDS IN CAPITALS", beside <speaker>-<chapter>-<utterance>.flac.
// dir may be one subset (".../LibriSpeech/dev-clean") or the parent of several. Every
// utterance of a transcript must have its FLAC file (an error names the one missing); the
// speaker is the LibriSpeech speaker number. All the audio is held in memory at 16 kHz (an hour
// is 230 MB): a subset such as dev-clean or test-clean (5 h each), not train-clean-100.
func addLibriSpeech(m *Manifest, cfg Config) error {
	if cfg.LibriSpeechDir == "" {
		return nil
	}
	if !exists(cfg.LibriSpeechDir) {
		return fmt.Errorf("speech: %s %s does not exist", ParamLibriSpeechDir, cfg.LibriSpeechDir)
	}
	var utts []Utterance
	err := filepath.WalkDir(cfg.LibriSpeechDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".trans.txt") {
			return nil
		}
		got, err := readLibriSpeechTranscript(path)
		utts = append(utts, got...)
		return err
	})
	if err != nil {
		return fmt.Errorf("speech: reading LibriSpeech directory %s: %w", cfg.LibriSpeechDir, err)
	}
	if len(utts) == 0 {
		return fmt.Errorf("speech: %s %s holds no <speaker>-<chapter>.trans.txt file", ParamLibriSpeechDir, cfg.LibriSpeechDir)
	}
	m.Utterances = append(m.Utterances, utts...)
	return nil
}

// readLibriSpeechTranscript reads one chapter's <speaker>-<chapter>.trans.txt.
func readLibriSpeechTranscript(path string) ([]Utterance, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prefix := strings.TrimSuffix(filepath.Base(path), ".trans.txt") + "-"
	speaker, _, _ := strings.Cut(prefix, "-")
	var utts []Utterance
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		id, words, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(id, prefix) || strings.TrimSpace(words) == "" {
			return nil, fmt.Errorf("%s:%d: want \"%sNNNN WORDS\", got %q", path, n, prefix, line)
		}
		audio := filepath.Join(filepath.Dir(path), id+".flac")
		if !exists(audio) {
			return nil, fmt.Errorf("%s:%d: %s is missing", path, n, audio)
		}
		utts = append(utts, Utterance{ID: SourceLibriSpeech + "/" + id, Path: audio, Format: FormatFLAC,
			Speaker: "librispeech-" + speaker, Source: SourceLibriSpeech, Text: strings.ToLower(strings.TrimSpace(words))})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return utts, nil
}

// librispeechSplit names the split of a LibriSpeech file by its subset, as published:
// test-clean and test-other are test, dev-* validation, the train-* subsets train
// (LibriSpeech's subsets have disjoint speakers).
func librispeechSplit(path string) string {
	for _, part := range strings.Split(filepath.ToSlash(path), "/") {
		switch {
		case strings.HasPrefix(part, "test-"):
			return framework.SplitTest
		case strings.HasPrefix(part, "dev-"):
			return framework.SplitValidation
		}
	}
	return framework.SplitTrain
}
