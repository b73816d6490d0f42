package qzc

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/qzoo/qzoo/formats/netcdf"
)

func testHeader() *Header {
	fill := -32767.0
	return &Header{
		Model:         "vaeformer",
		Checkpoint:    CheckpointID{Dir: "/runs/x", SHA256: "ab12", Step: 7},
		Geometry:      Geometry{T: 5, H: 3, W: 4},
		Channels:      []string{"t2m"},
		Mean:          []float64{280},
		Std:           []float64{4},
		EstimatedBits: 123.5,
		Source: Source{
			Name: "x.nc", Format: "netCDF-3", Bytes: 999,
			Global: attrsOf([]netcdf.Attr{{Name: "Conventions", Value: "CF-1.6"}}),
			Time:   CompactCoord("time", "int32", nil, []float64{10, 11, 12, 13, 14}),
			Lat:    CompactCoord("latitude", "float32", attrsOf([]netcdf.Attr{{Name: "_FillValue", Value: float32(math.NaN())}}), []float64{61, 60.75, 60.5}),
			Lon:    CompactCoord("longitude", "float32", nil, []float64{-8, -7.75, -7.5, -7}),
			Vars: []VarMeta{{Name: "t2m", Dims: []string{"time", "latitude", "longitude"}, Shape: []int{5, 3, 4},
				Packing: &Packing{Type: "int16", ScaleFactor: 0.0004, AddOffset: 278, FillValue: &fill}}},
		},
	}
}

// TestMarshalParse: a header and payload survive the round trip, coordinates are stored
// compactly when regular and listed when not, and NaN attributes survive JSON.
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
	if written != sizes {
		t.Fatalf("Marshal says %+v, Parse %+v", written, sizes)
	}
	if !bytes.Equal(p, payload) || sizes.Total != len(b) || sizes.Payload != len(payload) || sizes.Header+sizes.Framing+sizes.Payload != len(b) {
		t.Fatalf("payload %v sizes %+v (file %d bytes)", p, sizes, len(b))
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("header changed:\n got %+v\nwant %+v", got, h)
	}
	if len(h.Source.Time.Values) != 0 || h.Source.Time.Step != 1 {
		t.Fatalf("regular time stored as %+v", h.Source.Time)
	}
	if lon := h.Source.Lon; len(lon.Values) != 4 || !reflect.DeepEqual(lon.Expand(), []float64{-8, -7.75, -7.5, -7}) {
		t.Fatalf("irregular longitude stored as %+v", lon)
	}
	back := attrValues(got.Source.Lat.Attrs)
	if v, ok := back[0].Value.(float32); !ok || !math.IsNaN(float64(v)) {
		t.Fatalf("NaN float32 attribute came back as %#v", back[0].Value)
	}
}

// TestParseRejectsDamage: every truncation and every single-byte change of a file is refused
// with an error wrapping ErrCorrupt (the CRC-32C catches what the lengths do not).
func TestParseRejectsDamage(t *testing.T) {
	b, _, err := Marshal(testHeader(), bytes.Repeat([]byte{7, 9}, 50))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, _, _, err := Parse(b[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: err %v", n, err)
		}
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		if _, _, _, err := Parse(c); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d flipped: err %v", i, err)
		}
	}
}

// TestHeaderCheck: inconsistent headers are refused before use.
func TestHeaderCheck(t *testing.T) {
	for name, mutate := range map[string]func(h *Header){
		"zero hours":        func(h *Header) { h.Geometry.T = 0 },
		"huge grid":         func(h *Header) { h.Geometry = Geometry{T: 1 << 20, H: 1 << 10, W: 1 << 10} },
		"no channels":       func(h *Header) { h.Channels = nil },
		"lat length":        func(h *Header) { h.Source.Lat.N = 2 },
		"variable shape":    func(h *Header) { h.Source.Vars[0].Shape = []int{5, 3, 5} },
		"channels mismatch": func(h *Header) { h.Channels = []string{"t2m", "sp"}; h.Mean = []float64{1, 2}; h.Std = []float64{1, 2} },
		"zero scale":        func(h *Header) { h.Source.Vars[0].Packing.ScaleFactor = 0 },
		"NaN coordinate":    func(h *Header) { h.Source.Lon.Values[1] = math.NaN() },
	} {
		h := testHeader()
		mutate(h)
		if err := h.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
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
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, p, sizes, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if h == nil || len(p) > len(data) || sizes.Total != len(data) {
			t.Fatalf("accepted with header %v, payload %d bytes of %d", h, len(p), len(data))
		}
	})
}
