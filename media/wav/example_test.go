package wav_test

import (
	"fmt"
	"path/filepath"

	"github.com/qzoo/qzoo/internal/datadir"
	"github.com/qzoo/qzoo/media/wav"
)

// Read a real 16 kHz recording as the codec does: one channel, "mono", at 16 kHz, with the
// description of the source that a .qzc file carries.
func Example() {
	path := filepath.Join(datadir.Root(), "speech", "librivox", "sense_and_sensibility_01_austen_64kb-0870.wav")
	var fe wav.Frontend
	s, source, err := fe.Read([]string{path}, nil, []string{wav.Channel})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := fe.Describe(source)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Kind, s.Channels, s.Shape, s.SampleRate, "Hz")
	fmt.Println(d.Lines[0])
	// Output:
	// audio [mono] [113600] 16000 Hz
	// WAV, 16-bit PCM, 16000 Hz, 1 channel(s), 113600 frames (7.100 s)
}
