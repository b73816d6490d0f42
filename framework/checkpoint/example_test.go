package checkpoint_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/qzoo/qzoo/framework/checkpoint"
)

// A run saves its store every few steps and keeps the last two checkpoints; a resumed run
// finds the latest one and restores every variable, including the global step.
func Example() {
	dir, err := os.MkdirTemp("", "qzoo-checkpoint-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store := model.NewStore()
	if _, err := store.CreateVariable("/mlp/w", tensors.FromValue([][]float32{{1, 2}, {3, 4}})); err != nil {
		panic(err)
	}
	meta := map[string]json.RawMessage{"model": json.RawMessage(`"mlp"`)}
	for _, step := range []int64{100, 200, 300} {
		optimizer.GetGlobalStepVar(store).MustSetValue(tensors.FromScalar(step))
		if _, err := checkpoint.Save(dir, step, store, meta); err != nil {
			panic(err)
		}
		if err := checkpoint.Prune(dir, 2); err != nil {
			panic(err)
		}
	}
	entries, _ := checkpoint.List(dir)
	for _, e := range entries {
		fmt.Println(filepath.Base(e.Path))
	}

	path, step, err := checkpoint.Latest(dir)
	if err != nil {
		panic(err)
	}
	restored := model.NewStore()
	header, err := checkpoint.Load(path, restored)
	if err != nil {
		panic(err)
	}
	fmt.Println("resume from step", step, "model", string(header.Meta["model"]))
	for v := range restored.IterVariables() {
		fmt.Printf("%s %s trainable=%v %v\n", v.Path(), v.Shape(), v.Trainable, v.MustValue().Value())
	}
	// Output:
	// ckpt-0000000200.ckpt
	// ckpt-0000000300.ckpt
	// resume from step 300 model "mlp"
	// /mlp/w (Float32)[2, 2] trainable=true [[1 2] [3 4]]
	// /global_step (Int64) trainable=false 300
}
