// Package sweep trains one base config over a grid of -set overrides, or a study's several
// sets of points, and reports the final evaluations as a table and a figure.
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
// A sweep file may also name registered point hooks, "point_hooks": [{"name": "...", "args":
// {...}}], run on every finished point (see below).
//
// # Studies
//
// A study file ([Study], read by [Load], which reads a sweep file too) gathers several sets of
// points into one table and one figure, as the zoo's studies (configs/llm, configs/kv,
// configs/climate: study.json) do:
//
//	{
//	  "description": "command, cost on two CPU cores, expected result",
//	  "prepare": [{"name": "llama_own_windows", "args": {"windows": 64}}],
//	  "parts": [
//	    {"name": "rows", "expect": {},
//	     "variants": [
//	       {"name": "own stories", "set": "text_file=${llama_own_windows};text_test_fraction=0.5",
//	        "labels": {"text": "own stories"}},
//	       {"name": "shakespeare", "labels": {"text": "shakespeare"},
//	        "point_hooks": [{"name": "kv_retrieval", "args": {"sentences": 10}}]}],
//	     "points": [
//	       {"name": "fp32", "base": "base.json", "labels": {"family": "reference"}},
//	       {"name": "kivi_4", "base": "kivi.json", "set": "kv_bits=4", "labels": {"family": "KIVI", "bits": "4"}}]},
//	    {"name": "ptq_nf4_sweep", "sweep": "ptq_nf4_sweep.json", "set": "init_from=${full_finetune}"}
//	  ],
//	  "report": "kv_cache",
//	  "figure": "figures/kv_cache.png"
//	}
//
// A part is a sweep file's grid ("sweep") or explicit points ("points": a name, a base config
// and overrides each), with overrides ("set"), labels, point hooks and expect conditions
// ("expect": {} for none) for all of its points.
//
// Variants run every point of a part once per variant, each with its own overrides, labels
// and hooks (e.g. the same quantizers scored on two texts).
//
// A preparation ("prepare") makes a file once under the study's root, e.g. the text a model
// samples to be scored on; its path is the variable ${NAME} of its registered name. A point's
// name is the variable of its absolute run directory, for the parts after it (e.g. PTQ of a
// fine-tune trained by an earlier part: init_from=${full_finetune}). Variables may appear in
// any "set".
//
// A point hook ([PointHook]) runs extra evaluations on a finished point's run directory and
// returns metrics that join the point's (e.g. the retrieval check of a quantized cache); its
// result is cached in the run directory (hook-NAME.json, keyed by its arguments), so a point
// read back runs nothing.
//
// The report ([Report]) renders every point, with its part, variant, name, coordinates,
// labels and metrics, as the study's table and figure.
//
// Points run in order: parts, then variants, then points, under DIR/PART/VARIANT/NAME-HASH (a
// grid point's directory is named after its coordinates, as in a sweep); [Options.Points]
// selects some by name, part or PART/NAME. Hooks, preparations and reports are registered by
// name ([RegisterPointHook], [RegisterPreparation], [RegisterReport]) by the package they belong
// to: a model registers its own in its init, so models/all brings them all. A hook's arguments
// are declared with their defaults; a spec that sets another key or a value of another type is
// refused when it is loaded.
//
// Before each point, a sweep or a study prints "sweep: point i/N (name), elapsed …, estimated
// time left …": the mean time of the points this invocation has trained, times the points left
// to train ("unknown" until one has trained); points read back cost nothing and are known
// before any runs. A last line gives the total time.
//
// The command go run ./sweep --config FILE runs a sweep or study file, prints its table and
// writes its figure; go run ./study NAME runs configs/NAME/study.json into runs/NAME.
package sweep
