package asr

import "fmt"

// GreedyDecode is best-path CTC decoding (Graves et al. 2006, §3.2) of one example: the arg max
// class of each of the first frames rows of logProbs (row-major [≥frames, v]), with repeats merged
// and blanks dropped. It errors when logProbs is shorter than frames·v or v < 1.
func GreedyDecode(logProbs []float32, frames, v, blank int) ([]int32, error) {
	if v < 1 || frames < 0 || len(logProbs) < frames*v {
		return nil, fmt.Errorf("asr: greedy decoding of %d frames × %d classes from %d values", frames, v, len(logProbs))
	}
	var out []int32
	prev := -1
	for t := range frames {
		row := logProbs[t*v : (t+1)*v]
		best := 0
		for c, x := range row {
			if x > row[best] {
				best = c
			}
		}
		if best != prev && best != blank {
			out = append(out, int32(best))
		}
		prev = best
	}
	return out, nil
}
