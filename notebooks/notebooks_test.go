package notebooks

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	// cellTimeout bounds the execution of one cell (nbconvert's ExecutePreprocessor.timeout);
	// it is shortened to fit the deadline of `go test -timeout`.
	cellTimeout = 900 * time.Second

	// kernelName names the kernel spec the test writes into a private JUPYTER_PATH: GoNB with
	// --raw_error, whatever flags the user's own "gonb" kernel was installed with.
	kernelName = "qzoo-gonb-test"

	// notebookKernel is the kernel every notebook must declare in its metadata.
	notebookKernel = "gonb"

	installHint = "install the notebook tools with scripts/install-deps.sh (see README.md)"
)

// TestNotebooks executes every notebooks/*.ipynb headlessly with GoNB
// (`jupyter nbconvert --to notebook --execute`) and fails with the failing cell's outputs when
// a cell fails to compile, panics, exits non-zero or runs a shell command that fails, or when
// a cell runs past its timeout. A notebook of quickFlags runs shortened: the test executes a copy
// whose `%%` lines carry those flags (the notebook files are not modified).
// It needs Jupyter, nbconvert, GoNB, goimports and gopls; it fails, rather than skips, when
// they are missing, so that notebooks are never silently left untested.
func TestNotebooks(t *testing.T) {
	paths, err := filepath.Glob("*.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	paths = slices.DeleteFunc(paths, func(p string) bool { return strings.HasSuffix(p, ".nbconvert.ipynb") })
	if len(paths) == 0 {
		t.Fatal("notebooks: no *.ipynb found in notebooks/ (hello.ipynb at least should be there)")
	}
	runner := newRunner(t)
	for _, path := range paths {
		t.Run(strings.TrimSuffix(path, ".ipynb"), func(t *testing.T) {
			executed := runner.execute(t, path)
			if check, ok := expectedOutputs[path]; ok {
				check(t, executed)
			}
		})
	}
}

// quickSet shortens every training run of the tests: they check that a notebook executes end to
// end, not the numbers of a full run.
const quickSet = "steps=3;checkpoint_every=0"

// quickFlags are the flags the test puts on every `%%` line of a notebook, in place of the flags
// there (none in a committed notebook: its full run), so that it runs in a minute or two: a few
// training steps, a few points of a study, a temporary run directory ({dir}, replaced by a new
// directory per notebook). Each notebook's parameter cell declares these flags and says what they
// mean; the long ones are the command lines' (go run ./study NAME --dir --points --set, go run
// ./train --checkpoint --set). A notebook without an entry runs as committed.
var quickFlags = map[string]string{
	"codebook_sweep.ipynb":  "--dir={dir} --set=" + quickSet + ";eval_examples=500",
	"scaling_latents.ipynb": "--dir={dir} --points=simvq_k1024,qlae_d5_v4,binary_d10 --set=" + quickSet + ";eval_examples=500",
	// 4 calibration batches of 4 windows of 64 tokens: 1024 vectors per layer, enough for RVQ's 256
	// codewords; 4 windows of the model's own stories (2,048 tokens, half of them held out).
	"kv_cache.ipynb": "--dir={dir} --points=fp32,kivi_4,kvquant_3,rvq_2,kvquant_ablation_3_0" +
		" --set=" + quickSet + ";eval_examples=4;text_seq_len=64;kv_calibration_batches=4;batch_size=4 --windows=4 --sentences=1",
	"llm_quantization.ipynb": "--dir={dir} --points=trained/base,trained/full_finetune,trained/lora,trained/qlora,base_own_stories" +
		" --set=" + quickSet + ";batch_size=4;eval_examples=16;text_seq_len=128;ptq_calibration_batches=1 --samples=12",
	// The three smallest members and their integer sweep: enough sizes for a law per precision.
	"scaling_weights.ipynb": "--dir={dir} --points=f57k,f108k,f215k,ptq_int/57k,ptq_int/108k,ptq_int/215k" +
		" --set=" + quickSet + ";batch_size=4;eval_examples=16 --samples=12 --replicates=100",
	// The smallest member's 2-bit point of every method.
	"scaling_distill.ipynb": "--dir={dir} --variants=57k --points=family/f57k,train_32,rtn_2,qat_2,kl_2,topk_kl_2" +
		" --set=" + quickSet + ";batch_size=2;eval_examples=16;text_seq_len=128;ptq_calibration_batches=1 --samples=12",
	"climate_codec.ipynb": "--checkpoint={dir} --set=steps=100;warmup_steps=10;checkpoint_every=0;eval_examples=500",
	// The teacher and one 12.5 Hz tokenizer, two clips, no pocketsphinx.
	"speech_tokenizer.ipynb": "--dir={dir} --set=" + quickSet + ";eval_examples=500 --tokenizers=tok_12_5hz_quick --clips=2 --no_wer",
}

// expectedOutputs checks, beyond "no cell failed", what some notebooks must produce.
var expectedOutputs = map[string]func(t *testing.T, executed *notebook){
	// llm_quantization.ipynb prints the study's table (a row per quick run) and draws the figure.
	"llm_quantization.ipynb": printsAndShows("llm_quantization.ipynb", 1,
		"| shakespeare | base |", "| shakespeare | qlora |", "| own stories | base |"),
	// scaling_distill.ipynb prints the distillation study's table (the smallest member's 2-bit
	// point of every method after 3 steps, labelled by the distill_scaling report of
	// models/llama) and draws the figure.
	"scaling_distill.ipynb": printsAndShows("scaling_distill.ipynb", 1,
		"| 57k | 2 | ptq |", "| 57k | 2 | qat |", "| 57k | 2 | qat+kl |", "| 57k | 2 | qat+topk_kl |", "| 57k | 32 | fp32 |", "| 57k | 32 | fp32+train |"),
	// scaling_latents.ipynb prints the latent study's table (a row per quick run, labelled by the
	// latent_scaling report of models/vqae) and draws PSNR against bits per image.
	"scaling_latents.ipynb": printsAndShows("scaling_latents.ipynb", 1,
		"| simvq | 16 | 490 |", "| qlae | 5 | 490 |", "| binary | 10 | 490 |"),
	// scaling_weights.ipynb prints the weights study's table, laws and optimal precisions (the
	// bit_scaling analysis of models/llama), the best precision at each fp32 model's bits
	// (laws.Optimal), and draws the figure.
	"scaling_weights.ipynb": printsAndShows("scaling_weights.ipynb", 1,
		"| size | precision | block |", "Laws perplexity = c + a·bits^(−α)", "| budget (Mbit) |", "At the bits of each fp32 model:"),
	// kv_cache.ipynb prints the key/value-cache study's table (a row per quick run, labelled by
	// the kv_cache report of models/llama) and draws the figure.
	"kv_cache.ipynb": printsAndShows("kv_cache.ipynb", 1,
		"| fp32 | 32 |", "| KIVI (fp16 window 32–63) 4-bit | 4 |", "| KVQuant 3-bit | 3 |",
		"| RVQ 2-bit | 2 |", "| KVQuant 3-bit ablation: uniform, per-token keys | 3 |"),
	// climate_codec.ipynb trains the codec, codes a held-out day through the bitstream (maps),
	// and compares it with its peers on the held-out week (rate–distortion figure).
	"climate_codec.ipynb": printsAndShows("climate_codec.ipynb", 2,
		"held-out week:", "payload vs the model's estimated bits", "RMSE", "; best peer "),
	// speech_tokenizer.ipynb trains the teacher and a 12.5 Hz tokenizer for a few steps, prints
	// the study's table (the tokenizer, its semantic stream alone and every peer on the held-out
	// clips, with the teacher's phoneme error rate on each) with the goal check,
	// draws quality against bit rate and the spectrograms of a held-out clip and its
	// reconstructions, and shows audio players (the original, two peers, the tokenizer).
	"speech_tokenizer.ipynb": func(t *testing.T, executed *notebook) {
		printsAndShows("speech_tokenizer.ipynb", 2, "tok_12_5hz_quick.json: 3 steps", "| tok_12_5hz_quick |", "| tok_12_5hz_quick-semantic |", "| codec2-700C | 8", "PER: the tokenizer's frozen teacher",
			"| opus-12k |", "| original-4kHz |", "- tok_12_5hz_quick at ", "held-out clip librivox-0880")(t, executed)
		if n := executed.countData("text/html"); n < 4 {
			t.Errorf("speech_tokenizer.ipynb showed %d HTML outputs (audio players), want at least 4", n)
		}
	},
	// hello.ipynb proves the setup: importing qzoo from this checkout, and inline images.
	"hello.ipynb": printsAndShows("hello.ipynb", 1, "hyperparameters: [demo_batch_size demo_learning_rate]"),
}

// printsAndShows checks that an executed notebook printed every one of wants and displayed
// exactly pngs PNG images.
func printsAndShows(name string, pngs int, wants ...string) func(t *testing.T, executed *notebook) {
	return func(t *testing.T, executed *notebook) {
		text := executed.allText()
		for _, want := range wants {
			if !strings.Contains(text, want) {
				t.Errorf("%s printed no %q:\n%s", name, want, text)
			}
		}
		if n := executed.countData("image/png"); n != pngs {
			t.Errorf("%s displayed %d PNG images, want %d", name, n, pngs)
		}
	}
}

// awaitingRuns are the notebooks committed without outputs, each with what executing it in full
// costs: their runs were not stored where the notebooks were last executed, and training them
// takes too long to do in passing. notebooks/README.md gives their commands; execute one with
// scripts/notebooks.sh NAME, commit it and take it off this list.
var awaitingRuns = map[string]string{}

// readmeFigures are the figures of the repository's README that a committed notebook draws with
// the same code (the study's report, plots): the notebook's PNG is that file, byte for byte.
var readmeFigures = map[string]string{
	"codebook_sweep.ipynb":   "../figures/codebook_sweep.png",
	"kv_cache.ipynb":         "../figures/kv_cache.png",
	"llm_quantization.ipynb": "../figures/llm_bits.png",
	"scaling_distill.ipynb":  "../figures/distill_scaling.png",
	"scaling_weights.ipynb":  "../figures/scaling_weights.png",
	"scaling_latents.ipynb":  "../figures/latent_scaling.png",
}

// TestCommittedOutputs checks that every committed notebook shows its results on a code host:
// executed in full by scripts/notebooks.sh, every code cell run, no cell failed, every cell that
// draws a figure holding a PNG (and the README's figure, where it is one); or it is one of
// awaitingRuns, with no outputs at all. Every committed %% line is bare: a notebook's default
// is its full run. It reads the files only; TestNotebooks executes them.
func TestCommittedOutputs(t *testing.T) {
	paths, err := filepath.Glob("*.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	paths = slices.DeleteFunc(paths, func(p string) bool { return strings.HasSuffix(p, ".nbconvert.ipynb") })
	for name := range awaitingRuns {
		if !slices.Contains(paths, name) {
			t.Errorf("awaitingRuns names %s, which is not in notebooks/", name)
		}
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(path, ".ipynb"), func(t *testing.T) {
			nb, err := readNotebook(path)
			if err != nil {
				t.Fatal(err)
			}
			outputs := 0
			for i, c := range nb.Cells {
				outputs += len(c.Outputs)
				for line := range strings.Lines(string(c.Source)) {
					if c.CellType == "code" && isMainLine(line) && strings.TrimSpace(line) != "%%" {
						t.Errorf("%s: cell %d runs %q: a committed notebook is the full run, its %%%% lines without flags", path, i, strings.TrimSpace(line))
					}
				}
			}
			if cost, ok := awaitingRuns[path]; ok {
				if outputs > 0 {
					t.Errorf("%s has outputs but is listed as awaiting its runs (%s): take it off awaitingRuns", path, cost)
				}
				return
			}
			if outputs == 0 {
				t.Fatalf("%s has no outputs: execute it with scripts/notebooks.sh %s and commit it, or list it in awaitingRuns with what its runs cost",
					path, strings.TrimSuffix(path, ".ipynb"))
			}
			for _, problem := range nb.problems() {
				t.Errorf("%s: %s", path, problem)
			}
			for i, c := range nb.Cells {
				if c.CellType != "code" {
					continue
				}
				if c.ExecutionCount == nil {
					t.Errorf("%s: cell %d (%s) was not executed: execute the whole notebook", path, i, firstLine(string(c.Source)))
				}
				if draws.MatchString(string(c.Source)) && !slices.ContainsFunc(c.Outputs, func(o output) bool { return o.Data["image/png"] != "" }) {
					t.Errorf("%s: cell %d (%s) draws a figure but holds no PNG", path, i, firstLine(string(c.Source)))
				}
			}
			if figure, ok := readmeFigures[path]; ok {
				want, err := os.ReadFile(figure)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(nb.pngs(), func(png []byte) bool { return bytes.Equal(png, want) }) {
					t.Errorf("%s shows no PNG equal to %s, the README's figure: redraw one or the other from the same runs (scripts/notebooks.sh %s)",
						path, figure, strings.TrimSuffix(path, ".ipynb"))
				}
			}
		})
	}
}

// draws matches the code of a cell that displays a figure: plots' Figure.Show, gonbui.DisplayPNG.
var draws = regexp.MustCompile(`\.Show\(|DisplayPNG\(`)

// runner executes notebooks with a private GoNB kernel spec.
type runner struct {
	jupyter string   // the jupyter command, with nbconvert
	env     []string // environment of jupyter and the kernel
}

// newRunner finds jupyter, gonb, goimports and gopls, and writes a kernel spec for GoNB into a
// private Jupyter data directory.
func newRunner(t *testing.T) *runner {
	jupyter, err := findJupyter()
	if err != nil {
		t.Fatalf("notebooks: %v; %s", err, installHint)
	}
	binDir, err := goBinDir()
	if err != nil {
		t.Fatalf("notebooks: %v", err)
	}
	tools := map[string]string{}
	for _, name := range []string{"gonb", "goimports", "gopls"} {
		tools[name], err = findTool(binDir, name)
		if err != nil {
			t.Fatalf("notebooks: %v; %s", err, installHint)
		}
	}
	version, err := exec.Command(tools["gonb"], "-V").Output()
	if err != nil {
		t.Fatalf("notebooks: %s -V: %v; %s", tools["gonb"], err, installHint)
	}
	t.Logf("jupyter: %s, GoNB %s: %s", jupyter, strings.TrimSpace(string(version)), tools["gonb"])

	jupyterPath := t.TempDir()
	kernelDir := filepath.Join(jupyterPath, "kernels", kernelName)
	spec := map[string]any{
		// GoNB logs to stderr, into nbconvert's output, which the test shows when nbconvert fails.
		"argv":           []string{tools["gonb"], "--kernel", "{connection_file}", "--raw_error"},
		"display_name":   "Go (gonb, qzoo notebook test)",
		"language":       "go",
		"interrupt_mode": "message",
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(kernelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kernelDir, "kernel.json"), specJSON, 0o644); err != nil {
		t.Fatal(err)
	}

	// The kernel runs goimports and gopls from PATH, and `go` with the project's toolchain.
	pathList := []string{filepath.Dir(tools["goimports"]), filepath.Dir(tools["gopls"]), os.Getenv("PATH")}
	if old := os.Getenv("JUPYTER_PATH"); old != "" {
		jupyterPath += string(os.PathListSeparator) + old
	}
	env := append(os.Environ(),
		"PATH="+strings.Join(pathList, string(os.PathListSeparator)),
		"JUPYTER_PATH="+jupyterPath,
		"GOTOOLCHAIN="+toolchainName(), // the toolchain running this test, i.e. go.mod's
	)
	return &runner{jupyter: jupyter, env: env}
}

// execute runs the notebook at path (relative to this directory) and returns the executed
// notebook; it fails t with the outputs of each failed cell.
func (r *runner) execute(t *testing.T, path string) *notebook {
	source, err := readNotebook(path)
	if err != nil {
		t.Fatal(err)
	}
	if kernel := source.Metadata.KernelSpec.Name; kernel != notebookKernel {
		t.Fatalf("notebooks: %s declares kernel %q, want %q (GoNB)", path, kernel, notebookKernel)
	}

	timeout := cellTimeout
	ctx := t.Context()
	if deadline, ok := t.Deadline(); ok {
		// Leave nbconvert time to interrupt a cell and report, before `go test` panics.
		left := time.Until(deadline) - time.Minute
		if left <= 0 {
			t.Fatalf("notebooks: no time left to run %s before the go test deadline: raise -timeout", path)
		}
		timeout = min(timeout, left)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, left+30*time.Second)
		defer cancel()
	}

	input, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if flags, ok := quickFlags[path]; ok {
		flags = strings.ReplaceAll(flags, "{dir}", t.TempDir())
		if input, err = withFlags(input, flags); err != nil {
			t.Fatalf("notebooks: %s: %v", path, err)
		}
		t.Logf("%s: every %%%% line given %s", path, flags)
	}

	outDir := t.TempDir()
	// --allow-errors: nbconvert then writes the executed notebook even when a cell fails, with
	// what the cell printed (a panic's message and stack); problems() finds the failure there.
	// --stdin: the notebook, rewritten or not, comes on stdin; the kernel then starts in
	// nbconvert's working directory, this one, where the notebook's relative paths start.
	cmd := exec.CommandContext(ctx, r.jupyter, "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
		fmt.Sprintf("--ExecutePreprocessor.timeout=%d", int(timeout.Seconds())),
		"--ExecutePreprocessor.kernel_name="+kernelName,
		"--stdin", "--output", strings.TrimSuffix(filepath.Base(path), ".ipynb"), "--output-dir", outDir)
	cmd.Stdin = bytes.NewReader(input)
	cmd.Env = r.env
	// SIGINT lets nbconvert shut its kernel down; SIGKILL follows if it does not exit.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output

	start := time.Now()
	err = cmd.Run()
	t.Logf("%s: executed in %.1fs", path, time.Since(start).Seconds())
	if err != nil {
		t.Fatalf("notebooks: %s failed (%v):\n%s", path, err, nbconvertFailure(output.String()))
	}
	executed, err := readNotebook(filepath.Join(outDir, filepath.Base(path)))
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range executed.problems() {
		t.Errorf("notebooks: %s: %s", path, problem)
	}
	return executed
}

// withFlags returns the notebook data with every `%%` line of its code cells (GoNB's main
// function, whose words are the program's arguments) replaced by `%% flags`. It fails when the
// notebook has no such line: the flags would be silently dropped.
func withFlags(data []byte, flags string) ([]byte, error) {
	var nb map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&nb); err != nil {
		return nil, fmt.Errorf("parsing notebook: %w", err)
	}
	cells, _ := nb["cells"].([]any)
	rewritten := 0
	for _, c := range cells {
		cell, _ := c.(map[string]any)
		if cell["cell_type"] != "code" {
			continue
		}
		var source string
		switch s := cell["source"].(type) {
		case string:
			source = s
		case []any:
			for _, line := range s {
				l, _ := line.(string)
				source += l
			}
		}
		lines := strings.SplitAfter(source, "\n")
		for i, line := range lines {
			if isMainLine(line) {
				lines[i] = "%% " + flags + line[len(strings.TrimRight(line, "\n")):]
				rewritten++
			}
		}
		cell["source"] = lines
	}
	if rewritten == 0 {
		return nil, fmt.Errorf("no %%%% line to give the flags %q to", flags)
	}
	return json.Marshal(nb)
}

// isMainLine reports whether a line of a code cell is GoNB's `%%` (the start of a main function,
// the rest of the line its program's arguments).
func isMainLine(line string) bool {
	line = strings.TrimSpace(line)
	return line == "%%" || strings.HasPrefix(line, "%% ") || strings.HasPrefix(line, "%%\t")
}

// findJupyter returns a jupyter command whose nbconvert works. Debian's /usr/bin/jupyter comes
// first: the first jupyter on PATH may belong to another Python (pyenv, venv) without nbconvert.
func findJupyter() (string, error) {
	candidates := []string{"/usr/bin/jupyter"}
	if onPath, err := exec.LookPath("jupyter"); err == nil {
		candidates = append(candidates, onPath)
	}
	var errs []error
	for _, jupyter := range candidates {
		if out, err := exec.Command(jupyter, "nbconvert", "--version").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s nbconvert --version: %w: %s", jupyter, err, bytes.TrimSpace(out)))
			continue
		}
		return jupyter, nil
	}
	return "", fmt.Errorf("no jupyter with nbconvert found: %w", errors.Join(errs...))
}

// goBinDir returns the directory `go install` writes to.
func goBinDir() (string, error) {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOBIN GOPATH: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) == 2 && strings.TrimSpace(lines[0]) != "" {
		return strings.TrimSpace(lines[0]), nil
	}
	gopath := filepath.SplitList(strings.TrimSpace(lines[len(lines)-1]))
	if len(gopath) == 0 {
		return "", fmt.Errorf("go env reports neither GOBIN nor GOPATH")
	}
	return filepath.Join(gopath[0], "bin"), nil
}

// findTool looks for the command name in binDir, then on PATH.
func findTool(binDir, name string) (string, error) {
	inBin := filepath.Join(binDir, name)
	if info, err := os.Stat(inBin); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
		return inBin, nil
	}
	if onPath, err := exec.LookPath(name); err == nil {
		return onPath, nil
	}
	return "", fmt.Errorf("%s not found in %s nor on PATH", name, binDir)
}

// nbconvertFailure extracts from the output of a failed nbconvert the exception nbclient raised
// (e.g. CellTimeoutError, with the cell's source); failing that (the kernel did not start, ...) it
// returns the end of the output.
func nbconvertFailure(output string) string {
	const marker = "nbclient.exceptions."
	if i := strings.LastIndex(output, marker); i >= 0 {
		return output[i+len(marker):]
	}
	return lastLines(output, 60)
}

// lastLines returns the last n lines of text, marking the cut with "[...]".
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"[...]"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// notebook is the part of the nbformat 4 schema the test reads.
type notebook struct {
	Cells    []cell `json:"cells"`
	Metadata struct {
		KernelSpec struct {
			Name string `json:"name"`
		} `json:"kernelspec"`
	} `json:"metadata"`
}

type cell struct {
	CellType       string    `json:"cell_type"`
	Source         multiline `json:"source"`
	ExecutionCount *int      `json:"execution_count"` // code cells: null until executed
	Outputs        []output  `json:"outputs"`
}

type output struct {
	OutputType string               `json:"output_type"` // stream, display_data, execute_result or error
	Name       string               `json:"name"`        // stream: stdout or stderr
	Text       multiline            `json:"text"`        // stream
	Data       map[string]multiline `json:"data"`        // display_data, execute_result: by MIME type
	EName      string               `json:"ename"`       // error
	EValue     string               `json:"evalue"`      // error
	Traceback  []string             `json:"traceback"`   // error
}

// multiline is an nbformat text field: a string or a list of lines. Other JSON values (e.g.
// application/json data) decode as "".
type multiline string

func (m *multiline) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*m = multiline(s)
		return nil
	}
	var lines []string
	if err := json.Unmarshal(data, &lines); err == nil {
		*m = multiline(strings.Join(lines, ""))
		return nil
	}
	*m = ""
	return nil
}

func readNotebook(path string) (*notebook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notebooks: reading notebook: %w", err)
	}
	var nb notebook
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, fmt.Errorf("notebooks: parsing notebook %s: %w", path, err)
	}
	return &nb, nil
}

var (
	// GoNB reports a failed shell command (!cmd) on stderr as "exit status N", without failing
	// the cell.
	shellFailure = regexp.MustCompile(`(?m)^exit status \d+\s*$`)
	// A Go compiler error on GoNB's generated main.go: what a kernel installed without
	// --raw_error shows as HTML instead of failing the cell.
	compileError = regexp.MustCompile(`main\.go:\d+:\d+: `)
	// Terminal colors in GoNB's messages.
	ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*m`)
)

// maxReportLines bounds what problems reports of one failed cell (its last lines).
const maxReportLines = 80

// problems reports each code cell of an executed notebook that failed (an error output, a
// failed shell command, a compiler error), with the cell's outputs.
func (nb *notebook) problems() []string {
	var problems []string
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		failed := false
		var report []string
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				failed = true
				report = append(report, o.EName+": "+o.EValue)
				if len(o.Traceback) > 0 && !(len(o.Traceback) == 1 && o.Traceback[0] == o.EValue) {
					report = append(report, o.Traceback...)
				}
				continue
			}
			if o.OutputType == "stream" && o.Name == "stderr" && shellFailure.MatchString(string(o.Text)) {
				failed = true
			}
			for _, text := range o.texts() {
				failed = failed || compileError.MatchString(text)
				report = append(report, text)
			}
		}
		if !failed {
			continue
		}
		lines := strings.Split(ansiEscape.ReplaceAllString(strings.Join(report, "\n"), ""), "\n")
		lines = slices.DeleteFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "" })
		if len(lines) > maxReportLines {
			lines = append([]string{"[...]"}, lines[len(lines)-maxReportLines:]...)
		}
		problems = append(problems, fmt.Sprintf("cell %d (%s) failed:\n%s", i, firstLine(string(c.Source)),
			strings.Join(lines, "\n")))
	}
	return problems
}

// texts returns the textual content of a stream, display_data or execute_result output.
func (o *output) texts() []string {
	var texts []string
	if o.Text != "" {
		texts = append(texts, string(o.Text))
	}
	for _, mime := range slices.Sorted(maps.Keys(o.Data)) {
		if strings.HasPrefix(mime, "text/") {
			texts = append(texts, string(o.Data[mime]))
		}
	}
	return texts
}

// allText concatenates the stream outputs of all cells.
func (nb *notebook) allText() string {
	var sb strings.Builder
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			sb.WriteString(string(o.Text))
		}
	}
	return sb.String()
}

// countData counts the outputs that carry data of the given MIME type.
func (nb *notebook) countData(mime string) int {
	n := 0
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if _, ok := o.Data[mime]; ok {
				n++
			}
		}
	}
	return n
}

// pngs returns the PNG images the notebook's outputs hold, decoded (undecodable ones are skipped).
func (nb *notebook) pngs() [][]byte {
	var pngs [][]byte
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if data, ok := o.Data["image/png"]; ok {
				if png, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(data), "\n", "")); err == nil {
					pngs = append(pngs, png)
				}
			}
		}
	}
	return pngs
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	const maxLen = 60
	if len(line) > maxLen {
		line = line[:maxLen] + "..."
	}
	return line
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name    string
		outputs string // JSON list of one cell's outputs
		want    []string
	}{
		{"clean", `[
			{"output_type": "stream", "name": "stdout", "text": ["a\n", "exit status 1\n"]},
			{"output_type": "stream", "name": "stderr", "text": "warning: slow\n"},
			{"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "application/json": {"a": 1}}, "metadata": {}}
		]`, nil},
		{"panic", `[
			{"output_type": "stream", "name": "stdout", "text": ["step 1\n"]},
			{"output_type": "stream", "name": "stderr", "text": ["panic: boom\n", "\n", "main.main()\n", "\t \u001b[7m[[ Cell [2] Line 2 ]]\u001b[0m\n", "exit status 2\n"]},
			{"output_type": "error", "ename": "ERROR", "evalue": "exit status 2", "traceback": ["exit status 2"]}
		]`, []string{"cell 0 (%%) failed:\nstep 1\npanic: boom\nmain.main()\n\t [[ Cell [2] Line 2 ]]\nexit status 2\nERROR: exit status 2"}},
		{"compile error", `[{"output_type": "error", "ename": "ERROR", "evalue": "./main.go:10:6: undefined: y\n",
			"traceback": ["Cell[2]: Line 2", "undefined: y"]}]`,
			[]string{"cell 0 (%%) failed:\nERROR: ./main.go:10:6: undefined: y\nCell[2]: Line 2\nundefined: y"}},
		{"failed shell command", `[{"output_type": "stream", "name": "stderr", "text": ["exit status 1\n"]}]`,
			[]string{"cell 0 (%%) failed:\nexit status 1"}},
		{"compile error as HTML", `[{"output_type": "display_data", "metadata": {},
			"data": {"text/html": "<pre>./main.go:10:6: undefined: x</pre>"}}]`,
			[]string{"cell 0 (%%) failed:\n<pre>./main.go:10:6: undefined: x</pre>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := `{"metadata": {"kernelspec": {"name": "gonb"}}, "cells": [
				{"cell_type": "code", "source": ["%%\n", "x := 1"], "outputs": ` + tt.outputs + `},
				{"cell_type": "markdown", "source": "main.go:1:1: in prose is fine"}]}`
			var nb notebook
			if err := json.Unmarshal([]byte(data), &nb); err != nil {
				t.Fatal(err)
			}
			if got := nb.problems(); !slices.Equal(got, tt.want) {
				t.Errorf("problems() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestNbconvertFailure(t *testing.T) {
	output := "I1126 kernel log\nTraceback (most recent call last):\n  File \"x.py\"\n" +
		"nbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed, after 19 seconds.\n" +
		"-------------------\n%%\ntime.Sleep(time.Hour)\n-------------------\n"
	want := "CellTimeoutError: A cell timed out while it was being executed, after 19 seconds.\n" +
		"-------------------\n%%\ntime.Sleep(time.Hour)\n-------------------\n"
	if got := nbconvertFailure(output); got != want {
		t.Errorf("nbconvertFailure() = %q, want %q", got, want)
	}

	var long strings.Builder
	for i := range 100 {
		fmt.Fprintf(&long, "line %d\n", i)
	}
	got := nbconvertFailure(long.String())
	if !strings.HasPrefix(got, "[...]\nline 40\n") || !strings.HasSuffix(got, "line 99") {
		t.Errorf("nbconvertFailure() without a cell error = %q, want the last 60 lines", got)
	}
}

// toolchainName is the name of the Go toolchain running the test, e.g. "go1.27.3", without
// the experiments runtime.Version appends ("go1.27.3-X:simd" with GOEXPERIMENT=simd), which
// GOTOOLCHAIN does not accept.
func toolchainName() string {
	v := runtime.Version()
	if i := strings.IndexAny(v, " -"); i >= 0 {
		v = v[:i]
	}
	return v
}

func TestWithFlags(t *testing.T) {
	data := `{"metadata": {"kernelspec": {"name": "gonb"}}, "nbformat": 4, "cells": [
		{"cell_type": "markdown", "source": "%%\n"},
		{"cell_type": "code", "execution_count": null, "source": ["var x = flag.Int(\"x\", 0, \"\")\n", "\n", "%%\n", "fmt.Println(*x) // %% stays\n"]},
		{"cell_type": "code", "execution_count": 3, "source": "%% --x=1"},
		{"cell_type": "code", "source": "%%writefile f.txt\nhello"}]}`
	got, err := withFlags([]byte(data), "--x=2 --set=a=1;b=2")
	if err != nil {
		t.Fatal(err)
	}
	var nb notebook
	if err := json.Unmarshal(got, &nb); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"%%\n",
		"var x = flag.Int(\"x\", 0, \"\")\n\n%% --x=2 --set=a=1;b=2\nfmt.Println(*x) // %% stays\n",
		"%% --x=2 --set=a=1;b=2",
		"%%writefile f.txt\nhello",
	}
	for i, c := range nb.Cells {
		if string(c.Source) != want[i] {
			t.Errorf("cell %d source = %q, want %q", i, c.Source, want[i])
		}
	}
	if nb.Cells[2].ExecutionCount == nil || *nb.Cells[2].ExecutionCount != 3 {
		t.Errorf("cell 2 execution_count = %v, want 3 (numbers kept)", nb.Cells[2].ExecutionCount)
	}

	if _, err := withFlags([]byte(`{"cells": [{"cell_type": "code", "source": "fmt.Println()"}]}`), "--x=2"); err == nil {
		t.Error("withFlags of a notebook without a %% line: no error")
	}
}
