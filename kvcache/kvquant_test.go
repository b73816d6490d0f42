package kvcache

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qzoo/qzoo/quant"
)

// TestKVQuantPerChannelKeys: calibrated per-channel key ranges beat per-token ones on
// pre-RoPE keys with an outlier channel (KVQuant §3.1).
func TestKVQuantPerChannelKeys(t *testing.T) {
	tok := syntheticTokens(rand.New(rand.NewPCG(8, 8)), 200, testShape.Width())
	cfg := Config{Method: MethodKVQuant, KeyBits: 2, ValueBits: 2, Group: 8, PreRoPE: true}
	k, _ := fill(t, build(t, cfg, testShape), tok)
	perToken := relErr(tok.keys, k)
	cfg.KeyPerChannel = true
	k, _ = fill(t, build(t, cfg, testShape), tok)
	if perChannel := relErr(tok.keys, k); perChannel >= perToken {
		t.Errorf("per-channel key error %.4g, per-token %.4g: want per-channel lower", perChannel, perToken)
	}
}

// TestKVQuantFisherLevels: Fisher weights on the values above 1 pull the non-uniform levels
// up and lower the Fisher-weighted error there (KVQuant §3.3).
func TestKVQuantFisherLevels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	shape := testShape
	act := activations(rng, shape, 256)
	weight := func(v float32) float32 {
		if v > 1 {
			return 100
		}
		return 1
	}
	for l := range act.Layers {
		la := &act.Layers[l]
		la.ValuesFisher = make([]float32, len(la.Values))
		for i, v := range la.Values {
			la.ValuesFisher[i] = weight(v)
		}
	}
	cfg := Config{Method: MethodKVQuant, KeyBits: 2, ValueBits: 2, Group: 32, NonUniform: true}
	weighted, err := Fit(cfg, shape, act)
	if err != nil {
		t.Fatal(err)
	}
	for l := range act.Layers {
		act.Layers[l].ValuesFisher = nil
	}
	plain, err := Fit(cfg, shape, act)
	if err != nil {
		t.Fatal(err)
	}
	wl := weighted.codecs[0][Values].(*kvquantCodec).levels.levels
	pl := plain.codecs[0][Values].(*kvquantCodec).levels.levels
	if wl[3] <= pl[3] || wl[2] <= pl[2] {
		t.Errorf("levels with Fisher %v, without %v: want the top levels higher with Fisher", wl, pl)
	}
	tok := syntheticTokens(rng, 200, shape.Width())
	weightedErr := func(q *Quantizer) float64 {
		_, v := fill(t, q, tok)
		var e float64
		for i, x := range tok.val {
			d := float64(x - v[i])
			e += float64(weight(x)) * d * d
		}
		return e
	}
	if a, b := weightedErr(weighted), weightedErr(plain); a >= b {
		t.Errorf("Fisher-weighted error %.4g with Fisher levels, %.4g without: want lower", a, b)
	}
}

// kvquantOutliers counts the sparse entries of layer 0's stream of side in s.
func kvquantOutliers(s *Sequence, side Side) int {
	var st stream = s.streams[0][side]
	if sink, ok := st.(*sinkStream); ok {
		st = sink.rest
	}
	n := 0
	for _, t := range st.(*kvquantStream).tokens {
		n += int(t.sparse[0])
	}
	return n
}

// TestKVQuantOutliers: on data drawn like the calibration data, about the Outliers fraction
// of values is kept sparse (per-channel thresholds for per-token values, the per-channel
// range for keys), each read back as its fp16 rounding, and the storage is the hand count.
func TestKVQuantOutliers(t *testing.T) {
	const frac, bits, group = 0.04, 3, 8
	w := testShape.Width()
	cfg := Config{Method: MethodKVQuant, KeyBits: bits, ValueBits: bits, Group: group, KeyPerChannel: true, PreRoPE: true, Outliers: frac}
	q := build(t, cfg, testShape)
	tok := syntheticTokens(rand.New(rand.NewPCG(10, 10)), 1000, w)
	s := q.NewSequence()
	for i := range tok.n {
		s.Append(0, tok.keysPre[i*w:(i+1)*w], tok.keys[i*w:(i+1)*w], tok.val[i*w:(i+1)*w])
	}
	keys, values := kvquantOutliers(s, Keys), kvquantOutliers(s, Values)
	for _, c := range []struct {
		side  Side
		count int
	}{{Keys, keys}, {Values, values}} {
		if f := float64(c.count) / float64(tok.n*w); f < frac/2 || f > 2*frac {
			t.Errorf("%s: outlier fraction %.4f, want about %v", c.side, f, frac)
		}
	}
	codes := (w*bits + 7) / 8
	want := tok.n*(codes+1) + 3*keys + tok.n*(codes+4*w/group+1) + 3*values
	if got := s.Bytes(); got != want {
		t.Errorf("%d bytes, want %d", got, want)
	}
	// The sparse lists split into fp16 values and 1-byte counts and channel indices.
	st := s.Storage()
	if st.OutlierValues != float64(16*(keys+values)) || st.OutlierIndices != float64(8*(2*tok.n+keys+values)) ||
		st.Scales != float64(16*tok.n*w/group) || st.ZeroPoints != st.Scales || st.Codes != float64(8*2*tok.n*codes) {
		t.Errorf("storage %+v: want outlier values %d, indices %d, scales and offsets %d bits each", st, 16*(keys+values), 8*(2*tok.n+keys+values), 16*tok.n*w/group)
	}
	c := q.codecs[0][Values].(*kvquantCodec)
	v, k := make([]float32, w), make([]float32, w)
	for j := range tok.n {
		s.Read(0, j, k, v)
		for ch, x := range tok.val[j*w : (j+1)*w] {
			if c.isOutlier(x, ch) && v[ch] != quant.RoundFloat16(x) {
				t.Fatalf("token %d channel %d: outlier %v read as %v", j, ch, x, v[ch])
			}
		}
	}
}

// channelMoments returns the mean and deviation of every channel of x [n, W].
func channelMoments(x []float32, w int) (mean, dev []float64) {
	n := len(x) / w
	mean, dev = make([]float64, w), make([]float64, w)
	for c := range w {
		var s, ss float64
		for t := range n {
			v := float64(x[t*w+c])
			s += v
			ss += v * v
		}
		mean[c] = s / float64(n)
		dev[c] = math.Sqrt(ss/float64(n) - mean[c]*mean[c])
	}
	return mean, dev
}

// TestKVQuantQNorm: with QNorm the dequantized calibration values have each channel's mean
// and deviation, up to the fp16 rounding of the correction (KVQuant's Q-Norm).
func TestKVQuantQNorm(t *testing.T) {
	w := testShape.Width()
	act := activations(rand.New(rand.NewPCG(1, 1)), testShape, 256) // build's calibration data
	la := act.Layers[0]
	tok := tokens{n: act.N, keysPre: la.KeysPre, keys: la.Keys, val: la.Values}
	mean, dev := channelMoments(la.Values, w)
	worst := func(cfg Config) (meanErr, devErr float64) {
		_, v := fill(t, build(t, cfg, testShape), tok)
		m, d := channelMoments(v, w)
		for c := range w {
			meanErr = max(meanErr, math.Abs(m[c]-mean[c])/dev[c])
			devErr = max(devErr, math.Abs(d[c]/dev[c]-1))
		}
		return meanErr, devErr
	}
	cfg := Config{Method: MethodKVQuant, KeyBits: 2, ValueBits: 2, Group: 32, NonUniform: true}
	_, before := worst(cfg)
	cfg.QNorm = true
	m, d := worst(cfg)
	if m > 0.01 || d > 0.01 || d >= before {
		t.Errorf("with QNorm: worst channel mean error %.4g σ, deviation ratio error %.4g (%.4g without): want both below 0.01", m, d, before)
	}
}

// TestKVQuantSink: the first Sink tokens read back as their fp16 roundings.
func TestKVQuantSink(t *testing.T) {
	const sink = 3
	w := testShape.Width()
	cfg := Config{Method: MethodKVQuant, KeyBits: 2, ValueBits: 2, Group: 8, NonUniform: true, Sink: sink}
	tok := syntheticTokens(rand.New(rand.NewPCG(11, 11)), 10, w)
	k, v := fill(t, build(t, cfg, testShape), tok)
	round := func(x []float32) []float32 {
		out := make([]float32, len(x))
		for i, e := range x {
			out[i] = quant.RoundFloat16(e)
		}
		return out
	}
	if !slices.Equal(k[:sink*w], round(tok.keys[:sink*w])) || !slices.Equal(v[:sink*w], round(tok.val[:sink*w])) {
		t.Errorf("sink tokens not read back in fp16")
	}
	if slices.Equal(v[sink*w:(sink+1)*w], round(tok.val[sink*w:(sink+1)*w])) {
		t.Errorf("token %d after the sink read back in fp16", sink)
	}
}

// TestKVQuantUncalibrated: with none of the calibrated steps, kvquant is built by New.
func TestKVQuantUncalibrated(t *testing.T) {
	cfg := Config{Method: MethodKVQuant, KeyBits: 4, ValueBits: 4, Group: 8, PreRoPE: true, Sink: 1}
	if cfg.NeedsCalibration() {
		t.Fatal("per-token uniform kvquant needs calibration")
	}
	if _, err := New(cfg, testShape); err != nil {
		t.Fatal(err)
	}
	cfg.QNorm = true
	if !cfg.NeedsCalibration() {
		t.Error("kvquant with QNorm needs no calibration")
	}
}
