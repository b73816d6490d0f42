package llama2c_test

import (
	"bytes"
	"fmt"

	"github.com/qzoo/qzoo/formats/llama2c"
)

// A checkpoint is a header and the tensors of its layout; it encodes to run.c's legacy
// format and parses back.
func Example() {
	h := llama2c.Header{Dim: 8, HiddenDim: 16, Layers: 2, Heads: 2, KVHeads: 1, VocabSize: 10, SeqLen: 4, Shared: true}
	ck := &llama2c.Checkpoint{Header: h, Tensors: h.Layout()}
	for i := range ck.Tensors {
		ck.Tensors[i].Data = make([]float32, ck.Tensors[i].Size())
	}
	b, err := ck.Encode()
	if err != nil {
		fmt.Println(err)
		return
	}
	back, err := llama2c.Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(b), "bytes")
	for _, t := range back.Tensors[:5] {
		fmt.Println(t.Name, t.Dims)
	}
	_, err = llama2c.Parse(bytes.NewReader([]byte("<!DOCTYPE html><html></html>")), 28)
	fmt.Println(err)
	// Output:
	// 5180 bytes
	// token_embedding_table [10 8]
	// rms_att_weight [2 8]
	// wq [2 8 8]
	// wk [2 4 8]
	// wv [2 4 8]
	// this is an HTML page (a download that returned a web page instead of the file), not a llama2.c legacy checkpoint
}
