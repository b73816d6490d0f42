//go:build !purego

#include "textflag.h"

// func addRowsAVX2(out *float64, n int, w *float64, offs *int, xs *float64, k int)
//
// For j < n (a multiple of 4) and t = 0..k-1 in order: out[j] = out[j] + xs[t]*w[offs[t]+j],
// the product rounded, then the sum (VMULPD then VADDPD: no fused multiply-add), as the
// scalar Go loop does. Outputs are done 32 at a time (eight accumulators), then 4 at a time.
TEXT ·addRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ w+16(FP), SI
	MOVQ offs+24(FP), R8
	MOVQ xs+32(FP), R10
	MOVQ k+40(FP), R9
	XORQ DX, DX

block32:
	LEAQ 32(DX), AX
	CMPQ AX, CX
	JGT  block4
	VMOVUPD 0(DI)(DX*8), Y0
	VMOVUPD 32(DI)(DX*8), Y1
	VMOVUPD 64(DI)(DX*8), Y2
	VMOVUPD 96(DI)(DX*8), Y3
	VMOVUPD 128(DI)(DX*8), Y4
	VMOVUPD 160(DI)(DX*8), Y5
	VMOVUPD 192(DI)(DX*8), Y6
	VMOVUPD 224(DI)(DX*8), Y7
	XORQ BX, BX

rows32:
	CMPQ BX, R9
	JGE  store32
	VBROADCASTSD (R10)(BX*8), Y8
	MOVQ (R8)(BX*8), R11
	ADDQ DX, R11
	LEAQ (SI)(R11*8), R12
	VMULPD 0(R12), Y8, Y9
	VADDPD Y9, Y0, Y0
	VMULPD 32(R12), Y8, Y10
	VADDPD Y10, Y1, Y1
	VMULPD 64(R12), Y8, Y11
	VADDPD Y11, Y2, Y2
	VMULPD 96(R12), Y8, Y12
	VADDPD Y12, Y3, Y3
	VMULPD 128(R12), Y8, Y13
	VADDPD Y13, Y4, Y4
	VMULPD 160(R12), Y8, Y14
	VADDPD Y14, Y5, Y5
	VMULPD 192(R12), Y8, Y15
	VADDPD Y15, Y6, Y6
	VMULPD 224(R12), Y8, Y9
	VADDPD Y9, Y7, Y7
	INCQ BX
	JMP  rows32

store32:
	VMOVUPD Y0, 0(DI)(DX*8)
	VMOVUPD Y1, 32(DI)(DX*8)
	VMOVUPD Y2, 64(DI)(DX*8)
	VMOVUPD Y3, 96(DI)(DX*8)
	VMOVUPD Y4, 128(DI)(DX*8)
	VMOVUPD Y5, 160(DI)(DX*8)
	VMOVUPD Y6, 192(DI)(DX*8)
	VMOVUPD Y7, 224(DI)(DX*8)
	ADDQ $32, DX
	JMP  block32

block4:
	LEAQ 4(DX), AX
	CMPQ AX, CX
	JGT  done
	VMOVUPD 0(DI)(DX*8), Y0
	XORQ BX, BX

rows4:
	CMPQ BX, R9
	JGE  store4
	VBROADCASTSD (R10)(BX*8), Y8
	MOVQ (R8)(BX*8), R11
	ADDQ DX, R11
	VMULPD (SI)(R11*8), Y8, Y9
	VADDPD Y9, Y0, Y0
	INCQ BX
	JMP  rows4

store4:
	VMOVUPD Y0, 0(DI)(DX*8)
	ADDQ $4, DX
	JMP  block4

done:
	VZEROUPPER
	RET
