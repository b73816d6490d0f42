// Package laws fits scaling laws of quality against bits and says, with bootstrap confidence
// intervals, which precision is best at a fixed bit budget.
//
// The law is a power law plus a floor (Kaplan et al. 2020, "Scaling Laws for Neural Language
// Models", eq. 1.1–1.3; the form Dettmers & Zettlemoyer 2023, "The case for 4-bit precision:
// k-bit Inference Scaling Laws", fit to quality against total model bits):
//
//	y(x) = c + a·x^(−α),   x > 0 the total bits, α > 0
//
// a > 0 is a "lower is better" quality falling to its floor c (perplexity); a < 0 a "higher is
// better" quality rising to its ceiling c (PSNR). [Fit] finds the least-squares law by variable
// projection: for a given α the law is linear in (c, a), solved exactly, so the optimiser
// (gonum's Nelder–Mead, started from the best points of a grid over α) searches α alone, with x
// normalised by its geometric mean. When the floor is not identifiable (too few points, α driven
// to the edge of its range, or a floor that does not pay for its parameter by Akaike's criterion
// with the small-sample correction, Hurvich & Tsai 1989) it fits a pure power law, c = 0, whose
// exponent may take either sign.
//
// [Bootstrap] gives percentile confidence intervals (Efron & Tibshirani 1993, "An Introduction
// to the Bootstrap", ch. 13) of every series' parameters and of its curve on a grid of x (the
// bands of a figure), over evaluation samples and over seeds: each point carries per-example
// values (e.g. the mean negative log-likelihood of each held-out window) that an aggregate
// turns into its quality (perplexity = exp of the mean). Points scored on the same examples
// share each replicate's draw of example indices, so the replicates keep the correlation
// between points; points measured with several training seeds also resample their seeds.
// [FitSeries] fits a series whose points have no samples (measured before they were recorded)
// without intervals, to stand beside the bootstrapped ones.
//
// [Optimal] answers "which precision is optimal at a bit budget B": every series' fitted
// quality at B, the winner, and the share of bootstrap replicates each series wins, with a flag
// where B lies outside a series' measured range (extrapolation).
package laws
