package quant

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
)

// SqueezeLLM (Kim et al. 2024, "SqueezeLLM: Dense-and-Sparse Quantization"). Each group (a
// whole output row by default, as in the paper) stores a lookup table of 2^b fp16 centroids
// and b-bit indices into it. The centroids minimise the sensitivity-weighted error of the
// paper's §4.1 (the diagonal-Fisher form of its second-order objective),
//
//	Σ_i F_i·(w_i − c_{q_i})²,
//
// F the diagonal Fisher information, found by weighted 1-D k-means (Lloyd's algorithm):
// assign every weight to its nearest centroid, move every centroid to the F-weighted mean
// of its weights, until no centroid moves by more than 1e-7 of the group's range or after
// 100 iterations. Lloyd runs from two deterministic starts, the F-weighted quantiles
// (j+½)/2^b and the uniform grid over the group's range, and the lower objective wins. The
// quantile start packs the centroids into the bulk, where Lloyd can stall with the tails
// under-served (on row 3 of stories260K's layer-0 w2 it ended 39% above the uniform grid
// itself); the grid start can only improve on the grid. A centroid left with no weight (or
// zero total Fisher) is moved onto the weight of largest weighted error, so no level is
// wasted. A group with at most 2^b distinct values stores them exactly. Without Fisher (or
// when a group's Fisher is all zero) the weights are 1. The table is rounded to fp16 and
// sorted, and every weight is coded as its nearest fp16 entry.
//
// Dense-and-sparse (§4.2): with Spec.OutlierFraction the outliers are removed before k-means
// (see [Spec]) and overwrite the dense part on dequantization, so they are exact.

// Lloyd iteration limits.
const (
	kmeansMaxIter   = 100
	kmeansTolerance = 1e-7 // of the group's range
)

// quantizeSqueezeLLM fills q.codes and q.lut from x and the optional Fisher f, the groups'
// k-means running concurrently.
func quantizeSqueezeLLM[T float](q *Quantized, x, f []T, isOutlier []bool) error {
	l := newLayout(q.rows, q.cols, q.spec.GroupSize)
	k := 1 << q.spec.Bits
	q.codes = reuse(q.codes, packedLen(len(x), q.spec.Bits))
	q.lut = make([]uint16, l.groups()*k)
	return l.encode(q.codes, q.spec.Bits, func(g, lo int, codes []uint32) error {
		hi := lo + len(codes)
		buf := scratchPool.Get().(*kmeansScratch)
		defer scratchPool.Put(buf)
		points := buf.points[:0]
		for i := lo; i < hi; i++ {
			if isOutlier != nil && isOutlier[i] {
				continue
			}
			p := weightedPoint{value: float64(x[i]), weight: 1}
			if f != nil {
				p.weight = float64(f[i])
			}
			points = append(points, p)
		}
		if f == nil {
			// Equal weights: points of equal value are alike, so sorting the values alone gives
			// the order weightedKMeans's sort would, faster (its sort then finds them sorted).
			values := slices.Grow(buf.values[:0], len(points))[:len(points)]
			buf.values = values
			for i, p := range points {
				values[i] = p.value
			}
			slices.Sort(values)
			for i, v := range values {
				points[i].value = v
			}
		}
		buf.points = points
		centroids := weightedKMeans(points, k, kmeansMaxIter)
		table := make([]float32, k)
		for j, c := range centroids {
			h := float32ToFloat16(float32(c))
			table[j] = float16ToFloat32(h)
			if math.IsInf(float64(table[j]), 0) {
				return fmt.Errorf("quant: squeezellm: %s has centroid %g beyond fp16's largest 65504", l.name(g), c)
			}
		}
		slices.Sort(table)
		mids := make([]float64, k-1)
		for j, c := range table {
			q.lut[g*k+j] = float32ToFloat16(c)
			if j > 0 {
				mids[j-1] = (float64(table[j-1]) + float64(c)) / 2
			}
		}
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			if isOutlier != nil && isOutlier[i] {
				v = 0
			}
			codes[i-lo] = uint32(nearestSorted(mids, v))
		}
		return nil
	})
}

// kmeansScratch is the memory of one group's k-means input, kept between groups and calls
// (scratchPool), since a fresh one per row of a large matrix made the runtime map and fault in
// its pages anew.
type kmeansScratch struct {
	points []weightedPoint
	values []float64
}

var scratchPool = sync.Pool{New: func() any { return new(kmeansScratch) }}

// dequantizeSqueezeLLM writes the lookup-table entry of every code into x.
func dequantizeSqueezeLLM[T float](q *Quantized, x []T) {
	k := 1 << q.spec.Bits
	decodeTable(q, x, func(g int, t *[256]T) {
		for j, h := range q.lut[g*k : (g+1)*k] {
			t[j] = T(float16ToFloat32(h))
		}
	})
}

type weightedPoint struct{ value, weight float64 }

// WeightedKMeans1D returns k ascending centroids minimising Σ_i weights_i·(values_i − c_{q_i})²
// over the values, each coded as its nearest centroid q_i: the weighted 1-D k-means of
// SqueezeLLM's lookup tables (see [MethodSqueezeLLM]'s notes), with at most iterations
// Lloyd steps per start (≤ 0: 100). weights may be nil (all 1); all-zero weights count as 1.
// With no values the centroids are 0. It panics if k < 2 or the lengths differ (caller bugs).
func WeightedKMeans1D(values, weights []float64, k, iterations int) []float64 {
	if k < 2 || (weights != nil && len(weights) != len(values)) {
		panic(fmt.Sprintf("quant: WeightedKMeans1D: k=%d, %d values, %d weights", k, len(values), len(weights)))
	}
	if iterations <= 0 {
		iterations = kmeansMaxIter
	}
	points := make([]weightedPoint, len(values))
	for i, v := range values {
		points[i] = weightedPoint{value: v, weight: 1}
		if weights != nil {
			points[i].weight = weights[i]
		}
	}
	return weightedKMeans(points, k, iterations)
}

// weightedKMeans returns k ascending centroids minimising Σ weight·(value − nearest)²: the
// better of Lloyd's algorithm (at most maxIter steps) from two starts, the weighted quantiles
// and the uniform grid over the values' range (see the SqueezeLLM notes above). It sorts
// points.
func weightedKMeans(points []weightedPoint, k, maxIter int) []float64 {
	centroids := make([]float64, k)
	if len(points) == 0 {
		return centroids
	}
	slices.SortFunc(points, func(a, b weightedPoint) int { return cmp.Compare(a.value, b.value) })
	total := 0.0
	for _, p := range points {
		total += p.weight
	}
	if total == 0 {
		for i := range points {
			points[i].weight = 1
		}
		total = float64(len(points))
	}

	// Few distinct values: store them exactly.
	distinct := centroids[:0]
	for _, p := range points {
		if len(distinct) == 0 || p.value != distinct[len(distinct)-1] {
			if len(distinct) == k {
				distinct = nil
				break
			}
			distinct = append(distinct, p.value)
		}
	}
	if distinct != nil {
		for i := len(distinct); i < k; i++ {
			centroids[i] = distinct[len(distinct)-1]
		}
		return centroids
	}

	// Start 1: the weighted quantiles (j+½)/k.
	cum, j := 0.0, 0
	for _, p := range points {
		cum += p.weight
		for j < k && cum >= (float64(j)+0.5)/float64(k)*total {
			centroids[j] = p.value
			j++
		}
	}
	for ; j < k; j++ {
		centroids[j] = points[len(points)-1].value
	}
	lo, hi := points[0].value, points[len(points)-1].value
	quantileError := lloyd(points, centroids, kmeansTolerance*(hi-lo), maxIter)

	// Start 2: the uniform grid, which the quantiles' start can lose to on heavy tails.
	grid := make([]float64, k)
	for j := range grid {
		grid[j] = lo + (hi-lo)*float64(j)/float64(k-1)
	}
	if gridError := lloyd(points, grid, kmeansTolerance*(hi-lo), maxIter); gridError < quantileError {
		return grid
	}
	return centroids
}

// lloyd runs at most maxIter Lloyd iterations on ascending centroids over sorted points, in
// place, and returns the final Σ weight·(value − nearest)².
func lloyd(points []weightedPoint, centroids []float64, tolerance float64, maxIter int) float64 {
	k := len(centroids)
	// Centroids are ascending, so clusters are runs of the sorted points: cluster c is
	// points[ends[c-1]:ends[c]]. A point goes to the first centroid c whose midpoint with the
	// next is not below it (a point on a midpoint goes to the lower centroid), so the run of
	// clusters up to c ends at the first point above the largest of the first c+1 midpoints:
	// a binary search per cluster rather than a comparison per point.
	ends := make([]int, k)
	runs := func() {
		mid := math.Inf(-1)
		for c := range k - 1 {
			mid = max(mid, (centroids[c]+centroids[c+1])/2)
			ends[c] = sort.Search(len(points), func(i int) bool { return points[i].value > mid })
		}
		ends[k-1] = len(points)
	}
	// Sums run over each cluster's points in order, as a loop over all points would.
	cluster := func(c int) []weightedPoint {
		if c == 0 {
			return points[:ends[0]]
		}
		return points[ends[c-1]:ends[c]]
	}
	// A cluster's sums depend only on its run: they are kept from the step before while the
	// run's bounds stay (late steps move few of them), and summed again when one moved.
	sums := make([][2]float64, k) // Σ weight, Σ weight·value of each run
	prevEnds := make([]int, k)
	var assign []int // each point's cluster, for relocateEmpty
	for step := range maxIter {
		runs()
		moved := 0.0
		var empty []int
		for c := range centroids {
			same := step > 0 && ends[c] == prevEnds[c] && (c == 0 || ends[c-1] == prevEnds[c-1])
			if !same {
				var sumW, sumWV float64
				for _, p := range cluster(c) {
					sumW += p.weight
					sumWV += p.weight * p.value
				}
				sums[c] = [2]float64{sumW, sumWV}
			}
			sumW, sumWV := sums[c][0], sums[c][1]
			if sumW == 0 {
				empty = append(empty, c)
				continue
			}
			next := sumWV / sumW
			moved = max(moved, math.Abs(next-centroids[c]))
			centroids[c] = next
		}
		if len(empty) > 0 {
			assign = slices.Grow(assign[:0], len(points))[:len(points)]
			for c := range centroids {
				start := ends[c] - len(cluster(c))
				for i := start; i < ends[c]; i++ {
					assign[i] = c
				}
			}
		}
		copy(prevEnds, ends)
		relocated := relocateEmpty(points, assign, centroids, empty)
		if relocated {
			slices.Sort(centroids)
		}
		if !relocated && moved <= tolerance {
			break
		}
	}
	runs()
	var sse float64
	for c, centroid := range centroids {
		for _, p := range cluster(c) {
			d := p.value - centroid
			sse += p.weight * d * d
		}
	}
	return sse
}

// relocateEmpty moves each empty centroid onto the point of largest weighted squared error
// against its (updated) centroid, one point per empty centroid, and reports whether it moved
// any. Points already matched exactly contribute no error and attract nothing.
func relocateEmpty(points []weightedPoint, assign []int, centroids []float64, empty []int) bool {
	if len(empty) == 0 {
		return false
	}
	errs := make([]float64, len(points))
	for i, p := range points {
		d := p.value - centroids[assign[i]]
		errs[i] = p.weight * d * d
	}
	relocated := false
	for _, c := range empty {
		worst := -1
		for i, e := range errs {
			if e > 0 && (worst < 0 || e > errs[worst]) {
				worst = i
			}
		}
		if worst < 0 {
			break
		}
		v := points[worst].value
		centroids[c] = v
		for i := worst; i < len(points) && points[i].value == v; i++ {
			errs[i] = 0 // points are sorted: equal values are adjacent
		}
		for i := worst - 1; i >= 0 && points[i].value == v; i-- {
			errs[i] = 0
		}
		relocated = true
	}
	return relocated
}
