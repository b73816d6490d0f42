// Package wav reads and writes WAV files (RIFF WAVE): the sample rate, the channel count, the
// format the samples were stored in, and the samples as float32, one slice per channel.
//
// Shapes: [Audio.Samples] is [channels][frames]float32, every channel of the same length; a
// frame is one sample per channel at one instant. Integer PCM of n bits is read as
// v / 2^(n-1) (8-bit PCM is unsigned: (v - 128) / 128), so it lies in [-1, 1); mu-law and
// a-law (G.711) are expanded to 16-bit values and scaled the same way; IEEE float samples are
// kept as stored (a float file may hold overs beyond ±1; NaN, ±Inf and 64-bit values beyond
// float32's range are refused, naming the frame and channel).
//
// Read: integer PCM of 8, 16, 24 (sign-extended) and 32 bits, IEEE float of 32 and 64 bits,
// mu-law and a-law, each in a plain fmt chunk (16 or 18 bytes, a fact chunk beside it or not)
// or in WAVE_FORMAT_EXTENSIBLE (format tag 0xFFFE, the codec named by the subformat GUID).
// Write: 16-bit PCM only, atomically ([Write]).
//
// The RIFF walk is written here rather than taken from github.com/go-audio/wav, which has open
// bugs on exactly the cases real files raise: 24-bit samples, the pad byte after an odd-sized
// chunk, and the data sizes of 0, 0xFFFFFFFF or SoX's 0x7FFFF000 that streaming writers leave.
// The rules:
//
//   - ID3v2 tags before the RIFF header (which some taggers prepend; libsndfile skips them too)
//     are skipped, with zero padding after them; offsets in errors then count from the RIFF
//     header. [Is] tells a WAV file by its content, after such tags or not.
//   - Chunks are walked from byte 12 to the end of the file; the RIFF size is not trusted
//     (writers get it wrong), and chunks other than fmt and data (LIST, JUNK, fact, bext, id3,
//     ...) are skipped wherever they stand. Bytes after the last chunk that do not form a chunk
//     header (an ID3 tag appended to the file, a short tail) end the walk once fmt and data are
//     found.
//   - A chunk of odd size is followed by a pad byte, which is skipped, zero or not; when the pad
//     byte is missing (a common writer bug), the next chunk's header starts there instead, and
//     is read: a byte that is not zero and starts a plausible chunk header (a four-character name
//     and a size within the file) is taken for one.
//   - A data size that marks a stream whose sizes were never filled in is read as running to the
//     end of the file: a size of at least 0x7FFFF000 rounded down to whole frames, running past
//     the end of the file (what SoX writes to a pipe with `sox ... -t wav -`: 0x7FFFF000 for
//     16-bit mono, 0x7FFFEFFC for 24-bit stereo; INT32_MAX; 0xFFFFFFFF), or a size of 0
//     followed by bytes that are neither a chunk nor a tag (whatever the RIFF size says). A
//     finished RIFF WAVE header at the end of such a stream, declaring the stream's length (what
//     Festival's text2wave leaves when it cannot seek back in a pipe), is not audio. Any
//     other data chunk that declares more bytes than the file holds is refused as truncated (no
//     guessing which bytes are audio). In every case the data is rounded down to whole frames; a
//     trailing partial frame is dropped.
//   - fmt must come before data. The byte rate is not checked (writers get it wrong and nothing
//     depends on it). A block align below channels × bytes per sample (0, or one channel's
//     worth: a writer's slip) is taken as that product, as SoX reads it; one above it (padding
//     in each frame that the header does not describe) is refused.
//
// Every error names the file and the problem: where a file ends inside a header (truncated), the
// chunks a file holds when fmt or data is missing, the field and its value for a bad header
// (channels 0 or above [MaxChannels], a sample rate of 0 or above [MaxSampleRate], a block
// align above the channels' bytes, an unsupported format tag by number and name, e.g.
// ADPCM), and what a file is when it is not a WAV file: empty, MP3 (with or without an ID3
// tag), FLAC, Ogg, AIFF, RF64/BW64 (the 64-bit RIFF variants, refused), big-endian RIFX, a RIFF
// of another form (AVI, WebP), an HTML page, a Git LFS pointer, text. Every size is checked
// against the file before anything is allocated, so a header that claims 4 GiB in a 100-byte
// file costs nothing. The package imports nothing but the standard library, internal/sniff and
// internal/atomicfile.
package wav
