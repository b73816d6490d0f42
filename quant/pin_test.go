package quant

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"
)

// TestPublishedOutputsPinned pins the stored bytes and the dequantized weights of rtn, nf4
// and squeezellm on a real matrix, stories260K's layer-0 w2, read as [64, 172] and as
// [172, 64], with groups no wider than a row: the published numbers of the zoo were made with
// these outputs, and new data types or block rules must not move them. Each entry is the first
// 16 hex digits of the SHA-256 of MarshalBinary's bytes and of the little-endian float32
// values of Dequantize.
func TestPublishedOutputsPinned(t *testing.T) {
	w, err := readStoriesW2()
	if err != nil {
		t.Fatalf("stories260K (%s): %v", storiesPath, err)
	}
	for _, tc := range []struct {
		rows, cols int
		spec       Spec
		stored     string
		weights    string
	}{
		{64, 172, Spec{Method: "rtn", Bits: 4}, "c2cfdfc7fb9dc41b", "a5837e717829fc8e"},
		{64, 172, Spec{Method: "rtn", Bits: 4, GroupSize: 64}, "8f0c52092d0c6e84", "afa3fb0ca8828b64"},
		{64, 172, Spec{Method: "rtn", Bits: 3, GroupSize: 32, Symmetric: true}, "7f6bc074c3f68a7e", "903b8096d0a465e4"},
		{64, 172, Spec{Method: "rtn", Bits: 8, GroupSize: 172}, "20b7a7205cf303a2", "96224550df9098ce"},
		{64, 172, Spec{Method: "rtn", Bits: 2, GroupSize: 32, Hadamard: true, Seed: 1}, "f2c1ffe48ec07f4c", "26a7d8e27f749b71"},
		{64, 172, Spec{Method: "rtn", Bits: 4, OutlierFraction: 0.005}, "3ced209e4ad643d6", "29b3a5b4f20fbeec"},
		{172, 64, Spec{Method: "rtn", Bits: 4, GroupSize: 64, Symmetric: true}, "e347ea870012451c", "fe26a9340dea67db"},
		{64, 172, Spec{Method: "nf4"}, "89129ab8dbc2f07b", "3aa91808f1d2f535"},
		{64, 172, Spec{Method: "nf4", GroupSize: 32, DoubleQuant: true}, "5f44c5c29b50f728", "fa446a83ca7b55d5"},
		{172, 64, Spec{Method: "nf4", Hadamard: true, Seed: 1}, "6a5ac17bdafe114d", "596b26123840acf8"},
		{64, 172, Spec{Method: "squeezellm", Bits: 3}, "c8d069f6767af3b2", "4650d1ef49b2f3f2"},
		{172, 64, Spec{Method: "squeezellm", Bits: 4, GroupSize: 32, OutlierFraction: 0.01}, "e80bff07dc65e662", "b90f726621c85d68"},
	} {
		q, err := Quantize(w, tc.rows, tc.cols, tc.spec, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		b, _ := q.MarshalBinary()
		values := make([]byte, 0, 4*len(w))
		for _, v := range q.Dequantize() {
			values = binary.LittleEndian.AppendUint32(values, math.Float32bits(v))
		}
		stored, weights := digest(b), digest(values)
		if stored != tc.stored || weights != tc.weights {
			t.Errorf("%d×%d %s: stored %s weights %s, pinned %s %s", tc.rows, tc.cols, tc.spec, stored, weights, tc.stored, tc.weights)
		}
	}
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}
