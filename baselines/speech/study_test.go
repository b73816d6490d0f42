package speech

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"
)

// TestLoadHeldOutClips loads the seven held-out clips: 16 kHz, the LibriVox five with their
// words (the test's own reading of the transcription file agrees), the LibriSpeech two without.
func TestLoadHeldOutClips(t *testing.T) {
	clips, err := LoadHeldOutClips(datadir.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(clips) != 7 {
		t.Fatalf("%d clips", len(clips))
	}
	refs := transcripts(t)
	for i, c := range clips {
		if c.Rate != 16000 || c.Seconds() < 1 {
			t.Errorf("%s: %d Hz, %.2f s", c.Name, c.Rate, c.Seconds())
		}
		if i < 5 {
			id := librivoxIDs[i]
			if c.Name != "librivox-"+id || c.Transcript != strings.Join(strings.Fields(strings.NewReplacer("<s>", "", "</s>", "").Replace(refs[id])), " ") {
				t.Errorf("clip %d: %s %q, want librivox-%s %q", i, c.Name, c.Transcript, id, refs[id])
			}
		} else if !strings.HasPrefix(c.Name, "librispeech-") || c.Transcript != "" {
			t.Errorf("clip %d: %s %q", i, c.Name, c.Transcript)
		}
	}
}

func TestReadTranscriptionRefusesALineWithoutName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transcription")
	if err := os.WriteFile(path, []byte("<s> a b </s> (one)\n<s> c d </s>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTranscription(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v, want one naming line 2", err)
	}
}

// TestGoalPicksTheCodec2ModeAtOrAbove: the nearest Codec2 rate at or above the learned codec's
// (within 1 %: 1208 bit/s counts as 1211's equal), none above the highest.
func TestGoalPicksTheCodec2ModeAtOrAbove(t *testing.T) {
	tab := &Table{Rows: []Row{
		{Codec: "codec2-700C", Kind: KindPeer, PayloadBitRate: 808, STOI: 0.745},
		{Codec: "codec2-1200", Kind: KindPeer, PayloadBitRate: 1208, STOI: 0.807},
		{Codec: "codec2-1600", Kind: KindPeer, PayloadBitRate: 1611, STOI: 0.817},
		{Codec: "opus-6k", Kind: KindPeer, PayloadBitRate: 5600, STOI: 0.9},
	}}
	for _, c := range []struct {
		rate, stoi float64
		codec2     string
		beats      bool
	}{{600, 0.75, "codec2-700C", true}, {1211, 0.8, "codec2-1200", false}, {1240, 0.82, "codec2-1600", true}, {4000, 0.99, "", false}} {
		g := tab.goal(Row{Codec: "tok", Kind: KindLearned, PayloadBitRate: c.rate, STOI: c.stoi})
		if g.Codec2 != c.codec2 || g.Beats != c.beats {
			t.Errorf("at %.0f bit/s, STOI %.2f: %s, beats %v; want %s, %v", c.rate, c.stoi, g.Codec2, g.Beats, c.codec2, c.beats)
		}
	}
}
