package netcdf

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	nc "github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/internal/datadir"
	"github.com/qzoo/qzoo/media"
)

// testSource is the description of 5 hours of t2m on a 3×4 grid with an irregular longitude
// and a NaN attribute.
func testSource() *Source {
	fill := -32767.0
	return &Source{
		Name: "x.nc", Format: "netCDF-3", Bytes: 999,
		Global: attrsOf([]nc.Attr{{Name: "Conventions", Value: "CF-1.6"}}),
		Time:   CompactCoord("time", "int32", nil, []float64{10, 11, 12, 13, 14}),
		Lat:    CompactCoord("latitude", "float32", attrsOf([]nc.Attr{{Name: "_FillValue", Value: float32(math.NaN())}}), []float64{61, 60.75, 60.5}),
		Lon:    CompactCoord("longitude", "float32", nil, []float64{-8, -7.75, -7.5, -7}),
		Vars: []VarMeta{{Name: "t2m", Dims: []string{"time", "latitude", "longitude"}, Shape: []int{5, 3, 4},
			Packing: &Packing{Type: "int16", ScaleFactor: 0.0004, AddOffset: 278, FillValue: &fill}}},
	}
}

var testSignal = media.Signal{Kind: qzc.Gridded, Channels: []string{"t2m"}, Shape: []int{5, 3, 4}}

// TestSourceJSON: a description survives JSON, coordinates are stored compactly when regular
// and listed when not, and NaN attributes survive.
func TestSourceJSON(t *testing.T) {
	s := testSource()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Frontend{}).Check(testSignal, b); err != nil {
		t.Fatal(err)
	}
	got, err := decodeSource(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("description changed:\n got %+v\nwant %+v", got, s)
	}
	if len(s.Time.Values) != 0 || s.Time.Step != 1 {
		t.Fatalf("regular time stored as %+v", s.Time)
	}
	if lon := s.Lon; len(lon.Values) != 4 || !reflect.DeepEqual(lon.Expand(), []float64{-8, -7.75, -7.5, -7}) {
		t.Fatalf("irregular longitude stored as %+v", lon)
	}
	back := attrValues(got.Lat.Attrs)
	if v, ok := back[0].Value.(float32); !ok || !math.IsNaN(float64(v)) {
		t.Fatalf("NaN float32 attribute came back as %#v", back[0].Value)
	}
	if _, err := decodeSource([]byte(`{"name":"x.nc","colour":"red"}`)); err == nil {
		t.Error("a description with an unknown field was accepted")
	}
}

// TestSourceCheck: a description that does not describe the signal is refused before its
// payload is decoded.
func TestSourceCheck(t *testing.T) {
	for name, mutate := range map[string]func(s *Source, sig *media.Signal){
		"lat length":        func(s *Source, _ *media.Signal) { s.Lat.N = 2 },
		"variable shape":    func(s *Source, _ *media.Signal) { s.Vars[0].Shape = []int{5, 3, 5} },
		"channels mismatch": func(_ *Source, sig *media.Signal) { sig.Channels = []string{"t2m", "sp"} },
		"zero scale":        func(s *Source, _ *media.Signal) { s.Vars[0].Packing.ScaleFactor = 0 },
		"NaN coordinate":    func(s *Source, _ *media.Signal) { s.Lon.Values[1] = math.NaN() },
		"not gridded":       func(_ *Source, sig *media.Signal) { sig.Kind = "audio"; sig.Shape = []int{60} },
		// A level coordinate no variable uses, or with more levels than channels, would be
		// expanded into memory on decompression (2^31 levels: 16 GiB).
		"unused level": func(s *Source, _ *media.Signal) { s.Level = &Coord{Name: "level", Type: "float64", N: 1, Step: 1} },
		"huge level": func(s *Source, _ *media.Signal) {
			s.Level = &Coord{Name: "level", Type: "float64", N: 1 << 31, Step: 1}
			s.Vars[0].Shape, s.Vars[0].Dims = []int{5, 1 << 31, 3, 4}, []string{"time", "level", "latitude", "longitude"}
		},
	} {
		s, sig := testSource(), testSignal
		sig.Channels = slices.Clone(sig.Channels)
		mutate(s, &sig)
		if err := s.check(sig); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestReadWrite reads channels of a synthetic file with levels as a gridded signal in the
// model's order, refuses what the model does not code, and writes the signal back with the
// selected level and a history line.
func TestReadWrite(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.nc")
	if err := nc.Write(in, nc.Synthetic(4, 3, 2, 3, "q", "u")); err != nil { // Levels 500, 550, 600.
		t.Fatal(err)
	}
	fe := Frontend{}
	want := []string{"u@550", "q@550"}
	if _, _, err := fe.Read([]string{in}, nil, want); err == nil || !strings.Contains(err.Error(), "q@500") {
		t.Fatalf("every level: %v, want q@500 refused", err)
	}
	if _, _, err := fe.Read([]string{in}, []string{"q@550"}, want); err == nil || !strings.Contains(err.Error(), "lacks u@550") {
		t.Fatalf("q@550 alone: %v, want u@550 missing", err)
	}
	s, src, err := fe.Read([]string{in}, []string{"q@550", "u@550"}, want)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Channels, want) || !slices.Equal(s.Shape, []int{4, 2, 3}) || s.Kind != qzc.Gridded {
		t.Fatalf("signal %v %v %v", s.Kind, s.Channels, s.Shape)
	}
	// Synthetic's value: 1000·variable + 100·t + 10·level + y + x/10; u is variable 1.
	if got := s.Data[0][1*6+1*3+2]; got != 1000+100+10+1+0.2 {
		t.Fatalf("u@550 at t 1, y 1, x 2 = %v", got)
	}
	d, err := fe.Describe(src)
	if err != nil || d.Name != "in.nc" || len(d.Lines) != 3 {
		t.Fatalf("Describe: %+v, %v", d, err)
	}
	out := filepath.Join(dir, "out.nc")
	if err := fe.Write(out, s, src, media.Provenance{Time: time.Unix(0, 0), File: "in.qzc", Model: "m", Step: 3, BitsPerValue: 1.5}); err != nil {
		t.Fatal(err)
	}
	f, err := nc.Read(out, nc.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names, data := nc.Channels(f)
	if !slices.Equal(names, []string{"q@550", "u@550"}) || !slices.Equal(data[1], s.Data[0]) {
		t.Fatalf("written back: channels %v", names)
	}
	history, _ := f.Global[len(f.Global)-1].Value.(string)
	if !strings.Contains(history, "lossy reconstruction of in.nc decoded by qzoo's codec from in.qzc (model m, checkpoint step 3, 1.5000 bits per value)") {
		t.Errorf("history %q", history)
	}
	s.Shape = []int{4, 2, 4}
	if err := fe.Write(filepath.Join(dir, "bad.nc"), s, src, media.Provenance{}); err == nil {
		t.Error("a signal of another shape than its description was written")
	}
}

// FuzzSource: a source description comes from a file's bytes: decoding, checking and
// describing it never panics, and one that passes Check describes the signal's coordinates.
func FuzzSource(f *testing.F) {
	b, err := json.Marshal(testSource())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, 5, 3, 4)
	f.Add([]byte(`{"time":{"n":1e9,"start":1,"step":1e308},"lat":{"n":1},"lon":{"n":1}}`), 1, 1, 1)
	f.Fuzz(func(t *testing.T, data []byte, nt, nh, nw int) {
		fe := Frontend{}
		d, derr := fe.Describe(data)
		s := media.Signal{Kind: qzc.Gridded, Channels: []string{"t2m"}, Shape: []int{nt, nh, nw}}
		if err := fe.Check(s, data); err == nil && (derr != nil || len(d.Lines) == 0) {
			t.Fatalf("a description that passes Check does not describe: %v", derr)
		}
	})
}

// TestReadMissingValues: a field with missing values (here one fill value of a packed
// variable) is read with NaN in their place, and written back with them missing: as its fill
// value, or as netCDF's default fill of shorts when the packing had none (the values came
// from valid_range masking).
func TestReadMissingValues(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "sst.nc")
	f := nc.Synthetic(3, 0, 2, 3, "t2m", "sst")
	fill := -32767.0
	f.Vars[1].Packing = &nc.Packing{Type: "int16", ScaleFactor: 0.01, AddOffset: 1000, FillValue: &fill}
	f.Vars[1].Data[4] = float32(math.NaN()) // Time 0, latitude 1, longitude 1: land.
	if err := nc.Write(in, f); err != nil {
		t.Fatal(err)
	}
	fe := Frontend{}
	s, src, err := fe.Read([]string{in}, []string{"sst"}, []string{"sst"})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range s.Data[0] {
		if math.IsNaN(float64(v)) != (i == 4) {
			t.Fatalf("sst value %d = %v", i, v)
		}
	}
	for name, fv := range map[string]*float64{"fill": &fill, "no fill": nil} {
		var d Source
		if err := json.Unmarshal(src, &d); err != nil {
			t.Fatal(err)
		}
		d.Vars[0].Packing.FillValue = fv
		raw, _ := json.Marshal(d)
		out := filepath.Join(dir, "back.nc")
		if err := fe.Write(out, s, raw, media.Provenance{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := nc.Read(out, nc.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v := back.Vars[0]; v.Missing != 1 || !math.IsNaN(float64(v.Data[4])) || v.Packing == nil || v.Packing.FillValue == nil || *v.Packing.FillValue != -32767 {
			t.Errorf("%s: written back with %d missing values, value 4 = %v, packing %+v", name, v.Missing, v.Data[4], v.Packing)
		}
	}
	if _, _, err := fe.Read([]string{in}, []string{"t2m"}, []string{"t2m"}); err != nil {
		t.Errorf("t2m beside sst: %v", err)
	}
}

// TestStreaming: Open describes the UK month exactly as Read does, from its metadata alone; its
// stretches, read in several calls or in one, are slices of Read's signal; Create writes the
// month stretch by stretch into the file Write writes.
func TestStreaming(t *testing.T) {
	uk := filepath.Join(datadir.Root(), "era5", "era5-2mt-2019-03-uk.nc")
	want := []string{"t2m"}
	whole, src, err := Frontend{}.Read([]string{uk}, nil, want)
	if err != nil {
		t.Fatal(err)
	}
	shape, osrc, rd, err := Frontend{}.Open([]string{uk}, nil, want)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if string(osrc) != string(src) || !slices.Equal(shape.Shape, whole.Shape) || shape.Data != nil {
		t.Fatalf("Open: shape %v, description equal %v; Read: shape %v", shape.Shape, string(osrc) == string(src), whole.Shape)
	}
	hw := whole.Shape[1] * whole.Shape[2]
	defer func(v int) { readValuesPerCall = v }(readValuesPerCall)
	for _, perCall := range []int{1 << 23, 7 * hw} { // one call; calls of 7 hours
		readValuesPerCall = perCall
		for _, r := range [][2]int{{0, 1}, {100, 48}, {700, 44}} {
			s, err := rd.ReadRange(r[0], r[1])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Shape, []int{r[1], whole.Shape[1], whole.Shape[2]}) || !slices.Equal(s.Data[0], whole.Data[0][r[0]*hw:(r[0]+r[1])*hw]) {
				t.Fatalf("hours %v in calls of %d values: shape %v, values differ from Read's", r, perCall, s.Shape)
			}
		}
	}
	if _, err := rd.ReadRange(740, 5); err == nil {
		t.Error("hours [740, 745) of 744 read")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.nc"), filepath.Join(dir, "b.nc")
	p := media.Provenance{Time: time.Unix(0, 0), File: "x.qzc", Model: "m", Step: 1, BitsPerValue: 1}
	if err := (Frontend{}).Write(a, whole, src, p); err != nil {
		t.Fatal(err)
	}
	w, err := Frontend{}.Create(b, shape, src, p, false)
	if err != nil {
		t.Fatal(err)
	}
	for t0 := 0; t0 < whole.Shape[0]; t0 += 100 {
		s, _ := media.WholeReader{S: whole}.ReadRange(t0, min(100, whole.Shape[0]-t0))
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) || len(ab) == 0 {
		t.Errorf("written whole: %d bytes; stretch by stretch: %d bytes, not the same", len(ab), len(bb))
	}
}
