//go:build !amd64.v3

package detmath

import (
	"math"
	"os"
	"strings"
	"testing"
)

// TestMatchesMath: on amd64 (GOAMD64 below v3, so the math package's Go code is not fused)
// with FMA (so math.Exp takes its FMA path), every function gives math's bits at every
// argument.
func TestMatchesMath(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("cannot tell whether the CPU has FMA: %v", err)
	}
	if !strings.Contains(string(info), " fma ") {
		t.Skip("the CPU has no FMA: math.Exp takes its other path, which Exp does not follow")
	}
	for _, off := range []string{"cpu.fma=off", "cpu.avx=off", "cpu.all=off"} {
		if strings.Contains(os.Getenv("GODEBUG"), off) {
			t.Skipf("GODEBUG has %s: math.Exp takes its other path, which Exp does not follow", off)
		}
	}
	args := arguments()
	for _, f := range funcs {
		bad := 0
		for _, x := range args {
			if got, want := f.det(x), f.float(x); !same(got, want) {
				if bad < 5 {
					t.Errorf("%s(%v) = %v (%#x), math %v (%#x)", f.name, x, got, math.Float64bits(got), want, math.Float64bits(want))
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d arguments differ", f.name, bad, len(args))
		}
	}
}
