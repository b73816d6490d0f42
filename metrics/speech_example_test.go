package metrics_test

import (
	"fmt"

	"github.com/qzoo/qzoo/metrics"
)

// A word error rate: pocketsphinx's hypothesis for a LibriVox utterance against its transcript.
func ExampleWordErrors() {
	c := metrics.WordErrors("<s> he was not an ill disposed young man </s>", "He was not an illness, those young man.")
	fmt.Printf("S=%d D=%d I=%d N=%d WER=%.2f\n", c.Substitutions, c.Deletions, c.Insertions, c.Reference, c.Rate())
	// Output: S=2 D=0 I=0 N=8 WER=0.25
}

// A phoneme error rate over ARPAbet tokens, pooled over two utterances.
func ExampleAlign() {
	a := metrics.Align([]string{"HH", "AH", "L", "OW"}, []string{"HH", "EH", "L", "OW", "W"})
	b := metrics.Align([]string{"W", "ER", "L", "D"}, []string{"W", "ER", "D"})
	total := a.Add(b)
	fmt.Printf("%+v PER=%.3f\n", total, total.Rate())
	// Output: {Substitutions:1 Deletions:1 Insertions:1 Reference:8} PER=0.375
}
