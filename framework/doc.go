// Package framework is qzoo's one train and eval loop and the contract every model of the zoo
// fills to use it: the same [Run] serves the train command, notebooks, sweeps, benches and tests,
// so no family grows a loop of its own.
//
// # The contract
//
// A model registers a [Model] with [Register] in an init function of its package:
//
//   - Build (required) builds the graph for a batch of inputs and returns predictions and
//     named scalar statistics; it adds its losses with train.AddLoss, or sets Loss to learn from
//     the batch's labels. Its hyperparameters (Params) are declared once, with default, type,
//     doc and domain (framework/hparams), and read from the scope with hparams.Get, which falls
//     back to the declared default.
//   - NewEvaluator returns an evaluator (or an error, for hyperparameters it cannot evaluate)
//     that accumulates predictions over the evaluation split (a [LabeledEvaluator] also gets
//     the labels); Evaluate, or both, evaluates with the trained variables, the backend and
//     the data in an [EvalContext] (generation with a cache, a real entropy coder's bitstream,
//     perplexity over a token stream). Their metrics are merged. Either may also keep one
//     value per example (a [SamplingEvaluator]'s Samples, [EvalContext.RecordSamples]: each
//     held-out window's NLL, each image's MSE): the final evaluation writes them to
//     eval_samples.json beside eval.json, for confidence intervals by bootstrap (package laws).
//   - Optional hooks: Init (data-dependent initialisation on the first batch of a fresh run),
//     Pretrained (fill variables from the config's init_from file before step 1, never on
//     resume, its SHA-256 recorded in every checkpoint), Calibrate (once on a fresh run after
//     Pretrained and Init: post-training quantization with calibration statistics), Trainable
//     (which variables train: a frozen base under adapters), Validate (constraints between
//     hyperparameters).
//   - A frozen second network: Teacher names the registered model this one distils from (a
//     recognizer, a full-precision model); the config's teacher_from gives the trained teacher,
//     a run directory of that model or a file its Pretrained hook reads. Build calls
//     [BuildTeacher] for the teacher's outputs: the teacher's graph with its own
//     hyperparameters, in evaluation mode, without losses; gradients flow through it to its
//     inputs (a student can learn through it) but never into it. Its variables live
//     under [TeacherScope], are never trained and never saved: every checkpoint records the
//     teacher's SHA-256 instead (like init_from's), the teacher is loaded again on resume and
//     by [LoadRun], and a teacher_from whose SHA-256 changed is refused. NeedsTeacher makes the
//     teacher an option of the hyperparameters (llama's quantized distillation, qat_distill).
//
// A dataset registers a [Dataset] with [RegisterDataset] from its own package: its own validated
// hyperparameters, which share the config's params namespace, and a loader returning [Data]:
// an endless training stream whose batch k is a pure function of (seed, k) (the
// datasets.Batches core gives this for any indexable source) and named evaluation splits.
//
// # Configs
//
// A [Config] is strict JSON ([LoadConfig], decoded by internal/strictjson, as sweep specs are)
// adjusted by -set overrides ([Config.Set]): unknown or repeated keys, wrong types, null,
// non-finite numbers and values outside a key's domain are errors naming the key (syntax
// errors name the line). The optimizer is any of GoMLX's (optimizer.KnownOptimizers), with its own keys accepted in
// params ([OptimizerParams]), a warm-up + cosine schedule, gradient clipping by global norm
// (clip_grad_norm) and a freeze pattern.
//
// # Runs
//
// [Run] trains to the config's steps in a run directory: it writes the resolved config, logs
// metrics.jsonl (a non-finite value as null, counted), evaluates every eval_every steps on the
// eval_split (exactly eval_examples examples when set), saves atomic checkpoints, and resumes a
// killed run from the latest one to exactly the state, batches and logged values an
// uninterrupted run would have — after checking, against the config recorded in the checkpoint,
// that it is the same experiment (the same init_from and teacher_from files among them).
// Callers attach [Hooks] (per step, per evaluation, per checkpoint) through [RunOptions] to
// follow a run without a loop of their own. [Evaluate] re-evaluates a run directory.
//
// The same loop trains data-parallel across the devices of one host: params.data_parallel
// ([RunParams]: a count, or "all") shards every training batch along its first axis over a
// mesh of devices and keeps the variables replicated, through GoMLX's distributed execution
// (AutoSharding; XLA's backend only): the graph is the single-device one, XLA adds the
// all-reduce of the gradients, so the steps are those of one device to float rounding.
// Evaluations and checkpoints run on the first device. "all" on a backend with one device and
// no distributed execution (Go, ONNX Runtime) trains on that device and says so; a count it
// cannot honour is an error.
//
// The backend is chosen by [NewBackend]: GOMLX_BACKEND, else XLA with a PJRT plugin (GPU), else
// ONNX Runtime when its library is installed (compiled in wherever cgo is), else the pure-Go
// backend; the choice and its reason are printed.
//
// See the package example for a model registered, trained and evaluated end to end.
package framework
