package vaeformer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/qzoo/qzoo/datasets/era5"
	"github.com/qzoo/qzoo/entropy"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/datadir"
)

// BenchmarkCodecTrained times the encode (payload only, as bench climate times it; and with
// the estimated bits, as Compress) and Decompress of a trained run's test split (the run in
// $QZOO_CODEC_RUN, the data where datadir finds it) and logs the payload's sha256, so a speed
// change can be checked to leave the bitstream alone (run with -test.v). Skipped without the
// variable.
func BenchmarkCodecTrained(b *testing.B) {
	dir := os.Getenv("QZOO_CODEC_RUN")
	if dir == "" {
		b.Skip("QZOO_CODEC_RUN names no trained vaeformer run")
	}
	c, err := LoadCodec(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	data, err := framework.LoadDataset("era5", datadir.Root(), c.Params)
	if err != nil {
		b.Fatal(err)
	}
	src := data.Source.(*era5.Dataset)
	fields, hours, err := src.SplitFields("test")
	if err != nil {
		b.Fatal(err)
	}
	g := Geometry{T: hours, H: len(src.Lat), W: len(src.Lon)}
	payload, _, err := c.Compress(fields, g)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := c.Decompress(payload, g); err != nil {
		b.Fatal(err)
	}
	b.Logf("payload %d bytes, sha256 %x", len(payload), sha256.Sum256(payload))
	bare, st, err := c.compress(fields, g, false)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(bare, payload) || st.EstimatedBits != 0 {
		b.Fatalf("without the estimate: payload of %d bytes (sha256 %x), estimated bits %v", len(bare), sha256.Sum256(bare), st.EstimatedBits)
	}
	mb := float64(4*hours*g.H*g.W*len(fields)) / 1e6
	for _, estimate := range []bool{false, true} {
		name := "encode"
		if estimate {
			name += "+estimate"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(mb * 1e6))
			cpu := cpuTime()
			for b.Loop() {
				if _, _, err := c.compress(fields, g, estimate); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
	b.Run("h_s", func(b *testing.B) { // the float64 hyper-synthesis of the whole payload, alone
		n, nh, nw, mh, mw := c.dims(g)
		zLen, k := binary.Uvarint(payload)
		zs, err := entropy.Decode(payload[k:k+int(zLen)], c.Entropy.zTablesOf(n*mh*mw*c.Entropy.cz))
		if err != nil {
			b.Fatal(err)
		}
		cpu := cpuTime()
		for b.Loop() {
			c.Entropy.HyperSynthesis(zs, n, mh, mw, nh, nw)
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(mb * 1e6))
		cpu := cpuTime()
		for b.Loop() {
			if _, _, err := c.Decompress(payload, g); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	})
}

// cpuTime is the process's user and system CPU time so far (all threads, the backend's
// included): under a loaded machine it moves far less than the wall time.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
