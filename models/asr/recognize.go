package asr

import (
	"errors"
	"fmt"
	"math"

	"github.com/qzoo/qzoo/framework"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Recognizer transcribes whole clips to phoneme ids with a trained recognizer, outside the
// training loop: the teacher's phoneme error rate on a codec's reconstructions (the speech
// benchmark) is its greedy transcription of each reconstruction against the clip's phonemes.
type Recognizer struct {
	exec    *model.Exec
	classes int
}

// NewRecognizer prepares the recognizer's graph from a trained store (framework.LoadRun of an
// "asr" run, or the teacher scope of a student) and its resolved hyperparameters.
func NewRecognizer(backend compute.Backend, store *model.Store, params map[string]any) (*Recognizer, error) {
	classes, ok := params[ParamClasses].(int)
	if !ok || classes < 2 {
		return nil, fmt.Errorf("asr: recognizer: %s is %v, want an int ≥ 2", ParamClasses, params[ParamClasses])
	}
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		out := Build(scope, []*graph.Node{x})
		return []*graph.Node{out.Predictions[PredLogProbs], out.Predictions[PredFrames]}
	})
	if err != nil {
		return nil, fmt.Errorf("asr: recognizer graph: %w", err)
	}
	return &Recognizer{exec: exec, classes: classes}, nil
}

// Close releases the graph.
func (r *Recognizer) Close() { r.exec.Finalize() }

// Recognize returns the greedy CTC transcription of one clip (16 kHz samples, values in
// [−1, 1]) as phoneme ids of datasets/speech's inventory (1..classes−1; the blank dropped).
// Errors: an empty clip or a non-finite sample.
func (r *Recognizer) Recognize(samples []float32) ([]int32, error) {
	if len(samples) == 0 {
		return nil, errors.New("asr: recognize: empty clip")
	}
	for i, v := range samples {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("asr: recognize: sample %d is %v", i, v)
		}
	}
	out, err := framework.ExecFreeingInputs(r.exec, tensors.FromFlatDataAndDimensions(samples, 1, len(samples)))
	if err != nil {
		return nil, fmt.Errorf("asr: recognize: %w", err)
	}
	defer out[0].FinalizeAll()
	defer out[1].FinalizeAll()
	logProbs := tensors.MustCopyFlatData[float32](out[0])
	frames := tensors.MustCopyFlatData[int32](out[1])[0]
	return GreedyDecode(logProbs, int(frames), r.classes, Blank)
}
