package plots

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/formats/wav"
)

// TestAudioHTML decodes the player's data: URL back into the samples it was given (to 16-bit
// precision) and escapes the label.
func TestAudioHTML(t *testing.T) {
	x := []float32{0, 0.5, -0.25, 1 - 1.0/32768, -1}
	h, err := AudioHTML("a < b", x, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "<audio controls>") || !strings.Contains(h, "a &lt; b") {
		t.Fatalf("player: %s", h)
	}
	const prefix = `src="data:audio/wav;base64,`
	i := strings.Index(h, prefix)
	if i < 0 {
		t.Fatalf("no data URL in %s", h)
	}
	rest := h[i+len(prefix):]
	b, err := base64.StdEncoding.DecodeString(rest[:strings.Index(rest, `"`)])
	if err != nil {
		t.Fatal(err)
	}
	a, err := wav.Parse("player", b)
	if err != nil {
		t.Fatal(err)
	}
	if a.SampleRate != 16000 || a.Frames() != len(x) {
		t.Fatalf("%d Hz, %d frames", a.SampleRate, a.Frames())
	}
	for i, v := range a.Samples[0] {
		if v != x[i] {
			t.Errorf("sample %d: %g, want %g", i, v, x[i])
		}
	}
	if _, err := AudioHTML("bad", []float32{0}, 0); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("rate 0: %v", err)
	}
}

func TestSpectrogramPanelRefusesBadShapes(t *testing.T) {
	if _, err := SpectrogramPanel("x", Spectrogram{Values: make([]float32, 5), Frames: 2, Mels: 3}, 0, 0); err == nil {
		t.Error("5 values for 2 × 3: no error")
	}
	if _, err := SpectrogramPanel("x", Spectrogram{Values: make([]float32, 3), Frames: 1, Mels: 3}, 0, 0); err == nil {
		t.Error("one frame: no error")
	}
}
