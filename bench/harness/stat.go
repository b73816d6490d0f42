package harness

import "slices"

// Stat is the one statistic of every benchmark: one number per interleaved round, and their
// median, min and max. The median is the headline. Before the benchmarks shared this
// statistic, most reported their fastest round instead: the min of a time (vqae, quant), the
// max of a rate (llama's tokens/s), both still in the report.
type Stat struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Rounds []float64 `json:"rounds"`
}

// Add appends one round's number and updates the median, min and max.
func (s *Stat) Add(v float64) {
	s.Rounds = append(s.Rounds, v)
	*s = NewStat(s.Rounds)
}

// NewStat summarizes the rounds (the zero Stat when there are none; the median of an even
// count is the mean of the middle two).
func NewStat(rounds []float64) Stat {
	if len(rounds) == 0 {
		return Stat{}
	}
	sorted := slices.Sorted(slices.Values(rounds))
	n := len(sorted)
	median := sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return Stat{Median: median, Min: sorted[0], Max: sorted[n-1], Rounds: rounds}
}

// Measured says whether any round was recorded.
func (s Stat) Measured() bool { return len(s.Rounds) > 0 }
