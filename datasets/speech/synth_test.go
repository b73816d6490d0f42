package speech

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qzoo/qzoo/internal/datadir"
)

func TestSynthesizeIsDeterministicAndIdempotent(t *testing.T) {
	cache := t.TempDir()
	start := time.Now()
	utts, err := Synthesize(context.Background(), cache, datadir.Dir(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("15 clips in %v", time.Since(start))
	if len(utts) != len(Voices) {
		t.Fatalf("%d clips, want one per voice (%d)", len(utts), len(Voices))
	}
	texts := map[string]bool{}
	for i := range utts {
		u := &utts[i]
		if texts[u.Text] {
			t.Errorf("%s: sentence %q read by two voices", u.ID, u.Text)
		}
		texts[u.Text] = true
		x, err := Load(u)
		if err != nil {
			t.Fatal(err)
		}
		if secs := float64(len(x)) / Rate; secs < 0.5 || secs > 15 {
			t.Errorf("%s: %.2f s for %q", u.ID, secs, u.Text)
		}
		if !strings.HasPrefix(u.Path, filepath.Join(cache, "synth")) {
			t.Errorf("%s written outside the cache: %s", u.ID, u.Path)
		}
	}
	info, err := os.Stat(utts[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Synthesize(context.Background(), cache, datadir.Dir(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	info2, err := os.Stat(again[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if !info2.ModTime().Equal(info.ModTime()) || again[0].Text != utts[0].Text {
		t.Error("a second Synthesize rewrote a clip that was there, or dealt other sentences")
	}
	entries, err := os.ReadDir(filepath.Dir(utts[0].Path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("staging left behind: %s", e.Name())
		}
	}
}

func TestSentences(t *testing.T) {
	got := Sentences("First Citizen:\nBefore we proceed any further, hear me speak.\nAll:\nSpeak, speak.\n" +
		"We are accounted poor citizens, the patricians good.\nBefore we proceed any further, hear me speak.\n" +
		"What authority surfeits on would relieve us: if they\n\"Quoted\" lines are left out of this one.\n")
	want := []string{"Before we proceed any further, hear me speak.", "We are accounted poor citizens, the patricians good.",
		"What authority surfeits on would relieve us: if they"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
	if _, err := dealSentences(want, 2, 2); err == nil {
		t.Error("dealing 4 sentences out of 3 succeeded")
	}
	v, w := Voices[0], Voices[0]
	w.Pitch++
	if v.key(want[0]) == w.key(want[0]) || v.key(want[0]) == v.key(want[1]) || v.key(want[0]) != Voices[0].key(want[0]) {
		t.Error("a clip's cache key does not follow its voice settings and text")
	}
}

// TestInventoryCoversTheSyntheticSentences runs the G2P over every sentence the voices read at
// the default size: a mnemonic outside the table fails it.
func TestInventoryCoversTheSyntheticSentences(t *testing.T) {
	text, err := os.ReadFile(datadir.File(t, SentenceFile))
	if err != nil {
		t.Fatal(err)
	}
	dealt, err := dealSentences(Sentences(string(text)), len(Voices), 30)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, s := range dealt {
		all = append(all, s...)
	}
	phones, err := G2PAll(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range phones {
		if _, err := LabelIDs(p); err != nil || len(p) < 6 {
			t.Errorf("%q: %v (%d phonemes)", all[i], err, len(p))
		}
	}
}
