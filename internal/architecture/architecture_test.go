// Package architecture holds the test of qzoo's layering: every package sits on one layer, and
// none imports a package on a higher one (tests may: they assemble whole runs).
//
// The layers, bottom to top:
//
//  0. formats and foundations — file formats (llama2.c, netCDF, .qzc), the entropy coder,
//     host-side weight quantizers and the quantizer vocabulary (quant/scheme), metrics, the
//     scaling-law fits (laws),
//     hyperparameter declarations, the checkpoint format, the registry type and the strict
//     JSON decoder: nothing of the framework or of a model.
//  1. the framework and what builds on it alone — framework (the one run function), the sweep
//     machinery (framework/sweep: its hook and report registries are where models register
//     their studies' parts), plots, the graph layers, the cache quantizers, the media signal type.
//  2. data and media — datasets, media front ends, the compressor registry, the codec peers and
//     their rate–distortion study.
//  3. models — one package per zoo member.
//  4. assembly — models/all, the sweep tests' model, the bench harness. (Studies are study files
//     under configs/, run by framework/sweep; a model registers its hooks and reports.)
//  5. commands — train, eval, generate, codec, sweep, study, bench; the tests of the scripts
//     that drive them.
package architecture

import (
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/qzoo/qzoo"

// layerOf maps a package path prefix (relative to the module) to its layer; the longest prefix
// that matches a package decides. A new top-level folder must be placed here.
var layerOf = map[string]int{
	"formats":               0,
	"entropy":               0,
	"dsp":                   0,
	"quant":                 0,
	"quant/scheme":          0,
	"metrics":               0,
	"laws":                  0,
	"framework/hparams":     0,
	"framework/checkpoint":  0,
	"datasets/idx":          0,
	"internal/registry":     0,
	"internal/sniff":        0,
	"internal/atomicfile":   0,
	"internal/strictjson":   0,
	"internal/datadir":      0,
	"internal/readme":       0,
	"internal/detmath":      0,
	"internal/bpe":          0,
	"internal/architecture": 0,
	"bench/peers":           0,
	"configs":               0,
	"notebooks":             0,

	"framework":            1,
	"framework/sweep":      1,
	"plots":                1,
	"layers":               1,
	"kvcache":              1,
	"media":                1,
	"internal/testbackend": 1,
	"internal/gainmodel":   2,

	"datasets":     2,
	"media/netcdf": 2,
	"media/wav":    2,
	"compressor":   2,
	"baselines":    2,

	"models": 3,

	"models/all":         4,
	"internal/sweeptest": 4,
	"bench/harness":      4,

	"train":    5,
	"eval":     5,
	"generate": 5,
	"codec":    5,
	"sweep":    5,
	"study":    5,
	"bench":    5,
	"scripts":  5, // tests of the shell scripts, which drive the commands
}

// layer returns the layer of pkg (a path relative to the module) and the prefix that placed it.
func layer(pkg string) (int, string, bool) {
	best, found := "", false
	for prefix := range layerOf {
		if (pkg == prefix || strings.HasPrefix(pkg, prefix+"/")) && len(prefix) >= len(best) {
			best, found = prefix, true
		}
	}
	return layerOf[best], best, found
}

func TestNoPackageImportsAHigherLayer(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		if pkg == "" {
			continue
		}
		from, _, ok := layer(pkg)
		if !ok {
			problems = append(problems, pkg+": on no layer (place it in layerOf)")
			continue
		}
		for _, imp := range fields[1:] {
			rel, mine := strings.CutPrefix(imp, module+"/")
			if !mine {
				continue
			}
			to, _, ok := layer(rel)
			if ok && to > from {
				problems = append(problems, pkg+" (layer "+strconv.Itoa(from)+") imports "+rel+" (layer "+strconv.Itoa(to)+")")
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}
