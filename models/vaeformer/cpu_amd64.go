//go:build !purego

package vaeformer

// The CPU features the assembly kernels need (dense_amd64.s, gelu_amd64.s), read once. Build
// with -tags purego to leave the assembly out and run the Go loops alone: same bits.

// useAVX2 says whether the CPU has AVX2 and the OS saves the YMM registers; hasFMA whether it
// also has FMA3.
var useAVX2, hasFMA = detectAVX2FMA()

func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

func xgetbv0() (eax uint32)

func detectAVX2FMA() (avx2, fma bool) {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 7 {
		return false, false
	}
	const fma3, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	_, _, ecx, _ := cpuid(1, 0)
	if ecx&osxsave == 0 || ecx&avx == 0 || xgetbv0()&6 != 6 { // the OS saves XMM and YMM state
		return false, false
	}
	_, ebx, _, _ := cpuid(7, 0)
	avx2 = ebx&(1<<5) != 0
	return avx2, avx2 && ecx&fma3 != 0
}
