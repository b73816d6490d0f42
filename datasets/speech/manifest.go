package speech

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/atomicfile"
)

// Sources of the corpus, as Utterance.Source names them.
const (
	SourceLibriVox     = "librivox-shared"       // ../shared/data/speech/librivox: 5 clips, one reader, transcribed
	SourceLibriSpeechS = "librispeech-shared"    // ../shared/data/speech/librispeech: 2 FLAC clips, transcribed here
	SourcePocketSphinx = "pocketsphinx-testdata" // Debian pocketsphinx-testdata: 16 kHz, 5 speakers
	SourceAsterisk     = "asterisk"              // Debian asterisk-core-sounds-*-wav: 8 kHz prompts, one speaker per language
	SourceCodec2       = "codec2-examples"       // Debian codec2-examples: the Codec2 test clips, no transcript
	SourceLibriSpeech  = "librispeech"           // a LibriSpeech directory as published (speech_librispeech_dir)
	SourceEspeak       = "espeak-ng"             // synthetic
	SourceFlite        = "flite"                 // synthetic
	SourceFestival     = "festival"              // synthetic
)

// Audio file layouts of Utterance.Format.
const (
	FormatWAV   = "wav"
	FormatRaw16 = "raw16" // headerless signed 16-bit little-endian mono PCM at Utterance.SampleRate
	FormatFLAC  = "flac"
)

// Utterance is one clip of the corpus.
type Utterance struct {
	ID      string `json:"id"`      // unique: source/name
	Path    string `json:"path"`    // the audio file (for a synthetic clip, in the cache directory)
	Format  string `json:"format"`  // FormatWAV, FormatRaw16 or FormatFLAC
	Speaker string `json:"speaker"` // speaker or voice; splits are by speaker
	Source  string `json:"source"`  // one of the Source* constants
	// SampleRate is the file's rate in Hz. Every clip is loaded as mono at 16 kHz (Rate).
	SampleRate int `json:"sample_rate"`
	// Narrowband marks a clip recorded at 8 kHz or less: even resampled to 16 kHz it holds
	// nothing above 4 kHz (telephone band), so wideband quality metrics on it mislead.
	Narrowband bool    `json:"narrowband"`
	Seconds    float64 `json:"seconds"`
	// Text is the word transcript ("" when unknown); Phonemes its Inventory phonemes (G2P).
	Text     string   `json:"text,omitempty"`
	Phonemes []string `json:"phonemes,omitempty"`
	Split    string   `json:"split"` // framework.SplitTrain, SplitValidation or SplitTest
	// Voice is how a synthetic clip is made (nil for recordings).
	Voice *Voice `json:"voice,omitempty"`
}

// Skipped is a group of clips the manifest leaves out, with the reason.
type Skipped struct {
	What, Reason string
}

// Manifest is the corpus: every utterance, in a fixed order (by source, then ID).
type Manifest struct {
	Utterances []Utterance
	// Skipped lists the sources left out (a Debian package not installed, a file not in the
	// data directory), for the summary.
	Skipped []Skipped
	// CacheDir is the cache directory the manifest was built with (synthetic clips, G2P,
	// 16 kHz copies: see LoadCached).
	CacheDir string
}

// InSplit returns the utterances of a split, in manifest order (pointers into Utterances).
func (m *Manifest) InSplit(split string) []*Utterance {
	var out []*Utterance
	for i := range m.Utterances {
		if m.Utterances[i].Split == split {
			out = append(out, &m.Utterances[i])
		}
	}
	return out
}

// Config says where the corpus comes from.
type Config struct {
	// DataDir is the qzoo data directory ("" = the framework's search: $QZOO_DATA_DIR, ...).
	DataDir string
	// CacheDir holds the synthetic clips and the G2P cache ("" = DefaultCacheDir()).
	CacheDir string
	// SynthPerVoice is the number of sentences each synthetic voice says (0: no synthetic
	// speech).
	SynthPerVoice int
	// LibriSpeechDir is an optional LibriSpeech directory as published ("" = none).
	LibriSpeechDir string
	// Root prefixes the Debian paths (/usr/share/...): "" on a real system.
	Root string
}

// DefaultCacheDir is $XDG_CACHE_HOME/qzoo/speech, else ~/.cache/qzoo/speech (os.UserCacheDir).
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("speech: no cache directory (set %s): %w", ParamCacheDir, err)
	}
	return filepath.Join(dir, "qzoo", "speech"), nil
}

// Debian paths of the installed sources.
const (
	pocketsphinxDir = "/usr/share/pocketsphinx/test/data"
	asteriskDir     = "/usr/share/asterisk/sounds"
	asteriskDocDir  = "/usr/share/doc"
	codec2Dir       = "/usr/share/codec2"
)

// BuildManifest lists every clip of the sources found, reads each file's duration, attaches
// transcripts and their phonemes (espeak-ng, cached in the cache directory), generates the
// synthetic clips that are missing (Synthesize) and assigns splits by speaker (splitOf). A
// source that is not installed is listed in Skipped, not an error; a file that is there but
// cannot be read is an error naming it.
func BuildManifest(ctx context.Context, cfg Config) (*Manifest, error) {
	if cfg.CacheDir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		cfg.CacheDir = dir
	}
	m := &Manifest{CacheDir: cfg.CacheDir}
	for _, add := range []func(*Manifest, Config) error{
		addLibriVox, addLibriSpeechShared, addPocketSphinx, addAsterisk, addCodec2, addLibriSpeech,
	} {
		if err := add(m, cfg); err != nil {
			return nil, err
		}
	}
	if cfg.SynthPerVoice > 0 {
		synth, err := Synthesize(ctx, cfg.CacheDir, cfg.DataDir, cfg.SynthPerVoice)
		if err != nil {
			return nil, err
		}
		m.Utterances = append(m.Utterances, synth...)
	}
	if err := probeAll(m.Utterances, filepath.Join(cfg.CacheDir, "probe.json")); err != nil {
		return nil, err
	}
	for i := range m.Utterances {
		m.Utterances[i].Split = splitOf(&m.Utterances[i])
	}
	if err := attachPhonemes(ctx, m.Utterances, filepath.Join(cfg.CacheDir, "g2p-en-us.json")); errors.Is(err, ErrToolMissing) {
		// Without espeak-ng no transcript gets phonemes (not only the uncached ones, so that the
		// recognizer never trains on a part of the corpus silently): the tokenizer needs none.
		for i := range m.Utterances {
			m.Utterances[i].Phonemes = nil
		}
		m.Skipped = append(m.Skipped, Skipped{"phoneme transcripts (recognizer mode)", err.Error()})
	} else if err != nil {
		return nil, err
	}
	sort.SliceStable(m.Utterances, func(i, j int) bool { return m.Utterances[i].ID < m.Utterances[j].ID })
	return m, nil
}

// heldOut holds the Codec2 speakers kept for validation (forig and morig, the female and male
// originals of Codec2's own tests, and mmt1): real wideband-codec validation audio beside the
// held-out synthetic voices. splitOf places the other sources whole.
var heldOut = map[string]string{
	"codec2-forig": framework.SplitValidation, "codec2-morig": framework.SplitValidation,
	"codec2-mmt1": framework.SplitValidation,
}

// splitOf returns the split of u's speaker: test for the real held-out speakers of the final
// tables (the LibriVox reader, the shared LibriSpeech clips, the pocketsphinx speakers), the
// voice's split for a synthetic clip (Voices), validation for an asterisk language other than
// English, the subset's for LibriSpeech (librispeechSplit), heldOut's, else train.
func splitOf(u *Utterance) string {
	switch {
	case u.Source == SourceLibriVox || u.Source == SourceLibriSpeechS || u.Source == SourcePocketSphinx:
		return framework.SplitTest
	case u.Voice != nil:
		return u.Voice.Split
	case u.Source == SourceAsterisk && u.Speaker != asteriskEnglish:
		return framework.SplitValidation // another language's speaker, never trained on
	case u.Source == SourceLibriSpeech:
		return librispeechSplit(u.Path)
	}
	if s, ok := heldOut[u.Speaker]; ok {
		return s
	}
	return framework.SplitTrain
}

// exists reports whether path is there (any error other than "not found" counts as there, so
// that reading it reports the problem).
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// sentenceTranscript matches a Sphinx transcription line: "<s> words </s> (id)".
var sentenceTranscript = regexp.MustCompile(`^\s*(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^()]+)\)\s*$`)

// readSphinxTranscription reads a Sphinx transcription file into id → words.
func readSphinxTranscription(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("speech: %w", err)
	}
	out := map[string]string{}
	for n, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		mt := sentenceTranscript.FindStringSubmatch(line)
		if mt == nil {
			return nil, fmt.Errorf("speech: %s:%d: not a transcription line \"<s> words </s> (id)\": %q", path, n+1, line)
		}
		out[mt[2]] = mt[1]
	}
	return out, nil
}

// addLibriVox adds the 5 LibriVox clips of the data directory (Sense and Sensibility, chapter
// 1, one reader; the same clips pocketsphinx-testdata ships, which are therefore not added
// again from there) with their transcription.
func addLibriVox(m *Manifest, cfg Config) error {
	trans, err := framework.LocateData(cfg.DataDir, "speech/librivox/transcription")
	if err != nil {
		m.Skipped = append(m.Skipped, Skipped{SourceLibriVox, err.Error()})
		return nil
	}
	texts, err := readSphinxTranscription(trans)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(texts))
	for id := range texts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m.Utterances = append(m.Utterances, Utterance{ID: SourceLibriVox + "/" + id,
			Path: filepath.Join(filepath.Dir(trans), id+".wav"), Format: FormatWAV,
			Speaker: "librivox-austen-ch01-reader", Source: SourceLibriVox, Text: texts[id]})
	}
	return nil
}

// addLibriSpeechShared adds the two FLAC clips of the data directory, which come without a
// transcript file. test_audio_1 (77040 samples at 16 kHz) is LibriSpeech dev-clean
// 1272-128104-0001, speaker 1272, whose published transcript is given here; test_audio_0
// (74400 samples) is "a man said to the universe sir i exist" (Stephen Crane), its speaker
// unknown. Both were checked with pocketsphinx_continuous (Debian pocketsphinx, en-us model),
// which hears "i'm in said to universal sir i exist" and "nor is mr cultures men are listening
// to rush things and this matter could".
func addLibriSpeechShared(m *Manifest, cfg Config) error {
	for _, c := range []struct{ name, speaker, text string }{
		{"test_audio_0", "librispeech-shared-test_audio_0", "a man said to the universe sir i exist"},
		{"test_audio_1", "librispeech-1272", "nor is mister quilter's manner less interesting than his matter"},
	} {
		path, err := framework.LocateData(cfg.DataDir, "speech/librispeech/"+c.name+".flac")
		if err != nil {
			m.Skipped = append(m.Skipped, Skipped{SourceLibriSpeechS + "/" + c.name, err.Error()})
			continue
		}
		m.Utterances = append(m.Utterances, Utterance{ID: SourceLibriSpeechS + "/" + c.name, Path: path,
			Format: FormatFLAC, Speaker: c.speaker, Source: SourceLibriSpeechS, Text: c.text})
	}
	return nil
}

// addPocketSphinx adds pocketsphinx-testdata's speech: the five "cards" utterances (one
// speaker, transcribed in cards.transcription), goforward.raw (its grammar goforward.gram:
// "go forward ten meters"), tidigits/dhd.2934z.raw (TIDIGITS naming: "two nine three four
// zero"), numbers.raw and something.raw (no transcript). Each file but the cards is its own
// speaker (the package does not say who speaks). The .raw files are 16 kHz 16-bit mono.
func addPocketSphinx(m *Manifest, cfg Config) error {
	dir := filepath.Join(cfg.Root, pocketsphinxDir)
	if !exists(dir) {
		m.Skipped = append(m.Skipped, Skipped{SourcePocketSphinx, dir + " not found (install pocketsphinx-testdata)"})
		return nil
	}
	cards, err := readSphinxTranscription(filepath.Join(dir, "cards", "cards.transcription"))
	if err != nil {
		return err
	}
	for _, id := range []string{"001", "002", "003", "004", "005"} {
		m.Utterances = append(m.Utterances, Utterance{ID: SourcePocketSphinx + "/cards-" + id,
			Path: filepath.Join(dir, "cards", id+".wav"), Format: FormatWAV, Speaker: "pocketsphinx-cards",
			Source: SourcePocketSphinx, Text: cards[id]})
	}
	for _, r := range []struct{ file, speaker, text string }{
		{"goforward.raw", "pocketsphinx-goforward", "go forward ten meters"},
		{"tidigits/dhd.2934z.raw", "pocketsphinx-tidigits-dhd", "two nine three four zero"},
		{"numbers.raw", "pocketsphinx-numbers", ""},
		{"something.raw", "pocketsphinx-something", ""},
	} {
		name := strings.TrimSuffix(filepath.Base(r.file), ".raw")
		m.Utterances = append(m.Utterances, Utterance{ID: SourcePocketSphinx + "/" + name,
			Path: filepath.Join(dir, r.file), Format: FormatRaw16, SampleRate: 16000, Speaker: r.speaker,
			Source: SourcePocketSphinx, Text: r.text})
	}
	return nil
}

// asteriskEnglish is the speaker of asterisk-core-sounds-en-wav (Allison Smith).
const asteriskEnglish = "asterisk-en-allison"

// asteriskLanguages maps the sound directories of the asterisk-core-sounds-*-wav packages to
// their language code (the doc directory holding core-sounds-<code>.txt.gz) and speaker.
var asteriskLanguages = []struct{ dir, lang, speaker string }{
	{"en_US_f_Allison", "en", asteriskEnglish},
	{"fr_CA_f_June", "fr", "asterisk-fr-june"},
	{"es_MX_f_Allison", "es", "asterisk-es-allison"},
	{"it_IT_f_Federica", "it", "asterisk-it-federica"},
	{"ru_RU_f_IvanaIvanova", "ru", "asterisk-ru"},
}

// addAsterisk adds the prompts of every installed asterisk-core-sounds-*-wav package (the
// silence/ directory left out). English prompts get their transcript from
// core-sounds-en.txt.gz of the Debian package asterisk-core-sounds-en (not
// asterisk-core-sounds-en-wav, which ships the audio only); a prompt whose transcript is
// only a bracketed description ("[ascending tones]") gets none. Other languages keep no
// transcript: the G2P is English, so their prompts serve the tokenizer only.
func addAsterisk(m *Manifest, cfg Config) error {
	for _, l := range asteriskLanguages {
		dir := filepath.Join(cfg.Root, asteriskDir, l.dir)
		if !exists(dir) {
			m.Skipped = append(m.Skipped, Skipped{SourceAsterisk + "-" + l.lang,
				dir + " not found (install asterisk-core-sounds-" + l.lang + "-wav)"})
			continue
		}
		var texts map[string]string
		if l.lang == "en" {
			doc := filepath.Join(cfg.Root, asteriskDocDir, "asterisk-core-sounds-en", "core-sounds-en.txt.gz")
			var err error
			if texts, err = readAsteriskTranscripts(doc); errors.Is(err, fs.ErrNotExist) {
				m.Skipped = append(m.Skipped, Skipped{SourceAsterisk + "-en transcripts",
					doc + " not found (install asterisk-core-sounds-en): its prompts have no transcript"})
			} else if err != nil {
				return err
			}
		}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "silence" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".wav") {
				return nil
			}
			rel, _ := filepath.Rel(dir, path)
			key := filepath.ToSlash(strings.TrimSuffix(rel, ".wav"))
			m.Utterances = append(m.Utterances, Utterance{ID: SourceAsterisk + "-" + l.lang + "/" + key,
				Path: path, Format: FormatWAV, Speaker: l.speaker, Source: SourceAsterisk,
				Text: normalizeAsterisk(texts[key])})
			return nil
		})
		if err != nil {
			return fmt.Errorf("speech: listing %s: %w", dir, err)
		}
	}
	return nil
}

// readAsteriskTranscripts reads core-sounds-<lang>.txt.gz: lines "name: transcript", comments
// starting with ';'.
func readAsteriskTranscripts(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("speech: %s: %w", path, err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		if key, text, ok := strings.Cut(line, ":"); ok {
			out[strings.TrimSpace(key)] = strings.TrimSpace(text)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("speech: %s: %w", path, err)
	}
	return out, nil
}

// bracketed matches the stage directions of asterisk transcripts ("[beep]").
var bracketed = regexp.MustCompile(`\[[^\]]*\]`)

// normalizeAsterisk drops stage directions and spells the keypad symbols as the prompts say
// them ("#" is "pound", "*" is "star").
func normalizeAsterisk(text string) string {
	text = bracketed.ReplaceAllString(text, " ")
	text = strings.NewReplacer("#", " pound ", "*", " star ").Replace(text)
	return strings.Join(strings.Fields(text), " ")
}

// codec2Clips are the speech clips of codec2-examples (in wav/ unless noted), one speaker each.
// Left out: wav/all.wav (the others concatenated) and wav/f2400.wav, wav/m2400.wav (forig and
// morig already coded by Codec2 2400). speech_orig_16k.wav (in raw/) and wia_16kHz.wav are
// 16 kHz; the others 8 kHz.
var codec2Clips = []string{"big_dog", "cross", "david4", "forig", "hts1a", "hts2a", "mmt1", "morig",
	"ve9qrp", "vk2tpm_004", "vk5qi", "wia_16kHz", "raw/speech_orig_16k"}

// addCodec2 adds the codec2-examples clips (no transcript: tokenizer only).
func addCodec2(m *Manifest, cfg Config) error {
	dir := filepath.Join(cfg.Root, codec2Dir)
	if !exists(filepath.Join(dir, "wav")) {
		m.Skipped = append(m.Skipped, Skipped{SourceCodec2, dir + "/wav not found (install codec2-examples)"})
		return nil
	}
	for _, c := range codec2Clips {
		rel := c
		if !strings.Contains(c, "/") {
			rel = "wav/" + c
		}
		name := filepath.Base(c)
		m.Utterances = append(m.Utterances, Utterance{ID: SourceCodec2 + "/" + name,
			Path: filepath.Join(dir, rel+".wav"), Format: FormatWAV, Speaker: "codec2-" + name, Source: SourceCodec2})
	}
	return nil
}

// probed is what probe found of a file, cached by probeAll.
type probed struct {
	Rate    int     `json:"rate"`
	Seconds float64 `json:"seconds"`
}

// probeAll sets the rate, duration and narrowband flag of every utterance from its file
// (probe), reusing what cachePath (JSON) holds for a file of the same path, size and
// modification time, and writing the cache back atomically when it grew: reading every file
// of the corpus takes seconds, the cache milliseconds.
func probeAll(utts []Utterance, cachePath string) error {
	cache := map[string]probed{}
	if err := readJSONCache(cachePath, &cache); err != nil {
		return err
	}
	grew := false
	for i := range utts {
		u := &utts[i]
		st, err := os.Stat(u.Path)
		if err != nil {
			return fmt.Errorf("speech: %s: %w", u.ID, err)
		}
		key := fmt.Sprintf("%s\x00%s\x00%d\x00%d", u.Path, u.Format, st.Size(), st.ModTime().UnixNano())
		p, ok := cache[key]
		if !ok {
			if p.Rate, p.Seconds, err = probe(u); err != nil {
				return err
			}
			cache[key], grew = p, true
		}
		u.SampleRate, u.Seconds, u.Narrowband = p.Rate, p.Seconds, p.Rate <= 8000
	}
	if !grew {
		return nil
	}
	return writeJSONCache(cachePath, cache)
}

// readJSONCache fills v from the JSON file at path; a missing file leaves v as it is.
func readJSONCache(path string, v any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("speech: cache: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("speech: cache %s is damaged (delete it to rebuild it): %w", path, err)
	}
	return nil
}

// writeJSONCache writes v as JSON to path atomically, creating its directory.
func writeJSONCache(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("speech: cache %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("speech: %w", err)
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("speech: writing cache %s: %w", path, err)
	}
	return nil
}

// attachPhonemes runs the G2P on every distinct transcript (G2PAll), reusing the phonemes
// cached in cachePath (JSON text → phonemes) and writing the cache back atomically when it
// grew.
func attachPhonemes(ctx context.Context, utts []Utterance, cachePath string) error {
	cache := map[string][]string{}
	if err := readJSONCache(cachePath, &cache); err != nil {
		return err
	}
	var todo []string
	seen := map[string]bool{}
	for _, u := range utts {
		if _, ok := cache[u.Text]; !ok && u.Text != "" && !seen[u.Text] {
			todo, seen[u.Text] = append(todo, u.Text), true
		}
	}
	if len(todo) > 0 {
		results, err := G2PAll(ctx, todo)
		if err != nil {
			return err
		}
		for i, t := range todo {
			cache[t] = results[i]
		}
		if err := writeJSONCache(cachePath, cache); err != nil {
			return err
		}
	}
	for i := range utts {
		if utts[i].Text != "" {
			utts[i].Phonemes = cache[utts[i].Text]
		}
	}
	return nil
}
