package main

// The climate codec at global scale (go run ./bench climatescale): time, peak memory and MB/s
// of compressing and decompressing a 0.25° global field (721×1440) for one hour and for a day
// (24 hours) — or of another grid (--grid 181x360: 1°) — beside ZFP on the same field, and the seam study that chose the codec's tiling
// (vaeformer.DefaultTiling, models/vaeformer/tiles.go):
//
//	go run ./bench climatescale --checkpoint runs/vaeformer_quick --data_dir ../shared/data \
//	    [--hours 1,24] [--file_hours 24,744] [--zfp_tolerance 0.5] [--json out.json]
//
// --file_hours measures the whole path of `codec compress` and `codec decompress` on netCDF
// files of the synthetic field (written packed as int16 like ERA5, hour by hour by
// formats/netcdf's streaming writer): compressor.CompressFile reads, codes, decodes for its
// check and writes the .qzc file segment by segment (compressor.SegmentValues), and
// DecompressFile writes the netCDF file segment by segment, so their peak memory should not
// grow with the hours (a month of 721×1440 is 3.1 GB of float32).
//
// No real global field is stored here, so the field is SYNTHETIC: the UK 2 m temperature
// (33×49 points, hourly, era5/era5-2mt-2019-03-uk.nc) mirrored over the globe (row i takes UK
// row i mod 66 reflected into 0..32, likewise columns mod 98), its hour t the file's hour t. It
// has the UK field's values and smoothness and the size of the real thing, so it measures
// cost — time, memory, throughput — and not rate–distortion.
//
// Each coding runs in its own process (this command again, with --child), so that its peak
// memory is its own: the child times its first Compress or Decompress call (graph compilation
// included) and then the fastest of three warm calls, as bench climate times the UK grid
// (compression as the payload alone, CompressPayload, and with the model's estimated bits,
// Compress), and reports the VmHWM after the first call (/proc/self/status: the high-water
// mark of resident memory, ONNX Runtime's native memory and the field itself included). ZFP
// runs in a child that runs baselines.ZFPCompress; its peak is the Python process's maximum
// resident set (getrusage of the children), its times zfpy's own. MB/s are float32 megabytes
// (4·values/10⁶) per second.
//
// The seam study codes the UK file's last 168 hours untiled and forced into small tiles (the
// UK grid is 9×13 tokens) and prints each tiling's bits per value, RMSE, and the RMSE between
// its reconstruction and the untiled one: what tiling costs.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qzoo/qzoo/baselines"
	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/metrics"
	"github.com/qzoo/qzoo/models/vaeformer"
)

// BenchClimateScale is the subcommand's name.
const BenchClimateScale = "climatescale"

// scaleRepeats is the warm calls a coding child times after its first (the fastest is kept).
const scaleRepeats = 3

// defaultGrid is the measurement's grid: ERA5's 0.25° latitude–longitude grid, 721×1440.
const defaultGrid = "721x1440"

// ukRelPath is the source of the synthetic field, under the data directory.
var ukRelPath = filepath.Join("era5", "era5-2mt-2019-03-uk.nc")

// scaleChild is what a --child process prints: one JSON line.
type scaleChild struct {
	// Seconds is the fastest warm call (compress: payload only, as bench climate and the
	// peers time it); FirstSeconds the first call, graph compilation included; EstimateSeconds
	// the fastest warm compression with the model's estimated bits (Compress).
	Seconds         float64 `json:"seconds"`
	FirstSeconds    float64 `json:"first_seconds,omitempty"`
	EstimateSeconds float64 `json:"estimate_seconds,omitempty"`
	DecodeSeconds   float64 `json:"decode_seconds,omitempty"` // ZFP only
	PeakBytes       int64   `json:"peak_bytes"`
	// ReaderPeakBytes is the largest peak of the netCDF reader processes (file cases only).
	ReaderPeakBytes int64   `json:"reader_peak_bytes,omitempty"`
	Bytes           int     `json:"bytes"`
	RMSE            float64 `json:"rmse,omitempty"`
}

// scaleRow is one measured case.
type scaleRow struct {
	Case    string  `json:"case"`
	Hours   int     `json:"hours"`
	Values  int     `json:"values"`
	Seconds float64 `json:"seconds"`
	// FirstSeconds is the codec's first call in its process, graph compilation included.
	FirstSeconds float64 `json:"first_seconds,omitempty"`
	PeakBytes    int64   `json:"peak_bytes"`
	MBps         float64 `json:"mb_per_s"`
	Bits         float64 `json:"bits_per_value"`
	RMSE         float64 `json:"rmse_k,omitempty"`
	Load         float64 `json:"load_avg_1min"`
}

// seamRow is one tiling of the seam study.
type seamRow struct {
	Tiling       string  `json:"tiling"`
	Bits         float64 `json:"bits_per_value"`
	RMSE         float64 `json:"rmse_k"`
	VsUntiled    float64 `json:"rmse_vs_untiled_k"`
	MaxVsUntiled float64 `json:"max_vs_untiled_k"`
}

func runClimateScaleCommand(args []string, stdout, log io.Writer) error {
	fs := flag.NewFlagSet("bench "+BenchClimateScale, flag.ContinueOnError)
	run := fs.String("checkpoint", "", "vaeformer run directory (required)")
	dataDir := fs.String("data_dir", "../shared/data", "the data directory holding "+ukRelPath)
	hoursList := fs.String("hours", "1,24", "comma-separated hours of the global field to code")
	fileHours := fs.String("file_hours", "24,744", "comma-separated hours of the netCDF files coded through the codec's file path (\"\": none)")
	ncPath := fs.String("nc", "", "internal: the child's netCDF file")
	grid := fs.String("grid", defaultGrid, "the global grid, latitudes x longitudes (e.g. 181x360 for 1°)")
	tilingFlag := fs.String("tiling", "", "code with this tiling, CORE,HALO in tokens, instead of vaeformer.DefaultTiling (a core as wide as the grid: untiled, as before tiling)")
	tol := fs.Float64("zfp_tolerance", 0.5, "ZFP's absolute error bound (K)")
	seams := fs.Bool("seams", true, "run the seam study on the UK grid first")
	jsonPath := fs.String("json", "", "write the report as JSON here")
	child := fs.String("child", "", "internal: compress, decompress or zfp in this process")
	payloadPath := fs.String("payload", "", "internal: the child's payload file")
	cpuProfile := fs.String("cpuprofile", "", "profile each coding child's CPU into FILE.WHAT-HOURSh (e.g. FILE.compress-24h; go tool pprof reads it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *run == "" {
		fs.Usage()
		return fmt.Errorf("give --checkpoint")
	}
	uk := filepath.Join(*dataDir, ukRelPath)
	var gh, gw int
	if n, err := fmt.Sscanf(*grid, "%dx%d", &gh, &gw); n != 2 || err != nil || gh < 2 || gw < 1 {
		return fmt.Errorf("--grid %q: want LATITUDESxLONGITUDES, e.g. 721x1440", *grid)
	}
	tiling := vaeformer.DefaultTiling
	if *tilingFlag != "" {
		if n, err := fmt.Sscanf(*tilingFlag, "%d,%d", &tiling.Core, &tiling.Halo); n != 2 || err != nil || tiling.Validate() != nil {
			return fmt.Errorf("--tiling %q: want CORE,HALO (an even core ≥ 2, a halo ≥ 0)", *tilingFlag)
		}
	}
	if *child != "" {
		hours, err := strconv.Atoi(*hoursList)
		if err != nil {
			return fmt.Errorf("--child needs one --hours: %w", err)
		}
		if *cpuProfile != "" {
			stop, err := startProfile(fmt.Sprintf("%s.%s-%dh", *cpuProfile, *child, hours))
			if err != nil {
				return err
			}
			defer stop()
		}
		if *child == "filecompress" || *child == "filedecompress" {
			return fileChildRun(*child, *run, *ncPath, *payloadPath, stdout)
		}
		return scaleChildRun(*child, *run, uk, hours, gh, gw, tiling, *payloadPath, *tol, stdout)
	}
	childProfile = *cpuProfile
	var hours []int
	for _, s := range strings.Split(*hoursList, ",") {
		h, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || h < 1 {
			return fmt.Errorf("--hours %q: want positive integers", *hoursList)
		}
		hours = append(hours, h)
	}
	report := harness.NewReport(BenchClimateScale, runtime.GOMAXPROCS(0), 1)
	report.Settings = map[string]any{"checkpoint": *run, "data_dir": *dataDir, "hours": hours, "grid": *grid, "zfp_tolerance": *tol, "tiling": tiling}
	report.Header.Print(stdout)
	fmt.Fprintf(stdout, "field: SYNTHETIC %d×%d global grid, the UK t2m (%s, 33×49) mirrored over the globe: measures cost, not rate–distortion\n",
		gh, gw, ukRelPath)
	fmt.Fprintf(stdout, "codec tiling: cores of %d tokens, halo %d (spans of %d×%d tokens; grids of at most one span are coded untiled)\n",
		tiling.Core, tiling.Halo, tiling.Span(), tiling.Span())
	details := map[string]any{}
	if *seams {
		rows, err := seamStudy(*run, uk, log)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "\nseam study: UK t2m, last 168 h (9×13 tokens), tiled vs untiled")
		fmt.Fprintf(stdout, "%-16s %10s %10s %14s %14s\n", "tiling", "bits/val", "RMSE K", "vs untiled K", "max vs untiled")
		for _, r := range rows {
			fmt.Fprintf(stdout, "%-16s %10.4f %10.4f %14.4f %14.4f\n", r.Tiling, r.Bits, r.RMSE, r.VsUntiled, r.MaxVsUntiled)
		}
		details["seams"] = rows
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	tmp, err := os.MkdirTemp("", "climatescale-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)
	var rows []scaleRow
	fmt.Fprintf(stdout, "\n%-27s %6s %9s %9s %9s %9s %9s %8s %6s\n", "case", "hours", "seconds", "first s", "peak MiB", "MB/s", "bits/val", "RMSE K", "load")
	for _, h := range hours {
		values := h * gh * gw
		mbps := func(sec float64) float64 { return 4 * float64(values) / sec / 1e6 }
		payload := filepath.Join(tmp, fmt.Sprintf("global_%dh.payload", h))
		var encBytes int
		for _, what := range []string{"compress", "decompress", "zfp"} {
			load := harness.LoadAvg()
			c, err := runScaleChild(self, what, *run, *dataDir, *grid, tiling, h, payload, *tol, log)
			if err != nil {
				return err
			}
			if what == "compress" {
				encBytes = c.Bytes
			}
			bits := 8 * float64(encBytes) / float64(values)
			n := len(rows)
			switch what {
			case "zfp":
				bits = 8 * float64(c.Bytes) / float64(values)
				rows = append(rows,
					scaleRow{Case: fmt.Sprintf("zfp tol %g compress", *tol), Hours: h, Values: values, Seconds: c.Seconds, PeakBytes: c.PeakBytes, MBps: mbps(c.Seconds), Bits: bits, RMSE: c.RMSE, Load: load},
					scaleRow{Case: fmt.Sprintf("zfp tol %g decompress", *tol), Hours: h, Values: values, Seconds: c.DecodeSeconds, PeakBytes: c.PeakBytes, MBps: mbps(c.DecodeSeconds), Bits: bits, RMSE: c.RMSE, Load: load})
			case "compress":
				rows = append(rows,
					scaleRow{Case: "vaeformer compress", Hours: h, Values: values, Seconds: c.Seconds, FirstSeconds: c.FirstSeconds, PeakBytes: c.PeakBytes, MBps: mbps(c.Seconds), Bits: bits, Load: load},
					scaleRow{Case: "vaeformer compress+estimate", Hours: h, Values: values, Seconds: c.EstimateSeconds, PeakBytes: c.PeakBytes, MBps: mbps(c.EstimateSeconds), Bits: bits, Load: load})
			default:
				rows = append(rows, scaleRow{Case: "vaeformer " + what, Hours: h, Values: values, Seconds: c.Seconds, FirstSeconds: c.FirstSeconds, PeakBytes: c.PeakBytes,
					MBps: mbps(c.Seconds), Bits: bits, RMSE: c.RMSE, Load: load})
			}
			for _, r := range rows[n:] {
				rmse := "-" // measured on decompression
				if r.RMSE > 0 {
					rmse = strconv.FormatFloat(r.RMSE, 'f', 4, 64)
				}
				first := "-"
				if r.FirstSeconds > 0 {
					first = strconv.FormatFloat(r.FirstSeconds, 'f', 2, 64)
				}
				fmt.Fprintf(stdout, "%-27s %6d %9.2f %9s %9.0f %9.2f %9.4f %8s %6.2f\n", r.Case, r.Hours, r.Seconds, first, float64(r.PeakBytes)/(1<<20), r.MBps, r.Bits, rmse, r.Load)
			}
		}
	}
	fmt.Fprintln(stdout, "\nvaeformer / zfp time ratios, warm calls (> 1: the codec is slower):")
	const perHours = 5 // compress, compress+estimate, decompress, zfp compress, zfp decompress
	for i := 0; i+perHours <= len(rows); i += perHours {
		r := rows[i : i+perHours]
		fmt.Fprintf(stdout, "  %d h: compress %.1f×, decompress %.1f×; peak memory %.1f× / %.1f×\n", r[0].Hours,
			r[0].Seconds/r[3].Seconds, r[2].Seconds/r[4].Seconds,
			float64(r[0].PeakBytes)/float64(r[3].PeakBytes), float64(r[2].PeakBytes)/float64(r[4].PeakBytes))
	}
	details["rows"] = rows
	if *fileHours != "" {
		fileRows, err := fileCases(self, *run, uk, tmp, *fileHours, gh, gw, stdout, log)
		if err != nil {
			return err
		}
		details["file_rows"] = fileRows
	}
	report.Details = details
	return report.WriteJSON(*jsonPath)
}

// runScaleChild runs this command as a --child process and reads what it printed.
func runScaleChild(self, what, run, dataDir, grid string, tiling vaeformer.Tiling, hours int, payload string, tol float64, log io.Writer) (scaleChild, error) {
	return runChild(self, log, what, hours, BenchClimateScale, "--child", what, "--checkpoint", run, "--data_dir", dataDir, "--grid", grid,
		"--tiling", fmt.Sprintf("%d,%d", tiling.Core, tiling.Halo),
		"--hours", strconv.Itoa(hours), "--payload", payload, "--zfp_tolerance", strconv.FormatFloat(tol, 'g', -1, 64))
}

// childProfile is the --cpuprofile that runChild passes to its children ("": none).
var childProfile string

// runChild runs self with args and reads the one JSON line it printed.
func runChild(self string, log io.Writer, what string, hours int, args ...string) (scaleChild, error) {
	if childProfile != "" {
		args = append(args, "--cpuprofile", childProfile)
	}
	cmd := exec.Command(self, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, log
	if err := cmd.Run(); err != nil {
		return scaleChild{}, fmt.Errorf("bench: %s of %d hours: %w", what, hours, err)
	}
	var c scaleChild
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &c); err != nil {
		return scaleChild{}, fmt.Errorf("bench: %s of %d hours printed %q: %w", what, hours, out.String(), err)
	}
	return c, nil
}

// scaleChildRun is one child's measurement, printed as one JSON line.
func scaleChildRun(what, run, uk string, hours, gh, gw int, tiling vaeformer.Tiling, payloadPath string, tol float64, stdout io.Writer) error {
	field, lat, err := globalField(uk, hours, gh, gw)
	if err != nil {
		return err
	}
	g := vaeformer.Geometry{T: hours, H: gh, W: gw}
	var res scaleChild
	switch what {
	case "zfp":
		shape := []int{hours, gh, gw}
		if hours == 1 {
			shape = shape[1:] // ZFP's 4×4×4 blocks would pad one hour to four
		}
		r, err := baselines.ZFPCompress(field, shape, []float64{tol}, false)
		if err != nil {
			return err
		}
		e, err := metrics.CompareFields(field, r[0].Recon, []int{hours, gh, gw}, metrics.LatCosWeights(lat))
		if err != nil {
			return err
		}
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
			return fmt.Errorf("bench: getrusage: %w", err)
		}
		res = scaleChild{Seconds: r[0].EncodeSeconds, DecodeSeconds: r[0].DecodeSeconds, PeakBytes: ru.Maxrss << 10, Bytes: r[0].Bytes, RMSE: e.RMSE}
	case "compress", "decompress":
		c, err := vaeformer.LoadCodec(run)
		if err != nil {
			return err
		}
		defer c.Close()
		c.Tiling = tiling
		// The first call compiles the graphs; its peak memory is the one reported. Then the
		// fastest of scaleRepeats warm calls is timed, as bench climate times the UK grid.
		fields := [][]float32{field}
		if what == "compress" {
			start := time.Now()
			p, _, err := c.Compress(fields, g)
			if err != nil {
				return err
			}
			res.FirstSeconds = time.Since(start).Seconds()
			res.Bytes = len(p)
			if err := os.WriteFile(payloadPath, p, 0o644); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			if res.PeakBytes, err = vmHWM(); err != nil {
				return err
			}
			var payloadOnly, withEstimate harness.Stat
			for range scaleRepeats {
				for _, estimate := range []bool{false, true} {
					compress, stat := c.CompressPayload, &payloadOnly
					if estimate {
						compress, stat = c.Compress, &withEstimate
					}
					runtime.GC()
					start := time.Now()
					q, _, err := compress(fields, g)
					if err != nil {
						return err
					}
					stat.Add(time.Since(start).Seconds())
					if !bytes.Equal(p, q) {
						return fmt.Errorf("bench: a warm compression (estimate %v) gave another payload: %d bytes, not %d", estimate, len(q), len(p))
					}
				}
			}
			res.Seconds, res.EstimateSeconds = payloadOnly.Min, withEstimate.Min
		} else {
			p, err := os.ReadFile(payloadPath)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			res.Bytes = len(p)
			var warm harness.Stat
			for pass := range 1 + scaleRepeats {
				runtime.GC()
				start := time.Now()
				x, _, err := c.Decompress(p, g)
				if err != nil {
					return err
				}
				sec := time.Since(start).Seconds()
				if pass > 0 {
					warm.Add(sec)
					continue
				}
				res.FirstSeconds = sec
				e, err := metrics.CompareFields(field, x[0], []int{hours, gh, gw}, metrics.LatCosWeights(lat))
				if err != nil {
					return err
				}
				res.RMSE = e.RMSE
				if res.PeakBytes, err = vmHWM(); err != nil {
					return err
				}
			}
			res.Seconds = warm.Min
		}
	default:
		return fmt.Errorf("bench: --child %q: want compress, decompress or zfp", what)
	}
	js, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(js))
	return err
}

// globalField builds the synthetic global field of the package doc: hours×gh×gw values of the
// UK t2m mirrored over the globe, and the grid's latitudes (90 to −90).
func globalField(uk string, hours, gh, gw int) ([]float32, []float64, error) {
	f, err := netcdf.Read(uk, netcdf.ReadOptions{Variables: []string{"t2m"}})
	if err != nil {
		return nil, nil, err
	}
	return mirrored(f, 0, hours, gh, gw)
}

// mirrored is globalField's hours [t0, t0+hours) of the UK file f.
func mirrored(f *netcdf.File, t0, hours, gh, gw int) ([]float32, []float64, error) {
	h, w := len(f.Lat.Values), len(f.Lon.Values)
	src := f.Vars[0].Data
	if t0+hours > len(src)/(h*w) {
		return nil, nil, fmt.Errorf("bench: %d hours asked, %s holds %d", t0+hours, f.Path, len(src)/(h*w))
	}
	src = src[t0*h*w:]
	mirror := func(i, n int) int {
		i %= 2 * n
		if i >= n {
			i = 2*n - 1 - i
		}
		return i
	}
	cols := make([]int, gw)
	for j := range cols {
		cols[j] = mirror(j, w)
	}
	field := make([]float32, hours*gh*gw)
	for t := range hours {
		for i := range gh {
			row := src[(t*h+mirror(i, h))*w:][:w]
			dst := field[(t*gh+i)*gw:][:gw]
			for j, c := range cols {
				dst[j] = row[c]
			}
		}
	}
	lat := make([]float64, gh)
	for i := range lat {
		lat[i] = 90 - 180*float64(i)/float64(gh-1)
	}
	return field, lat, nil
}

// vmHWM is this process's peak resident memory in bytes (VmHWM of /proc/self/status).
func vmHWM() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("bench: no VmHWM in /proc/self/status")
}

// seamStudy codes the UK file's last 168 hours untiled and in small tiles.
func seamStudy(run, uk string, log io.Writer) ([]seamRow, error) {
	f, err := netcdf.Read(uk, netcdf.ReadOptions{Variables: []string{"t2m"}})
	if err != nil {
		return nil, err
	}
	h, w := len(f.Lat.Values), len(f.Lon.Values)
	const hours = 168
	data := f.Vars[0].Data
	fields := [][]float32{data[len(data)-hours*h*w:]}
	g := vaeformer.Geometry{T: hours, H: h, W: w}
	weights := metrics.LatCosWeights(f.Lat.Values)
	c, err := vaeformer.LoadCodec(run)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var untiled []float32
	var rows []seamRow
	tilings := []*vaeformer.Tiling{nil, {Core: 2, Halo: 0}, {Core: 2, Halo: 1}, {Core: 2, Halo: 2}, {Core: 4, Halo: 0}, {Core: 4, Halo: 1}, {Core: 4, Halo: 2}, {Core: 4, Halo: 3}, {Core: 6, Halo: 1}, {Core: 6, Halo: 2}, {Core: 8, Halo: 2}}
	for _, t := range tilings {
		name := "untiled"
		c.Tiling = vaeformer.DefaultTiling
		if t != nil {
			c.Tiling, name = *t, fmt.Sprintf("core %d halo %d", t.Core, t.Halo)
		}
		fmt.Fprintf(log, "climatescale: seam study, %s\n", name)
		p, _, err := c.Compress(fields, g)
		if err != nil {
			return nil, err
		}
		x, _, err := c.Decompress(p, g)
		if err != nil {
			return nil, err
		}
		e, err := metrics.CompareFields(fields[0], x[0], []int{hours, h, w}, weights)
		if err != nil {
			return nil, err
		}
		r := seamRow{Tiling: name, Bits: 8 * float64(len(p)) / float64(hours*h*w), RMSE: e.RMSE}
		if untiled == nil {
			untiled = x[0]
		} else {
			d, err := metrics.CompareFields(untiled, x[0], []int{hours, h, w}, weights)
			if err != nil {
				return nil, err
			}
			r.VsUntiled, r.MaxVsUntiled = d.RMSE, d.MaxAbs
		}
		rows = append(rows, r)
	}
	return rows, nil
}
