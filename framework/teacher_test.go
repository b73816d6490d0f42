package framework

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/framework/hparams"
)

// testTeacherParams are test_teacher's hyperparameters.
var testTeacherParams = hparams.List{{Key: "test_teacher_gain", Default: 1.0, Doc: "scale of the teacher's output"}}

// A teacher, y = gain·x·W (W read from a JSON file by Pretrained, or trained towards 2x), and a
// student, y = x·V, that learns the teacher's outputs.
func init() {
	Register(&Model{
		Name: "test_teacher", Doc: "y = gain·x·W, for the teacher tests", Dataset: "test_synthetic", Params: testTeacherParams,
		Build: func(scope *model.Scope, inputs []*graph.Node) Outputs {
			x := inputs[0]
			w := scope.In("linear").VariableWithShape("w", shapes.Make(dtypes.Float32, 4, 4)).NodeValue(x.Graph())
			y := graph.MulScalar(graph.MatMul(x, w), hparams.Get[float64](scope, testTeacherParams, "test_teacher_gain"))
			mse := graph.ReduceAllMean(graph.Square(graph.Sub(y, graph.MulScalar(x, 2))))
			train.AddLoss(mse)
			train.AddLoss(graph.Scalar(x.Graph(), dtypes.Float32, 1000)) // a student must not inherit it
			return Outputs{Predictions: []*graph.Node{y}, Scalars: map[string]*graph.Node{"mse": mse}}
		},
		Scalars:      []string{"mse"},
		Pretrained:   testTeacherPretrained,
		NewEvaluator: func(map[string]any) (Evaluator, error) { return &meanEvaluator{}, nil },
	})
	Register(&Model{
		// Its default dataset is registered nowhere: a teacher read from a file reads the
		// student's batches, and resolves against the student's dataset.
		Name: "test_teacher_double", Doc: "y = 2·x·W, a second teacher for teacher_model", Dataset: "test_unregistered",
		Build: func(scope *model.Scope, inputs []*graph.Node) Outputs {
			x := inputs[0]
			w := scope.In("linear").VariableWithShape("w", shapes.Make(dtypes.Float32, 4, 4)).NodeValue(x.Graph())
			return Outputs{Predictions: []*graph.Node{graph.MulScalar(graph.MatMul(x, w), 2)}}
		},
		Pretrained:   testTeacherPretrained,
		NewEvaluator: func(map[string]any) (Evaluator, error) { return &meanEvaluator{}, nil },
	})
	Register(&Model{
		Name: "test_student", Doc: "y = x·V distilled from test_teacher", Dataset: "test_synthetic", Teacher: "test_teacher",
		Build: func(scope *model.Scope, inputs []*graph.Node) Outputs {
			x := inputs[0]
			target := BuildTeacher(scope, inputs).Predictions[0]
			v := scope.In("student").VariableWithShape("v", shapes.Make(dtypes.Float32, 4, 4)).NodeValue(x.Graph())
			sqErr := graph.Square(graph.Sub(graph.MatMul(x, v), target))
			mse := graph.ReduceAllMean(sqErr)
			train.AddLoss(mse)
			return Outputs{Predictions: []*graph.Node{graph.ReduceSum(sqErr, -1)}, Scalars: map[string]*graph.Node{"mse": mse}}
		},
		Scalars:      []string{"mse"},
		NewEvaluator: func(map[string]any) (Evaluator, error) { return &meanEvaluator{}, nil },
		Evaluate: func(ctx *EvalContext) (map[string]float64, error) {
			v := ctx.Store.GetVariable("/teacher/linear/w")
			if v == nil {
				return nil, errors.New("no teacher in the store")
			}
			sum := 0.0
			for _, x := range tensors.MustCopyFlatData[float32](v.MustValue()) {
				sum += float64(x)
			}
			return map[string]float64{"teacher_w_sum": sum}, nil
		},
	})
	Register(&Model{
		// Distils only under test_distill (Model.NeedsTeacher); otherwise learns 2x alone.
		Name: "test_student_optional", Doc: "y = x·V, distilled from test_teacher under test_distill", Dataset: "test_synthetic",
		Teacher: "test_teacher", Params: testOptionalParams,
		NeedsTeacher: func(params map[string]any) bool { return params["test_distill"].(bool) },
		Build: func(scope *model.Scope, inputs []*graph.Node) Outputs {
			x := inputs[0]
			target := graph.MulScalar(x, 2)
			if hparams.Get[bool](scope, testOptionalParams, "test_distill") {
				target = BuildTeacher(scope, inputs).Predictions[0]
			}
			v := scope.In("student").VariableWithShape("v", shapes.Make(dtypes.Float32, 4, 4)).NodeValue(x.Graph())
			sqErr := graph.Square(graph.Sub(graph.MatMul(x, v), target))
			train.AddLoss(graph.ReduceAllMean(sqErr))
			return Outputs{Predictions: []*graph.Node{graph.ReduceSum(sqErr, -1)}}
		},
		NewEvaluator: func(map[string]any) (Evaluator, error) { return &meanEvaluator{}, nil },
	})
	Register(&Model{
		// Learns through the frozen teacher: its inputs x·V go into the teacher, and the loss
		// compares the teacher's outputs of x·V and of x (LM-SPT's distillation by resynthesis).
		Name: "test_student_through", Doc: "x·V made to look like x to test_teacher", Dataset: "test_synthetic", Teacher: "test_teacher",
		Build: func(scope *model.Scope, inputs []*graph.Node) Outputs {
			x := inputs[0]
			v := scope.In("student").VariableWithShape("v", shapes.Make(dtypes.Float32, 4, 4)).NodeValue(x.Graph())
			made := BuildTeacher(scope, []*graph.Node{graph.MatMul(x, v)}).Predictions[0]
			target := BuildTeacher(scope, inputs).Predictions[0]
			sqErr := graph.Square(graph.Sub(made, target))
			mse := graph.ReduceAllMean(sqErr)
			train.AddLoss(mse)
			return Outputs{Predictions: []*graph.Node{graph.ReduceSum(sqErr, -1)}, Scalars: map[string]*graph.Node{"mse": mse}}
		},
		Scalars:      []string{"mse"},
		NewEvaluator: func(map[string]any) (Evaluator, error) { return &meanEvaluator{}, nil },
	})
}

// testOptionalParams are test_student_optional's hyperparameters.
var testOptionalParams = hparams.List{{Key: "test_distill", Default: false, Doc: "distil from the teacher"}}

// testTeacherPretrained reads the teachers' W from a JSON list of 16 weights.
func testTeacherPretrained(store *model.Store, path string, _ map[string]any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var w []float32
	if err := json.Unmarshal(data, &w); err != nil || len(w) != 16 {
		return errors.New("want a JSON list of 16 weights")
	}
	store.RootScope().In("linear").VariableWithValue("w", tensors.FromFlatDataAndDimensions(w, 4, 4))
	return nil
}

// studentConfig is a config of test_student learning from teacherFrom.
func studentConfig(t *testing.T, teacherFrom, extra string) *Config {
	t.Helper()
	from, _ := json.Marshal(teacherFrom)
	cfg, err := ParseConfig(overlay(t, `"model": "test_student", "batch_size": 8, "eval_batch_size": 4, "learning_rate": 0.2,
		"checkpoint_every": 5, "keep_checkpoints": 5, "steps": 10, "teacher_from": `+string(from), extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// studentWeights returns the student's V from the latest checkpoint of dir, and the paths
// of every variable the checkpoint holds.
func studentWeights(t *testing.T, dir string) ([]float32, []string) {
	t.Helper()
	path, _, err := checkpoint.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	header, err := checkpoint.Load(path, store)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, v := range header.Variables {
		paths = append(paths, v.Path)
	}
	return tensors.MustCopyFlatData[float32](store.GetVariable("/student/v").MustValue()), paths
}

// A teacher read from a file: the student learns it, the teacher does not change and is not
// saved, its SHA-256 is in every checkpoint, a resumed run ends exactly where an uninterrupted
// one does, and a changed teacher file is refused on resume and on re-evaluation.
func TestTeacherFromFile(t *testing.T) {
	backend := goBackend(t)
	weights := make([]float32, 16)
	for i := range 4 {
		weights[5*i] = 3 // W = 3·I: the student should learn V = 3·I
	}
	data, _ := json.Marshal(weights)
	file := filepath.Join(t.TempDir(), "teacher.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := FileSHA256(file)
	if err != nil {
		t.Fatal(err)
	}

	whole, parts := t.TempDir(), t.TempDir()
	res, err := Run(studentConfig(t, file, `, "steps": 60`), RunOptions{Dir: whole, Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if res.Eval["teacher_w_sum"] != 12 {
		t.Errorf("the teacher's weights sum to %v after training, want the file's 12", res.Eval["teacher_w_sum"])
	}
	if res.Train["loss"] > 100 {
		t.Errorf("training loss %v: the teacher's own losses leaked into the student's", res.Train["loss"])
	}
	v, paths := studentWeights(t, whole)
	if d := v[0] - 3; d*d > 0.25 || v[1]*v[1] > 0.25 {
		t.Errorf("student V = %v, want about 3·I", v)
	}
	if i := slices.IndexFunc(paths, func(p string) bool { return strings.HasPrefix(p, "/teacher/") }); i >= 0 {
		t.Errorf("the student's checkpoint holds the teacher's variable %s", paths[i])
	}
	ckpts, _ := checkpoint.List(whole)
	for _, c := range ckpts {
		h, err := checkpoint.ReadHeader(c.Path)
		if err != nil {
			t.Fatal(err)
		}
		if string(h.Meta[metaTeacherSHA256]) != `"`+sum+`"` {
			t.Errorf("%s records teacher %s, want %s", c.Path, h.Meta[metaTeacherSHA256], sum)
		}
	}

	// Resumed twice on the way: the same weights as the uninterrupted run.
	for _, stop := range []int64{15, 35, 0} {
		if _, err := Run(studentConfig(t, file, `, "steps": 60`), RunOptions{Dir: parts, Backend: backend, Out: io.Discard, StopAt: stop}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := studentWeights(t, parts); !slices.Equal(got, v) {
		t.Errorf("resumed run ends with %v, the uninterrupted one with %v", got, v)
	}
	if m, _, _, err := Evaluate(whole, RunOptions{Backend: backend, Out: io.Discard}); err != nil || m["teacher_w_sum"] != 12 {
		t.Errorf("re-evaluation: %v, %v", m, err)
	}

	// The same teacher spelled another way (as a notebook spells "../runs/teacher"): resumed.
	alias := filepath.Dir(file) + "/../" + filepath.Base(filepath.Dir(file)) + "/./" + filepath.Base(file) // not cleaned
	if alias == file {
		t.Fatalf("alias %s is spelled as the file", alias)
	}
	if _, err := Run(studentConfig(t, alias, `, "steps": 65`), RunOptions{Dir: whole, Backend: backend, Out: io.Discard}); err != nil {
		t.Errorf("resume with the teacher spelled %s: %v", alias, err)
	}

	// Another teacher in the same file: resuming and re-evaluating are refused.
	weights[0] = 4
	data, _ = json.Marshal(weights)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(studentConfig(t, file, `, "steps": 70`), RunOptions{Dir: whole, Backend: backend, Out: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), `key "teacher_from"`) || !strings.Contains(err.Error(), "has changed since the run was trained with it") {
		t.Errorf("resume with a changed teacher: %v", err)
	}
	if _, _, _, err := Evaluate(whole, RunOptions{Backend: backend, Out: io.Discard}); err == nil || !strings.Contains(err.Error(), "has changed") {
		t.Errorf("re-evaluation with a changed teacher: %v", err)
	}

	// Without its teacher (what a codec needs), the run loads whatever became of teacher_from.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	latest, _, err := checkpoint.Latest(whole)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadCheckpoint(whole, latest); err == nil {
		t.Error("LoadCheckpoint loaded a run whose teacher_from is gone")
	}
	_, store, err := LoadCheckpointWithoutTeacher(whole, latest)
	if err != nil {
		t.Fatal(err)
	}
	if store.GetVariable("/student/v") == nil || store.GetVariable("/teacher/linear/w") != nil {
		t.Error("LoadCheckpointWithoutTeacher: want the student's V and no teacher variable")
	}
}

// A teacher trained in a run directory: its hyperparameters are the run's (gain 2, not the
// default 1), and a run of another model is refused.
func TestTeacherFromRunDirectory(t *testing.T) {
	backend := goBackend(t)
	teacherDir := t.TempDir()
	tcfg, err := ParseConfig([]byte(`{"model": "test_teacher", "steps": 20, "batch_size": 8, "eval_batch_size": 4, "learning_rate": 0.05, "params": {"test_teacher_gain": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(tcfg, RunOptions{Dir: teacherDir, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	_, tstore, _, err := LoadRun(teacherDir)
	if err != nil {
		t.Fatal(err)
	}
	want := 0.0
	for _, x := range tensors.MustCopyFlatData[float32](tstore.GetVariable("/linear/w").MustValue()) {
		want += float64(x)
	}
	before, _ := FileSHA256(teacherDir)

	dir := t.TempDir()
	res, err := Run(studentConfig(t, teacherDir, ""), RunOptions{Dir: dir, Backend: backend, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if res.Eval["teacher_w_sum"] != want {
		t.Errorf("teacher weights sum to %v in the student, %v in the teacher's run", res.Eval["teacher_w_sum"], want)
	}
	if after, _ := FileSHA256(teacherDir); after != before {
		t.Error("training the student changed the teacher's run")
	}
	_, store, _, err := LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if gain, _ := store.RootScope().In(TeacherScope).GetParam("test_teacher_gain"); gain != 2.0 {
		t.Errorf("teacher gain %v, want the teacher run's 2", gain)
	}
	if v := store.GetVariable("/teacher/" + optimizer.GlobalStepVariableName); v != nil {
		t.Error("the teacher's training state was copied")
	}

	other := t.TempDir()
	if _, err := Run(testConfig(t, `, "steps": 1`), RunOptions{Dir: other, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(studentConfig(t, other, ""), RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), `holds a run of model "test_linear"; test_student distils from a "test_teacher"`) {
		t.Errorf("a teacher run of another model: %v", err)
	}
}

func TestTeacherConfigErrors(t *testing.T) {
	for js, want := range map[string]string{
		`{"model": "test_student"}`:                                                    `key "teacher_from" is required: model "test_student" distils from a trained "test_teacher"`,
		`{"model": "test_linear", "teacher_from": "x"}`:                                `key "teacher_from": model "test_linear" has no teacher`,
		`{"model": "test_student", "teacher_from": "/nonexistent/t.json", "steps": 1}`: "",
	} {
		cfg, err := ParseConfig([]byte(js))
		if want == "" {
			if err != nil {
				t.Fatal(err)
			}
			_, err = Run(cfg, RunOptions{Dir: t.TempDir(), Backend: goBackend(t), Out: io.Discard})
			want = `key "teacher_from": stat /nonexistent/t.json`
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", js, err, want)
		}
	}
}

// A model whose distillation is an option (Model.NeedsTeacher): teacher_from is required when
// it distils, refused when it does not, and the teacher is loaded only then.
func TestOptionalTeacher(t *testing.T) {
	for js, want := range map[string]string{
		`{"model": "test_student_optional", "params": {"test_distill": true}}`: `key "teacher_from" is required: model "test_student_optional" distils from a trained "test_teacher"`,
		`{"model": "test_student_optional", "teacher_from": "x"}`:              `key "teacher_from": model "test_student_optional" distils from no teacher with these params`,
		`{"model": "test_student_optional", "teacher_model": "test_teacher"}`:  `key "teacher_model": model "test_student_optional" distils from no teacher with these params`,
		`{"model": "test_student_optional"}`:                                   "",
	} {
		_, err := ParseConfig([]byte(js))
		if want == "" && err != nil {
			t.Errorf("%s: %v", js, err)
		}
		if want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want an error containing %q", js, err, want)
		}
	}
	weights := make([]float32, 16)
	for i := range 4 {
		weights[5*i] = 3
	}
	data, _ := json.Marshal(weights)
	file := filepath.Join(t.TempDir(), "teacher.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	from, _ := json.Marshal(file)
	cfg, err := ParseConfig([]byte(`{"model": "test_student_optional", "batch_size": 8, "eval_batch_size": 4, "learning_rate": 0.2,
		"steps": 60, "teacher_from": ` + string(from) + `, "params": {"test_distill": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Run(cfg, RunOptions{Dir: dir, Backend: goBackend(t), Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if v, _ := studentWeights(t, dir); (v[0]-3)*(v[0]-3) > 0.25 {
		t.Errorf("student V = %v, want about the teacher's 3·I", v)
	}
}

// teacher_model chooses which registered model teacher_from holds: the student learns the
// chosen teacher's function (2·W rather than W), a run resumed with another teacher_model is
// refused, and the key is refused for a model without a teacher or naming no model.
func TestTeacherModelChoice(t *testing.T) {
	backend := goBackend(t)
	weights := make([]float32, 16)
	for i := range 4 {
		weights[5*i] = 3
	}
	data, _ := json.Marshal(weights)
	file := filepath.Join(t.TempDir(), "teacher.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Run(studentConfig(t, file, `, "steps": 60, "teacher_model": "test_teacher_double"`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if v, _ := studentWeights(t, dir); (v[0]-6)*(v[0]-6) > 0.25 || v[1]*v[1] > 0.25 {
		t.Errorf("student V = %v, want about 6·I (the doubling teacher's 2·W)", v)
	}
	if _, store, _, err := LoadRun(dir); err != nil {
		t.Fatal(err)
	} else if name, _ := store.RootScope().In(TeacherScope).GetParam(paramTeacherModel); name != "test_teacher_double" {
		t.Errorf("the loaded teacher is %v, want test_teacher_double", name)
	}
	if _, err := Run(studentConfig(t, file, `, "steps": 70`), RunOptions{Dir: dir, Backend: backend, Out: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), "teacher_model=test_teacher_double, this config has") {
		t.Errorf("resume with the default teacher_model: %v", err)
	}
	for js, want := range map[string]string{
		`{"model": "test_linear", "teacher_model": "test_teacher"}`:                        `key "teacher_model": model "test_linear" has no teacher`,
		`{"model": "test_student", "teacher_from": "x", "teacher_model": "no_such_model"}`: `key "teacher_model": framework: unknown model "no_such_model"`,
	} {
		if _, err := ParseConfig([]byte(js)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", js, err, want)
		}
	}
}

// The gradient flows through the frozen teacher to the student's inputs: with W = 3·I, the
// student learns V = I from the teacher's outputs alone, and the teacher stays as its file.
func TestLearningThroughTheTeacher(t *testing.T) {
	backend := goBackend(t)
	weights := make([]float32, 16)
	for i := range 4 {
		weights[5*i] = 3
	}
	data, _ := json.Marshal(weights)
	file := filepath.Join(t.TempDir(), "teacher.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	from, _ := json.Marshal(file)
	cfg, err := ParseConfig(overlay(t, `"model": "test_student_through", "batch_size": 8, "eval_batch_size": 4, "learning_rate": 0.05,
		"steps": 300, "teacher_from": `+string(from), ""))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Run(cfg, RunOptions{Dir: dir, Backend: backend, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	v, _ := studentWeights(t, dir)
	for i, x := range v {
		want := float32(0)
		if i%5 == 0 {
			want = 1
		}
		if d := x - want; d*d > 0.01 {
			t.Fatalf("student V = %v, want about I: no gradient reached it through the teacher", v)
		}
	}
}
