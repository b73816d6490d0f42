package asr

import (
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
)

// TestSpecAugmentMasks: on a log-mel of ones, each example's zeros are at most asr_freq_masks
// whole bands of at most asr_freq_mask_width and asr_time_masks whole frame ranges of at most
// asr_time_mask_width, the time masks inside the valid frames; the draws differ between calls
// and mask something.
func TestSpecAugmentMasks(t *testing.T) {
	const b, f, m, wf, wt = 2, 60, 20, 4, 7
	valid := []int32{60, 25}
	store := model.NewStore()
	store.SetParams(map[string]any{ParamFreqMasks: 1, ParamFreqMaskWidth: wf, ParamTimeMasks: 1, ParamTimeMaskWidth: wt})
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, frames *graph.Node) *graph.Node {
		return specAugment(scope, graph.Ones(frames.Graph(), shapes.Make(dtypes.Float32, b, f, m)), frames)
	})
	if err != nil {
		t.Fatal(err)
	}
	var masked int
	seen := map[string]bool{}
	for range 20 {
		out, err := exec.Call(tensors.FromFlatDataAndDimensions(valid, b))
		if err != nil {
			t.Fatal(err)
		}
		h := tensors.MustCopyFlatData[float32](out[0])
		key := ""
		for e := range b {
			zeroBand := func(j int) bool { // every frame of band j is 0
				for i := range f {
					if h[(e*f+i)*m+j] != 0 {
						return false
					}
				}
				return true
			}
			zeroFrame := func(i int) bool {
				for j := range m {
					if h[(e*f+i)*m+j] != 0 {
						return false
					}
				}
				return true
			}
			bands, frames := 0, 0
			for j := range m {
				if zeroBand(j) {
					bands++
				}
			}
			for i := range f {
				if zeroFrame(i) {
					frames++
					if i >= int(valid[e]) && bands < m {
						t.Fatalf("example %d: frame %d past the %d valid frames is masked", e, i, valid[e])
					}
				}
			}
			for i := range f {
				for j := range m {
					if h[(e*f+i)*m+j] == 0 && !zeroBand(j) && !zeroFrame(i) {
						t.Fatalf("example %d: a zero at frame %d, band %d is in no whole masked band or frame", e, i, j)
					}
				}
			}
			if bands > wf || frames > wt {
				t.Fatalf("example %d: %d bands and %d frames masked, want at most %d and %d", e, bands, frames, wf, wt)
			}
			masked += bands + frames
			key += string(rune(bands)) + string(rune(frames))
		}
		seen[key] = true
	}
	if masked == 0 || len(seen) < 2 {
		t.Errorf("20 draws masked %d bands and frames in %d distinct patterns: the masks are not random", masked, len(seen))
	}
}
