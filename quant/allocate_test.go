package quant

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// bruteForce enumerates every allocation: the lowest cost within the budget, fewest bits on
// ties, costs summed in layer order as Allocate sums them.
func bruteForce(options [][]Choice, budget int64) (bestBits int64, bestCost float64, ok bool) {
	picks := make([]int, len(options))
	for {
		var bits int64
		var cost float64
		for i, p := range picks {
			bits += options[i][p].Bits
			cost += options[i][p].Cost
		}
		if bits <= budget && (!ok || cost < bestCost || (cost == bestCost && bits < bestBits)) {
			bestBits, bestCost, ok = bits, cost, true
		}
		i := 0
		for ; i < len(picks); i++ {
			picks[i]++
			if picks[i] < len(options[i]) {
				break
			}
			picks[i] = 0
		}
		if i == len(picks) {
			return bestBits, bestCost, ok
		}
	}
}

func randomOptions(rng *rand.Rand, layers, choices int, minBits, maxBits int64, integerCosts bool) [][]Choice {
	options := make([][]Choice, layers)
	for i := range options {
		for range 1 + rng.IntN(choices) {
			c := Choice{Bits: minBits + rng.Int64N(maxBits-minBits+1), Cost: rng.Float64()}
			if integerCosts { // ties
				c.Cost = float64(rng.IntN(4))
			}
			options[i] = append(options[i], c)
		}
	}
	return options
}

func TestAllocateMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 400 {
		options := randomOptions(rng, 1+rng.IntN(5), 5, 0, 40, trial%3 == 0)
		var lo, hi int64
		for _, layer := range options {
			l, h := layer[0].Bits, layer[0].Bits
			for _, c := range layer {
				l, h = min(l, c.Bits), max(h, c.Bits)
			}
			lo, hi = lo+l, hi+h
		}
		budget := lo - 3 + rng.Int64N(hi-lo+7)
		wantBits, wantCost, feasible := bruteForce(options, budget)
		picks, bits, cost, err := Allocate(options, budget)
		if !feasible {
			if err == nil || !strings.Contains(err.Error(), "below") {
				t.Fatalf("trial %d: infeasible budget %d: err = %v", trial, budget, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if bits != wantBits || cost != wantCost {
			t.Fatalf("trial %d: got (%d bits, cost %v), brute force (%d, %v)", trial, bits, cost, wantBits, wantCost)
		}
		var sumBits int64
		var sumCost float64
		for i, p := range picks {
			sumBits += options[i][p].Bits
			sumCost += options[i][p].Cost
		}
		if sumBits != bits || sumCost != cost || bits > budget {
			t.Fatalf("trial %d: picks %v sum to (%d, %v), reported (%d, %v), budget %d", trial, picks, sumBits, sumCost, bits, cost, budget)
		}
	}
}

// TestAllocateLarge runs the size the brief names (35 layers × 10 choices of 1e4–1e5 bits),
// with costs unrelated to bits (the hardest case for the Pareto fronts) and with costs
// decreasing in bits (the usual case).
func TestAllocateLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, monotone := range []bool{false, true} {
		options := randomOptions(rng, 35, 10, 10_000, 100_000, false)
		if monotone {
			for _, layer := range options {
				for j := range layer {
					layer[j].Cost = 1e6 / float64(layer[j].Bits) * (1 + 0.1*rng.Float64())
				}
			}
		}
		start := time.Now()
		picks, bits, cost, err := Allocate(options, 35*50_000)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for i, p := range picks {
			sum += options[i][p].Bits
		}
		if sum != bits || bits > 35*50_000 {
			t.Errorf("picks sum to %d bits, reported %d, budget %d", sum, bits, 35*50_000)
		}
		// Tens of milliseconds on two shared cores; seconds would mean the fronts blew up.
		if elapsed > 2*time.Second {
			t.Errorf("took %v", elapsed)
		}
		t.Logf("monotone=%v: %d bits, cost %.4f in %v", monotone, bits, cost, elapsed)
	}
}

// TestAllocateMatchesBudgetDP checks 35-layer instances against the textbook DP over every
// budget value (small bit counts keep its table small).
func TestAllocateMatchesBudgetDP(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 20 {
		options := randomOptions(rng, 35, 10, 1, 200, false)
		budget := int64(35 * (20 + rng.IntN(100)))
		// best[b] is the lowest cost of the layers so far using exactly b bits (+Inf: none).
		best := []float64{0}
		for _, layer := range options {
			next := make([]float64, budget+1)
			for b := range next {
				next[b] = math.Inf(1)
			}
			for b, c := range best {
				if math.IsInf(c, 1) {
					continue
				}
				for _, ch := range layer {
					if nb := int64(b) + ch.Bits; nb <= budget && c+ch.Cost < next[nb] {
						next[nb] = c + ch.Cost
					}
				}
			}
			best = next
		}
		want, wantBits := math.Inf(1), int64(-1)
		for b, c := range best {
			if c < want {
				want, wantBits = c, int64(b)
			}
		}
		_, bits, cost, err := Allocate(options, budget)
		if math.IsInf(want, 1) {
			if err == nil {
				t.Fatalf("trial %d: infeasible budget %d accepted", trial, budget)
			}
			continue
		}
		if err != nil || cost != want || bits != wantBits {
			t.Fatalf("trial %d: got (%d bits, %v, %v), DP (%d, %v)", trial, bits, cost, err, wantBits, want)
		}
	}
}

func TestAllocateErrors(t *testing.T) {
	for _, tc := range []struct {
		options [][]Choice
		budget  int64
		want    string
	}{
		{[][]Choice{{{Bits: 1}}, {}}, 10, "layer 1 has no choices"},
		{[][]Choice{{{Bits: -1}}}, 10, "bits -1"},
		{[][]Choice{{{Bits: 1, Cost: math.NaN()}}}, 10, "finite"},
		{[][]Choice{{{Bits: 5}, {Bits: 7}}, {{Bits: 6}}}, 10, "below the 11 bits"},
	} {
		if _, _, _, err := Allocate(tc.options, tc.budget); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Allocate(%v, %d): err = %v, want %q", tc.options, tc.budget, err, tc.want)
		}
	}
	picks, bits, cost, err := Allocate(nil, 0)
	if err != nil || len(picks) != 0 || bits != 0 || cost != 0 {
		t.Errorf("Allocate(nil, 0) = %v, %d, %v, %v; want nothing", picks, bits, cost, err)
	}
}
