package framework

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress prints a one-line progress bar: redrawn in place on a terminal, and as a new line
// every tenth of the run elsewhere (logs, notebooks, CI).
type progress struct {
	lastDraw  time.Time
	lastTenth int64
	drawn     bool
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func (p *progress) update(w io.Writer, step, startStep, endStep int64, start time.Time, loss float64) {
	terminal := isTerminal(w)
	total := max(endStep-startStep, 1)
	done := step - startStep
	tenth := done * 10 / total
	now := time.Now()
	if terminal && now.Sub(p.lastDraw) < 200*time.Millisecond && step != endStep {
		return
	}
	if !terminal && tenth == p.lastTenth && step != endStep {
		return
	}
	p.lastDraw, p.lastTenth = now, tenth
	elapsed := now.Sub(start).Seconds()
	rate := float64(done) / max(elapsed, 1e-9)
	eta := time.Duration(float64(endStep-step)/max(rate, 1e-9)) * time.Second
	const width = 24
	filled := int(done * width / total)
	bar := strings.Repeat("█", filled) + strings.Repeat("·", width-filled)
	line := fmt.Sprintf("step %d/%d %s %5.1f%% %.2f steps/s ETA %s loss %.5g",
		step, endStep, bar, 100*float64(done)/float64(total), rate, eta.Round(time.Second), loss)
	if terminal {
		fmt.Fprintf(w, "\r%s\x1b[K", line)
	} else {
		fmt.Fprintln(w, line)
	}
	p.drawn = true
}

func (p *progress) finish(w io.Writer) {
	if p.drawn && isTerminal(w) {
		fmt.Fprintln(w)
	}
}
