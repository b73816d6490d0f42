package sweep

import (
	"testing"
	"time"
)

// TestTimeLeft: the estimate is the mean time of the points trained so far times the points
// left to train; unknown before any has trained, zero when none is left to train (the rest
// read back, which costs nothing).
func TestTimeLeft(t *testing.T) {
	for _, c := range []struct {
		spent            time.Duration
		trained, toTrain int
		want             time.Duration
		ok               bool
	}{
		{0, 0, 5, 0, false},
		{0, 0, 0, 0, true},
		{90 * time.Second, 3, 4, 2 * time.Minute, true},
		{10 * time.Minute, 1, 0, 0, true},
		{time.Minute, 2, 1, 30 * time.Second, true},
	} {
		got, ok := timeLeft(c.spent, c.trained, c.toTrain)
		if got != c.want || ok != c.ok {
			t.Errorf("timeLeft(%v, %d trained, %d to train) = %v, %v; want %v, %v", c.spent, c.trained, c.toTrain, got, ok, c.want, c.ok)
		}
	}
	if got := formatDuration(62*time.Minute + 3400*time.Millisecond); got != "1h2m3s" {
		t.Errorf("formatDuration: %q", got)
	}
}
