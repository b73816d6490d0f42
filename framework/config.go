package framework

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/internal/strictjson"
)

// MaxSteps bounds the config's step counts: GoMLX's training loop holds 8 bytes per step it
// is asked to run, so a count of 10^10 from a typing slip would need 80 GB before the first step.
const MaxSteps = 10_000_000

// MaxBatchSize bounds batch_size and eval_batch_size (a batch is allocated whole).
const MaxBatchSize = 1 << 20

// Config is one experiment: the model, its dataset, its hyperparameters and the training
// schedule. It is read from a JSON file decoded strictly (unknown keys and wrong types are
// errors that name the key and list the valid ones), then adjusted by -set overrides (see
// [Config.Set]). Every value is checked against its domain: a value out of it (a negative
// rate, NaN, a minimum above its maximum, an unknown name) is an error naming the key.
//
// A Config built in Go may leave fields at their zero value: batch_size,
// eval_batch_size, keep_checkpoints, log_every, optimizer, learning_rate, lr_schedule, dataset
// and eval_split then take their defaults ([DefaultConfig]; dataset: the model's), and params
// the model's and dataset's defaults. In a JSON file, where omitted keys take the defaults, and
// in a -set override, an explicit zero or empty value for those keys is an error. The file is
// decoded by the strict decoder of internal/strictjson: a key given twice, JSON null (omit the
// key instead) and a syntax error (reported with its line) are errors too.
type Config struct {
	// Description states the command that runs the config, its cost on two CPU cores and the
	// result to expect. Required in the repository's configs.
	Description string `json:"description"`
	// Model is the registry name of the model (see Models()).
	Model string `json:"model"`
	// Dataset is the registry name of the dataset (see Datasets()); default: the model's.
	Dataset string `json:"dataset"`
	// Steps is the number of training steps (the target global step). 0 trains nothing: the
	// run initialises the model (init_from, Calibrate, Init), checkpoints it at step 0 and
	// evaluates it, e.g. a post-training quantization of a pretrained model. At most
	// [MaxSteps].
	Steps int `json:"steps"`
	// BatchSize is the number of training examples per step, at most [MaxBatchSize].
	BatchSize int `json:"batch_size"`
	// EvalBatchSize is the number of examples per evaluation batch, at most [MaxBatchSize].
	EvalBatchSize int `json:"eval_batch_size"`
	// EvalSplit is the split evaluations run on: "test" (default), "validation", or another
	// of the dataset's evaluation splits.
	EvalSplit string `json:"eval_split"`
	// EvalExamples limits evaluations to exactly the first this many examples of the
	// evaluation split, whatever the batch size (0: all of it). Quick looks and smoke tests
	// use it; reported results never do.
	EvalExamples int `json:"eval_examples"`
	// Seed makes runs reproducible: parameter initialisation, data order and sampling.
	Seed int64 `json:"seed"`
	// InitFrom is a file the model's Pretrained hook fills the variables from before step 1
	// of a fresh run (a llama2.c checkpoint, safetensors); never re-read on resume. Empty:
	// the model's own initialisation. A relative path is looked for as a data file
	// ([LocateData]: the data directory, $QZOO_DATA_DIR, the user cache, the working
	// directory), so "weights/stories260K.bin" names the shared data's copy (or downloads it).
	// A run directory stands for its latest checkpoint (the model's Pretrained hook decides
	// whether it accepts one; its SHA-256 is that checkpoint's).
	InitFrom string `json:"init_from"`
	// TeacherFrom is the trained network a model with a teacher (Model.Teacher) distils from: a
	// run directory of the teacher's model (its latest checkpoint) or a file the teacher's
	// Pretrained hook reads, looked for like InitFrom. It becomes a frozen part of the student's
	// graph ([BuildTeacher]), loaded again on every resume and never saved: its SHA-256 is
	// recorded in every checkpoint, and a resume with another teacher is refused. Required
	// exactly for the models that have a teacher.
	TeacherFrom string `json:"teacher_from"`
	// TeacherModel names the registered model that TeacherFrom holds, for a model that declares
	// a teacher (Model.Teacher), so that one student can distil from any network with the same
	// inputs and outputs (an in-repo recognizer, a Whisper encoder read from safetensors). Empty:
	// Model.Teacher. Refused for a model without a teacher.
	TeacherModel string `json:"teacher_model"`
	// Optimizer is one of GoMLX's optimizers: "adam", "adamw", "adamax", "rmsprop" or "sgd"
	// (optimizer.KnownOptimizers). Their own keys (adam_epsilon, adam_beta1, adam_beta2,
	// adam_backoff, adam_dtype, clip_step_by_value, clip_nan) are accepted in params.
	Optimizer string `json:"optimizer"`
	// LearningRate is the peak learning rate.
	LearningRate float64 `json:"learning_rate"`
	// WeightDecay is AdamW's decoupled weight decay (only with optimizer "adamw").
	WeightDecay float64 `json:"weight_decay"`
	// LRSchedule is "constant", "cosine" (one cosine decay to MinLearningRate over the steps
	// after warm-up), or "gomlx_cosine": GoMLX's cosine annealing schedule
	// (optimizer/cosineschedule), configured by its own keys in params (cosine_schedule_steps or
	// cosine_schedule_cycles, cosine_schedule_min_learning_rate, cosine_schedule_warmup_steps);
	// warmup_steps and min_learning_rate must then be 0.
	LRSchedule string `json:"lr_schedule"`
	// WarmupSteps linearly ramps the learning rate from 0 over this many steps.
	WarmupSteps int `json:"warmup_steps"`
	// MinLearningRate is where the cosine schedule ends, in [0, learning_rate].
	MinLearningRate float64 `json:"min_learning_rate"`
	// ClipGradNorm, if positive, rescales the gradients of each step so that their global
	// L2 norm (over all trainable variables) is at most this value (Pascanu et al. 2013).
	ClipGradNorm float64 `json:"clip_grad_norm"`
	// Freeze is a regular expression over variable paths (e.g. "^/encoder/"): matching
	// variables are not trained, on top of those the model itself freezes (Model.Trainable).
	Freeze string `json:"freeze"`
	// EvalEvery runs a full evaluation every this many steps (0: only at the end).
	EvalEvery int `json:"eval_every"`
	// CheckpointEvery saves a checkpoint every this many steps (one is always saved at the end).
	CheckpointEvery int `json:"checkpoint_every"`
	// KeepCheckpoints is how many checkpoints to keep (older ones are deleted).
	KeepCheckpoints int `json:"keep_checkpoints"`
	// LogEvery writes the training metrics to metrics.jsonl every this many steps.
	LogEvery int `json:"log_every"`
	// Params are the model's and the dataset's hyperparameters (and the optimizer's keys, see
	// [OptimizerParams], and the framework's, see [RunParams]); keys not given take their defaults.
	Params map[string]any `json:"params"`
	// Expect lists conditions on the final evaluation metrics, e.g. {"psnr": ">= 22"}: the
	// train command fails (exit status 1) unless all hold.
	Expect map[string]string `json:"expect,omitempty"`
}

// DefaultConfig returns the defaults used for every field a config leaves at zero.
func DefaultConfig() Config {
	return Config{
		Steps: 1000, BatchSize: 128, EvalBatchSize: 500, EvalSplit: SplitTest, Seed: 1,
		Optimizer: "adam", LearningRate: 1e-3, LRSchedule: "constant",
		CheckpointEvery: 500, KeepCheckpoints: 2, LogEvery: 50,
	}
}

// OptimizerParams are GoMLX's own optimizer hyperparameters, accepted in every config's
// params and read by the optimizer from the store (their documented home is GoMLX's
// ml/train/optimizer package; the defaults here are its defaults).
var OptimizerParams = hparams.List{
	{Key: optimizer.ParamAdamEpsilon, Default: 1e-7, Doc: "Adam family: ε added to the denominator", Domain: hparams.Positive()},
	{Key: optimizer.ParamAdamBeta1, Default: 0.9, Doc: "Adam family: decay of the first moment", Domain: hparams.Range(0, 0.999999)},
	{Key: optimizer.ParamAdamBeta2, Default: 0.999, Doc: "Adam family: decay of the second moment", Domain: hparams.Range(0, 0.999999)},
	{Key: optimizer.ParamAdamBackoffSteps, Default: 0, Doc: "Adam family: steps that only estimate the moments before any update", Domain: hparams.AtLeast(0)},
	{Key: optimizer.ParamAdamDType, Default: "", Doc: "Adam family: dtype of the moments (empty: the loss's)", Domain: hparams.OneOf("", "float32", "float64")},
	{Key: optimizer.ParamClipStepByValue, Default: 0.0, Doc: "clip each update value to ±this (0: off)", Domain: hparams.AtLeast(0)},
	{Key: optimizer.ParamClipNaN, Default: false, Doc: "drop updates that hold NaN"},
	{Key: cosineschedule.ParamPeriodSteps, Default: 0, Doc: "lr_schedule gomlx_cosine: steps of one cosine period (restarts after each)", Domain: hparams.AtLeast(0)},
	{Key: cosineschedule.ParamCycles, Default: 0, Doc: "lr_schedule gomlx_cosine: number of cosine cycles over the run (instead of cosine_schedule_steps)", Domain: hparams.AtLeast(0)},
	{Key: cosineschedule.ParamMinLearningRate, Default: 0.0, Doc: "lr_schedule gomlx_cosine: learning rate at the end of each cycle", Domain: hparams.AtLeast(0)},
	{Key: cosineschedule.ParamWarmUpSteps, Default: 0, Doc: "lr_schedule gomlx_cosine: linear warm-up steps before the first cycle", Domain: hparams.AtLeast(0)},
}

// zeroDefaulted are the keys whose zero value a Go-built Config may use for "default" (see
// fillZeroDefaults), and that a JSON file or a -set override must therefore not set to zero or
// empty.
var zeroDefaulted = []string{"batch_size", "eval_batch_size", "keep_checkpoints", "log_every",
	"learning_rate", "optimizer", "lr_schedule", "eval_split"}

// field returns the field of the Config that v holds whose JSON name is key.
func field(v reflect.Value, key string) reflect.Value {
	t := v.Type()
	for i := range t.NumField() {
		if jsonName(t.Field(i)) == key {
			return v.Field(i)
		}
	}
	panic(fmt.Sprintf("framework: Config has no key %q", key)) // zeroDefaulted is wrong
}

// fillZeroDefaults gives the zeroDefaulted fields a Go-built Config left at zero the value of
// DefaultConfig, and an empty dataset the model's.
func (c *Config) fillZeroDefaults(m *Model) {
	v, defaults := reflect.ValueOf(c).Elem(), reflect.ValueOf(DefaultConfig())
	for _, key := range zeroDefaulted {
		if f := field(v, key); f.IsZero() {
			f.Set(field(defaults, key))
		}
	}
	if c.Dataset == "" && m != nil {
		c.Dataset = m.Dataset
	}
}

// zeroKey returns the first of keys that is a zeroDefaulted key holding its zero value in c,
// or "".
func (c *Config) zeroKey(keys ...string) string {
	v := reflect.ValueOf(c).Elem()
	for _, key := range keys {
		if slices.Contains(zeroDefaulted, key) && field(v, key).IsZero() {
			return key
		}
	}
	return ""
}

// explicitZeros reports the first key a JSON file set to an explicit zero although zero is
// not one of its values (omitted keys already hold their defaults when this runs).
func (c *Config) explicitZeros() error {
	if key := c.zeroKey(zeroDefaulted...); key != "" {
		return zeroKeyError(key)
	}
	return nil
}

func zeroKeyError(key string) error {
	return fmt.Errorf("key %q: must not be zero or empty (omit the key for its default)", key)
}

// configKeys lists the JSON names of Config's fields, in declaration order.
func configKeys() []string {
	return strictjson.ValidKeys(reflect.TypeFor[Config]())
}

func jsonName(f reflect.StructField) string {
	return strings.Split(f.Tag.Get("json"), ",")[0]
}

// LoadConfig reads a config file strictly and resolves it against its model (see [ParseConfig]).
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes a JSON config strictly (unknown and repeated keys, wrong types, null and
// non-finite numbers are errors naming the key; syntax errors give their line), fills defaults,
// and validates the model name and every hyperparameter against the model's declared ones.
func ParseConfig(data []byte) (*Config, error) {
	cfg := DefaultConfig()
	if err := strictjson.Decode(data, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.explicitZeros(); err != nil {
		return nil, err
	}
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Resolve fills a Go-built config's zero fields with their defaults (see [Config]), the
// model's and dataset's default hyperparameters, converts every value to its declared type
// and checks it against its domain. [Run], [Evaluate] and [Config.Set] call it; call it
// yourself to validate a config built in Go before using it.
func (c *Config) Resolve() error { return c.resolve() }

// paramList returns the hyperparameters a config of model m on dataset d accepts: the
// model's, the dataset's, the optimizer's and the framework's own (RunParams), which must not share a key with each other or
// with a config field (-set addresses both by bare key).
func paramList(m *Model, d *Dataset) (hparams.List, error) {
	seen := map[string]string{}
	for _, k := range configKeys() {
		seen[k] = "the config (a top-level key)"
	}
	var all hparams.List
	for _, part := range []struct {
		owner string
		list  hparams.List
	}{{"model " + m.Name, m.Params}, {"dataset " + d.Name, d.Params}, {"the optimizer", OptimizerParams}, {"the framework", RunParams}} {
		for _, p := range part.list {
			if owner, dup := seen[p.Key]; dup {
				return nil, fmt.Errorf("hyperparameter %q is declared by both %s and %s", p.Key, owner, part.owner)
			}
			seen[p.Key] = part.owner
			all = append(all, p)
		}
	}
	return all, nil
}

// ParamDefaults returns the default of every hyperparameter the config accepts (the model's,
// the dataset's and the optimizer's).
func (c *Config) ParamDefaults() (map[string]any, error) {
	_, _, list, err := c.lookup()
	if err != nil {
		return nil, err
	}
	return list.Defaults(), nil
}

// lookup returns the model and dataset of the config.
func (c *Config) lookup() (*Model, *Dataset, hparams.List, error) {
	if c.Model == "" {
		return nil, nil, nil, errors.New(`key "model" is required`)
	}
	m, err := LookupModel(c.Model)
	if err != nil {
		return nil, nil, nil, fmt.Errorf(`key "model": %w`, err)
	}
	if c.Dataset == "" {
		c.Dataset = m.Dataset
	}
	d, err := LookupDataset(c.Dataset)
	if err != nil {
		return nil, nil, nil, fmt.Errorf(`key "dataset": %w`, err)
	}
	list, err := paramList(m, d)
	if err != nil {
		return nil, nil, nil, err
	}
	return m, d, list, nil
}

// resolve fills defaults, converts the params to their declared types and checks every value.
func (c *Config) resolve() error {
	m, _, list, err := c.lookup()
	if err != nil {
		return err
	}
	c.fillZeroDefaults(m)
	params := list.Defaults()
	for key, value := range c.Params {
		p, ok := list.Lookup(key)
		if !ok {
			return fmt.Errorf("unknown key params.%s for model %q on dataset %q; valid keys are: %s",
				key, c.Model, c.Dataset, strings.Join(list.Keys(), ", "))
		}
		v, err := hparams.Convert(value, p.Default)
		if err != nil {
			return fmt.Errorf("key params.%s: %w", key, err)
		}
		params[key] = v
	}
	c.Params = params
	if err := list.Validate(params); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	if m.Validate != nil {
		if err := m.Validate(params); err != nil {
			return fmt.Errorf("params: %w", err)
		}
	}
	if _, ok := optimizer.KnownOptimizers[c.Optimizer]; !ok {
		return fmt.Errorf(`key "optimizer": %q is not one of %s`, c.Optimizer,
			strings.Join(slices.Sorted(maps.Keys(optimizer.KnownOptimizers)), ", "))
	}
	switch c.LRSchedule {
	case "constant", "cosine":
	case "gomlx_cosine":
		if err := c.checkGoMLXCosine(); err != nil {
			return err
		}
	default:
		return fmt.Errorf(`key "lr_schedule": %q is not one of constant, cosine, gomlx_cosine`, c.LRSchedule)
	}
	for _, check := range []struct {
		key      string
		v        int
		min, max int
	}{
		{"steps", c.Steps, 0, MaxSteps}, {"batch_size", c.BatchSize, 1, MaxBatchSize}, {"eval_batch_size", c.EvalBatchSize, 1, MaxBatchSize},
		{"warmup_steps", c.WarmupSteps, 0, MaxSteps}, {"eval_every", c.EvalEvery, 0, MaxSteps},
		{"checkpoint_every", c.CheckpointEvery, 0, MaxSteps}, {"keep_checkpoints", c.KeepCheckpoints, 1, MaxSteps},
		{"log_every", c.LogEvery, 1, MaxSteps}, {"eval_examples", c.EvalExamples, 0, math.MaxInt32},
	} {
		if check.v < check.min {
			return fmt.Errorf("key %q: %d must be ≥ %d", check.key, check.v, check.min)
		}
		if check.v > check.max {
			return fmt.Errorf("key %q: %d must be ≤ %d", check.key, check.v, check.max)
		}
	}
	for _, f := range []struct {
		key string
		v   float64
	}{{"learning_rate", c.LearningRate}, {"min_learning_rate", c.MinLearningRate},
		{"weight_decay", c.WeightDecay}, {"clip_grad_norm", c.ClipGradNorm}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("key %q: %v is not a finite number", f.key, f.v)
		}
		if f.v < 0 {
			return fmt.Errorf("key %q: must be ≥ 0, got %v", f.key, f.v)
		}
	}
	if !(c.LearningRate > 0) {
		return fmt.Errorf(`key "learning_rate": must be > 0, got %v`, c.LearningRate)
	}
	if c.MinLearningRate > c.LearningRate {
		return fmt.Errorf(`key "min_learning_rate": %v is above learning_rate %v`, c.MinLearningRate, c.LearningRate)
	}
	if c.WeightDecay > 0 && c.Optimizer != "adamw" {
		return fmt.Errorf(`key "weight_decay": %v is only used by optimizer "adamw", not %q`, c.WeightDecay, c.Optimizer)
	}
	if _, err := regexp.Compile(c.Freeze); err != nil {
		return fmt.Errorf(`key "freeze": %w`, err)
	}
	if c.EvalSplit == "" {
		return errors.New(`key "eval_split": must not be empty`)
	}
	if c.InitFrom != "" && m.Pretrained == nil {
		return fmt.Errorf(`key "init_from": model %q has no pretrained initialisation`, c.Model)
	}
	wantsTeacher := m.Teacher != "" && (m.NeedsTeacher == nil || m.NeedsTeacher(c.Params))
	switch {
	case m.Teacher != "" && !wantsTeacher && c.TeacherFrom != "":
		return fmt.Errorf(`key "teacher_from": model %q distils from no teacher with these params (its distillation is off)`, c.Model)
	case m.Teacher != "" && !wantsTeacher && c.TeacherModel != "":
		return fmt.Errorf(`key "teacher_model": model %q distils from no teacher with these params (its distillation is off)`, c.Model)
	case m.Teacher == "" && c.TeacherFrom != "":
		return fmt.Errorf(`key "teacher_from": model %q has no teacher`, c.Model)
	case m.Teacher == "" && c.TeacherModel != "":
		return fmt.Errorf(`key "teacher_model": model %q has no teacher`, c.Model)
	case wantsTeacher && c.TeacherFrom == "":
		return fmt.Errorf(`key "teacher_from" is required: model %q distils from a trained %q (a run directory or a file)`, c.Model, c.teacherModel(m))
	case c.TeacherModel != "":
		if _, err := LookupModel(c.TeacherModel); err != nil {
			return fmt.Errorf(`key "teacher_model": %w`, err)
		}
	case m.Teacher != "":
		if _, err := LookupModel(m.Teacher); err != nil {
			return fmt.Errorf("model %q's teacher: %w", c.Model, err)
		}
	}
	return CheckConditions(c.Expect)
}

// CheckConditions checks expect conditions (metric → "OP NUMBER", OP one of >=, <=, >, <), as
// a config's "expect" key holds them; the error names the first bad one, in key order.
func CheckConditions(expect map[string]string) error {
	for _, metric := range slices.Sorted(maps.Keys(expect)) {
		if _, _, err := parseCondition(expect[metric]); err != nil {
			return fmt.Errorf("key expect.%s: %w", metric, err)
		}
	}
	return nil
}

// JoinOverrides joins override strings of the form "key=value;..." ([Config.Set]), skipping
// empty ones; later ones win where keys repeat.
func JoinOverrides(sets ...string) string {
	var parts []string
	for _, s := range sets {
		if strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ";")
}

// Set applies overrides of the form "key=value;key2=value2" (GoMLX's -set syntax). A key is
// either a config field (e.g. "steps") or a hyperparameter of the model (e.g.
// "vq_codebook_size", also accepted as "params.vq_codebook_size"). Values are parsed as the
// key's type; errors name the key and list the valid ones.
func (c *Config) Set(overrides string) error {
	if c.Params == nil {
		c.Params = map[string]any{}
	}
	for _, kv := range strings.Split(overrides, ";") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		key, raw, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("-set %q: want key=value", kv)
		}
		key, raw = strings.TrimSpace(key), strings.TrimSpace(raw)
		if key == "model" || key == "dataset" {
			return fmt.Errorf("-set %s: the %s cannot be changed by -set (its hyperparameters would change meaning); use another config", key, key)
		}
		_, _, list, err := c.lookup()
		if err != nil {
			return err
		}
		paramKey := strings.TrimPrefix(key, "params.")
		if p, ok := list.Lookup(paramKey); ok {
			v, err := hparams.Parse(raw, p.Default)
			if err != nil {
				return fmt.Errorf("-set %s: %w", key, err)
			}
			c.Params[paramKey] = v
			continue
		}
		if err := c.setField(key, raw); err != nil {
			return err
		}
		// resolve would silently turn a zero back into the default.
		if c.zeroKey(key) != "" {
			return fmt.Errorf("-set %s: %w", key, zeroKeyError(key))
		}
	}
	return c.resolve()
}

func (c *Config) setField(key, raw string) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if jsonName(t.Field(i)) != key {
			continue
		}
		f := v.Field(i)
		var def any
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			def = 0
		case reflect.Float64:
			def = 0.0
		case reflect.String:
			def = ""
		default:
			return fmt.Errorf("-set %s: this key cannot be set from the command line", key)
		}
		x, err := hparams.Parse(raw, def)
		if err != nil {
			return fmt.Errorf("-set %s: %w", key, err)
		}
		f.Set(reflect.ValueOf(x).Convert(f.Type()))
		return nil
	}
	valid := configKeys()
	if _, _, list, err := c.lookup(); err == nil {
		valid = append(valid, list.Keys()...)
	}
	return fmt.Errorf("-set: unknown key %q; valid keys are: %s", key, strings.Join(valid, ", "))
}

// checkGoMLXCosine checks the keys of GoMLX's cosine schedule: exactly one of its period keys,
// and none of the in-house schedule's keys.
func (c *Config) checkGoMLXCosine() error {
	period, cycles := c.Params[cosineschedule.ParamPeriodSteps].(int), c.Params[cosineschedule.ParamCycles].(int)
	if (period > 0) == (cycles > 0) {
		return fmt.Errorf(`key "lr_schedule": gomlx_cosine needs exactly one of params %s and %s set above 0, got %d and %d`,
			cosineschedule.ParamPeriodSteps, cosineschedule.ParamCycles, period, cycles)
	}
	if c.WarmupSteps != 0 || c.MinLearningRate != 0 {
		return fmt.Errorf(`keys "warmup_steps" and "min_learning_rate" belong to lr_schedule constant and cosine; with gomlx_cosine use params %s and %s`,
			cosineschedule.ParamWarmUpSteps, cosineschedule.ParamMinLearningRate)
	}
	if lr := c.Params[cosineschedule.ParamMinLearningRate].(float64); lr > c.LearningRate {
		return fmt.Errorf("key %s: %v is above learning_rate %v", cosineschedule.ParamMinLearningRate, lr, c.LearningRate)
	}
	return nil
}

// parseCondition parses "OP NUMBER" with OP one of >=, <=, >, <.
func parseCondition(cond string) (op string, bound float64, err error) {
	cond = strings.TrimSpace(cond)
	for _, candidate := range []string{">=", "<=", ">", "<"} {
		if rest, ok := strings.CutPrefix(cond, candidate); ok {
			v, err := hparams.Parse(strings.TrimSpace(rest), bound)
			if err != nil {
				return "", 0, fmt.Errorf("condition %q: bound %w", cond, err)
			}
			return candidate, v.(float64), nil
		}
	}
	return "", 0, fmt.Errorf("condition %q: want one of >=, <=, >, < followed by a number", cond)
}

// CheckExpectations evaluates the config's Expect conditions against metrics and returns one
// line per condition, and whether all hold.
func (c *Config) CheckExpectations(metrics map[string]float64) (lines []string, ok bool) {
	ok = true
	keys := make([]string, 0, len(c.Expect))
	for k := range c.Expect {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		op, bound, _ := parseCondition(c.Expect[k])
		v, found := metrics[k]
		holds := found && map[string]bool{">=": v >= bound, "<=": v <= bound, ">": v > bound, "<": v < bound}[op]
		mark := "ok"
		if !holds {
			mark, ok = "NOT MET", false
		}
		if !found {
			lines = append(lines, fmt.Sprintf("expect %s %s: metric missing — %s", k, c.Expect[k], mark))
			continue
		}
		lines = append(lines, fmt.Sprintf("expect %s %s: got %.4g — %s", k, c.Expect[k], v, mark))
	}
	return lines, ok
}

// JSON returns the resolved config as indented JSON.
func (c *Config) JSON() []byte {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		panic(err) // only plain values: cannot fail
	}
	return append(data, '\n')
}
