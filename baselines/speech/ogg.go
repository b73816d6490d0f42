package speech

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrOgg is wrapped by every error of [OggPackets] and [OpusPayloadBytes] about malformed input.
var ErrOgg = errors.New("speech: malformed Ogg stream")

// oggHeaderSize is the fixed part of an Ogg page header (RFC 3533, Section 6).
const oggHeaderSize = 27

// OggPackets splits an Ogg bitstream of one logical stream (RFC 3533) into its packets, in
// order. Each page is "OggS", version 0, flags (1 continued packet, 2 first page, 4 last page),
// granule position, serial number, page sequence number, CRC-32, a segment count and that many
// lacing values; a packet is the concatenation of its segments up to the first lacing value
// below 255, and may continue on the next page. The parser is written here because no
// maintained pure-Go Ogg demuxer was found that exposes packet sizes (the Go Ogg readers
// decode Vorbis or Opus audio); it is 100 lines and bounded: the packets returned together
// never exceed len(data) bytes. Errors (wrapping [ErrOgg]) name the page and byte offset: a
// missing capture pattern (also for bytes between pages), version ≠ 0, a page cut short, a
// CRC mismatch, a serial number other than the first page's (multiplexed or chained streams),
// a page sequence gap, a continuation flag that disagrees with the previous page, a first page
// without the beginning-of-stream flag, and a packet left unfinished at the end.
func OggPackets(data []byte) ([][]byte, error) {
	var (
		packets [][]byte
		pending []byte // a packet continued from the previous page
		open    bool   // whether pending is unfinished
		serial  uint32
		seq     uint32
	)
	for page, off := 0, 0; off < len(data); page++ {
		rest := data[off:]
		if len(rest) < oggHeaderSize {
			return nil, fmt.Errorf("%w: page %d at byte %d: %d bytes left, a page header needs %d", ErrOgg, page, off, len(rest), oggHeaderSize)
		}
		if !bytes.Equal(rest[:4], []byte("OggS")) {
			return nil, fmt.Errorf("%w: page %d at byte %d: no \"OggS\" capture pattern (found %q)", ErrOgg, page, off, rest[:4])
		}
		if rest[4] != 0 {
			return nil, fmt.Errorf("%w: page %d at byte %d: version %d, want 0", ErrOgg, page, off, rest[4])
		}
		flags := rest[5]
		pageSerial := binary.LittleEndian.Uint32(rest[14:])
		pageSeq := binary.LittleEndian.Uint32(rest[18:])
		segments := int(rest[26])
		headerLen := oggHeaderSize + segments
		if len(rest) < headerLen {
			return nil, fmt.Errorf("%w: page %d at byte %d: segment table of %d entries cut short", ErrOgg, page, off, segments)
		}
		lacing := rest[oggHeaderSize:headerLen]
		bodyLen := 0
		for _, l := range lacing {
			bodyLen += int(l)
		}
		if len(rest) < headerLen+bodyLen {
			return nil, fmt.Errorf("%w: page %d at byte %d: body of %d bytes cut short (%d left)", ErrOgg, page, off, bodyLen, len(rest)-headerLen)
		}
		pageBytes := rest[:headerLen+bodyLen]
		if want, got := binary.LittleEndian.Uint32(rest[22:]), oggCRC(pageBytes); want != got {
			return nil, fmt.Errorf("%w: page %d at byte %d: CRC %08x, the page's bytes give %08x", ErrOgg, page, off, want, got)
		}
		switch {
		case page == 0 && flags&2 == 0:
			return nil, fmt.Errorf("%w: page 0: beginning-of-stream flag not set", ErrOgg)
		case page == 0:
			serial, seq = pageSerial, pageSeq
		case pageSerial != serial:
			return nil, fmt.Errorf("%w: page %d at byte %d: serial number %d, the stream's is %d (multiplexed or chained streams are not read)", ErrOgg, page, off, pageSerial, serial)
		case pageSeq != seq+1:
			return nil, fmt.Errorf("%w: page %d at byte %d: sequence number %d after %d (a page is missing)", ErrOgg, page, off, pageSeq, seq)
		default:
			seq = pageSeq
		}
		if continued := flags&1 != 0; continued != open {
			prev := "at a packet boundary"
			if open {
				prev = "inside a packet"
			}
			return nil, fmt.Errorf("%w: page %d at byte %d: continued-packet flag %v, but the previous page ended %s", ErrOgg, page, off, continued, prev)
		}
		body := pageBytes[headerLen:]
		for _, l := range lacing {
			pending = append(pending, body[:l]...)
			body = body[l:]
			open = l == 255
			if !open {
				packets = append(packets, pending)
				pending = nil
			}
		}
		off += len(pageBytes)
	}
	if open {
		return nil, fmt.Errorf("%w: the last packet is unfinished (%d bytes) at the end of the data", ErrOgg, len(pending))
	}
	return packets, nil
}

// oggCRCTable is the table of Ogg's CRC-32: polynomial 0x04C11DB7, MSB first, initial value 0,
// no final inversion (unlike hash/crc32's reflected IEEE CRC).
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for k := 0; k < 8; k++ {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04C11DB7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC is the CRC of a whole page with its CRC field (bytes 22–25) taken as zeros.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for i, b := range page {
		if i >= 22 && i < 26 {
			b = 0
		}
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^b]
	}
	return crc
}

// OpusPayloadBytes returns the bytes of the Opus audio packets in an Ogg Opus file (RFC 7845):
// the sum of the sizes of all packets after the identification header ("OpusHead") and the
// comment header ("OpusTags"), i.e. without those two packets and without the Ogg pages'
// headers and lacing. Errors: [OggPackets]'s, or a first or second packet that is not the
// expected header (both wrap [ErrOgg]).
func OpusPayloadBytes(file []byte) (int64, error) {
	packets, err := OggPackets(file)
	if err != nil {
		return 0, err
	}
	if len(packets) < 2 || !bytes.HasPrefix(packets[0], []byte("OpusHead")) || !bytes.HasPrefix(packets[1], []byte("OpusTags")) {
		return 0, fmt.Errorf("%w: not Ogg Opus: the first two packets must be OpusHead and OpusTags", ErrOgg)
	}
	var n int64
	for _, p := range packets[2:] {
		n += int64(len(p))
	}
	return n, nil
}
