package main

// climatescale's file cases: the codec's whole path (compressor.CompressFile and
// DecompressFile, as `codec compress` and `codec decompress` run them) on netCDF files of the
// synthetic global field, each coding in its own process for its peak memory.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/qzoo/qzoo/bench/harness"
	"github.com/qzoo/qzoo/compressor"
	"github.com/qzoo/qzoo/formats/netcdf"
	_ "github.com/qzoo/qzoo/media/netcdf" // the codec's netCDF front end
)

// fileCases writes, for each of hoursList, the synthetic field as a netCDF file in tmp and
// measures compressing and decompressing it through the codec's file path. The peaks are the
// coding process's (VmHWM); the netCDF reader processes it starts (formats/netcdf) are not in
// them — getrusage cannot tell them apart from the coding process, whose address space they
// share until they exec — and read at most 2^23 values each (media/netcdf), about 100 MB.
func fileCases(self, run, uk, tmp, hoursList string, gh, gw int, stdout, log io.Writer) ([]scaleRow, error) {
	var rows []scaleRow
	fmt.Fprintf(stdout, "\nthe codec's file path (netCDF int16 in, .qzc, netCDF int16 out; segments of at most %d values)\n", compressor.SegmentValues)
	fmt.Fprintf(stdout, "%-24s %6s %10s %10s %10s %10s %9s %6s\n", "case", "hours", "seconds", "peak MiB", "MB/s", "bits/val", "RMSE K", "load")
	for _, part := range strings.Split(hoursList, ",") {
		h, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || h < 1 {
			return nil, fmt.Errorf("--file_hours %q: want positive integers", hoursList)
		}
		nc := filepath.Join(tmp, fmt.Sprintf("global_%dh.nc", h))
		q := filepath.Join(tmp, fmt.Sprintf("global_%dh.qzc", h))
		fmt.Fprintf(log, "climatescale: writing %s\n", nc)
		if err := writeGlobalFile(uk, nc, h, gh, gw); err != nil {
			return nil, err
		}
		values := h * gh * gw
		var bits float64
		for _, what := range []string{"filecompress", "filedecompress"} {
			load := harness.LoadAvg()
			c, err := runFileChild(self, what, run, nc, q, log)
			if err != nil {
				return nil, err
			}
			if what == "filecompress" {
				bits = 8 * float64(c.Bytes) / float64(values)
			}
			r := scaleRow{Case: "codec " + strings.TrimPrefix(what, "file") + " (files)", Hours: h, Values: values, Seconds: c.Seconds,
				PeakBytes: c.PeakBytes, MBps: 4 * float64(values) / c.Seconds / 1e6, Bits: bits, RMSE: c.RMSE, Load: load}
			rows = append(rows, r)
			rmse := "-"
			if r.RMSE > 0 {
				rmse = strconv.FormatFloat(r.RMSE, 'f', 4, 64)
			}
			fmt.Fprintf(stdout, "%-24s %6d %10.2f %10.0f %10.2f %10.4f %9s %6.2f\n", r.Case, r.Hours, r.Seconds, float64(r.PeakBytes)/(1<<20),
				r.MBps, r.Bits, rmse, r.Load)
		}
		for _, p := range []string{nc, q, nc + ".back.nc"} {
			os.Remove(p)
		}
	}
	return rows, nil
}

// writeGlobalFile writes hours of the synthetic global field to path as netCDF-3, packed as
// int16 with the UK file's packing, one hour at a time.
func writeGlobalFile(uk, path string, hours, gh, gw int) error {
	f, err := netcdf.Read(uk, netcdf.ReadOptions{Variables: []string{"t2m"}})
	if err != nil {
		return err
	}
	v := f.Vars[0]
	if hours > len(f.Time.Values) {
		return fmt.Errorf("bench: %d hours asked, %s holds %d", hours, uk, len(f.Time.Values))
	}
	meta := *f
	meta.Time.Values = f.Time.Values[:hours]
	meta.Lat = netcdf.Coord{Name: f.Lat.Name, Type: "float32", Attrs: f.Lat.Attrs, Values: make([]float64, gh)}
	meta.Lon = netcdf.Coord{Name: f.Lon.Name, Type: "float32", Attrs: f.Lon.Attrs, Values: make([]float64, gw)}
	for i := range gh {
		meta.Lat.Values[i] = 90 - 180*float64(i)/float64(gh-1)
	}
	for j := range gw {
		meta.Lon.Values[j] = 360 * float64(j) / float64(gw)
	}
	mv := *v
	mv.Shape = []int{hours, gh, gw}
	mv.Data = nil
	meta.Vars = []*netcdf.Variable{&mv}
	w, err := netcdf.Create(path, &meta)
	if err != nil {
		return err
	}
	defer w.Abort()
	for t := range hours {
		x, _, err := mirrored(f, t, 1, gh, gw)
		if err != nil {
			return err
		}
		if err := w.WriteHours([][]float32{x}); err != nil {
			return err
		}
	}
	return w.Close()
}

// runFileChild runs a file case in a child process (see runScaleChild).
func runFileChild(self, what, run, nc, q string, log io.Writer) (scaleChild, error) {
	return runChild(self, log, what, 0, BenchClimateScale, "--child", what, "--checkpoint", run, "--nc", nc, "--payload", q, "--hours", "0")
}

// fileChildRun is a file case's child: compress nc to q, or decompress q to nc + ".back.nc"
// and measure its RMSE against nc, printed as one JSON line.
func fileChildRun(what, run, nc, q string, stdout io.Writer) error {
	var res scaleChild
	start := time.Now()
	if what == "filecompress" {
		c, id, err := compressor.Open(run)
		if err != nil {
			return err
		}
		rep, err := compressor.CompressFile(c, id, []string{nc}, q, compressor.Options{})
		c.Close()
		if err != nil {
			return err
		}
		res.Seconds, res.Bytes = time.Since(start).Seconds(), rep.Sizes.Total
		res.RMSE = rep.Checks[0].Errors.RMSE
	} else {
		rep, err := compressor.DecompressFile(q, nc+".back.nc", "")
		if err != nil {
			return err
		}
		res.Seconds, res.Bytes = time.Since(start).Seconds(), rep.Sizes.Total
	}
	var err error
	if res.PeakBytes, err = vmHWM(); err != nil {
		return err
	}
	js, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(js))
	return err
}
