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
