package qzc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
)

func testHeader() *Header {
	return &Header{
		Signal:        Gridded,
		Model:         "vaeformer",
		Checkpoint:    CheckpointID{Dir: "/runs/x", SHA256: "ab12", Step: 7},
		Shape:         []int{5, 3, 4},
		Channels:      []string{"t2m"},
		Mean:          []float64{280},
		Std:           []float64{4},
		EstimatedBits: 123.5,
		Media:         "netcdf",
		Source:        json.RawMessage(`{"name":"x.nc","bytes":999}`),
	}
}

// TestMarshalParse: a header and payload survive the round trip, in version 2 for gridded
// fields, and the sizes add up.
func TestMarshalParse(t *testing.T) {
	h := testHeader()
	payload := []byte{1, 2, 3, 4, 5}
	b, written, err := Marshal(h, payload)
	if err != nil {
		t.Fatal(err)
	}
	got, p, sizes, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if written != sizes || sizes.Version != 2 {
		t.Fatalf("Marshal says %+v, Parse %+v", written, sizes)
	}
	if !bytes.Equal(p, payload) || sizes.Total != len(b) || sizes.Payload != len(payload) || sizes.Header+sizes.Framing+sizes.Payload != len(b) {
		t.Fatalf("payload %v sizes %+v (file %d bytes)", p, sizes, len(b))
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("header changed:\n got %+v\nwant %+v", got, h)
	}
	if got.Values() != 60 {
		t.Errorf("Values() = %d, want 5·3·4·1 = 60", got.Values())
	}
}

func audioHeader() *Header {
	return &Header{
		Signal:        Audio,
		Model:         "speechtok",
		Checkpoint:    CheckpointID{Dir: "/runs/s", SHA256: "cd34", Step: 9},
		Shape:         []int{113600},
		Channels:      []string{"mono"},
		EstimatedBits: 8000,
		SampleRate:    16000,
		Coding:        map[string]float64{CodingFrameRate: 12.5, CodingStages: 8, "bits_per_frame": 98},
		Media:         "wav",
		Source:        json.RawMessage(`{"name":"a.wav"}`),
	}
}

// TestAudioVersion3: an audio header (a sample rate and coding values) is written as version
// 3 and survives the round trip; the same fields in a version 2 file are refused, as are a
// version 6 file without segments and a version beyond 6.
func TestAudioVersion3(t *testing.T) {
	h := audioHeader()
	b, written, err := Marshal(h, []byte{9, 8, 7})
	if err != nil {
		t.Fatal(err)
	}
	got, p, sizes, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if written != sizes || sizes.Version != 3 || !bytes.Equal(p, []byte{9, 8, 7}) || !reflect.DeepEqual(got, h) {
		t.Fatalf("version %d, payload %v, header\n got %+v\nwant %+v", sizes.Version, p, got, h)
	}
	for _, c := range []struct {
		version uint16
		want    string
	}{{2, "version 3 fields"}, {7, "reads versions 1 to 6"}, {5, "no room for the section lengths"}, {6, "version 6 header with 0 segments"}} {
		v := bytes.Clone(b)
		binary.LittleEndian.PutUint16(v[8:], c.version)
		reseal(v)
		if _, _, _, err := Parse(v); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("audio header in version %d: %v, want %q", c.version, err, c.want)
		}
	}
}

// TestParseVersion1 reads a file written by the version 1 code (qzoo before signal kinds;
// testdata/version1.qzc): it comes back as a gridded signal of shape [T, H, W] written by the
// netCDF front end, with its source description as it was stored.
func TestParseVersion1(t *testing.T) {
	h, payload, sizes, err := ReadFile("testdata/version1.qzc")
	if err != nil {
		t.Fatal(err)
	}
	if sizes.Version != 1 || !bytes.Equal(payload, []byte{1, 2, 3, 4, 5}) {
		t.Fatalf("version %d, payload %v", sizes.Version, payload)
	}
	want := testHeader()
	want.Source = nil
	got := *h
	got.Source = nil
	if !reflect.DeepEqual(&got, want) {
		t.Fatalf("version 1 header:\n got %+v\nwant %+v", &got, want)
	}
	var src struct {
		Name string `json:"name"`
		Vars []struct {
			Shape []int `json:"shape"`
		} `json:"vars"`
	}
	if err := json.Unmarshal(h.Source, &src); err != nil || src.Name != "x.nc" || len(src.Vars) != 1 || !reflect.DeepEqual(src.Vars[0].Shape, []int{5, 3, 4}) {
		t.Fatalf("version 1 source description %s: %+v, %v", h.Source, src, err)
	}
}

// refusesDamage checks that Parse and NewReader both refuse b truncated to every length and b
// with any one byte altered, with ErrCorrupt (b may be of any version: Parse refuses a damaged
// version 6 file as damaged, not as segmented).
func refusesDamage(t *testing.T, b []byte) {
	t.Helper()
	refused := func(c []byte) error {
		if _, _, _, err := Parse(c); !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("Parse: %v", err)
		}
		if _, err := NewReader(bytes.NewReader(c), int64(len(c))); !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("NewReader: %v", err)
		}
		return nil
	}
	for n := range len(b) {
		if err := refused(b[:n]); err != nil {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		if err := refused(c); err != nil {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
}

// reseal rewrites the CRC-32C at the end of b after a test altered its bytes.
func reseal(b []byte) {
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
}

// TestParseRejectsDamage: every truncation and every single-byte change of a file is refused
// with an error wrapping ErrCorrupt (the CRC-32C catches what the lengths do not).
func TestParseRejectsDamage(t *testing.T) {
	b, _, err := Marshal(testHeader(), bytes.Repeat([]byte{7, 9}, 50))
	if err != nil {
		t.Fatal(err)
	}
	refusesDamage(t, b)
	ckpt := []byte("QZOOCKPT\x01\x00")
	if _, _, _, err := Parse(ckpt); !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("training checkpoint")) {
		t.Errorf("a checkpoint's bytes: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(ckpt), int64(len(ckpt))); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "training checkpoint") {
		t.Errorf("a checkpoint's bytes, NewReader: %v", err)
	}
}

// TestHeaderCheck: inconsistent headers are refused before use.
func TestHeaderCheck(t *testing.T) {
	for name, mutate := range map[string]func(h *Header){
		"no kind":           func(h *Header) { h.Signal = "" },
		"kind not a word":   func(h *Header) { h.Signal = "Gridded fields" },
		"zero hours":        func(h *Header) { h.Shape[0] = 0 },
		"no shape":          func(h *Header) { h.Shape = nil },
		"huge grid":         func(h *Header) { h.Shape = []int{1 << 20, 1 << 10, 1 << 10} },
		"overflowing shape": func(h *Header) { h.Shape = []int{1 << 62, 1 << 62, 4} },
		"no channels":       func(h *Header) { h.Channels = nil },
		"channels mismatch": func(h *Header) { h.Channels = []string{"t2m", "sp"} },
		"no model":          func(h *Header) { h.Model = "" },
		"no media":          func(h *Header) { h.Media = "" },
		"no source":         func(h *Header) { h.Source = nil },
		"negative rate":     func(h *Header) { h.SampleRate = -1 },
		"huge rate":         func(h *Header) { h.SampleRate = MaxSampleRate + 1 },
		"audio of no rate":  func(h *Header) { h.Signal, h.Shape = Audio, []int{100} },
		"audio of 2 dims":   func(h *Header) { h.Signal, h.SampleRate = Audio, 16000 },
		"NaN coding":        func(h *Header) { h.Coding = map[string]float64{"stages": math.NaN()} },
		"coding name":       func(h *Header) { h.Coding = map[string]float64{"Frame Rate": 1} },
	} {
		h := testHeader()
		mutate(h)
		if err := h.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, _, err := Marshal(h, nil); err == nil {
			t.Errorf("%s: marshalled", name)
		}
	}
	h := testHeader()
	h.Mean, h.Std = nil, nil
	if err := h.Check(); err != nil {
		t.Errorf("a model without normalisation: %v", err)
	}
	if h.Shape[0] = math.MaxInt32; h.Check() == nil {
		t.Errorf("shape %v accepted", h.Shape)
	}
}

// FuzzParse: Parse never panics and never returns a payload beyond the input.
func FuzzParse(f *testing.F) {
	b, _, err := Marshal(testHeader(), []byte{1, 2, 3})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:20])
	if a, _, err := Marshal(audioHeader(), []byte{1}); err == nil {
		f.Add(a)
	}
	f.Add([]byte(Magic))
	h := testHeader()
	data, _ := landSea(1, 5, 3, 4)
	if h.Mask = NewMask(data, 12); true {
		if m, _, err := Marshal(h, []byte{1, 2}); err == nil {
			f.Add(m)
		}
	}
	h.ErrorBound = &ErrorBound{MaxAbs: []float64{0.5}, Step: []float64{0.001}, Offset: []float64{280}, Lo: []float64{-32768}, Hi: []float64{32767}, Bin: []float64{999}}
	h.Residuals = []byte{1, 0}
	if m, _, err := Marshal(h, []byte{1, 2}); err == nil {
		f.Add(m)
	}
	for v := 1; v <= Version; v++ {
		if b, err := os.ReadFile(fmt.Sprintf("testdata/version%d.qzc", v)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, p, sizes, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSegmented) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if h == nil || len(p) > len(data) || sizes.Total != len(data) || h.Check() != nil {
			t.Fatalf("accepted with header %v, payload %d bytes of %d", h, len(p), len(data))
		}
	})
}

// TestVersion5: a header with an error bound and residuals (and a mask, or none) is written as
// version 5 and survives the round trip; an error bound without residuals, residuals without
// one, a bin that is not an odd number of lattice steps, or the version 5 fields in a version 4
// file are refused.
func TestVersion5(t *testing.T) {
	for _, mask := range []Mask{nil, NewMask([][]float32{{1, float32(math.NaN()), 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}, 12)} {
		h := testHeader()
		h.Mask = mask
		h.ErrorBound = &ErrorBound{MaxAbs: []float64{0.5}, Step: []float64{0.001}, Offset: []float64{280}, Lo: []float64{-32768}, Hi: []float64{32767}, Bin: []float64{999}}
		h.Residuals = []byte{7, 7, 7}
		b, written, err := Marshal(h, []byte{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		got, p, sizes, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if written != sizes || sizes.Version != 5 || sizes.Residuals != 3 || sizes.Mask != len(mask) || !bytes.Equal(p, []byte{1, 2}) ||
			sizes.Header+sizes.Mask+sizes.Residuals+sizes.Payload+sizes.Framing != len(b) || !reflect.DeepEqual(got, h) {
			t.Fatalf("mask %d bytes: sizes %+v (Marshal %+v), payload %v, header\n got %+v\nwant %+v", len(mask), sizes, written, p, got, h)
		}
		refusesDamage(t, b)
		v4 := bytes.Clone(b)
		binary.LittleEndian.PutUint16(v4[8:], 4)
		reseal(v4)
		if _, _, _, err := Parse(v4); !errors.Is(err, ErrCorrupt) {
			t.Errorf("mask %d bytes: version 5 fields in a version 4 file: %v", len(mask), err)
		}
	}
	for name, change := range map[string]func(h *Header){
		"no residuals":   func(h *Header) { h.Residuals = nil },
		"no bound":       func(h *Header) { h.ErrorBound = nil },
		"even bin":       func(h *Header) { h.ErrorBound.Bin[0] = 998 },
		"short":          func(h *Header) { h.ErrorBound.Lo = nil },
		"negative bound": func(h *Header) { h.ErrorBound.MaxAbs[0] = -1 },
		"NaN offset":     func(h *Header) { h.ErrorBound.Offset[0] = math.NaN() },
	} {
		h := testHeader()
		h.ErrorBound = &ErrorBound{MaxAbs: []float64{0.5}, Step: []float64{0.001}, Offset: []float64{280}, Lo: []float64{-32768}, Hi: []float64{32767}, Bin: []float64{999}}
		h.Residuals = []byte{7}
		change(h)
		if _, _, err := Marshal(h, []byte{1}); err == nil {
			t.Errorf("%s: written", name)
		}
	}
}
