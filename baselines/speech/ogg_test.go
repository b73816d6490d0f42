package speech

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/qzoo/qzoo/formats/wav"
)

// oggStream writes packets as an Ogg stream of serial 7, at most maxSegments lacing values per
// page (a packet spans pages where the table fills), with valid CRCs.
func oggStream(packets [][]byte, maxSegments int) []byte {
	type segment struct {
		data []byte
		ends bool // the packet's last segment
	}
	var segs []segment
	for _, p := range packets {
		for len(p) >= 255 {
			segs = append(segs, segment{p[:255], false})
			p = p[255:]
		}
		segs = append(segs, segment{p, true}) // the < 255 (possibly empty) last segment
	}
	var out []byte
	continued := false
	for seq := 0; len(segs) > 0; seq++ {
		n := min(maxSegments, len(segs))
		page := make([]byte, oggHeaderSize, oggHeaderSize+n)
		copy(page, "OggS")
		if continued {
			page[5] |= 1
		}
		if seq == 0 {
			page[5] |= 2
		}
		if n == len(segs) {
			page[5] |= 4
		}
		binary.LittleEndian.PutUint32(page[14:], 7)
		binary.LittleEndian.PutUint32(page[18:], uint32(seq))
		page[26] = byte(n)
		var body []byte
		for _, s := range segs[:n] {
			page = append(page, byte(len(s.data)))
			body = append(body, s.data...)
		}
		continued = !segs[n-1].ends
		segs = segs[n:]
		page = append(page, body...)
		binary.LittleEndian.PutUint32(page[22:], oggCRC(page))
		out = append(out, page...)
	}
	return out
}

func filled(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func TestOggPacketsRoundTrip(t *testing.T) {
	packets := [][]byte{[]byte("OpusHead0123456789ab"), []byte("OpusTags"), {}, filled(255, 1), filled(600, 2), filled(3, 3)}
	for _, maxSeg := range []int{1, 2, 3, 255} {
		got, err := OggPackets(oggStream(packets, maxSeg))
		if err != nil {
			t.Fatalf("%d segments per page: %v", maxSeg, err)
		}
		if len(got) != len(packets) {
			t.Fatalf("%d segments per page: %d packets, want %d", maxSeg, len(got), len(packets))
		}
		for i := range got {
			if !bytes.Equal(got[i], packets[i]) {
				t.Errorf("%d segments per page: packet %d has %d bytes, want %d", maxSeg, i, len(got[i]), len(packets[i]))
			}
		}
		n, err := OpusPayloadBytes(oggStream(packets, maxSeg))
		if err != nil || n != 255+600+3 {
			t.Errorf("%d segments per page: payload %d (%v), want %d", maxSeg, n, err, 255+600+3)
		}
	}
}

func TestOggRefusals(t *testing.T) {
	good := oggStream([][]byte{[]byte("OpusHead"), []byte("OpusTags"), filled(300, 9)}, 2)
	// The second page starts after the first's 27 + 2 header bytes and 8 + 8 body bytes.
	second := oggHeaderSize + 2 + 16
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	recrc := func(b []byte, page int) []byte {
		binary.LittleEndian.PutUint32(b[page+22:], 0)
		end := page + oggHeaderSize + int(b[page+26])
		for _, l := range b[page+oggHeaderSize : end] {
			end += int(l)
		}
		binary.LittleEndian.PutUint32(b[page+22:], oggCRC(b[page:end]))
		return b
	}
	for name, data := range map[string][]byte{
		"capture pattern": edit(func(b []byte) []byte { b[0] = 'X'; return b }),
		"version":         edit(func(b []byte) []byte { b[4] = 1; return recrc(b, 0) }),
		"CRC":             edit(func(b []byte) []byte { b[30] ^= 1; return b }),
		"cut short":       good[:len(good)-1],
		"header cut":      good[:10],
		"table cut":       good[:oggHeaderSize+1],
		"garbage after":   append(append([]byte(nil), good...), 0),
		"no BOS":          edit(func(b []byte) []byte { b[5] &^= 2; return recrc(b, 0) }),
		"serial":          edit(func(b []byte) []byte { b[second+14] = 8; return recrc(b, second) }),
		"sequence gap":    edit(func(b []byte) []byte { b[second+18] = 5; return recrc(b, second) }),
		"continuation":    edit(func(b []byte) []byte { b[second+5] |= 1; return recrc(b, second) }),
		"unfinished":      oggStream([][]byte{filled(255, 1)}, 1)[:oggHeaderSize+1+255],
	} {
		_, err := OggPackets(data)
		if !errors.Is(err, ErrOgg) {
			t.Errorf("%s: err = %v, want ErrOgg", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := OpusPayloadBytes(oggStream([][]byte{[]byte("OpusHead"), []byte("Vorbis")}, 255)); !errors.Is(err, ErrOgg) {
		t.Errorf("non-Opus second packet: %v", err)
	}
	if _, err := OpusPayloadBytes(nil); !errors.Is(err, ErrOgg) {
		t.Errorf("empty file: %v", err)
	}
}

// TestOpusPayloadAgreesWithOpusinfo holds the payload count to opus-tools' own opusinfo, which
// reports the average bit rate "w/o overhead" of a file.
func TestOpusPayloadAgreesWithOpusinfo(t *testing.T) {
	info, err := lookTool("opusinfo", "opus-tools")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := lookTool("opusenc", "opus-tools")
	if err != nil {
		t.Fatal(err)
	}
	x := librivox(t, "0930")
	dir := t.TempDir()
	in, coded := filepath.Join(dir, "in.wav"), filepath.Join(dir, "c.opus")
	if err := wav.Write(in, &wav.Audio{SampleRate: 16000, Samples: [][]float32{x}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runTool(enc, "--quiet", "--bitrate", "8", in, coded); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(coded)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := OpusPayloadBytes(file)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(info, coded).CombinedOutput()
	if err != nil {
		t.Fatalf("opusinfo: %v: %s", err, out)
	}
	m := regexp.MustCompile(`w/o overhead: ([0-9.]+) kbit/s`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("opusinfo printed no bit rate without overhead:\n%s", out)
	}
	want, _ := strconv.ParseFloat(string(m[1]), 64)
	got := float64(8*payload) / (float64(len(x)) / 16000) / 1000
	if d := got - want; d > 0.002 || d < -0.002 {
		t.Errorf("payload %d bytes = %.3f kbit/s, opusinfo says %.3f", payload, got, want)
	}
	t.Logf("payload %d of %d bytes: %.3f kbit/s (opusinfo %.3f)", payload, len(file), got, want)
}

func FuzzOggPackets(f *testing.F) {
	f.Add(oggStream([][]byte{[]byte("OpusHead"), []byte("OpusTags"), filled(300, 9), {}, filled(255, 4)}, 2))
	f.Add(oggStream([][]byte{filled(70000, 5)}, 255))
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		packets, err := OggPackets(data)
		if err != nil {
			if !errors.Is(err, ErrOgg) {
				t.Fatalf("error without ErrOgg: %v", err)
			}
			return
		}
		total := 0
		for _, p := range packets {
			total += len(p)
		}
		if total > len(data) {
			t.Fatalf("%d packet bytes from %d bytes of input", total, len(data))
		}
	})
}
