package scripts

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestNotebooksScriptRefuses checks that notebooks.sh refuses what it cannot run before it looks
// for Jupyter or touches a notebook: executing notebooks in place is what go test ./notebooks/
// does (TestNotebooks), and committed notebooks are TestCommittedOutputs' concern.
func TestNotebooksScriptRefuses(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"no_such_notebook"}, "no notebook no_such_notebook.ipynb in notebooks/"},
		{[]string{"--timeout", "soon", "hello"}, "--timeout takes a number of seconds"},
		{[]string{"--timeout=-1", "hello"}, "--timeout takes a number of seconds"},
		{[]string{"--verbose"}, "unknown flag --verbose"},
	}
	for _, tt := range tests {
		output, err := exec.Command("bash", append([]string{"notebooks.sh"}, tt.args...)...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("notebooks.sh %q: %v, want exit status 1\n%s", tt.args, err, output)
		}
		if !strings.Contains(string(output), tt.want) {
			t.Errorf("notebooks.sh %q said %q, want %q", tt.args, output, tt.want)
		}
	}
	output, err := exec.Command("bash", "notebooks.sh", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(output), "scripts/notebooks.sh [--timeout SECONDS] [NAME...]") {
		t.Errorf("notebooks.sh --help: %v, want the usage\n%s", err, output)
	}
}
