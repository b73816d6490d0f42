// Package sweep trains one base config over a grid of -set overrides and reports the final
// evaluations as a Markdown table and a figure.
//
// A sweep file names the base config, the axes of the grid (any keys that -set accepts, each
// with its list of values; the grid is their Cartesian product, the first axis varying
// slowest), the metrics to report, optional expect conditions checked on every point, and the
// figure:
//
//	{
//	  "description": "command, cost on two CPU cores, expected result",
//	  "base": "simvq_fashion.json",
//	  "axes": [
//	    {"key": "vq_type", "values": ["vq", "ema_vq", "simvq", "fsq"]},
//	    {"key": "vq_codebook_size", "values": [256, 1024, 4096, 16384]}
//	  ],
//	  "metrics": ["utilization", "code_perplexity", "psnr", "mse", "bits_per_image"],
//	  "expect": {"psnr": ">= 17"},
//	  "figure": {
//	    "file": "figures/codebook_sweep.png",
//	    "x": "vq_codebook_size", "x_label": "codebook size K", "log_x": true,
//	    "series": "vq_type",
//	    "panels": [
//	      {"metric": "utilization", "title": "Codebook utilisation (test set)", "label": "codes used (%)", "scale": 100},
//	      {"metric": "psnr", "title": "Reconstruction (test set)", "label": "PSNR (dB)"}
//	    ]
//	  }
//	}
//
// Every point is an ordinary framework.Run in its own run directory, named after the point's
// axis values and a hash of its resolved config (see [ConfigHash]): a sweep that is
// interrupted resumes where it stopped, a finished point is read back instead of trained
// again, and a point trained with other overrides (a different config) is never mistaken for
// it.
//
// The codebook sweep above is the experiment behind SimVQ's central claim (Zhu et al. 2024,
// arXiv:2411.02038): plain VQ's codebook utilisation collapses as K grows while SimVQ's stays
// near 100%, with reconstruction improving accordingly.
//
// The command go run ./sweep --config FILE runs a sweep file, prints its table and writes
// its figure.
package sweep
