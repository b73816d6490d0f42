package kvcache

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qzoo/qzoo/quant"
	"github.com/qzoo/qzoo/quant/scheme"
)

// TestKIVIResidual: with Residual R and KeyGroup G, the newest R..R+G−1 tokens read back as
// their fp16 roundings, older ones are quantized, and a flush returns the group's first token.
func TestKIVIResidual(t *testing.T) {
	const r, g = 8, 4
	cfg := Config{Method: MethodKIVI, KeyBits: 2, ValueBits: 2, Group: 8, KeyGroup: g, Residual: r}
	q := build(t, cfg, testShape)
	w := testShape.Width()
	tok := syntheticTokens(rand.New(rand.NewPCG(5, 5)), 40, w)
	s := q.NewSequence()
	k, v := make([]float32, w), make([]float32, w)
	for i := range tok.n {
		from := s.Append(0, tok.keysPre[i*w:(i+1)*w], tok.keys[i*w:(i+1)*w], tok.val[i*w:(i+1)*w])
		n := i + 1
		quantized := (n - r) / g * g
		if n < r {
			quantized = 0
		}
		wantFrom := i
		if quantized > 0 && quantized%g == 0 && n-quantized == r {
			wantFrom = quantized - g
		}
		if from != wantFrom {
			t.Fatalf("append %d returned %d, want %d", i, from, wantFrom)
		}
		if fp16 := n - quantized; fp16 < min(n, r) || fp16 > r+g-1 {
			t.Fatalf("%d tokens: %d in fp16, want between %d and %d", n, fp16, r, r+g-1)
		}
		for j := range n {
			s.Read(0, j, k, v)
			exact := true
			for c := range w {
				exact = exact && k[c] == quant.RoundFloat16(tok.keys[j*w+c]) && v[c] == quant.RoundFloat16(tok.val[j*w+c])
			}
			if exact != (j >= quantized) {
				t.Fatalf("%d tokens: token %d read exactly in fp16: %v, want %v", n, j, exact, j >= quantized)
			}
		}
	}
}

// TestKIVIStrictBytes: the strict variant holds no fp16 token; its storage is the packed
// codes and fp16 scales and zero points, counted by hand.
func TestKIVIStrictBytes(t *testing.T) {
	const g, group, bits = 4, 8, 3
	cfg := Config{Method: MethodKIVI, KeyBits: bits, ValueBits: bits, Group: group, KeyGroup: g}
	q := build(t, cfg, testShape)
	w := testShape.Width()
	tok := syntheticTokens(rand.New(rand.NewPCG(6, 6)), 23, w)
	s := q.NewSequence()
	perToken := (w*bits+7)/8 + 4*w/group
	perKeyGroup := (g*w*bits+7)/8 + 4*w
	for i := range tok.n {
		for l := range testShape.Layers {
			from := s.Append(l, tok.keysPre[i*w:(i+1)*w], tok.keys[i*w:(i+1)*w], tok.val[i*w:(i+1)*w])
			if want := i / g * g; from != want {
				t.Fatalf("append %d returned %d, want the start of its key group %d (re-quantized)", i, from, want)
			}
		}
		n := i + 1
		keys := n / g * perKeyGroup
		if tail := n % g; tail > 0 { // the incomplete group, per channel over its tokens
			keys += (tail*w*bits+7)/8 + 4*w
		}
		want := testShape.Layers * (keys + n*perToken)
		if got := s.Bytes(); got != want {
			t.Fatalf("%d tokens: %d bytes, want %d", n, got, want)
		}
	}
}

// TestKIVIBytesKnown: 4-bit values in groups of 8 of a single 8-channel head take 4 bytes of
// codes and 2+2 of fp16 scale and zero point per token; 2-bit keys grouped by 2 tokens take
// 4 bytes of codes and 8·4 of scales and zero points per group.
func TestKIVIBytesKnown(t *testing.T) {
	shape := Shape{Layers: 1, KVHeads: 1, HeadDim: 8}
	cfg := Config{Method: MethodKIVI, KeyBits: 2, ValueBits: 4, Group: 8, KeyGroup: 2}
	q := build(t, cfg, shape)
	s := q.NewSequence()
	x := []float32{1, -2, 3, 0.5, 0, 7, -1, 2}
	for range 4 {
		s.Append(0, x, x, x)
	}
	if want := 4*8 + 2*(4+32); s.Bytes() != want {
		t.Errorf("%d bytes, want %d", s.Bytes(), want)
	}
}

// TestKIVIPerChannelKeys: per-channel key scales beat per-token ones on keys with an outlier
// channel (KIVI §3.1), at equal bits. The keys are taken before RoPE, which would otherwise
// mix the outlier channel with its neighbour (KVQuant §3.2).
func TestKIVIPerChannelKeys(t *testing.T) {
	w := testShape.Width()
	tok := syntheticTokens(rand.New(rand.NewPCG(7, 7)), 64, w)
	const quantized = 32 // tokens [32, 64) stay in the fp16 residual window
	q := build(t, Config{Method: MethodKIVI, KeyBits: 2, ValueBits: 2, Group: 8, KeyGroup: quantized, Residual: quantized, PreRoPE: true}, testShape)
	k, _ := fill(t, q, tok)
	perChannel := relErr(tok.keys[:quantized*w], k[:quantized*w])
	perToken := 0.0
	x := make([]float32, w)
	for i := range quantized {
		quantizeToken(tok.keysPre[i*w:(i+1)*w], 8, 2).read(x, 8, 2)
		perToken += relErr(tok.keysPre[i*w:(i+1)*w], x) / quantized
	}
	if perChannel >= perToken {
		t.Errorf("per-channel key error %.4g, per-token %.4g: want per-channel lower", perChannel, perToken)
	}
}

// TestKIVIStrictKeysAsRequantized pins the strict variant's keys to its definition, computed
// from scratch: after every append, each token of the incomplete group reads back as
// quantizing [the group's members as their codes read, then the new key] per channel gives,
// complete groups as they were closed, a closed group's packed codes, scales and zero points
// are those, and the storage counts the open group as packed.
func TestKIVIStrictKeysAsRequantized(t *testing.T) {
	for _, bits := range []int{2, 3, 4} {
		const g = 5
		cfg := Config{Method: MethodKIVI, KeyBits: bits, ValueBits: bits, Group: 8, KeyGroup: g}
		q := build(t, cfg, testShape)
		w := testShape.Width()
		tok := syntheticTokens(rand.New(rand.NewPCG(8, uint64(bits))), 3*g+2, w)
		s := q.NewSequence()
		var closed []float32 // the complete groups' keys as read when closed
		var tail channelCodes
		tailN := 0
		got := make([]float32, w)
		buf := make([]float32, g*w)
		for i := range tok.n {
			x := tok.keys[i*w : (i+1)*w]
			s.Append(0, x, x, tok.val[i*w:(i+1)*w])
			tail.readTokens(0, tailN, buf, bits)
			copy(buf[tailN*w:], x)
			tailN++
			tail = quantizeChannels(buf[:tailN*w], w, bits, nil)
			want := make([]float32, tailN*w)
			tail.readTokens(0, tailN, want, bits)
			want = append(slices.Clone(closed), want...)
			for j := range i + 1 {
				s.ReadKeys(0, j, got)
				if !slices.Equal(got, want[j*w:(j+1)*w]) {
					t.Fatalf("%d bits, %d tokens: key %d reads %v, want %v", bits, i+1, j, got, want[j*w:(j+1)*w])
				}
			}
			ks := s.streams[0][Keys].(*kiviStream)
			wantStorage := tail.storage()
			if tailN == g {
				closed, tailN = want, 0
				last := ks.groups[len(ks.groups)-1]
				if !slices.Equal(last.codes, tail.codes) || !slices.Equal(last.scale, tail.scale) || !slices.Equal(last.zero, tail.zero) {
					t.Fatalf("%d bits, %d tokens: the closed group's codes, scales or zero points differ", bits, i+1)
				}
				tail, wantStorage = channelCodes{}, scheme.Storage{}
			}
			for _, g := range ks.groups {
				wantStorage = wantStorage.Add(g.storage())
			}
			if got := ks.storage(); got != wantStorage {
				t.Fatalf("%d bits, %d tokens: key storage %+v, want %+v", bits, i+1, got, wantStorage)
			}
		}
	}
}
