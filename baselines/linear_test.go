package baselines

import (
	"bytes"
	"math"
	"testing"
)

func TestLinearPackLayout(t *testing.T) {
	// 0..6 in 3 bits: offset 0, scale 6/(2^3 − 2) = 1, codes 000 001 … 110 packed MSB first.
	payload, offset, scale, err := LinearPack([]float32{0, 1, 2, 3, 4, 5, 6}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x05, 0x39, 0x70}; !bytes.Equal(payload, want) || offset != 0 || scale != 1 {
		t.Errorf("payload %#v offset %v scale %v, want %#v, 0, 1", payload, offset, scale, want)
	}
}

func TestLinearPackRoundTrip(t *testing.T) {
	x := smoothField(3, 17, 23) // 1173 values: no bit width divides the payload evenly
	for bits := 2; bits <= 32; bits++ {
		payload, offset, scale, err := LinearPack(x, bits)
		if err != nil {
			t.Fatal(err)
		}
		if want := (len(x)*bits + 7) / 8; len(payload) != want {
			t.Fatalf("bits %d: payload %d bytes, want %d", bits, len(payload), want)
		}
		got, err := LinearUnpack(payload, len(x), bits, offset, scale)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range x {
			// scale/2 from the quantisation, plus the rounding of the result to float32.
			bound := scale/2 + math.Abs(float64(v))*0x1p-24
			if d := math.Abs(float64(got[i]) - float64(v)); d > bound {
				t.Fatalf("bits %d: %v → %v, error %g > %g (scale %g)", bits, v, got[i], d, bound, scale)
			}
		}
	}
}

func TestLinearPackMissingAndConstant(t *testing.T) {
	nan := float32(math.NaN())
	x := []float32{270, nan, 290, 280}
	payload, offset, scale, err := LinearPack(x, 4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LinearUnpack(payload, len(x), 4, offset, scale)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(float64(got[1])) || got[0] != 270 || got[2] != 290 {
		t.Errorf("got %v, want NaN kept as the missing code and the range's ends exact", got)
	}
	for _, bits := range []int{1, 8} {
		payload, offset, scale, err := LinearPack([]float32{5, 5, 5}, bits)
		if err != nil || scale != 0 || offset != 5 {
			t.Fatalf("constant field, %d bits: scale %v offset %v err %v", bits, scale, offset, err)
		}
		if got, err := LinearUnpack(payload, 3, bits, offset, scale); err != nil || got[2] != 5 {
			t.Errorf("constant field: %v %v", got, err)
		}
	}
}

func TestLinearPackRefuses(t *testing.T) {
	for _, bits := range []int{0, -1, 33} {
		if _, _, _, err := LinearPack([]float32{1, 2}, bits); err == nil {
			t.Errorf("LinearPack with %d bits accepted", bits)
		}
		if _, err := LinearUnpack(nil, 0, bits, 0, 1); err == nil {
			t.Errorf("LinearUnpack with %d bits accepted", bits)
		}
	}
	if _, _, _, err := LinearPack([]float32{1, 2}, 1); err == nil {
		t.Errorf("a non-constant field in 1 bit (one level) accepted")
	}
	if _, _, _, err := LinearPack([]float32{1, float32(math.Inf(1))}, 8); err == nil {
		t.Errorf("+Inf accepted")
	}
	payload, offset, scale, err := LinearPack([]float32{1, 2, 3}, 12)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		payload       []byte
		n             int
		offset, scale float64
	}{
		{"short payload", payload[:len(payload)-1], 3, offset, scale},
		{"long payload", append(bytes.Clone(payload), 0), 3, offset, scale},
		{"more values", payload, 4, offset, scale},
		{"negative n", payload, -1, offset, scale},
		{"NaN offset", payload, 3, math.NaN(), scale},
		{"negative scale", payload, 3, offset, -1},
		{"infinite scale", payload, 3, offset, math.Inf(1)},
	} {
		if _, err := LinearUnpack(c.payload, c.n, 12, c.offset, c.scale); err == nil {
			t.Errorf("%s accepted", c.name)
		}
	}
}

func FuzzLinearUnpack(f *testing.F) {
	payload, offset, scale, err := LinearPack(smoothField(1, 5, 7), 11)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(payload, uint16(35), uint8(11), offset, scale)
	f.Add([]byte{0xff}, uint16(1), uint8(8), 0.0, 0.0)
	f.Fuzz(func(t *testing.T, payload []byte, n uint16, bits uint8, offset, scale float64) {
		got, err := LinearUnpack(payload, int(n), int(bits), offset, scale)
		if err == nil && len(got) != int(n) {
			t.Fatalf("unpacked %d values, asked for %d", len(got), n)
		}
	})
}
