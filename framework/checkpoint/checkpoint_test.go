package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// newTestStore returns a store like a training run's: weights, a frozen variable, the global
// step, the RNG state and a few other dtypes, all with values derived from seed.
func newTestStore(t testing.TB, seed float32) *model.Store {
	t.Helper()
	store := model.NewStore()
	must := func(_ *model.Variable, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(store.CreateVariable("/vqae/enc/w", tensors.FromValue([][]float32{{seed, 2, 3}, {4, 5, seed + 6}})))
	must(store.CreateVariable("/vqae/codebook", tensors.FromValue([][]float32{{seed}, {-1}})))
	store.GetVariable("/vqae/codebook").SetTrainable(false)
	must(store.CreateVariable("/vqae/empty", tensors.FromShape(shapes.Make(dtypes.Float32, 0, 3))))
	must(store.CreateVariable("/adam/count", tensors.FromValue([]int32{int32(seed), 7, -8})))
	must(store.CreateVariable("/flags", tensors.FromValue([]bool{true, false})))
	must(store.CreateVariable("/half", tensors.FromValue([]bfloat16.BFloat16{bfloat16.FromFloat32(seed)})))
	optimizer.GetGlobalStepVar(store).MustSetValue(tensors.FromScalar(int64(seed) * 100))
	store.SetParam(model.ParamInitialSeed, int64(seed))
	if err := store.ResetRNGState(); err != nil {
		t.Fatal(err)
	}
	return store
}

// snapshot records a store's variables (order, trainable flag, value copies) to compare later.
type snapshot struct {
	paths     []string
	trainable []bool
	values    []*tensors.Tensor
}

func takeSnapshot(t testing.TB, store *model.Store) snapshot {
	t.Helper()
	var s snapshot
	for v := range store.IterVariables() {
		clone, err := v.MustValue().LocalClone()
		if err != nil {
			t.Fatal(err)
		}
		s.paths = append(s.paths, v.Path())
		s.trainable = append(s.trainable, v.Trainable)
		s.values = append(s.values, clone)
	}
	return s
}

// assertStoreEquals fails unless store holds exactly the variables of s.
func assertStoreEquals(t testing.TB, s snapshot, store *model.Store) {
	t.Helper()
	got := takeSnapshot(t, store)
	if !slices.Equal(got.paths, s.paths) {
		t.Fatalf("store variables %v, want %v", got.paths, s.paths)
	}
	for i, p := range s.paths {
		if got.trainable[i] != s.trainable[i] {
			t.Errorf("variable %q: trainable %v, want %v", p, got.trainable[i], s.trainable[i])
		}
		if !got.values[i].Equal(s.values[i]) {
			t.Errorf("variable %q: value %v, want %v", p, got.values[i], s.values[i])
		}
	}
}

var testMeta = map[string]json.RawMessage{"model": json.RawMessage(`"vqvae"`), "config": json.RawMessage(`{"lr":0.001}`)}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	saved := newTestStore(t, 3)
	before := time.Now().UTC().Add(-time.Second)
	path, err := Save(dir, 100, saved, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "ckpt-0000000100.ckpt"); path != want {
		t.Fatalf("Save returned %q, want %q", path, want)
	}
	want := takeSnapshot(t, saved)
	if !slices.Contains(want.paths, "/#rngState") || !slices.Contains(want.paths, "/global_step") {
		t.Fatalf("test store lacks RNG state or global step: %v", want.paths)
	}

	fresh := model.NewStore()
	header, err := Load(path, fresh)
	if err != nil {
		t.Fatal(err)
	}
	assertStoreEquals(t, want, fresh)
	if header.Step != 100 || header.Created.Before(before) || len(header.Variables) != len(want.paths) {
		t.Errorf("header step %d, created %v, %d variables", header.Step, header.Created, len(header.Variables))
	}
	if string(header.Meta["model"]) != `"vqvae"` || string(header.Meta["config"]) != `{"lr":0.001}` {
		t.Errorf("meta %s", header.Meta)
	}

	// Loading into a store that already has the variables (other values, other flags) sets them.
	existing := newTestStore(t, 5)
	existing.GetVariable("/vqae/codebook").SetTrainable(true)
	if _, err := Load(path, existing); err != nil {
		t.Fatal(err)
	}
	assertStoreEquals(t, want, existing)

	read, err := ReadHeader(path)
	if err != nil {
		t.Fatal(err)
	}
	if read.Step != 100 || !slices.EqualFunc(read.Variables, header.Variables, func(a, b VariableInfo) bool {
		return a.Path == b.Path && a.Offset == b.Offset && a.Length == b.Length && slices.Equal(a.Dims, b.Dims)
	}) {
		t.Errorf("ReadHeader = %+v, want %+v", read, header)
	}
}

func TestLoadKeepsVariablesTheCheckpointLacks(t *testing.T) {
	dir := t.TempDir()
	small := model.NewStore()
	if _, err := small.CreateVariable("/a", tensors.FromValue([]float32{1, 2})); err != nil {
		t.Fatal(err)
	}
	path, err := Save(dir, 1, small, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := newTestStore(t, 1)
	n := store.NumVariables()
	if _, err := Load(path, store); err != nil {
		t.Fatal(err)
	}
	if store.NumVariables() != n+1 || store.GetVariable("/vqae/enc/w") == nil {
		t.Errorf("store has %d variables, want the %d it had plus /a", store.NumVariables(), n)
	}
	if got := tensors.MustCopyFlatData[float32](store.GetVariable("/a").MustValue()); !slices.Equal(got, []float32{1, 2}) {
		t.Errorf("/a = %v", got)
	}
}

func TestLoadShapeMismatchLeavesStoreUntouched(t *testing.T) {
	path, err := Save(t.TempDir(), 7, newTestStore(t, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	store := newTestStore(t, 2)
	// A variable late in the file, so that assigning before validating everything would show.
	if err := store.DeleteVariable("/half"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateVariable("/half", tensors.FromValue([]float32{1, 2, 3})); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, store)
	_, err = Load(path, store)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"/half"`) {
		t.Fatalf("Load into a mismatching store: error %v, want one naming %s and the variable", err, path)
	}
	assertStoreEquals(t, before, store)
}

// failingWriter passes n bytes through, then fails.
type failingWriter struct {
	w io.Writer
	n int
}

var errInjected = errors.New("injected write failure")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		written, _ := f.w.Write(p[:f.n])
		f.n = 0
		return written, errInjected
	}
	f.n -= len(p)
	return f.w.Write(p)
}

func TestSaveFailureIsAtomic(t *testing.T) {
	dir := t.TempDir()
	old := newTestStore(t, 1)
	oldPath, err := Save(dir, 1, old, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := takeSnapshot(t, old)
	newer := newTestStore(t, 2)
	for _, step := range []int64{1, 2} { // Overwriting the same step, and writing a new one.
		for _, n := range []int{0, 10, 200, 900} {
			_, err := save(dir, step, newer, testMeta, nil, func(w io.Writer) io.Writer { return &failingWriter{w, n} })
			if !errors.Is(err, errInjected) {
				t.Fatalf("step %d, failure after %d bytes: error %v, want the injected one", step, n, err)
			}
			names := dirNames(t, dir)
			if !slices.Equal(names, []string{FileName(1)}) {
				t.Fatalf("step %d, failure after %d bytes: dir holds %v, want only the old checkpoint", step, n, names)
			}
			store := model.NewStore()
			if _, err := Load(oldPath, store); err != nil {
				t.Fatal(err)
			}
			assertStoreEquals(t, want, store)
		}
	}

	// A dir that cannot be created: its parent is a regular file.
	notDir := filepath.Join(dir, FileName(1))
	if _, err := Save(filepath.Join(notDir, "sub"), 3, newer, nil); err == nil {
		t.Fatal("Save under a regular file succeeded")
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{FileName(1)}) {
		t.Fatalf("dir holds %v", names)
	}
}

func TestSaveRejects(t *testing.T) {
	dir := t.TempDir()
	uninitialized := model.NewStore()
	uninitialized.VariableWithShape("/w", shapes.Make(dtypes.Float32, 1), nil)
	for name, run := range map[string]func() error{
		"negative step":          func() error { _, err := Save(dir, -1, newTestStore(t, 1), nil); return err },
		"nil store":              func() error { _, err := Save(dir, 1, nil, nil); return err },
		"variable without value": func() error { _, err := Save(dir, 1, uninitialized, nil); return err },
		"invalid meta JSON": func() error {
			_, err := Save(dir, 1, newTestStore(t, 1), map[string]json.RawMessage{"x": json.RawMessage("{")})
			return err
		},
	} {
		if err := run(); err == nil || !strings.Contains(err.Error(), "checkpoint: save "+dir) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("failed saves left %v", names)
	}
}

// validFile returns the bytes of a small valid checkpoint and its path.
func validFile(t testing.TB) (string, []byte) {
	t.Helper()
	path, err := Save(t.TempDir(), 100, newTestStore(t, 1), testMeta)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data
}

// assertLoadFails writes data to path and checks Load fails naming path, without panic and
// without touching a store that holds matching variables.
func assertLoadFails(t *testing.T, path string, data []byte, what string) error {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	store := newTestStore(t, 9)
	before := takeSnapshot(t, store)
	_, err := Load(path, store)
	if err == nil || !strings.HasPrefix(err.Error(), "checkpoint: "+path+": ") {
		t.Fatalf("%s: error %v, want one starting with %q", what, err, "checkpoint: "+path+": ")
	}
	assertStoreEquals(t, before, store)
	return err
}

func TestLoadCorruptFile(t *testing.T) {
	path, data := validFile(t)
	for n := range len(data) {
		assertLoadFails(t, path, data[:n], "truncated")
	}
	for i := range data {
		flipped := slices.Clone(data)
		flipped[i] ^= 0x10
		assertLoadFails(t, path, flipped, "flipped byte")
	}
	if err := assertLoadFails(t, path, data[:len(data)-1], "truncated by one"); !strings.Contains(err.Error(), "CRC32C") {
		t.Errorf("truncation error %v does not name the checksum", err)
	}
}

// craft builds a checkpoint file from a header edited by edit and its tensor data, with a
// correct checksum, so that the field checks behind the CRC are reached.
func craft(t *testing.T, edit func(h *Header, data []byte) []byte) []byte {
	t.Helper()
	path, file := validFile(t)
	h, tensorData, err := parse(path, file)
	if err != nil {
		t.Fatal(err)
	}
	tensorData = edit(h, slices.Clone(tensorData))
	headerJSON, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return withCRC(slices.Concat([]byte(Magic), le32(FormatVersion), le32(uint32(len(headerJSON))), headerJSON, tensorData))
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func withCRC(body []byte) []byte {
	return append(body, le32(crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))...)
}

func varIndex(h *Header, path string) int {
	return slices.IndexFunc(h.Variables, func(v VariableInfo) bool { return v.Path == path })
}

func TestLoadNamesTheField(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName(100))
	w := func(h *Header) *VariableInfo { return &h.Variables[varIndex(h, "/vqae/enc/w")] }
	keep := func(edit func(h *Header)) func(*Header, []byte) []byte {
		return func(h *Header, data []byte) []byte { edit(h); return data }
	}
	for _, tc := range []struct {
		file []byte
		want string
	}{
		{craft(t, keep(func(h *Header) { w(h).Dims = []int{2, 2} })),
			`variable "/vqae/enc/w": length 24 != 2·2 × 4 bytes (Float32) = 16`},
		{craft(t, keep(func(h *Header) { w(h).DType = "Float8" })), `variable "/vqae/enc/w": unknown dtype "Float8"`},
		{craft(t, keep(func(h *Header) { w(h).Dims = []int{-1, 6} })), `variable "/vqae/enc/w": dims[0] = -1`},
		{craft(t, keep(func(h *Header) { w(h).Dims = []int{1 << 30, 1 << 30, 1 << 30} })), "need more than the"},
		{craft(t, keep(func(h *Header) { w(h).Offset += 4 })), `variable "/vqae/enc/w": offset`},
		{craft(t, keep(func(h *Header) { w(h).Path = "vqae//w" })), `variable path "vqae//w" is not a clean absolute path`},
		{craft(t, keep(func(h *Header) { h.Variables[1].Path = h.Variables[0].Path })), "saved twice"},
		{craft(t, keep(func(h *Header) { h.Step = 5 })), "step 5 != 100 in the file name"},
		{craft(t, func(h *Header, data []byte) []byte { return append(data, 0) }), "tensor data is"},
		{craft(t, func(h *Header, data []byte) []byte {
			data[h.Variables[varIndex(h, "/flags")].Offset] = 2
			return data
		}), `variable "/flags": bool byte 2`},
		{withCRC(slices.Concat([]byte("QZOOCKPX"), le32(1), le32(0))), "not a qzoo checkpoint"},
		{withCRC(slices.Concat([]byte(Magic), le32(2), le32(0))), "format version 2 not supported"},
		{withCRC(slices.Concat([]byte(Magic), le32(1), le32(MaxHeaderLen+1))), "header length 67108865 > 67108864"},
		{withCRC(slices.Concat([]byte(Magic), le32(1), le32(100), []byte("{}"))), "header length 100 exceeds the file"},
		{withCRC(slices.Concat([]byte(Magic), le32(1), le32(4), []byte("{}{}"))), "data after the JSON object"},
		{withCRC(slices.Concat([]byte(Magic), le32(1), le32(3), []byte("{}}"))), "data after the JSON object"},
		{withCRC(slices.Concat([]byte(Magic), le32(1), le32(10), []byte(`{"steps":1}`)[:10])), "header: "},
	} {
		if err := assertLoadFails(t, path, tc.file, tc.want); !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q does not contain %q", err, tc.want)
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLatestAndList(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Latest(dir); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("Latest of an empty dir: %v, want ErrNoCheckpoint", err)
	}
	if _, _, err := Latest(filepath.Join(dir, "missing")); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("Latest of a missing dir: %v, want ErrNoCheckpoint", err)
	}
	// Legacy names (LegacyExt, "ckpt-7.qzc" unpadded too) count; of one step, the Ext file is the latest.
	for _, name := range []string{FileName(20), FileName(3), "ckpt-7.qzc", "ckpt-0000000020.qzc", ".ckpt-123.tmp", ".ckpt-0000000999.qzc",
		"ckpt-0000000500.qzc.tmp", "ckpt-0000000500.ckpt.tmp", "ckpt-99999999999999999999.qzc", "ckpt-8.ckpt.qzc", "notes.txt"} {
		touch(t, filepath.Join(dir, name))
	}
	if err := os.Mkdir(filepath.Join(dir, FileName(400)), 0o755); err != nil {
		t.Fatal(err)
	}
	path, step, err := Latest(dir)
	if err != nil || step != 20 || path != filepath.Join(dir, FileName(20)) {
		t.Errorf("Latest = %q, %d, %v; want %s, 20", path, step, err, FileName(20))
	}
	entries, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{filepath.Join(dir, FileName(3)), 3}, {filepath.Join(dir, "ckpt-7.qzc"), 7},
		{filepath.Join(dir, "ckpt-0000000020.qzc"), 20}, {filepath.Join(dir, FileName(20)), 20}}
	if !slices.Equal(entries, want) {
		t.Errorf("List = %v, want %v", entries, want)
	}
}

// TestLegacyExtension: a checkpoint named with LegacyExt (a run from before checkpoints had
// their own extension) loads, resumes as the latest, and is replaced by Save at its step.
func TestLegacyExtension(t *testing.T) {
	dir := t.TempDir()
	saved := newTestStore(t, 3)
	path, err := Save(dir, 100, saved, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(dir, "ckpt-0000000100.qzc")
	if err := os.Rename(path, legacy); err != nil {
		t.Fatal(err)
	}
	got, step, err := Latest(dir)
	if err != nil || got != legacy || step != 100 {
		t.Fatalf("Latest = %q, %d, %v; want the legacy file", got, step, err)
	}
	store := model.NewStore()
	if _, err := Load(legacy, store); err != nil {
		t.Fatal(err)
	}
	assertStoreEquals(t, takeSnapshot(t, saved), store)
	if _, err := Save(dir, 101, saved, testMeta); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{filepath.Base(legacy), FileName(101)}) {
		t.Fatalf("after saving step 101: %v", names)
	}
	if _, err := Save(dir, 100, saved, testMeta); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{FileName(100), FileName(101)}) {
		t.Fatalf("after saving step 100 again: %v, want the legacy file replaced", names)
	}
}

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	for step := range int64(5) {
		touch(t, filepath.Join(dir, FileName(step+1)))
	}
	touch(t, filepath.Join(dir, ".ckpt-1.tmp"))
	if err := Prune(dir, 0); err == nil {
		t.Error("Prune(keep=0) succeeded")
	}
	if err := Prune(dir, 2); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{".ckpt-1.tmp", FileName(4), FileName(5)}) {
		t.Errorf("after Prune(2): %v", names)
	}
	if err := Prune(dir, 10); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 3 {
		t.Errorf("Prune(10) of 2 checkpoints removed some: %v", names)
	}
}

// FuzzLoad checks that no input makes Load panic or change the store when it fails. Each
// input is also tried with its last 4 bytes replaced by a correct checksum, so that the
// fuzzer reaches the header and tensor checks behind the CRC.
func FuzzLoad(f *testing.F) {
	path, data := validFile(f)
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		inputs := [][]byte{data}
		if len(data) >= crcLen {
			inputs = append(inputs, withCRC(slices.Clone(data[:len(data)-crcLen])))
		}
		for _, input := range inputs {
			store := newTestStore(t, 9)
			before := takeSnapshot(t, store)
			if _, err := load(path, input, store); err != nil {
				assertStoreEquals(t, before, store)
			}
		}
	})
}
