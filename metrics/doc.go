// Package metrics holds the evaluators of the zoo: accumulators that turn a model's outputs over a
// whole evaluation set into metrics. They run in Go over the outputs of the model's graph,
// because some metrics (codebook utilisation, code perplexity) are properties of the whole set,
// not averages of per-batch values.
//
// Metrics of a vector-quantised autoencoder (see [VQEvaluator]):
//
//	mse             = Σ (x − x̂)² / (number of pixels)                 over the whole set
//	psnr            = 10 · log10(1 / mse)                               pixels in [0, 1]
//	utilization     = |{k : code k used at least once}| / K              averaged over stages
//	code_perplexity = exp(−Σ_k p_k ln p_k), p_k the share of code k      averaged over stages
//	bits_per_image  = mean over images of the bits the quantizer reports (side information
//	                  included; latents per image · stages · log2 K for a fixed-rate quantizer)
//
// "code_perplexity" is the effective number of codes in use; it is not a language model's
// perplexity.
//
// Errors of a reconstructed gridded field in physical units (see [CompareFields]), shared by
// the learned climate codecs and the classical baselines (package baselines), so that every
// method is measured by the same code: RMSE, latitude-weighted RMSE (the WeatherBench
// convention, weights cos(latitude) normalised to mean 1, [LatCosWeights]), max and mean
// absolute error, and bias.
//
// Metrics of speech, for codecs and tokenizers (host-side, on []float32 signals):
//
//	STOI              short-time objective intelligibility (Taal et al. 2011), [STOI]
//	log-mel distance  mean |Δ ln mel| at 16 kHz, 1024/256, 80 Slaney mels, [LogMelDistance]
//	WER, PER          (S + D + I) / N of a Levenshtein alignment of words or phonemes, [Align],
//	                  [WordErrors] (with [NormalizeWords]), pooled over utterances by [EditCounts.Add]
package metrics
