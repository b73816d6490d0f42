package wav_test

import (
	"fmt"

	"github.com/qzoo/qzoo/formats/wav"
)

// Build a tiny 16-bit stereo file in memory, parse it, and mix it down to mono.
func Example() {
	a := &wav.Audio{SampleRate: 16000, Samples: [][]float32{
		{0.5, 0.25, 0}, // left
		{0, -0.25, 1},  // right: +1 clips to 32767/32768
	}}
	b, err := wav.Encode(a)
	if err != nil {
		fmt.Println(err)
		return
	}
	back, err := wav.Parse("memory.wav", b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(b), "bytes:", back.Format)
	fmt.Println(back.SampleRate, "Hz,", back.Channels(), "channels,", back.Frames(), "frames")
	fmt.Println("first mono sample:", back.Mono()[0])
	fmt.Println("right, last frame:", back.Samples[1][2])

	_, err = wav.Parse("song.flac", []byte("fLaC\x00\x00\x00\x22"))
	fmt.Println(err)
	// Output:
	// 56 bytes: 16-bit PCM
	// 16000 Hz, 2 channels, 3 frames
	// first mono sample: 0.25
	// right, last frame: 0.9999695
	// wav: song.flac: this is a FLAC file, not a WAV file
}
