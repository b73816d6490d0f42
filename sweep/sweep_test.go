package sweep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/qzoo/qzoo/models/all"
)

func writeSpec(t *testing.T, dir, content string) string {
	t.Helper()
	base := `{"model": "vqae", "steps": 10}`
	if err := os.WriteFile(filepath.Join(dir, "base.json"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sweep.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadSpecErrors(t *testing.T) {
	for content, want := range map[string]string{
		`{"base": "base.json", "quantizers": ["vq"], "codebook_sizes": [4], "figures": "x"}`:   `unknown key "figures"; valid keys are`,
		`{"base": "base.json", "quantizers": [], "codebook_sizes": [4]}`:                       "must not be empty",
		`{"base": "nope.json", "quantizers": ["vq"], "codebook_sizes": [4]}`:                   `key "base"`,
		`{"base": "base.json", "set": "stepz=3", "quantizers": ["vq"], "codebook_sizes": [4]}`: `key "set"`,
		`{"base": "base.json", "quantizers": "vq", "codebook_sizes": [4]}`:                     "cannot unmarshal",
	} {
		path := writeSpec(t, t.TempDir(), content)
		_, err := LoadSpec(path)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want an error naming the file and containing %q", content, err, want)
		}
	}
}

func TestSpecConfig(t *testing.T) {
	path := writeSpec(t, t.TempDir(), `{"base": "base.json", "set": "steps=20", "quantizers": ["vq", "fsq"], "codebook_sizes": [256, 1024]}`)
	s, err := LoadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Config("fsq", 1024, "batch_size=8")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Steps != 20 || cfg.BatchSize != 8 || cfg.Params["vq_type"] != "fsq" || cfg.Params["vq_codebook_size"] != 1024 {
		t.Errorf("point config: %+v", cfg)
	}
	// Points do not share their parameter maps.
	if s.base.Params["vq_type"] == "fsq" {
		t.Error("Config modified the base config")
	}
}

func TestTableAndFigure(t *testing.T) {
	points := []Point{
		{Quantizer: "vq", K: 1024, Step: 10, Metrics: map[string]float64{"utilization": 0.08, "psnr": 18.9, "perplexity": 44, "mse": 0.0129, "bits_per_image": 490}},
		{Quantizer: "simvq", K: 256, Step: 10, Metrics: map[string]float64{"utilization": 1, "psnr": 19.5, "perplexity": 200, "mse": 0.011, "bits_per_image": 392}},
	}
	table := Table(points)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "| simvq | 256 | 10 | 100.0% |") || !strings.HasPrefix(lines[3], "| vq | 1024 | 10 | 8.0% |") {
		t.Errorf("table:\n%s", table)
	}
	f := Figure(points)
	if len(f.Panels) != 2 || len(f.Panels[0].Series) != 2 || f.Panels[0].Series[1].Points[0].Y != 8 {
		t.Errorf("figure panels: %+v", f.Panels)
	}
}
