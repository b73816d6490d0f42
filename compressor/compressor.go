// Package compressor is what a zoo model that compresses implements, whatever its media:
// [Compressor] codes a [media.Signal] into a payload and back. Models register a [Loader]
// under their registry name; [Open] loads the compressor of a run directory and identifies
// its weights, and [CompressFile] and [DecompressFile] run the whole path of the codec
// command — a media front end (package media) reads the source file into a signal, the
// compressor codes it, the .qzc container (formats/qzc) frames it with the model's identity;
// and back.
package compressor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/internal/registry"
	"github.com/qzoo/qzoo/media"
)

// Compressor is a trained model that compresses signals of one kind.
type Compressor interface {
	// Kind is the kind of signal it codes (qzc.Gridded for vaeformer, qzc.Audio for speech
	// tokenizers).
	Kind() qzc.Kind
	// Channels are the channel names it codes, in payload order ("t2m", "q@850").
	Channels() []string
	// Normalisation returns each channel's mean and standard deviation (physical units),
	// nil for a model that does not normalise.
	Normalisation() (mean, std []float64)
	// Encode codes s (of the compressor's kind, with its channels in order; audio at the
	// model's sample rate, which s.SampleRate states: a compressor refuses another) into a
	// payload and returns the model's estimate of its size in bits (−Σ log₂ p).
	Encode(s media.Signal) (payload []byte, estimatedBits float64, err error)
	// Decode reconstructs the signal of the given per-channel shape from a payload: of the
	// compressor's kind and channels, exactly that shape, and (audio) its sample rate; errors
	// caused by its bytes wrap the model's corruption error.
	Decode(payload []byte, shape []int) (media.Signal, error)
	// Close releases the model's resources.
	Close()
}

// CodingReporter is implemented by a compressor that reports how it codes, for `codec
// inspect` to show without loading the model: CompressFile records Coding's values in the
// .qzc header (qzc.Header.Coding). A speech tokenizer reports at least qzc.CodingFrameRate
// (token frames per second) and qzc.CodingStages (codebooks coded per frame); any other
// lower-case name (e.g. "bits_per_frame", "semantic_stages") is shown as it is. Bits per
// second are not reported: the codec measures them from the file.
type CodingReporter interface {
	// Coding returns the values for the payloads Encode writes now (finite numbers; at most 64).
	Coding() map[string]float64
}

// Identity names the weights a payload was coded with: the model's registry name and its
// checkpoint.
type Identity struct {
	Model      string
	Checkpoint qzc.CheckpointID
}

// Loader opens a trained model's compressor from its run's resolved config and trained variables.
type Loader func(cfg *framework.Config, store *model.Store) (Compressor, error)

var loaders = registry.New[Loader]("compressor")

// Register makes a model's compressor available by its registry name (in the model's init);
// registering a model twice panics.
func Register(model string, l Loader) { loaders.Register(model, l) }

// Open loads the compressor of the run in dir from its latest checkpoint and identifies its
// weights; see [OpenMatching] for the checkpoint a file was coded with.
func Open(dir string) (Compressor, Identity, error) {
	return OpenMatching(dir, "")
}

// OpenMatching loads the compressor of the run in dir from the checkpoint whose SHA-256 is
// sha256 (any of the run's checkpoints, not only the latest; "" means the latest). It fails,
// naming the steps present, when the run holds no such checkpoint (training went on and
// rotated it out: keep_checkpoints keeps only the newest). A model's frozen teacher
// (teacher_from) is not loaded: coding and decoding never use it, so a file decodes wherever
// the run goes, without the network it was distilled from.
func OpenMatching(dir, sha256 string) (Compressor, Identity, error) {
	entries, err := checkpoint.List(dir)
	if err != nil || len(entries) == 0 {
		return nil, Identity{}, fmt.Errorf("compressor: %s is not a run directory (no checkpoint): %v", dir, err)
	}
	// Newest first: the latest checkpoint (the one wanted when sha256 is ""), then older ones.
	var chosen *checkpoint.Entry
	var sum string
	for i := len(entries) - 1; i >= 0 && chosen == nil; i-- {
		s, err := framework.FileSHA256(entries[i].Path)
		if err != nil {
			if i == len(entries)-1 {
				return nil, Identity{}, fmt.Errorf("compressor: %w", err)
			}
			continue // an unreadable older checkpoint cannot be the one
		}
		if sha256 == "" || s == sha256 {
			chosen, sum = &entries[i], s
		}
	}
	if chosen == nil {
		steps := make([]string, len(entries))
		for i, e := range entries {
			steps[i] = strconv.FormatInt(e.Step, 10)
		}
		return nil, Identity{}, fmt.Errorf("compressor: %s holds no checkpoint with weights %s (its checkpoints: steps %s); was it trained further after compressing, and the checkpoint rotated out?",
			dir, sha256[:min(12, len(sha256))], strings.Join(steps, ", "))
	}
	cfg, store, err := framework.LoadCheckpointWithoutTeacher(dir, chosen.Path)
	if err != nil {
		return nil, Identity{}, fmt.Errorf("compressor: %w", err)
	}
	l, err := loaders.Lookup(cfg.Model)
	if err != nil {
		return nil, Identity{}, fmt.Errorf("compressor: run %s holds model %q, which does not compress; models that do: %s",
			dir, cfg.Model, strings.Join(loaders.Names(), ", "))
	}
	c, err := l(cfg, store)
	if err != nil {
		return nil, Identity{}, err
	}
	abs, _ := filepath.Abs(dir)
	return c, Identity{Model: cfg.Model, Checkpoint: qzc.CheckpointID{Dir: abs, SHA256: sum, Step: chosen.Step}}, nil
}

// Report is what a compression or decompression did.
type Report struct {
	Header *qzc.Header
	Sizes  qzc.Sizes
	// Source describes the media file compressed (from the header's description).
	Source media.Source
	// Checks are, for a compression, each channel's achieved error (the payload decoded,
	// corrected by the residuals in the error-bounded mode) and its statistics against the
	// training ones, with warnings; nil for a decompression.
	Checks []ChannelCheck
	// Residuals say, in the error-bounded mode, what the residuals did per bounded channel.
	Residuals []ResidualReport
}

// BitsPerValue is the whole file's bits per signal value.
func (r Report) BitsPerValue() float64 {
	return 8 * float64(r.Sizes.Total) / float64(r.Header.Values())
}

// Seconds is the signal's duration, its first dimension over its sample rate (audio); 0 for a
// signal without a sample rate.
func (r Report) Seconds() float64 {
	if r.Header.SampleRate == 0 {
		return 0
	}
	return float64(r.Header.Shape[0]) / float64(r.Header.SampleRate)
}

// BitsPerSecond is the bit rate measured from the file, of its payload and of the whole file
// (header and framing included), over the signal's duration; zeros for a signal without a
// sample rate.
func (r Report) BitsPerSecond() (payload, total float64) {
	sec := r.Seconds()
	if sec == 0 {
		return 0, 0
	}
	return 8 * float64(r.Sizes.Payload) / sec, 8 * float64(r.Sizes.Total) / sec
}

// Options choose what [CompressFile] codes and what it must achieve.
type Options struct {
	// Selection chooses what to code, in the front end's names (netCDF: variables or
	// channels such as "q@850"); nil codes everything the files hold, which must then be
	// exactly the compressor's channels.
	Selection []string
	// MaxRMSE bounds each channel's RMSE (decoded against the input, in its physical units);
	// nil bounds none. A key that names no channel coded is an error.
	MaxRMSE Bounds
	// MaxAbsError turns on the error-bounded mode for the channels it bounds (keys as
	// MaxRMSE's): residuals coded beside the payload (see residual.go) keep every value written
	// back within the bound of the source's, the output file's packing included. The media
	// front end must be a media.Latticed. nil: the learned codec alone.
	MaxAbsError Bounds
	// SegmentLength is the length of the segments the signal is coded in along its first axis
	// (gridded fields: hours; `codec compress --segment`), a multiple of the compressor's
	// alignment ([Aligner]: vaeformer's window); 0 chooses: the whole signal when it holds at
	// most [SegmentValues] values, else the longest aligned segments within that many.
	SegmentLength int
}

// CompressFile reads the media files in (through the front end of c's kind that reads them),
// codes the channels c knows with c (identified by id), decodes the payload again and
// measures each channel's error against the input and its statistics against c's training
// ones (Report.Checks: warnings name the channel and the statistic past OODMeanSigmas,
// OODStdRatio or OODExtremeSigmas), and writes the .qzc file out atomically. When a channel's
// RMSE exceeds its bound in opts.MaxRMSE, it writes nothing and fails naming every such
// channel with its achieved RMSE (an existing out is left as it was); the Report it returns
// then still holds the checks, for the caller to show. The header records the
// signal's sample rate and, when c is a [CodingReporter], its coding values. Missing values
// (NaN) are coded by their mask (qzc.Mask, lossless) and filled in for c to code (see
// filled); decoding restores them as NaN, and the checks skip them. The output may not be one
// of the inputs.
//
// A signal longer than a segment (see [Options.SegmentLength]) is coded segment by segment
// along its first axis (.qzc version 6): with a front end that streams (media.Streamer: netCDF)
// only one segment's samples, its payload and its decoded copy are in memory at a time, so
// memory is bounded however many hours the files hold, and time grows linearly with them.
func CompressFile(c Compressor, id Identity, in []string, out string, opts Options) (Report, error) {
	if len(in) == 0 {
		return Report{}, fmt.Errorf("compressor: no input file")
	}
	for _, p := range in {
		if sameFile(p, out) {
			return Report{}, fmt.Errorf("compressor: output %s is the input %s: refusing to overwrite the source", out, p)
		}
	}
	fe, err := media.For(c.Kind(), in[0])
	if err != nil {
		return Report{}, err
	}
	whole, source, rd, err := openSignal(fe, in, opts.Selection, c.Channels())
	if err != nil {
		return Report{}, err
	}
	defer rd.Close()
	name := strings.Join(in, ",")
	desc, err := fe.Describe(source)
	if err != nil {
		return Report{}, err
	}
	_, streams := fe.(media.Streamer)
	seg, err := segmentLength(c, whole, opts.SegmentLength, streams)
	if err != nil {
		return Report{}, fmt.Errorf("%w (%s)", err, name)
	}
	var lattices []media.Lattice
	var bounds []float64
	if len(opts.MaxAbsError) > 0 {
		if lattices, bounds, err = boundsOf(fe, whole, source, opts.MaxAbsError); err != nil {
			return Report{}, fmt.Errorf("%w (%s)", err, name)
		}
	}
	w, err := qzc.Create(out)
	if err != nil {
		return Report{}, fmt.Errorf("compressor: write %s: %w", out, err)
	}
	defer w.Abort() // after Commit, there is nothing left to remove
	mean, std := c.Normalisation()
	total := whole.Shape[0]
	segmented := seg < total
	var eb *qzc.ErrorBound
	var est float64
	var parts [][]ChannelCheck
	var resReps []ResidualReport
	var lengths []int
	for t0 := 0; t0 < total; t0 += seg {
		n := min(seg, total-t0)
		s, err := rd.ReadRange(t0, n)
		if err != nil {
			return Report{}, err
		}
		where := name
		if segmented {
			where = fmt.Sprintf("%s, segment [%d, %d)", name, t0, t0+n)
		}
		mask := qzc.NewMask(s.Data, frameOf(s.Shape))
		coded, _ := filled(s, mean)
		payload, bits, err := c.Encode(coded)
		if err != nil {
			return Report{}, fmt.Errorf("compressor: compress %s: %w", where, err)
		}
		coded = media.Signal{}
		decoded, err := c.Decode(payload, s.Shape)
		if err != nil {
			return Report{}, fmt.Errorf("compressor: decode what was coded from %s: %w", where, err)
		}
		if err := mask.Apply(decoded.Data); err != nil {
			return Report{}, fmt.Errorf("compressor: decode what was coded from %s: %w", where, err)
		}
		var residuals []byte
		if bounds != nil {
			segEB, res, reps, err := encodeResiduals(s, decoded, bounds, lattices)
			if err != nil {
				return Report{}, fmt.Errorf("%w (%s)", err, where)
			}
			if eb == nil {
				eb = segEB
			}
			if residuals = res; segmented {
				residuals = append(binPrefix(segEB), res...)
				for i := range reps {
					reps[i].Bytes += 8
				}
			}
			resReps = mergeResidualReports(resReps, reps)
		}
		checks, err := checkChannels(s, decoded, mean, std, desc.Units)
		if err != nil {
			return Report{}, fmt.Errorf("%w (%s)", err, where)
		}
		parts = append(parts, checks)
		est += bits
		lengths = append(lengths, n)
		if err := w.Add(qzc.Segment{Length: n, Mask: mask, Residuals: residuals, Payload: payload}); err != nil {
			return Report{}, fmt.Errorf("compressor: write %s: %w", out, err)
		}
	}
	checks := mergeChecks(parts, desc.Units)
	h := &qzc.Header{Signal: c.Kind(), Model: id.Model, Checkpoint: id.Checkpoint, Shape: whole.Shape, Channels: whole.Channels,
		Mean: mean, Std: std, EstimatedBits: est, SampleRate: whole.SampleRate, Media: fe.Name(), Source: source, ErrorBound: eb}
	if segmented {
		h.Segments = lengths
	}
	if r, ok := c.(CodingReporter); ok {
		h.Coding = r.Coding()
	}
	rep := Report{Header: h, Source: desc, Checks: checks, Residuals: resReps}
	if err := opts.MaxRMSE.check(checks, desc.Units); err != nil {
		return rep, fmt.Errorf("%w (%s → %s)", err, name, out)
	}
	if rep.Sizes, err = w.Commit(h); err != nil {
		return Report{}, fmt.Errorf("compressor: write %s: %w", out, err)
	}
	return rep, nil
}

// Inspect reads the .qzc file in and describes it without decoding its payload.
func Inspect(in string) (Report, error) {
	rep, r, _, err := openFile(in)
	if err != nil {
		return Report{}, err
	}
	r.Close()
	return rep, nil
}

// openFile opens and checks the .qzc file in (its framing, checksum and header), and the media
// front end it names with that front end's description of the source.
func openFile(in string) (Report, *qzc.Reader, media.Frontend, error) {
	r, err := qzc.Open(in)
	if err != nil {
		return Report{}, nil, nil, err
	}
	h := r.Header
	fe, err := media.Named(h.Media)
	if err != nil {
		r.Close()
		return Report{}, nil, nil, fmt.Errorf("compressor: %s: header field media: %w", in, err)
	}
	desc, err := fe.Describe(h.Source)
	if err != nil {
		r.Close()
		return Report{}, nil, nil, fmt.Errorf("compressor: %s: header field source: %w", in, err)
	}
	return Report{Header: h, Sizes: r.Sizes, Source: desc}, r, fe, nil
}

// DecompressFile reads the .qzc file in, decodes it with the weights it records and writes
// the signal to out (atomically) through the media front end it names, the values its mask
// marks missing set to NaN (which the front end writes as its fill value). runDir overrides the
// run directory the header records; the checkpoint's SHA-256 must match the header's. When it
// does not, and the run is of another model or kind of signal, the error names both. A
// segmented file (version 6) is decoded and written segment by segment through the front
// end's media.Streamer, in memory bounded by one segment.
func DecompressFile(in, out, runDir string) (Report, error) {
	if sameFile(in, out) {
		return Report{}, fmt.Errorf("compressor: output %s is the input: refusing to overwrite it", out)
	}
	rep, r, fe, err := openFile(in)
	if err != nil {
		return Report{}, err
	}
	defer r.Close()
	h := rep.Header
	if fe.Kind() != h.Signal {
		return Report{}, fmt.Errorf("compressor: %s holds a %s signal, but its media front end %s writes %s signals", in, h.Signal, fe.Name(), fe.Kind())
	}
	shape := media.Signal{Kind: h.Signal, Channels: h.Channels, Shape: h.Shape, SampleRate: h.SampleRate}
	if err := fe.Check(shape, h.Source); err != nil {
		return Report{}, fmt.Errorf("compressor: %s: %w", in, err)
	}
	st, streams := fe.(media.Streamer)
	if r.Segments() > 1 && !streams {
		return Report{}, fmt.Errorf("compressor: %s is coded in %d segments, which the %s front end cannot write one by one", in, r.Segments(), fe.Name())
	}
	if runDir == "" {
		runDir = h.Checkpoint.Dir
	}
	c, id, err := OpenMatching(runDir, h.Checkpoint.SHA256)
	if err != nil {
		if other, oid, oerr := Open(runDir); oerr == nil {
			other.Close()
			if other.Kind() != h.Signal || oid.Model != h.Model {
				return Report{}, fmt.Errorf("compressor: %s holds a signal of kind %s coded by model %s; the run in %s is of model %s, which codes signals of kind %s",
					in, h.Signal, h.Model, runDir, oid.Model, other.Kind())
			}
		}
		return Report{}, fmt.Errorf("compressor: %s was coded by the run in %s (step %d): %w", in, h.Checkpoint.Dir, h.Checkpoint.Step, err)
	}
	defer c.Close()
	if id.Model != h.Model || id.Checkpoint.SHA256 != h.Checkpoint.SHA256 {
		return Report{}, fmt.Errorf("compressor: %s was coded by %s weights %s (step %d); %s holds %s weights %s (step %d)",
			in, h.Model, h.Checkpoint.SHA256[:min(12, len(h.Checkpoint.SHA256))], h.Checkpoint.Step, runDir, id.Model, id.Checkpoint.SHA256[:12], id.Checkpoint.Step)
	}
	if c.Kind() != h.Signal || !slices.Equal(c.Channels(), h.Channels) {
		return Report{}, fmt.Errorf("compressor: %s codes a %s signal of channels %v, the model %s of channels %v", in, h.Signal, h.Channels, c.Kind(), c.Channels())
	}
	prov := media.Provenance{Time: time.Now(), File: filepath.Base(in), Model: h.Model, Step: h.Checkpoint.Step, BitsPerValue: rep.BitsPerValue()}
	if r.Segments() == 1 {
		seg, err := r.Segment(0)
		if err != nil {
			return Report{}, fmt.Errorf("compressor: %s: %w", in, err)
		}
		s, err := decodeSegment(c, h, seg, h.Shape, false)
		if err != nil {
			return Report{}, fmt.Errorf("compressor: %s: %w", in, err)
		}
		if err := fe.Write(out, s, h.Source, prov); err != nil {
			return Report{}, err
		}
		return rep, nil
	}
	w, err := st.Create(out, shape, h.Source, prov, r.Missing())
	if err != nil {
		return Report{}, err
	}
	defer w.Abort() // after Close, there is nothing left to remove
	for i := range r.Segments() {
		seg, err := r.Segment(i)
		if err != nil {
			return Report{}, fmt.Errorf("compressor: %s: segment %d: %w", in, i, err)
		}
		s, err := decodeSegment(c, h, seg, append([]int{seg.Length}, h.Shape[1:]...), true)
		if err != nil {
			return Report{}, fmt.Errorf("compressor: %s: segment %d: %w", in, i, err)
		}
		if err := w.Write(s); err != nil {
			return Report{}, err
		}
	}
	if err := w.Close(); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// decodeSegment decodes one segment of the signal h describes, of the given shape: the
// payload, its missing values restored as NaN, its residuals applied (in a segmented file,
// after the bins they start with: see binPrefix).
func decodeSegment(c Compressor, h *qzc.Header, seg qzc.Segment, shape []int, segmented bool) (media.Signal, error) {
	s, err := c.Decode(seg.Payload, shape)
	if err != nil {
		return media.Signal{}, err
	}
	if err := seg.Mask.Apply(s.Data); err != nil {
		return media.Signal{}, err
	}
	if h.ErrorBound == nil {
		return s, nil
	}
	eb, res := h.ErrorBound, seg.Residuals
	if segmented {
		if eb, res, err = splitBins(h.ErrorBound, res); err != nil {
			return media.Signal{}, err
		}
	}
	if err := applyResiduals(s.Data, shape, eb, res); err != nil {
		return media.Signal{}, err
	}
	return s, nil
}

// boundsOf prepares the error-bounded mode for the whole signal s (Data not looked at): the
// front end's output lattice and the bound of each channel from bounds (0: not bounded; a key
// naming no channel is an error).
func boundsOf(fe media.Frontend, s media.Signal, source json.RawMessage, bounds Bounds) ([]media.Lattice, []float64, error) {
	if err := bounds.known("max absolute error", s.Channels); err != nil {
		return nil, nil, err
	}
	lf, ok := fe.(media.Latticed)
	if !ok {
		return nil, nil, fmt.Errorf("compressor: the %s front end does not say how it rounds the values it writes, which the error-bounded mode (--max_abs_error) needs; it bounds gridded fields (netCDF)", fe.Name())
	}
	lattices, err := lf.Lattices(s, source)
	if err != nil {
		return nil, nil, err
	}
	per := make([]float64, len(s.Channels))
	for i, ch := range s.Channels {
		per[i], _ = bounds.forChannel(ch)
	}
	return lattices, per, nil
}

// sameFile tells whether a and b name the same existing file.
func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
