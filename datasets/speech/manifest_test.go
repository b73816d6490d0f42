package speech

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/datadir"
)

// testCacheDir is a G2P and synthesis cache shared by the tests of one machine, so that the
// espeak-ng calls of the first run (about a minute) are not paid again: its content is a pure
// function of the fixed lists, so sharing it changes no result.
func testCacheDir(t *testing.T) string {
	dir := filepath.Join(os.TempDir(), "qzoo-speech-test-cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

var (
	realOnce     sync.Once
	realManifest *Manifest
	realErr      error
)

// realCorpus builds the manifest of the real clips (no synthetic voices) once per test binary.
func realCorpus(t *testing.T) *Manifest {
	t.Helper()
	realOnce.Do(func() {
		realManifest, realErr = BuildManifest(context.Background(),
			Config{DataDir: datadir.Dir(t), CacheDir: testCacheDir(t)})
	})
	if realErr != nil {
		t.Fatal(realErr)
	}
	return realManifest
}

func TestManifestOfTheRealClips(t *testing.T) {
	m := realCorpus(t)
	t.Log("\n" + m.Summary())
	bySource := m.Totals(func(u *Utterance) string { return u.Source })
	for source, want := range map[string]int{SourceLibriVox: 5, SourceLibriSpeechS: 2, SourcePocketSphinx: 9, SourceCodec2: 13} {
		if got := bySource[source].Utterances; got != want {
			t.Errorf("%s: %d utterances, want %d", source, got, want)
		}
	}
	// asterisk-core-sounds-en-wav: 568 files, 10 of them in silence/.
	if got := bySource[SourceAsterisk].Utterances; got != 558 {
		t.Errorf("asterisk: %d utterances, want 558", got)
	}
	ids := map[string]bool{}
	for _, u := range m.Utterances {
		if ids[u.ID] {
			t.Errorf("utterance %s listed twice", u.ID)
		}
		ids[u.ID] = true
		if u.Seconds <= 0 || u.SampleRate <= 0 {
			t.Errorf("%s: %g s at %d Hz", u.ID, u.Seconds, u.SampleRate)
		}
		if u.Narrowband != (u.SampleRate <= 8000) {
			t.Errorf("%s: narrowband %v at %d Hz", u.ID, u.Narrowband, u.SampleRate)
		}
		if u.Source == SourceAsterisk && !u.Narrowband {
			t.Errorf("%s: an 8 kHz asterisk prompt is not marked narrowband", u.ID)
		}
		if (u.Text != "") != (len(u.Phonemes) > 0) {
			t.Errorf("%s: transcript %q but %d phonemes", u.ID, u.Text, len(u.Phonemes))
		}
		if _, err := LabelIDs(u.Phonemes); err != nil {
			t.Errorf("%s: %v", u.ID, err)
		}
	}
	// Durations are the files' own: sizes checked with soxi.
	for id, want := range map[string]float64{
		SourceLibriVox + "/sense_and_sensibility_01_austen_64kb-0870": (227244 - 44) / 32000.0,
		SourcePocketSphinx + "/cards-001":                             17526 / 16000.0,
		SourcePocketSphinx + "/goforward":                             89160 / 32000.0,
		SourceCodec2 + "/big_dog":                                     2.5,
		SourceAsterisk + "-en/activated":                              8512 / 8000.0,
	} {
		u := find(t, m, id)
		if math.Abs(u.Seconds-want) > 1e-3 {
			t.Errorf("%s: %.4f s, want %.4f", id, u.Seconds, want)
		}
	}
	if u := find(t, m, SourceAsterisk+"-en/digits/7"); u.Text != "seven" {
		t.Errorf("digits/7 transcript %q, want seven", u.Text)
	}
	if u := find(t, m, SourceAsterisk+"-en/beep"); u.Text != "" {
		t.Errorf("beep (a tone) has transcript %q", u.Text)
	}
	if got := strings.Join(find(t, m, SourcePocketSphinx+"/goforward").Phonemes, " "); got != "G OW F AO R W ER D T EH N M IY T ER Z" {
		t.Errorf("go forward ten meters: phonemes %q", got)
	}
}

func find(t *testing.T, m *Manifest, id string) *Utterance {
	t.Helper()
	for i := range m.Utterances {
		if m.Utterances[i].ID == id {
			return &m.Utterances[i]
		}
	}
	t.Fatalf("no utterance %s", id)
	return nil
}

func TestSplitsAreDisjointBySpeaker(t *testing.T) {
	m := realCorpus(t)
	checkDisjoint(t, m)
	for _, u := range m.Utterances {
		if (u.Source == SourceLibriVox || u.Source == SourceLibriSpeechS || u.Source == SourcePocketSphinx) && u.Split != framework.SplitTest {
			t.Errorf("%s: real held-out speaker in split %s, want test", u.ID, u.Split)
		}
	}
	bySplit := m.Totals(func(u *Utterance) string { return u.Split })
	if bySplit[framework.SplitTest].TranscribedSeconds < 35 {
		t.Errorf("test split holds %.1f s of transcribed speech, want the LibriVox and pocketsphinx clips (> 35 s)",
			bySplit[framework.SplitTest].TranscribedSeconds)
	}
}

// checkDisjoint fails t when a speaker appears in two splits.
func checkDisjoint(t *testing.T, m *Manifest) {
	t.Helper()
	splitOfSpeaker := map[string]string{}
	for _, u := range m.Utterances {
		if s, ok := splitOfSpeaker[u.Speaker]; ok && s != u.Split {
			t.Errorf("speaker %s is in %s and %s", u.Speaker, s, u.Split)
		}
		splitOfSpeaker[u.Speaker] = u.Split
	}
}

func TestSummaryCountsEveryUtteranceOnce(t *testing.T) {
	m := realCorpus(t)
	all := m.Totals(func(*Utterance) string { return "" })[""]
	var utts int
	var seconds float64
	for _, tot := range m.Totals(func(u *Utterance) string { return u.Split }) {
		utts += tot.Utterances
		seconds += tot.Seconds
	}
	if utts != len(m.Utterances) || utts != all.Utterances || math.Abs(seconds-all.Seconds) > 1e-6 {
		t.Errorf("splits hold %d utterances, %.3f s; corpus %d, %.3f s", utts, seconds, all.Utterances, all.Seconds)
	}
	s := m.Summary()
	for _, want := range []string{"by split", "by source", "pocketsphinx-cards (test)", "librispeech-1272 (test)"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

func TestLoadIs16kHzMono(t *testing.T) {
	m := realCorpus(t)
	for _, id := range []string{SourceAsterisk + "-en/activated", SourcePocketSphinx + "/goforward", SourceLibriVox + "/sense_and_sensibility_01_austen_64kb-0880"} {
		u := find(t, m, id)
		x, err := Load(u)
		if err != nil {
			t.Fatal(err)
		}
		if want := int(math.Ceil(u.Seconds * Rate)); len(x) != want {
			t.Errorf("%s: %d samples at 16 kHz, want %d", id, len(x), want)
		}
		var energy float64
		for _, v := range x {
			energy += float64(v) * float64(v)
		}
		if rms := math.Sqrt(energy / float64(len(x))); rms < 0.003 || rms > 0.5 {
			t.Errorf("%s: RMS %.4f is not speech", id, rms)
		}
		cache := t.TempDir()
		cold, err := LoadCached(u, cache)
		if err != nil {
			t.Fatal(err)
		}
		warm, err := LoadCached(u, cache)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cold, warm) || len(cold) != len(x) {
			t.Fatalf("%s: cold and warm cache disagree, or differ in length from Load", id)
		}
		for i := range x {
			if d := math.Abs(float64(x[i] - cold[i])); d > 0.6/32768 {
				t.Fatalf("%s: sample %d: cached %g, loaded %g", id, i, cold[i], x[i])
			}
		}
	}
}

func TestParseEspeak(t *testing.T) {
	for in, want := range map[string]string{
		"h|@|l|'oU w|'3:|l|d":      "HH AH L OW W ER L D",
		"p|r|'E|s w|'V|n|_:|_:":    "P R EH S W AH N",
		"_:s|t|'A@":                "S T AA R",
		"'aI|@L Z|'0 m|'i@3":       "AY AH L ZH AA M IH R",
		"dZ|'V|dZ; tS|'3:|tS\n":    "JH AH JH CH ER CH",
		"k|@|n|s|'I|d|3 h|,aU|_!w": "K AH N S IH D ER HH AW W",
	} {
		got, err := parseEspeak(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%q: got %q, want %q", in, strings.Join(got, " "), want)
		}
	}
	if _, err := parseEspeak("h|@|Y|oU"); err == nil || !strings.Contains(err.Error(), `"Y`) {
		t.Errorf("an unknown mnemonic gave %v, want an error naming it", err)
	}
	for _, ph := range espeakToARPAbet {
		for _, p := range ph {
			if _, ok := PhonemeID[p]; !ok {
				t.Errorf("table maps to %q, not in Inventory", p)
			}
		}
	}
}

func TestMissingToolsGiveClearErrors(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := G2P(context.Background(), "hello")
	if !errors.Is(err, ErrToolMissing) || !strings.Contains(err.Error(), "espeak-ng") {
		t.Errorf("G2P without espeak-ng: %v", err)
	}
	_, err = Synthesize(context.Background(), t.TempDir(), datadir.Dir(t), 1)
	if !errors.Is(err, ErrToolMissing) || !strings.Contains(err.Error(), "install the Debian package") ||
		!strings.Contains(err.Error(), ParamSynthPerVoice+"=0") {
		t.Errorf("Synthesize without engines: %v", err)
	}
	// Without espeak-ng the corpus still builds for the tokenizer, with no phonemes anywhere,
	// and the recognizer refuses it saying why.
	m, err := BuildManifest(context.Background(), Config{DataDir: datadir.Dir(t), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range m.Utterances {
		if len(u.Phonemes) > 0 {
			t.Fatalf("%s has phonemes without espeak-ng", u.ID)
		}
	}
	d, err := NewDataset(m, Options{Mode: ModeRecognizer, CropSeconds: 1, MaxSeconds: 1, MaxLabels: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.FrameworkData(); err == nil || !strings.Contains(err.Error(), "espeak-ng not found") {
		t.Errorf("recognizer without phonemes: %v", err)
	}
}

func TestLibriSpeechLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "LibriSpeech", "dev-clean")
	chapter := filepath.Join(dir, "84", "121123")
	if err := os.MkdirAll(chapter, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(chapter, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("84-121123.trans.txt", "84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS THAN FIVE MINUTES\n")
	write("84-121123-0000.flac", "")
	if _, err := readLibriSpeechTranscript(filepath.Join(chapter, "84-121123.trans.txt")); err == nil ||
		!strings.Contains(err.Error(), "84-121123-0001.flac is missing") {
		t.Errorf("missing FLAC file: %v", err)
	}
	write("84-121123-0001.flac", "")
	utts, err := readLibriSpeechTranscript(filepath.Join(chapter, "84-121123.trans.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(utts) != 2 || utts[1].Speaker != "librispeech-84" || utts[1].Text != "but in less than five minutes" ||
		librispeechSplit(utts[0].Path) != framework.SplitValidation {
		t.Errorf("parsed %+v", utts)
	}
	write("84-121123.trans.txt", "85-121123-0000 GO\n")
	if _, err := readLibriSpeechTranscript(filepath.Join(chapter, "84-121123.trans.txt")); err == nil ||
		!strings.Contains(err.Error(), "84-121123.trans.txt:1") {
		t.Errorf("an utterance of another chapter: %v", err)
	}
}

func TestG2PAllAgreesWithOneCallPerText(t *testing.T) {
	texts := []string{"What authority surfeits on would relieve us: if they", "go forward ten meters",
		"Press 1 or pound then star.", "Thank you for calling, Waldo's premier provider of perfect products.",
		"he was not an ill disposed young man"}
	all, err := G2PAll(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		one, err := G2P(context.Background(), text)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(all[i], " ") != strings.Join(one, " ") {
			t.Errorf("%q: together %v, alone %v", text, all[i], one)
		}
	}
}

func TestLibriSpeechDirectoryEndToEnd(t *testing.T) {
	// A LibriSpeech test-clean directory holding one real utterance: the shared clip that is
	// dev-clean 1272-128104-0001, copied under its published name.
	root := filepath.Join(t.TempDir(), "LibriSpeech")
	chapter := filepath.Join(root, "test-clean", "1272", "128104")
	if err := os.MkdirAll(chapter, 0o755); err != nil {
		t.Fatal(err)
	}
	flac, err := os.ReadFile(datadir.File(t, "speech/librispeech/test_audio_1.flac"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chapter, "1272-128104-0001.flac"), flac, 0o644); err != nil {
		t.Fatal(err)
	}
	trans := "1272-128104-0001 NOR IS MISTER QUILTER'S MANNER LESS INTERESTING THAN HIS MATTER\n"
	if err := os.WriteFile(filepath.Join(chapter, "1272-128104.trans.txt"), []byte(trans), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := BuildManifest(context.Background(), Config{DataDir: datadir.Dir(t), CacheDir: testCacheDir(t), LibriSpeechDir: root})
	if err != nil {
		t.Fatal(err)
	}
	checkDisjoint(t, m)
	u := find(t, m, SourceLibriSpeech+"/1272-128104-0001")
	if u.Split != framework.SplitTest || u.Speaker != "librispeech-1272" || math.Abs(u.Seconds-77040/16000.0) > 1e-9 ||
		u.SampleRate != 16000 || len(u.Phonemes) < 30 {
		t.Errorf("LibriSpeech utterance: %+v", u)
	}
	if _, err := BuildManifest(context.Background(), Config{DataDir: datadir.Dir(t), CacheDir: testCacheDir(t),
		LibriSpeechDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "trans.txt") {
		t.Errorf("an empty LibriSpeech directory: %v", err)
	}
}

func TestMissingPackagesAreSkippedWithTheirNames(t *testing.T) {
	m, err := BuildManifest(context.Background(), Config{DataDir: datadir.Dir(t), CacheDir: testCacheDir(t), Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sources := m.Totals(func(u *Utterance) string { return u.Source })
	if len(sources) != 2 || sources[SourceLibriVox].Utterances != 5 || sources[SourceLibriSpeechS].Utterances != 2 {
		t.Errorf("with no Debian package the corpus holds %v, want the data directory's 5 + 2 clips", sources)
	}
	s := m.Summary()
	for _, pkg := range []string{"pocketsphinx-testdata", "asterisk-core-sounds-en-wav", "codec2-examples"} {
		if !strings.Contains(s, "(install "+pkg+")") {
			t.Errorf("summary does not name the missing %s:\n%s", pkg, s)
		}
	}
}

func TestDamagedCacheIsNamed(t *testing.T) {
	cache := t.TempDir()
	if err := os.WriteFile(filepath.Join(cache, "probe.json"), []byte("{\"x\": [1,"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := BuildManifest(context.Background(), Config{DataDir: datadir.Dir(t), CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "probe.json is damaged") {
		t.Errorf("a damaged probe cache: %v", err)
	}
}
