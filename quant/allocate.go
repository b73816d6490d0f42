package quant

import (
	"fmt"
	"math"
)

// Choice is one way to store a layer, for [Allocate].
type Choice struct {
	Label string  // what the choice is, e.g. a Spec's String()
	Bits  int64   // storage in bits, e.g. Quantized.Bits()
	Cost  float64 // what the choice costs the model, e.g. its WeightedError; lower is better
}

// Allocate picks one choice per layer, minimising Σ Cost subject to Σ Bits ≤ budgetBits:
// mixed-precision bit allocation under a total storage budget, posed as LQ-LoRA (Guo et al.
// 2024) poses it for its integer linear program, i.e. the multiple-choice knapsack
// problem. It returns the index of the pick in each layer's options, the picks' total bits
// and total cost.
//
// The solution is exact: dynamic programming over layers that keeps, after each layer, the
// Pareto front of partial allocations (no kept allocation has both more bits and a higher
// cost than another), dropping allocations that cannot fit the budget even with the smallest
// choices of the remaining layers. An optimal allocation's prefix is never dominated (swap
// in the dominating prefix: fewer bits, lower cost), so the best full allocation left is
// optimal. The front never holds more allocations than there are distinct bit totals below
// the budget, which bounds the work as a DP over the budget in units of the gcd of all Bits
// would, and in practice it is far smaller. Among equal costs the fewest bits win.
//
// Errors: a layer without choices, a negative Bits, a NaN or infinite Cost, or a budget
// below the sum of every layer's smallest Bits.
func Allocate(options [][]Choice, budgetBits int64) (picks []int, totalBits int64, totalCost float64, err error) {
	minBitsAfter := make([]int64, len(options)+1) // Σ of the smallest Bits of layers ≥ i
	for i := len(options) - 1; i >= 0; i-- {
		if len(options[i]) == 0 {
			return nil, 0, 0, fmt.Errorf("quant: Allocate: layer %d has no choices", i)
		}
		smallest := int64(math.MaxInt64)
		for j, c := range options[i] {
			if c.Bits < 0 || math.IsNaN(c.Cost) || math.IsInf(c.Cost, 0) {
				return nil, 0, 0, fmt.Errorf("quant: Allocate: layer %d choice %d (%s): bits %d must be ≥ 0 and cost %v finite", i, j, c.Label, c.Bits, c.Cost)
			}
			smallest = min(smallest, c.Bits)
		}
		if minBitsAfter[i+1] > math.MaxInt64-smallest {
			return nil, 0, 0, fmt.Errorf("quant: Allocate: smallest choices overflow int64 bits")
		}
		minBitsAfter[i] = minBitsAfter[i+1] + smallest
	}
	if minBitsAfter[0] > budgetBits {
		return nil, 0, 0, fmt.Errorf("quant: Allocate: budget %d bits is below the %d bits of every layer's smallest choice", budgetBits, minBitsAfter[0])
	}

	// fronts[i] is the Pareto front after layers < i, ascending in bits and strictly
	// descending in cost; each state remembers its parent in fronts[i-1] for backtracking.
	fronts := make([][]allocState, len(options)+1)
	fronts[0] = []allocState{{parent: -1, choice: -1}}
	for i, layer := range options {
		limit := budgetBits - minBitsAfter[i+1]
		var front []allocState
		for j, c := range layer {
			shifted := make([]allocState, 0, len(fronts[i]))
			for p, s := range fronts[i] {
				if s.bits+c.Bits > limit {
					break // the front is ascending in bits
				}
				shifted = append(shifted, allocState{bits: s.bits + c.Bits, cost: s.cost + c.Cost, parent: int32(p), choice: int32(j)})
			}
			front = mergeFronts(front, shifted)
		}
		fronts[i+1] = front
	}

	last := fronts[len(options)]
	best := len(last) - 1 // lowest cost
	totalBits, totalCost = last[best].bits, last[best].cost
	picks = make([]int, len(options))
	for i := len(options); i > 0; i-- {
		s := fronts[i][best]
		picks[i-1] = int(s.choice)
		best = int(s.parent)
	}
	return picks, totalBits, totalCost, nil
}

type allocState struct {
	bits   int64
	cost   float64
	parent int32 // index in the previous front
	choice int32 // index of this layer's choice
}

// mergeFronts merges two lists ascending in bits into their Pareto front: ascending bits,
// strictly descending cost (on equal bits and cost the first list's state is kept).
func mergeFronts(a, b []allocState) []allocState {
	out := make([]allocState, 0, len(a)+len(b))
	add := func(s allocState) {
		if len(out) > 0 && s.cost >= out[len(out)-1].cost {
			return // dominated: no fewer bits (sorted) and no lower cost
		}
		out = append(out, s)
	}
	// On equal bits the cheaper state goes first, so the dearer one is dropped as dominated.
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || (i < len(a) && (a[i].bits < b[j].bits || (a[i].bits == b[j].bits && a[i].cost <= b[j].cost))) {
			add(a[i])
			i++
		} else {
			add(b[j])
			j++
		}
	}
	return out
}
