package baselines

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/metrics"
)

func point(method, setting string, bpv, rmse float64) Point {
	return Point{Method: method, Setting: setting, BitsPerValue: bpv, Ratio: 32 / bpv,
		Errors: metrics.FieldErrors{RMSE: rmse, LatRMSE: rmse, MaxAbs: 3 * rmse}}
}

func testStudy() *Study {
	return &Study{File: "x.nc", Split: "test", Hours: 10, H: 3, W: 4, Channels: []string{"t2m"}, Units: []string{"K"},
		Points: map[string][]Point{"t2m": {
			point(CodecMethod, "λ=10 w=8 step 100", 0.2, 0.5),
			point(CodecMethod+" (other)", "λ=30 w=8 step 100", 0.3, 0.05),
			point(MethodZFP, "tolerance=16", 1.0, 0.25),
			point(MethodZFP, "tolerance=32", 0.5, 1.0),
			point(DemeanMethod(MethodZFP), "tolerance=32", 0.45, 1.0),
			point(MethodLinearPack, "bits=4", 4, 0.45),
			point(MethodLinearPack, "bits=3", 3, 0.9),
		}}}
}

// TestCompare: each codec point meets the best peer interpolated at its RMSE; a point no peer
// brackets says so.
func TestCompare(t *testing.T) {
	cs := testStudy().Compare()
	if len(cs) != 2 {
		t.Fatalf("%d comparisons, want one per codec point (2)", len(cs))
	}
	c := cs[0]
	// ZFP at 0.5 K, between (1.0 bits, 0.25 K) and (0.5 bits, 1.0 K), log-RMSE interpolation: 0.75 bits.
	if c.Best.Method != MethodZFP || abs(c.Best.BitsPerValue-0.75) > 1e-9 || abs(c.Gain-0.75/0.2) > 1e-9 {
		t.Errorf("best peer %s at %v bits, gain %v; want zfp at 0.75 bits, gain 3.75", c.Best.Method, c.Best.BitsPerValue, c.Gain)
	}
	if cs[1].Gain != 0 || len(cs[1].Unbracketed) != 3 {
		t.Errorf("a codec point below every peer's RMSE: gain %v, unbracketed %v", cs[1].Gain, cs[1].Unbracketed)
	}
}

// TestSummarySpeed: the summary sets each codec point's speed against ZFP's setting nearest
// its RMSE in log scale (0.5 K: tolerance=16 at 0.25 K, not tolerance=32 at 1.0 K, is as near;
// 0.05 K: tolerance=16).
func TestSummarySpeed(t *testing.T) {
	s := testStudy()
	pts := s.Points["t2m"]
	pts[0].EncodeMBps, pts[0].DecodeMBps = 50, 80
	pts[1].EncodeMBps, pts[1].DecodeMBps = 40, 60
	pts[2].EncodeMBps, pts[2].DecodeMBps = 400, 800
	pts[3].EncodeMBps, pts[3].DecodeMBps = 500, 1000
	var b strings.Builder
	if err := s.Summary(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"λ=10 w=8 step 100: encode 50 MB/s (0.125× zfp tolerance=16's 400), decode 80 MB/s (0.100× its 800)",
		"λ=30 w=8 step 100: encode 40 MB/s (0.100× zfp tolerance=16's 400), decode 60 MB/s (0.075× its 800)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// TestFigureAndJSON: the figure has one series per codec training length and peer family, and
// the study survives its JSON round trip.
func TestFigureAndJSON(t *testing.T) {
	s := testStudy()
	f, err := s.Figure("t2m")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, se := range f.Panels[0].Series {
		names = append(names, se.Name)
	}
	want := []string{"vaeformer, 100 steps", "vaeformer (other), 100 steps", MethodZFP, DemeanMethod(MethodZFP), MethodLinearPack}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("series %v, want %v", names, want)
	}
	if _, err := f.PNG(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Figure("sp"); err == nil {
		t.Error("a figure of a channel the study lacks")
	}
	path := filepath.Join(t.TempDir(), "rd.json")
	if err := s.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("JSON round trip changed the study")
	}
	// go run ./bench climate --json writes the study as the details of its report.
	study, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(report, []byte(`{"benchmark": "climate", "header": {}, "details": `+string(study)+`}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if back, err := ReadJSON(report); err != nil || !reflect.DeepEqual(back, s) {
		t.Errorf("reading the study from a bench report: %v", err)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestCompareMaxAbs: an error-bounded codec point meets the peers interpolated at its bound
// (the setting's E), in log maximum error, and at its RMSE as the others are; the RMSE figure
// leaves it out.
func TestCompareMaxAbs(t *testing.T) {
	s := testStudy()
	b := point(BoundedMethod, "λ=10 w=8 step 100 E=1.5", 0.3, 0.4)
	b.Errors.MaxAbs = 1.49
	s.Points["t2m"] = append(s.Points["t2m"], b)
	if n := len(s.Compare()); n != 3 {
		t.Errorf("the RMSE comparison holds %d codec points, want all 3, the error-bounded one too", n)
	}
	cs := s.CompareMaxAbs()
	if len(cs) != 1 {
		t.Fatalf("%d max-error comparisons, want 1", len(cs))
	}
	// ZFP at max error 1.5, between (1.0 bits, 0.75) and (0.5 bits, 3.0): log interpolation gives 0.75 bits;
	// linear packing between (4 bits, 1.35) and (3 bits, 2.7) gives 4 − log(1.5/1.35)/log 2 = 3.848.
	if c := cs[0]; c.Best.Method != MethodZFP || abs(c.Best.BitsPerValue-0.75) > 1e-9 || abs(c.Gain-0.75/0.3) > 1e-9 {
		t.Errorf("best peer %s at %v bits, gain %v; want zfp at 0.75 bits, gain 2.5", c.Best.Method, c.Best.BitsPerValue, c.Gain)
	}
	var sb strings.Builder
	if err := s.Summary(&sb); err != nil || !strings.Contains(sb.String(), "E=1.5: max error 1.49") {
		t.Errorf("summary: %v\n%s", err, sb.String())
	}
	if _, err := s.FigureMaxAbs("t2m"); err != nil {
		t.Error(err)
	}
	if _, err := testStudy().FigureMaxAbs("t2m"); err == nil {
		t.Error("a max-error figure without error-bounded points drew")
	}
}
