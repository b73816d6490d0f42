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

// EditDistance is the Levenshtein distance between the sequences ref and hyp: the fewest
// substitutions, deletions and insertions that turn ref into hyp (Levenshtein 1966), by the
// Wagner–Fischer dynamic programme in O(len(ref)·len(hyp)) time and O(len(hyp)) memory. The phoneme
// error rate of a set of utterances is Σ EditDistance / Σ len(ref). (Package metrics gets an edit
// distance of its own in issue 15; the two are to become one when the branches meet.)
func EditDistance[T comparable](ref, hyp []T) int {
	row := make([]int, len(hyp)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(ref); i++ {
		diag := row[0] // D[i−1][j−1]
		row[0] = i
		for j := 1; j <= len(hyp); j++ {
			cost := 1
			if ref[i-1] == hyp[j-1] {
				cost = 0
			}
			next := min(row[j]+1, row[j-1]+1, diag+cost)
			diag, row[j] = row[j], next
		}
	}
	return row[len(hyp)]
}
