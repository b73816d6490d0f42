package scheme

// Storage is what a quantized tensor (or a set of them) costs, in bits, term by term. Each
// family documents where its terms come from; the terms are:
type Storage struct {
	// Values is the number of values the storage represents (weights, cached key and value
	// entries, latent elements): the denominator of [Storage.BitsPerValue]. Not a cost.
	Values int64

	// Codes: the codes themselves, Bits per value (or per vector), packed.
	Codes float64
	// Scales: per-block scales (fp16 or fp32), an absmax per block, and second-level
	// constants that code them (NF4's double quantization).
	Scales float64
	// ZeroPoints: per-block zero points or offsets of asymmetric grids.
	ZeroPoints float64
	// Tables: per-block lookup tables or codebooks stored with the tensor (SqueezeLLM's
	// table per row).
	Tables float64
	// OutlierValues and OutlierIndices: values kept apart exactly (dense-and-sparse) and
	// the indices that place them (columns, counts, row ends).
	OutlierValues, OutlierIndices float64
	// Shared: constants shared by every sequence or every tensor of a kind (a cache's
	// calibrated ranges, tables and codebooks; a rotation's seed; a learned step size of
	// activations).
	Shared float64
	// FullPrecision: parts kept apart unquantized (a cache's fp16 window and attention
	// sink, float embeddings and norms, LoRA adapters kept beside a quantized base).
	FullPrecision float64
}

// Total is the sum of every term, in bits (Values is not a term).
func (s Storage) Total() float64 {
	return s.Codes + s.Scales + s.ZeroPoints + s.Tables + s.OutlierValues + s.OutlierIndices + s.Shared + s.FullPrecision
}

// Add returns the term-by-term sum of s and t (Values added too).
func (s Storage) Add(t Storage) Storage {
	return Storage{Values: s.Values + t.Values,
		Codes: s.Codes + t.Codes, Scales: s.Scales + t.Scales, ZeroPoints: s.ZeroPoints + t.ZeroPoints,
		Tables: s.Tables + t.Tables, OutlierValues: s.OutlierValues + t.OutlierValues,
		OutlierIndices: s.OutlierIndices + t.OutlierIndices, Shared: s.Shared + t.Shared,
		FullPrecision: s.FullPrecision + t.FullPrecision}
}

// Scale returns s with every term and Values multiplied by n (n identical tensors, e.g. one
// linear layer's storage times the number of blocks).
func (s Storage) Scale(n int64) Storage {
	f := float64(n)
	return Storage{Values: s.Values * n, Codes: f * s.Codes, Scales: f * s.Scales, ZeroPoints: f * s.ZeroPoints,
		Tables: f * s.Tables, OutlierValues: f * s.OutlierValues, OutlierIndices: f * s.OutlierIndices,
		Shared: f * s.Shared, FullPrecision: f * s.FullPrecision}
}

// BitsPerValue is Total()/Values (0 when Values is 0).
func (s Storage) BitsPerValue() float64 {
	if s.Values == 0 {
		return 0
	}
	return s.Total() / float64(s.Values)
}

// Unquantized is the storage of n values kept at width bits each (e.g. 32 for float32 parameters),
// counted as FullPrecision.
func Unquantized(n int64, bits int) Storage {
	return Storage{Values: n, FullPrecision: float64(n) * float64(bits)}
}

// Sum is the term-by-term sum of parts.
func Sum(parts ...Storage) Storage {
	var s Storage
	for _, p := range parts {
		s = s.Add(p)
	}
	return s
}

// TotalBits is the bits of every part together: the one function a study computes a model's
// total bits with (weights, caches and latents alike).
func TotalBits(parts ...Storage) float64 { return Sum(parts...).Total() }

// BitsPerValue is the bits of every part over the values they represent together.
func BitsPerValue(parts ...Storage) float64 { return Sum(parts...).BitsPerValue() }
