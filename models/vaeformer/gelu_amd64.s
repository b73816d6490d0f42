//go:build !purego

#include "textflag.h"

// Constants of erfTailAVX2 (broadcast from memory).
DATA erfconst<>+0(SB)/8, $1.0
DATA erfconst<>+8(SB)/8, $0.5625
DATA erfconst<>+16(SB)/8, $0xffffffff00000000 // keeps a float64's upper 32 bits
DATA erfconst<>+24(SB)/8, $0x8000000000000000 // sign bit
DATA erfconst<>+32(SB)/8, $1.4426950408889634073599246810018920 // log2(e)
DATA erfconst<>+40(SB)/8, $6755399441055744.0 // 0x1.8p52: rounds to an integer
DATA erfconst<>+48(SB)/8, $0.69314718055966295651160180568695068359375 // ln 2, upper part
DATA erfconst<>+56(SB)/8, $0.28235290563031577122588448175013436025525412068e-12 // ln 2, lower part
DATA erfconst<>+64(SB)/8, $0.0625
DATA erfconst<>+72(SB)/8, $2.4801587301587301587e-5
DATA erfconst<>+80(SB)/8, $1.9841269841269841270e-4
DATA erfconst<>+88(SB)/8, $1.3888888888888888889e-3
DATA erfconst<>+96(SB)/8, $8.3333333333333333333e-3
DATA erfconst<>+104(SB)/8, $4.1666666666666666667e-2
DATA erfconst<>+112(SB)/8, $1.6666666666666666667e-1
DATA erfconst<>+120(SB)/8, $0.5
DATA erfconst<>+128(SB)/8, $2.0
DATA erfconst<>+136(SB)/8, $1023
GLOBL erfconst<>(SB), RODATA, $144

// EXP4 sets Y8 to detmath.Exp of each lane of Y8 (|Y8| ≤ 700), using Y9–Y12.
#define EXP4 \
	VBROADCASTSD erfconst<>+32(SB), Y9 \
	VMULPD       Y9, Y8, Y9 \
	VBROADCASTSD erfconst<>+40(SB), Y10 \
	VADDPD       Y10, Y9, Y9 \
	VSUBPD       Y10, Y9, Y9 \
	VBROADCASTSD erfconst<>+48(SB), Y10 \
	VFNMADD231PD Y10, Y9, Y8 \
	VBROADCASTSD erfconst<>+56(SB), Y10 \
	VFNMADD231PD Y10, Y9, Y8 \
	VBROADCASTSD erfconst<>+64(SB), Y10 \
	VMULPD       Y10, Y8, Y8 \
	VBROADCASTSD erfconst<>+72(SB), Y11 \
	VBROADCASTSD erfconst<>+80(SB), Y10 \
	VFMADD213PD  Y10, Y8, Y11 \
	VBROADCASTSD erfconst<>+88(SB), Y10 \
	VFMADD213PD  Y10, Y8, Y11 \
	VBROADCASTSD erfconst<>+96(SB), Y10 \
	VFMADD213PD  Y10, Y8, Y11 \
	VBROADCASTSD erfconst<>+104(SB), Y10 \
	VFMADD213PD  Y10, Y8, Y11 \
	VBROADCASTSD erfconst<>+112(SB), Y10 \
	VFMADD213PD  Y10, Y8, Y11 \
	VBROADCASTSD erfconst<>+120(SB), Y10 \
	VFMADD213PD  Y10, Y8, Y11 \
	VBROADCASTSD erfconst<>+0(SB), Y10 \
	VFMADD213PD  Y10, Y8, Y11 \
	VMULPD       Y11, Y8, Y8 \
	VBROADCASTSD erfconst<>+128(SB), Y12 \
	VADDPD       Y12, Y8, Y11 \
	VMULPD       Y11, Y8, Y8 \
	VADDPD       Y12, Y8, Y11 \
	VMULPD       Y11, Y8, Y8 \
	VADDPD       Y12, Y8, Y11 \
	VMULPD       Y11, Y8, Y8 \
	VADDPD       Y12, Y8, Y11 \
	VFMADD213PD  Y10, Y11, Y8 \
	VCVTPD2DQY   Y9, X9 \
	VPMOVSXDQ    X9, Y9 \
	VPBROADCASTQ erfconst<>+136(SB), Y10 \
	VPADDQ       Y10, Y9, Y9 \
	VPSLLQ       $52, Y9, Y9 \
	VMULPD       Y9, Y8, Y8

// func erfTailAVX2(e, a *float64, n int, coef *[16]float64)
//
// For i < n (a multiple of 4), with x = a[i] in [1.25, 6): e[i] = 1 − r/x with
// r = Exp(−z·z − 0.5625)·Exp((z − x)·(z + x) + R/S), z = x with its lower 32 bits cleared,
// s = 1/(x·x), R = coef[0] + s·(coef[1] + … + s·coef[7]), S = 1 + s·(coef[8] + … + s·coef[15]):
// 1 − detmath.ErfcTail(x, coef), operation for operation (products and sums rounded one by one;
// the fused steps are those of detmath.Exp).
TEXT ·erfTailAVX2(SB), NOSPLIT, $0-32
	MOVQ e+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ coef+24(FP), R8
	XORQ DX, DX

loop:
	CMPQ DX, CX
	JGE  done
	VMOVUPD      (SI)(DX*8), Y0 // x
	VMULPD       Y0, Y0, Y1
	VBROADCASTSD erfconst<>+0(SB), Y2
	VDIVPD       Y1, Y2, Y1 // s = 1/(x·x)

	// R by Horner from coef[7] down.
	VBROADCASTSD 56(R8), Y3
	VBROADCASTSD 48(R8), Y4
	VMULPD       Y1, Y3, Y3
	VADDPD       Y4, Y3, Y3
	VBROADCASTSD 40(R8), Y4
	VMULPD       Y1, Y3, Y3
	VADDPD       Y4, Y3, Y3
	VBROADCASTSD 32(R8), Y4
	VMULPD       Y1, Y3, Y3
	VADDPD       Y4, Y3, Y3
	VBROADCASTSD 24(R8), Y4
	VMULPD       Y1, Y3, Y3
	VADDPD       Y4, Y3, Y3
	VBROADCASTSD 16(R8), Y4
	VMULPD       Y1, Y3, Y3
	VADDPD       Y4, Y3, Y3
	VBROADCASTSD 8(R8), Y4
	VMULPD       Y1, Y3, Y3
	VADDPD       Y4, Y3, Y3
	VBROADCASTSD 0(R8), Y4
	VMULPD       Y1, Y3, Y3
	VADDPD       Y4, Y3, Y3 // R

	// S by Horner from coef[15] down, then 1 + s·(…).
	VBROADCASTSD 120(R8), Y5
	VBROADCASTSD 112(R8), Y4
	VMULPD       Y1, Y5, Y5
	VADDPD       Y4, Y5, Y5
	VBROADCASTSD 104(R8), Y4
	VMULPD       Y1, Y5, Y5
	VADDPD       Y4, Y5, Y5
	VBROADCASTSD 96(R8), Y4
	VMULPD       Y1, Y5, Y5
	VADDPD       Y4, Y5, Y5
	VBROADCASTSD 88(R8), Y4
	VMULPD       Y1, Y5, Y5
	VADDPD       Y4, Y5, Y5
	VBROADCASTSD 80(R8), Y4
	VMULPD       Y1, Y5, Y5
	VADDPD       Y4, Y5, Y5
	VBROADCASTSD 72(R8), Y4
	VMULPD       Y1, Y5, Y5
	VADDPD       Y4, Y5, Y5
	VBROADCASTSD 64(R8), Y4
	VMULPD       Y1, Y5, Y5
	VADDPD       Y4, Y5, Y5
	VMULPD       Y1, Y5, Y5
	VADDPD       Y2, Y5, Y5 // S

	VDIVPD       Y5, Y3, Y3 // R/S
	VBROADCASTSD erfconst<>+16(SB), Y6
	VANDPD       Y6, Y0, Y6 // z
	VSUBPD       Y0, Y6, Y7 // z − x
	VADDPD       Y0, Y6, Y8 // z + x
	VMULPD       Y8, Y7, Y7
	VADDPD       Y3, Y7, Y7 // (z − x)·(z + x) + R/S
	VMULPD       Y6, Y6, Y6
	VBROADCASTSD erfconst<>+8(SB), Y4
	VADDPD       Y4, Y6, Y6
	VBROADCASTSD erfconst<>+24(SB), Y4
	VXORPD       Y4, Y6, Y8 // −z·z − 0.5625 = −(z·z + 0.5625), exactly

	EXP4
	VMOVAPD      Y8, Y13 // exp(−z·z − 0.5625)
	VMOVAPD      Y7, Y8
	EXP4
	VMULPD       Y8, Y13, Y13 // r
	VDIVPD       Y0, Y13, Y13 // r/x
	VBROADCASTSD erfconst<>+0(SB), Y2
	VSUBPD       Y13, Y2, Y13 // 1 − r/x
	VMOVUPD      Y13, (DI)(DX*8)
	ADDQ         $4, DX
	JMP          loop

done:
	VZEROUPPER
	RET

// func ratioAVX2(q, t *float64, n int, coef *[13]float64)
//
// For i < n (a multiple of 4): q[i] = P(t[i])/Q(t[i]) with P = coef[0] + t·(coef[1] + … +
// t·coef[6]) and Q = 1 + t·(coef[7] + … + t·coef[12]) by Horner, each product and sum rounded.
TEXT ·ratioAVX2(SB), NOSPLIT, $0-32
	MOVQ q+0(FP), DI
	MOVQ t+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ coef+24(FP), R8
	XORQ DX, DX

ratioloop:
	CMPQ DX, CX
	JGE  ratiodone
	VMOVUPD      (SI)(DX*8), Y0
	VBROADCASTSD 48(R8), Y1
	VBROADCASTSD 96(R8), Y2
	VBROADCASTSD 40(R8), Y3
	VMULPD       Y0, Y1, Y1
	VADDPD       Y3, Y1, Y1
	VBROADCASTSD 88(R8), Y3
	VMULPD       Y0, Y2, Y2
	VADDPD       Y3, Y2, Y2
	VBROADCASTSD 32(R8), Y3
	VMULPD       Y0, Y1, Y1
	VADDPD       Y3, Y1, Y1
	VBROADCASTSD 80(R8), Y3
	VMULPD       Y0, Y2, Y2
	VADDPD       Y3, Y2, Y2
	VBROADCASTSD 24(R8), Y3
	VMULPD       Y0, Y1, Y1
	VADDPD       Y3, Y1, Y1
	VBROADCASTSD 72(R8), Y3
	VMULPD       Y0, Y2, Y2
	VADDPD       Y3, Y2, Y2
	VBROADCASTSD 16(R8), Y3
	VMULPD       Y0, Y1, Y1
	VADDPD       Y3, Y1, Y1
	VBROADCASTSD 64(R8), Y3
	VMULPD       Y0, Y2, Y2
	VADDPD       Y3, Y2, Y2
	VBROADCASTSD 8(R8), Y3
	VMULPD       Y0, Y1, Y1
	VADDPD       Y3, Y1, Y1
	VBROADCASTSD 56(R8), Y3
	VMULPD       Y0, Y2, Y2
	VADDPD       Y3, Y2, Y2
	VBROADCASTSD 0(R8), Y3
	VMULPD       Y0, Y1, Y1
	VADDPD       Y3, Y1, Y1 // P
	VBROADCASTSD erfconst<>+0(SB), Y3
	VMULPD       Y0, Y2, Y2
	VADDPD       Y3, Y2, Y2 // Q
	VDIVPD       Y2, Y1, Y1
	VMOVUPD      Y1, (DI)(DX*8)
	ADDQ         $4, DX
	JMP          ratioloop

ratiodone:
	VZEROUPPER
	RET
