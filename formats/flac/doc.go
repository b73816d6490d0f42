// Package flac decodes FLAC files (Free Lossless Audio Codec, RFC 9639) to float32 samples and
// the stream's header, with github.com/mewkiz/flac decoding the frames and this package meeting
// the cases real files raise that the library leaves to its caller.
//
// Shapes: [Audio] embeds a [wav.Audio], so a decoded FLAC file is used like a WAV file:
// Samples is [channels][frames]float32, every channel of one length, a frame being one sample per
// channel at one instant (FLAC's "inter-channel sample"). A b-bit sample v is read as v / 2^(b-1),
// so it lies in [-1, 1). The embedded Format says how the reference decoder would store the
// samples in a WAV file: PCM, Bits the bit depth rounded up to whole bytes, ValidBits the depth.
// [Info] keeps what STREAMINFO declares and what the decode checked.
//
// What the library does and what this package adds. mewkiz/flac reads STREAMINFO, frame
// headers and subframes, checks each frame's CRC-8 (header) and CRC-16 (whole frame), undoes
// stereo decorrelation and hashes decoded samples for the MD5. This package, around it:
//
//   - Loads the file into memory (at most [MaxFileBytes]) and names what a file is when it is not
//     FLAC, through internal/sniff: empty, a WAV, MP3 or Ogg file, an HTML page, a Git LFS pointer,
//     text, ... ("this is a WAV file (RIFF WAVE), not a FLAC file").
//   - Skips ID3v2 tags before the fLaC marker by their declared size, checked against the file,
//     and zero bytes after a tag (padding a tagger left out of its size, which libFLAC skips too).
//     The library has its own skip, but it reads the tag through a second bufio.Reader and loses
//     the bytes that reader buffered past the tag, so the marker is not found after it.
//   - Walks the metadata block headers itself, each length checked against the file, and hands
//     only STREAMINFO to the library (pictures, cue sheets and comments are skipped unparsed: their
//     sizes cannot make anything be allocated). STREAMINFO must hold its 34 bytes (a longer
//     block is read, its tail ignored, as libFLAC does); a block of type 127 is the frame sync
//     code of audio that follows a block not marked last, and is named as such.
//   - Bounds STREAMINFO before decoding: sample rate in [1, [MaxSampleRate]], 1 to 8 channels,
//     4 to 24 bits per sample (the library decodes no deeper samples: 25 to 32 bits are refused
//     by name), the declared total × channels at most [MaxSamples] (the same cap as formats/wav:
//     4 GiB of float32, 18.6 hours of 16 kHz mono). The output grows with what is decoded, so a
//     header that declares more than the file holds allocates nothing for it.
//   - Checks every frame against STREAMINFO — channel count, bit depth, sample rate, a block no
//     larger than the declared maximum — and its number against its position (frame index for a
//     fixed block size, first sample for a variable one), so a lost or damaged frame is an error,
//     not a silent gap. A CRC mismatch, a lost sync code or a sample out of its bit range is an
//     error naming the frame, its byte offset and its first sample.
//   - Compares the MD5 of the decoded audio with STREAMINFO's; an all-zero MD5 means the encoder
//     did not compute one and is accepted ([Info.MD5Checked] says which).
//   - Ends the audio when the declared samples are decoded; bytes after that (an ID3v1 or ID3v2
//     tag, an APE tag, junk) are ignored and counted in [Info.TrailingBytes]. With no declared
//     total (0: a streamed encode), frames are read to the end of the file, to a trailing tag, or
//     to bytes that hold no frame sync code (zeros a recorder padded the file with): those are
//     counted in TrailingBytes too.
//     Fewer samples than declared is refused as truncated.
//   - Recovers a panic of the library on a damaged file and returns it as an error naming the
//     frame and offset.
//
// The library logs a note asking for test files (standard log package) at every frame header of
// 24 kHz or 176.4 kHz: a line per 4096 samples, tens of thousands for a 24 kHz corpus such as
// LibriTTS. Before decoding such a stream this package wraps the standard logger's writer in one
// that drops that note and passes every other line on — its one effect on global state, redone
// if the program replaces the writer later.
//
// [Is] tells a FLAC file by its content (the marker, after ID3v2 tags or not), for loaders that
// take several formats (formats/audio). Every error names the file and the problem.
package flac
