// Package bpe is the merge loop of byte-pair encoding (Sennrich et al. 2016), shared by the
// tokenizers of formats/llama2c (merges ranked by piece score) and formats/hf (merges ranked
// by their order in tokenizer.json): repeatedly join the adjacent pair with the best priority,
// the leftmost on ties, until no adjacent pair can be joined.
//
// A heap of candidate pairs over a linked list keeps it O(n log n) in the symbols, where the
// textbook loop (llama2.c's) rescans all pairs after every merge, O(n²): the difference
// matters for SentencePiece-style text, which is one long word. Written here, not taken from
// a library, for the reasons formats/hf's Tokenizer gives (no Go tokenizer library that builds
// with qzoo's GoMLX reads tokenizer.json correctly).
package bpe

import "container/heap"

// Merge joins adjacent symbols of syms in place and returns the merged sequence (a prefix of
// syms' storage). join(a, b) says whether a followed by b can merge, into what, and with what
// priority: lower merges first, the leftmost pair on ties. join must depend only on its
// arguments. The result is the textbook rule's (TestMergeMatchesQuadratic).
func Merge[S comparable](syms []S, join func(a, b S) (merged S, priority float64, ok bool)) []S {
	n := len(syms)
	next, prev, alive := make([]int, n), make([]int, n), make([]bool, n)
	for i := range syms {
		next[i], prev[i], alive[i] = i+1, i-1, true
	}
	h := &candidates[S]{}
	push := func(i int) {
		if i < 0 || i >= n || next[i] >= n {
			return
		}
		j := next[i]
		if m, p, ok := join(syms[i], syms[j]); ok {
			heap.Push(h, candidate[S]{priority: p, left: i, right: j, l: syms[i], r: syms[j], merged: m})
		}
	}
	for i := range syms {
		push(i)
	}
	for h.Len() > 0 {
		c := heap.Pop(h).(candidate[S])
		if !alive[c.left] || !alive[c.right] || next[c.left] != c.right || syms[c.left] != c.l || syms[c.right] != c.r {
			continue // stale: a side was merged since
		}
		syms[c.left] = c.merged
		alive[c.right] = false
		next[c.left] = next[c.right]
		if next[c.right] < n {
			prev[next[c.right]] = c.left
		}
		push(prev[c.left])
		push(c.left)
	}
	out := syms[:0]
	for i := 0; i < n; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

// candidate is a pair of adjacent symbols (positions left and right, symbols l and r when it
// was pushed) that a merge joins into merged.
type candidate[S any] struct {
	priority    float64
	left, right int
	l, r        S
	merged      S
}

// candidates orders candidates by priority, then leftmost first.
type candidates[S any] []candidate[S]

func (h candidates[S]) Len() int { return len(h) }
func (h candidates[S]) Less(a, b int) bool {
	if h[a].priority != h[b].priority {
		return h[a].priority < h[b].priority
	}
	return h[a].left < h[b].left
}
func (h candidates[S]) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *candidates[S]) Push(x any)   { *h = append(*h, x.(candidate[S])) }
func (h *candidates[S]) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
