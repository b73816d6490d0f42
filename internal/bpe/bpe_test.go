package bpe

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// quadratic is the textbook rule: rescan every adjacent pair after each merge, join the one
// of lowest priority, the leftmost on ties.
func quadratic(syms []string, join func(a, b string) (string, float64, bool)) []string {
	syms = slices.Clone(syms)
	for {
		at, best, merged := -1, 0.0, ""
		for i := 0; i+1 < len(syms); i++ {
			if m, p, ok := join(syms[i], syms[i+1]); ok && (at < 0 || p < best) {
				at, best, merged = i, p, m
			}
		}
		if at < 0 {
			return syms
		}
		syms = slices.Replace(syms, at, at+2, merged)
	}
}

// TestMergeMatchesQuadratic checks Merge against the textbook rule on random strings over a
// small alphabet with random merge tables, ties in priority included.
func TestMergeMatchesQuadratic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		prio := map[string]float64{}
		for range 40 {
			a, b := string(rune('a'+rng.IntN(4))), string(rune('a'+rng.IntN(4)))
			if rng.IntN(2) == 0 {
				a += string(rune('a' + rng.IntN(4)))
			}
			prio[a+"|"+b] = float64(rng.IntN(10)) // ties on purpose
		}
		join := func(a, b string) (string, float64, bool) {
			p, ok := prio[a+"|"+b]
			return a + b, p, ok
		}
		syms := strings.Split(randomWord(rng, 1+rng.IntN(40)), "")
		want := quadratic(syms, join)
		got := Merge(slices.Clone(syms), join)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: Merge(%q) = %q, the quadratic rule gives %q", trial, syms, got, want)
		}
		if strings.Join(got, "") != strings.Join(syms, "") {
			t.Fatalf("trial %d: merged symbols %q do not spell %q", trial, got, syms)
		}
	}
}

func randomWord(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(4))
	}
	return string(b)
}

func TestMergeNothingToJoin(t *testing.T) {
	none := func(a, b int) (int, float64, bool) { return 0, 0, false }
	if got := Merge([]int{3, 1, 2}, none); !slices.Equal(got, []int{3, 1, 2}) {
		t.Errorf("Merge with no merges = %v", got)
	}
	if got := Merge([]int(nil), none); len(got) != 0 {
		t.Errorf("Merge(nil) = %v", got)
	}
}
