package speechtok_test

import (
	"fmt"

	"github.com/qzoo/qzoo/models/speechtok"
)

// The frame rate and packed rates of the three frame rates of configs/speech, from the
// hyperparameters alone.
func ExampleGeometryOf() {
	for _, c := range []struct {
		strides        string
		sem, ac, depth int
	}{{"4", 1024, 1024, 3}, {"2,4", 4096, 4096, 7}, {"4,4", 4096, 4096, 9}} {
		params := speechtok.Params(0).Defaults()
		params[speechtok.ParamStrides] = c.strides
		params["sem_vq_codebook_size"], params["ac_vq_codebook_size"], params["ac_vq_residual_stages"] = c.sem, c.ac, c.depth
		g, err := speechtok.GeometryOf(params)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("hop %d: %g Hz, %d streams, %g bit/s (semantic alone %g)\n",
			g.Hop, g.FrameRate(), g.Streams(), g.BitsPerSecond(g.Streams()), g.BitsPerSecond(1))
	}
	// Output:
	// hop 640: 25 Hz, 4 streams, 1000 bit/s (semantic alone 250)
	// hop 1280: 12.5 Hz, 8 streams, 1200 bit/s (semantic alone 150)
	// hop 2560: 6.25 Hz, 10 streams, 750 bit/s (semantic alone 75)
}
