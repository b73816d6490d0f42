package docker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/mod/modfile"

	"github.com/qzoo/qzoo/framework"
)

// dockerfiles are the files this package tests, relative to this directory.
var dockerfiles = []string{"Dockerfile", "Dockerfile.cuda"}

// offlineImages answers BuildKit's base-image lookups without a registry: every image has the
// configuration of a plain Linux image, whose environment only sets PATH.
type offlineImages struct{}

func (offlineImages) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := []byte(`{"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}`)
	return ref, digest.FromBytes(config), config, nil
}

// lint runs BuildKit's Dockerfile checks, the ones `docker build --check` runs, and returns
// each warning (with the offending lines) and the error that would stop a build.
func lint(ctx context.Context, name string, dockerfile []byte) ([]string, error) {
	results, err := dockerfile2llb.DockerfileLint(ctx, dockerfile, dockerfile2llb.ConvertOpt{
		SourceMap:    &llb.SourceMap{Filename: name, Language: "Dockerfile", Data: dockerfile, Definition: &llb.Definition{}},
		MetaResolver: offlineImages{},
	})
	if err != nil {
		return nil, fmt.Errorf("docker: linting %s: %w", name, err)
	}
	var warnings []string
	for _, w := range results.Warnings {
		var text bytes.Buffer
		if err := w.PrintTo(&text, results.Sources, nil); err != nil {
			return nil, fmt.Errorf("docker: printing lint warning %s for %s: %w", w.RuleName, name, err)
		}
		warnings = append(warnings, strings.TrimSpace(text.String()))
	}
	if results.Error != nil {
		return warnings, fmt.Errorf("docker: %s does not build: %s", name, results.Error.Message)
	}
	return warnings, nil
}

func TestLint(t *testing.T) {
	for _, name := range dockerfiles {
		t.Run(name, func(t *testing.T) {
			dockerfile, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			warnings, err := lint(t.Context(), name, dockerfile)
			for _, w := range warnings {
				t.Errorf("%s", w)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// TestLintCatches makes sure the offline linter runs BuildKit's full rule set, not only the
// checks of the parser.
func TestLintCatches(t *testing.T) {
	bad := []byte("from debian:bookworm\nENV A=$UNDEFINED_VARIABLE\nWORKDIR relative\nCMD echo hello\n")
	warnings, err := lint(t.Context(), "Dockerfile.bad", bad)
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{"ConsistentInstructionCasing", "UndefinedVar", "WorkdirRelativePath", "JSONArgsRecommended"} {
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "WARNING: "+rule) }) {
			t.Errorf("lint(bad Dockerfile) did not report %s; warnings:\n%s", rule, strings.Join(warnings, "\n"))
		}
	}

	if _, err := lint(t.Context(), "Dockerfile.broken", []byte("FROM debian:bookworm\nRUNN true\n")); err == nil {
		t.Error("lint(Dockerfile with an unknown instruction) returned no error")
	}
}

// stage parses a single-stage Dockerfile.
func stage(t *testing.T, name string) (instructions.Stage, []instructions.ArgCommand) {
	t.Helper()
	dockerfile, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	ast, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		t.Fatalf("docker: parsing %s: %v", name, err)
	}
	stages, metaArgs, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatalf("docker: parsing %s: %v", name, err)
	}
	if len(stages) != 1 {
		t.Fatalf("docker: %s has %d stages, want 1", name, len(stages))
	}
	return stages[0], metaArgs
}

// argDefaults returns the default values of the stage's ARGs.
func argDefaults(args []instructions.ArgCommand, s instructions.Stage) map[string]string {
	defaults := map[string]string{}
	for _, c := range s.Commands {
		if arg, ok := c.(*instructions.ArgCommand); ok {
			args = append(args, *arg)
		}
	}
	for _, arg := range args {
		for _, kv := range arg.Args {
			if kv.Value != nil {
				defaults[kv.Key] = *kv.Value
			}
		}
	}
	return defaults
}

// envs returns the stage's ENV settings.
func envs(s instructions.Stage) map[string]string {
	env := map[string]string{}
	for _, c := range s.Commands {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				env[kv.Key] = kv.Value
			}
		}
	}
	return env
}

// runs returns the shell command lines of the stage's RUN instructions.
func runs(s instructions.Stage) []string {
	var lines []string
	for _, c := range s.Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			lines = append(lines, strings.Join(r.CmdLine, " "))
		}
	}
	return lines
}

// exposedAndCmd returns the ports the stage exposes and its CMD.
func exposedAndCmd(s instructions.Stage) (ports, cmd []string) {
	for _, c := range s.Commands {
		switch c := c.(type) {
		case *instructions.ExposeCommand:
			ports = append(ports, c.Ports...)
		case *instructions.CmdCommand:
			cmd = c.CmdLine
		}
	}
	return ports, cmd
}

// projectVersions reads the Go toolchain and GoNB's version qzoo pins in go.mod.
func projectVersions(t *testing.T) (toolchain, gonbVersion string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatalf("docker: parsing go.mod: %v", err)
	}
	if mod.Toolchain == nil {
		t.Fatal("docker: go.mod has no toolchain directive")
	}
	for _, r := range mod.Require {
		if r.Mod.Path == "github.com/janpfeifer/gonb" {
			gonbVersion = r.Mod.Version
		}
	}
	if gonbVersion == "" {
		t.Fatal("docker: go.mod does not require github.com/janpfeifer/gonb")
	}
	return mod.Toolchain.Name, gonbVersion
}

// TestImageSetup checks that the notebook image sets qzoo up as README.md does, by running
// scripts/install-deps.sh, and with the Go toolchain and GoNB version go.mod pins. The Go tarball
// only bootstraps: GOTOOLCHAIN, set to go.mod's toolchain, makes it fetch and run that toolchain
// (as README.md's commands do on a machine whose go env says GOTOOLCHAIN=local).
func TestImageSetup(t *testing.T) {
	toolchain, gonbVersion := projectVersions(t)
	s, metaArgs := stage(t, "Dockerfile")
	args := argDefaults(metaArgs, s)

	if got := envs(s)["GOTOOLCHAIN"]; got != toolchain {
		t.Errorf("Dockerfile sets GOTOOLCHAIN=%q, go.mod's toolchain is %s", got, toolchain)
	}
	goDownload := slices.IndexFunc(runs(s), func(r string) bool { return strings.Contains(r, "go${GO_VERSION}.linux-amd64.tar.gz") })
	if goDownload < 0 {
		t.Errorf("Dockerfile has no RUN that downloads go${GO_VERSION}.linux-amd64.tar.gz; RUNs: %q", runs(s))
	} else if run := runs(s)[goDownload]; !strings.Contains(run, "sha256sum -c") || len(args["GO_SHA256"]) != 64 {
		t.Errorf("Dockerfile does not check the Go tarball against a SHA-256 (ARG GO_SHA256=%q): %s", args["GO_SHA256"], run)
	}

	installDeps := slices.IndexFunc(runs(s), func(r string) bool { return strings.HasPrefix(r, "scripts/install-deps.sh") })
	if installDeps < 0 {
		t.Errorf("Dockerfile does not RUN scripts/install-deps.sh, the setup README.md documents; RUNs: %q", runs(s))
	}
	if installDeps >= 0 && installDeps < goDownload {
		t.Errorf("Dockerfile runs scripts/install-deps.sh before installing Go, which it needs")
	}

	script, err := os.ReadFile(filepath.Join("..", "scripts", "install-deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`(?m)^readonly gonb_version="([^"]+)"`).FindSubmatch(script)
	if pinned == nil {
		t.Error(`scripts/install-deps.sh has no line readonly gonb_version="..."`)
	} else if string(pinned[1]) != gonbVersion {
		t.Errorf("scripts/install-deps.sh installs GoNB %s, go.mod requires %s", pinned[1], gonbVersion)
	}

	ports, cmd := exposedAndCmd(s)
	if !slices.Contains(ports, "8888") {
		t.Errorf("Dockerfile exposes %q, want 8888 (JupyterLab)", ports)
	}
	if len(cmd) < 2 || filepath.Base(cmd[0]) != "jupyter" || cmd[1] != "lab" {
		t.Errorf("Dockerfile CMD is %q, want jupyter lab", cmd)
	}
	t.Logf("Dockerfile: Go %s bootstrapping %s, GoNB %s (via scripts/install-deps.sh)", args["GO_VERSION"], toolchain, gonbVersion)
}

// TestCUDAImageSetup checks that the CUDA image builds on the notebook image and points qzoo's
// backend selection at the PJRT plugin it installs.
func TestCUDAImageSetup(t *testing.T) {
	s, metaArgs := stage(t, "Dockerfile.cuda")
	args := argDefaults(metaArgs, s)
	if s.BaseName != "${QZOO_IMAGE}" || args["QZOO_IMAGE"] != "qzoo" {
		t.Errorf("Dockerfile.cuda is FROM %q with QZOO_IMAGE=%q, want FROM ${QZOO_IMAGE} with QZOO_IMAGE=qzoo (the image docker/Dockerfile builds)",
			s.BaseName, args["QZOO_IMAGE"])
	}
	env := envs(s)
	plugin := env[framework.EnvPJRTPlugin]
	if !strings.HasSuffix(plugin, "/xla_cuda_plugin.so") || !filepath.IsAbs(plugin) {
		t.Errorf("Dockerfile.cuda sets %s=%q, want the absolute path of JAX's xla_cuda_plugin.so", framework.EnvPJRTPlugin, plugin)
	}
	if dir := env[framework.EnvPJRTLibraryPath]; dir != filepath.Dir(plugin) {
		t.Errorf("Dockerfile.cuda sets %s=%q, want the plugin's directory %q", framework.EnvPJRTLibraryPath, dir, filepath.Dir(plugin))
	}
	// go-xla finds the NVIDIA libraries in <plugin dir>/../../nvidia: pip puts them there.
	nvidia := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(plugin))), "nvidia")
	checks := []string{`test -f "${` + framework.EnvPJRTPlugin + `}"`, "test -d " + nvidia, `jax[cuda12]==${JAX_VERSION}`}
	for _, check := range checks {
		if !slices.ContainsFunc(runs(s), func(r string) bool { return strings.Contains(r, check) }) {
			t.Errorf("Dockerfile.cuda has no RUN with %q; RUNs: %q", check, runs(s))
		}
	}
	if args["JAX_VERSION"] == "" {
		t.Error("Dockerfile.cuda does not pin JAX_VERSION")
	}
	ports, cmd := exposedAndCmd(s)
	if !slices.Contains(ports, "8888") || len(cmd) < 2 || cmd[1] != "lab" {
		t.Errorf("Dockerfile.cuda exposes %q and runs %q, want 8888 and jupyter lab", ports, cmd)
	}
}
