package main

// The speech benchmark (go run ./bench speech): trained speech tokenizers (any compressing run
// of an audio model) against the classical codecs Codec2 (700C, 1200, 1600, 2400, 3200 bit/s)
// and Opus (6, 8, 12 kbit/s) on the same held-out real clips, in one process, by the same code
// (baselines/speech's Study):
//
//	go run ./bench speech [--run runs/tok_12_5hz_full --run runs/tok_6_25hz_full ...] [--data_dir ../shared/data] \
//	    [--json figures/speech.json] [--figure figures/speech.png]
//	go run ./bench speech --from figures/speech.json --figure figures/speech.png   # redraw, no measuring
//
// The clips are the five LibriVox utterances of pocketsphinx-testdata (transcribed) and two
// LibriSpeech test utterances under the data directory, 16 kHz, never trained on. What each
// side measures: a run codes each clip through the codec command's path — a 16-bit WAV,
// compressor.CompressFile to a .qzc file (bit rates from that file: payload, and whole file
// with its header), its payload decoded by the open model (speech.Compressed); a peer runs its
// Debian tools (c2enc/c2dec, opusenc/opusdec) as processes. Both are scored by
// speech.Evaluate: STOI, log-mel distance, and pocketsphinx's word error rate on the
// transcribed clips beside the original's and the 4 kHz band-limited original's. Encode and
// decode real-time factors are wall-clock seconds per second of audio on --threads cores
// (GOMAXPROCS; the tools are single-threaded), the fastest of --repeats codings of each clip
// (so a model's graph compilation and a tool's cold start do not count; a peer's process
// start-up does). The table is sorted by payload bit rate, and for each run the goal of
// issue 15 is checked: better STOI than the Codec2 mode of the nearest rate at or above the
// run's (within 1 %: speech.GoalRateTolerance). --json writes the report in harness's schema with the table as its Details.

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/baselines/speech"
	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/models/asr"
	"github.com/qzoo/qzoo/models/speechtok"
)

// runList is a repeatable flag of run directories.
type runList []string

func (r *runList) String() string     { return strings.Join(*r, ",") }
func (r *runList) Set(v string) error { *r = append(*r, v); return nil }

// speechOptions are the speech benchmark's settings.
type speechOptions struct {
	Runs     []string
	DataDir  string
	Peers    []string // peer names to measure; nil: every one
	Clips    int      // keep the first Clips clips (0: all)
	Repeats  int
	Threads  int
	NoWER    bool
	JSONPath string
	// FigurePath, if set, receives the table's figure (speech.Table.Figure) as PNG.
	FigurePath string
	// Teacher is a recognizer run (models/asr) whose phoneme error rate scores every
	// reconstruction; "" takes the first run's teacher_from, "none" skips it.
	Teacher string
	// NoSemantic leaves out the semantic-stream-only rows of speech tokenizer runs.
	NoSemantic bool
}

// runSpeechCommand parses the speech benchmark's flags and runs it.
func runSpeechCommand(args []string, stdout, log io.Writer) error {
	fs := flag.NewFlagSet("bench "+BenchSpeech, flag.ContinueOnError)
	var o speechOptions
	var runs runList
	var peers string
	fs.Var(&runs, "run", "a trained compressing run of an audio model (repeatable)")
	fs.StringVar(&o.DataDir, "data_dir", "", "data directory holding speech/librivox and speech/librispeech (default: the framework's search path)")
	fs.StringVar(&peers, "peers", "", "comma-separated peers to measure, e.g. codec2-1200,opus-8k (default: all; \"none\": only the runs)")
	fs.IntVar(&o.Clips, "clips", 0, "keep only the first clips (0: all seven)")
	fs.IntVar(&o.Repeats, "repeats", 2, "code each clip this many times, the fastest encode and decode counting")
	fs.IntVar(&o.Threads, "threads", 2, "GOMAXPROCS while measuring (0: every core)")
	fs.BoolVar(&o.NoWER, "no_wer", false, "skip pocketsphinx's word error rates")
	fs.StringVar(&o.Teacher, "teacher", "", "recognizer run (models/asr) scoring every reconstruction by its phoneme error rate (default: the first --run's teacher_from; \"none\": skip)")
	fs.BoolVar(&o.NoSemantic, "no_semantic", false, "leave out each speech tokenizer run's semantic-stream-only row")
	fs.StringVar(&o.JSONPath, "json", "", "write the report (the whole table, per clip) as JSON here")
	fs.StringVar(&o.FigurePath, "figure", "", "write the figure of quality against bit rate here (x.png writes x.svg beside it)")
	from := fs.String("from", "", "instead of measuring, read the table a previous --json wrote: print it and draw --figure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v (run directories go with --run)", fs.Args())
	}
	if *from != "" {
		if len(runs) > 0 || peers != "" || o.JSONPath != "" {
			return fmt.Errorf("--from redraws a measured table: give --figure only, not --run, --peers or --json")
		}
		return redrawSpeech(*from, o.FigurePath, stdout)
	}
	o.Runs = runs
	if peers != "" {
		o.Peers = strings.Split(peers, ",")
	}
	_, err := runSpeech(o, stdout, log)
	return err
}

// runSpeech measures, prints the header and the table, writes the JSON report and returns it.
func runSpeech(o speechOptions, stdout, log io.Writer) (*harness.Report, error) {
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	prev := runtime.GOMAXPROCS(o.Threads)
	defer runtime.GOMAXPROCS(prev)
	report := harness.NewReport(BenchSpeech, o.Threads, max(1, o.Repeats))
	report.Settings = map[string]any{"runs": o.Runs, "data_dir": o.DataDir, "peers": o.Peers, "clips": o.Clips,
		"repeats": o.Repeats, "threads": o.Threads, "no_wer": o.NoWER, "teacher": o.Teacher, "no_semantic": o.NoSemantic}
	codecs, err := speechPeers(o.Peers)
	if err != nil {
		return nil, err
	}
	for _, dir := range o.Runs {
		c, err := speech.OpenCompressed(dir, "")
		if err != nil {
			return nil, err
		}
		defer c.Close()
		codecs = append(codecs, c)
		cfg, err := framework.LoadConfig(filepath.Join(dir, framework.ConfigFile))
		if err != nil {
			return nil, err
		}
		if o.Teacher == "" && cfg.TeacherFrom != "" {
			o.Teacher = cfg.TeacherFrom
		}
		if !o.NoSemantic && strings.HasPrefix(cfg.Model, "speechtok") {
			sem, err := speechtok.OpenSemantic(dir, "")
			if err != nil {
				return nil, err
			}
			defer sem.Close()
			codecs = append(codecs, sem)
		}
	}
	var scorer speech.PhonemeScorer
	if o.Teacher != "" && o.Teacher != "none" {
		t, err := asr.OpenScorer(o.Teacher)
		if err != nil {
			return nil, err
		}
		defer t.Close()
		scorer = t
	}
	if len(codecs) == 0 {
		return nil, fmt.Errorf("nothing to measure: give --run or leave --peers out")
	}
	clips, err := speech.LoadHeldOutClips(o.DataDir)
	if err != nil {
		return nil, err
	}
	if o.Clips > 0 && o.Clips < len(clips) {
		clips = clips[:o.Clips]
	}
	table, err := speech.Study(codecs, clips, speech.StudyOptions{Repeats: o.Repeats, NoWER: o.NoWER, Phonemes: scorer, Log: log})
	if err != nil {
		return nil, err
	}
	report.Details = table
	report.Header.Print(stdout)
	fmt.Fprintln(stdout)
	table.Print(stdout)
	if o.FigurePath != "" {
		if err := table.Figure().Save(o.FigurePath); err != nil {
			return nil, err
		}
	}
	return report, report.WriteJSON(o.JSONPath)
}

// redrawSpeech prints the table a previous --json wrote to from and draws its figure to
// figurePath (if not empty).
func redrawSpeech(from, figurePath string, stdout io.Writer) error {
	table, err := speech.ReadTable(from)
	if err != nil {
		return err
	}
	table.Print(stdout)
	if figurePath != "" {
		if err := table.Figure().Save(figurePath); err != nil {
			return err
		}
	}
	return nil
}

// speechPeers returns the peers named (nil: all, with the band-limited control; "none": no
// peer), or an error listing the valid names.
func speechPeers(names []string) ([]speech.Peer, error) {
	all := speech.Peers()
	if names == nil {
		return append([]speech.Peer{speech.BandLimitedControl{}}, all...), nil
	}
	if slices.Equal(names, []string{"none"}) {
		return nil, nil
	}
	var valid []string
	byName := map[string]speech.Peer{}
	for _, p := range append([]speech.Peer{speech.BandLimitedControl{}}, all...) {
		byName[p.Name()] = p
		valid = append(valid, p.Name())
	}
	var out []speech.Peer
	for _, n := range names {
		p, ok := byName[strings.TrimSpace(n)]
		if !ok {
			return nil, fmt.Errorf("--peers: unknown peer %q (valid: %s)", n, strings.Join(valid, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}
