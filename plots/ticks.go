package plots

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
)

// minLabels is the fewest labelled ticks an axis gets: one label cannot show a scale.
const minLabels = 3

// log10Ticks labels a log₁₀ axis: every decade when the axis spans two decades or more (every
// k-th decade past ten of them), else 1, 2 and 5 × 10ⁿ, else every integer mantissa, else (an
// axis as narrow as [1.1, 1.9]) steps of [linearTicks]; the first of these that labels at least
// [minLabels] ticks. The other integer mantissas are unlabelled minor ticks.
type log10Ticks struct{}

func (log10Ticks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > min) {
		return linearTicks{}.Ticks(min, max)
	}
	all := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	sets := [][]float64{{1, 2, 5}, all}
	if math.Log10(max/min) >= 2 {
		sets = append([][]float64{{1}}, sets...)
	}
	for _, set := range sets {
		labelled := mantissas(min, max, set)
		if len(labelled) < minLabels {
			continue
		}
		if len(set) == 1 && len(labelled) > 10 {
			labelled = everyKth(labelled, (len(labelled)+7)/8)
		}
		minor := mantissas(min, max, all)
		if math.Log10(max/min) > 8 {
			minor = mantissas(min, max, []float64{1})
		}
		return merge(labelled, minor, formatNumber)
	}
	return linearTicks{}.Ticks(min, max)
}

// mantissas are the values m·10ⁿ in [min, max] for m in set, ascending.
func mantissas(min, max float64, set []float64) []float64 {
	var out []float64
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		for _, m := range set {
			if v := roundSignificant(m * math.Pow(10, e)); inRange(v, min, max) {
				out = append(out, v)
			}
		}
	}
	return out
}

// log2Ticks labels a log₂ axis with the powers of two it spans (every k-th past twelve of
// them); with fewer than [minLabels] of them, 3·2ⁿ too (e.g. 384 between 256 and 512); failing
// that, steps of [linearTicks]. Unlabelled powers of two are minor ticks.
type log2Ticks struct{}

func (log2Ticks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > min) {
		return linearTicks{}.Ticks(min, max)
	}
	var powers, threes []float64
	for e := math.Floor(math.Log2(min)) - 1; e <= math.Ceil(math.Log2(max)); e++ {
		if v := math.Exp2(e); inRange(v, min, max) {
			powers = append(powers, v)
		}
		if v := 3 * math.Exp2(e); inRange(v, min, max) {
			threes = append(threes, v)
		}
	}
	labelled := powers
	if len(labelled) > 12 {
		labelled = everyKth(labelled, (len(labelled)+7)/8)
	}
	if len(labelled) < minLabels {
		labelled = mergeSorted(powers, threes)
	}
	if len(labelled) < minLabels {
		return linearTicks{}.Ticks(min, max)
	}
	return merge(labelled, powers, formatPowerOfTwo)
}

// formatPowerOfTwo writes 2ⁿ and 3·2ⁿ as numbers from 2⁻⁶ to 2¹⁶ (0.015625 to 65536) and as
// 2^n, 3·2^n beyond, where the digits would crowd the axis.
func formatPowerOfTwo(v float64) string {
	three := math.Abs(v/3-math.Exp2(math.Round(math.Log2(v/3)))) < 1e-9*v
	e := math.Round(math.Log2(v))
	if three {
		e = math.Round(math.Log2(v / 3))
	}
	if e >= -6 && e <= 16 {
		return formatNumber(v)
	}
	if three {
		return fmt.Sprintf("3·2^%d", int(e))
	}
	return fmt.Sprintf("2^%d", int(e))
}

// linearTicks labels a linear axis every 1, 2, 2.5 or 5 × 10ⁿ: the widest step that gives at
// least four labels (so between four and about nine).
type linearTicks struct{}

func (linearTicks) Ticks(min, max float64) []plot.Tick {
	span := max - min
	if !(span > 0) || math.IsInf(span, 0) {
		return []plot.Tick{{Value: min, Label: formatNumber(min)}}
	}
	k := math.Floor(math.Log10(span))
	var best []plot.Tick
	for _, e := range []float64{k, k - 1, k - 2} {
		for _, m := range []float64{5, 2.5, 2, 1} {
			step := m * math.Pow(10, e)
			decimals := 0 // the fewest that write every multiple of step exactly
			for math.Abs(step*math.Pow(10, float64(decimals))-math.Round(step*math.Pow(10, float64(decimals)))) > 1e-6 {
				decimals++
			}
			var ticks []plot.Tick
			for i := math.Ceil(min/step - 1e-9); i*step <= max+1e-9*span; i++ {
				v := i * step
				if v == 0 {
					v = 0 // no "-0"
				}
				ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
			}
			best = ticks
			if len(ticks) >= 4 {
				return ticks
			}
		}
	}
	return best
}

// merge returns labelled ticks (with format's labels) and the values of minor not among them
// as unlabelled ticks.
func merge(labelled, minor []float64, format func(float64) string) []plot.Tick {
	var ticks []plot.Tick
	for _, v := range labelled {
		ticks = append(ticks, plot.Tick{Value: v, Label: format(v)})
	}
	for _, v := range minor {
		if !containsApprox(labelled, v) {
			ticks = append(ticks, plot.Tick{Value: v})
		}
	}
	return ticks
}

// mergeSorted merges two ascending lists.
func mergeSorted(a, b []float64) []float64 {
	out := make([]float64, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && a[0] < b[0]) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// everyKth keeps the values whose position, counted from the one nearest 1 (the decade or power
// of two that anchors the scale), is a multiple of k.
func everyKth(values []float64, k int) []float64 {
	anchor := 0
	for i, v := range values {
		if math.Abs(math.Log(v)) < math.Abs(math.Log(values[anchor])) {
			anchor = i
		}
	}
	var out []float64
	for i, v := range values {
		if (i-anchor)%k == 0 {
			out = append(out, v)
		}
	}
	return out
}

func containsApprox(values []float64, v float64) bool {
	for _, w := range values {
		if math.Abs(w-v) <= 1e-9*math.Abs(v) {
			return true
		}
	}
	return false
}

// inRange reports whether v lies in [min, max], allowing for rounding.
func inRange(v, min, max float64) bool {
	return v >= min*(1-1e-9) && v <= max*(1+1e-9)
}

// roundSignificant rounds v to 12 significant digits (3·0.1 to 0.3).
func roundSignificant(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	return r
}

// formatNumber writes v in the fewest digits, as 2e5 or 5e-4 (not 2e+05) from 10⁵ up and below
// 10⁻³, where the zeros would crowd the axis.
func formatNumber(v float64) string {
	v = roundSignificant(v)
	if a := math.Abs(v); a != 0 && (a >= 1e5 || a < 1e-3) {
		s := strconv.FormatFloat(v, 'e', -1, 64)
		mantissa, exp, _ := strings.Cut(s, "e")
		n, err := strconv.Atoi(exp)
		if err == nil {
			return mantissa + "e" + strconv.Itoa(n)
		}
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
