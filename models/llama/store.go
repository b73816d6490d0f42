package llama

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// SetParams writes the architecture's llama_* hyperparameters into the store (the
// llama_rope_scaling keys included, the values its type does not use at their defaults), so
// that they are saved with the run's checkpoints.
func SetParams(store *model.Store, c Config) {
	params := map[string]any{ParamDim: c.Dim, ParamHiddenDim: c.HiddenDim, ParamLayers: c.Layers,
		ParamHeads: c.Heads, ParamKVHeads: c.KVHeads, ParamVocabSize: c.VocabSize, ParamSeqLen: c.SeqLen,
		ParamRoPETheta: c.RoPETheta, ParamNormEps: c.NormEps, ParamAttnBias: c.AttnBias}
	for k, v := range ropeScalingParams(c.RoPEScaling) {
		params[k] = v
	}
	store.SetParams(params)
}

// CheckParams returns an error naming the first llama_* hyperparameter that disagrees with c
// (a separate classifier needs none: it is a variable of its own).
func CheckParams(params map[string]any, c Config) error {
	for _, kv := range []struct {
		key  string
		want int
	}{{ParamDim, c.Dim}, {ParamHiddenDim, c.HiddenDim}, {ParamLayers, c.Layers}, {ParamHeads, c.Heads},
		{ParamKVHeads, c.KVHeads}, {ParamVocabSize, c.VocabSize}, {ParamSeqLen, c.SeqLen}} {
		if got, ok := params[kv.key].(int); ok && got != kv.want {
			return fmt.Errorf("key %q is %d but the checkpoint has %d", kv.key, got, kv.want)
		}
	}
	for _, kv := range []struct {
		key  string
		want float64
	}{{ParamRoPETheta, c.RoPETheta}, {ParamNormEps, c.NormEps}} {
		if got, ok := params[kv.key].(float64); ok && got != kv.want {
			return fmt.Errorf("key %q is %g but the checkpoint has %g", kv.key, got, kv.want)
		}
	}
	if got, ok := params[ParamAttnBias].(bool); ok && got != c.AttnBias {
		return fmt.Errorf("key %q is %v but the checkpoint has %v", ParamAttnBias, got, c.AttnBias)
	}
	want := ropeScalingParams(c.RoPEScaling)
	for _, key := range []string{ParamRoPEScaling, ParamRoPEFactor, ParamRoPELowFreqFactor, ParamRoPEHighFreqFactor, ParamRoPEOriginalSeqLen} {
		if got, ok := params[key]; ok && got != want[key] {
			return fmt.Errorf("key %q is %v but the checkpoint has %v", key, got, want[key])
		}
	}
	return nil
}

// visit visits every weight of w with its scope path (as Forward names it), the
// tensor's dimensions and its values; a bias's path ends in its variable name, VarBias
// (the others' variable is VarWeight).
func (w *Weights) visit(fn func(scope []string, dims []int, values *[]float32)) {
	c := w.Config
	fn([]string{VarEmbedding}, []int{c.VocabSize, c.Dim}, &w.Embedding)
	if !c.Shared {
		fn([]string{VarClassifier}, []int{c.VocabSize, c.Dim}, &w.Classifier)
	}
	for i := range w.Blocks {
		b := fmt.Sprintf(blockScope, i)
		l := &w.Blocks[i]
		fn([]string{b, VarAttnNorm}, []int{c.Dim}, &l.AttnNorm)
		fn([]string{b, VarFFNNorm}, []int{c.Dim}, &l.FFNNorm)
		for _, name := range LinearNames {
			o, in := c.LinearShape(name)
			fn([]string{b, name}, []int{o, in}, l.Linear(name))
		}
		if c.AttnBias {
			fn([]string{b, "wq", VarBias}, []int{c.Dim}, &l.BQ)
			fn([]string{b, "wk", VarBias}, []int{c.KVDim()}, &l.BK)
			fn([]string{b, "wv", VarBias}, []int{c.KVDim()}, &l.BV)
		}
	}
	fn([]string{VarNormFinal}, []int{c.Dim}, &w.NormFinal)
}

// variableAt splits a path of visit into its scope and its variable's name.
func variableAt(store *model.Store, path []string) (*model.Scope, string) {
	if path[len(path)-1] == VarBias {
		return scopeAt(store, path[:len(path)-1]), VarBias
	}
	return scopeAt(store, path), VarWeight
}

func scopeAt(store *model.Store, path []string) *model.Scope {
	s := store.RootScope()
	for _, p := range path {
		s = s.In("%s", p)
	}
	return s
}

// Load writes w's tensors into the store's variables (creating them; a separate classifier
// as classifier/weight) and its architecture into the hyperparameters.
func (w *Weights) Load(store *model.Store) error {
	SetParams(store, w.Config)
	var err error
	w.visit(func(path []string, dims []int, values *[]float32) {
		if err != nil {
			return
		}
		if len(*values) != product(dims) {
			err = fmt.Errorf("llama: weight %v holds %d values, want %v", path, len(*values), dims)
			return
		}
		t := tensors.FromFlatDataAndDimensions(append([]float32(nil), (*values)...), dims...)
		s, name := variableAt(store, path)
		if v := s.GetVariable(name); v != nil {
			err = v.SetValue(t)
		} else {
			_, err = s.CreateVariable(name, t)
		}
	})
	return err
}

// WeightsFromStore reads the weights of architecture c back from a store (e.g. a trained run's
// variables, or ones with merged adapters), copying the values.
func WeightsFromStore(store *model.Store, c Config) (*Weights, error) {
	w := &Weights{Config: c, Blocks: make([]Layer, c.Layers)}
	var err error
	w.visit(func(path []string, dims []int, values *[]float32) {
		if err != nil {
			return
		}
		s, name := variableAt(store, path)
		v := s.GetVariable(name)
		if v == nil {
			err = fmt.Errorf("llama: no variable %v/%s", path, name)
			return
		}
		t, e := v.Value()
		if e != nil {
			err = e
			return
		}
		if t.Shape().Size() != product(dims) {
			err = fmt.Errorf("llama: variable %s has shape %s, want %v", v.Path(), t.Shape(), dims)
			return
		}
		*values = append([]float32(nil), tensors.MustCopyFlatData[float32](t)...)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

func product(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

func shapeOf(dims []int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// EffectiveWeights returns the weights the model of a store computes with: every linear layer
// as [EffectiveWeight] makes it (LoRA merged, fake quantization applied), the embedding and
// norms as stored. It is how an adapted or quantization-aware-trained run becomes a plain
// llama2.c checkpoint (merge and save) or the starting point of another run (init_from a run
// directory). The architecture comes from the store's llama_* hyperparameters.
func EffectiveWeights(backend compute.Backend, store *model.Store) (*Weights, error) {
	c := ConfigOfStore(store)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("llama: store's llama_* hyperparameters: %w", err)
	}
	w, err := WeightsFromStore(store, c)
	if err != nil {
		return nil, err
	}
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, g *graph.Graph) []*graph.Node {
		var out []*graph.Node
		for i := range c.Layers {
			block := BlockScope(scope, i)
			for _, name := range LinearNames {
				o, in := c.LinearShape(name)
				out = append(out, EffectiveWeight(block.In("%s", name), g, o, in))
			}
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	values, err := exec.Exec()
	if err != nil {
		return nil, err
	}
	k := 0
	for i := range c.Layers {
		for _, name := range LinearNames {
			*w.Blocks[i].Linear(name) = tensors.MustCopyFlatData[float32](values[k])
			values[k].FinalizeAll()
			k++
		}
	}
	return w, nil
}
