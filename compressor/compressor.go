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
	"github.com/qzoo/qzoo/internal/atomicfile"
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
// (NaN) are coded by their mask in the header (qzc.Mask, lossless) and filled in for c to
// code (see filled); decoding restores them as NaN, and the checks skip them. The output may
// not be one of the inputs.
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
	s, source, err := fe.Read(in, opts.Selection, c.Channels())
	if err != nil {
		return Report{}, err
	}
	name := strings.Join(in, ",")
	mean, std := c.Normalisation()
	mask := qzc.NewMask(s.Data, frameOf(s.Shape))
	coded, _ := filled(s, mean)
	payload, est, err := c.Encode(coded)
	if err != nil {
		return Report{}, fmt.Errorf("compressor: compress %s: %w", name, err)
	}
	decoded, err := c.Decode(payload, s.Shape)
	if err != nil {
		return Report{}, fmt.Errorf("compressor: decode what was coded from %s: %w", name, err)
	}
	if err := mask.Apply(decoded.Data); err != nil {
		return Report{}, fmt.Errorf("compressor: decode what was coded from %s: %w", name, err)
	}
	desc, err := fe.Describe(source)
	if err != nil {
		return Report{}, err
	}
	var eb *qzc.ErrorBound
	var residuals []byte
	var resReps []ResidualReport
	if len(opts.MaxAbsError) > 0 {
		if eb, residuals, resReps, err = boundErrors(fe, s, decoded, source, opts.MaxAbsError); err != nil {
			return Report{}, fmt.Errorf("%w (%s)", err, name)
		}
	}
	checks, err := checkChannels(s, decoded, mean, std, desc.Units)
	if err != nil {
		return Report{}, fmt.Errorf("%w (%s)", err, name)
	}
	h := &qzc.Header{Signal: c.Kind(), Model: id.Model, Checkpoint: id.Checkpoint, Shape: s.Shape, Channels: s.Channels,
		Mean: mean, Std: std, EstimatedBits: est, SampleRate: s.SampleRate, Media: fe.Name(), Source: source, Mask: mask,
		ErrorBound: eb, Residuals: residuals}
	if r, ok := c.(CodingReporter); ok {
		h.Coding = r.Coding()
	}
	b, sizes, err := qzc.Marshal(h, payload)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Header: h, Sizes: sizes, Source: desc, Checks: checks, Residuals: resReps}
	if err := opts.MaxRMSE.check(checks, desc.Units); err != nil {
		return rep, fmt.Errorf("%w (%s → %s)", err, name, out)
	}
	if err := atomicfile.WriteFile(out, b); err != nil {
		return Report{}, fmt.Errorf("compressor: write %s: %w", out, err)
	}
	return rep, nil
}

// Inspect reads the .qzc file in and describes it without decoding its payload.
func Inspect(in string) (Report, error) {
	rep, _, _, err := readFile(in)
	return rep, err
}

// readFile reads and checks the .qzc file in: its header and payload, and the media front end
// it names with that front end's description of the source.
func readFile(in string) (rep Report, payload []byte, fe media.Frontend, err error) {
	h, payload, sizes, err := qzc.ReadFile(in)
	if err != nil {
		return Report{}, nil, nil, err
	}
	if fe, err = media.Named(h.Media); err != nil {
		return Report{}, nil, nil, fmt.Errorf("compressor: %s: %w", in, err)
	}
	desc, err := fe.Describe(h.Source)
	if err != nil {
		return Report{}, nil, nil, fmt.Errorf("compressor: %s: %w", in, err)
	}
	return Report{Header: h, Sizes: sizes, Source: desc}, payload, fe, nil
}

// DecompressFile reads the .qzc file in, decodes it with the weights it records and writes
// the signal to out (atomically) through the media front end it names, the values its mask
// marks missing set to NaN (which the front end writes as its fill value). runDir overrides the
// run directory the header records; the checkpoint's SHA-256 must match the header's. When it
// does not, and the run is of another model or kind of signal, the error names both.
func DecompressFile(in, out, runDir string) (Report, error) {
	if sameFile(in, out) {
		return Report{}, fmt.Errorf("compressor: output %s is the input: refusing to overwrite it", out)
	}
	rep, payload, fe, err := readFile(in)
	if err != nil {
		return Report{}, err
	}
	h := rep.Header
	if fe.Kind() != h.Signal {
		return Report{}, fmt.Errorf("compressor: %s holds a %s signal, but its media front end %s writes %s signals", in, h.Signal, fe.Name(), fe.Kind())
	}
	shape := media.Signal{Kind: h.Signal, Channels: h.Channels, Shape: h.Shape, SampleRate: h.SampleRate}
	if err := fe.Check(shape, h.Source); err != nil {
		return Report{}, fmt.Errorf("compressor: %s: %w", in, err)
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
	s, err := c.Decode(payload, h.Shape)
	if err != nil {
		return Report{}, fmt.Errorf("compressor: %s: %w", in, err)
	}
	if err := h.Mask.Apply(s.Data); err != nil {
		return Report{}, fmt.Errorf("compressor: %s: %w", in, err)
	}
	if h.ErrorBound != nil {
		if err := applyResiduals(s.Data, h.Shape, h.ErrorBound, h.Residuals); err != nil {
			return Report{}, fmt.Errorf("compressor: %s: %w", in, err)
		}
	}
	prov := media.Provenance{Time: time.Now(), File: filepath.Base(in), Model: h.Model, Step: h.Checkpoint.Step, BitsPerValue: rep.BitsPerValue()}
	if err := fe.Write(out, s, h.Source, prov); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// boundErrors runs the error-bounded mode: the bound of each channel of s from bounds (a key
// naming no channel is an error), the front end's output lattices, and the residuals that
// correct decoded (in place) to within them.
func boundErrors(fe media.Frontend, s, decoded media.Signal, source json.RawMessage, bounds Bounds) (*qzc.ErrorBound, []byte, []ResidualReport, error) {
	if err := bounds.known("max absolute error", s.Channels); err != nil {
		return nil, nil, nil, err
	}
	lf, ok := fe.(media.Latticed)
	if !ok {
		return nil, nil, nil, fmt.Errorf("compressor: the %s front end does not say how it rounds the values it writes, which the error-bounded mode (--max_abs_error) needs; it bounds gridded fields (netCDF)", fe.Name())
	}
	lattices, err := lf.Lattices(s, source)
	if err != nil {
		return nil, nil, nil, err
	}
	per := make([]float64, len(s.Channels))
	for i, ch := range s.Channels {
		per[i], _ = bounds.forChannel(ch)
	}
	return encodeResiduals(s, decoded, per, lattices)
}

// sameFile tells whether a and b name the same existing file.
func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
