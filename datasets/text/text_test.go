package text

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
)

var dataDir = datadir.Root()

func params(extra map[string]any) map[string]any {
	p := Params.Defaults()
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// TestSplitsAndWindows checks the split by position (no token in two splits, in order) and the
// windows: BOS, then the tokens before each target, every target of a split once.
func TestSplitsAndWindows(t *testing.T) {
	s, err := LoadSplits(dataDir, params(map[string]any{ParamSeqLen: 64}))
	if err != nil {
		t.Fatal(err)
	}
	tr, va, te := s.Parts[framework.SplitTrain], s.Parts[framework.SplitValidation], s.Parts[framework.SplitTest]
	n := len(tr) + len(va) + len(te)
	if n < 500000 || len(te) != int(float64(n)*0.05) || len(va) != int(float64(n)*0.05) {
		t.Errorf("split sizes train %d, validation %d, test %d of %d", len(tr), len(va), len(te), n)
	}
	// The test split is the end of the text.
	if got, err := s.Tokenizer.Decode(te[len(te)-20:]); err != nil || !strings.Contains("\n"+mustTail(t), got) {
		t.Errorf("the test split does not end the text: %q (%v)", got, err)
	}
	w := s.Windows(framework.SplitTest)
	if w.Len() != len(te)/64 {
		t.Errorf("%d windows of %d tokens, want %d", w.Len(), len(te), len(te)/64)
	}
	in, lab, err := w.Batch([]int{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	x, y := tensors.MustCopyFlatData[int32](in[0]), tensors.MustCopyFlatData[int32](lab[0])
	for b, win := range []int{0, 2} {
		if x[b*64] != llama2c.BOS {
			t.Errorf("window %d starts with %d, not BOS", win, x[b*64])
		}
		for j := range 64 {
			if int(y[b*64+j]) != te[win*64+j] {
				t.Fatalf("window %d label %d is %d, want token %d", win, j, y[b*64+j], te[win*64+j])
			}
			if j > 0 && x[b*64+j] != y[b*64+j-1] {
				t.Fatalf("window %d input %d is not the previous target", win, j)
			}
		}
	}
	if _, _, err := w.Batch([]int{w.Len()}); err == nil {
		t.Error("a window past the end was accepted")
	}
}

func mustTail(t *testing.T) string {
	t.Helper()
	p, err := framework.LocateData(dataDir, "text/tinyshakespeare.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadErrors(t *testing.T) {
	_, err := LoadSplits(t.TempDir(), params(map[string]any{ParamFile: "no/such/file.txt"}))
	if err == nil || !strings.Contains(err.Error(), "no/such/file.txt") {
		t.Errorf("missing file: %v", err)
	}
	_, err = LoadSplits(dataDir, params(map[string]any{ParamSeqLen: 1 << 16, ParamValidation: 0.5, ParamTest: 0.5}))
	if err == nil || !strings.Contains(err.Error(), "no window") {
		t.Errorf("no training window: %v", err)
	}
}

// TestCorpus checks a corpus of several files: each file is split by position on its own, so
// every split holds the matching part of every file (the test split ends each file), list
// order is kept and a pattern's matches are sorted; a one-file corpus is the file itself.
func TestCorpus(t *testing.T) {
	dir := t.TempDir()
	shakespeare := mustTail(t)
	// Two real passages of the play as files b.txt and a.txt (the pattern sorts them).
	parts := []string{shakespeare[:200000], shakespeare[200000:400000]}
	for i, name := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(dir+"/"+name, []byte(parts[i]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	corpus, err := LoadSplits(dataDir, params(map[string]any{ParamFile: dir + "/*.txt", ParamSeqLen: 64}))
	if err != nil {
		t.Fatal(err)
	}
	var want = map[string][]int{}
	for _, name := range []string{"a.txt", "b.txt"} {
		one, err := LoadSplits(dataDir, params(map[string]any{ParamFile: dir + "/" + name, ParamSeqLen: 64}))
		if err != nil {
			t.Fatal(err)
		}
		for split, toks := range one.Parts {
			want[split] = append(want[split], toks...)
		}
	}
	for split, toks := range want {
		if !slices.Equal(corpus.Parts[split], toks) {
			t.Errorf("split %s: %d tokens, want the files' own %s parts concatenated (%d)", split, len(corpus.Parts[split]), split, len(toks))
		}
	}
	if corpus.File != dir+"/a.txt,"+dir+"/b.txt" {
		t.Errorf("files %q, want a.txt then b.txt", corpus.File)
	}
	// A list keeps its order and resolves relative entries against the data directory.
	list, err := LoadSplits(dataDir, params(map[string]any{ParamFile: dir + "/b.txt, text/tinyshakespeare.txt", ParamSeqLen: 64}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(list.File, dir+"/b.txt,") || !strings.HasSuffix(list.File, "tinyshakespeare.txt") {
		t.Errorf("list order lost: %q", list.File)
	}
	for _, bad := range []string{dir + "/*.md", dir + "/a.txt,,", "no/such/file.txt," + dir + "/a.txt"} {
		if _, err := LoadSplits(dataDir, params(map[string]any{ParamFile: bad})); err == nil || !strings.Contains(err.Error(), ParamFile) {
			t.Errorf("text_file %q: error %v, want one naming the key", bad, err)
		}
	}
	if err := os.WriteFile(dir+"/latin1.txt", []byte("caf\xe9 cr\xe8me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSplits(dataDir, params(map[string]any{ParamFile: dir + "/latin1.txt"})); err == nil || !strings.Contains(err.Error(), "latin1.txt") {
		t.Errorf("a Latin-1 file: error %v, want one naming the file", err)
	}
}
