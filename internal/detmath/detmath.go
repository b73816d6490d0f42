// Package detmath is float64 functions whose results are the same bits on every GOARCH and
// every CPU, for computations that two machines must reproduce exactly (an entropy coder's
// tables: a decoder that computes one probability a bit differently from the encoder decodes
// garbage).
//
// Go's math package does not promise that: on amd64, Exp is assembly with an FMA and a
// non-FMA path that differ in the last bit on about 9% of arguments, and Log is assembly whose
// operations are not those of the Go code other architectures run; s390x has assembly for
// most functions; and on arm64, ppc64, s390x, riscv64, loong64 (and amd64 built with
// GOAMD64=v3) the compiler may fuse any x*y + z of plain Go code, the math package's
// included, into one fused multiply-add (the Go spec allows it). Here:
//
//   - [Exp] is math.Exp's amd64 assembly, its FMA path (N. Shibata's method from SLEEF), in Go
//     with math.FMA, which is exact everywhere (in hardware or in software);
//   - [Log] is math.Log's amd64 assembly (FreeBSD's e_log.c in SSE2) in Go;
//   - [Log1p], [Tanh], [Erf] and [Erfc] are the math package's Go code (Go 1.27, after FreeBSD's
//     msun and Cephes);
//
// each with every product that meets an addition rounded by an explicit float64 conversion,
// which the spec says no fusion may cross. On amd64 with FMA (the machines the codec's
// payloads were first pinned on) every function returns math's bits exactly, which the tests
// check; elsewhere it returns those same bits where math may not.
//
// Callers must keep their own arithmetic unfusable too: write float64(a*b) + c, never
// a*b + c, on a path whose bits matter.
package detmath

import "math"

// mul is a·b rounded to float64: no fused multiply-add may absorb it.
func mul(a, b float64) float64 { return float64(a * b) }

// Exp returns e^x: math.Exp's bits on amd64 with FMA, on every machine. Exp(+Inf) = +Inf,
// Exp(−Inf) = 0, Exp(NaN) = NaN; it overflows to +Inf above 709.782712893384 (and, as the
// assembly, where x·log₂e rounds to 1024), and underflows to 0 below about −745.13.
func Exp(x float64) float64 {
	const (
		log2e    = 1.4426950408889634073599246810018920
		ln2U     = 0.69314718055966295651160180568695068359375
		ln2L     = 0.28235290563031577122588448175013436025525412068e-12
		overflow = 7.09782712893384e+02
		round    = 0x1.8p52 // adding and subtracting it rounds to the nearest integer, ties to even
	)
	switch {
	case x != x || x > overflow: // NaN, and the overflow the assembly tests first
		if x != x {
			return x
		}
		return math.Inf(1)
	case x < -1000: // −Inf included: 2^k underflows (the assembly's k < −1075)
		return 0
	}
	// k = x·log₂e rounded to the nearest integer, ties to even, as CVTSD2SL rounds.
	k := (mul(x, log2e) + round) - round
	r := math.FMA(-k, ln2U, x)
	r = math.FMA(-k, ln2L, r)
	r = mul(r, 0.0625)
	p := math.FMA(r, 2.4801587301587301587e-5, 1.9841269841269841270e-4)
	p = math.FMA(r, p, 1.3888888888888888889e-3)
	p = math.FMA(r, p, 8.3333333333333333333e-3)
	p = math.FMA(r, p, 4.1666666666666666667e-2)
	p = math.FMA(r, p, 1.6666666666666666667e-1)
	p = math.FMA(r, p, 0.5)
	p = math.FMA(r, p, 1.0)
	// e^(r/16) − 1 = y, squared four times as (y+1)² − 1 = y·(y + 2).
	y := mul(r, p)
	y = mul(y, y+2)
	y = mul(y, y+2)
	y = mul(y, y+2)
	y = math.FMA(y+2, y, 1.0)
	e := int64(k) + 1023 // the biased exponent of 2^k
	switch {
	case e >= 0x7ff:
		return math.Inf(1)
	case e <= 0: // a subnormal result: 2^k in two factors, as the assembly
		if e < -52 {
			return 0
		}
		y = mul(y, math.Float64frombits(uint64(e+0x3fe)<<52))
		return mul(y, math.Float64frombits(1<<52))
	}
	return mul(y, math.Float64frombits(uint64(e)<<52))
}

// Log returns the natural logarithm of x: math.Log's bits on amd64, on every machine.
// Log(+Inf) = +Inf, Log(±0) = −Inf, Log(x < 0) = NaN, Log(NaN) = NaN. As the assembly, it
// reads a subnormal x's exponent field as it is (as if x were 2^−1022·(1 + fraction)), which
// is not log(x): callers give it normal numbers.
func Log(x float64) float64 {
	const (
		hSqrt2 = 7.07106781186547524401e-01 // √2/2
		ln2Hi  = 6.93147180369123816490e-01 // 0x3fe62e42fee00000
		ln2Lo  = 1.90821492927058770002e-10 // 0x3dea39ef35793c76
		l1     = 6.666666666666735130e-01   // 0x3FE5555555555593
		l2     = 3.999999999940941908e-01   // 0x3FD999999997FA04
		l3     = 2.857142874366239149e-01   // 0x3FD2492494229359
		l4     = 2.222219843214978396e-01   // 0x3FCC71C51D8E78AF
		l5     = 1.818357216161805012e-01   // 0x3FC7466496CB03DE
		l6     = 1.531383769920937332e-01   // 0x3FC39A09D078C69F
		l7     = 1.479819860511658591e-01   // 0x3FC2F112DF3E5244
	)
	b := math.Float64bits(x)
	switch {
	case b&^(1<<63) == 0:
		return math.Inf(-1)
	case b>>63 != 0:
		return math.NaN()
	case b >= 0x7ff0000000000000: // +Inf or NaN
		return x
	}
	// x = f1·2^k with f1 in [0.5, 1), then in (√2/2, √2].
	f1 := math.Float64frombits(b&(1<<52-1) | 0x3fe0000000000000)
	k := float64(int32(b>>52&0x7ff) - 0x3fe)
	if !(hSqrt2 < f1) {
		k--
		f1 = mul(f1, 2)
	}
	f := f1 - 1
	s := f / (2 + f)
	s2 := mul(s, s)
	s4 := mul(s2, s2)
	t1 := mul(s2, mul(mul(mul(l7, s4)+l5, s4)+l3, s4)+l1)
	t2 := mul(s4, mul(mul(l6, s4)+l4, s4)+l2)
	R := t1 + t2
	hfsq := mul(mul(0.5, f), f)
	return mul(k, ln2Hi) - ((hfsq - (mul(s, hfsq+R) + mul(ln2Lo, k))) - f)
}

// Log1p returns log(1 + x), accurate for x near zero: math.Log1p's Go code (FreeBSD's
// s_log1p.c) without fusion. Log1p(+Inf) = +Inf, Log1p(±0) = ±0, Log1p(−1) = −Inf,
// Log1p(x < −1) = NaN, Log1p(NaN) = NaN.
func Log1p(x float64) float64 {
	const (
		sqrt2M1     = 4.142135623730950488017e-01  // √2−1 = 0x3fda827999fcef34
		sqrt2HalfM1 = -2.928932188134524755992e-01 // √2/2−1 = 0xbfd2bec333018866
		small       = 1.0 / (1 << 29)              // 2⁻²⁹
		tiny        = 1.0 / (1 << 54)              // 2⁻⁵⁴
		two53       = 1 << 53
		ln2Hi       = 6.93147180369123816490e-01 // 3fe62e42fee00000
		ln2Lo       = 1.90821492927058770002e-10 // 3dea39ef35793c76
		lp1         = 6.666666666666735130e-01   // 3FE5555555555593
		lp2         = 3.999999999940941908e-01   // 3FD999999997FA04
		lp3         = 2.857142874366239149e-01   // 3FD2492494229359
		lp4         = 2.222219843214978396e-01   // 3FCC71C51D8E78AF
		lp5         = 1.818357216161805012e-01   // 3FC7466496CB03DE
		lp6         = 1.531383769920937332e-01   // 3FC39A09D078C69F
		lp7         = 1.479819860511658591e-01   // 3FC2F112DF3E5244
	)
	switch {
	case x < -1 || x != x:
		return math.NaN()
	case x == -1:
		return math.Inf(-1)
	case math.IsInf(x, 1):
		return math.Inf(1)
	}
	absx := math.Abs(x)
	var f float64
	var iu uint64
	k := 1
	if absx < sqrt2M1 {
		if absx < small {
			if absx < tiny {
				return x
			}
			return x - mul(mul(x, x), 0.5)
		}
		if x > sqrt2HalfM1 { // √2/2−1 < x < √2−1
			k = 0
			f = x
			iu = 1
		}
	}
	var c float64
	if k != 0 {
		var u float64
		if absx < two53 {
			u = 1.0 + x
			iu = math.Float64bits(u)
			k = int((iu >> 52) - 1023)
			if k > 0 { // correction term
				c = 1.0 - (u - x)
			} else {
				c = x - (u - 1.0)
			}
			c /= u
		} else {
			u = x
			iu = math.Float64bits(u)
			k = int((iu >> 52) - 1023)
			c = 0
		}
		iu &= 0x000fffffffffffff
		if iu < 0x0006a09e667f3bcd { // the mantissa of √2
			u = math.Float64frombits(iu | 0x3ff0000000000000) // normalise u
		} else {
			k++
			u = math.Float64frombits(iu | 0x3fe0000000000000) // normalise u/2
			iu = (0x0010000000000000 - iu) >> 2
		}
		f = u - 1.0 // √2/2 < u < √2
	}
	hfsq := mul(mul(0.5, f), f)
	fk := float64(k)
	if iu == 0 { // |f| < 2⁻²⁰
		if f == 0 {
			if k == 0 {
				return 0
			}
			c += mul(fk, ln2Lo)
			return mul(fk, ln2Hi) + c
		}
		R := mul(hfsq, 1.0-mul(0.66666666666666666, f)) // avoids a division
		if k == 0 {
			return f - R
		}
		return mul(fk, ln2Hi) - ((R - (mul(fk, ln2Lo) + c)) - f)
	}
	s := f / (2.0 + f)
	z := mul(s, s)
	R := mul(z, lp1+mul(z, lp2+mul(z, lp3+mul(z, lp4+mul(z, lp5+mul(z, lp6+mul(z, lp7)))))))
	if k == 0 {
		return f - (hfsq - mul(s, hfsq+R))
	}
	return mul(fk, ln2Hi) - ((hfsq - (mul(s, hfsq+R) + (mul(fk, ln2Lo) + c))) - f)
}

// Tanh returns the hyperbolic tangent of x: math.Tanh's Go code (Cephes) without fusion, on
// [Exp]. Tanh(±0) = ±0, Tanh(±Inf) = ±1, Tanh(NaN) = NaN.
func Tanh(x float64) float64 {
	const maxLog = 8.8029691931113054295988e+01 // log(2¹²⁷)
	const (
		p0, p1, p2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
		q0, q1, q2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3
	)
	z := math.Abs(x)
	switch {
	case z > 0.5*maxLog:
		if x < 0 {
			return -1
		}
		return 1
	case z >= 0.625:
		s := Exp(2 * z)
		z = 1 - 2/(s+1)
		if x < 0 {
			z = -z
		}
	default:
		if x == 0 {
			return x
		}
		s := mul(x, x)
		z = x + mul(mul(x, s), mul(mul(p0, s)+p1, s)+p2)/(mul(mul(s+q0, s)+q1, s)+q2)
	}
	return z
}
