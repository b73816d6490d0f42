package entropy

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// gaussPMF is the unquantised model probability of v under GaussianTable's equation,
// tails folded, computed independently of the table code.
func gaussPMF(mean, scale float64, lo, hi, v int) float64 {
	phi := func(k float64) float64 { return 0.5 * (1 + math.Erf((k-mean)/(scale*math.Sqrt2))) }
	a, b := float64(v)-0.5, float64(v)+0.5
	switch {
	case lo == hi:
		return 1
	case v == lo:
		return phi(b)
	case v == hi:
		return 1 - phi(a)
	}
	return phi(b) - phi(a)
}

// gaussianProblem draws n elements with per-element Gaussian tables (means in [−20, 20],
// scales log-uniform in [0.3, 30], ranges mean ± (6σ+2)) and symbols sampled from them;
// idealBits is Σ −log₂ p(symbol) under the unquantised model.
func gaussianProblem(tb testing.TB, rng *rand.Rand, n int) (symbols []int, tables []*Table, idealBits float64) {
	symbols = make([]int, n)
	tables = make([]*Table, n)
	for i := range n {
		mean := 40*rng.Float64() - 20
		scale := 0.3 * math.Pow(100, rng.Float64())
		lo := int(math.Floor(mean - 6*scale - 2))
		hi := int(math.Ceil(mean + 6*scale + 2))
		t, err := GaussianTable(mean, scale, lo, hi, 16)
		if err != nil {
			tb.Fatal(err)
		}
		v := int(math.Round(mean + scale*rng.NormFloat64()))
		symbols[i], tables[i] = v, t
		if v < lo || v > hi {
			tb.Fatalf("symbol %d outside %d..%d: ideal bits undefined", v, lo, hi)
		}
		idealBits -= math.Log2(gaussPMF(mean, scale, lo, hi, v))
	}
	return symbols, tables, idealBits
}

func TestRoundTripGaussian(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	symbols, tables, ideal := gaussianProblem(t, rng, 20000)
	data := roundTrip(t, symbols, tables)
	tableBits := 0.0 // information content under the quantised tables, escapes included
	for i, v := range symbols {
		tableBits += tables[i].Bits(v)
	}
	coded := float64(8 * len(data))
	t.Logf("%d symbols: %d bytes = %.0f bits; ideal %.0f bits (model), %.0f bits (quantised tables): "+
		"overhead %.3f%% vs model, %.3f%% vs tables",
		len(symbols), len(data), coded, ideal, tableBits, 100*(coded/ideal-1), 100*(coded/tableBits-1))
	if coded > 1.01*ideal+8*8 {
		t.Errorf("coded %.0f bits, more than 1%% + 8 bytes over the ideal %.0f bits", coded, ideal)
	}
}

func TestEscapes(t *testing.T) {
	tab, err := GaussianTable(0, 1, -2, 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	symbols := []int{0, -3, 3, 2, -2, -1000, 1000, 1<<39 + 1, -(1<<39 + 1), 1 << 31, 0}
	tables := make([]*Table, len(symbols))
	for i := range tables {
		tables[i] = tab
	}
	roundTrip(t, symbols, tables)
	// Escape cost: P bits for the slot, 1 side bit, 2⌊log₂ d⌋+1 gamma bits.
	if got, want := tab.Bits(-3), 16+1+1.0; got != want {
		t.Errorf("Bits(-3) = %v, want %v", got, want)
	}
	for _, v := range []int{2 + 1<<40, -2 - 1<<40, math.MinInt, math.MaxInt} {
		if _, err := Encode([]int{v}, []*Table{tab}); err == nil || !strings.Contains(err.Error(), "escape distance") {
			t.Errorf("Encode(%d): got error %v, want an escape-distance error", v, err)
		}
	}
}

func TestTableErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		make func() (*Table, error)
		want string
	}{
		{"empty", func() (*Table, error) { return NewTable(nil, 16) }, "empty pmf"},
		{"NaN", func() (*Table, error) { return NewTable([]float64{0.5, math.NaN()}, 16) }, "pmf[1] = NaN"},
		{"negative", func() (*Table, error) { return NewTable([]float64{-0.1, 1}, 16) }, "pmf[0] = -0.1"},
		{"infinite", func() (*Table, error) { return NewTable([]float64{math.Inf(1)}, 16) }, "pmf[0] = +Inf"},
		{"zero sum", func() (*Table, error) { return NewTable([]float64{0, 0}, 16) }, "sums to 0"},
		{"too many", func() (*Table, error) { return NewTable(make([]float64, 8), 3) }, "8 symbols do not fit 3-bit"},
		{"precision 0", func() (*Table, error) { return NewTable([]float64{1}, 0) }, "precision 0 bits"},
		{"precision 17", func() (*Table, error) { return NewTable([]float64{1}, 17) }, "precision 17 bits"},
		{"scale 0", func() (*Table, error) { return GaussianTable(0, 0, -1, 1, 16) }, "scale 0"},
		{"scale NaN", func() (*Table, error) { return GaussianTable(0, math.NaN(), -1, 1, 16) }, "scale NaN"},
		{"empty range", func() (*Table, error) { return GaussianTable(0, 1, 1, -1, 16) }, "empty symbol range"},
		{"huge range", func() (*Table, error) { return GaussianTable(0, 1, -1<<32, 0, 16) }, "beyond"},
		{"wide range", func() (*Table, error) { return GaussianTable(0, 1, -40000, 40000, 16) }, "at most 65535"},
		{"short cdf", func() (*Table, error) { return CDFTable([]float64{0.5}, 0, 16) }, "need ≥ 2"},
		{"decreasing cdf", func() (*Table, error) { return CDFTable([]float64{0, 0.6, 0.5, 1}, 0, 16) }, "non-decreasing"},
		{"cdf above 1", func() (*Table, error) { return CDFTable([]float64{0, 1.5}, 0, 16) }, "outside [0, 1]"},
	} {
		if _, err := c.make(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestNewTableFrequencies(t *testing.T) {
	pmf := []float64{0, 1e-30, 0.25, 0.5, 0.25, 0}
	for _, p := range []int{3, 8, 16} {
		tab, err := NewTable(pmf, p)
		if err != nil {
			t.Fatal(err)
		}
		sum := 1 // escape
		for v := tab.Lo(); v <= tab.Hi(); v++ {
			f := tab.Freq(v)
			if f < 1 {
				t.Errorf("P=%d: Freq(%d) = %d < 1", p, v, f)
			}
			sum += f
		}
		if sum != 1<<p {
			t.Errorf("P=%d: frequencies sum to %d, want %d", p, sum, 1<<p)
		}
		if tab.Freq(3) <= tab.Freq(2) {
			t.Errorf("P=%d: Freq(3) = %d not above Freq(2) = %d", p, tab.Freq(3), tab.Freq(2))
		}
		shifted, err := tab.Shift(-3)
		if err != nil {
			t.Fatal(err)
		}
		if shifted.Lo() != -3 || shifted.Hi() != 2 || shifted.Freq(0) != tab.Freq(3) {
			t.Errorf("P=%d: Shift(-3) gives %d..%d, Freq(0) = %d", p, shifted.Lo(), shifted.Hi(), shifted.Freq(0))
		}
		symbols := []int{-3, 0, 2, 5, -9}
		tables := []*Table{shifted, shifted, shifted, shifted, shifted}
		data, err := Encode(symbols, tables)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Decode(data, tables); err != nil || fmt.Sprint(got) != fmt.Sprint(symbols) {
			t.Errorf("P=%d: shifted round trip gave %v, %v; want %v", p, got, err, symbols)
		}
	}
}

// A Gaussian's CDF at the symbol edges gives the same table as GaussianTable.
func TestCDFTableMatchesGaussian(t *testing.T) {
	mean, scale, lo, hi := 1.3, 2.5, -8, 10
	cdf := make([]float64, hi-lo+2)
	for i := range cdf {
		cdf[i] = 0.5 * math.Erfc(-(float64(lo+i)-0.5-mean)/(scale*math.Sqrt2))
	}
	a, err := CDFTable(cdf, lo, 16)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GaussianTable(mean, scale, lo, hi, 16)
	if err != nil {
		t.Fatal(err)
	}
	for v := lo - 1; v <= hi+1; v++ {
		if a.Freq(v) != b.Freq(v) {
			t.Errorf("Freq(%d): CDFTable %d, GaussianTable %d", v, a.Freq(v), b.Freq(v))
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	symbols, tables, _ := gaussianProblem(t, rng, 300)
	data, err := Encode(symbols, tables)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(data) {
		if _, err := Decode(data[:n], tables); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Decode of %d of %d bytes: got error %v, want ErrCorrupt", n, len(data), err)
		}
	}
	if _, err := Decode(append(bytes.Clone(data), 0), tables); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: got error %v, want ErrCorrupt", err)
	}
	undetected := 0
	for range 2000 {
		bad := bytes.Clone(data)
		bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
		got, err := Decode(bad, tables)
		if err == nil && fmt.Sprint(got) != fmt.Sprint(symbols) {
			undetected++
		}
	}
	// The final-state check catches a corruption unless the state returns to exactly 2^23.
	if undetected > 20 {
		t.Errorf("%d of 2000 single-byte corruptions decoded without error", undetected)
	}
}

// A Decoder fed the tables in pieces decodes what Decode does, escapes included, and its
// Close makes Decode's end checks (a stream stopped early, a trailing byte).
func TestDecoderInPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	symbols, tables, _ := gaussianProblem(t, rng, 500)
	symbols[17] = tables[17].Hi() + 1000 // escaped
	data, err := Encode(symbols, tables)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecoder(data)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int, len(symbols))
	for lo := 0; lo < len(symbols); {
		hi := min(len(symbols), lo+1+rng.IntN(60))
		if err := d.Decode(tables[lo:hi], got[lo:hi]); err != nil {
			t.Fatalf("piece %d..%d: %v", lo, hi, err)
		}
		lo = hi
	}
	if err := d.Close(); err != nil || !slices.Equal(got, symbols) {
		t.Fatalf("Close: %v; symbols equal: %v", err, slices.Equal(got, symbols))
	}
	early, _ := NewDecoder(data)
	if err := early.Decode(tables[:100], got[:100]); err != nil {
		t.Fatal(err)
	}
	if err := early.Close(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Close after 100 of %d symbols: %v, want ErrCorrupt", len(symbols), err)
	}
	trailing, _ := NewDecoder(append(bytes.Clone(data), 0))
	if err := trailing.Decode(tables, got); err != nil {
		t.Fatal(err)
	}
	if err := trailing.Close(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Close with a trailing byte: %v, want ErrCorrupt", err)
	}
	if _, err := NewDecoder(data[:3]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("NewDecoder of 3 bytes: %v, want ErrCorrupt", err)
	}
}

func TestEmpty(t *testing.T) {
	data, err := Encode(nil, nil)
	if err != nil || len(data) != stateLen {
		t.Fatalf("Encode(nil) = %v, %v; want %d bytes", data, err, stateLen)
	}
	if got, err := Decode(data, nil); err != nil || len(got) != 0 {
		t.Fatalf("Decode = %v, %v", got, err)
	}
}

// fuzzTables is a fixed bank the fuzz targets index into.
func fuzzTables(tb testing.TB) []*Table {
	var bank []*Table
	for _, c := range []struct {
		mean, scale float64
		lo, hi, p   int
	}{{0, 1, -4, 4, 16}, {0.3, 0.11, -2, 2, 16}, {5, 20, -100, 110, 16}, {-1, 3, -10, 8, 8}, {0, 1, 0, 0, 1}, {2, 2, -3, 7, 12}} {
		t, err := GaussianTable(c.mean, c.scale, c.lo, c.hi, c.p)
		if err != nil {
			tb.Fatal(err)
		}
		bank = append(bank, t)
	}
	return bank
}

// fuzzLayout assigns len tables from the bank by a seed.
func fuzzLayout(bank []*Table, seed uint64, n int) []*Table {
	rng := rand.New(rand.NewPCG(seed, 0))
	tables := make([]*Table, n)
	for i := range tables {
		tables[i] = bank[rng.IntN(len(bank))]
	}
	return tables
}

// FuzzDecode: Decode never panics or hangs, and a stream it accepts re-encodes to itself.
func FuzzDecode(f *testing.F) {
	bank := fuzzTables(f)
	for seed := range uint64(4) {
		n := 5 + int(seed)*30
		tables := fuzzLayout(bank, seed, n)
		rng := rand.New(rand.NewPCG(seed, 1))
		symbols := make([]int, n)
		for i, t := range tables {
			symbols[i] = t.Lo() + rng.IntN(t.Hi()-t.Lo()+5) - 2 // a few escapes
		}
		data, err := Encode(symbols, tables)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, seed, uint16(n))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, n uint16) {
		tables := fuzzLayout(bank, seed, int(n%2048))
		got, err := Decode(data, tables)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := Encode(got, tables)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted stream re-encodes to different bytes")
		}
	})
}

// FuzzRoundTrip: any symbols, escapes included, round-trip under any layout of tables.
func FuzzRoundTrip(f *testing.F) {
	bank := fuzzTables(f)
	f.Add(uint64(1), uint16(100), int64(0))
	f.Add(uint64(2), uint16(1000), int64(1<<38))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, spread int64) {
		tables := fuzzLayout(bank, seed, int(n%4096))
		rng := rand.New(rand.NewPCG(seed, 2))
		spread = 1 + min(max(spread, -spread, 0), 1<<39)%(1<<39)
		symbols := make([]int, len(tables))
		for i := range symbols {
			if rng.IntN(8) == 0 {
				symbols[i] = int(rng.Int64N(2*spread)) - int(spread)
			} else {
				symbols[i] = int(math.Round(3 * rng.NormFloat64()))
			}
		}
		roundTrip(t, symbols, tables)
	})
}

func benchmarkProblem(b *testing.B) ([]int, []*Table, []byte) {
	rng := rand.New(rand.NewPCG(5, 6))
	symbols, tables, _ := gaussianProblem(b, rng, 1<<16)
	data, err := Encode(symbols, tables)
	if err != nil {
		b.Fatal(err)
	}
	return symbols, tables, data
}

func BenchmarkGaussianTable(b *testing.B) {
	for b.Loop() {
		if _, err := GaussianTable(0.3, 4, -30, 30, 16); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkBankProblem codes 2^16 symbols under a bank of 64 zero-mean Gaussians with
// log-spaced scales, as CompressAI's Gaussian conditional does (means subtracted before
// coding), so the tables stay in cache; benchmarkProblem's 2^16 distinct tables do not.
func benchmarkBankProblem(b *testing.B) ([]int, []*Table, []byte) {
	bank := make([]*Table, 64)
	for i := range bank {
		scale := 0.11 * math.Pow(256/0.11, float64(i)/63)
		r := int(math.Ceil(6*scale + 2))
		t, err := GaussianTable(0, scale, -r, r, 16)
		if err != nil {
			b.Fatal(err)
		}
		bank[i] = t
	}
	rng := rand.New(rand.NewPCG(7, 8))
	symbols := make([]int, 1<<16)
	tables := make([]*Table, len(symbols))
	for i := range symbols {
		k := rng.IntN(32) // scales up to ~5: typical latents
		tables[i] = bank[k]
		symbols[i] = int(math.Round(0.11 * math.Pow(256/0.11, float64(k)/63) * rng.NormFloat64()))
	}
	data, err := Encode(symbols, tables)
	if err != nil {
		b.Fatal(err)
	}
	return symbols, tables, data
}

// benchmarkProblems are the coding benchmarks' inputs: every symbol with its own Gaussian
// table ("distinct", memory-bound in decoding) and a 64-table bank ("bank", as CompressAI
// codecs quantise scales).
var benchmarkProblems = []struct {
	name    string
	problem func(*testing.B) ([]int, []*Table, []byte)
}{{"distinct", benchmarkProblem}, {"bank", benchmarkBankProblem}}

func BenchmarkEncode(b *testing.B) {
	for _, p := range benchmarkProblems {
		b.Run(p.name, func(b *testing.B) {
			symbols, tables, _ := p.problem(b)
			b.SetBytes(int64(len(symbols)))
			for b.Loop() {
				if _, err := Encode(symbols, tables); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, p := range benchmarkProblems {
		b.Run(p.name, func(b *testing.B) {
			_, tables, data := p.problem(b)
			b.SetBytes(int64(len(tables)))
			for b.Loop() {
				if _, err := Decode(data, tables); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// roundTrip encodes symbols under tables, decodes the stream, fails t unless exactly the
// symbols come back, and returns the stream.
func roundTrip(t *testing.T, symbols []int, tables []*Table) []byte {
	t.Helper()
	data, err := Encode(symbols, tables)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data, tables)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(symbols) {
		t.Fatalf("decoded %d symbols, want %d", len(got), len(symbols))
	}
	for i := range symbols {
		if got[i] != symbols[i] {
			t.Fatalf("symbol %d: got %d, want %d", i, got[i], symbols[i])
		}
	}
	return data
}
