package laws_test

import (
	"fmt"

	"github.com/qzoo/qzoo/laws"
)

// A perplexity falling to a floor of 5 as the total bits grow, measured at six model sizes:
// Fit recovers the law, with its floor.
func ExampleFit() {
	bits := []float64{4e5, 1e6, 2.5e6, 6e6, 1.5e7, 4e7}
	var ppl []float64
	for _, b := range bits {
		ppl = append(ppl, laws.Law{A: 4e4, Alpha: 0.6, C: 5}.At(b))
	}
	law, err := laws.Fit(bits, ppl, laws.Auto)
	if err != nil {
		panic(err)
	}
	fmt.Println(law)
	fmt.Printf("floor fitted: %v; at 1e8 bits: %.3f (extrapolated: %v)\n", law.Floor, law.At(1e8), !law.InRange(1e8))
	// Output:
	// y = 5 +4e+04·x^(−0.6)
	// floor fitted: true; at 1e8 bits: 5.634 (extrapolated: true)
}
