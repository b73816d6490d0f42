package qat

import (
	"testing"

	"github.com/qzoo/qzoo/quant/scheme"
)

func TestSettingsScheme(t *testing.T) {
	for _, tc := range []struct {
		s    Settings
		want string
	}{
		{Settings{Method: MethodSTE, Bits: 4, GroupSize: 32}, "weights/ste int b4 asym g32/row"},
		{Settings{Method: MethodSTE, Bits: 3, Symmetric: true}, "weights/ste int b3 sym row"},
		{Settings{Method: MethodLSQ, Bits: 2, GroupSize: 64}, "weights/lsq int b2 sym g64/row"}, // lsq is always symmetric
	} {
		if got := tc.s.Scheme().String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
	if got := ActivationScheme(8).String(); got != "activations/lsq int b8 sym tensor" {
		t.Errorf("activation scheme %q", got)
	}
}

// TestSettingsStorage: the stored format of ste at 4 bits in groups of 32 of a 2×64 weight:
// 4-bit codes, an fp16 scale and a 4-bit zero point per group; lsq's has no zero point.
func TestSettingsStorage(t *testing.T) {
	st, err := Settings{Method: MethodSTE, Bits: 4, GroupSize: 32}.Storage(2, 64)
	if err != nil {
		t.Fatal(err)
	}
	if want := (scheme.Storage{Values: 128, Codes: 512, Scales: 4 * 16, ZeroPoints: 4 * 4}); st != want {
		t.Errorf("ste storage %+v, want %+v", st, want)
	}
	st, err = Settings{Method: MethodLSQ, Bits: 4, GroupSize: 32}.Storage(2, 64)
	if err != nil {
		t.Fatal(err)
	}
	if st.ZeroPoints != 0 || st.Scales != 4*16 {
		t.Errorf("lsq storage %+v, want fp16 scales and no zero points", st)
	}
	// Groups of 128 on 64-wide rows: FakeQuant makes one group per row, so two scales.
	st, err = Settings{Method: MethodLSQ, Bits: 4, GroupSize: 128}.Storage(2, 64)
	if err != nil {
		t.Fatal(err)
	}
	if st.Scales != 2*16 {
		t.Errorf("lsq in groups of 128 on 2×64: storage %+v, want one fp16 scale per row", st)
	}
	if _, err := (Settings{Method: "none", Bits: 4}).Storage(2, 64); err == nil {
		t.Error("method none accepted")
	}
	if _, err := (Settings{Method: MethodSTE, Bits: 1}).Storage(2, 64); err == nil {
		t.Error("1-bit stored format accepted")
	}
}
