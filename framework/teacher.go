package framework

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// A frozen second network: a model whose Model.Teacher names another registered model gets,
// from the config's teacher_from, that model's trained network as a frozen part of its graph
// (distillation from a recognizer, from a full-precision model, ...). The teacher lives under
// the scope TeacherScope of the student's store, with its own hyperparameters; it is loaded
// before the student's first graph is built, on every resume and by LoadRun, never trained and
// never saved: the student's checkpoints record its SHA-256 instead, and a resume or a
// re-evaluation whose teacher_from no longer has that SHA-256 is refused. A model whose
// distillation is an option (Model.NeedsTeacher: llama's quantized distillation, whose teacher
// is a llama) has a teacher only under the hyperparameters that ask for one.

// TeacherScope is the scope of the student's store that holds the teacher's variables and
// hyperparameters: the teacher's variable "/s" is the student's "/teacher/s".
const TeacherScope = "teacher"

// metaTeacherSHA256 is the checkpoint meta key of the SHA-256 of the teacher_from file (for a
// run directory, of its latest checkpoint).
const metaTeacherSHA256 = "teacher_from_sha256"

// paramTeacherModel is the hyperparameter, set in TeacherScope only, naming the teacher's model
// for BuildTeacher. Like every hyperparameter it is not saved in checkpoints.
const paramTeacherModel = "framework_teacher_model"

// isTeacherVariable says whether the variable at path belongs to the teacher.
func isTeacherVariable(path string) bool {
	return strings.HasPrefix(path, "/"+TeacherScope+"/")
}

// BuildTeacher builds the teacher's graph (its model's Build, in TeacherScope, with its own
// hyperparameters) on inputs and returns its outputs, for a student's Build to learn from. The
// teacher is always built in evaluation mode (an EMA codebook or a dropout layer of the teacher
// does not update or drop while the student trains), and the losses its Build adds with
// train.AddLoss are dropped: the student's loss is the student's. The teacher's variables are
// never trained, but its predictions carry the gradient with respect to the inputs, so a student
// can learn through the frozen network (LM-SPT's distillation compares the teacher's features of
// a resynthesis the student makes with those of the original); where the inputs are data
// nothing flows back, and a student that wants fixed targets from inputs it made applies
// graph.StopGradient itself. Its scalars carry no gradient. It panics (graph-building code) when no teacher is loaded, that is when the
// model declares no Model.Teacher, and when the teacher's Build would create a variable that
// teacher_from did not provide.
func BuildTeacher(scope *model.Scope, inputs []*graph.Node) Outputs {
	store := scope.Store()
	teacherScope := store.RootScope().In(TeacherScope)
	name, ok := teacherScope.GetParam(paramTeacherModel)
	if !ok {
		exceptions.Panicf("framework: BuildTeacher: no teacher is loaded (the model needs Model.Teacher, and the config teacher_from)")
	}
	m, err := LookupModel(name.(string))
	if err != nil {
		exceptions.Panicf("framework: BuildTeacher: %v", err)
	}
	g := inputs[0].Graph()
	loaded := teacherPaths(store)
	training := store.IsTraining(g)
	lossKeys := []string{
		model.JoinPath(train.TrainerAbsoluteScope, train.TrainerMainLossGraphParamKey),
		model.JoinPath(train.TrainerAbsoluteScope, train.TrainerRegularizationLossGraphParamKey),
	}
	losses := make([]any, len(lossKeys))
	found := make([]bool, len(lossKeys))
	for i, key := range lossKeys {
		losses[i], found[i] = model.GetGraphParam(g, key)
	}
	store.SetTraining(g, false)
	out := m.Build(teacherScope, inputs)
	store.SetTraining(g, training)
	for i, key := range lossKeys {
		now, added := model.GetGraphParam(g, key)
		switch {
		case found[i]:
			model.SetGraphParam(g, key, losses[i])
		case added:
			// The graph has no "unset": a zero stands for no loss.
			model.SetGraphParam(g, key, graph.ZerosLike(now.(*graph.Node)))
		}
	}
	if created := slices.DeleteFunc(teacherPaths(store), func(p string) bool { return slices.Contains(loaded, p) }); len(created) > 0 {
		exceptions.Panicf("framework: the teacher %s created variables its teacher_from does not hold: %s", m.Name, strings.Join(created, ", "))
	}
	for k, s := range out.Scalars {
		out.Scalars[k] = graph.StopGradient(s)
	}
	return out
}

// teacherPaths lists the paths of the teacher's variables in store.
func teacherPaths(store *model.Store) []string {
	var paths []string
	for v := range store.IterVariables() {
		if isTeacherVariable(v.Path()) {
			paths = append(paths, v.Path())
		}
	}
	return paths
}

// isTrainingState says whether a variable of a trained store is the state of its training
// rather than of its network: GoMLX's global step, RNG state, optimizer and metric scopes, and
// the trainer's own. A teacher leaves them behind.
func isTrainingState(path string) bool {
	top, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return top == optimizer.GlobalStepVariableName || strings.HasPrefix(top, "#") || top == optimizer.Scope ||
		top == metric.Scope || top == strings.TrimPrefix(train.TrainerAbsoluteScope, "/") || strings.HasSuffix(top, "Optimizer")
}

// teacherModel is the registry name of the teacher of cfg's model m: the config's teacher_model,
// else m.Teacher.
func (c *Config) teacherModel(m *Model) string {
	if c.TeacherModel != "" {
		return c.TeacherModel
	}
	return m.Teacher
}

// loadTeacher loads the teacher of cfg's model m from cfg.TeacherFrom into store (see
// [BuildTeacher]) and returns the SHA-256 that identifies it. A run directory must hold a run of
// the model cfg.teacherModel(m) (its latest checkpoint, with the hyperparameters recorded in
// it); a file is read by that model's Pretrained hook with the model's default hyperparameters
// (which the hook may set, as a llama2.c file sets the architecture). If want is not empty, a teacher whose
// SHA-256 differs is refused: the run was trained with another one.
func loadTeacher(store *model.Store, cfg *Config, m *Model, dataDir, want string) (string, error) {
	path, err := LocateData(dataDir, cfg.TeacherFrom)
	if err != nil {
		return "", fmt.Errorf(`framework: key "teacher_from": %w`, err)
	}
	sum, err := FileSHA256(path)
	if err != nil {
		return "", fmt.Errorf(`framework: key "teacher_from": %w`, err)
	}
	if want != "" && sum != want {
		return "", fmt.Errorf(`framework: key "teacher_from": %s has changed since the run was trained with it (SHA-256 %s, the checkpoint records %s): restore that teacher, or train the student again in another directory`,
			path, sum[:12], want[:min(12, len(want))])
	}
	var tcfg *Config
	var tstore *model.Store
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if tcfg, tstore, _, err = LoadRun(path); err != nil {
			return "", fmt.Errorf(`framework: key "teacher_from": %w`, err)
		}
		if want := cfg.teacherModel(m); tcfg.Model != want {
			return "", fmt.Errorf(`framework: key "teacher_from": %s holds a run of model %q; %s distils from a %q`, path, tcfg.Model, m.Name, want)
		}
	} else {
		tm, err := LookupModel(cfg.teacherModel(m))
		if err != nil {
			return "", fmt.Errorf("framework: teacher of %s: %w", m.Name, err)
		}
		if tm.Pretrained == nil {
			return "", fmt.Errorf(`framework: key "teacher_from": %s is a file, and the teacher %s reads none (no Pretrained hook): give a run directory`, path, tm.Name)
		}
		// The teacher reads the student's batches: its hyperparameters resolve against the
		// student's dataset, which need not be the teacher's own default.
		tcfg = &Config{Model: tm.Name, Dataset: cfg.Dataset}
		if err := tcfg.resolve(); err != nil {
			return "", fmt.Errorf("framework: teacher %s: %w", tm.Name, err)
		}
		tstore = newStore(tcfg)
		if err := tm.Pretrained(tstore, path, tcfg.Params); err != nil {
			return "", fmt.Errorf(`framework: key "teacher_from": the teacher %s reading %s: %w`, tm.Name, path, err)
		}
	}
	params := make(map[string]any, len(tcfg.Params)+1)
	for key := range maps.Keys(tcfg.Params) {
		params[key], _ = tstore.RootScope().GetParam(key) // as the Pretrained hook left them
	}
	params[paramTeacherModel] = tcfg.Model
	store.RootScope().In(TeacherScope).SetParams(params)
	for v := range tstore.IterVariables() {
		if isTrainingState(v.Path()) {
			continue
		}
		value, err := v.Value()
		if err != nil {
			return "", fmt.Errorf("framework: teacher variable %s: %w", v.Path(), err)
		}
		tv, err := store.CreateVariable("/"+TeacherScope+v.Path(), value)
		if err != nil {
			return "", fmt.Errorf("framework: teacher variable %s: %w", v.Path(), err)
		}
		tv.Trainable = false
	}
	return sum, nil
}
