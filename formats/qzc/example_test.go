package qzc_test

import (
	"encoding/json"
	"fmt"

	"github.com/qzoo/qzoo/formats/qzc"
)

// Frame a payload with the description of the signal it codes, then read it back.
func ExampleMarshal() {
	h := &qzc.Header{
		Signal:     qzc.Gridded,
		Model:      "vaeformer",
		Checkpoint: qzc.CheckpointID{Dir: "runs/vaeformer_quick", SHA256: "ca7a9c52", Step: 3000},
		Shape:      []int{744, 33, 49}, // hours, latitudes, longitudes
		Channels:   []string{"t2m"},
		Media:      "netcdf",
		Source:     json.RawMessage(`{"name":"era5-2mt-2019-03-uk.nc"}`), // the front end's, opaque here
	}
	b, sizes, err := qzc.Marshal(h, []byte{0x2a, 0x17})
	if err != nil {
		fmt.Println(err)
		return
	}
	got, payload, _, err := qzc.Parse(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Signal, got.Model, got.Shape, got.Values(), "values")
	fmt.Printf("payload %x, framing %d bytes\n", payload, sizes.Framing)
	// Output:
	// gridded vaeformer [744 33 49] 1203048 values
	// payload 2a17, framing 26 bytes
}
