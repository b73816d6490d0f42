package speechtok_test

import (
	"io"
	"testing"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/datadir"
)

// TestStepTime measures the training step of the tokenizer without a teacher at the three frame
// rates (20 steps of 16 crops of 0.8 s of the LibriVox clips, default widths, on the backend
// framework.NewBackend chooses), the numbers the configs' costs start from; outside -short.
// Measured 2026-12-07 with ONNX Runtime on 2 cores shared at load about 11: 0.37 s (25 Hz),
// 0.51 s (12.5 Hz), 0.47 s (6.25 Hz) median.
func TestStepTime(t *testing.T) {
	if testing.Short() {
		t.Skip("20 training steps at each frame rate")
	}
	backend, line, err := framework.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(line)
	for _, strides := range []string{"4", "2,4", "4,4"} {
		cfg, err := framework.ParseConfig([]byte(`{"model": "speechtok_nodistill", "dataset": "speechtok_test_clips", "batch_size": 16, "eval_batch_size": 8,
			"learning_rate": 0.001, "steps": 20, "eval_examples": 8, "params": {"speechtok_strides": "` + strides + `"}}`))
		if err != nil {
			t.Fatal(err)
		}
		res, err := framework.Run(cfg, framework.RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard, DataDir: datadir.Dir(t)})
		if err != nil {
			t.Fatal(err)
		}
		if !(res.MedianStepSeconds > 0) {
			t.Errorf("strides %s: no step time measured", strides)
		}
		t.Logf("strides %s (%g Hz): median step %.3f s", strides, res.Eval["frame_rate_hz"], res.MedianStepSeconds)
	}
}
