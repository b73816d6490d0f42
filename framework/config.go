package framework

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Config is one experiment: the model, its hyperparameters and the training schedule. It is
// read from a JSON file decoded strictly (unknown keys and wrong types are errors that name the
// key and list the valid ones), then adjusted by -set overrides (see [Config.Set]).
//
// The zero values of the schedule fields mean "use the default" (see [DefaultConfig]).
type Config struct {
	// Description states the command that runs the config, its cost on two CPU cores and the
	// result to expect. Required in the repository's configs.
	Description string `json:"description"`
	// Model is the registry name of the model (see Models()).
	Model string `json:"model"`
	// Steps is the number of training steps (the target global step).
	Steps int `json:"steps"`
	// BatchSize is the number of training examples per step.
	BatchSize int `json:"batch_size"`
	// EvalBatchSize is the number of examples per evaluation batch.
	EvalBatchSize int `json:"eval_batch_size"`
	// Seed makes runs reproducible: parameter initialisation, data order and sampling.
	Seed int64 `json:"seed"`
	// Optimizer is "adam" or "adamw".
	Optimizer string `json:"optimizer"`
	// LearningRate is the peak learning rate.
	LearningRate float64 `json:"learning_rate"`
	// WeightDecay is AdamW's decoupled weight decay (ignored by "adam").
	WeightDecay float64 `json:"weight_decay"`
	// LRSchedule is "constant" or "cosine" (cosine decay to MinLearningRate after warm-up).
	LRSchedule string `json:"lr_schedule"`
	// WarmupSteps linearly ramps the learning rate from 0 over this many steps.
	WarmupSteps int `json:"warmup_steps"`
	// MinLearningRate is where the cosine schedule ends.
	MinLearningRate float64 `json:"min_learning_rate"`
	// EvalEvery runs a full evaluation every this many steps (0: only at the end).
	EvalEvery int `json:"eval_every"`
	// CheckpointEvery saves a checkpoint every this many steps (one is always saved at the end).
	CheckpointEvery int `json:"checkpoint_every"`
	// KeepCheckpoints is how many checkpoints to keep (older ones are deleted).
	KeepCheckpoints int `json:"keep_checkpoints"`
	// LogEvery writes the training metrics to metrics.jsonl every this many steps.
	LogEvery int `json:"log_every"`
	// EvalExamples limits evaluations to the first this many examples of the evaluation split
	// (0: all of it). Quick looks and smoke tests use it; reported results never do.
	EvalExamples int `json:"eval_examples"`
	// Params are the model's hyperparameters; keys not given take the model's defaults.
	Params map[string]any `json:"params"`
	// Expect lists conditions on the final evaluation metrics, e.g. {"psnr": ">= 22"}: the
	// train command reports whether each holds.
	Expect map[string]string `json:"expect,omitempty"`
}

// DefaultConfig returns the defaults used for every field a config leaves at zero.
func DefaultConfig() Config {
	return Config{
		Steps: 1000, BatchSize: 128, EvalBatchSize: 500, Seed: 1,
		Optimizer: "adam", LearningRate: 1e-3, LRSchedule: "constant",
		CheckpointEvery: 500, KeepCheckpoints: 2, LogEvery: 50,
	}
}

// configKeys lists the JSON names of Config's fields, in declaration order.
func configKeys() []string {
	t := reflect.TypeOf(Config{})
	keys := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		keys = append(keys, jsonName(t.Field(i)))
	}
	return keys
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

// ParseConfig decodes a JSON config, rejecting unknown keys and wrong types, fills defaults,
// and validates the model name and every hyperparameter against the model's declared ones.
func ParseConfig(data []byte) (*Config, error) {
	cfg := DefaultConfig()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		return nil, explainJSONError(err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// explainJSONError turns encoding/json's errors into ones that name the key and the valid keys.
func explainJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("key %q: got JSON %s, want %s", typeErr.Field, typeErr.Value, typeErr.Type)
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("unknown key %s; valid keys are: %s", name, strings.Join(configKeys(), ", "))
	}
	return err
}

// resolve fills the model's default hyperparameters and checks every value's type.
func (c *Config) resolve() error {
	if c.Model == "" {
		return errors.New(`key "model" is required`)
	}
	m, err := LookupModel(c.Model)
	if err != nil {
		return fmt.Errorf(`key "model": %w`, err)
	}
	params := m.Params.Defaults()
	for key, value := range c.Params {
		p, ok := m.Params.Lookup(key)
		if !ok {
			return fmt.Errorf("unknown key params.%s for model %q; valid keys are: %s",
				key, c.Model, strings.Join(m.Params.Keys(), ", "))
		}
		v, err := convertParam(value, p.Default)
		if err != nil {
			return fmt.Errorf("key params.%s: %w", key, err)
		}
		params[key] = v
	}
	c.Params = params
	if err := m.Params.Validate(params); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	if m.Validate != nil {
		if err := m.Validate(params); err != nil {
			return fmt.Errorf("params: %w", err)
		}
	}
	switch c.Optimizer {
	case "adam", "adamw":
	default:
		return fmt.Errorf(`key "optimizer": %q is not one of adam, adamw`, c.Optimizer)
	}
	switch c.LRSchedule {
	case "constant", "cosine":
	default:
		return fmt.Errorf(`key "lr_schedule": %q is not one of constant, cosine`, c.LRSchedule)
	}
	for _, check := range []struct {
		key string
		v   int
		min int
	}{
		{"steps", c.Steps, 1}, {"batch_size", c.BatchSize, 1}, {"eval_batch_size", c.EvalBatchSize, 1},
		{"warmup_steps", c.WarmupSteps, 0}, {"eval_every", c.EvalEvery, 0},
		{"checkpoint_every", c.CheckpointEvery, 0}, {"keep_checkpoints", c.KeepCheckpoints, 1},
		{"log_every", c.LogEvery, 1}, {"eval_examples", c.EvalExamples, 0},
	} {
		if check.v < check.min {
			return fmt.Errorf("key %q: %d must be ≥ %d", check.key, check.v, check.min)
		}
	}
	if !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0) {
		return fmt.Errorf(`key "learning_rate": %v must be a positive finite number`, c.LearningRate)
	}
	for metric, cond := range c.Expect {
		if _, _, err := parseCondition(cond); err != nil {
			return fmt.Errorf("key expect.%s: %w", metric, err)
		}
	}
	return nil
}

// convertParam converts a decoded JSON value (json.Number, string, bool) or a Go value to the
// type of def, or explains why it cannot.
func convertParam(value, def any) (any, error) {
	switch def.(type) {
	case int:
		switch v := value.(type) {
		case int:
			return v, nil
		case json.Number:
			i, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("got %s, want an integer", v)
			}
			return int(i), nil
		case float64:
			if v != math.Trunc(v) {
				return nil, fmt.Errorf("got %v, want an integer", v)
			}
			return int(v), nil
		}
	case float64:
		switch v := value.(type) {
		case float64:
			return v, nil
		case int:
			return float64(v), nil
		case json.Number:
			f, err := v.Float64()
			if err != nil {
				return nil, fmt.Errorf("got %s, want a number", v)
			}
			return f, nil
		}
	case bool:
		if v, ok := value.(bool); ok {
			return v, nil
		}
	case string:
		if v, ok := value.(string); ok {
			return v, nil
		}
	default:
		return nil, fmt.Errorf("unsupported parameter type %T", def)
	}
	return nil, fmt.Errorf("got %s %v, want %s", describe(value), value, typeName(def))
}

func describe(v any) string {
	switch v.(type) {
	case json.Number, int, float64:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func typeName(v any) string {
	switch v.(type) {
	case int:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case string:
		return "string"
	}
	return fmt.Sprintf("%T", v)
}

// Set applies overrides of the form "key=value;key2=value2" (GoMLX's -set syntax). A key is
// either a config field (e.g. "steps") or a hyperparameter of the model (e.g.
// "vq_codebook_size", also accepted as "params.vq_codebook_size"). Values are parsed as the
// key's type; errors name the key and list the valid ones.
func (c *Config) Set(overrides string) error {
	m, err := LookupModel(c.Model)
	if err != nil {
		return err
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
		paramKey := strings.TrimPrefix(key, "params.")
		if p, ok := m.Params.Lookup(paramKey); ok {
			v, err := parseScalar(raw, p.Default)
			if err != nil {
				return fmt.Errorf("-set %s: %w", key, err)
			}
			c.Params[paramKey] = v
			continue
		}
		if err := c.setField(key, raw); err != nil {
			return err
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
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return fmt.Errorf("-set %s: %q is not an integer", key, raw)
			}
			f.SetInt(n)
		case reflect.Float64:
			x, err := strconv.ParseFloat(raw, 64)
			if err != nil {
				return fmt.Errorf("-set %s: %q is not a number", key, raw)
			}
			f.SetFloat(x)
		case reflect.String:
			f.SetString(raw)
		default:
			return fmt.Errorf("-set %s: this key cannot be set from the command line", key)
		}
		return nil
	}
	m, _ := LookupModel(c.Model)
	valid := append(configKeys(), m.Params.Keys()...)
	return fmt.Errorf("-set: unknown key %q; valid keys are: %s", key, strings.Join(valid, ", "))
}

func parseScalar(raw string, def any) (any, error) {
	switch def.(type) {
	case int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", raw)
		}
		return n, nil
	case float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", raw)
		}
		return x, nil
	case bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean", raw)
		}
		return b, nil
	case string:
		return raw, nil
	}
	return nil, fmt.Errorf("unsupported parameter type %T", def)
}

// parseCondition parses "OP NUMBER" with OP one of >=, <=, >, <.
func parseCondition(cond string) (op string, bound float64, err error) {
	cond = strings.TrimSpace(cond)
	for _, candidate := range []string{">=", "<=", ">", "<"} {
		if rest, ok := strings.CutPrefix(cond, candidate); ok {
			bound, err = strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return "", 0, fmt.Errorf("condition %q: bound is not a number", cond)
			}
			return candidate, bound, nil
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
