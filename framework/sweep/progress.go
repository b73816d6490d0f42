package sweep

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// progress reports a sweep's advance before each point: its rank, the time elapsed and the
// time left, estimated from the points trained so far by this invocation (points read back
// take no time and do not count), then the total at the end.
type progress struct {
	out     io.Writer
	start   time.Time
	total   int
	toTrain int           // points planned to train that have not finished
	trained int           // points trained so far
	spent   time.Duration // their time, hooks included
}

// newProgress starts the clock and says which points will train: not those whose run directory
// holds their evaluation (see finished), to be read back, nor a point whose directory an earlier
// point of the list trains (two points of a study that are one run).
func newProgress(out io.Writer, plans []plan) (p *progress, willTrain []bool) {
	p = &progress{out: out, start: time.Now(), total: len(plans)}
	willTrain = make([]bool, len(plans))
	for i, pl := range plans {
		_, _, done := finished(pl.point.Dir, pl.cfg, pl.point.Hash)
		willTrain[i] = !done && !slices.ContainsFunc(plans[:i], func(q plan) bool { return q.point.Dir == pl.point.Dir })
		if willTrain[i] {
			p.toTrain++
		}
	}
	return p, willTrain
}

// before prints the line of point i (from 0), what is done to it following (e.g. "read back
// from DIR").
func (p *progress) before(i int, label, what string) {
	left := "unknown"
	if d, ok := timeLeft(p.spent, p.trained, p.toTrain); ok {
		left = formatDuration(d)
	}
	fmt.Fprintf(p.out, "sweep: point %d/%d (%s), elapsed %s, estimated time left %s: %s\n",
		i+1, p.total, label, formatDuration(time.Since(p.start)), left, what)
}

// after counts a point done: one that was to train leaves the count of those left; one that
// trained took d, which joins the estimate.
func (p *progress) after(willTrain, trained bool, d time.Duration) {
	if willTrain {
		p.toTrain--
	}
	if trained {
		p.trained++
		p.spent += d
	}
}

// done prints the final line.
func (p *progress) done(points []Point) {
	trained := 0
	for _, pt := range points {
		if !pt.Reused {
			trained++
		}
	}
	fmt.Fprintf(p.out, "sweep: %d points in %s (%d trained, %d read back)\n", len(points),
		formatDuration(time.Since(p.start)), trained, len(points)-trained)
}

// timeLeft estimates the time the toTrain points still to train will take: the mean time of the
// trained points trained so far (their total time spent), times toTrain. ok is false when the
// estimate is unknown: no point has trained yet and some are left. With none left it is 0.
func timeLeft(spent time.Duration, trained, toTrain int) (left time.Duration, ok bool) {
	switch {
	case toTrain <= 0:
		return 0, true
	case trained <= 0:
		return 0, false
	}
	return time.Duration(float64(spent) / float64(trained) * float64(toTrain)), true
}

// formatDuration writes d to the second (1h2m3s, 4m5s, 6s).
func formatDuration(d time.Duration) string {
	return d.Round(time.Second).String()
}
